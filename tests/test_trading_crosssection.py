"""Many tickers (issue 16): the cross-sectional report by hand, a CSV folder read one file at a time giving the
report of the same prices held in memory, worker processes giving the serial report, and the histogram PNG."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from metasuite.core.evaluate import MetaMethod
from metasuite.core.evaluation import EvalReport
from metasuite.core.learners import make_learner
from metasuite.domains.trading.bench import bench_trading
from metasuite.domains.trading.crosssection import POOLED, cross_section, headline
from metasuite.domains.trading.data import load_market
from metasuite.domains.trading.domain import TradingDomain
from metasuite.domains.trading.evaluation import DISCLAIMER, RULE_NAMES, WalkForwardEvaluation, walk_forward
from metasuite.domains.trading.synth import simulate_market

TEST_START = "2013-01-02"


def _entry(kind: str, sharpes: list[float], mdds: list[float]) -> dict:
    return {
        "kind": kind,
        "per_ticker": {f"T{i}": {"sharpe": s, "max_drawdown": m} for i, (s, m) in enumerate(zip(sharpes, mdds))},
    }


def test_cross_section_by_hand() -> None:
    methods = {
        "maml": _entry("meta", [1.0, 0.5, 0.2, None], [-0.10, -0.20, -0.30, -0.05]),
        "buy & hold": _entry("rule", [0.5, 0.7, 0.1, 0.3], [-0.30, -0.25, -0.30, -0.10]),
    }
    section = cross_section(methods, ["T0", "T1", "T2", "T3"])
    vs = section["methods"]["maml"]["buy & hold"]
    # T3 has no Sharpe for maml (a flat book): left out; differences +0.5, -0.2, +0.1
    assert vs["sharpe_diff"]["n"] == 3 and vs["sharpe_diff"]["diff"] == pytest.approx(0.4 / 3)
    assert vs["sharpe_diff"]["lo"] <= vs["sharpe_diff"]["diff"] <= vs["sharpe_diff"]["hi"]
    assert vs["share_improved"] == pytest.approx(2 / 3) and vs["median_sharpe_diff"] == pytest.approx(0.1)
    # drawdowns are <= 0: maml - buy & hold = +0.20, +0.05, 0, +0.05 (shallower on three of four)
    assert vs["drawdown_reduction"]["diff"] == pytest.approx(0.075)
    assert vs["share_shallower_drawdown"] == pytest.approx(0.75)
    assert "maml" in section["methods"] and "buy & hold" not in section["methods"]  # rules are not compared
    assert cross_section(methods, ["T0"]) is None


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("csv")
    market = simulate_market(1400, 3, seed=13, start="2010-01-04")
    for t, df in market.prices.items():
        frame = df.round(4).reset_index()
        frame["Name"] = t
        frame.to_csv(out / f"{t}_data.csv", index=False)
    return out


def _same(a: object, b: object) -> bool:
    """Equal as JSON (NaN, an undefined ratio, equals NaN)."""
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def _methods(domain: TradingDomain) -> list:
    return [MetaMethod(make_learner(domain, "fomaml", n_way=2, seed=1), name="fomaml")]


def test_a_folder_read_one_file_at_a_time_gives_the_in_memory_report(folder: Path) -> None:
    streamed = TradingDomain(source="csv", data_dir=str(folder), test_start=TEST_START, target="regime21")
    assert streamed.streams_test and [j.path.name for j in streamed.test_jobs()] == [
        "SYN0_data.csv",
        "SYN1_data.csv",
        "SYN2_data.csv",
    ]
    prices = load_market("csv", data_dir=folder)
    held = TradingDomain(source="csv", prices=prices, test_start=TEST_START, target="regime21")
    assert not held.streams_test
    a = walk_forward(streamed, _methods(streamed), n_boot=50, progress=False).report
    b = walk_forward(held, _methods(held), n_boot=50, progress=False).report
    assert a["data"]["tickers"] == b["data"]["tickers"] == ["SYN0", "SYN1", "SYN2"]
    assert _same(a["methods"], b["methods"]) and _same(a["cross_section"], b["cross_section"])
    held_csv = TradingDomain(source="csv", data_dir=str(folder), target="regime21", test_start=TEST_START)
    held_csv.series()  # loaded eagerly: its fingerprint is the one the streamed run rebuilt from its files
    assert a["data"]["fingerprint"] == held_csv.fingerprint()


def test_worker_processes_give_the_serial_report(folder: Path) -> None:
    domain = TradingDomain(source="csv", data_dir=str(folder), test_start=TEST_START, target="regime21")
    serial = walk_forward(domain, _methods(domain), n_boot=50, progress=False, workers=1)
    parallel = walk_forward(domain, _methods(domain), n_boot=50, progress=False, workers=2)
    assert _same(serial.report, parallel.report)
    # beyond the daily-frame limit only the metrics are kept, not every ticker's days
    lean = walk_forward(domain, _methods(domain), n_boot=50, progress=False, keep_daily=False)
    assert lean.daily == {} and lean.prices == {} and _same(lean.report["methods"], serial.report["methods"])


def test_the_tickers_histogram_is_written_next_to_the_json(folder: Path, tmp_path: Path) -> None:
    domain = TradingDomain(source="csv", data_dir=str(folder), test_start=TEST_START, target="regime21")
    report = walk_forward(domain, _methods(domain), n_boot=50, progress=False).report
    section = report["cross_section"]
    assert section["n_tickers"] == 3 and set(section["methods"]["fomaml"]) >= {"buy & hold", "jump model"}
    assert np.isfinite(section["methods"]["fomaml"]["buy & hold"]["sharpe_diff"]["diff"])
    files = WalkForwardEvaluation().write_artifacts(EvalReport(report, ""), tmp_path / "many.json", {})
    assert [f.name for f in files] == ["many-equity.png", "many-tickers.png"]
    assert all(f.stat().st_size > 10_000 for f in files)
    assert DISCLAIMER.startswith("Not investment advice")


@pytest.mark.slow
def test_the_trading_benchmark_measures_every_stage_with_every_method(capsys: pytest.CaptureFixture[str]) -> None:
    """`metasuite bench trading --quick`: each stage reported (a line per stage on stderr while it runs), the
    per-ticker work covers the regime model, the pooled model and every rule, and the many-ticker run evaluates
    both sizes with worker processes. Its timings are the benchmark's business, not asserted here."""
    report = bench_trading(quick=True)
    assert report["per_ticker"]["methods"] == ["maml", "pooled (no adaptation)", *RULE_NAMES]
    assert sorted(report["sp500_scale"]["runs"], key=int) == ["20", "40"]
    assert all(run["tickers"] == int(n) for n, run in report["sp500_scale"]["runs"].items())
    assert set(report["meets_targets"]) == {"walk_forward", "per_ticker", "sp500"}
    assert all(math.isfinite(v) and v > 0 for v in report["ratios"].values())
    assert capsys.readouterr().err.count("[bench trading]") == 5


def test_the_figure_shows_the_ensemble_against_the_pooled_ensemble() -> None:
    """With ``--ensemble`` the per-ticker figure is the ensemble's (the run's headline), and the pooled model's
    ensemble over seeds takes the pooled model's panel; without one, the first meta-learner as before."""
    vs = {b: {} for b in ("buy & hold", "jump model", f"{POOLED} (seed 0)", f"{POOLED} (ensemble of 3 seeds)")}
    section = {"methods": {"maml (a)": vs, "maml (b)": vs, "maml (ensemble of 2)": vs}}
    pooled_ensemble = f"{POOLED} (ensemble of 3 seeds)"
    assert headline(section) == ("maml (ensemble of 2)", ["buy & hold", "jump model", pooled_ensemble])
    single = {"methods": {"maml": {b: {} for b in ("buy & hold", POOLED, "MA 50/200")}}}
    assert headline(single) == ("maml", ["buy & hold", POOLED])
