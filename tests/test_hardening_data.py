"""Careless or hostile data through the command line: nothing silently wrong, every hint works as written.

Each data error names the exact command-line spelling of its fix (``--option KEY=VALUE``); these tests run
that spelling through the real argument parser and domain and check it does what the message promises.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metasuite.apps.cli import build_parser, domain_options, main
from metasuite.core.errors import DataError
from metasuite.core.runs import build_domain
from metasuite.domains.trading.evaluation import default_checkpoints
from metasuite.domains.trading.synth import simulate_market


def _bars(n: int = 400, seed: int = 0) -> pd.DataFrame:
    return simulate_market(n, 1, seed=seed).prices["SYN0"]


def _csv_folder(folder: Path, frames: dict[str, pd.DataFrame]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for ticker, frame in frames.items():
        frame.reset_index().assign(Name=ticker).to_csv(folder / f"{ticker}_data.csv", index=False)
    return folder


def _unadjusted_split(frame: pd.DataFrame, day: int) -> pd.DataFrame:
    """A 2:1 split as an unadjusted feed shows it, with the volume left unchanged (so no split rule fires)."""
    raw = frame.copy()
    raw.iloc[:day, :4] *= 2.0
    return raw


def _trading(folder: Path, *options: str):  # type: ignore[no-untyped-def]
    """The trading domain exactly as ``metasuite eval trading --source csv --data-dir FOLDER OPTIONS`` builds it."""
    argv = ["eval", "trading", "--source", "csv", "--data-dir", str(folder), *options]
    return build_domain("trading", domain_options(build_parser("trading").parse_args(argv)))


def _hinted_options(message: str) -> list[str]:
    """The ``--option KEY=VALUE`` an error message tells the user to pass, split as a shell would."""
    found = re.findall(r"--option (\S+=(?:'[^']*'|\S+))", message)
    assert found, f"no --option hint in: {message}"
    return [item for hint in found for item in ("--option", shlex.split(hint)[0].rstrip(".,;)"))]


# ---------------------------------------------------------------------------- row 6: suspicious moves
def test_an_unadjusted_split_with_unchanged_volume_is_refused_and_the_hint_keeps_it(tmp_path: Path) -> None:
    folder = _csv_folder(tmp_path / "csv", {"ACME": _unadjusted_split(_bars(), 200)})
    with pytest.raises(DataError, match=r"ACME.*overnight move\(s\) beyond 35%.*--option allow_jumps=true") as info:
        _trading(folder).load_prices()
    domain = _trading(folder, *_hinted_options(str(info.value)))
    domain.load_prices()
    notes = domain.data_notes()
    assert any("suspicious move" in n and n.startswith("ACME: ") for n in notes)
    assert any("kept 1 overnight move(s) beyond 35% as real" in n for n in notes)


@pytest.mark.slow
@pytest.mark.skipif(not default_checkpoints("real"), reason="no shipped real-data trading checkpoint")
def test_every_data_note_is_printed_and_kept_in_the_eval_json(tmp_path: Path, capsys) -> None:
    frames = {"ACME": _unadjusted_split(_bars(900, 1), 500), "BOLT": _bars(900, 2)}
    frames["BOLT"] = frames["BOLT"].iloc[::-1]  # unsorted dates: sorted, with a note
    folder = _csv_folder(tmp_path / "csv", frames)
    out = tmp_path / "eval.json"
    argv = ["eval", "trading", "--source", "csv", "--data-dir", str(folder), "--option", "allow_jumps=true"]
    assert main([*argv, "--start", "2003-06-02", "--quiet", "--threads", "1", "--json", str(out)]) == 0
    err = capsys.readouterr().err
    stored = json.loads(out.read_text())["warnings"]
    for needle in ("ACME: ", "suspicious move", "kept 1 overnight move", "BOLT: dates were not in ascending order"):
        assert any(needle in w for w in stored), (needle, stored)
        assert f"warning: {next(w for w in stored if needle in w)}" in err


# ---------------------------------------------------------------------------- row 7: every hint runs
def test_the_missing_prices_hint_drops_the_rows(tmp_path: Path) -> None:
    frame = _bars()
    frame.iloc[[10, 20], 3] = np.nan
    folder = _csv_folder(tmp_path / "csv", {"ACME": frame})
    with pytest.raises(DataError) as info:
        _trading(folder).load_prices()
    prices, _ = _trading(folder, *_hinted_options(str(info.value))).load_prices()
    assert len(prices["ACME"]) == len(frame) - 2


def test_the_gap_hint_accepts_the_gap(tmp_path: Path) -> None:
    frame = _bars()
    frame = pd.concat([frame.iloc[:100], frame.iloc[160:]])  # ~3 months without rows
    folder = _csv_folder(tmp_path / "csv", {"ACME": frame})
    with pytest.raises(DataError, match="gap") as info:
        _trading(folder).load_prices()
    prices, _ = _trading(folder, *_hinted_options(str(info.value))).load_prices()
    assert len(prices["ACME"]) == len(frame)


def test_the_column_map_hint_is_valid_command_line_syntax(tmp_path: Path) -> None:
    frame = _bars().rename(columns={"close": "Adj Close", "volume": "Vol"})
    folder = _csv_folder(tmp_path / "csv", {"ACME": frame})
    with pytest.raises(DataError, match="missing column") as info:
        _trading(folder).load_prices()
    hinted = _hinted_options(str(info.value))
    assert json.loads(hinted[1].split("=", 1)[1]) == {"Adj Close": "close", "Vol": "volume"}
    prices, _ = _trading(folder, *hinted).load_prices()
    assert prices["ACME"]["close"].equals(frame["Adj Close"].rename("close").astype(float))


def test_the_unreadable_image_hint_skips_the_file(tmp_path: Path) -> None:
    from PIL import Image

    root = tmp_path / "frames"
    for env in ("e1", "e2", "e3"):
        for cls in ("day", "night"):
            (root / env / cls).mkdir(parents=True)
            for i in range(4):
                Image.new("RGB", (20, 20), (40 * i, 10, 10)).save(root / env / cls / f"{i}.png")
    (root / "e1" / "day" / "broken.png").write_bytes(b"not an image")
    argv = ["eval", "driving", "--data-dir", str(root), "--image-size", "16"]
    with pytest.raises(DataError, match="skip_unreadable") as info:
        build_domain("driving", domain_options(build_parser("driving").parse_args(argv))).pool("train")
    options = domain_options(build_parser("driving").parse_args([*argv, *_hinted_options(str(info.value))]))
    with pytest.warns(UserWarning, match="skipping unreadable image"):
        build_domain("driving", options)._real_pool()


# ---------------------------------------------------------------------------- row 11: say what was found
def test_a_header_only_csv_says_it_has_no_rows(tmp_path: Path) -> None:
    folder = tmp_path / "csv"
    folder.mkdir()
    (folder / "X.csv").write_text("date,open,high,low,close,volume,Name\n")
    for tickers in (None, ["X"]):
        with pytest.raises(DataError, match=r"X\.csv: the file has a header \(7 columns: \['date'.*but no rows"):
            _trading(folder, *(["--tickers", ",".join(tickers)] if tickers else [])).load_prices()


def test_wrong_column_names_are_listed_as_the_file_has_them(tmp_path: Path) -> None:
    folder = tmp_path / "csv"
    folder.mkdir()
    (folder / "X.csv").write_text("Day,O,H,L,C,V,Sym\n2020-01-02,1,2,0.5,1.5,100,X\n")
    with pytest.raises(DataError, match=r"the file's columns: \['Day', 'O', 'H', 'L', 'C', 'V', 'Sym'\]"):
        _trading(folder).load_prices()
