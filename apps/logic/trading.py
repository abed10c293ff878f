"""Computation behind the Trading page: backtest one asset's regime-adapted model against the baselines.

The page runs the walk-forward evaluation of ``metasuite eval trading``
(:func:`metasuite.domains.trading.evaluation.walk_forward`) on **one** asset and a chosen test period:

* every ``query_days`` (21) trading days the meta-learner of a trading checkpoint adapts on the
  ``support_days`` (126) days before, whose next-day outcomes are all known, and gives the
  probability of "up" for each of the next 21 days; that becomes a position held over the following
  day's return (a one-day execution lag), charged the chosen costs per unit of turnover;
* the same days are traded by the pooled model (trained on pooled tasks, never adapted), a model
  trained from scratch on each support window, and the rules buy & hold, MA 50/200, TSMOM 12-1 and
  a 2-state HMM (:func:`.evaluation.build_methods`, :mod:`.strategies`).

Data (:class:`MarketData`): the independent test market of a synthetic checkpoint (ground-truth
regimes), the S&P 500 / NASDAQ histories shipped in ``arch`` (offline), an uploaded CSV in the
market-sample layout (its loader options and :func:`data_notes`), or a Yahoo Finance ticker (online, cached).

What the page shows first is the shipped ``metasuite eval trading`` result of the source (:func:`shipped_report`,
read from ``data/eval/trading``): nothing to compute. At the end, the shipped many-ticker evaluation of the 21-day
regime model (:func:`cross_section_report`): per-ticker Sharpe differences against each baseline
(:func:`cross_section_figure`, :func:`cross_section_table`). A backtest of one asset (:func:`cached_backtest`) reports
its stages as it goes and is stored in the app's disk cache under a key of everything it depends on
(:func:`backtest_key`), so any later session with the same settings reads it at once. The figures are plotly;
nothing here imports Streamlit. Not investment advice.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import os
import pickle
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any, NamedTuple, TypeAlias

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from metasuite.apps.logic import user_path
from metasuite.apps.logic.models import (
    app_cache,
    checkpoint_meta,
    pooled_model,
    shipped_eval,
    torch_threads,
)
from metasuite.core import __version__
from metasuite.core.baselines import BaselineConfig, PooledBaseline, ScratchBaseline
from metasuite.core.errors import DataError
from metasuite.core.evaluate import MetaMethod
from metasuite.core.learners import load_learner
from metasuite.domains.trading import TradingDomain
from metasuite.domains.trading.backtest import drawdown
from metasuite.domains.trading.crosssection import headline
from metasuite.domains.trading.data import (
    ARCH_TICKERS,
    JUMP_LIMIT,
    load_csv_folder,
    load_market,
    load_yfinance,
)
from metasuite.domains.trading.evaluation import (
    DISCLAIMER,
    HALFLIFE,
    SHAPE_OPTIONS,
    TradingEvaluation,
    default_checkpoint,
    eval_options,
    overlap_warnings,
    walk_forward,
)
from metasuite.domains.trading.tasks import AssetSeries, walk_forward_starts

__all__ = [
    "BACKTEST_CACHE_FORMAT",
    "DEFAULT_COST_BPS",
    "DISCLAIMER",
    "METRIC_COLUMNS",
    "METRIC_GROUPS",
    "PAGE_N_BOOT",
    "PERCENT_COLUMNS",
    "POSITION_LABELS",
    "REGIME_COLOURS",
    "SHAPE_OPTIONS",
    "SHIPPED_CROSS_SECTION",
    "SHIPPED_EVALS",
    "SOURCE_LABELS",
    "UPLOAD_CONTROLS",
    "Backtest",
    "MarketData",
    "Progress",
    "RegimeRun",
    "TradingEvaluation",
    "arch_market",
    "backtest_key",
    "cached_backtest",
    "checkpoint_for",
    "checkpoint_meta",
    "comparison_note",
    "cross_section_figure",
    "cross_section_report",
    "cross_section_table",
    "csv_market",
    "data_notes",
    "decision_days",
    "default_test_period",
    "equity_figure",
    "evaluation_domain",
    "load_methods",
    "meta_method",
    "metrics_table",
    "price_figure",
    "probability_label",
    "regime_runs",
    "run_backtest",
    "sharpe_figure",
    "shipped_report",
    "synthetic_market",
    "upload_hint",
    "yfinance_market",
]

Progress: TypeAlias = Callable[[str, float], None]
"""``progress(stage, fraction)``: what a long computation is doing now (e.g. ``"walk-forward on TEST0-0: method 1
of 3 (maml), window 12 of 60"``) and the fraction of it done, 0 to 1."""

#: The page's data sources, in the order offered.
SOURCE_LABELS = {
    "synthetic": "Synthetic market (ground-truth regimes)",
    "sp500": "S&P 500 (arch, offline)",
    "nasdaq": "NASDAQ Composite (arch, offline)",
    "csv": "CSV upload",
    "yfinance": "Yahoo Finance ticker (online)",
}
POSITION_LABELS = {
    "long_flat": "long / flat",
    "long_short": "long / short",
    "scaled": "long, scaled by confidence",
}
DEFAULT_COST_BPS = 10.0
#: Bootstrap resamples behind each Sharpe CI: as many as ``metasuite eval trading`` draws, so that the
#: page and the command line give the same intervals. They cost little: a 5-year walk-forward of one
#: asset took 7.6 s with 300 resamples and 9.2 s with 1000 on a busy 2-core CPU (adaptation and the HMM
#: fit dominate).
PAGE_N_BOOT = 1000
#: The shipped many-ticker evaluation of the 21-day regime model (``data/eval/trading``) the page ends with.
SHIPPED_CROSS_SECTION = "regime21-market-sample.json"
#: Columns of :func:`metrics_table`: report key -> column label; fractions are shown as percentages.
METRIC_COLUMNS = {
    "sharpe": "Sharpe",
    "sharpe_ci": "Sharpe 95% CI",
    "cagr": "CAGR",
    "ann_vol": "volatility",
    "sortino": "Sortino",
    "max_drawdown": "max drawdown",
    "calmar": "Calmar",
    "turnover": "turnover / yr",
    "hit_rate": "hit rate",
    "exposure": "exposure",
}
PERCENT_COLUMNS = ("CAGR", "volatility", "max drawdown", "hit rate", "exposure")
#: The page shows :func:`metrics_table` as two tables of these columns (title -> columns): all of them side by
#: side are wider than the page at 1280 px and the last ones were cut off behind a scroll bar.
METRIC_GROUPS = {
    "Risk-adjusted return": ("kind", "Sharpe", "Sharpe 95% CI", "Sortino", "Calmar"),
    "Return, risk and trading": ("CAGR", "volatility", "max drawdown", "turnover / yr", "hit rate", "exposure"),
}
#: The shipped ``metasuite eval trading`` result (under ``data/eval/trading``) the page shows at once for a source:
#: the synthetic test market (10 assets), and the S&P 500 + NASDAQ test period for either index.
SHIPPED_EVALS = {"synthetic": "synthetic.json", "sp500": "indices.json", "nasdaq": "indices.json"}
#: Bumped when what a cached backtest holds changes (the cache key includes it).
BACKTEST_CACHE_FORMAT = 2
#: The loader options an upload offers as page controls: option -> (the command-line spelling its errors name,
#: the label of the control that sets it on the page).
UPLOAD_CONTROLS = {
    "missing": ("missing=drop", "Drop rows with missing prices"),
    "allow_jumps": ("allow_jumps=true", f"Keep overnight moves beyond {JUMP_LIMIT:.0%} as real"),
}
#: Shading of each regime on the price chart: the synthetic market's four, the HMM's two.
REGIME_COLOURS = {
    "bull": "#43a047",
    "sideways": "#9e9e9e",
    "bear": "#fb8c00",
    "crisis": "#e53935",
    "risk-on": "#43a047",
    "risk-off": "#e53935",
}
_OTHER_REGIME = "#5c6bc0"
_KIND_LABELS = {"meta": "meta-learned, adapted", "baseline": "learned baseline", "rule": "rule"}


# ---------------------------------------------------------------------------- data
@dataclass(frozen=True)
class MarketData:
    """The assets the page can evaluate.

    Attributes
    ----------
    prices : dict of str -> DataFrame
        Daily OHLCV bars per ticker (the :data:`metasuite.domains.trading.data.Market` contract: date index,
        columns open, high, low, close, volume; prices adjusted where the source adjusts them).
    source : str
        The :class:`~metasuite.domains.trading.TradingDomain` source these data count as: ``synthetic``,
        ``indices`` (both arch histories), ``csv`` or ``yfinance``.
    regimes : dict of str -> Series, optional
        Ground-truth regime label of every day per ticker (synthetic market only).
    test_start : Timestamp, optional
        The source's own default test start (Yahoo Finance: the last five years), else None.
    """

    prices: dict[str, pd.DataFrame]
    source: str
    regimes: dict[str, pd.Series] | None = None
    test_start: pd.Timestamp | None = None

    @property
    def tickers(self) -> list[str]:
        return list(self.prices)


def synthetic_market(options: dict[str, Any] | None = None) -> MarketData:
    """The independent synthetic test market (``TEST0-0``, ...) of a domain with ``options``.

    Pass a synthetic checkpoint's ``domain_options`` to get the market its training never saw (its own
    seed and regime path); options of another source are ignored (the default synthetic market).
    """
    options = dict(options or {})
    if options.get("source", "synthetic") != "synthetic":
        options = {k: v for k, v in options.items() if k in SHAPE_OPTIONS}
    market = TradingDomain(**options).test_market()
    return MarketData(
        prices={s.ticker: s.prices for s in market},
        source="synthetic",
        regimes={s.ticker: s.regimes for s in market},
    )


def arch_market(name: str) -> MarketData:
    """The S&P 500 (``"sp500"``) or NASDAQ Composite (``"nasdaq"``) history shipped in ``arch`` (1999-2018).

    It counts as source ``indices``, the real-data source of the shipped checkpoint, so that a test
    period inside that checkpoint's training data is flagged.
    """
    if name not in ARCH_TICKERS:
        raise DataError(f"unknown arch history {name!r}; choose one of {', '.join(ARCH_TICKERS)}")
    return MarketData(prices=load_market("indices", tickers=[ARCH_TICKERS[name]]), source="indices")


def csv_market(
    data: bytes, name: str = "upload.csv", *, missing: str = "raise", allow_jumps: bool = False
) -> MarketData:
    """Daily bars from an uploaded CSV (``date,open,high,low,close,volume,Name`` as in market-sample).

    Without a ``Name`` column the ticker is the file name (``AAPL.csv``, ``AAPL_data.csv``). Splits in
    unadjusted prices are adjusted, and ``missing`` / ``allow_jumps`` (:data:`UPLOAD_CONTROLS`) go to
    :func:`~metasuite.domains.trading.data.load_csv_folder`; what loading changed or found suspicious is in
    :func:`data_notes`. Raises :class:`~metasuite.core.errors.DataError` with the reason when the file cannot be
    used (:func:`upload_hint` says which page control fixes it, when one does).
    """
    if not data:
        raise DataError(f"{name!r} is empty; upload a CSV with columns date,open,high,low,close,volume[,Name]")
    filename = Path(name).name
    if not filename.lower().endswith((".csv", ".csv.gz")):
        filename += ".csv"
    with tempfile.TemporaryDirectory(prefix="metasuite-upload-") as tmp:
        path = Path(tmp) / filename
        path.write_bytes(data)
        prices = load_csv_folder(path, missing=missing, allow_jumps=allow_jumps)
    for frame in prices.values():  # the notes name the file: the upload's name, not the temporary copy
        frame.attrs["source"] = name
    return MarketData(prices=prices, source="csv")


def data_notes(market: MarketData) -> list[str]:
    """What loading ``market`` changed or found suspicious, one ``"TICKER: note"`` line each (dates sorted, rows
    with missing prices dropped, splits adjusted, suspicious moves kept, high/low widened, ...): the domain's
    :meth:`~metasuite.domains.trading.TradingDomain.data_notes` of these prices."""
    return TradingDomain(source=market.source, prices=market.prices).data_notes()


def upload_hint(message: str) -> str | None:
    """What to do on the page about a loader error ``message``, whose hint names the command line's spelling
    (``--option missing=drop``): the control of :data:`UPLOAD_CONTROLS` that does the same, or, for an option
    the page has no control for, that the file must be fixed (or loaded with ``metasuite eval trading``).
    None when the message names no option."""
    for spelling, label in UPLOAD_CONTROLS.values():
        if f"--option {spelling}" in message:
            return f"On this page: tick **{label}** under the upload in the sidebar and the file loads."
    if "--option" in message:
        return (
            "This page has no control for that option: fix the file, or evaluate it from the command line "
            "(`metasuite eval trading --source csv --option data_dir=FOLDER ...`)."
        )
    return None


def yfinance_market(
    ticker: str,
    end: str | None = None,
    *,
    cache_dir: str | Path | None = None,
    download: Callable[..., pd.DataFrame] | None = None,
) -> MarketData:
    """``ticker`` from Yahoo Finance (adjusted, cached under ``cache_dir``, default the per-user price cache that
    ``metasuite eval trading`` uses too): history for the last five years up to ``end`` (default today) and the
    years before them that the features, support and HMM need.

    Online. Raises :class:`~metasuite.core.errors.DataError` naming the ticker and the cache when nothing can be
    downloaded (offline, unknown ticker) and nothing is cached. ``download`` replaces
    ``yfinance.download`` (tests).
    """
    ticker = ticker.strip().upper()
    if not ticker:
        raise DataError("type a Yahoo Finance ticker, e.g. SPY")
    # the command line's periods: the last five years, six more of history
    opts = eval_options({}, {"source": "yfinance", "tickers": [ticker], "end": end})
    prices = load_yfinance([ticker], opts["start"], end, cache_dir=cache_dir, download=download)
    return MarketData(prices=prices, source="yfinance", test_start=pd.Timestamp(opts["test_start"]))


def _series(market: MarketData, ticker: str) -> AssetSeries:
    if ticker not in market.prices:
        raise DataError(f"ticker {ticker!r} is not in the loaded data ({', '.join(market.tickers[:20])})")
    regimes = None if market.regimes is None else market.regimes.get(ticker)
    return AssetSeries.from_prices(ticker, market.prices[ticker], regimes)


def decision_days(market: MarketData, ticker: str, shape: dict[str, Any]) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The first and last day on which ``ticker`` can be traded: after the 252-day feature warm-up, the
    embargo and the support window (``shape``: the checkpoint's task shape), up to the last bar."""
    s = _series(market, ticker)
    first = s.first_valid + int(shape.get("embargo", 1)) + int(shape.get("support_days", 126))
    if first >= len(s.dates) - 1:
        raise DataError(
            f"{ticker} has {len(s.dates)} trading days: too few for the 252-day feature warm-up and "
            f"{shape.get('support_days', 126)} support days before a first decision; load a longer history"
        )
    return s.dates[first], s.dates[-1]


def default_test_period(market: MarketData, ticker: str, meta: dict[str, Any]) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The test period the domain would use for ``ticker``, given the checkpoint's JSON ``meta``.

    * synthetic market: all of it after the warm-up (the whole independent test market);
    * Yahoo Finance: the last five years (as ``metasuite eval trading``);
    * an asset the checkpoint trained or validated on: the days after its validation period;
    * otherwise the domain's default split of the asset's own history (the last 20%).
    """
    shape = _shape(meta)
    first, last = decision_days(market, ticker, shape)
    if market.source == "synthetic":
        return first, last
    ids = meta.get("split_ids") or {}
    trained = (meta.get("domain_options") or {}).get("source")
    seen = set(ids.get("train", [])) | set(ids.get("val", []))
    if market.test_start is not None:
        start = market.test_start
    elif trained == market.source and ticker in seen and (ids.get("val_period") or [None, None])[1]:
        start = pd.Timestamp(ids["val_period"][1]) + pd.Timedelta(days=1)
    else:
        domain = TradingDomain(source=market.source, prices={ticker: market.prices[ticker]}, **shape)
        start = domain.periods()["test"][0]
    dates = market.prices[ticker].index
    start = dates[min(dates.searchsorted(start), len(dates) - 1)]  # the first trading day from there
    return max(start, first), last


def evaluation_domain(market: MarketData, ticker: str, start: Any, end: Any, shape: dict[str, Any]) -> TradingDomain:
    """A domain whose test split is ``ticker`` from ``start`` to ``end`` (inclusive dates).

    Only the test split of this domain is used (nothing trains on it), so its training and validation
    periods simply end the two days before ``start``: ``test_start`` alone would demand 30 usable days
    before the test period, which the synthetic test market's first decision day does not have.
    Features, support windows and the HMM baseline still use all the history before ``start``.
    """
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    if not start < end:
        raise DataError(f"the test period must end after it starts, got {start.date()} .. {end.date()}")
    _series(market, ticker)  # a clear error for an unknown ticker or a too-short history
    prices = market.prices[ticker].loc[:end]
    return TradingDomain(
        source=market.source,
        prices={ticker: prices},
        regimes=None if market.regimes is None else {ticker: market.regimes[ticker]},
        train_end=str((start - pd.Timedelta(days=2)).date()),
        val_end=str((start - pd.Timedelta(days=1)).date()),
        **shape,
    )


# ---------------------------------------------------------------------------- models and the backtest
def checkpoint_for(source: str, override: str = "") -> Path:
    """The checkpoint to evaluate: ``override`` (a path typed on the page; relative paths start at the
    repository root), else the shipped one for ``source`` (``maml-synthetic`` for the synthetic market,
    ``maml-indices`` for real data). The path may not exist: :func:`load_methods` says so."""
    return user_path(override) if override.strip() else default_checkpoint(source)


def load_methods(checkpoint: str | Path, progress: Progress | None = None) -> tuple[list[Any], dict[str, Any]]:
    """The learned methods of a trading checkpoint -> ``(methods, meta)``; ``meta`` is the checkpoint's JSON.

    The methods of :func:`~metasuite.domains.trading.evaluation.build_methods` (what ``metasuite eval trading``
    runs): the checkpoint's meta-learner, the pooled model and scratch. The pooled model (the same
    :class:`~metasuite.core.baselines.BaselineConfig`, pre-trained on the checkpoint's training data) comes from
    :func:`~metasuite.apps.logic.models.pooled_model`: pre-trained once per machine, then read from the app's cache,
    so a new session, asset or setting does not pre-train it again. ``progress(stage, fraction)`` hears of each
    stage. Raises :class:`~metasuite.core.errors.CheckpointError` when the checkpoint is missing or not a trading
    one. Runs torch on one thread (see :func:`run_backtest`).
    """
    report = progress or _silent
    report("loading the meta-learner", 0.0)
    meta = checkpoint_meta(checkpoint)
    domain = TradingDomain(**(meta.get("domain_options") or {}))
    learner, meta = load_learner(checkpoint, domain)
    config = BaselineConfig(**{**domain.default_baselines(), "seed": 0})
    report(
        f"pre-training the pooled model ({config.pretrain_steps} steps of {config.pretrain_batch_size} days; "
        "once, then read from the cache)",
        0.02,
    )
    with torch_threads(1):
        pooled = pooled_model(domain, config.pretrain_steps, config.pretrain_batch_size, config.seed)
    methods = [
        MetaMethod(learner, name=learner.name),
        PooledBaseline(pooled, name="pooled (no adaptation)", fixed_label_space=True),
        ScratchBaseline(domain, 2, config),
    ]
    return methods, meta


def _shape(meta: dict[str, Any]) -> dict[str, Any]:
    options = meta.get("domain_options") or {}
    return {k: options[k] for k in SHAPE_OPTIONS if k in options}


def _silent(stage: str, fraction: float) -> None:
    """A :data:`Progress` that reports nothing."""


class _Reporting:
    """A walk-forward method that calls ``before()`` ahead of each adaptation (one per query window) and
    ``after()`` once that window is predicted; otherwise ``method`` itself (same name, kind and predictions)."""

    def __init__(self, method: Any, before: Callable[[], None], after: Callable[[], None]):
        self.method, self.before, self.after = method, before, after
        self.name, self.kind = method.name, method.kind

    def adapt(self, task: Any) -> Callable[[Any], Any]:
        self.before()
        predict = self.method.adapt(task)

        def reported(query_x: Any) -> Any:
            logits = predict(query_x)
            self.after()
            return logits

        return reported


def _reporting_methods(
    methods: list[Any], domain: TradingDomain, ticker: str, n_boot: int, report: Progress
) -> list[_Reporting]:
    """``methods`` wrapped to report "walk-forward on TICKER: method i of m (name), window j of n" as they adapt,
    then (after the last window of the last one) the rule baselines and the bootstrap, which follow.

    The walk-forward part of the work runs from fraction 0.1 to 0.9 of the progress bar.
    """
    series, ranges = domain.split_series("test")
    windows = sum(
        len(walk_forward_starts(s, lo, hi, domain.support, domain.query, domain.embargo))
        for s, (lo, hi) in zip(series, ranges, strict=True)
    )
    total, done = max(1, windows * len(methods)), [0]

    def after() -> None:
        done[0] += 1
        if done[0] == total:
            report(f"{ticker}: rule baselines, the 2-state HMM and the bootstrap intervals ({n_boot} resamples)", 0.9)

    wrapped = []
    for i, method in enumerate(methods, 1):

        def before(i: int = i, name: str = method.name) -> None:
            j = done[0] % max(1, windows) + 1
            label = f"walk-forward on {ticker}: method {i} of {len(methods)} ({name}), window {j} of {windows}"
            report(label, 0.1 + 0.8 * done[0] / total)

        wrapped.append(_Reporting(method, before, after))
    return wrapped


def run_backtest(
    methods: list[Any],
    meta: dict[str, Any],
    market: MarketData,
    ticker: str,
    start: Any,
    end: Any,
    *,
    cost_bps: float = DEFAULT_COST_BPS,
    slippage_bps: float = 0.0,
    position: str = "long_flat",
    n_boot: int = PAGE_N_BOOT,
    progress: Progress | None = None,
) -> tuple[TradingEvaluation, list[str]]:
    """Walk-forward backtest of ``methods`` and the rule baselines on ``ticker`` over ``[start, end]``.

    Returns the :class:`~metasuite.domains.trading.evaluation.TradingEvaluation` and the warnings to show (the
    test period overlaps the checkpoint's training or validation data; the HMM could not be fitted).
    ``progress(stage, fraction)`` hears of each stage: the prices and features, each method's adaptation to
    each query window, the rule baselines and the bootstrap.

    torch runs on one thread meanwhile: the networks are small, and on a busy two-core machine a second
    thread only contends (the page's default backtest took 111 s + 98 s for the pooled model and the
    walk-forward on two threads, 7 s + 11 s on one).
    """
    report = progress or _silent
    report(f"loading the prices and features of {ticker}", 0.05)
    domain = evaluation_domain(market, ticker, start, end, _shape(meta))
    with torch_threads(1):
        ev = walk_forward(
            domain,
            _reporting_methods(list(methods), domain, ticker, n_boot, report),
            cost_bps=cost_bps,
            slippage_bps=slippage_bps,
            position=position,
            n_boot=n_boot,
            progress=False,
        )
    report("done", 1.0)
    warnings = list(meta.get("warnings") or []) + overlap_warnings(meta, domain)
    for t, note in (ev.report["data"].get("hmm_skipped") or {}).items():
        warnings.append(f"{t}: no HMM 2-state baseline ({note})")
    return ev, warnings


# ---------------------------------------------------------------------------- the backtest cache
class Backtest(NamedTuple):
    """A backtest the page shows: the evaluation, its warnings, and whether it was computed now (else read
    from the cache) in how many ``seconds``."""

    ev: TradingEvaluation
    warnings: list[str]
    computed: bool
    seconds: float


def _frame_digest(obj: pd.DataFrame | pd.Series | None) -> str | None:
    if obj is None:
        return None
    return hashlib.sha256(pd.util.hash_pandas_object(obj, index=True).to_numpy().tobytes()).hexdigest()


def backtest_key(
    meta: dict[str, Any],
    market: MarketData,
    ticker: str,
    start: Any,
    end: Any,
    *,
    cost_bps: float = DEFAULT_COST_BPS,
    slippage_bps: float = 0.0,
    position: str = "long_flat",
    n_boot: int = PAGE_N_BOOT,
) -> str:
    """The name of a backtest's cache file, ``backtest-<ticker>-<digest>.pkl``.

    The digest covers everything the result depends on: the checkpoint's weights (their SHA-256) and recorded
    domain options (the pooled model's training data), the pooled model's and scratch's settings, the asset's
    prices and regime labels up to ``end`` (their content, not their name: a re-uploaded file with one changed
    row is another backtest), the test period, costs, position mode, bootstrap resamples, the smoothing
    half-life, the versions of metasuite, torch, numpy and pandas, and the trading domain's source code
    (:func:`_code_digest`).
    """
    _series(market, ticker)
    last = pd.Timestamp(end)
    regimes = None if market.regimes is None else market.regimes[ticker].loc[:last]
    options = meta.get("domain_options") or {}
    parts = {
        "format": BACKTEST_CACHE_FORMAT,
        "versions": [__version__, *(version(p) for p in ("torch", "numpy", "pandas"))],
        "checkpoint": meta.get("tensors_sha256") or str(meta.get("path")),
        "domain_options": options,
        "baselines": TradingDomain(**options).default_baselines(),
        "source": market.source,
        "ticker": ticker,
        "prices": _frame_digest(market.prices[ticker].loc[:last]),
        "regimes": _frame_digest(regimes),
        "period": [str(pd.Timestamp(start).date()), str(last.date())],
        "trading": [float(cost_bps), float(slippage_bps), position, int(n_boot), HALFLIFE],
        "code": _code_digest(),
    }
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:20]
    return f"backtest-{re.sub(r'[^A-Za-z0-9_.-]', '_', ticker)}-{digest}.pkl"


@functools.cache
def _code_digest() -> str:
    """SHA-256 of the trading domain's source files: a cached backtest is never served after its code changed
    (new baselines, another refit rule), even when the package version did not."""
    h = hashlib.sha256()
    for path in sorted(Path(inspect.getfile(TradingDomain)).parent.glob("*.py")):
        h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()[:16]


def _read_cached(path: Path) -> tuple[TradingEvaluation, list[str]] | None:
    """The cached ``(evaluation, warnings)`` at ``path``; None when there is none, or it is damaged or was written
    by code whose classes have changed since (it is then computed again and overwritten)."""
    try:
        with path.open("rb") as f:
            ev, warnings = pickle.load(f)
    except FileNotFoundError:
        return None
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, TypeError, ValueError):
        return None
    return (ev, warnings) if isinstance(ev, TradingEvaluation) else None


def _write_cached(path: Path, result: tuple[TradingEvaluation, list[str]]) -> None:
    """Write ``result`` atomically (temporary sibling + rename): concurrent sessions never read half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            pickle.dump(result, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cached_backtest(
    checkpoint: str | Path,
    market: MarketData,
    ticker: str,
    start: Any,
    end: Any,
    *,
    cost_bps: float = DEFAULT_COST_BPS,
    slippage_bps: float = 0.0,
    position: str = "long_flat",
    n_boot: int = PAGE_N_BOOT,
    progress: Progress | None = None,
    cache: str | Path | None = None,
) -> Backtest:
    """:func:`run_backtest` of ``checkpoint``'s methods (:func:`load_methods`) on ``ticker``, read from the disk
    cache when it was computed before -- by any session or process -- else computed and stored there.

    The cache file is ``<cache>/`` :func:`backtest_key` (``cache`` defaults to
    :func:`~metasuite.apps.logic.models.app_cache` ``("trading")``); ``progress`` is only called when computing.
    """
    meta = checkpoint_meta(checkpoint)
    trading = {"cost_bps": cost_bps, "slippage_bps": slippage_bps, "position": position, "n_boot": n_boot}
    path = Path(cache if cache is not None else app_cache("trading")) / backtest_key(
        meta, market, ticker, start, end, **trading
    )
    t0 = time.perf_counter()
    found = _read_cached(path)
    if found is not None:
        return Backtest(*found, computed=False, seconds=time.perf_counter() - t0)
    methods, meta = load_methods(checkpoint, progress)
    ev, warnings = run_backtest(methods, meta, market, ticker, start, end, progress=progress, **trading)
    _write_cached(path, (ev, warnings))
    return Backtest(ev, warnings, computed=True, seconds=time.perf_counter() - t0)


# ---------------------------------------------------------------------------- shipped results
def shipped_report(source: str, override: str = "") -> dict[str, Any] | None:
    """The shipped ``metasuite eval trading`` report for ``source`` (:data:`SHIPPED_EVALS`, read from
    :func:`~metasuite.apps.logic.models.shipped_eval`), shown at once while an asset's backtest computes.

    None when a checkpoint ``override`` is typed (the shipped results are of the shipped checkpoints), when the
    source has no shipped evaluation (an upload, Yahoo Finance) or when the file is missing (a slim install).
    """
    name = SHIPPED_EVALS.get(source)
    if override.strip() or name is None:
        return None
    try:
        return json.loads(shipped_eval("trading", name).read_text())
    except FileNotFoundError:
        return None


def meta_method(report: dict[str, Any]) -> str:
    """Name of the (first) meta-learner in a walk-forward report."""
    for name, entry in report["methods"].items():
        if entry["kind"] == "meta":
            return name
    raise DataError("the report holds no meta-learner")


def _number(x: Any) -> float:
    """A metric of a report as a float: ``null`` in a stored report (undefined or not finite) becomes NaN."""
    return np.nan if x is None else float(x)


def metrics_table(report: dict[str, Any]) -> pd.DataFrame:
    """One row per method (report order) with its portfolio metrics, columns :data:`METRIC_COLUMNS`.

    Numbers stay numbers (fractions for :data:`PERCENT_COLUMNS`, NaN where undefined); the Sharpe
    CI is the text ``"[lo, hi]"``. A first column ``kind`` says meta-learned, learned baseline or rule.
    Works on a report just computed and on a stored one (``null`` for undefined values).
    """
    rows = {}
    for name, entry in report["methods"].items():
        p = {k: v if isinstance(v, str) else _number(v) for k, v in entry["portfolio"].items()}
        ci = (
            "–"
            if not np.isfinite([p["sharpe_lo"], p["sharpe_hi"]]).all()
            else f"[{p['sharpe_lo']:.2f}, {p['sharpe_hi']:.2f}]"
        )
        values = {**p, "sharpe_ci": ci}
        rows[name] = {"kind": _KIND_LABELS.get(entry["kind"], entry["kind"])} | {
            label: values[key] for key, label in METRIC_COLUMNS.items()
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "method"
    return table


def comparison_note(report: dict[str, Any]) -> str:
    """The note under a report's metrics: how Sharpe, turnover and exposure are measured, and the paired bootstrap
    Sharpe differences of its (first) meta-learner against the reference methods (``–`` where undefined)."""
    learner = meta_method(report)

    def fmt(x: Any, sign: str = "") -> str:
        return "–" if x is None or not np.isfinite(x) else f"{x:{sign}.2f}"

    parts = [
        f"{ref}: {fmt(v.get('diff'), '+')} [{fmt(v.get('lo'))}, {fmt(v.get('hi'))}]"
        for ref, v in (report["methods"][learner].get("vs") or {}).items()
    ]
    note = (
        "Sharpe: annualised, zero risk-free rate, with a 95% stationary-bootstrap interval "
        f"({report['setting']['n_boot']} resamples). Turnover: units traded per year; exposure: mean |position|."
    )
    if parts:
        note += f" Sharpe difference of {learner} (paired bootstrap 95% CI) vs " + "; ".join(parts) + "."
    return note


# ---------------------------------------------------------------------------- figures
class RegimeRun(NamedTuple):
    """A maximal stretch of consecutive days with one regime label (first and last day inclusive)."""

    label: str
    first: pd.Timestamp
    last: pd.Timestamp


def regime_runs(labels: pd.Series) -> list[RegimeRun]:
    """Consecutive runs of equal labels in date order; days without a label (NaN) end a run and are skipped."""
    runs: list[RegimeRun] = []
    values = labels.to_numpy(dtype=object)
    dates = labels.index
    i = 0
    while i < len(values):
        if pd.isna(values[i]):
            i += 1
            continue
        j = i
        while j + 1 < len(values) and values[j + 1] == values[i]:
            j += 1
        runs.append(RegimeRun(str(values[i]), dates[i], dates[j]))
        i = j + 1
    return runs


def _legend_above(fig: go.Figure, height: int) -> go.Figure:
    """One horizontal legend row (wrapping when needed) above the plot area, never over a curve: anchored at its
    bottom edge just above the top of the plot, in a top margin that plotly widens to fit it."""
    fig.update_layout(
        height=height,
        margin={"l": 60, "r": 20, "t": 40, "b": 30},
        legend={"orientation": "h", "x": 0, "xanchor": "left", "y": 1.02, "yanchor": "bottom", "traceorder": "normal"},
        hovermode="x unified",
    )
    return fig


#: What a checkpoint's target means on the page: (what its support labels are, what it gives for each query day,
#: the name of the probability its positions trade).
TARGET_TEXT = {
    "direction": ("next-day moves", "the probability that the close goes up the next day", "P(up)"),
    "regime21": (
        "21-day outcomes",
        "the probability that the next 21 days are a *bull* regime (they return more than -2% and never fall more "
        "than 5% below their peak)",
        "P(bull)",
    ),
    "vol_tercile": (
        "21-day volatilities",
        "the probabilities of low, mid and high volatility over the next 21 days",
        "P(calm)",
    ),
    "jump21": (
        "jump-model regimes (each known 21 days later)",
        "the probability that the statistical jump model (fitted on the training history, recorded with the "
        "checkpoint) puts the next day in its *bull* regime",
        "P(bull)",
    ),
}


def _target_entry(target: str | None) -> tuple[str, str, str]:
    """:data:`TARGET_TEXT`'s entry of ``target`` (None, empty or unknown: next-day direction)."""
    return TARGET_TEXT.get(target or "direction", TARGET_TEXT["direction"])


def target_text(options: dict[str, Any]) -> tuple[str, str]:
    """``(support labels, query output)`` phrases of a checkpoint's recorded domain ``options`` (no ``target``:
    next-day direction)."""
    return _target_entry(options.get("target"))[:2]


def probability_label(report: dict[str, Any]) -> str:
    """What a learned method's probability is, in a report of its target: ``P(up)`` (next-day direction, also
    for reports without a target), ``P(bull)`` (21-day or jump-model regime) or ``P(calm)`` (not the
    high-volatility tercile)."""
    return _target_entry(report["setting"].get("target"))[2]


def price_figure(ev: TradingEvaluation, ticker: str, method: str | None = None) -> go.Figure:
    """Close of ``ticker`` over the test days with its regimes shaded, ``method``'s positions and its P(up).

    Row 1: the close (``"close"``) on a log axis; one shaded rectangle per :func:`regime_runs` run of
    ``ev.regimes[ticker]`` from the run's first day to the next run's first day (the last run: to its
    own last day), coloured by :data:`REGIME_COLOURS`, with one legend entry per regime. Row 2: the
    position held over each day (after the one-day lag; step line). Row 3, on its own 0..1 axis: the
    probability of "up" (or "bull", :func:`probability_label`) that the adapted model gave for each day (smoothed
    as the positions use it), with the 0.5 line where a long/flat position switches (``method`` defaults to the
    meta-learner).
    """
    p_label = probability_label(ev.report)
    method = method or meta_method(ev.report)
    close = ev.prices[ticker]["close"]
    daily = ev.daily[method][ticker]
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.05, row_heights=[0.56, 0.2, 0.24])
    fig.add_trace(go.Scatter(x=close.index, y=close, mode="lines", name="close", line={"color": "#263238"}), 1, 1)
    shapes = []
    runs = regime_runs(ev.regimes[ticker]) if ticker in ev.regimes else []
    for k, run in enumerate(runs):
        x1 = runs[k + 1].first if k + 1 < len(runs) else run.last
        shapes.append(
            {
                "type": "rect",
                "xref": "x",
                "yref": "y domain",
                "x0": run.first,
                "x1": x1,
                "y0": 0,
                "y1": 1,
                "fillcolor": REGIME_COLOURS.get(run.label, _OTHER_REGIME),
                "opacity": 0.15,
                "line": {"width": 0},
                "layer": "below",
            }
        )
    for label in dict.fromkeys(run.label for run in runs):  # legend entries, in order of appearance
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                name=label,
                marker={"symbol": "square", "size": 12, "color": REGIME_COLOURS.get(label, _OTHER_REGIME)},
                opacity=0.4,
            ),
            1,
            1,
        )
    fig.add_trace(
        go.Scatter(
            x=daily.index,
            y=daily["position"],
            mode="lines",
            line={"shape": "hv", "color": "#1e88e5", "width": 1.5},
            name=f"{method} position",
        ),
        2,
        1,
    )
    if "p_up" in daily:
        fig.add_trace(
            go.Scatter(
                x=daily.index,
                y=daily["p_up"],
                mode="lines",
                line={"color": "#fb8c00", "width": 1.5},
                name=f"{method} {p_label}",
            ),
            3,
            1,
        )
        shapes.append(
            {
                "type": "line",
                "xref": "x3 domain",
                "yref": "y3",
                "x0": 0,
                "x1": 1,
                "y0": 0.5,
                "y1": 0.5,
                "line": {"color": "#757575", "width": 1, "dash": "dot"},
            }
        )
    low = min(0.0, float(np.nanmin(daily["position"].to_numpy()))) if len(daily) else 0.0
    fig.update_layout(shapes=shapes)
    fig.update_yaxes(title_text="close (log)", type="log", row=1, col=1)
    fig.update_yaxes(title_text="position", range=[low - 0.05, 1.05], row=2, col=1)
    fig.update_yaxes(title_text=p_label, range=[0, 1], tickvals=[0, 0.5, 1], row=3, col=1)
    return _legend_above(fig, 600)


def _method_lines(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each method's line style, as the CLI's PNG draws them: the meta-learners solid and wide, learned baselines
    dashed, rules dotted; one colour per method."""
    lines = {}
    for i, (name, entry) in enumerate(report["methods"].items()):
        dash, width = {"meta": ("solid", 2.5), "baseline": ("dash", 1.5)}.get(entry["kind"], ("dot", 1.5))
        lines[name] = {"dash": dash, "width": width, "color": qualitative.D3[i % len(qualitative.D3)]}
    return lines


def equity_figure(report: dict[str, Any]) -> go.Figure:
    """Equity (value of 1 unit of capital, log axis) and drawdown of every method of a walk-forward ``report``.

    From ``report["curves"]`` (the equal-weight portfolio's equity on each test day), so a report just computed
    and a stored one (``data/eval/trading/*.json``) are drawn alike: one trace per method in each row.
    """
    curves = report["curves"]
    dates = pd.to_datetime(curves["dates"])
    lines = _method_lines(report)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.05, row_heights=[0.65, 0.35])
    for name in report["methods"]:
        equity = pd.Series([_number(v) for v in curves["equity"][name]], index=dates)
        line = lines[name]
        fig.add_trace(go.Scatter(x=dates, y=equity, name=name, legendgroup=name, line=line), 1, 1)
        fig.add_trace(
            go.Scatter(x=dates, y=drawdown(equity), name=name, legendgroup=name, showlegend=False, line=line), 2, 1
        )
    fig.update_yaxes(title_text="equity (log)", type="log", row=1, col=1)
    fig.update_yaxes(title_text="drawdown", tickformat=".0%", row=2, col=1)
    return _legend_above(fig, 560)


def sharpe_figure(report: dict[str, Any]) -> go.Figure:
    """Every method's annualised Sharpe ratio with its 95% bootstrap interval (horizontal bars), first method on
    top, coloured as in :func:`equity_figure`; a vertical line at 0. Methods without an interval show the point."""
    lines = _method_lines(report)
    names = list(report["methods"])
    fig = go.Figure()
    for name in names:
        p = {k: _number(report["methods"][name]["portfolio"][k]) for k in ("sharpe", "sharpe_lo", "sharpe_hi")}
        error = (
            {
                "type": "data",
                "symmetric": False,
                "array": [p["sharpe_hi"] - p["sharpe"]],
                "arrayminus": [p["sharpe"] - p["sharpe_lo"]],
            }
            if np.isfinite([p["sharpe_lo"], p["sharpe_hi"]]).all()
            else None
        )
        fig.add_trace(
            go.Scatter(
                x=[p["sharpe"]],
                y=[name],
                mode="markers",
                name=name,
                showlegend=False,
                marker={"size": 10, "color": lines[name]["color"]},
                error_x=error,
                hovertemplate=f"{name}<br>Sharpe %{{x:.2f}} [{p['sharpe_lo']:.2f}, {p['sharpe_hi']:.2f}]"
                "<extra></extra>",
            )
        )
    fig.add_vline(x=0, line={"color": "#757575", "width": 1, "dash": "dot"})
    fig.update_yaxes(autorange="reversed", categoryorder="array", categoryarray=names)
    fig.update_xaxes(title_text="Sharpe ratio (annualised) with its 95% bootstrap interval", zeroline=False)
    fig.update_layout(height=70 + 32 * len(names), margin={"l": 20, "r": 20, "t": 10, "b": 50}, showlegend=False)
    return fig


# ---------------------------------------------------------------------------- many tickers: the cross-section
def cross_section_report() -> dict[str, Any] | None:
    """The shipped many-ticker evaluation (:data:`SHIPPED_CROSS_SECTION`), None when it is missing (a slim
    install) or holds no cross-section."""
    try:
        report = json.loads(shipped_eval("trading", SHIPPED_CROSS_SECTION).read_text())
    except FileNotFoundError:
        return None
    return report if report.get("cross_section") else None


def _baselines(report: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The meta-learner the page shows and its comparisons, chosen as the eval's PNG chooses them (``headline``)."""
    section = report["cross_section"]
    meta, others = headline(section)
    return meta, {b: section["methods"][meta][b] for b in others}


def cross_section_table(report: dict[str, Any]) -> pd.DataFrame:
    """One row per baseline: the meta-learner's (:func:`_baselines`) mean per-ticker Sharpe difference with its
    bootstrap 95% CI over tickers, the share of tickers it improves, and the mean reduction of the per-ticker max
    drawdown (percentage points, positive = shallower) with its CI and the share of tickers with a shallower
    drawdown. Text cells, ready to show."""

    def ci(d: dict[str, Any], scale: float = 1.0, unit: str = "") -> str:
        if d.get("lo") is None:
            return "–"
        return f"[{scale * d['lo']:+.2f}{unit}, {scale * d['hi']:+.2f}{unit}]"

    _, vs = _baselines(report)
    rows = {}
    for name, v in vs.items():
        sharpe, dd = v["sharpe_diff"], v["drawdown_reduction"]
        rows[name] = {
            "mean Sharpe difference": "–" if sharpe["diff"] is None else f"{sharpe['diff']:+.2f}",
            "95% CI": ci(sharpe),
            "tickers improved": "–" if v["share_improved"] is None else f"{100 * v['share_improved']:.0f}%",
            "max drawdown reduction": "–" if dd["diff"] is None else f"{100 * dd['diff']:+.1f} pp",
            "95% CI ": ci(dd, 100.0, " pp"),
            "shallower drawdown": "–"
            if v["share_shallower_drawdown"] is None
            else f"{100 * v['share_shallower_drawdown']:.0f}%",
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "vs"
    return table


def cross_section_figure(report: dict[str, Any]) -> go.Figure:
    """Histograms of the meta-learner's (:func:`_baselines`) per-ticker Sharpe differences against each baseline,
    with the zero line and the mean (the PNG ``metasuite eval trading`` writes, as a plotly figure)."""
    meta, vs = _baselines(report)
    tickers = report["data"]["tickers"]
    fig = make_subplots(rows=1, cols=len(vs), subplot_titles=[f"vs {b}" for b in vs], shared_yaxes=True)
    per = report["methods"]
    for col, (name, v) in enumerate(vs.items(), 1):
        diffs = [
            _number(per[meta]["per_ticker"][t]["sharpe"]) - _number(per[name]["per_ticker"][t]["sharpe"])
            for t in tickers
            if t in per[meta]["per_ticker"] and t in per[name]["per_ticker"]
        ]
        fig.add_trace(
            go.Histogram(x=[d for d in diffs if np.isfinite(d)], nbinsx=20, marker={"color": "#1e88e5"}, name=name),
            1,
            col,
        )
        fig.add_vline(x=0.0, line={"color": "#757575", "width": 1, "dash": "dot"}, row=1, col=col)
        if v["sharpe_diff"]["diff"] is not None:
            fig.add_vline(x=v["sharpe_diff"]["diff"], line={"color": "#e53935", "width": 2}, row=1, col=col)
    fig.update_xaxes(title_text="Sharpe difference")
    fig.update_yaxes(title_text="tickers", row=1, col=1)
    fig.update_layout(height=320, showlegend=False, margin={"l": 60, "r": 20, "t": 40, "b": 40})
    return fig
