"""The walk-forward report is unchanged by refactoring: a digest of its JSON on small fixed markets.

The digests were first recorded from the original single-function ``walk_forward`` (156 lines) before it
was split into named steps (the split gave byte-identical reports), and recorded again when issue 16 added the
volatility target, the jump model and 6-monthly refits of the fitted rules (the learned methods' and the
unfitted rules' metrics were checked unchanged; the HMM's changed with its refits). Two markets cover both regime
sources: the independent synthetic test market (ground-truth regimes, portfolio-level breakdown and
regime-identification score) and a CSV-like upload without regimes (HMM regime labels per asset), with
other costs, position mode and no probability smoothing; a third run has no rule baselines. The learned
methods are deterministic stand-ins (no training), so the test runs in seconds. A digest depends on the
floating-point results of numpy, pandas, torch and hmmlearn: if a library upgrade changes it, check the
report by eye and record it again. (Recorded again when the report gained ``data.split``: with that field removed,
the three digests were the earlier ones.)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest
import torch
from torch import Tensor

from metasuite.core.errors import DataError
from metasuite.core.evaluate import Ensemble
from metasuite.core.jsonio import strict as _jsonable
from metasuite.core.tasks import Task
from metasuite.domains.trading.domain import TradingDomain
from metasuite.domains.trading.evaluation import POOLED, references, validation_sharpe, walk_forward
from metasuite.domains.trading.synth import simulate_market


class _SupportTilt:
    """A deterministic learned-method stand-in: logit of "up" = the support's up-share tilt + ``w`` * feature 0."""

    def __init__(self, name: str, kind: str, weight: float) -> None:
        self.name, self.kind, self.weight = name, kind, weight

    def adapt(self, task: Task) -> Callable[[Tensor], Tensor]:
        tilt = float(task.support_y.double().mean()) - 0.5

        def predict(query_x: Tensor) -> Tensor:
            z = self.weight * query_x[:, 0].double() + tilt
            return torch.stack([-z, z], dim=-1)

        return predict


def _methods() -> list[Any]:
    return [_SupportTilt("meta stand-in", "meta", 0.8), _SupportTilt("pooled (no adaptation)", "baseline", -0.3)]


def _digest(report: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(_jsonable(report), sort_keys=True).encode()).hexdigest()


def _synthetic_report() -> dict[str, Any]:
    domain = TradingDomain(n_assets=2, n_markets=1, n_days=1300, test_days=900)
    return walk_forward(domain, _methods(), n_boot=50, seed=1, progress=False).report


def _upload_report() -> dict[str, Any]:
    market = simulate_market(1000, 2, seed=7)
    test_start = str(market.prices["SYN0"].index[600].date())
    domain = TradingDomain(source="csv", prices=dict(market.prices), test_start=test_start, support_days=60)
    return walk_forward(
        domain,
        _methods(),
        cost_bps=5.0,
        slippage_bps=2.0,
        position="long_short",
        n_boot=50,
        halflife=0.0,
        progress=False,
    ).report


def _learned_only_report() -> dict[str, Any]:
    domain = TradingDomain(n_assets=2, n_markets=1, n_days=1300, test_days=700, market_seed=2)
    return walk_forward(domain, _methods(), position="scaled", n_boot=50, rules=False, progress=False).report


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (_synthetic_report, "5203ea3fdf28f7f29ac5cc2dabaaa0620d39a2baea3e0f7a8de279f6e5795eae"),
        (_upload_report, "706a80e101a5ec3fc921dc3b8979415e0018316e421d378754c494c12cf3d8c5"),
        (_learned_only_report, "d5e2cad524de034d88a9bae34008f47d0d3395a3ac2e5da92a7e96ad49a643c8"),
    ],
)
def test_walk_forward_report_is_unchanged(make: Callable[[], dict[str, Any]], expected: str) -> None:
    report = make()
    assert _digest(report) == expected, json.dumps(_jsonable(report), sort_keys=True)[:2000]


def test_the_validation_walk_forward_backtests_the_training_assets_validation_period() -> None:
    """``split="val"`` (``eval trading --split val``, where settings are chosen): the training assets over their
    validation period, never the test markets; the learned method's Sharpe is the trainer's validation Sharpe."""
    domain = TradingDomain(n_assets=2, n_markets=1, n_days=1300, test_days=700)
    val = walk_forward(domain, _methods(), n_boot=0, rules=False, split="val", progress=False)
    test = walk_forward(domain, _methods(), n_boot=0, rules=False, progress=False)
    lo, hi = domain.periods()["val"]
    first, last = (pd.Timestamp(d) for d in val.report["data"]["test_period"])
    assert val.report["data"]["split"] == "val" and lo <= first <= last <= hi
    assert all(t.startswith("SYN") for t in val.report["data"]["tickers"])
    assert all(t.startswith("TEST") for t in test.report["data"]["tickers"])
    meta = _methods()[0]
    sharpe = val.report["methods"][meta.name]["portfolio"]["sharpe"]
    assert sharpe == pytest.approx(validation_sharpe(domain, meta), rel=1e-9)
    with pytest.raises(DataError, match="val or test"):
        walk_forward(domain, _methods(), split="train", progress=False)


def test_an_ensemble_trades_its_members_averaged_probability() -> None:
    """``eval trading --ensemble``: each member adapts to every window on its own and the ensemble's probability of
    the risk-on class is the mean of theirs, day by day (before smoothing); two copies of one model are that model."""
    domain = TradingDomain(n_assets=2, n_markets=1, n_days=1300, test_days=700)
    a, b = _SupportTilt("a", "meta", 0.8), _SupportTilt("b", "meta", -0.5)
    twin = Ensemble([a, _SupportTilt("a again", "meta", 0.8)], True, name="a twice")
    both = Ensemble([a, b], True, name="a + b")
    ev = walk_forward(domain, [a, b, both, twin], n_boot=0, rules=False, halflife=0.0, progress=False)
    for ticker in ev.report["data"]["tickers"]:
        daily = {name: frame["p_up"] for name, frame in ((n, ev.daily[n][ticker]) for n in ("a", "b", "a + b"))}
        mean = (daily["a"] + daily["b"]) / 2
        assert daily["a + b"].notna().sum() > 100
        pd.testing.assert_series_equal(daily["a + b"], mean, check_names=False, rtol=1e-6)
        pd.testing.assert_frame_equal(ev.daily["a twice"][ticker], ev.daily["a"][ticker], rtol=1e-6)
    assert ev.report["methods"]["a + b"]["kind"] == "meta"


def test_an_ensemble_of_pooled_seeds_is_the_pooled_reference() -> None:
    """With the pooled model trained on several seeds, every learned method's paired Sharpe is compared with the
    pooled ensemble (like with like for an ensemble of meta-learners), and a single pooled model stays the reference
    when there is one."""
    assert references(["m", POOLED, "buy & hold"]) == [POOLED, "buy & hold"]
    pooled_ens = f"{POOLED} (ensemble of 2 seeds)"
    names = ["m", f"{POOLED} (seed 0)", f"{POOLED} (seed 1)", pooled_ens, "jump model", "buy & hold"]
    assert references(names) == [pooled_ens, "jump model", "buy & hold"]
    domain = TradingDomain(n_assets=2, n_markets=1, n_days=1300, test_days=700)
    members = [_SupportTilt(f"{POOLED} (seed {s})", "baseline", w) for s, w in ((0, -0.3), (1, 0.2))]
    methods = [_SupportTilt("meta", "meta", 0.8), *members, Ensemble(members, True, name=pooled_ens)]
    report = walk_forward(domain, methods, n_boot=20, rules=False, progress=False).report
    assert list(report["methods"]["meta"]["vs"]) == [pooled_ens]


class _Counting(_SupportTilt):
    """A stand-in that counts its adaptations."""

    def __init__(self, name: str, kind: str, weight: float) -> None:
        super().__init__(name, kind, weight)
        self.adaptations = 0

    def adapt(self, task: Task) -> Callable[[Tensor], Tensor]:
        self.adaptations += 1
        return super().adapt(task)


def test_an_ensemble_reuses_its_members_windows() -> None:
    """Members evaluated as rows of their own are not adapted again for their ensemble (the walk-forward's hot
    path): each adapts once per window, as without the ensemble."""
    domain = TradingDomain(n_assets=2, n_markets=1, n_days=1300, test_days=700)
    alone = _Counting("a", "meta", 0.8)
    walk_forward(domain, [alone], n_boot=0, rules=False, progress=False)
    a, b = _Counting("a", "meta", 0.8), _Counting("b", "meta", -0.5)
    walk_forward(domain, [a, b, Ensemble([a, b], True, name="a + b")], n_boot=0, rules=False, progress=False)
    assert alone.adaptations > 0 and a.adaptations == b.adaptations == alone.adaptations
