"""Walk-forward evaluation of the trading domain: adapt, decide, backtest after costs, compare.

For every test asset the test period is covered by consecutive tasks (:meth:`TradingSampler.all_tasks`
order): at the first day ``t`` of each window a method adapts on the support (the recent past with
realised outcomes), then gives the probability of "up" for each of the next ``query_days`` days from that
day's features. The probability becomes a target position (:func:`to_position`), held over the next
day's return (one-day lag, :func:`metasuite.domains.trading.backtest.backtest`) and charged ``cost_bps`` +
``slippage_bps`` per unit of turnover.

Methods compared on the same days, assets and costs:

* the meta-learners of the given checkpoints (adapted on each support window);
* **pooled (no adaptation)**: the same MLP trained on the pooled training tasks, never adapted;
* **scratch**: a fresh MLP trained on each support window only;
* the rule baselines of :mod:`metasuite.domains.trading.strategies`: buy & hold, MA 50/200, TSMOM 12-1 and the
  2-state HMM (fitted on each asset's history before the test period, causal filtered probabilities).

Headline = the equal-weight portfolio of the test assets (mean of their daily net returns). Sharpe
ratios carry a stationary-bootstrap 95% CI, and the differences to the pooled model, the HMM and buy &
hold a *paired* bootstrap CI (the same resampled days for both). On a synthetic market the ground-truth
regimes give a by-regime breakdown and a regime-identification score (risk-off = bear or crisis vs a
method's flat/short days). Not investment advice.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd
import torch

from metasuite.core.baselines import BaselineConfig, PooledBaseline, ScratchBaseline, pretrain
from metasuite.core.checkpoint import load_checkpoint
from metasuite.core.errors import DataError
from metasuite.core.evaluate import MetaMethod, mean_ci
from metasuite.core.evaluation import EvalReport, EvalRequest, Evaluation
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
from metasuite.domains.trading.strategies import HMMRegimeStrategy, baseline_signals
from metasuite.domains.trading.tasks import AssetSeries, make_task, walk_forward_starts

if TYPE_CHECKING:  # the domain module imports this one (its evaluation); only the type is needed here
    from metasuite.domains.trading.domain import TradingDomain

__all__ = [
    "DISCLAIMER",
    "HALFLIFE",
    "POSITION_MODES",
    "REFERENCES",
    "TradingEvaluation",
    "WalkForwardEvaluation",
    "build_methods",
    "default_checkpoint",
    "default_checkpoints",
    "format_report",
    "paired_sharpe_diff",
    "predict_walk_forward",
    "save_equity_png",
    "to_position",
    "walk_forward",
]

DISCLAIMER = "Not investment advice: a research backtest on historical or simulated prices."
POSITION_MODES = ("long_flat", "long_short", "scaled")
RISK_OFF = ("bear", "crisis")
#: Shu, Yu & Mulvey (2024), "Downside risk reduction using regime-switching signals: a statistical jump
#: model approach", S&P 500 1990-2023, 10 bp transaction costs.
REFERENCES = {
    "source": "Shu, Yu & Mulvey 2024, S&P 500 1990-2023, 10 bp costs",
    "HMM 2-state sharpe": 0.54,
    "statistical jump model sharpe": 0.68,
    "buy & hold max_drawdown": -0.55,
}
#: Default half-life (days) of the probability smoothing, chosen on the *validation* period of the synthetic
#: training markets among 0, 3, 10, 30 (FOMAML Sharpe -0.57, 0.30, 0.42, 1.08; turnover 35 -> 3.4 a year).
HALFLIFE = 30.0
COMPARE_TO = ("pooled (no adaptation)", "HMM 2-state", "buy & hold")


def to_position(p_up: np.ndarray, mode: str = "long_flat", margin: float = 0.1) -> np.ndarray:
    """Target positions from probabilities of "up".

    ``long_flat``: 1 when p > 0.5 else 0. ``long_short``: +1 / -1 around 0.5. ``scaled``: long-only and
    confidence-scaled, ``clip((p - 0.5) / margin, 0, 1)`` (fully long at p >= 0.5 + margin).
    NaN (no decision) stays NaN and is treated as flat by the backtest.
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


def predict_walk_forward(method: Any, series: AssetSeries, lo: int, hi: int, support: int, query: int, embargo: int):
    """``(p_up, task accuracies)``: the probability of "up" on every decision day of ``[lo, hi)`` (a Series,
    NaN where no full support window exists yet) and each task's direction accuracy on its known days."""
    p = np.full(len(series.dates), np.nan)
    accs = []
    for t in walk_forward_starts(series, lo, hi, support, query, embargo):
        task = make_task(series, int(t), support, query, embargo, "test")
        n = min(query, hi - int(t))
        with torch.enable_grad():
            predict = method.adapt(task)
        with torch.no_grad():
            logits = predict(task.query_x[:n])
        prob = torch.softmax(logits.double(), dim=-1)[:, 1].numpy()
        p[int(t) : int(t) + n] = prob
        known = np.isfinite(series.next_return[int(t) : int(t) + n])
        if known.any():
            y = series.y[int(t) : int(t) + n][known]
            accs.append(float(((prob[known] > 0.5).astype(np.int64) == y).mean()))
    return pd.Series(p, index=series.dates, name=getattr(method, "name", "model"))[lo:hi], accs


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
    d = np.concatenate(diffs)
    d = d[np.isfinite(d)]
    out = {"diff": float(point[0] - point[1])}
    out["lo"], out["hi"] = (float(np.percentile(d, 2.5)), float(np.percentile(d, 97.5))) if len(d) else (math.nan,) * 2
    return out


def _balanced_accuracy(truth: np.ndarray, pred: np.ndarray) -> float:
    pos, neg = truth, ~truth
    if not pos.any() or not neg.any():
        return math.nan
    return float(0.5 * (pred[pos].mean() + (~pred[neg]).mean()))


@dataclass
class TradingEvaluation:
    """Result of :func:`walk_forward`: the JSON report and the daily series behind it.

    ``daily[method][ticker]`` is a frame with ``p_up`` (learned methods), ``signal``, ``position``,
    ``net`` and ``equity`` on the test days; ``portfolio`` holds each method's equal-weight daily net
    returns; ``regimes[ticker]`` the regime labels used in the breakdown (ground truth or HMM).
    """

    report: dict[str, Any]
    daily: dict[str, dict[str, pd.DataFrame]] = field(default_factory=dict)
    portfolio: pd.DataFrame = field(default_factory=pd.DataFrame)
    regimes: dict[str, pd.Series] = field(default_factory=dict)
    prices: dict[str, pd.DataFrame] = field(default_factory=dict)


def walk_forward(
    domain: TradingDomain,
    methods: Sequence[Any],
    *,
    cost_bps: float = 10.0,
    slippage_bps: float = 0.0,
    position: str = "long_flat",
    n_boot: int = 1000,
    seed: int = 0,
    rules: bool = True,
    progress: bool = True,
    split: str = "test",
    halflife: float = HALFLIFE,
) -> TradingEvaluation:
    """Evaluate learned ``methods`` (``adapt(task) -> predict``) and the rule baselines on ``domain``'s ``split``.

    ``halflife`` > 0 smooths each learned method's probability of "up" with a causal exponential moving
    average of that half-life (days) before it becomes a position: fewer trades on day-to-day noise.
    """
    _check_trading_rules(cost_bps, slippage_bps, position)
    series, ranges = domain.split_series(split)
    setting = _Setting(
        domain.support, domain.query, domain.embargo, cost_bps, slippage_bps, position, halflife, n_boot, seed
    )
    bar = progress_bar(
        total=len(series) * (len(methods) + int(rules)), desc="walk-forward", unit="run", disable=not progress
    )
    assets = [_walk_asset(s, lo, hi, methods, setting, rules, bar) for s, (lo, hi) in zip(series, ranges)]
    bar.close()
    backtests = _combine(assets, series)
    results = {name: _method_metrics(name, backtests, setting) for name in backtests.daily}
    hmm_skipped = {a.ticker: a.hmm_note for a in assets if a.hmm_note is not None}
    report = _report(domain, backtests, results, setting, hmm_skipped)
    prices = {a.ticker: a.prices for a in assets}
    return TradingEvaluation(report, backtests.daily, backtests.portfolio, backtests.regimes, prices)


# ---------------------------------------------------------------------- walk_forward's steps
@dataclass(frozen=True)
class _Setting:
    """What every asset's walk-forward shares: the task shape (days) and the trading rules."""

    support: int
    query: int
    embargo: int
    cost_bps: float
    slippage_bps: float
    position: str
    halflife: float
    n_boot: int
    seed: int


@dataclass
class _AssetRun:
    """One test asset's walk-forward on its decision days.

    ``daily[method]`` is the method's frame (see :class:`TradingEvaluation`), ``directions[method]`` a learned
    method's per-task direction accuracies; ``regimes`` the labels of the by-regime breakdown (ground truth,
    else the HMM's; None without either); ``hmm_note`` why the HMM was skipped (None when it was fitted).
    """

    ticker: str
    prices: pd.DataFrame
    daily: dict[str, pd.DataFrame] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    directions: dict[str, list[float]] = field(default_factory=dict)
    regimes: pd.Series | None = None
    hmm_note: str | None = None


@dataclass
class _Backtests:
    """Every method's backtests over all test assets (``daily[method][ticker]``) and their equal-weight
    portfolio: daily net returns and mean absolute position (``portfolio`` / ``exposure``, a column per method).
    ``truth`` names where the regime labels come from."""

    tickers: list[str]
    daily: dict[str, dict[str, pd.DataFrame]]
    kinds: dict[str, str]
    directions: dict[str, list[float]]
    regimes: dict[str, pd.Series]
    truth: str
    portfolio: pd.DataFrame
    exposure: pd.DataFrame

    @property
    def ground_truth(self) -> bool:
        return self.truth == "ground truth"


def _check_trading_rules(cost_bps: float, slippage_bps: float, position: str) -> None:
    """Refuse negative costs and an unknown position mode before any work."""
    if cost_bps < 0 or slippage_bps < 0:
        raise DataError(f"costs must be >= 0 bps, got cost_bps={cost_bps}, slippage_bps={slippage_bps}")
    to_position(np.array([0.5]), position)


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


def _walk_asset(
    s: AssetSeries, lo: int, hi: int, methods: Sequence[Any], setting: _Setting, rules: bool, bar: Any
) -> _AssetRun:
    """Backtest every learned method and, with ``rules``, the rule baselines on one asset's decision days."""
    first = _decision_window(s, lo, hi, setting)
    close_all = s.prices["close"].astype(np.float64)
    close = close_all.iloc[first:hi]
    run = _AssetRun(s.ticker, s.prices.iloc[first:hi])
    for m in methods:
        run.daily[m.name], accs = _learned_backtest(m, s, first, hi, close, setting)
        run.kinds[m.name] = m.kind
        run.directions.setdefault(m.name, []).extend(accs)
        bar.update()
    hmm = None
    if rules:
        signals, hmm, run.hmm_note = _rule_signals(close_all.iloc[:hi], first, setting.seed)
        for name, sig in signals.items():
            run.daily[name] = _backtest_frame(sig.iloc[first:hi], close, setting)
            run.kinds[name] = "rule"
        bar.update()
    run.regimes = _regime_labels(s, first, hi, hmm)
    return run


def _learned_backtest(
    method: Any, s: AssetSeries, first: int, hi: int, close: pd.Series, setting: _Setting
) -> tuple[pd.DataFrame, list[float]]:
    """A learned method's causal probabilities of "up" (smoothed over ``halflife`` days) -> positions ->
    backtest on ``close`` (the decision days' closes), and its per-task direction accuracies."""
    p_up, accs = predict_walk_forward(method, s, first, hi, setting.support, setting.query, setting.embargo)
    if setting.halflife > 0:
        p_up = p_up.ewm(halflife=setting.halflife, ignore_na=True).mean()  # causal: past days only
    signal = pd.Series(to_position(p_up.to_numpy(), setting.position), index=p_up.index)
    return _backtest_frame(signal, close, setting, p_up), accs


def _rule_signals(
    close: pd.Series, first: int, seed: int
) -> tuple[dict[str, pd.Series], HMMRegimeStrategy | None, str | None]:
    """The rule baselines' signals on ``close`` (every day up to the end of the test period) and the HMM,
    fitted once on the days before the first decision day ``first``: ``(signals, hmm, note)``. Without enough
    history for the HMM, it is left out (``hmm`` None) and ``note`` says why."""
    signals = baseline_signals(close, None, seed=seed)
    try:  # fitted once: its signal, and on real data its regime labels
        hmm = HMMRegimeStrategy(seed=seed).fit(close.iloc[:first])
        signals["HMM 2-state"] = hmm.signal(close).rename("HMM 2-state")
    except DataError as exc:  # too little history before the test period for the HMM
        return signals, None, str(exc)
    return signals, hmm, None


def _regime_labels(s: AssetSeries, first: int, hi: int, hmm: HMMRegimeStrategy | None) -> pd.Series | None:
    """The regimes of the decision days: ground truth when the data has it, else the HMM's filtered labels."""
    if s.regimes is not None and s.regimes.notna().any():
        return s.regimes.iloc[first:hi]
    if hmm is not None:
        return hmm.regime_labels(s.prices["close"].astype(np.float64).iloc[:hi]).iloc[first:hi]
    return None


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


def _combine(assets: list[_AssetRun], series: Sequence[AssetSeries]) -> _Backtests:
    """Regroup the per-asset backtests by method and form each method's equal-weight portfolio."""
    daily: dict[str, dict[str, pd.DataFrame]] = {}
    kinds: dict[str, str] = {}
    directions: dict[str, list[float]] = {}
    for a in assets:
        for name, df in a.daily.items():
            daily.setdefault(name, {})[a.ticker] = df
        kinds.update(a.kinds)
        for name, accs in a.directions.items():
            directions.setdefault(name, []).extend(accs)
    tickers = [s.ticker for s in series]
    portfolio, exposure = _equal_weight(daily, tickers)
    truth = "ground truth" if all(s.regimes is not None for s in series) else "HMM 2-state (filtered, per asset)"
    regimes = {a.ticker: a.regimes for a in assets if a.regimes is not None}
    return _Backtests(tickers, daily, kinds, directions, regimes, truth, portfolio, exposure)


def _equal_weight(daily: dict[str, dict[str, pd.DataFrame]], tickers: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each method's equal-weight portfolio across ``tickers``: ``(net, exposure)``, the daily mean of the
    assets' net returns and of their absolute positions (a column per method)."""

    def mean_over_assets(frames: list[pd.Series]) -> pd.Series:
        return pd.concat(frames, axis=1).mean(axis=1)

    net = {name: mean_over_assets([d[t]["net"] for t in tickers if t in d]) for name, d in daily.items()}
    exposure = {
        name: mean_over_assets([d[t]["position"].abs() for t in tickers if t in d]) for name, d in daily.items()
    }
    return pd.DataFrame(net), pd.DataFrame(exposure)


def _method_metrics(name: str, backtests: _Backtests, setting: _Setting) -> dict[str, Any]:
    """One method's report entry: portfolio and per-asset performance, by-regime breakdown, direction
    accuracy, regime-identification score (ground truth only) and paired Sharpe differences."""
    n_boot, seed = setting.n_boot, setting.seed
    per = backtests.daily[name]
    net = backtests.portfolio[name].fillna(0.0)
    exposure = backtests.exposure[name].fillna(0.0)
    entry: dict[str, Any] = {
        "kind": backtests.kinds[name],
        "portfolio": performance(net, exposure, n_boot=n_boot, seed=seed),
        "per_ticker": {t: performance(df["net"], df["position"], n_boot=n_boot, seed=seed) for t, df in per.items()},
    }
    by_regime = _by_regime(net, exposure, per, backtests)
    if by_regime is not None:
        entry["by_regime"] = by_regime
    if backtests.directions.get(name):
        entry["direction_accuracy"] = mean_ci(backtests.directions[name])
    if backtests.ground_truth:
        score = _regime_id_score(per, backtests.regimes)
        if score is not None:
            entry["regime_id_balanced_accuracy"] = score
    entry["vs"] = {
        ref: paired_sharpe_diff(net, backtests.portfolio[ref].fillna(0.0), n_boot=n_boot, seed=seed)
        for ref in COMPARE_TO
        if ref in backtests.portfolio and ref != name
    }
    return entry


def _by_regime(
    net: pd.Series, exposure: pd.Series, per: dict[str, pd.DataFrame], backtests: _Backtests
) -> dict[str, Any] | None:
    """Performance by regime: of the portfolio under the first asset's labels when they are ground truth, else
    of each asset under its own labels; None without labels."""
    first = backtests.regimes.get(backtests.tickers[0]) if backtests.regimes else None
    if first is not None and backtests.ground_truth:
        return regime_breakdown(net, exposure, first.reindex(net.index))
    if backtests.regimes:
        return {
            t: regime_breakdown(df["net"], df["position"], backtests.regimes[t].reindex(df.index))
            for t, df in per.items()
            if t in backtests.regimes
        }
    return None


def _regime_id_score(per: dict[str, pd.DataFrame], regimes: dict[str, pd.Series]) -> float | None:
    """Balanced accuracy of a method's flat/short days against the risk-off (bear, crisis) days, pooled over
    the assets with labels; None when no asset has any."""
    calls, facts = [], []
    for t, df in per.items():
        if t in regimes:
            calls.append(df["signal"].fillna(0.0).to_numpy() <= 0)
            facts.append(regimes[t].reindex(df.index).isin(RISK_OFF).to_numpy())
    return _balanced_accuracy(np.concatenate(facts), np.concatenate(calls)) if calls else None


def _report(
    domain: TradingDomain, backtests: _Backtests, results: dict[str, Any], setting: _Setting, hmm_notes: dict[str, str]
) -> dict[str, Any]:
    """The report: data, setting, every method's metrics, the published references and the equity curves."""
    test_days = backtests.portfolio.index
    return {
        "domain": "trading",
        "kind": "backtest",
        "disclaimer": DISCLAIMER,
        "data": {
            "source": domain.source,
            "tickers": backtests.tickers,
            "test_period": [str(test_days[0].date()), str(test_days[-1].date())] if len(test_days) else None,
            "n_days": len(test_days),
            "fingerprint": domain.fingerprint(),
            "regimes": backtests.truth if backtests.regimes else None,
            "hmm_skipped": hmm_notes or None,
            "assets_skipped": getattr(domain, "skipped", None) or None,
        },
        "setting": {
            "support_days": setting.support,
            "query_days": setting.query,
            "embargo": setting.embargo,
            "execution_lag_days": 1,
            "cost_bps": setting.cost_bps,
            "slippage_bps": setting.slippage_bps,
            "position": setting.position,
            "probability_halflife_days": setting.halflife,
            "n_boot": setting.n_boot,
            "seed": setting.seed,
            "portfolio": "equal weight across the test assets, rebalanced daily",
        },
        "methods": results,
        "references": REFERENCES,
        "curves": {
            "dates": [str(d.date()) for d in test_days],
            "equity": {
                name: (1.0 + backtests.portfolio[name].fillna(0.0)).cumprod().round(6).tolist()
                for name in backtests.portfolio
            },
        },
    }


def _fmt(x: Any, pct: bool = False, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{100 * x:.1f}%" if pct else f"{x:.{digits}f}"


def format_report(report: dict[str, Any]) -> str:
    """The printed table: one row per method (portfolio metrics), then Sharpe differences and references."""
    d, st = report["data"], report["setting"]
    period = " .. ".join(d["test_period"] or ["?", "?"])
    lines = [
        f"trading walk-forward backtest: {d['source']} {', '.join(d['tickers'][:8])}"
        f"{' ...' if len(d['tickers']) > 8 else ''} | test {period} ({d['n_days']} days) | "
        f"costs {st['cost_bps']:g} bp + slippage {st['slippage_bps']:g} bp | positions {st['position']} "
        f"(probability half-life {st['probability_halflife_days']:g} d), 1-day lag",
        "",
    ]
    header = (
        f"{'method':<26}{'Sharpe [95% CI]':>22}{'CAGR':>8}{'vol':>8}{'Sortino':>9}{'MDD':>8}{'Calmar':>8}"
        f"{'turn/yr':>9}{'hit':>7}{'expo':>7}{'dir.acc':>9}{'regimeID':>9}"
    )
    lines += [header, "-" * len(header)]
    for name, e in report["methods"].items():
        p = e["portfolio"]
        ci = f"{_fmt(p['sharpe'])} [{_fmt(p['sharpe_lo'])}, {_fmt(p['sharpe_hi'])}]"
        acc = e.get("direction_accuracy", {}).get("mean")
        lines.append(
            f"{name:<26}{ci:>22}{_fmt(p['cagr'], True):>8}{_fmt(p['ann_vol'], True):>8}{_fmt(p['sortino']):>9}"
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
SHAPE_OPTIONS = ("support_days", "query_days", "embargo", "hidden")
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
    checkpoints: Sequence[str | Path], eval_domain: TradingDomain, *, seed: int = 0, progress: bool = True
) -> tuple[list[Any], dict[str, Any], list[str]]:
    """The learned methods: each checkpoint's meta-learner, the pooled model (trained on the first
    checkpoint's training data), and scratch. Returns ``(methods, checkpoint info, warnings)``."""
    methods: list[Any] = []
    info: dict[str, Any] = {}
    warnings: list[str] = []
    train_domain: TradingDomain | None = None
    for ckpt in checkpoints:
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
    cfg = BaselineConfig(**{**eval_domain.default_baselines(), "seed": seed})
    pooled = pretrain(train_domain or eval_domain, cfg, progress=progress)
    methods.append(PooledBaseline(pooled, name="pooled (no adaptation)", fixed_label_space=True))
    methods.append(ScratchBaseline(eval_domain, 2, cfg))
    return methods, info, warnings


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
    series, _ = eval_domain.split_series("test")
    test_start = eval_domain.periods()["test"][0]
    seen = set(ids.get("train", [])) | set(ids.get("val", []))
    overlap = [s.ticker for s in series if s.ticker in seen]
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
    training data when it is available here.
    """

    name = "walk-forward backtest"
    option_specs: ClassVar[tuple[Option, ...]] = (
        Option("cost_bps", float, 10.0, "cost per unit of turnover in basis points (default 10)"),
        Option("slippage_bps", float, 0.0, "extra slippage per unit of turnover"),
        Option("position", str, "long_flat", "long_flat (default), long_short or scaled", choices=POSITION_MODES),
        Option(
            "halflife",
            float,
            None,
            "half-life (days) of the causal moving average of a learned model's probability before it becomes a "
            "position (default 30, chosen on validation; 0 = trade the raw daily probability)",
        ),
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
        _, meta = load_checkpoint(ckpts[0])
        opts = eval_options(dict(meta.get("domain_options") or {}), given)
        eval_domain = domain_cls(**opts)
        eval_domain.split_series("test")  # the evaluation data loads (or fails clearly) before any training
        methods, info, warnings = build_methods(ckpts, eval_domain, seed=request.seed, progress=request.progress)
        warnings = eval_domain.data_notes() + warnings
        settings = request.settings
        halflife = settings.get("halflife")
        ev = walk_forward(
            eval_domain,
            methods,
            cost_bps=settings.get("cost_bps", 10.0),
            slippage_bps=settings.get("slippage_bps", 0.0),
            position=settings.get("position", "long_flat"),
            seed=request.seed,
            progress=request.progress,
            halflife=HALFLIFE if halflife is None else halflife,
        )
        report = {
            **ev.report,
            "checkpoints": info,
            "warnings": warnings,
            "domain_options": {k: str(v) if isinstance(v, Path) else v for k, v in opts.items() if k != "prices"},
        }
        return EvalReport(strict(report), format_report(report), warnings)

    def write_artifacts(self, report: EvalReport, json_path: Path | None, settings: dict[str, Any]) -> list[Path]:
        """The equity curves and drawdowns PNG: the ``png`` setting, else ``<json stem>-equity.png``."""
        png = settings.get("png") or (json_path.with_name(json_path.stem + "-equity.png") if json_path else None)
        return [save_equity_png(report.data, png)] if png else []
