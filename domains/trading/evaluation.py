"""Walk-forward evaluation of the trading domain: adapt, decide, backtest after costs, compare.

For every test asset the test period is covered by consecutive tasks (:func:`~.tasks.walk_forward_starts`): at the
first day ``t`` of each window a method adapts on the support (the recent past with realised outcomes), then gives
the probabilities of the target's classes for each of the next ``query_days`` days from that day's features. All
windows of an asset are adapted in one batch (:mod:`metasuite.domains.trading.predict`). The probabilities,
smoothed by a causal exponential average (``halflife``), become a target position (:func:`positions`): long / flat
on the probability of the risk-on class (up, bull, not high volatility), or volatility-targeted on the predicted
volatility (``vol_target``, the ``vol_tercile`` target). It is held over the next day's return (one-day lag,
:func:`metasuite.domains.trading.backtest.backtest`) and charged ``cost_bps`` + ``slippage_bps`` per unit of turnover.

Methods compared on the same days, assets and costs:

* the meta-learners of the given checkpoints (adapted on each support window);
* **pooled (no adaptation)**: the same MLP trained on the pooled training tasks, never adapted;
* **scratch**: a fresh MLP trained on each support window only (direction target; a 126-day support holds only
  about six independent 21-day outcomes, too few to train a network, so the 21-day targets leave it out);
* the rules of :mod:`metasuite.domains.trading.strategies` and :mod:`metasuite.domains.trading.jump`: buy & hold,
  MA 50/200, TSMOM 12-1, volatility targeting (Moreira & Muir 2017), the 2-state HMM and the statistical jump
  model (Shu, Yu & Mulvey 2024). The last three are fitted on each asset's history before the test period and
  refitted on the expanding history every ``refit_months`` months; applied causally (filtered / online states).

Headline = the equal-weight portfolio of the test assets (mean of their daily net returns). Sharpe ratios carry a
stationary-bootstrap 95% CI, and the differences to the pooled model, the HMM, the jump model and buy & hold a
*paired* bootstrap CI (the same resampled days for both). With several tickers the report adds their cross-section
(:mod:`metasuite.domains.trading.crosssection`): per-ticker Sharpe differences with a bootstrap CI of the mean, the
share of tickers improved and the drawdown reduction. Per-ticker entries have no bootstrap interval (1,000
resamples per ticker and method would cost more than the rest of a ticker's evaluation). On a synthetic market the
ground-truth regimes give a by-regime breakdown and a regime-identification score (risk-off = bear or crisis vs a
method's flat days).

Many tickers: the assets are evaluated one at a time (``workers`` processes, one torch thread each) and reduced
as they finish, keeping only their metrics and the portfolio's running sums; a CSV folder evaluated from a date
is read one file at a time by the workers (:attr:`TradingDomain.streams_test`), so memory does not grow with the
number of tickers. Not investment advice.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd
import torch

from metasuite.core.baselines import BaselineConfig, PooledBaseline, ScratchBaseline, pretrain
from metasuite.core.checkpoint import load_checkpoint
from metasuite.core.errors import DataError
from metasuite.core.evaluate import MetaMethod, mean_ci
from metasuite.core.evaluation import EvalReport, EvalRequest, Evaluation, check_ensemble, ensembles
from metasuite.core.jsonio import strict
from metasuite.core.learners import load_learner
from metasuite.core.options import Option
from metasuite.core.plots import save_figure
from metasuite.core.progress import progress as progress_bar
from metasuite.data import CHECKPOINTS
from metasuite.domains.trading.backtest import (
    annualised_sharpe,
    backtest,
    drawdown,
    performance,
    regime_breakdown,
    stationary_bootstrap_indices,
)
from metasuite.domains.trading.crosssection import (
    POOLED,
    cross_section,
    format_cross_section,
    pooled_rows,
    save_tickers_png,
)
from metasuite.domains.trading.features import regime_features
from metasuite.domains.trading.jump import JumpModelStrategy
from metasuite.domains.trading.predict import predict_windows
from metasuite.domains.trading.strategies import (
    BASELINE_NAMES,
    RISK_ON,
    HMMRegimeStrategy,
    baseline_signals,
    log_returns,
    realised_variance,
    refit_starts,
    refitted_signal,
    vol_target,
)
from metasuite.domains.trading.strategies import (
    RISK_OFF as HMM_RISK_OFF,
)
from metasuite.domains.trading.targets import Target
from metasuite.domains.trading.tasks import AssetSeries

if TYPE_CHECKING:  # the domain module imports this one (its evaluation); only the type is needed here
    from metasuite.domains.trading.domain import AssetJob, TradingDomain

__all__ = [
    "COMPARE_TO",
    "DISCLAIMER",
    "HALFLIFE",
    "HALFLIFES",
    "POOLED",
    "POSITION_MODES",
    "REFERENCES",
    "REFIT_MONTHS",
    "REGIME_CHECKPOINTS",
    "RULE_NAMES",
    "SHAPE_OPTIONS",
    "TradingEvaluation",
    "WalkForwardEvaluation",
    "build_methods",
    "check_model_options",
    "default_checkpoint",
    "default_checkpoints",
    "format_report",
    "paired_sharpe_diff",
    "positions",
    "predict_walk_forward",
    "references",
    "save_equity_png",
    "to_position",
    "validation_sharpe",
    "walk_forward",
]

DISCLAIMER = "Not investment advice: a research backtest on historical or simulated prices."
POSITION_MODES = ("long_flat", "long_short", "scaled", "vol_target")
RISK_OFF = ("bear", "crisis")
#: Shu, Yu & Mulvey (2024), "Downside risk reduction using regime-switching signals: a statistical jump
#: model approach", S&P 500 1990-2023, 10 bp transaction costs.
REFERENCES = {
    "source": "Shu, Yu & Mulvey 2024, S&P 500 1990-2023, 10 bp costs",
    "HMM 2-state sharpe": 0.54,
    "statistical jump model sharpe": 0.68,
    "buy & hold max_drawdown": -0.55,
}
#: Default half-life (days) of the probability smoothing of the direction target, chosen on the *validation* period
#: of the synthetic training markets among 0, 3, 10, 30 (FOMAML Sharpe -0.57, 0.30, 0.42, 1.08; turnover 35 -> 3.4).
HALFLIFE = 30.0
#: Default half-life per target. The 21-day targets' probabilities are already smooth (overlapping 21-day outcomes);
#: their half-life was chosen on the synthetic validation period (see the README's trading results).
HALFLIFES = {"direction": HALFLIFE, "regime21": 5.0, "vol_tercile": 5.0, "jump21": 5.0}
#: Default position rule per target.
DEFAULT_POSITION = {
    "direction": "long_flat",
    "regime21": "long_flat",
    "vol_tercile": "vol_target",
    "jump21": "long_flat",
}
#: Months between expanding-window refits of the fitted baselines (Shu et al. refit every 6 months).
REFIT_MONTHS = 6
#: The rules every evaluation backtests beside the learned methods, in the report's order (a fitted rule is left out,
#: with a note, when the asset has too little history before the test period).
RULE_NAMES = (*BASELINE_NAMES[:3], "vol targeting", "HMM 2-state", "jump model")
#: The references every learned method's Sharpe is compared with, paired (the pooled model's ensemble over seeds
#: stands in for it when the evaluation trained several: :func:`references`).
COMPARE_TO = (POOLED, "HMM 2-state", "jump model", "buy & hold")
#: Daily frames (positions, net returns) are kept for the page's plots up to this many assets; beyond, only the
#: metrics and the portfolio (memory must not grow with the number of tickers).
KEEP_DAILY_MAX = 50


def to_position(p_up: np.ndarray, mode: str = "long_flat", margin: float = 0.1) -> np.ndarray:
    """Target positions from probabilities of the risk-on class ("up", "bull", ...).

    ``long_flat``: 1 when p > 0.5 else 0. ``long_short``: +1 / -1 around 0.5. ``scaled``: long-only and
    confidence-scaled, ``clip((p - 0.5) / margin, 0, 1)`` (fully long at p >= 0.5 + margin).
    NaN (no decision) stays NaN and is treated as flat by the backtest. (``vol_target`` needs the predicted
    volatility: :func:`positions`.)
    """
    p = np.asarray(p_up, dtype=np.float64)
    if mode == "long_flat":
        out = (p > 0.5).astype(np.float64)
    elif mode == "long_short":
        out = np.where(p > 0.5, 1.0, -1.0)
    elif mode == "scaled":
        out = np.clip((p - 0.5) / margin, 0.0, 1.0)
    else:
        raise DataError(f"unknown position mode {mode!r}; choose one of {', '.join(POSITION_MODES)}")
    return np.where(np.isnan(p), np.nan, out)


def positions(
    probs: np.ndarray, target: Target, mode: str, halflife: float, index: pd.Index
) -> tuple[pd.Series, pd.Series]:
    """``(p, signal)`` on ``index`` from class probabilities ``probs`` ``(n_days, C)`` (NaN: no decision).

    The probabilities are first smoothed by a causal exponential average of half-life ``halflife`` days (0: not
    smoothed). ``p`` is the smoothed probability of the risk-on class (:meth:`Target.risk_on`); the signal is
    :func:`to_position` of it, or for ``vol_target`` (``vol_tercile`` only) ``min(1, target_vol / expected vol)``
    with the expected volatility ``sum_k P(k) vol_k`` of the training terciles.
    """
    frame = pd.DataFrame(probs, index=index)
    if halflife > 0:
        frame = frame.ewm(halflife=halflife, ignore_na=True).mean().where(frame.notna())  # causal: past days only
    smoothed = frame.to_numpy()
    p = pd.Series(target.risk_on(smoothed), index=index)
    if mode == "vol_target":
        if target.name != "vol_tercile" or target.target_vol is None:
            raise DataError("the vol_target position needs the vol_tercile target (a predicted volatility)")
        signal = np.minimum(1.0, target.target_vol / target.expected_vol(smoothed))
    else:
        signal = to_position(p.to_numpy(), mode)
    return p, pd.Series(signal, index=index)


def predict_walk_forward(method: Any, series: AssetSeries, lo: int, hi: int, support: int, query: int, embargo: int):
    """``(p, task accuracies)``: the probability of the risk-on class on every decision day of ``[lo, hi)`` (a
    Series, NaN where no full support window exists yet) and each task's accuracy on its known days."""
    probs, accs = predict_windows(method, series, lo, hi, support, query, embargo)
    p = pd.Series(series.target.risk_on(probs), index=series.dates, name=getattr(method, "name", "model"))
    return p[lo:hi], accs


def paired_sharpe_diff(
    a: pd.Series, b: pd.Series, *, n_boot: int = 1000, block: int = 20, seed: int = 0
) -> dict[str, float]:
    """Sharpe(a) - Sharpe(b) with a paired stationary-bootstrap 95% CI (same resampled days for both)."""
    x = np.vstack([a.to_numpy(np.float64), b.to_numpy(np.float64)])  # (2, days)
    n = x.shape[1]
    point = annualised_sharpe(x, 252)
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, n, size=(n_boot, n))
    new_block = rng.random((n_boot, n)) < 1.0 / block
    idx = stationary_bootstrap_indices(new_block, starts)
    diffs = []
    for lo in range(0, n_boot, 100):
        s = annualised_sharpe(x[:, idx[lo : lo + 100]], 252)  # (2, resamples)
        diffs.append(s[0] - s[1])
    d = np.concatenate(diffs) if diffs else np.empty(0)  # n_boot 0: the point difference only
    d = d[np.isfinite(d)]
    out = {"diff": float(point[0] - point[1])}
    out["lo"], out["hi"] = (float(np.percentile(d, 2.5)), float(np.percentile(d, 97.5))) if len(d) else (math.nan,) * 2
    return out


@dataclass
class TradingEvaluation:
    """Result of :func:`walk_forward`: the JSON report and the daily series behind it.

    ``daily[method][ticker]`` is a frame with ``p_up`` (learned methods: the probability of the risk-on class),
    ``signal``, ``position``, ``net`` and ``equity`` on the test days; ``portfolio`` holds each method's
    equal-weight daily net returns; ``regimes[ticker]`` the regime labels used in the breakdown (ground truth or
    HMM). ``daily``, ``regimes`` and ``prices`` are empty beyond :data:`KEEP_DAILY_MAX` assets.
    """

    report: dict[str, Any]
    daily: dict[str, dict[str, pd.DataFrame]] = field(default_factory=dict)
    portfolio: pd.DataFrame = field(default_factory=pd.DataFrame)
    regimes: dict[str, pd.Series] = field(default_factory=dict)
    prices: dict[str, pd.DataFrame] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Setting:
    """What every asset's walk-forward shares: the task shape (days), the target and the trading rules."""

    support: int
    query: int
    embargo: int
    cost_bps: float
    slippage_bps: float
    position: str
    halflife: float
    n_boot: int
    seed: int
    target: Target
    refit_months: int = REFIT_MONTHS


def _setting(domain: TradingDomain, **kw: Any) -> _Setting:
    target = domain.fitted_target()
    position = kw.pop("position", None) or DEFAULT_POSITION[target.name]
    halflife = kw.pop("halflife", None)
    halflife = HALFLIFES[target.name] if halflife is None else float(halflife)
    cost_bps, slippage_bps = kw["cost_bps"], kw["slippage_bps"]
    if cost_bps < 0 or slippage_bps < 0:
        raise DataError(f"costs must be >= 0 bps, got cost_bps={cost_bps}, slippage_bps={slippage_bps}")
    if position not in POSITION_MODES:
        raise DataError(f"unknown position mode {position!r}; choose one of {', '.join(POSITION_MODES)}")
    if position == "vol_target" and target.name != "vol_tercile":
        raise DataError("position vol_target needs the vol_tercile target (a predicted volatility)")
    if kw["refit_months"] < 0:
        raise DataError(f"refit_months must be >= 0 (0: fit once before the test period), got {kw['refit_months']}")
    return _Setting(
        domain.support, domain.query, domain.embargo, position=position, halflife=halflife, target=target, **kw
    )


# ---------------------------------------------------------------------- one asset
@dataclass
class _AssetResult:
    """What one test asset contributes: its metrics, its decision days' net returns and exposures per method
    (the portfolio's running sums), the counts behind the pooled scores, and its daily frames when kept."""

    ticker: str
    span: list[Any]
    days: pd.DatetimeIndex
    net: dict[str, np.ndarray]
    exposure: dict[str, np.ndarray]
    kinds: dict[str, str]
    per_ticker: dict[str, dict[str, float]]
    accuracies: dict[str, list[float]]
    target_hits: dict[str, np.ndarray]
    regime_counts: dict[str, np.ndarray]
    by_regime: dict[str, dict[str, Any]]
    regimes: pd.Series | None
    ground_truth: bool
    rule_notes: dict[str, str] = field(default_factory=dict)
    daily: dict[str, pd.DataFrame] | None = None
    prices: pd.DataFrame | None = None


def _decision_window(s: AssetSeries, lo: int, hi: int, setting: _Setting) -> int:
    """The first decision day of ``s`` in ``[lo, hi)``: the first with the feature warm-up and a full support
    window (and embargo) behind it. Raises :class:`DataError` when fewer than two decision days remain."""
    first = max(lo, s.first_valid + setting.embargo + setting.support)
    if hi - first < 2:
        raise DataError(
            f"{s.ticker}: the test period has {max(hi - first, 0)} decision days after the warm-up "
            f"({s.first_valid} days) and support ({setting.support} days); choose a longer period or start later"
        )
    return first


def _backtest_frame(
    signal: pd.Series, close: pd.Series, setting: _Setting, p_up: pd.Series | None = None
) -> pd.DataFrame:
    """One method's frame on one asset: ``p_up`` (learned methods), ``signal``, ``position``, ``net``, ``equity``."""
    res = backtest(signal, close, cost_bps=setting.cost_bps, slippage_bps=setting.slippage_bps)
    df = pd.DataFrame(
        {"signal": signal, "position": res.position, "net": res.net, "equity": res.equity}, index=close.index
    )
    if p_up is not None:
        df.insert(0, "p_up", p_up)
    return df


def _rule_signals(
    close: pd.Series, first: int, setting: _Setting
) -> tuple[dict[str, pd.Series], pd.Series | None, dict[str, str]]:
    """The rules' signals on ``close`` (every day up to the end of the test period), the HMM's filtered risk-on
    probability (None without it) and why a fitted rule was left out (too little history before ``first``).
    The fitted rules are fitted on the days before ``first`` and refitted every ``refit_months`` months on the
    days before each refit."""
    signals = baseline_signals(close, None, seed=setting.seed)
    starts = refit_starts(close.index, first, len(close), setting.refit_months)

    def vol_fit(history: pd.Series, upto: pd.Series, _k: int) -> pd.Series:
        return vol_target(upto, float(realised_variance(history).mean()))

    hmms: list[HMMRegimeStrategy] = []

    def hmm_fit(history: pd.Series, upto: pd.Series, _k: int) -> pd.Series:
        model = HMMRegimeStrategy(seed=setting.seed).fit(history, warm_start=hmms[-1] if hmms else None)
        hmms.append(model)
        return model.filtered_probs(log_returns(upto))[RISK_ON].reindex(upto.index)

    jumps: list[JumpModelStrategy] = []
    features = regime_features(close)  # causal: computed once, sliced by every refit

    def jump_fit(history: pd.Series, upto: pd.Series, _k: int) -> pd.Series:
        model = JumpModelStrategy(seed=setting.seed)
        model.fit(history, features=features, warm_start=jumps[-1] if jumps else None)
        jumps.append(model)
        return model.signal(upto, features=features)

    p_on, notes = None, {}
    for name, fit in (("vol targeting", vol_fit), ("HMM 2-state", hmm_fit), ("jump model", jump_fit)):
        try:
            signal = refitted_signal(close, starts, fit)
        except DataError as exc:  # too little history before the test period for this rule
            notes[name] = str(exc)
            continue
        if name == "HMM 2-state":
            p_on, signal = signal, (signal > 0.5).astype(np.float64).where(signal.notna())
        signals[name] = signal.rename(name)
    return signals, p_on, notes


def _learned_frame(
    method: Any,
    s: AssetSeries,
    first: int,
    hi: int,
    close: pd.Series,
    setting: _Setting,
    memo: dict[int, torch.Tensor] | None = None,
) -> tuple[pd.DataFrame, list[float], np.ndarray]:
    """A learned method's frame (causal probabilities -> positions -> backtest on the decision days' ``close``),
    its per-window accuracies and its predicted class on each decision day (``memo``: :func:`predict_windows`)."""
    probs, accs = predict_windows(method, s, first, hi, setting.support, setting.query, setting.embargo, memo)
    window = probs[first:hi]
    p, signal = positions(window, setting.target, setting.position, setting.halflife, close.index)
    predicted = np.where(np.isnan(window).any(axis=1), -1, np.nan_to_num(window).argmax(axis=1))
    return _backtest_frame(signal, close, setting, p), accs, predicted


def _evaluate_asset(
    s: AssetSeries, lo: int, hi: int, methods: Sequence[Any], setting: _Setting, rules: bool, keep: bool
) -> _AssetResult:
    """Backtest every learned method and, with ``rules``, the rules on one asset's decision days; reduce to
    what the report needs (:class:`_AssetResult`)."""
    first = _decision_window(s, lo, hi, setting)
    close_all = s.prices["close"].astype(np.float64)
    close = close_all.iloc[first:hi]
    frames: dict[str, pd.DataFrame] = {}
    kinds: dict[str, str] = {}
    accuracies: dict[str, list[float]] = {}
    target_hits: dict[str, np.ndarray] = {}
    y, known = s.y[first:hi], s.known[first:hi]
    n_classes = setting.target.n_classes
    memo: dict[int, torch.Tensor] = {}  # an ensemble reuses its members' logits on this asset's windows
    for m in methods:
        frames[m.name], accuracies[m.name], predicted = _learned_frame(m, s, first, hi, close, setting, memo)
        kinds[m.name] = m.kind
        ok = known & (predicted >= 0)
        # per true class: [days, correct days] -> pooled balanced accuracy of the target
        target_hits[m.name] = np.array(
            [[np.sum(ok & (y == c)), np.sum(ok & (y == c) & (predicted == c))] for c in range(n_classes)]
        )
    p_on, rule_notes = None, {}
    if rules:
        signals, p_on, rule_notes = _rule_signals(close_all.iloc[:hi], first, setting)
        for name, sig in signals.items():
            frames[name] = _backtest_frame(sig.iloc[first:hi], close, setting)
            kinds[name] = "rule"
    ground_truth = s.regimes is not None and bool(s.regimes.notna().any())
    if ground_truth:
        regimes = s.regimes.iloc[first:hi]
    elif p_on is not None:
        regimes = pd.Series(np.where(p_on >= 0.5, RISK_ON, HMM_RISK_OFF), index=p_on.index, dtype=object)
        regimes = regimes.where(p_on.notna()).iloc[first:hi]
    else:
        regimes = None
    regime_counts, by_regime = {}, {}
    for name, df in frames.items():
        if ground_truth:
            call = df["signal"].fillna(0.0).to_numpy() <= 0
            fact = regimes.reindex(df.index).isin(RISK_OFF).to_numpy()
            regime_counts[name] = np.array([np.sum(fact & call), np.sum(fact), np.sum(~fact & ~call), np.sum(~fact)])
        elif regimes is not None:
            by_regime[name] = regime_breakdown(df["net"], df["position"], regimes.reindex(df.index))
    return _AssetResult(
        ticker=s.ticker,
        span=[str(s.dates[0].date()), str(s.dates[-1].date()), len(s.dates)],
        days=close.index,
        net={n: df["net"].to_numpy() for n, df in frames.items()},
        exposure={n: df["position"].abs().to_numpy() for n, df in frames.items()},
        kinds=kinds,
        per_ticker={n: performance(df["net"], df["position"], n_boot=0) for n, df in frames.items()},
        accuracies=accuracies,
        target_hits=target_hits,
        regime_counts=regime_counts,
        by_regime=by_regime,
        regimes=regimes,
        ground_truth=ground_truth,
        rule_notes=rule_notes,
        daily=frames if keep else None,
        prices=s.prices.iloc[first:hi] if keep else None,
    )


# ---------------------------------------------------------------------- running the assets (workers) and reducing
@dataclass(frozen=True)
class _Work:
    """What every job of one walk-forward shares (sent once to each worker process)."""

    domain: TradingDomain
    methods: Sequence[Any]
    setting: _Setting
    rules: bool
    keep: bool

    def run(self, job: AssetJob) -> tuple[list[_AssetResult], list[str], list[str]]:
        """Every asset of ``job`` evaluated: ``(results, data notes, skipped assets)``."""
        assets, notes, skipped = self.domain.load_job(job)
        results = []
        for s, lo, hi in assets:
            try:
                results.append(_evaluate_asset(s, lo, hi, self.methods, self.setting, self.rules, self.keep))
            except DataError as exc:
                if len(assets) == 1 and job.path is None and job.series is not None and self.domain.tickers:
                    raise  # an asset asked for by name: say why it cannot be evaluated
                skipped.append(f"{s.ticker} ({exc})")
        return results, notes, skipped


_WORKER: list[_Work] = []


def _init_worker(work: _Work) -> None:
    """A worker process: one torch thread, no BLAS / OpenMP threads (they only contend), the shared work once."""
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(1)
    _WORKER[:] = [work]


def _run_job(job: AssetJob) -> tuple[list[_AssetResult], list[str], list[str]]:
    return _WORKER[0].run(job)


def _results(
    work: _Work, jobs: list[AssetJob], workers: int
) -> Iterator[tuple[list[_AssetResult], list[str], list[str]]]:
    """The jobs' results in job order, computed here (``workers`` 1) or in ``workers`` processes."""
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            yield work.run(job)
        return
    ctx = get_context("spawn")  # a forked torch / OpenMP runtime can deadlock
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(work,)) as pool:
        yield from pool.map(_run_job, jobs, chunksize=1)


class _Reducer:
    """Folds asset results into the report's ingredients, in job order, keeping no per-day data per ticker."""

    def __init__(self) -> None:
        self.tickers: list[str] = []
        self.spans: dict[str, list[Any]] = {}
        self.kinds: dict[str, str] = {}
        self.net_sum: dict[str, pd.Series] = {}
        self.exposure_sum: dict[str, pd.Series] = {}
        self.count: dict[str, pd.Series] = {}
        self.per_ticker: dict[str, dict[str, Any]] = {}
        self.accuracies: dict[str, list[float]] = {}
        self.target_hits: dict[str, np.ndarray] = {}
        self.regime_counts: dict[str, np.ndarray] = {}
        self.by_regime: dict[str, dict[str, Any]] = {}
        self.first_regimes: pd.Series | None = None
        self.ground_truth: list[bool] = []
        self.notes: list[str] = []
        self.skipped: list[str] = []
        self.rule_notes: dict[str, dict[str, str]] = {}
        self.any_regimes = False
        self.daily: dict[str, dict[str, pd.DataFrame]] = {}
        self.regimes: dict[str, pd.Series] = {}
        self.prices: dict[str, pd.DataFrame] = {}

    def add(self, r: _AssetResult) -> None:
        self.tickers.append(r.ticker)
        self.spans[r.ticker] = r.span
        self.ground_truth.append(r.ground_truth)
        self.any_regimes |= r.regimes is not None
        for rule, note in r.rule_notes.items():
            self.rule_notes.setdefault(rule, {})[r.ticker] = note
        if len(self.tickers) == 1:
            self.first_regimes = r.regimes
        for name in r.net:
            self.kinds.setdefault(name, r.kinds[name])
            net = pd.Series(r.net[name], index=r.days)
            expo = pd.Series(r.exposure[name], index=r.days)
            if name in self.net_sum:
                self.net_sum[name] = self.net_sum[name].add(net, fill_value=0.0)
                self.exposure_sum[name] = self.exposure_sum[name].add(expo, fill_value=0.0)
                self.count[name] = self.count[name].add(pd.Series(1.0, index=r.days), fill_value=0.0)
            else:
                self.net_sum[name], self.exposure_sum[name] = net, expo
                self.count[name] = pd.Series(1.0, index=r.days)
            self.per_ticker.setdefault(name, {})[r.ticker] = r.per_ticker[name]
        for name, accs in r.accuracies.items():
            self.accuracies.setdefault(name, []).extend(accs)
        for store, part in ((self.target_hits, r.target_hits), (self.regime_counts, r.regime_counts)):
            for name, counts in part.items():
                store[name] = store[name] + counts if name in store else counts
        for name, breakdown in r.by_regime.items():
            self.by_regime.setdefault(name, {})[r.ticker] = breakdown
        if r.daily is not None:
            for name, df in r.daily.items():
                self.daily.setdefault(name, {})[r.ticker] = df
            self.prices[r.ticker] = r.prices
            if r.regimes is not None:
                self.regimes[r.ticker] = r.regimes

    @property
    def truth(self) -> str:
        return "ground truth" if self.ground_truth and all(self.ground_truth) else "HMM 2-state (filtered, per asset)"

    def portfolio(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Each method's equal-weight portfolio: ``(net, exposure)``, the daily means over the assets trading."""
        net = pd.DataFrame({n: self.net_sum[n] / self.count[n] for n in self.net_sum})
        expo = pd.DataFrame({n: self.exposure_sum[n] / self.count[n] for n in self.net_sum})
        return net, expo


def walk_forward(
    domain: TradingDomain,
    methods: Sequence[Any],
    *,
    cost_bps: float = 10.0,
    slippage_bps: float = 0.0,
    position: str | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    rules: bool = True,
    progress: bool = True,
    split: str = "test",
    halflife: float | None = None,
    refit_months: int = REFIT_MONTHS,
    workers: int = 1,
    keep_daily: bool | None = None,
) -> TradingEvaluation:
    """Evaluate learned ``methods`` (``adapt(task) -> predict``) and the rules on ``domain``'s test split (``split``
    ``val``: the validation period of the training assets, where settings such as the half-life are chosen).

    ``position`` / ``halflife`` default to the target's (:data:`DEFAULT_POSITION`, :data:`HALFLIFES`);
    ``halflife`` > 0 smooths each learned method's probabilities with a causal exponential moving average of that
    half-life (days) before they become a position. ``refit_months``: months between refits of the fitted rules
    (0: fitted once before the test period). ``workers`` > 1 evaluates the assets in that many processes.
    ``keep_daily`` (default: up to :data:`KEEP_DAILY_MAX` assets) keeps every asset's daily frames.
    """
    if split not in ("val", "test"):
        raise DataError(f"the walk-forward backtests the val or test split, not {split!r}")
    setting = _setting(
        domain, cost_bps=cost_bps, slippage_bps=slippage_bps, position=position, halflife=halflife,
        n_boot=n_boot, seed=seed, refit_months=refit_months,
    )  # fmt: skip
    jobs = domain.test_jobs(split)
    keep = len(jobs) <= KEEP_DAILY_MAX if keep_daily is None else keep_daily
    reducer = _Reducer()
    bar = progress_bar(total=len(jobs), desc="walk-forward", unit="ticker", disable=not progress)
    for results, notes, skipped in _results(_Work(domain, list(methods), setting, rules, keep), jobs, workers):
        for r in results:
            reducer.add(r)
        reducer.notes += notes
        reducer.skipped += skipped
        bar.update()
    bar.close()
    if not reducer.tickers:
        raise DataError(f"no test asset could be evaluated: {'; '.join(reducer.skipped[:5]) or 'none found'}")
    portfolio, exposure = reducer.portfolio()
    results = {name: _method_metrics(name, reducer, portfolio, exposure, setting) for name in portfolio}
    report = _report(domain, reducer, results, portfolio, setting)
    report["data"]["split"] = split
    return TradingEvaluation(report, reducer.daily, portfolio, reducer.regimes, reducer.prices, reducer.notes)


def references(names: Sequence[str]) -> list[str]:
    """The :data:`COMPARE_TO` references among method ``names`` (the pooled model: :func:`pooled_rows`)."""
    return [r for ref in COMPARE_TO for r in (pooled_rows(names) if ref == POOLED else [ref] if ref in names else [])]


def _method_metrics(
    name: str, reducer: _Reducer, portfolio: pd.DataFrame, exposure: pd.DataFrame, setting: _Setting
) -> dict[str, Any]:
    """One method's report entry: portfolio and per-asset performance, by-regime breakdown, accuracy on the
    target, regime-identification score (ground truth only) and paired Sharpe differences."""
    n_boot, seed = setting.n_boot, setting.seed
    net = portfolio[name].fillna(0.0)
    expo = exposure[name].fillna(0.0)
    entry: dict[str, Any] = {
        "kind": reducer.kinds[name],
        "portfolio": performance(net, expo, n_boot=n_boot, seed=seed),
        "per_ticker": reducer.per_ticker[name],
    }
    if reducer.truth == "ground truth" and reducer.first_regimes is not None:
        entry["by_regime"] = regime_breakdown(net, expo, reducer.first_regimes.reindex(net.index))
    elif name in reducer.by_regime:
        entry["by_regime"] = reducer.by_regime[name]
    if reducer.accuracies.get(name):
        key = "direction_accuracy" if setting.target.name == "direction" else "target_accuracy"
        entry[key] = mean_ci(reducer.accuracies[name])
        if setting.target.name != "direction":
            hits = reducer.target_hits[name]
            recalls = [c / n for n, c in hits if n > 0]
            entry["target_balanced_accuracy"] = float(np.mean(recalls)) if recalls else None
    if name in reducer.regime_counts:
        hit_off, n_off, hit_on, n_on = reducer.regime_counts[name]
        if n_off and n_on:
            entry["regime_id_balanced_accuracy"] = float(0.5 * (hit_off / n_off + hit_on / n_on))
        else:
            entry["regime_id_balanced_accuracy"] = math.nan
    entry["vs"] = {
        ref: paired_sharpe_diff(net, portfolio[ref].fillna(0.0), n_boot=n_boot, seed=seed)
        for ref in references(portfolio.columns)
        if ref != name
    }
    return entry


def _report(
    domain: TradingDomain, reducer: _Reducer, results: dict[str, Any], portfolio: pd.DataFrame, setting: _Setting
) -> dict[str, Any]:
    """The report: data, setting, every method's metrics, the cross-section, the references and equity curves."""
    test_days = portfolio.index
    if domain.streams_test:
        fingerprint = domain.fingerprint_of(domain.source, reducer.spans, setting.target)
    else:
        fingerprint = domain.fingerprint()
    skipped = [*(getattr(domain, "skipped", None) or []), *reducer.skipped]
    report = {
        "domain": "trading",
        "kind": "backtest",
        "disclaimer": DISCLAIMER,
        "data": {
            "source": domain.source,
            "tickers": reducer.tickers,
            "test_period": [str(test_days[0].date()), str(test_days[-1].date())] if len(test_days) else None,
            "n_days": len(test_days),
            "fingerprint": fingerprint,
            "regimes": reducer.truth if reducer.any_regimes else None,
            "hmm_skipped": reducer.rule_notes.get("HMM 2-state") or None,
            "assets_skipped": skipped or None,
        },
        "setting": {
            "target": setting.target.name,
            **setting.target.options(),
            "support_days": setting.support,
            "query_days": setting.query,
            "embargo": setting.embargo,
            "execution_lag_days": 1,
            "cost_bps": setting.cost_bps,
            "slippage_bps": setting.slippage_bps,
            "position": setting.position,
            "probability_halflife_days": setting.halflife,
            "refit_months": setting.refit_months,
            "n_boot": setting.n_boot,
            "seed": setting.seed,
            "portfolio": "equal weight across the test assets, rebalanced daily",
        },
        "methods": results,
        "references": REFERENCES,
        "curves": {
            "dates": [str(d.date()) for d in test_days],
            "equity": {name: (1.0 + portfolio[name].fillna(0.0)).cumprod().round(6).tolist() for name in portfolio},
        },
    }
    section = cross_section(results, reducer.tickers, seed=setting.seed)
    if section is not None:
        report["cross_section"] = section
    return report


def validation_sharpe(domain: TradingDomain, method: Any, *, cost_bps: float = 10.0) -> float:
    """Annualised Sharpe ratio after ``cost_bps`` of ``method``'s equal-weight walk-forward over the domain's
    validation period (default positions and half-life of the target, no rules): the trainer's model selection.
    0 when undefined (no validation day, or a book that never trades)."""
    setting = _setting(domain, cost_bps=cost_bps, slippage_bps=0.0, n_boot=0, seed=0, refit_months=0)
    series, ranges = domain.split_series("val")
    nets = []
    for s, (lo, hi) in zip(series, ranges):
        first = max(lo, s.first_valid + setting.embargo + setting.support)
        if hi - first < 2:
            continue
        close = s.prices["close"].astype(np.float64).iloc[first:hi]
        frame, _, _ = _learned_frame(method, s, first, hi, close, setting)
        nets.append(frame["net"])
    if not nets:
        return 0.0
    sharpe = float(annualised_sharpe(pd.concat(nets, axis=1).mean(axis=1).to_numpy(), 252))
    return sharpe if math.isfinite(sharpe) else 0.0  # a book that never trades earns nothing: Sharpe 0


def _fmt(x: Any, pct: bool = False, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{100 * x:.1f}%" if pct else f"{x:.{digits}f}"


def format_report(report: dict[str, Any]) -> str:
    """The printed table: one row per method (portfolio metrics), then Sharpe differences and references."""
    d, st = report["data"], report["setting"]
    period = " .. ".join(d["test_period"] or ["?", "?"])
    target = st.get("target", "direction")
    more = f" ... ({len(d['tickers'])} tickers)" if len(d["tickers"]) > 8 else ""
    lines = [
        f"trading walk-forward backtest: {d['source']} {', '.join(d['tickers'][:8])}{more} | "
        f"{d.get('split', 'test')} {period} "
        f"({d['n_days']} days) | target {target} | costs {st['cost_bps']:g} bp + slippage {st['slippage_bps']:g} bp "
        f"| positions {st['position']} (probability half-life {st['probability_halflife_days']:g} d), 1-day lag"
        + (f" | refits every {st['refit_months']} months" if st.get("refit_months") else ""),
        "",
    ]
    acc_label = "dir.acc" if target == "direction" else "bal.acc"
    width = max(26, 2 + max(map(len, report["methods"]), default=0))  # long names (several checkpoints) stay aligned
    header = (
        f"{'method':<{width}}{'Sharpe [95% CI]':>22}{'CAGR':>8}{'vol':>8}{'Sortino':>9}{'MDD':>8}{'Calmar':>8}"
        f"{'turn/yr':>9}{'hit':>7}{'expo':>7}{acc_label:>9}{'regimeID':>9}"
    )
    lines += [header, "-" * len(header)]
    for name, e in report["methods"].items():
        p = e["portfolio"]
        ci = f"{_fmt(p['sharpe'])} [{_fmt(p['sharpe_lo'])}, {_fmt(p['sharpe_hi'])}]"
        acc = (
            e.get("direction_accuracy", {}).get("mean") if target == "direction" else e.get("target_balanced_accuracy")
        )
        lines.append(
            f"{name:<{width}}{ci:>22}{_fmt(p['cagr'], True):>8}{_fmt(p['ann_vol'], True):>8}{_fmt(p['sortino']):>9}"
            f"{_fmt(p['max_drawdown'], True):>8}{_fmt(p['calmar']):>8}{_fmt(p['turnover'], digits=1):>9}"
            f"{_fmt(p['hit_rate'], True):>7}{_fmt(p['exposure'], True):>7}{_fmt(acc, True):>9}"
            f"{_fmt(e.get('regime_id_balanced_accuracy'), True):>9}"
        )
    lines.append("")
    learned = [n for n, e in report["methods"].items() if e["kind"] in ("meta", "baseline")]
    for name in learned:
        parts = [
            f"vs {ref}: {v['diff']:+.2f} [{_fmt(v['lo'])}, {_fmt(v['hi'])}]"
            for ref, v in report["methods"][name]["vs"].items()
        ]
        if parts:
            lines.append(f"Sharpe difference of {name}: " + "; ".join(parts))
    if report.get("cross_section"):
        lines += ["", *format_cross_section(report["cross_section"])]
    ref = report["references"]
    lines += [
        "",
        f"reference ({ref['source']}): HMM Sharpe {ref['HMM 2-state sharpe']}, jump model Sharpe "
        f"{ref['statistical jump model sharpe']}, buy & hold max drawdown {100 * ref['buy & hold max_drawdown']:.0f}%",
        "regimeID = balanced accuracy of flat/short days against ground-truth risk-off (bear, crisis) days"
        if report["data"].get("regimes") == "ground truth"
        else "",
        DISCLAIMER,
    ]
    return "\n".join(line for line in lines if line is not None)


def save_equity_png(report: dict[str, Any], path: str | Path) -> Path:
    """Equity curves (log scale) and drawdowns of every method's portfolio, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = report["curves"]
    dates = pd.to_datetime(curves["dates"])
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(11, 7), sharex=True, gridspec_kw={"height_ratios": [3, 1.3]})
    for name, eq in curves["equity"].items():
        kind = report["methods"][name]["kind"]
        style = "-" if kind == "meta" else ("--" if kind == "baseline" else ":")
        width = 2.2 if kind == "meta" else 1.3
        e = pd.Series(eq, index=dates)
        ax.plot(dates, e, style, lw=width, label=name)
        ax2.plot(dates, drawdown(e), style, lw=width)
    ax.set_yscale("log")
    ax.set_ylabel("equity (log)")
    d = report["data"]
    ax.set_title(
        f"{d['source']}: {', '.join(d['tickers'][:6])}{' ...' if len(d['tickers']) > 6 else ''} "
        f"(equal weight), costs {report['setting']['cost_bps']:g} bp"
    )
    ax.legend(fontsize=8, ncol=2)
    ax2.set_ylabel("drawdown")
    fig.text(0.01, 0.005, DISCLAIMER, fontsize=7, color="0.4")
    return save_figure(fig, path)


# ---------------------------------------------------------------------- the `metasuite eval trading` command
CHECKPOINT_DIR = CHECKPOINTS / "trading"
#: The shipped checkpoints evaluated when ``--checkpoint`` is not given: MAML and FOMAML trained on the synthetic
#: markets, and on the real index histories (for every real source). The first is the page's model.
DEFAULT_CHECKPOINTS = {"synthetic": ("maml-synthetic", "fomaml-synthetic"), "real": ("maml-indices", "fomaml-indices")}
#: Checkpoint options that define the model (task shape, network, what it predicts): carried to any evaluation data.
#: The shipped 21-day-regime checkpoints (issue 16), used with ``--checkpoint`` and by ``metasuite bench trading``.
REGIME_CHECKPOINTS = {
    "synthetic": CHECKPOINT_DIR / "fomaml-regime21-synthetic",
    "real": CHECKPOINT_DIR / "maml-regime21-indices-to2004",
}
SHAPE_OPTIONS = (
    "support_days", "query_days", "embargo", "hidden", "target", "bear_return", "bear_drawdown", "features",
    "jump_penalty", "jump_model",
)  # fmt: skip
_HISTORY_YEARS = 6  # loaded before a yfinance test period: feature warm-up, support, HMM fit


def default_checkpoints(source: str) -> list[Path]:
    """The shipped checkpoints for ``source`` (synthetic or any real market) that exist here."""
    names = DEFAULT_CHECKPOINTS["synthetic" if source == "synthetic" else "real"]
    return [CHECKPOINT_DIR / n for n in names if (CHECKPOINT_DIR / n / "best.safetensors").exists()]


def default_checkpoint(source: str) -> Path:
    """The first shipped checkpoint for ``source`` (the page's model); it may be missing."""
    return CHECKPOINT_DIR / DEFAULT_CHECKPOINTS["synthetic" if source == "synthetic" else "real"][0]


def eval_options(trained: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """Domain options of the evaluation data: the checkpoint's task shape, the request's data and period.

    ``trained`` holds the checkpoint's recorded domain options, ``given`` the options the user gave.
    Evaluating on the checkpoint's own source (no tickers / folder given) keeps its splits, so the test
    period is the one it never saw; ``start`` / ``end`` choose another test period (``start`` is the first
    test day).
    """
    given = {k: v for k, v in given.items() if v is not None}
    source = given.get("source") or trained.get("source", "synthetic")
    same = source == trained.get("source", "synthetic") and not given.get("tickers") and not given.get("data_dir")
    opts = dict(trained) if same else {k: trained[k] for k in SHAPE_OPTIONS if k in trained}
    opts.update({k: v for k, v in given.items() if k not in ("start", "end")})
    opts["source"] = source
    start, end = given.get("start"), given.get("end")
    if start:
        opts["test_start"] = start
        for key in ("train_end", "val_end", "start"):
            opts.pop(key, None)
    if end:
        opts["end"] = end
    if source == "yfinance":
        last = pd.Timestamp(end) if end else pd.Timestamp.today().normalize()
        test_start = pd.Timestamp(opts.get("test_start") or last - pd.DateOffset(years=5))
        opts["test_start"] = str(test_start.date())
        opts["start"] = str((test_start - pd.DateOffset(years=_HISTORY_YEARS)).date())
    return opts


def build_methods(
    checkpoints: Sequence[str | Path],
    eval_domain: TradingDomain,
    *,
    seed: int = 0,
    progress: bool = True,
    scratch: bool | None = None,
    ensemble: bool = False,
    pooled_seeds: Sequence[int] = (),
) -> tuple[list[Any], dict[str, Any], list[str]]:
    """The learned methods: each checkpoint's meta-learner, the pooled model (trained on the first
    checkpoint's training data) and scratch (``scratch`` None: for the direction target only, see the module
    docstring). Returns ``(methods, checkpoint info, warnings)``.

    ``pooled_seeds`` (two or more) trains the pooled model once per seed (``pooled (no adaptation) (seed S)``);
    ``ensemble`` adds the average of the checkpoints' meta-learners (two or more) and of the pooled seeds -- the
    like-with-like comparison for an ensemble (:class:`~metasuite.core.evaluate.Ensemble`)."""
    methods: list[Any] = []
    info: dict[str, Any] = {}
    warnings: list[str] = []
    train_domain: TradingDomain | None = None
    for ckpt in checkpoints:
        check_model_options(ckpt, eval_domain)
        learner, meta = load_learner(ckpt, eval_domain)
        name = learner.name if len(checkpoints) == 1 else f"{learner.name} ({Path(ckpt).name})"
        methods.append(MetaMethod(learner, name=name))
        info[name] = {
            "path": str(meta["path"]),
            "split_ids": meta.get("split_ids"),
            "options": meta.get("domain_options"),
        }
        if train_domain is None:
            try:
                train_domain = type(eval_domain)(**(meta.get("domain_options") or {}))
                train_domain.series()
            except Exception as exc:  # its training data is not here (a CSV folder, yfinance offline)
                warnings.append(
                    f"the training data of {ckpt} is unavailable ({exc}); the pooled model is trained "
                    "on the evaluation data's pre-test period instead"
                )
                train_domain = None
        warnings += overlap_warnings(meta, eval_domain)
    metas = list(methods)
    configs = [BaselineConfig(**{**eval_domain.default_baselines(), "seed": s}) for s in list(pooled_seeds) or [seed]]
    pooled = [
        PooledBaseline(
            pretrain(train_domain or eval_domain, cfg, progress=progress),
            name=POOLED if len(configs) == 1 else f"{POOLED} (seed {cfg.seed})",
            fixed_label_space=True,
        )
        for cfg in configs
    ]
    methods += pooled
    if ensemble:  # the core's ensemble rows: "<algo> (ensemble of N)", "pooled (no adaptation) (ensemble of N seeds)"
        methods += ensembles(eval_domain, metas, [(POOLED, pooled)])
    if scratch if scratch is not None else eval_domain.target.name == "direction":
        methods.append(ScratchBaseline(eval_domain, eval_domain.target.n_classes, configs[0]))
    return methods, info, warnings


#: Checkpoint options that say what a model's inputs and outputs *mean*: evaluating it under others would read its
#: probabilities as another target's (a bear/bull model as down/up) -- refused, not overridden.
MEANING_OPTIONS = {"target": "direction", "features": "base"}


def check_model_options(checkpoint: str | Path, eval_domain: TradingDomain) -> None:
    """Refuse (DataError) a checkpoint whose recorded target or feature set differs from the evaluation's
    (checkpoints without a record predict the next-day direction from the base features)."""
    _, meta = load_checkpoint(checkpoint)
    trained = meta.get("domain_options") or {}
    for key, default in MEANING_OPTIONS.items():
        have, want = trained.get(key, default), getattr(eval_domain, key)
        want = getattr(want, "name", want)  # the domain's target is a Target
        if have != want:
            raise DataError(
                f"{checkpoint} was trained with {key}={have}; evaluating it with {key}={want} (from --option {key} "
                f"or the first --checkpoint) would misread its outputs. Evaluate it with {key}={have}, or use a "
                f"checkpoint trained for {want} (`metasuite train trading --option {key}={want} ...`); one "
                f"evaluation takes checkpoints of one {key} only"
            )


def overlap_warnings(meta: dict[str, Any], eval_domain: TradingDomain) -> list[str]:
    """A warning when the test period overlaps data the checkpoint was trained or validated on."""
    ids = meta.get("split_ids") or {}
    opts = meta.get("domain_options") or {}
    seen_end = (ids.get("val_period") or [None, None])[1]
    if (
        not seen_end
        or (opts.get("source") == "synthetic") != (eval_domain.source == "synthetic")
        or eval_domain.independent_test
    ):
        return []
    test_start = eval_domain.test_start if eval_domain.streams_test else eval_domain.periods()["test"][0]
    seen = set(ids.get("train", [])) | set(ids.get("val", []))
    overlap = [t for t in eval_domain.test_names() if t in seen]
    if overlap and test_start is not None and test_start <= pd.Timestamp(seen_end):
        return [
            f"the test period starts {test_start.date()}, before the end of {meta['path']}'s validation period "
            f"({seen_end}) on {overlap}: these results are partly in-sample"
        ]
    return []


class WalkForwardEvaluation(Evaluation):
    """``metasuite eval trading``: walk-forward backtest of checkpoints and baselines after costs.

    Without checkpoints in the request the shipped ones for the source are used
    (:func:`default_checkpoints`). The evaluation data is built from the first checkpoint's recorded
    options and the request's (:func:`eval_options`); the pooled baseline is trained on that checkpoint's
    training data when it is available here. ``request.workers`` processes evaluate the assets.
    """

    name = "walk-forward backtest"
    uses = frozenset({"split", "ensemble", "baseline_seeds"})  # baseline seeds: the pooled model's
    splits = ("val", "test")  # val: the training assets' validation period, where settings are chosen
    option_specs: ClassVar[tuple[Option, ...]] = (
        Option("cost_bps", float, 10.0, "cost per unit of turnover in basis points (default 10)"),
        Option("slippage_bps", float, 0.0, "extra slippage per unit of turnover"),
        Option(
            "position",
            str,
            None,
            "long_flat, long_short, scaled or vol_target (default: long_flat; vol_target for vol_tercile)",
            choices=POSITION_MODES,
        ),
        Option(
            "halflife",
            float,
            None,
            "half-life (days) of the causal moving average of a learned model's probabilities before they become a "
            "position (default: 30 for direction, 5 for the 21-day targets, chosen on validation; 0 = raw)",
        ),
        Option(
            "refit_months",
            int,
            REFIT_MONTHS,
            "refit the HMM, jump model and volatility target on the expanding history every N months (0: once)",
        ),
        Option("scratch", bool, None, "also train a network from scratch on every support window (default: direction)"),
        Option("png", Path, None, "equity-curve image (default: next to --json)"),
    )

    def run(self, domain_cls: type[TradingDomain], request: EvalRequest) -> EvalReport:
        given = dict(request.options)
        source = given.get("source") or "synthetic"
        ckpts = list(request.checkpoints) or [str(p) for p in default_checkpoints(source)]
        if not ckpts:
            raise DataError(
                f"no --checkpoint given and no shipped checkpoint for {source} in {CHECKPOINT_DIR}; train one with "
                "`metasuite train trading --algo maml --out DIR` and pass --checkpoint DIR"
            )
        check_ensemble(replace(request, checkpoints=ckpts, baselines=True))  # the pooled model always runs
        _, meta = load_checkpoint(ckpts[0])
        opts = eval_options(dict(meta.get("domain_options") or {}), given)
        eval_domain = domain_cls(**opts)
        if not eval_domain.test_names():  # the evaluation data is found (or fails clearly) before any training
            raise DataError(f"the {source} data has no test asset")
        settings = request.settings
        methods, info, warnings = build_methods(
            ckpts,
            eval_domain,
            seed=request.seed,
            progress=request.progress,
            scratch=settings.get("scratch"),
            ensemble=request.ensemble,
            pooled_seeds=request.baseline_seeds,
        )
        ev = walk_forward(
            eval_domain,
            methods,
            cost_bps=settings.get("cost_bps", 10.0),
            slippage_bps=settings.get("slippage_bps", 0.0),
            position=settings.get("position"),
            seed=request.seed,
            progress=request.progress,
            halflife=settings.get("halflife"),
            refit_months=settings.get("refit_months", REFIT_MONTHS),
            workers=request.workers,
            split=request.split or "test",
        )
        warnings = eval_domain.data_notes() + ev.notes + warnings
        report = {
            **ev.report,
            "checkpoints": info,
            "warnings": warnings,
            "domain_options": {k: str(v) if isinstance(v, Path) else v for k, v in opts.items() if k != "prices"},
        }
        return EvalReport(strict(report), format_report(report), warnings)

    def write_artifacts(self, report: EvalReport, json_path: Path | None, settings: dict[str, Any]) -> list[Path]:
        """The equity curves and drawdowns PNG (the ``png`` setting, else ``<json stem>-equity.png``) and, with
        several tickers, the per-ticker Sharpe differences (``<json stem>-tickers.png``)."""
        png = settings.get("png") or (json_path.with_name(json_path.stem + "-equity.png") if json_path else None)
        if not png:
            return []
        out = [save_equity_png(report.data, png)]
        if report.data.get("cross_section"):
            stem = json_path.stem if json_path else Path(png).stem
            written = save_tickers_png(report.data, Path(png).with_name(f"{stem}-tickers.png"), DISCLAIMER)
            out += [written] if written else []
        return out
