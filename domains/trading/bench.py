"""``metasuite bench trading``: walk-forward evaluation time, adaptation latency, backtest throughput.

Measured in one process on the machine at hand (nothing else should run beside it):

* **walk-forward evaluation** -- the full ``metasuite eval trading`` pipeline on the default synthetic test
  market, 10 assets x 5 years of test days: shipped meta-learner(s) adapted on every 21-day window, the
  pooled model (pre-trained first, timed separately), scratch, the four rule baselines (incl. fitting the
  HMM per asset), backtests and bootstrap CIs. Target: <= 120 s.
* **adaptation latency** -- one task (126 support days): the shipped MAML checkpoint's test-time inner
  loop, median over repeats after warm-up; and the scratch baseline's training on the same support.
* **backtest throughput** -- :func:`~metasuite.domains.trading.backtest.backtest` + :func:`performance` (1,000
  bootstrap resamples) on 10 assets x 5 years of random signals, in ticker-years per second; also without
  the bootstrap.

``quick`` keeps every code path with 2 assets, fewer repeats and 100 bootstrap resamples.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
import torch

from metasuite.core.baselines import BaselineConfig, ScratchBaseline
from metasuite.core.bench import timing_summary
from metasuite.core.learners import load_learner
from metasuite.domains.trading.backtest import backtest, performance
from metasuite.domains.trading.domain import TradingDomain
from metasuite.domains.trading.evaluation import build_methods, default_checkpoints, walk_forward

__all__ = ["TARGETS", "bench_trading"]

#: Issue 5's target: the full walk-forward evaluation of 10 tickers x 5 years.
TARGETS = {"walk_forward_seconds": 120.0}


def _walk_forward(quick: bool) -> dict[str, Any]:
    domain = TradingDomain(n_assets=2 if quick else 10, n_markets=1 if quick else 5)
    ckpts = default_checkpoints("synthetic")
    t0 = time.perf_counter()
    test = domain.test_market()
    t_data = time.perf_counter() - t0
    t0 = time.perf_counter()
    methods, _, _ = build_methods([str(p) for p in ckpts], domain, progress=False)
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    ev = walk_forward(domain, methods, n_boot=100 if quick else 1000, progress=False)
    t_eval = time.perf_counter() - t0
    years = ev.report["data"]["n_days"] / 252.0
    return {
        "assets": len(test),
        "test_years": round(years, 2),
        "methods": list(ev.report["methods"]),
        "checkpoints": [p.name for p in ckpts],
        "market_and_features_s": round(t_data, 2),
        "pooled_pretrain_and_load_s": round(t_build, 2),
        "walk_forward_s": round(t_eval, 2),
        "total_s": round(t_data + t_build + t_eval, 2),
    }


def _adaptation(quick: bool) -> dict[str, Any]:
    domain = TradingDomain(n_assets=2, n_markets=1)
    task = domain.sampler("test").all_tasks()[0]
    repeats = 5 if quick else 30
    out: dict[str, Any] = {"support_days": task.n_support, "query_days": task.n_query}
    for path in default_checkpoints("synthetic"):
        learner, _ = load_learner(path, domain)

        def adapt(learner=learner) -> None:
            learner.adapt(task.support_x, task.support_y, task.support_mask).predict(task.query_x)

        out[path.name] = {"inner_steps": learner.test_inner_steps, **timing_summary(adapt, repeats, digits=5)}
    scratch = ScratchBaseline(domain, 2, BaselineConfig(**domain.default_baselines()))
    out["scratch"] = {
        "steps": scratch.config.scratch_steps,
        **timing_summary(lambda: scratch.adapt(task)(task.query_x), max(3, repeats // 5), digits=5),
    }
    return out


def _backtest_throughput(quick: bool) -> dict[str, Any]:
    n_assets, n_days = (2, 1260) if quick else (10, 1260)
    rng = np.random.default_rng(0)
    dates = pd.bdate_range("2010-01-01", periods=n_days)
    closes = [pd.Series(100 * np.exp(np.cumsum(rng.normal(3e-4, 0.01, n_days))), index=dates) for _ in range(n_assets)]
    signals = [pd.Series((rng.random(n_days) > 0.4).astype(float), index=dates) for _ in range(n_assets)]
    n_boot = 100 if quick else 1000
    ticker_years = n_assets * n_days / 252.0

    def run(boot: int) -> None:
        for c, s in zip(closes, signals):
            res = backtest(s, c, cost_bps=10.0)
            performance(res.net, res.position, n_boot=boot)

    repeats = 2 if quick else 5
    with_boot = timing_summary(lambda: run(n_boot), repeats, digits=5)
    no_boot = timing_summary(lambda: run(0), repeats, digits=5)
    return {
        "assets": n_assets,
        "years_per_asset": n_days / 252.0,
        "n_boot": n_boot,
        "with_bootstrap": {**with_boot, "ticker_years_per_s": round(ticker_years / with_boot["median_s"], 1)},
        "without_bootstrap": {**no_boot, "ticker_years_per_s": round(ticker_years / no_boot["median_s"], 1)},
    }


def bench_trading(quick: bool = False) -> dict[str, Any]:
    """The trading benchmarks (see the module docstring)."""
    torch.manual_seed(0)
    wf = _walk_forward(quick)
    adapt = _adaptation(quick)
    bt = _backtest_throughput(quick)
    ratios = {
        "walk_forward_vs_target": round(wf["total_s"] / TARGETS["walk_forward_seconds"], 3),
        "backtest_bootstrap_cost": round(
            bt["with_bootstrap"]["median_s"] / max(bt["without_bootstrap"]["median_s"], 1e-9), 1
        ),
    }
    return {
        "targets": TARGETS,
        "walk_forward": wf,
        "adaptation": adapt,
        "backtest": bt,
        "ratios": ratios,
        "meets_targets": {"walk_forward": wf["total_s"] <= TARGETS["walk_forward_seconds"] or quick},
    }
