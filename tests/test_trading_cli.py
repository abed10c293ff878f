"""`metasuite eval trading`: the walk-forward backtest from the command line, on every offline source."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from metasuite.apps.cli import main
from metasuite.domains.trading.evaluation import default_checkpoints
from metasuite.domains.trading.synth import simulate_market

pytestmark = pytest.mark.slow

SMALL = ["--option", "n_assets=2", "--option", "n_markets=1", "--option", "test_days=700", "--quiet", "--threads", "1"]


def _strict_json(path: Path) -> dict:
    def refuse(token: str) -> None:
        raise AssertionError(f"{path} holds {token}: not strict JSON")

    return json.loads(path.read_text(), parse_constant=refuse)


@pytest.mark.skipif(not default_checkpoints("synthetic"), reason="no shipped synthetic trading checkpoint")
def test_eval_synthetic_writes_json_table_and_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "synthetic.json"
    assert main(["eval", "trading", *SMALL, "--cost-bps", "5", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Sharpe [95% CI]" in printed and "Not investment advice" in printed
    rep = _strict_json(out)
    methods = rep["methods"]
    for name in ("pooled (no adaptation)", "scratch", "buy & hold", "MA 50/200", "TSMOM 12-1", "HMM 2-state"):
        assert name in methods
    assert any(e["kind"] == "meta" for e in methods.values())
    assert rep["setting"]["cost_bps"] == 5 and rep["data"]["tickers"] == ["TEST0", "TEST1"]
    assert rep["data"]["regimes"] == "ground truth"
    assert all("regime_id_balanced_accuracy" in e for e in methods.values())
    assert (tmp_path / "synthetic-equity.png").stat().st_size > 10_000


@pytest.mark.skipif(len(default_checkpoints("synthetic")) < 2, reason="needs two shipped synthetic checkpoints")
def test_eval_ensemble_of_checkpoints_against_the_pooled_ensemble(tmp_path: Path) -> None:
    """``--ensemble`` with two checkpoints and ``--baseline-seeds 0 1``: the meta ensemble, the pooled model per seed
    and their ensemble; the paired Sharpe references use the pooled ensemble."""
    ckpts = [a for p in default_checkpoints("synthetic") for a in ("--checkpoint", str(p))]
    out = tmp_path / "ens.json"
    args = ["eval", "trading", *SMALL, *ckpts, "--ensemble", "--baseline-seeds", "0", "1", "--json", str(out)]
    assert main(args) == 0
    methods = _strict_json(out)["methods"]
    ensemble = next(n for n in methods if n.endswith("(ensemble of 2)"))
    assert methods[ensemble]["kind"] == "meta" and "regime_id_balanced_accuracy" in methods[ensemble]
    pooled = "pooled (no adaptation)"
    assert {f"{pooled} (seed 0)", f"{pooled} (seed 1)", f"{pooled} (ensemble of 2 seeds)"} <= set(methods)
    assert pooled not in methods
    assert f"{pooled} (ensemble of 2 seeds)" in methods[ensemble]["vs"]


def test_an_ensemble_needs_two_models(capsys: pytest.CaptureFixture[str]) -> None:
    one = ["--checkpoint", str(default_checkpoints("synthetic")[0])] if default_checkpoints("synthetic") else []
    assert main(["eval", "trading", *SMALL, *one, "--ensemble"]) == 2
    assert "two or more" in capsys.readouterr().err
    assert main(["eval", "trading", *SMALL, "--baseline-seeds", "1", "1"]) == 2
    assert "twice" in capsys.readouterr().err


def _write_csvs(folder: Path) -> None:
    market = simulate_market(1300, 2, seed=11, start="2010-01-04")
    folder.mkdir()
    for t, df in market.prices.items():
        frame = df.round(4).reset_index()
        frame["Name"] = t
        frame.to_csv(folder / f"{t}_data.csv", index=False)


@pytest.mark.skipif(not default_checkpoints("real"), reason="no shipped real-data trading checkpoint")
def test_eval_csv_folder_on_a_chosen_period(tmp_path: Path) -> None:
    _write_csvs(tmp_path / "csv")
    out = tmp_path / "csv.json"
    args = ["eval", "trading", "--source", "csv", "--data-dir", str(tmp_path / "csv"), "--start", "2013-06-03"]
    assert main([*args, "--end", "2014-12-31", "--quiet", "--threads", "1", "--json", str(out)]) == 0
    rep = _strict_json(out)
    assert rep["data"]["tickers"] == ["SYN0", "SYN1"]
    first, last = rep["data"]["test_period"]
    assert first >= "2013-06-03" and last <= "2014-12-31"
    assert rep["data"]["regimes"].startswith("HMM")  # no ground truth in a CSV: regimes from the HMM


def test_bad_trading_inputs_fail_clearly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "trading", "--source", "csv", "--quiet"]) == 2
    assert "--data-dir" in capsys.readouterr().err
    assert main(["eval", "trading", "--source", "csv", "--data-dir", str(tmp_path / "none"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "none") in err
    assert main(["eval", "trading", "--source", "bloomberg", "--quiet"]) == 2
    err = capsys.readouterr().err  # checked against the option's declared choices before anything loads
    assert "option source must be one of ['synthetic'" in err and "'bloomberg'" in err


def test_yfinance_offline_names_the_ticker_and_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import yfinance

    def offline(*args, **kwargs):
        raise ConnectionError("network is unreachable")

    monkeypatch.setattr(yfinance, "download", offline)
    cache = tmp_path / "yf-cache"
    args = ["eval", "trading", "--source", "yfinance", "--tickers", "ZZZT", "--start", "2020-01-01", "--quiet"]
    code = main([*args, "--option", f"cache_dir={cache}"])
    assert code == 2
    err = capsys.readouterr().err
    assert "ZZZT" in err and str(cache) in err


@pytest.mark.skipif(not default_checkpoints("real"), reason="no shipped real-data trading checkpoint")
def test_a_test_period_the_checkpoint_has_seen_is_flagged() -> None:
    from metasuite.core.checkpoint import load_checkpoint
    from metasuite.domains.trading.domain import TradingDomain
    from metasuite.domains.trading.evaluation import overlap_warnings

    _, meta = load_checkpoint(default_checkpoints("real")[0])
    seen = overlap_warnings(meta, TradingDomain(source="sp500", test_start="2010-01-04"))
    assert len(seen) == 1 and "in-sample" in seen[0] and "SP500" in seen[0]
    after = meta["split_ids"]["val_period"][1]
    unseen = pd.Timestamp(after) + pd.Timedelta(days=3)
    assert overlap_warnings(meta, TradingDomain(source="sp500", test_start=str(unseen.date()))) == []


@pytest.mark.skipif(not default_checkpoints("real"), reason="no shipped real-data trading checkpoint")
def test_eval_yfinance_tickers_and_period_never_seen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Any ticker and period through yfinance (a fake download: tests never touch the network)."""
    import yfinance

    market = simulate_market(5200, 2, seed=21, start="2004-01-01")
    fake_prices = {"AAAA": market.prices["SYN0"], "BBBB": market.prices["SYN1"]}
    asked: list[tuple[str, str, str]] = []

    def fake_download(ticker, start=None, end=None, **kwargs):
        asked.append((ticker, start, end))
        df = fake_prices[ticker].loc[start:end].iloc[:-1]  # yfinance's end is exclusive
        return df.rename(columns=str.capitalize)

    monkeypatch.setattr(yfinance, "download", fake_download)
    out = tmp_path / "yf.json"
    args = ["eval", "trading", "--source", "yfinance", "--tickers", "aaaa,BBBB", "--start", "2019-01-02"]
    args += ["--end", "2021-12-31", "--option", f"cache_dir={tmp_path / 'cache'}", "--quiet", "--threads", "1"]
    assert main([*args, "--json", str(out)]) == 0
    rep = _strict_json(out)
    assert rep["data"]["tickers"] == ["AAAA", "BBBB"] and rep["data"]["test_period"][0] >= "2019-01-02"
    assert rep["data"]["test_period"][1] <= "2021-12-31"
    assert {t for t, _, _ in asked} == {"AAAA", "BBBB"}
    assert all(start <= "2013-01-02" for _, start, _ in asked)  # history before the test period for the HMM
    assert len(list((tmp_path / "cache").glob("*.parquet"))) == 2
