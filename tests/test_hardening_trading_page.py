"""Hardening of the Trading page (issue rows 9, 12 and 6's page part).

Row 9: the page's first load took ~104 s behind a bare spinner (pre-training the pooled model and the walk-forward
of the default asset came before anything was drawn). The shipped evaluation is now drawn first, the asset's
backtest follows with its progress in stages, on one torch thread (two threads stalled on a busy two-core
machine), and is kept in a disk cache keyed by everything it depends on, so that another session reads it at once.
Timing itself is measured by ``metasuite bench app``, not here.

Row 12: the legend covered the price curve, P(up) was drawn flat on the position axis, the metrics table was cut
off on the right (what the browser sees is checked in ``tests/test_browser.py``).

Row 6: an uploaded CSV's data notes are shown on the page, and the loader's ``missing`` / ``allow_jumps`` options
are page controls, named in the error that asks for them.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from streamlit.testing.v1 import AppTest

import metasuite.apps.logic.trading as trading
from metasuite.apps.logic import APPS_DIR
from metasuite.apps.logic.trading import (
    METRIC_GROUPS,
    SHIPPED_EVALS,
    UPLOAD_CONTROLS,
    MarketData,
    backtest_key,
    cached_backtest,
    csv_market,
    data_notes,
    decision_days,
    equity_figure,
    metrics_table,
    price_figure,
    run_backtest,
    sharpe_figure,
    shipped_report,
    synthetic_market,
    upload_hint,
)
from metasuite.core.backbones import build_backbone
from metasuite.core.baselines import BaselineConfig
from metasuite.core.errors import DataError
from metasuite.core.evaluate import MetaMethod
from metasuite.core.jsonio import dumps
from metasuite.core.learners import load_learner
from metasuite.domains.trading import TradingDomain
from metasuite.domains.trading.evaluation import build_methods, default_checkpoint
from metasuite.domains.trading.synth import simulate_market

TRADING = str(APPS_DIR / "pages" / "4_Trading.py")
SHIPPED = default_checkpoint("synthetic")

needs_shipped = pytest.mark.skipif(
    not (SHIPPED / "best.safetensors").exists() or shipped_report("synthetic") is None,
    reason="the shipped synthetic trading checkpoint or its evaluation is not installed",
)


@pytest.fixture(scope="module")
def meta_only() -> tuple[list, dict]:
    """The shipped checkpoint's meta-learner alone and its JSON (no pooled pre-training)."""
    learner, meta = load_learner(SHIPPED)
    return [MetaMethod(learner)], meta


@pytest.fixture(scope="module")
def synthetic(meta_only: tuple[list, dict]) -> MarketData:
    return synthetic_market(meta_only[1]["domain_options"])


@pytest.fixture(scope="module")
def last_year(meta_only: tuple[list, dict], synthetic: MarketData) -> tuple[pd.Timestamp, pd.Timestamp]:
    _, end = decision_days(synthetic, "TEST0-0", meta_only[1]["domain_options"])
    return end - pd.DateOffset(years=1), end


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty app cache of this test's own: nothing computed before is found."""
    monkeypatch.setenv("METASUITE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "app" / "trading"


# ---------------------------------------------------------------------------- row 9: shipped results first
@needs_shipped
def test_the_shipped_evaluation_is_drawn_before_any_backtest_is_computed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first chart and table come from data/eval/trading/synthetic.json; the asset's backtest only follows."""
    shipped = shipped_report("synthetic")
    events: list[str] = []
    drawn = trading.equity_figure

    def equity(report: dict) -> object:
        events.append("shipped equity" if report is shipped or report == shipped else "asset equity")
        return drawn(report)

    def no_backtest(*args: object, **kwargs: object) -> None:
        events.append("backtest")
        raise DataError("not computed in this test")

    monkeypatch.setattr(trading, "equity_figure", equity)
    monkeypatch.setattr(trading, "cached_backtest", no_backtest)
    at = AppTest.from_file(TRADING, default_timeout=120).run()
    assert not at.exception
    assert events == ["shipped equity", "backtest"]
    charts = {c.key: c for c in at.get("plotly_chart")}
    assert set(charts) == {"shipped_equity_chart", "shipped_sharpe_chart"}
    # the shipped portfolio's equity curves and Sharpe intervals, as `metasuite eval trading` recorded them
    figure = equity_figure(shipped)
    names = list(shipped["methods"])
    assert [t.name for t in figure.data[0::2]] == names
    for name, trace in zip(names, figure.data[0::2], strict=True):
        assert trace.y[-1] == pytest.approx(shipped["curves"]["equity"][name][-1])
        assert len(trace.x) == shipped["data"]["n_days"]
    sharpe = sharpe_figure(shipped)
    for name, trace in zip(names, sharpe.data, strict=True):
        p = shipped["methods"][name]["portfolio"]
        assert trace.y == (name,) and trace.x[0] == pytest.approx(p["sharpe"])
        assert trace.x[0] + trace.error_x.array[0] == pytest.approx(p["sharpe_hi"])
        assert trace.x[0] - trace.error_x.arrayminus[0] == pytest.approx(p["sharpe_lo"])
    table = at.dataframe[0].value
    assert list(table.index) == names and table["Sharpe"].tolist() == pytest.approx(
        metrics_table(shipped)["Sharpe"].tolist()
    )
    assert any("Could not backtest TEST0-0" in e.value for e in at.error)


@needs_shipped
def test_each_source_with_a_shipped_evaluation_has_one_and_an_override_has_none() -> None:
    for source in SHIPPED_EVALS:
        report = shipped_report(source)
        assert report is not None and report["kind"] == "backtest" and report["curves"]["equity"]
        assert metrics_table(report).index.tolist() == list(report["methods"])
    assert shipped_report("sp500")["data"]["tickers"] == ["SP500", "NASDAQ"]
    assert shipped_report("csv") is None and shipped_report("yfinance") is None
    assert shipped_report("synthetic", override="runs/mine") is None  # results of another checkpoint


# ---------------------------------------------------------------------------- row 9: the disk cache
@needs_shipped
def test_a_computed_backtest_is_reused_from_the_disk_cache(
    meta_only: tuple[list, dict], synthetic: MarketData, last_year, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    start, end = last_year
    monkeypatch.setattr(trading, "load_methods", lambda checkpoint, progress=None: meta_only)
    first = cached_backtest(SHIPPED, synthetic, "TEST0-0", start, end, cost_bps=5.0)
    assert first.computed
    (stored,) = cache.glob("backtest-TEST0-0-*.pkl")

    def no_methods(*args: object, **kwargs: object) -> None:
        raise AssertionError("a cached backtest must not load (or pre-train) the methods again")

    monkeypatch.setattr(trading, "load_methods", no_methods)
    heard: list[str] = []
    again = cached_backtest(
        SHIPPED, synthetic, "TEST0-0", start, end, cost_bps=5.0, progress=lambda s, f: heard.append(s)
    )
    assert not again.computed and heard == []
    assert dumps(again.ev.report) == dumps(first.ev.report) and again.warnings == first.warnings  # NaN != NaN
    pd.testing.assert_frame_equal(again.ev.portfolio, first.ev.portfolio)
    # the same backtest for a session with its own copy of the data: the key is the content, not the object
    copy = synthetic_market(meta_only[1]["domain_options"])
    assert not cached_backtest(SHIPPED, copy, "TEST0-0", start, end, cost_bps=5.0).computed
    # a damaged file is computed again and rewritten
    stored.write_bytes(b"not a pickle")
    monkeypatch.setattr(trading, "load_methods", lambda checkpoint, progress=None: meta_only)
    assert cached_backtest(SHIPPED, synthetic, "TEST0-0", start, end, cost_bps=5.0).computed
    assert not cached_backtest(SHIPPED, synthetic, "TEST0-0", start, end, cost_bps=5.0).computed


@needs_shipped
def test_the_cache_key_changes_with_everything_the_backtest_depends_on(
    meta_only: tuple[list, dict], synthetic: MarketData, last_year, monkeypatch: pytest.MonkeyPatch
) -> None:
    meta = meta_only[1]
    start, end = last_year
    base = {"cost_bps": 10.0, "slippage_bps": 0.0, "position": "long_flat", "n_boot": 1000}
    key = backtest_key(meta, synthetic, "TEST0-0", start, end, **base)
    assert key.startswith("backtest-TEST0-0-") and key.endswith(".pkl")
    assert backtest_key(meta, synthetic, "TEST0-0", str(start.date()), str(end.date()), **base) == key
    changed = [
        backtest_key(meta, synthetic, "TEST0-1", start, end, **base),
        backtest_key(meta, synthetic, "TEST0-0", start + pd.Timedelta(days=7), end, **base),
        backtest_key(meta, synthetic, "TEST0-0", start, end - pd.Timedelta(days=7), **base),
        backtest_key(meta, synthetic, "TEST0-0", start, end, **{**base, "cost_bps": 20.0}),
        backtest_key(meta, synthetic, "TEST0-0", start, end, **{**base, "slippage_bps": 1.0}),
        backtest_key(meta, synthetic, "TEST0-0", start, end, **{**base, "position": "scaled"}),
        backtest_key(meta, synthetic, "TEST0-0", start, end, **{**base, "n_boot": 300}),
        backtest_key({**meta, "tensors_sha256": "0" * 64}, synthetic, "TEST0-0", start, end, **base),
        backtest_key(
            {**meta, "domain_options": {**meta["domain_options"], "market_seed": 1}},
            synthetic,
            "TEST0-0",
            start,
            end,
            **base,
        ),
    ]
    # one price one day before the end (a re-uploaded file with one changed row)
    prices = dict(synthetic.prices)
    edited = prices["TEST0-0"].copy()
    edited.iloc[-30, edited.columns.get_loc("close")] *= 1.001
    prices["TEST0-0"] = edited
    changed.append(
        backtest_key(meta, MarketData(prices, "synthetic", synthetic.regimes), "TEST0-0", start, end, **base)
    )
    # the trading code itself (new baselines, refit rules) with an unchanged version: a stale backtest left in the
    # cache by older code once served the page 7 methods instead of 9
    monkeypatch.setattr(trading, "_code_digest", lambda: "another code version")
    changed.append(backtest_key(meta, synthetic, "TEST0-0", start, end, **base))
    monkeypatch.undo()
    assert len({key, *changed}) == len(changed) + 1
    # prices after the test period play no part
    later = dict(synthetic.prices)
    later["TEST0-0"] = synthetic.prices["TEST0-0"].loc[:end]
    assert backtest_key(meta, MarketData(later, "synthetic", synthetic.regimes), "TEST0-0", start, end, **base) == key


# ---------------------------------------------------------------------------- row 9: progress in stages
@needs_shipped
def test_a_backtest_reports_its_stages_and_runs_on_one_torch_thread(
    synthetic: MarketData, last_year, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    start, end = last_year
    pretrained: list[tuple] = []

    def untrained_pooled(domain: TradingDomain, steps: int, batch_size: int, seed: int = 0) -> torch.nn.Module:
        pretrained.append((steps, batch_size, seed))  # what models.pooled_model would pre-train (not done here)
        name, kwargs = domain.backbone_spec("pretrain", domain.n_classes_total())
        return build_backbone(name, **kwargs).eval()

    monkeypatch.setattr(trading, "pooled_model", untrained_pooled)
    stages: list[tuple[str, float, int]] = []
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        result = cached_backtest(
            SHIPPED,
            synthetic,
            "TEST0-0",
            start,
            end,
            progress=lambda s, f: stages.append((s, f, torch.get_num_threads())),
        )
        assert torch.get_num_threads() == 2  # restored
    finally:
        torch.set_num_threads(before)
    assert result.computed
    # the pooled model of `metasuite eval trading` (build_methods): the domain's baseline settings, seed 0
    options = load_learner(SHIPPED)[1]["domain_options"]
    config = BaselineConfig(**{**TradingDomain(**options).default_baselines(), "seed": 0})
    assert pretrained == [(config.pretrain_steps, config.pretrain_batch_size, 0)]
    labels = [s for s, _, _ in stages]
    assert labels[0] == "loading the meta-learner"
    assert labels[1].startswith(f"pre-training the pooled model ({config.pretrain_steps} steps")
    assert "loading the prices and features of TEST0-0" in labels
    windows = math.ceil(result.ev.report["data"]["n_days"] / 21)
    names = list(result.ev.report["methods"])[:3]
    for i, name in enumerate(names, 1):
        for j in (1, windows):
            assert f"walk-forward on TEST0-0: method {i} of 3 ({name}), window {j} of {windows}" in labels
    assert labels[-2].startswith("TEST0-0: rule baselines, the 2-state HMM and the bootstrap intervals")
    assert labels[-1] == "done"
    fractions = [f for _, f, _ in stages]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert all(threads == 1 for s, _, threads in stages if s.startswith("walk-forward"))


@needs_shipped
def test_the_pages_methods_are_those_of_the_command_line(meta_only: tuple[list, dict], monkeypatch) -> None:
    """Same names, kinds and pooled settings as build_methods (which the CLI uses), the pooled model from the cache."""
    calls: list[tuple] = []

    def pooled(domain: TradingDomain, steps: int, batch_size: int, seed: int = 0) -> torch.nn.Module:
        calls.append((domain.fingerprint(), steps, batch_size, seed))
        name, kwargs = domain.backbone_spec("pretrain", domain.n_classes_total())
        return build_backbone(name, **kwargs).eval()

    monkeypatch.setattr(trading, "pooled_model", pooled)
    methods, meta = trading.load_methods(SHIPPED)
    domain = TradingDomain(**meta["domain_options"])
    monkeypatch.setattr(
        "metasuite.domains.trading.evaluation.pretrain",
        lambda d, cfg, progress=True: (
            calls.append((d.fingerprint(), cfg.pretrain_steps, cfg.pretrain_batch_size, cfg.seed))
            or pooled(d, cfg.pretrain_steps, cfg.pretrain_batch_size)
        ),
    )
    reference, _, _ = build_methods([SHIPPED], domain, progress=False)
    assert [(m.name, m.kind, type(m)) for m in methods] == [(m.name, m.kind, type(m)) for m in reference]
    assert calls[0] == calls[-1] and calls[0][0] == domain.fingerprint()
    assert methods[-1].config == reference[-1].config  # scratch


# ---------------------------------------------------------------------------- row 12: the figures
@needs_shipped
def test_p_up_has_its_own_0_to_1_axis_and_no_legend_covers_a_plot(
    meta_only: tuple[list, dict], synthetic: MarketData, last_year
) -> None:
    ev, _ = run_backtest(*meta_only, synthetic, "TEST0-0", *last_year)
    price = price_figure(ev, "TEST0-0")
    position, p_up = price.data[-2:]
    assert position.yaxis == "y2" and p_up.yaxis == "y3" and p_up.name.endswith("P(up)")
    assert price.layout.yaxis3.title.text == "P(up)"
    assert tuple(price.layout.yaxis3.range) == (0, 1) and tuple(price.layout.yaxis2.range)[1] == pytest.approx(1.05)
    assert [s.y0 for s in price.layout.shapes if s.type == "line" and s.yref == "y3"] == [0.5]  # the long/flat switch
    for figure in (price, equity_figure(ev.report), equity_figure(shipped_report("synthetic"))):
        legend = figure.layout.legend
        # one row above the top of the plots: anchored at its bottom edge, above the plot area
        assert legend.orientation == "h" and legend.yanchor == "bottom" and legend.y >= 1.0
        assert legend.traceorder == "normal"  # a legend group would stack its entries into a column
    assert not [t.legendgroup for t in price.data if t.legendgroup]
    assert not any(t.showlegend for t in sharpe_figure(ev.report).data)  # methods are named on its axis


@needs_shipped
def test_the_metrics_are_shown_as_tables_narrow_enough_for_the_page(monkeypatch: pytest.MonkeyPatch) -> None:
    shipped = shipped_report("synthetic")
    table = metrics_table(shipped)
    shown = [c for columns in METRIC_GROUPS.values() for c in columns]
    assert sorted(shown) == sorted(table.columns) and len(shown) == len(set(shown))  # each column once
    assert all(len(columns) <= 6 for columns in METRIC_GROUPS.values())

    def no_backtest(*args: object, **kwargs: object) -> None:
        raise DataError("not computed in this test")

    monkeypatch.setattr(trading, "cached_backtest", no_backtest)
    at = AppTest.from_file(TRADING, default_timeout=120).run()
    assert [list(df.proto.column_order) for df in at.dataframe] == [list(c) for c in METRIC_GROUPS.values()]


# ---------------------------------------------------------------------------- row 6: an upload's notes and options
def _csv(path: Path, *, gap_row: int | None = None, jump_row: int | None = None, unsorted: bool = False) -> bytes:
    """One simulated ticker (SYN0, 1600 days) in the market-sample layout, with a missing close on ``gap_row`` and
    every price from ``jump_row`` on 60% higher (an overnight move no split explains)."""
    frame = simulate_market(1600, 1, seed=5).prices["SYN0"].rename_axis("date").reset_index().assign(Name="SYN0")
    if gap_row is not None:
        frame.loc[gap_row, "close"] = np.nan
    if jump_row is not None:
        frame.loc[jump_row:, ["open", "high", "low", "close"]] *= 1.6
    if unsorted:
        frame = pd.concat([frame.iloc[10:20], frame.drop(index=range(10, 20))])
    frame.to_csv(path, index=False, date_format="%Y-%m-%d", float_format="%.4f")
    return path.read_bytes()


def test_loader_errors_name_the_page_control_that_fixes_them(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="missing=drop") as missing:
        csv_market(_csv(tmp_path / "a.csv", gap_row=900), "prices.csv")
    assert UPLOAD_CONTROLS["missing"][1] in upload_hint(str(missing.value))
    with pytest.raises(DataError, match="allow_jumps=true") as jump:
        csv_market(_csv(tmp_path / "b.csv", jump_row=1200), "prices.csv")
    assert UPLOAD_CONTROLS["allow_jumps"][1] in upload_hint(str(jump.value))
    assert "no control" in upload_hint("... accept them with --option max_gap_days=40 ...")
    assert upload_hint("prices <= 0 on 2020-01-02") is None
    # the controls do what the hints say, and loading says what it changed
    market = csv_market(
        _csv(tmp_path / "c.csv", gap_row=900, jump_row=1200, unsorted=True),
        "prices.csv",
        missing="drop",
        allow_jumps=True,
    )
    notes = data_notes(market)
    assert len(market.prices["SYN0"]) == 1599
    assert any(n.startswith("SYN0: dates were not in ascending order") for n in notes)
    assert any(n.startswith("SYN0: dropped 1 row(s) with missing prices") for n in notes)
    assert any(n.startswith("SYN0: kept 1 overnight move(s) beyond 35%") for n in notes)


@needs_shipped
def test_the_page_shows_an_uploads_notes_and_offers_its_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not (default_checkpoint("csv") / "best.safetensors").exists():
        pytest.skip("no shipped real-data trading checkpoint")

    def no_backtest(*args: object, **kwargs: object) -> None:
        raise DataError("not computed in this test")

    monkeypatch.setattr(trading, "cached_backtest", no_backtest)
    at = AppTest.from_file(TRADING, default_timeout=120).run()
    at.radio(key="source").set_value("csv").run()
    upload = ("prices.csv", _csv(tmp_path / "p.csv", gap_row=900, jump_row=1200), "text/csv")
    at.file_uploader(key="csv_upload").set_value(upload).run()
    assert not at.exception
    (error,) = [e.value for e in at.error]
    assert "missing=drop" in error and f"tick **{UPLOAD_CONTROLS['missing'][1]}**" in error
    at.checkbox(key="csv_drop_missing").check().run()
    (error,) = [e.value for e in at.error]
    assert "allow_jumps=true" in error and f"tick **{UPLOAD_CONTROLS['allow_jumps'][1]}**" in error
    at.checkbox(key="csv_allow_jumps").check().run()
    assert not at.exception
    assert any("Loading the data changed or flagged 2 thing(s)" in w.value for w in at.warning)
    (notes,) = [e for e in at.expander if e.label == "Data notes (2)"]
    text = " ".join(m.value for m in notes.markdown)
    assert "SYN0: dropped 1 row(s) with missing prices" in text and "SYN0: kept 1 overnight move(s)" in text
    assert at.selectbox(key="ticker").options == ["SYN0"]
    assert [e.value for e in at.error] == ["Could not backtest SYN0: not computed in this test"]
