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
* **one ticker, every method** (issue 16) -- the work a worker does per ticker: 5 years of test days after 2 years
  of history, the shipped 21-day-regime checkpoint adapted on every window in one batch, the pooled model, and
  every rule with 6-monthly refits (HMM, jump model, volatility target); median seconds and ticker-years per
  second per worker. Target: <= 0.5 s.
* **S&P 500 scale** -- a synthetic CSV folder of 500 tickers x (2 + 5) years (written by the benchmark: the
  market-sample data has 80 tickers and under 5 years), the whole ``metasuite eval trading`` walk-forward of it
  with ``workers`` processes (default 2): minutes, ticker-years per second, and the resident memory of the
  evaluating process and of its workers at 100 and at 500 tickers (it must not grow with tickers). Target: <= 5
  minutes with 2 workers.

``quick`` keeps every code path with 2 assets, fewer repeats, 100 bootstrap resamples and 20 / 40 tickers.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from metasuite.core.baselines import BaselineConfig, ScratchBaseline
from metasuite.core.bench import timing_summary
from metasuite.core.checkpoint import load_checkpoint
from metasuite.core.learners import load_learner
from metasuite.domains.trading.backtest import backtest, performance
from metasuite.domains.trading.domain import AssetJob, TradingDomain
from metasuite.domains.trading.evaluation import (
    REFIT_MONTHS,
    REGIME_CHECKPOINTS,
    RULE_NAMES,
    _setting,
    _Work,
    build_methods,
    default_checkpoints,
    walk_forward,
)
from metasuite.domains.trading.strategies import one_thread
from metasuite.domains.trading.synth import simulate_market

__all__ = ["TARGETS", "bench_trading"]

#: Issue 5's target: the full walk-forward evaluation of 10 tickers x 5 years; issue 16's: one ticker x 5 years
#: with every method per worker, and 500 tickers x 5 years with 2 workers.
TARGETS = {"walk_forward_seconds": 120.0, "per_ticker_seconds": 0.5, "sp500_seconds": 300.0}
_HISTORY_DAYS, _TEST_DAYS = 504, 1260  # 2 years of history, 5 years of test days


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


def _write_market(folder: Path, n_tickers: int, seed: int = 0) -> None:
    """``n_tickers`` synthetic tickers (markets of 50 assets with their own regime paths), one CSV each in the
    market-sample layout, 2 + 5 years of business days from 2010."""
    for k in range(0, n_tickers, 50):
        market = simulate_market(_HISTORY_DAYS + _TEST_DAYS, min(50, n_tickers - k), seed=seed + k, start="2010-01-04")
        for i, df in enumerate(market.prices.values()):
            frame = df.round(4).reset_index()
            frame["Name"] = f"T{k + i:03d}"
            frame.to_csv(folder / f"T{k + i:03d}_data.csv", index=False)


def _regime_methods(domain: TradingDomain) -> tuple[list[Any], list[str], float]:
    """The shipped real-data 21-day-regime checkpoint's methods (meta-learner, pooled) and the pooled model's
    pre-training time (once per evaluation, not per ticker)."""
    ckpt = REGIME_CHECKPOINTS["real"]
    t0 = time.perf_counter()
    methods, _, _ = build_methods([str(ckpt)], domain, progress=False)
    return methods, [m.name for m in methods], time.perf_counter() - t0


def _per_ticker(quick: bool) -> dict[str, Any]:
    """Seconds of one worker's work on one ticker x 5 years (every method, refits, jump model)."""
    with tempfile.TemporaryDirectory(prefix="metasuite-bench-") as tmp:
        _write_market(Path(tmp), 1, seed=7)
        domain = TradingDomain(source="csv", data_dir=tmp, test_start="2012-01-02", **_regime_options())
        methods, names, _ = _regime_methods(domain)
        job = domain.test_jobs()[0]
        setting = _setting(
            domain,
            cost_bps=10.0,
            slippage_bps=0.0,
            position=None,
            halflife=None,
            n_boot=0,
            seed=0,
            refit_months=REFIT_MONTHS,
        )
        work = _Work(domain, methods, setting, True, False)
        assets, _, _ = domain.load_job(job)
        in_memory = AssetJob(job.name, *assets[0])
        with _OneTorchThread(), one_thread():
            timing = timing_summary(lambda: work.run(in_memory), 2 if quick else 7, digits=4)
            with_load = timing_summary(lambda: work.run(job), 2 if quick else 5, digits=4)
    years = (in_memory.hi - in_memory.lo) / 252.0
    return {
        "methods": [*names, *RULE_NAMES],
        "test_years": round(years, 2),
        "refit_months": REFIT_MONTHS,
        "seconds": timing,
        "seconds_with_csv_read_and_features": with_load,
        "ticker_years_per_s_per_worker": round(years / with_load["median_s"], 2),
    }


def _regime_options() -> dict[str, Any]:
    _, meta = load_checkpoint(REGIME_CHECKPOINTS["real"])
    opts = meta.get("domain_options") or {}
    return {k: opts[k] for k in ("target", "features", "embargo", "support_days", "query_days") if k in opts}


def _stage(text: str) -> None:
    """One progress line on stderr (the JSON result goes to stdout)."""
    print(f"[bench trading] {text}", file=sys.stderr, flush=True)


class _OneTorchThread:
    """One torch thread inside the block (what each worker process uses)."""

    def __enter__(self) -> None:
        self.before = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc: object) -> None:
        torch.set_num_threads(self.before)


def _rss_mb(pid: int | str = "self") -> float:
    """Resident memory of a process in MB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        return 0.0
    return 0.0


def _children() -> list[int]:
    pids = []
    for task in Path("/proc/self/task").iterdir():
        try:
            pids += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return pids


class _MemorySampler(threading.Thread):
    """Samples the resident memory of this process and of its child processes (the workers) every 0.25 s."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.parent: list[float] = []
        self.worker: list[float] = []

    def run(self) -> None:
        while not self.stop.is_set():
            self.parent.append(_rss_mb())
            sizes = [_rss_mb(p) for p in _children()]
            if sizes:
                self.worker.append(max(sizes))
            self.stop.wait(0.25)


def _sp500_scale(quick: bool, workers: int) -> dict[str, Any]:
    """The full walk-forward of a synthetic 500-ticker CSV folder (module docstring)."""
    sizes = (20, 40) if quick else (100, 500)
    out: dict[str, Any] = {"workers": workers, "test_years_per_ticker": _TEST_DAYS / 252.0, "runs": {}}
    with tempfile.TemporaryDirectory(prefix="metasuite-bench-sp500-") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        _write_market(folder, sizes[-1])
        out["write_csv_s"] = round(time.perf_counter() - t0, 1)
        for n in sizes:
            sub = folder / f"n{n}"
            sub.mkdir()
            for f in sorted(folder.glob("*_data.csv"))[:n]:
                os.link(f, sub / f.name)
            domain = TradingDomain(source="csv", data_dir=str(sub), test_start="2012-01-02", **_regime_options())
            methods, _, pretrain_s = _regime_methods(domain)
            sampler = _MemorySampler()
            sampler.start()
            t0 = time.perf_counter()
            ev = walk_forward(domain, methods, workers=workers, progress=False, n_boot=1000)
            seconds = time.perf_counter() - t0
            sampler.stop.set()
            sampler.join()
            ticker_years = len(ev.report["data"]["tickers"]) * _TEST_DAYS / 252.0
            out["methods"] = list(ev.report["methods"])
            out["runs"][str(n)] = {
                "tickers": len(ev.report["data"]["tickers"]),
                "pooled_pretrain_s": round(pretrain_s, 1),
                "walk_forward_s": round(seconds, 1),
                "total_s": round(seconds + pretrain_s, 1),
                "ticker_years_per_s": round(ticker_years / seconds, 1),
                "parent_rss_mb_peak": round(max(sampler.parent), 1),
                "worker_rss_mb_peak": round(max(sampler.worker), 1) if sampler.worker else None,
            }
    return out


def bench_trading(quick: bool = False, workers: int = 2) -> dict[str, Any]:
    """The trading benchmarks (see the module docstring)."""
    torch.manual_seed(0)
    _stage("walk-forward evaluation of the synthetic test market ...")
    wf = _walk_forward(quick)
    _stage(f"walk-forward: {wf['total_s']:.1f} s; adaptation latency ...")
    adapt = _adaptation(quick)
    _stage("backtest throughput ...")
    bt = _backtest_throughput(quick)
    _stage("one ticker x 5 years, every method ...")
    per_ticker = _per_ticker(quick)
    _stage(f"one ticker: {per_ticker['seconds']['median_s']:.2f} s; S&P 500 scale with {workers} workers (minutes) ...")
    sp500 = _sp500_scale(quick, int(workers))
    small, large = (sp500["runs"][k] for k in sorted(sp500["runs"], key=int))
    ratios = {
        "walk_forward_vs_target": round(wf["total_s"] / TARGETS["walk_forward_seconds"], 3),
        "backtest_bootstrap_cost": round(
            bt["with_bootstrap"]["median_s"] / max(bt["without_bootstrap"]["median_s"], 1e-9), 1
        ),
        "per_ticker_vs_target": round(
            per_ticker["seconds_with_csv_read_and_features"]["median_s"] / TARGETS["per_ticker_seconds"], 3
        ),
        "sp500_vs_target": round(large["total_s"] / TARGETS["sp500_seconds"], 3),
        "parent_memory_large_vs_small": round(large["parent_rss_mb_peak"] / small["parent_rss_mb_peak"], 3),
    }
    return {
        "targets": TARGETS,
        "walk_forward": wf,
        "adaptation": adapt,
        "backtest": bt,
        "per_ticker": per_ticker,
        "sp500_scale": sp500,
        "ratios": ratios,
        "meets_targets": {
            "walk_forward": wf["total_s"] <= TARGETS["walk_forward_seconds"] or quick,
            "per_ticker": per_ticker["seconds_with_csv_read_and_features"]["median_s"] <= TARGETS["per_ticker_seconds"],
            "sp500": large["total_s"] <= TARGETS["sp500_seconds"] or quick,
        },
    }
