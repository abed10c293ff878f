"""Trading page: a next-day direction model adapted to the current market regime, backtested honestly.

Layout only; every number comes from :mod:`metasuite.apps.logic.trading`. The shipped evaluation of the chosen
source is drawn at once; the backtest of one asset with the sidebar's settings follows, read from the disk cache
when any session computed it before, else computed with its progress in stages. Not investment advice.
"""

from __future__ import annotations

import hashlib
from typing import Any

import streamlit as st

from metasuite.apps.logic import display_path
from metasuite.apps.logic.trading import (
    DEFAULT_COST_BPS,
    DISCLAIMER,
    METRIC_GROUPS,
    PERCENT_COLUMNS,
    POSITION_LABELS,
    SOURCE_LABELS,
    UPLOAD_CONTROLS,
    MarketData,
    arch_market,
    cached_backtest,
    checkpoint_for,
    checkpoint_meta,
    comparison_note,
    cross_section_figure,
    cross_section_report,
    cross_section_table,
    csv_market,
    data_notes,
    decision_days,
    default_test_period,
    equity_figure,
    meta_method,
    metrics_table,
    price_figure,
    probability_label,
    sharpe_figure,
    shipped_report,
    synthetic_market,
    target_text,
    upload_hint,
    yfinance_market,
)
from metasuite.core.errors import CheckpointError, DataError

st.set_page_config(page_title="Trading · metasuite", page_icon=":material/candlestick_chart:", layout="wide")


@st.cache_resource(show_spinner=False, max_entries=8)
def _shipped(source: str, override: str) -> dict[str, Any] | None:
    return shipped_report(source, override)


@st.cache_resource(show_spinner=False, max_entries=1)
def _cross_section() -> dict[str, Any] | None:
    return cross_section_report()


@st.cache_resource(show_spinner="Simulating the synthetic test market…", max_entries=4)
def _synthetic(options: dict[str, Any]) -> MarketData:
    return synthetic_market(options)


@st.cache_resource(show_spinner="Loading the index history shipped with arch…", max_entries=2)
def _arch(name: str) -> MarketData:
    return arch_market(name)


@st.cache_resource(show_spinner="Reading the uploaded CSV…", max_entries=4)
def _csv(digest: str, name: str, missing: str, allow_jumps: bool, _data: bytes) -> MarketData:
    return csv_market(_data, name, missing=missing, allow_jumps=allow_jumps)


@st.cache_resource(show_spinner="Downloading from Yahoo Finance…", max_entries=4)
def _yfinance(ticker: str) -> MarketData:
    return yfinance_market(ticker)


def _results(report: dict[str, Any], key: str, costs: str) -> None:
    """Equity and drawdown, Sharpe ratios with their intervals, and the metrics of every method in ``report``."""
    st.caption(f"Growth of 1 unit of capital after costs ({costs}) and drawdown from the running peak.")
    st.plotly_chart(equity_figure(report), key=f"{key}_equity_chart")
    st.plotly_chart(sharpe_figure(report), key=f"{key}_sharpe_chart")
    table = metrics_table(report)
    table[list(PERCENT_COLUMNS)] *= 100.0  # fractions shown as percentages with one decimal
    config: dict[str, Any] = {c: st.column_config.NumberColumn(c, format="%.1f%%") for c in PERCENT_COLUMNS}
    for c, digits in (("Sharpe", 2), ("Sortino", 2), ("Calmar", 2), ("turnover / yr", 1)):
        config[c] = st.column_config.NumberColumn(c, format=f"%.{digits}f")
    for i, (title, columns) in enumerate(METRIC_GROUPS.items()):
        st.markdown(f"**{title}**")
        st.dataframe(table, column_order=columns, column_config=config, key=f"{key}_metrics_{i}")
    st.caption(comparison_note(report))


st.title("Trading")
st.warning(DISCLAIMER, icon=":material/gavel:")

with st.sidebar:
    st.header("Market")
    source = st.radio("Data", list(SOURCE_LABELS), format_func=SOURCE_LABELS.get, key="source")
    st.header("Backtest")
    cost_bps = st.number_input(
        "Costs (bp per unit traded)", 0.0, 500.0, DEFAULT_COST_BPS, 1.0, key="cost_bps", help="Commission and spread."
    )
    slippage_bps = st.number_input("Slippage (bp per unit traded)", 0.0, 500.0, 0.0, 1.0, key="slippage_bps")
    position = st.selectbox(
        "Positions",
        list(POSITION_LABELS),
        format_func=POSITION_LABELS.get,
        key="position",
        help="How the probability of 'up' becomes a position: long above 0.5 (else flat or short), or long "
        "in proportion to the confidence.",
    )
    with st.expander("Model"):
        override = st.text_input(
            "Checkpoint (run folder or .safetensors; empty: the shipped one)", key="checkpoint", placeholder="runs/mine"
        )

checkpoint = checkpoint_for(source, override)
try:
    meta = checkpoint_meta(checkpoint)
except CheckpointError as exc:
    shown = display_path(checkpoint)
    real = "" if source == "synthetic" else " --source indices"
    st.error(
        f"No trading checkpoint at `{shown}`, so there is no meta-learned model to backtest. Train it with "
        f"`metasuite train trading --algo fomaml{real} --out {shown}`, or type another checkpoint under "
        f"**Model** in the sidebar.\n\n({exc})",
        icon=":material/error:",
    )
    st.stop()
options = meta.get("domain_options") or {}
support, query, embargo = options.get("support_days", 126), options.get("query_days", 21), options.get("embargo", 1)
labels_known, output = target_text(options)
st.markdown(
    f"A **task is one asset at one date**. Every {query} trading days the meta-learned model adapts to the "
    f"current regime from the **support**: the last **{support} trading days** whose {labels_known} are already "
    f"known ({embargo} day{'s' if embargo != 1 else ''} of embargo before the decision). It then gives, for each of "
    f"the **next {query} days** (the **query**), {output}, from that day's price features. "
    "The position decided at a close is **held over the next day** (one-day execution lag) and every change of "
    "position pays the costs. The **pooled** model learned from the same training tasks but never adapts; "
    "**scratch** trains a fresh network on each support window alone; the rules need no training."
)

# ---------------------------------------------------------------------------- the shipped evaluation, at once
shipped = _shipped(source, override)
if shipped is not None:
    shipped_data, setting = shipped["data"], shipped["setting"]
    tickers, (first, last) = shipped_data["tickers"], shipped_data["test_period"]
    st.header("Shipped evaluation: every test asset")
    st.caption(
        f"What `metasuite eval trading` measured for the shipped checkpoints on {len(tickers)} test assets "
        f"({', '.join(tickers[:10])}), {first} to {last} ({shipped_data['n_days']} trading days), equal weight, "
        f"{POSITION_LABELS.get(setting['position'], setting['position'])}; recorded with the checkpoints, so it "
        "shows at once. Below it, one asset is backtested with the settings in the sidebar."
    )
    _results(
        shipped, "shipped", f"{setting['cost_bps']:g} bp + {setting['slippage_bps']:g} bp slippage per unit traded"
    )

# ---------------------------------------------------------------------------- data
data_key: Any = source
try:
    if source == "synthetic":
        market = _synthetic(options if options.get("source", "synthetic") == "synthetic" else {})
    elif source in ("sp500", "nasdaq"):
        market = _arch(source)
    elif source == "csv":
        with st.sidebar:
            upload = st.file_uploader(
                "CSV: date,open,high,low,close,volume[,Name] (one ticker per Name)", type=["csv"], key="csv_upload"
            )
            drop_missing = st.checkbox(
                UPLOAD_CONTROLS["missing"][1],
                key="csv_drop_missing",
                help="Rows where open, high, low or close is empty are dropped (listed in the data notes) "
                "instead of refusing the file.",
            )
            allow_jumps = st.checkbox(
                UPLOAD_CONTROLS["allow_jumps"][1],
                key="csv_allow_jumps",
                help="An overnight move this large that is not a detected split is refused as a likely data error; "
                "tick this if it is a real event (listed in the data notes).",
            )
        if upload is None:
            st.info(
                "Upload a CSV of daily bars in the market-sample layout (`date,open,high,low,close,volume,Name`), "
                "at least about 1.5 years per ticker.",
                icon=":material/upload:",
            )
            st.stop()
        data = upload.getvalue()
        missing = "drop" if drop_missing else "raise"
        data_key = (hashlib.sha256(data).hexdigest(), missing, allow_jumps)
        market = _csv(data_key[0], upload.name, missing, allow_jumps, data)
    else:
        with st.sidebar:
            wanted = st.text_input("Yahoo Finance ticker", key="yf_ticker", placeholder="SPY").strip().upper()
            if st.button("Download", key="yf_download", icon=":material/download:", disabled=not wanted):
                st.session_state.yf_loaded = wanted
        if not wanted or st.session_state.get("yf_loaded") != wanted:
            st.info("Type a ticker in the sidebar and press **Download** (needs internet).", icon=":material/public:")
            st.stop()
        data_key = wanted
        try:
            market = _yfinance(wanted)
        except DataError:
            st.session_state.pop("yf_loaded", None)  # press Download again to retry
            raise
except DataError as exc:
    hint = upload_hint(str(exc)) if source == "csv" else None
    st.error(
        f"Could not load the {SOURCE_LABELS[source]} data: {exc}" + (f"\n\n{hint}" if hint else ""),
        icon=":material/error:",
    )
    st.stop()

notes = data_notes(market)
if notes:
    st.warning(
        f"Loading the data changed or flagged {len(notes)} thing(s): see **Data notes** below before trusting "
        "the backtest.",
        icon=":material/warning:",
    )
    with st.expander(f"Data notes ({len(notes)})", expanded=len(notes) <= 5):
        st.markdown("\n".join(f"- {note}" for note in notes))

with st.sidebar:
    ticker = st.selectbox("Asset", market.tickers, key="ticker")
    try:
        first_day, last_day = decision_days(market, ticker, options)
        default_start, default_end = default_test_period(market, ticker, meta)
    except DataError as exc:
        st.error(str(exc), icon=":material/error:")
        st.stop()
    # a new asset or data set starts from its default test period
    if st.session_state.get("period_for") != (source, data_key, ticker):
        st.session_state.period_for = (source, data_key, ticker)
        st.session_state.test_start, st.session_state.test_end = default_start.date(), default_end.date()
    bounds = {"min_value": first_day.date(), "max_value": last_day.date()}
    start = st.date_input("Test period from", key="test_start", **bounds)
    end = st.date_input("to", key="test_end", **bounds)
    st.caption(f"Default: {default_start.date()} to {default_end.date()}, the domain's test period.")

# ---------------------------------------------------------------------------- one asset, the sidebar's settings
st.header(f"{ticker}: backtest with your settings")
if source == "synthetic":
    st.caption("The synthetic **test market**: simulated with its own seed and regime path, never seen in training.")
progress_box = st.empty()


def _show_progress(stage: str, fraction: float) -> None:
    progress_box.progress(min(max(fraction, 0.0), 1.0), text=f"Backtesting {ticker}: {stage}")


try:
    result = cached_backtest(
        checkpoint,
        market,
        ticker,
        start,
        end,
        cost_bps=float(cost_bps),
        slippage_bps=float(slippage_bps),
        position=position,
        progress=_show_progress,
    )
except (DataError, CheckpointError) as exc:
    progress_box.empty()
    st.error(f"Could not backtest {ticker}: {exc}", icon=":material/error:")
    st.stop()
progress_box.empty()
for warning in result.warnings:
    st.warning(warning, icon=":material/warning:")

report = result.ev.report
learner = meta_method(report)
first, last = report["data"]["test_period"]
truth = report["data"]["regimes"]
regime_note = (
    "Shaded: the **ground-truth regime** of the simulation (bull, sideways, bear, crisis)."
    if truth == "ground truth"
    else "Shaded: **risk-on / risk-off** as a 2-state HMM sees them (fitted on the history before the test "
    "period, filtered: each day uses only the returns up to that day). Real markets have no ground-truth regimes."
    if truth
    else "No regime labels for this asset."
)
how = (
    f"computed in {result.seconds:.0f} s and cached for every later visit with these settings"
    if result.computed
    else "read from the cache: computed before with these settings"
)
st.caption(
    f"{first} to {last} ({report['data']['n_days']} trading days; {how}). {regime_note} Below the price: the position "
    f"of **{learner}** held over each day (decided at the previous close), and its {probability_label(report)} on "
    "its own 0 to 1 axis (long above the dotted 0.5 line in long / flat mode)."
)
st.plotly_chart(price_figure(result.ev, ticker, learner), key="price_chart")
_results(report, "asset", f"{cost_bps:g} bp + {slippage_bps:g} bp slippage per unit traded")

st.header("Model")
ids = meta.get("split_ids") or {}
trained_on = f"{options.get('source', '?')} data" + (
    f" up to {ids['val_period'][1]}" if (ids.get("val_period") or [None, None])[1] else ""
)
st.caption(
    f"`{display_path(checkpoint)}`: {meta.get('algorithm', '?')} meta-trained on {trained_on}; support {support} days, "
    f"query {query} days, embargo {embargo}. The pooled model was pre-trained on the same training data."
)

# ---------------------------------------------------------------------------- many tickers
many = _cross_section()
if many is not None:
    data, st_ = many["data"], many["setting"]
    learner_name = next(iter(many["cross_section"]["methods"]))
    st.header(f"Many tickers: {learner_name} against each baseline, ticker by ticker")
    st.caption(
        f"What `metasuite eval trading` measured for the 21-day regime model ({st_.get('target')}) on "
        f"{len(data['tickers'])} stocks it never saw ({data['source']}, {' to '.join(data['test_period'])}), "
        f"{st_['cost_bps']:g} bp per unit traded: each ticker's Sharpe difference (histograms; red = the mean), the "
        "bootstrap 95% interval of the mean over tickers, the share of tickers improved and the change of each "
        "ticker's max drawdown. Tickers share the market, so the interval says how consistent the difference is "
        "across these tickers in this period, not that it persists."
    )
    st.plotly_chart(cross_section_figure(many), key="cross_section_chart")
    st.table(cross_section_table(many))
    st.caption("The equal-weight portfolio of every method on the same stocks:")
    st.plotly_chart(equity_figure(many), key="cross_section_equity_chart")
