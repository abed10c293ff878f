"""Trading features, tasks, splits and the walk-forward evaluation: causality first.

The central property (issue 5): changing any price after a day leaves every feature and every decision
up to that day unchanged -- for the adapted meta-learner, the scratch model and the rule baselines.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from metasuite.core.baselines import BaselineConfig, ScratchBaseline
from metasuite.core.errors import DataError, TaskError
from metasuite.core.evaluate import MetaMethod
from metasuite.core.learners import make_learner
from metasuite.core.registry import get_domain
from metasuite.domains.trading.domain import TradingDomain
from metasuite.domains.trading.evaluation import format_report, paired_sharpe_diff, to_position, walk_forward
from metasuite.domains.trading.features import FEATURES, SIGNED, WARMUP, compute_features, standardise
from metasuite.domains.trading.synth import simulate_market
from metasuite.domains.trading.tasks import AssetSeries, make_task

SUPPORT, QUERY, EMBARGO = 60, 10, 1


@pytest.fixture(scope="module")
def market():
    return simulate_market(900, 2, seed=3)


def _perturbed(prices: pd.DataFrame, after: int, seed: int = 0) -> pd.DataFrame:
    """Prices with every day after index ``after`` multiplied by random factors (a different future)."""
    out = prices.copy()
    rng = np.random.default_rng(seed)
    n = len(out) - after - 1
    factor = np.exp(np.cumsum(rng.normal(0, 0.03, n)))
    for col in ("open", "high", "low", "close"):
        out.iloc[after + 1 :, out.columns.get_loc(col)] *= factor
    out.iloc[after + 1 :, out.columns.get_loc("volume")] *= rng.uniform(0.2, 5.0, n)
    return out


def test_features_are_causal(market) -> None:
    prices = market.prices["SYN0"]
    base = compute_features(prices)
    for after in (WARMUP + 5, 500, 800):
        changed = compute_features(_perturbed(prices, after))
        pd.testing.assert_frame_equal(base.iloc[: after + 1], changed.iloc[: after + 1])
        assert not np.allclose(base.iloc[after + 1 :].to_numpy(), changed.iloc[after + 1 :].to_numpy(), equal_nan=True)
    assert base.iloc[:WARMUP].isna().all().all()
    assert base.iloc[WARMUP:].notna().all().all()
    assert list(base.columns) == list(FEATURES)


def test_standardise_uses_support_statistics_only() -> None:
    rng = np.random.default_rng(0)
    support = rng.normal(3.0, 2.0, (100, len(FEATURES)))
    q1 = rng.normal(0.0, 1.0, (20, len(FEATURES)))
    s1, a = standardise(support, q1)
    s2, b = standardise(support, q1 * 100 + 7)  # a different query leaves the support scaling unchanged
    np.testing.assert_array_equal(s1, s2)
    assert np.allclose(s1[:, ~SIGNED].mean(axis=0), 0.0, atol=1e-9)
    assert np.allclose(s1[:, ~SIGNED].std(axis=0), 1.0, atol=1e-9)
    assert (s1[:, SIGNED].mean(axis=0) > 0.5).all()  # signed features keep their sign (not centred)
    assert np.abs(a).max() <= 5.0 and np.abs(b).max() <= 5.0


def test_task_support_outcomes_are_realised_before_the_first_decision(market) -> None:
    series = AssetSeries.from_prices("SYN0", market.prices["SYN0"])
    t = 600
    for embargo in (1, 3):
        task = make_task(series, t, SUPPORT, QUERY, embargo)
        first_query, last_support = task.metadata["query_dates"][0], task.metadata["support_dates"][1]
        i_last = series.dates.get_loc(pd.Timestamp(last_support))
        # the last support label is the return to the close of i_last + 1, which must be <= t - embargo < t
        assert i_last + 1 == t - embargo
        assert pd.Timestamp(first_query) == series.dates[t]
        assert task.n_support == SUPPORT and task.n_query == QUERY
        np.testing.assert_array_equal(task.support_y.numpy(), series.y[t - embargo - SUPPORT : t - embargo])
    with pytest.raises(TaskError, match="embargo"):
        make_task(series, t, SUPPORT, QUERY, 0)
    with pytest.raises(TaskError, match="support days"):
        make_task(series, WARMUP + 10, SUPPORT, QUERY, 1)
    # the last day of the data has no outcome yet: predicted, but masked out of every score
    last = make_task(series, len(series.dates) - 3, SUPPORT, QUERY, 1)
    assert last.n_query == 3 and last.query_mask.tolist() == [True, True, False]


def _domain_from(
    prices: dict[str, pd.DataFrame], regimes: pd.Series, test_start: str, target: str = "direction"
) -> TradingDomain:
    return TradingDomain(
        source="csv",
        prices=prices,
        regimes=regimes,
        test_start=test_start,
        support_days=SUPPORT,
        query_days=QUERY,
        target=target,
    )


@pytest.mark.parametrize("target", ["direction", "regime21", "vol_tercile", "jump21"])
def test_no_decision_depends_on_a_later_price(market, target: str) -> None:
    """Walk-forward decisions of every method up to day d are unchanged when prices after d change: for every
    target (a 21-day label of a support day must be realised before it is used), the adapted meta-learner,
    scratch and every rule, including the HMM, jump model and volatility target refitted every month."""
    prices = {"SYN0": market.prices["SYN0"]}
    test_start = str(market.prices["SYN0"].index[700].date())
    domain = _domain_from(prices, market.regimes, test_start, target)
    n_way = domain.target.n_classes
    learner = make_learner(domain, "fomaml", n_way=n_way, seed=0)
    cfg = BaselineConfig(**{**domain.default_baselines(), "scratch_steps": 20})
    methods = [MetaMethod(learner, name="fomaml"), ScratchBaseline(domain, n_way, cfg)]
    base = walk_forward(domain, methods, n_boot=50, progress=False, refit_months=1)
    after = 700 + domain.embargo + 2 * QUERY + 4  # in the middle of a query window, after a refit
    cut = market.prices["SYN0"].index[after]
    changed_prices = {"SYN0": _perturbed(market.prices["SYN0"], after)}
    changed_domain = _domain_from(changed_prices, market.regimes, test_start, target)
    changed = walk_forward(changed_domain, methods, n_boot=50, progress=False, refit_months=1)
    assert {"jump model", "HMM 2-state", "vol targeting", "fomaml", "scratch"} <= set(base.daily)
    moved_later = False
    for name, per in base.daily.items():
        a, b = per["SYN0"], changed.daily[name]["SYN0"]
        for col in [c for c in ("p_up", "signal", "position") if c in a]:
            pd.testing.assert_series_equal(a[col].loc[:cut], b[col].loc[:cut], check_names=False)
            moved_later |= not a[col].loc[cut:].iloc[1:].equals(b[col].loc[cut:].iloc[1:])
    assert moved_later, "the perturbation changed no later decision: the test would not catch look-ahead"


def test_time_and_ticker_splits_are_disjoint() -> None:
    domain = TradingDomain(n_assets=6, n_markets=2, n_days=1500, test_tickers="SYN0-0", test_start="2004-06-01")
    periods = domain.periods()
    train_end, (val_lo, val_hi), (test_lo, _) = periods["train"][1], periods["val"], periods["test"]
    assert train_end < val_lo <= val_hi < test_lo
    g = torch.Generator().manual_seed(0)
    seen = {}
    for split in ("train", "val", "test"):
        sampler = domain.sampler(split)
        seen[split] = {s.ticker for s in sampler.series}
        for _ in range(40):
            task = sampler.sample(g)
            series = next(s for s in sampler.series if s.ticker == task.metadata["ticker"])
            last_q = series.dates.get_loc(pd.Timestamp(task.metadata["query_dates"][-1]))
            outcome_day = series.dates[last_q + 1]  # the last query label is realised here
            first_q = pd.Timestamp(task.metadata["query_dates"][0])
            if split == "train":
                assert outcome_day <= train_end
            elif split == "val":
                assert val_lo <= first_q and outcome_day <= val_hi
            else:
                assert first_q >= test_lo
    assert seen["test"] == {"SYN0-0"} and "SYN0-0" not in seen["train"] | seen["val"]


def test_synthetic_test_market_is_independent() -> None:
    domain = TradingDomain(n_assets=4, n_markets=2, n_days=1200, test_days=700)
    train = domain.sampler("train").series
    test = domain.sampler("test").series
    assert {s.ticker for s in test}.isdisjoint({s.ticker for s in train})
    assert all(s.regimes is not None for s in test)
    assert not np.allclose(test[0].prices["close"].to_numpy()[:500], train[0].prices["close"].to_numpy()[:500])
    tasks = domain.sampler("test").all_tasks()
    starts = [t.metadata["start_index"] for t in tasks if t.metadata["ticker"] == test[0].ticker]
    assert np.all(np.diff(starts) == domain.query)  # the walk-forward grid: consecutive query windows


def test_bad_options_are_refused_clearly() -> None:
    with pytest.raises(DataError, match="unknown market source"):
        TradingDomain(source="bloomberg")
    with pytest.raises(DataError, match="embargo"):
        TradingDomain(embargo=0)
    with pytest.raises(DataError, match=r"full history|no complete task|test_start"):
        TradingDomain(n_days=400, test_days=400).sampler("train")
    with pytest.raises(TaskError, match="2 classes"):
        TradingDomain().sampler("train", n_way=3)
    with pytest.raises(DataError, match="not among the assets"):
        TradingDomain(n_days=1200, test_tickers="NOPE", test_start="2003-01-01").sampler("test")


def test_registered_and_shapes() -> None:
    domain = get_domain("trading", n_assets=2, n_markets=1, n_days=1000)
    task = domain.sampler("train").sample(torch.Generator().manual_seed(0))
    assert task.support_x.shape == (126, len(FEATURES)) and task.query_x.shape == (21, len(FEATURES))
    assert set(task.support_y.unique().tolist()) <= {0, 1}
    x, y = domain.pooled_batch("train", 100, torch.Generator().manual_seed(1))
    assert x.shape == (100, len(FEATURES)) and y.shape == (100,)
    assert domain.fingerprint() == get_domain("trading", n_assets=2, n_markets=1, n_days=1000).fingerprint()
    assert domain.fingerprint() != get_domain("trading", n_assets=2, n_markets=1, n_days=1001).fingerprint()


def test_positions_and_paired_difference() -> None:
    p = np.array([0.2, 0.5, 0.51, 0.9, np.nan])
    assert to_position(p, "long_flat")[:4].tolist() == [0, 0, 1, 1]
    assert to_position(p, "long_short")[:4].tolist() == [-1, -1, 1, 1]
    assert to_position(p, "scaled")[:4].tolist() == pytest.approx([0, 0, 0.1, 1])
    assert math.isnan(to_position(p)[4])
    with pytest.raises(DataError, match="position mode"):
        to_position(p, "martingale")
    rng = np.random.default_rng(0)
    a = pd.Series(rng.normal(5e-4, 0.01, 1000))
    same = paired_sharpe_diff(a, a, n_boot=200)
    assert same["diff"] == 0 and same["lo"] == 0 and same["hi"] == 0
    better = paired_sharpe_diff(a + 1e-3, a, n_boot=200)
    assert 0 < better["lo"] < better["diff"] < better["hi"]


def test_walk_forward_report(market) -> None:
    domain = _domain_from(dict(market.prices), market.regimes, str(market.prices["SYN0"].index[650].date()))
    learner = make_learner(domain, "fomaml", n_way=2, seed=0)
    ev = walk_forward(domain, [MetaMethod(learner, name="fomaml")], n_boot=100, progress=False)
    rep = ev.report
    rules = {"buy & hold", "MA 50/200", "TSMOM 12-1", "vol targeting", "HMM 2-state", "jump model"}
    assert set(rep["methods"]) == {"fomaml", *rules}
    bh = rep["methods"]["buy & hold"]
    # buy & hold of the equal-weight portfolio: the first day's signal is held from the second day on
    # (one-day lag), which pays the one entry cost of 10 bp
    close = pd.DataFrame({t: df["close"] for t, df in ev.prices.items()})
    net = close.pct_change().iloc[1:].mean(axis=1)
    net.iloc[0] -= 10e-4
    expected = (1 + net).prod() - 1
    assert bh["portfolio"]["total_return"] == pytest.approx(expected, rel=1e-9)
    assert bh["portfolio"]["exposure"] > 0.99
    for e in rep["methods"].values():
        p = e["portfolio"]
        assert p["sharpe_lo"] <= p["sharpe"] <= p["sharpe_hi"]
        assert "regime_id_balanced_accuracy" in e and set(e["by_regime"]) <= {"bull", "bear", "sideways", "crisis"}
    assert "direction_accuracy" in rep["methods"]["fomaml"]
    assert "Not investment advice" in format_report(rep)
    json.dumps(rep)  # plain data (NaN become null in the CLI writer)


def test_pooled_batches_match_the_tasks_they_come_from() -> None:
    """The vectorised pooled batch (running sums) gives exactly the rows make_task standardises."""
    domain = TradingDomain(n_assets=3, n_markets=1, n_days=1300)
    sampler = domain.sampler("train")
    x, y = sampler.pooled(16, torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)  # replay the draws pooled() made
    which = torch.multinomial(sampler._weights, 16, replacement=True, generator=g).numpy()
    u = torch.rand(16, generator=g, dtype=torch.float64).numpy()
    j = torch.randint(sampler.query, (16,), generator=g).numpy()
    for k in range(16):
        starts = sampler._starts[which[k]]
        t = int(starts[min(int(u[k] * len(starts)), len(starts) - 1)])
        task = make_task(sampler.series[which[k]], t, sampler.support, sampler.query, sampler.embargo)
        torch.testing.assert_close(x[k], task.query_x[j[k]], atol=2e-4, rtol=1e-4)
        assert int(y[k]) == int(task.query_y[j[k]])
