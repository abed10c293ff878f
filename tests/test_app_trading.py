"""The Trading page's logic (data sources, the one-asset backtest, figures) and the page itself through AppTest.

The shipped checkpoints (``data/checkpoints/trading/fomaml-*``) are used when present; otherwise a
stand-in meta-trained for a few steps, typed into the page's checkpoint box. No network.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from metasuite.apps.cli import main
from metasuite.apps.logic import APPS_DIR
from metasuite.apps.logic.trading import (
    METRIC_COLUMNS,
    PERCENT_COLUMNS,
    REGIME_COLOURS,
    TARGET_TEXT,
    MarketData,
    RegimeRun,
    arch_market,
    csv_market,
    decision_days,
    default_test_period,
    equity_figure,
    meta_method,
    metrics_table,
    price_figure,
    regime_runs,
    run_backtest,
    synthetic_market,
    target_text,
    yfinance_market,
)
from metasuite.core.errors import DataError
from metasuite.core.evaluate import MetaMethod
from metasuite.core.learners import load_learner
from metasuite.domains.trading.evaluation import DISCLAIMER, RULE_NAMES, default_checkpoint
from metasuite.domains.trading.synth import simulate_market
from metasuite.domains.trading.targets import TARGETS

TRADING = str(APPS_DIR / "pages" / "4_Trading.py")
LEARNED = ("pooled (no adaptation)", "scratch")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped synthetic checkpoint, or a stand-in first-order MAML meta-trained for 20 steps."""
    shipped = default_checkpoint("synthetic")
    if (shipped / "best.safetensors").exists():
        return shipped
    out = tmp_path_factory.mktemp("trading") / "fomaml"
    args = ["--steps", "20", "--val-every", "20", "--val-tasks", "8", "--out", str(out), "--quiet"]
    assert main(["train", "trading", "--algo", "fomaml", *args]) == 0
    return out


@pytest.fixture(scope="module")
def methods(checkpoint: Path) -> tuple[list, dict]:
    """The checkpoint's meta-learner alone and its JSON: the logic tests skip the pooled model's pre-training
    (tens of seconds), which only the page tests pay, once (:func:`load_methods` keeps it per process)."""
    learner, meta = load_learner(checkpoint)
    return [MetaMethod(learner)], meta


@pytest.fixture(scope="module")
def synthetic(methods: tuple[list, dict]) -> MarketData:
    return synthetic_market(methods[1]["domain_options"])


@pytest.fixture(scope="module")
def one_year(methods: tuple[list, dict], synthetic: MarketData):
    """TEST0-0's walk-forward over the last year of the test market."""
    _, end = decision_days(synthetic, "TEST0-0", methods[1]["domain_options"])
    return run_backtest(*methods, synthetic, "TEST0-0", end - pd.DateOffset(years=1), end)[0]


def _market_csv(path: Path, n_days: int = 1600) -> bytes:
    """Two simulated tickers in the market-sample layout: date,open,high,low,close,volume,Name."""
    market = simulate_market(n_days, 2, seed=3)
    frames = [df.rename_axis("date").reset_index().assign(Name=t) for t, df in market.prices.items()]
    pd.concat(frames).to_csv(path, index=False, date_format="%Y-%m-%d", float_format="%.4f")
    return path.read_bytes()


# ---------------------------------------------------------------------------- data sources and periods
def test_synthetic_market_is_the_checkpoints_independent_test_market(synthetic: MarketData) -> None:
    assert synthetic.source == "synthetic" and synthetic.tickers[0] == "TEST0-0"
    assert synthetic.regimes is not None and set(synthetic.regimes) == set(synthetic.tickers)
    assert set(synthetic.regimes["TEST0-0"].unique()) <= {"bull", "bear", "sideways", "crisis"}


def test_default_test_periods_follow_the_domain(methods: tuple[list, dict], synthetic: MarketData) -> None:
    meta = methods[1]
    first, last = decision_days(synthetic, "TEST0-0", meta["domain_options"])
    # synthetic: the whole independent test market after the 252-day warm-up, embargo and support
    assert default_test_period(synthetic, "TEST0-0", meta) == (first, last)
    assert synthetic.prices["TEST0-0"].index.get_loc(first) == 252 + 1 + 126
    # an index the checkpoint trained on: the first trading day after its validation period
    sp500 = arch_market("sp500")
    trained = {
        "domain_options": {"source": "indices", "support_days": 126, "query_days": 21, "embargo": 1},
        "split_ids": {
            "train": ["SP500", "NASDAQ"],
            "val": ["SP500", "NASDAQ"],
            "val_period": ["2011-06-01", "2014-12-31"],
        },
    }
    assert sp500.source == "indices" and sp500.tickers == ["SP500"]
    assert default_test_period(sp500, "SP500", trained)[0] == pd.Timestamp("2015-01-02")
    # an asset it never saw: the domain's own split, the last 20% of the usable days
    start, end = default_test_period(sp500, "SP500", {"domain_options": trained["domain_options"]})
    assert pd.Timestamp("2014-06-01") < start < pd.Timestamp("2016-01-01") and end == sp500.prices["SP500"].index[-1]


def test_an_uploaded_csv_evaluates_through_the_logic(methods: tuple[list, dict], tmp_path: Path) -> None:
    market = csv_market(_market_csv(tmp_path / "sample.csv"), "sample.csv")
    assert market.source == "csv" and market.tickers == ["SYN0", "SYN1"] and market.regimes is None
    start, end = default_test_period(market, "SYN1", methods[1])
    dates = market.prices["SYN1"].index
    usable = dates[252 + 1 + 126 :]  # after the feature warm-up, embargo and support
    assert end == dates[-1] and 0.19 < (usable >= start).mean() < 0.21  # the domain's split: the last 20%
    ev, warnings = run_backtest(*methods, market, "SYN1", start, end, cost_bps=5.0, position="scaled")
    report = ev.report
    assert report["data"]["tickers"] == ["SYN1"] and report["data"]["source"] == "csv"
    assert report["data"]["test_period"] == [str(start.date()), str(end.date())]
    assert report["data"]["n_days"] == int(((dates >= start) & (dates <= end)).sum())
    assert report["setting"]["cost_bps"] == 5.0 and report["setting"]["position"] == "scaled"
    assert list(report["methods"]) == [meta_method(report), *RULE_NAMES]
    assert report["data"]["regimes"] == "HMM 2-state (filtered, per asset)"
    assert set(ev.regimes["SYN1"].dropna().unique()) <= {"risk-on", "risk-off"}
    assert warnings == []


def test_bad_uploads_and_an_offline_download_raise_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="is empty"):
        csv_market(b"", "empty.csv")
    with pytest.raises(DataError, match="close"):
        csv_market(b"date,open,high,low,volume,Name\n2020-01-02,1,2,0.5,10,X\n", "no_close.csv")

    def offline(*args: object, **kwargs: object) -> pd.DataFrame:
        raise OSError("Could not resolve host: query1.finance.yahoo.com")

    with pytest.raises(DataError, match=r"ticker 'SPY': no data .*resolve host.* cache .*SPY\.parquet does not exist"):
        yfinance_market("spy", cache_dir=tmp_path, download=offline)


def test_the_test_period_must_end_after_it_starts(methods: tuple[list, dict], synthetic: MarketData) -> None:
    with pytest.raises(DataError, match="must end after it starts"):
        run_backtest(*methods, synthetic, "TEST0-0", "2033-01-03", "2033-01-03")
    with pytest.raises(DataError, match="'NOPE' is not in the loaded data"):
        run_backtest(*methods, synthetic, "NOPE", "2033-01-03", "2034-01-03")


# ---------------------------------------------------------------------------- table and figures
def test_regime_runs_are_maximal_and_skip_unlabelled_days() -> None:
    days = pd.bdate_range("2030-01-01", periods=7)
    labels = pd.Series(["bull", "bull", "bear", np.nan, "bear", "crisis", "crisis"], index=days)
    assert regime_runs(labels) == [
        RegimeRun("bull", days[0], days[1]),
        RegimeRun("bear", days[2], days[2]),
        RegimeRun("bear", days[4], days[4]),
        RegimeRun("crisis", days[5], days[6]),
    ]
    assert regime_runs(labels.iloc[:0]) == []


def test_metrics_table_holds_every_method_in_report_order(one_year) -> None:
    report = one_year.report
    table = metrics_table(report)
    assert list(table.index) == list(report["methods"])
    assert list(table.columns) == ["kind", *METRIC_COLUMNS.values()]
    learner = meta_method(report)
    assert table.loc[learner, "kind"] == "meta-learned, adapted" and table.loc["buy & hold", "kind"] == "rule"
    p = report["methods"][learner]["portfolio"]
    assert table.loc[learner, "Sharpe"] == p["sharpe"] and table.loc[learner, "max drawdown"] == p["max_drawdown"]
    assert table.loc[learner, "Sharpe 95% CI"] == f"[{p['sharpe_lo']:.2f}, {p['sharpe_hi']:.2f}]"
    assert (table.loc[:, "exposure"].between(0, 1)).all() and set(PERCENT_COLUMNS) <= set(table.columns)


def test_price_figure_shades_each_regime_run_and_shows_the_positions(one_year) -> None:
    fig = price_figure(one_year, "TEST0-0")
    runs = regime_runs(one_year.regimes["TEST0-0"])
    shapes = [s for s in fig.layout.shapes if s.type == "rect"]
    assert len(runs) >= 2 and len(shapes) == len(runs)
    for k, (run, shape) in enumerate(zip(runs, shapes, strict=True)):
        assert pd.Timestamp(shape.x0) == run.first
        assert pd.Timestamp(shape.x1) == (runs[k + 1].first if k + 1 < len(runs) else run.last)
        assert shape.fillcolor == REGIME_COLOURS[run.label] and shape.yref == "y domain"
    close, *legend, position, p_up = fig.data
    assert np.allclose(close.y, one_year.prices["TEST0-0"]["close"])
    assert [t.name for t in legend] == list(dict.fromkeys(r.label for r in runs))
    daily = one_year.daily[meta_method(one_year.report)]["TEST0-0"]
    assert position.line.shape == "hv" and position.yaxis == "y2"
    assert np.array_equal(position.y, daily["position"].to_numpy()) and set(np.unique(position.y)) <= {0.0, 1.0}
    assert np.allclose(p_up.y, daily["p_up"].to_numpy(), equal_nan=True)


def test_equity_figure_has_every_methods_equity_and_drawdown(one_year) -> None:
    fig = equity_figure(one_year.report)
    names = list(one_year.report["methods"])
    equity, drawdowns = fig.data[0::2], fig.data[1::2]
    assert [t.name for t in equity] == names and [t.showlegend for t in drawdowns] == [False] * len(names)
    for name, eq, dd in zip(names, equity, drawdowns, strict=True):
        assert eq.y[-1] == pytest.approx(one_year.report["curves"]["equity"][name][-1], rel=1e-5)
        assert eq.y[-1] == pytest.approx((1.0 + one_year.portfolio[name].fillna(0.0)).prod(), rel=1e-5)
        assert max(dd.y) <= 0.0 and dd.yaxis == "y2"
    assert fig.layout.yaxis.type == "log"


# ---------------------------------------------------------------------------- the page
def _run(checkpoint: Path, source: str = "synthetic") -> AppTest:
    """The page on ``source``, with the test checkpoint typed in when the shipped one is missing."""
    at = AppTest.from_file(TRADING, default_timeout=300).run()
    if source != "synthetic":
        at.radio(key="source").set_value(source).run()
    if not (default_checkpoint(source) / "best.safetensors").exists():
        assert not at.exception
        assert any("No trading checkpoint at" in e.value for e in at.error) and not at.dataframe
        at.text_input(key="checkpoint").input(str(checkpoint)).run()
    assert not at.exception
    return at


def _figure(at: AppTest, key: str) -> dict:
    (chart,) = [c for c in at.get("plotly_chart") if c.key == key]
    return json.loads(chart.proto.spec)


def _asset_table(at: AppTest) -> pd.DataFrame:
    """The asset backtest's metrics (every column; the page shows them as two tables, the last two on the page)."""
    return at.dataframe[-2].value


@pytest.mark.slow
def test_trading_page_renders_the_disclaimer_charts_and_metrics(checkpoint: Path, synthetic: MarketData) -> None:
    at = _run(checkpoint)
    assert at.title[0].value == "Trading"
    assert at.warning[0].value == DISCLAIMER  # first thing under the title
    assert at.selectbox(key="ticker").options == synthetic.tickers and at.selectbox(key="ticker").value == "TEST0-0"
    assert at.number_input(key="cost_bps").value == 10.0
    start, end = default_test_period(synthetic, "TEST0-0", load_learner(checkpoint)[1])
    assert (at.date_input(key="test_start").value, at.date_input(key="test_end").value) == (start.date(), end.date())
    table = _asset_table(at)
    assert list(table.index) == [load_learner(checkpoint)[0].name, *LEARNED, *RULE_NAMES]
    assert "Sharpe 95% CI" in table.columns
    assert {"price_chart", "asset_equity_chart", "asset_sharpe_chart"} <= {c.key for c in at.get("plotly_chart")}
    assert {s["fillcolor"] for s in _figure(at, "price_chart")["layout"]["shapes"] if s["type"] == "rect"} <= set(
        REGIME_COLOURS.values()
    )
    assert any("ground-truth regime" in c.value for c in at.caption)
    at.number_input(key="cost_bps").set_value(50.0).run()
    assert not at.exception
    dearer = _asset_table(at)
    traded = table["turnover / yr"] > 0  # same positions, five times the costs: every trader earns less
    assert traded.all() and (dearer["CAGR"] < table["CAGR"]).all()


@pytest.mark.slow
def test_the_sp500_source_backtests_the_arch_history_offline(checkpoint: Path) -> None:
    at = _run(checkpoint, "sp500")
    assert at.selectbox(key="ticker").options == ["SP500"]
    table = _asset_table(at)
    assert table["kind"].iloc[0] == "meta-learned, adapted" and list(table.index[1:3]) == list(LEARNED)
    labels = {t["name"] for t in _figure(at, "price_chart")["data"][1:-2]}
    assert labels <= {"risk-on", "risk-off"} and labels
    assert any("2-state HMM" in c.value for c in at.caption)


def test_the_page_says_what_the_checkpoint_predicts() -> None:
    """The intro names the checkpoint's target: a regime model's support labels are not next-day moves."""
    assert target_text({}) == target_text({"target": "direction"})
    assert "goes up the next day" in target_text({})[1]
    assert "bull" in target_text({"target": "regime21"})[1] and "21-day" in target_text({"target": "regime21"})[0]
    assert "jump model" in target_text({"target": "jump21"})[1]
    assert set(TARGET_TEXT) == set(TARGETS)  # a new target needs its words on the page
