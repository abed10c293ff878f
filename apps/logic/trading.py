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
market-sample layout, or a Yahoo Finance ticker (online, cached). The figures are plotly; nothing
here imports Streamlit. Not investment advice.
"""

from __future__ import annotations

import functools
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd

from metasuite.apps.logic import user_path
from metasuite.apps.logic.models import checkpoint_meta, checkpoint_version
from metasuite.core.errors import DataError
from metasuite.domains.trading import TradingDomain
from metasuite.domains.trading.backtest import drawdown
from metasuite.domains.trading.data import (
    ARCH_TICKERS,
    load_csv_folder,
    load_market,
    load_yfinance,
)
from metasuite.domains.trading.evaluation import (
    DISCLAIMER,
    TradingEvaluation,
    build_methods,
    default_checkpoint,
    eval_options,
    overlap_warnings,
    walk_forward,
)
from metasuite.domains.trading.tasks import AssetSeries

if TYPE_CHECKING:
    from collections.abc import Callable

    import plotly.graph_objects as go

__all__ = [
    "DEFAULT_COST_BPS",
    "DISCLAIMER",
    "METRIC_COLUMNS",
    "PAGE_N_BOOT",
    "PERCENT_COLUMNS",
    "POSITION_LABELS",
    "REGIME_COLOURS",
    "SHAPE_OPTIONS",
    "SOURCE_LABELS",
    "MarketData",
    "RegimeRun",
    "TradingEvaluation",
    "arch_market",
    "checkpoint_for",
    "checkpoint_meta",
    "csv_market",
    "decision_days",
    "default_test_period",
    "equity_figure",
    "evaluation_domain",
    "load_methods",
    "meta_method",
    "metrics_table",
    "price_figure",
    "regime_runs",
    "run_backtest",
    "synthetic_market",
    "yfinance_market",
]

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
#: Checkpoint domain options that fix the task shape and the network (the rest describes its data).
SHAPE_OPTIONS = ("support_days", "query_days", "embargo", "hidden")
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


def csv_market(data: bytes, name: str = "upload.csv") -> MarketData:
    """Daily bars from an uploaded CSV (``date,open,high,low,close,volume,Name`` as in market-sample).

    Without a ``Name`` column the ticker is the file name (``AAPL.csv``, ``AAPL_data.csv``). Splits in
    unadjusted prices are adjusted (:func:`~metasuite.domains.trading.data.load_csv_folder`). Raises
    :class:`~metasuite.core.errors.DataError` with the reason when the file cannot be used.
    """
    if not data:
        raise DataError(f"{name!r} is empty; upload a CSV with columns date,open,high,low,close,volume[,Name]")
    filename = Path(name).name
    if not filename.lower().endswith((".csv", ".csv.gz")):
        filename += ".csv"
    with tempfile.TemporaryDirectory(prefix="metasuite-upload-") as tmp:
        path = Path(tmp) / filename
        path.write_bytes(data)
        prices = load_csv_folder(path)
    return MarketData(prices=prices, source="csv")


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
    repository root), else the shipped one for ``source`` (``fomaml-synthetic`` for the synthetic market,
    ``fomaml-indices`` for real data). The path may not exist: :func:`load_methods` says so."""
    return user_path(override) if override.strip() else default_checkpoint(source)


def load_methods(checkpoint: str | Path) -> tuple[list[Any], dict[str, Any]]:
    """The learned methods of a trading checkpoint -> ``(methods, meta)``.

    ``methods``: its meta-learner, the pooled model (pre-trained on the checkpoint's training data,
    tens of seconds on a CPU) and scratch (:func:`~metasuite.domains.trading.evaluation.build_methods`); none of
    them depends on the asset evaluated, so they are built once per checkpoint file and process.
    ``meta`` is the checkpoint's JSON with ``"warnings"`` added. Raises
    :class:`~metasuite.core.errors.CheckpointError` when the checkpoint is missing or not a trading one.
    """
    target, stamp = checkpoint_version(checkpoint)
    return _load_methods(str(target), stamp)


@functools.lru_cache(maxsize=4)
def _load_methods(path: str, mtime_ns: int) -> tuple[list[Any], dict[str, Any]]:
    meta = checkpoint_meta(path)
    domain = TradingDomain(**(meta.get("domain_options") or {}))
    methods, _, warnings = build_methods([path], domain, progress=False)
    return methods, {**meta, "warnings": warnings}


def _shape(meta: dict[str, Any]) -> dict[str, Any]:
    options = meta.get("domain_options") or {}
    return {k: options[k] for k in SHAPE_OPTIONS if k in options}


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
) -> tuple[TradingEvaluation, list[str]]:
    """Walk-forward backtest of ``methods`` and the rule baselines on ``ticker`` over ``[start, end]``.

    Returns the :class:`~metasuite.domains.trading.evaluation.TradingEvaluation` and the warnings to show (the
    test period overlaps the checkpoint's training or validation data; the HMM could not be fitted).
    """
    domain = evaluation_domain(market, ticker, start, end, _shape(meta))
    ev = walk_forward(
        domain,
        methods,
        cost_bps=cost_bps,
        slippage_bps=slippage_bps,
        position=position,
        n_boot=n_boot,
        progress=False,
    )
    warnings = list(meta.get("warnings") or []) + overlap_warnings(meta, domain)
    for t, note in (ev.report["data"].get("hmm_skipped") or {}).items():
        warnings.append(f"{t}: no HMM 2-state baseline ({note})")
    return ev, warnings


def meta_method(report: dict[str, Any]) -> str:
    """Name of the (first) meta-learner in a walk-forward report."""
    for name, entry in report["methods"].items():
        if entry["kind"] == "meta":
            return name
    raise DataError("the report holds no meta-learner")


def metrics_table(report: dict[str, Any]) -> pd.DataFrame:
    """One row per method (report order) with its portfolio metrics, columns :data:`METRIC_COLUMNS`.

    Numbers stay numbers (fractions for :data:`PERCENT_COLUMNS`, NaN where undefined); the Sharpe
    CI is the text ``"[lo, hi]"``. A first column ``kind`` says meta-learned, learned baseline or rule.
    """
    rows = {}
    for name, entry in report["methods"].items():
        p = entry["portfolio"]
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


def price_figure(ev: TradingEvaluation, ticker: str, method: str | None = None) -> go.Figure:
    """Close of ``ticker`` over the test days with its regimes shaded, and ``method``'s positions below.

    Row 1: the close (``"close"``) on a log axis; one shaded rectangle per :func:`regime_runs` run of
    ``ev.regimes[ticker]`` from the run's first day to the next run's first day (the last run: to its
    own last day), coloured by :data:`REGIME_COLOURS`, with one legend entry per regime. Row 2: the
    position held over each day (after the one-day lag; step line) and the probability of "up" that
    the adapted model gave at each decision (``method`` defaults to the meta-learner).
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    method = method or meta_method(ev.report)
    close = ev.prices[ticker]["close"]
    daily = ev.daily[method][ticker]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.04, row_heights=[0.7, 0.3])
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
                legendgroup="regimes",
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
                line={"color": "#fb8c00", "width": 1, "dash": "dot"},
                name=f"{method} P(up)",
            ),
            2,
            1,
        )
    low = min(0.0, float(np.nanmin(daily["position"].to_numpy()))) if len(daily) else 0.0
    fig.update_layout(
        shapes=shapes,
        height=520,
        margin={"l": 50, "r": 20, "t": 30, "b": 30},
        legend={"orientation": "h", "y": 1.08},
        hovermode="x unified",
    )
    fig.update_yaxes(title_text="close (log)", type="log", row=1, col=1)
    fig.update_yaxes(title_text="position", range=[low - 0.05, 1.05], row=2, col=1)
    return fig


def equity_figure(ev: TradingEvaluation) -> go.Figure:
    """Equity (value of 1 unit of capital, log axis) and drawdown of every method, one trace each per row.

    Line styles follow the CLI's PNG: the meta-learner solid and wide, learned baselines dashed, rules dotted.
    """
    import plotly.graph_objects as go
    from plotly.colors import qualitative
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.04, row_heights=[0.65, 0.35])
    for i, (name, entry) in enumerate(ev.report["methods"].items()):
        equity = (1.0 + ev.portfolio[name].fillna(0.0)).cumprod()
        style = {"meta": ("solid", 2.5), "baseline": ("dash", 1.5)}.get(entry["kind"], ("dot", 1.5))
        line = {"dash": style[0], "width": style[1], "color": qualitative.D3[i % len(qualitative.D3)]}
        fig.add_trace(go.Scatter(x=equity.index, y=equity, name=name, legendgroup=name, line=line), 1, 1)
        fig.add_trace(
            go.Scatter(x=equity.index, y=drawdown(equity), name=name, legendgroup=name, showlegend=False, line=line),
            2,
            1,
        )
    fig.update_layout(height=560, margin={"l": 50, "r": 20, "t": 30, "b": 30}, legend={"orientation": "h", "y": 1.08})
    fig.update_yaxes(title_text="equity (log)", type="log", row=1, col=1)
    fig.update_yaxes(title_text="drawdown", tickformat=".0%", row=2, col=1)
    return fig
