"""Trading page: a next-day direction model adapted to the current market regime, backtested honestly.

Layout only; every number comes from :mod:`metasuite.apps.logic.trading`. Not investment advice.
"""

from __future__ import annotations

import hashlib
from typing import Any

import streamlit as st

from metasuite.apps.logic import display_path
from metasuite.apps.logic.trading import (
    DEFAULT_COST_BPS,
    DISCLAIMER,
    PAGE_N_BOOT,
    PERCENT_COLUMNS,
    POSITION_LABELS,
    SOURCE_LABELS,
    MarketData,
    TradingEvaluation,
    arch_market,
    checkpoint_for,
    checkpoint_meta,
    csv_market,
    decision_days,
    default_test_period,
    equity_figure,
    load_methods,
    meta_method,
    metrics_table,
    price_figure,
    run_backtest,
    synthetic_market,
    yfinance_market,
)
from metasuite.core.errors import CheckpointError, DataError

st.set_page_config(page_title="Trading · metasuite", page_icon=":material/candlestick_chart:", layout="wide")


@st.cache_resource(show_spinner="Simulating the synthetic test market…")
def _synthetic(options: dict[str, Any]) -> MarketData:
    return synthetic_market(options)


@st.cache_resource(show_spinner="Loading the index history shipped with arch…")
def _arch(name: str) -> MarketData:
    return arch_market(name)


@st.cache_resource(show_spinner="Reading the uploaded CSV…", max_entries=4)
def _csv(digest: str, name: str, _data: bytes) -> MarketData:
    return csv_market(_data, name)


@st.cache_resource(show_spinner="Downloading from Yahoo Finance…", max_entries=4)
def _yfinance(ticker: str) -> MarketData:
    return yfinance_market(ticker)


@st.cache_resource(
    show_spinner="Walk-forward backtest: adapting every query window, then the baselines…", max_entries=16
)
def _backtest(key: tuple, _market: MarketData, checkpoint: str) -> tuple[TradingEvaluation, list[str]]:
    _, ticker, start, end, cost_bps, slippage_bps, position = key
    methods, meta = load_methods(checkpoint)
    return run_backtest(
        methods,
        meta,
        _market,
        ticker,
        start,
        end,
        cost_bps=cost_bps,
        slippage_bps=slippage_bps,
        position=position,
    )


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
st.markdown(
    f"A **task is one asset at one date**. Every {query} trading days the meta-learned model adapts to the "
    f"current regime from the **support**: the last **{support} trading days** whose next-day moves are already "
    f"known ({embargo} day of embargo before the decision). It then gives, for each of the **next {query} days** "
    "(the **query**), the probability that the close goes up the next day, from that day's price features. "
    "The position decided at a close is **held over the next day** (one-day execution lag) and every change of "
    "position pays the costs. The **pooled** model learned from the same training tasks but never adapts; "
    "**scratch** trains a fresh network on each support window alone; the rules need no training."
)

# ---------------------------------------------------------------------------- data
data_key = source
try:
    if source == "synthetic":
        market = _synthetic(options if options.get("source", "synthetic") == "synthetic" else {})
        st.caption(
            "The synthetic **test market**: simulated with its own seed and regime path, never seen in training."
        )
    elif source in ("sp500", "nasdaq"):
        market = _arch(source)
    elif source == "csv":
        with st.sidebar:
            upload = st.file_uploader(
                "CSV: date,open,high,low,close,volume[,Name] (one ticker per Name)", type=["csv"], key="csv_upload"
            )
        if upload is None:
            st.info(
                "Upload a CSV of daily bars in the market-sample layout (`date,open,high,low,close,volume,Name`), "
                "at least about 1.5 years per ticker.",
                icon=":material/upload:",
            )
            st.stop()
        data = upload.getvalue()
        data_key = hashlib.sha256(data).hexdigest()
        market = _csv(data_key, upload.name, data)
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
    st.error(f"Could not load the {SOURCE_LABELS[source]} data: {exc}", icon=":material/error:")
    st.stop()

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

try:
    with st.spinner("Loading the meta-learner and pre-training the pooled model (once per checkpoint)…"):
        load_methods(checkpoint)
    key = (data_key, ticker, str(start), str(end), float(cost_bps), float(slippage_bps), position)
    ev, warnings = _backtest(key, market, str(checkpoint))
except (DataError, CheckpointError) as exc:
    st.error(f"Could not backtest {ticker}: {exc}", icon=":material/error:")
    st.stop()
for warning in warnings:
    st.warning(warning, icon=":material/warning:")

report = ev.report
learner = meta_method(report)
days = report["data"]["n_days"]
first, last = report["data"]["test_period"]

# ---------------------------------------------------------------------------- charts and table
st.header(f"{ticker}: price, regimes and positions")
truth = report["data"]["regimes"]
regime_note = (
    "Shaded: the **ground-truth regime** of the simulation (bull, sideways, bear, crisis)."
    if truth == "ground truth"
    else "Shaded: **risk-on / risk-off** as a 2-state HMM sees them (fitted on the history before the test "
    "period, filtered: each day uses only the returns up to that day). Real markets have no ground-truth regimes."
    if truth
    else "No regime labels for this asset."
)
st.caption(
    f"{first} to {last} ({days} trading days). {regime_note} Below: the position of **{learner}** held over each "
    "day (decided at the previous close) and its probability of 'up'."
)
st.plotly_chart(price_figure(ev, ticker, learner), key="price_chart")

st.header("All methods")
st.caption(
    f"Growth of 1 unit of capital after costs ({cost_bps:g} bp + {slippage_bps:g} bp slippage per unit traded) and "
    "drawdown from the running peak."
)
st.plotly_chart(equity_figure(ev), key="equity_chart")

table = metrics_table(report)
table[list(PERCENT_COLUMNS)] *= 100.0  # fractions shown as percentages with one decimal
config: dict[str, Any] = {c: st.column_config.NumberColumn(c, format="%.1f%%", width="small") for c in PERCENT_COLUMNS}
for c, digits in (("Sharpe", 2), ("Sortino", 2), ("Calmar", 2), ("turnover / yr", 1)):
    config[c] = st.column_config.NumberColumn(c, format=f"%.{digits}f", width="small")
st.dataframe(table, column_config=config, key="metrics_table")
vs = report["methods"][learner]["vs"]
parts = [f"{ref}: {v['diff']:+.2f} [{v['lo']:.2f}, {v['hi']:.2f}]" for ref, v in vs.items()]
st.caption(
    "Sharpe: annualised, zero risk-free rate, with a 95% stationary-bootstrap interval "
    f"({PAGE_N_BOOT} resamples). Turnover: units traded per year; exposure: mean |position|. "
    + (f"Sharpe difference of {learner} (paired bootstrap 95% CI) vs " + "; ".join(parts) + "." if parts else "")
)

st.header("Model")
ids = meta.get("split_ids") or {}
trained_on = f"{options.get('source', '?')} data" + (
    f" up to {ids['val_period'][1]}" if (ids.get("val_period") or [None, None])[1] else ""
)
st.caption(
    f"`{display_path(checkpoint)}`: {meta.get('algorithm', '?')} meta-trained on {trained_on}; support {support} days, "
    f"query {query} days, embargo {embargo}. The pooled model was pre-trained on the same training data."
)
