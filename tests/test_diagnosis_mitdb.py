"""MIT-BIH reader: real DS1 records, record sets, the 201+202 patient merge and every error path.

Synthetic WFDB records are written into ``tmp_path`` with ``wfdb.wrsamp`` / ``wfdb.wrann``; the
real-data tests read ``../shared/data/mitdb-ds1`` and are skipped only when that folder is absent.
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import wfdb

from metasuite.core.errors import DataError
from metasuite.domains.diagnosis import mitdb
from metasuite.domains.diagnosis.mitdb import (
    AAMI_MAP,
    DS1,
    DS2,
    PACED_RECORDS,
    MissingRecordsWarning,
    fetch_mitdb,
    list_records,
    load_patients,
    load_record,
    resolve_records,
)

REAL_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "mitdb-ds1"
needs_real = pytest.mark.skipif(
    not REAL_DATA.is_dir(), reason=f"real MIT-BIH records not available ({REAL_DATA} is absent)"
)

# wfdb 4.3.1 calls pandas with a deprecated keyword on every read; not metasuite's concern.
pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword:DeprecationWarning")

# Written out independently of AAMI_MAP, from the AAMI EC57 table.
AAMI_TABLE = {"N": "NLRej", "S": "AaJS", "V": "VE", "F": "F", "Q": "/fQ"}


def _write(
    folder: Path,
    name: str,
    peaks: list[int] | np.ndarray,
    symbols: list[str] | None = None,
    *,
    n_samples: int = 3600,
    leads: tuple[str, ...] = ("MLII", "V1"),
    fs: int = 360,
    ann_fs: int | None = None,
    level: float = 0.0,
) -> np.ndarray:
    """Write record ``name``: a flat ``level`` mV line with a 1 mV spike at each peak on every lead.

    Returns the signal written, shape ``(n_samples, len(leads))``; lead ``i`` is scaled by ``1 + i``.
    """
    peaks = np.asarray(peaks, dtype=np.int64)
    base = np.full(n_samples, level)
    base[peaks] += 1.0
    signal = np.stack([base * (1 + i) for i in range(len(leads))], axis=1)
    wfdb.wrsamp(
        name,
        fs=fs,
        units=["mV"] * len(leads),
        sig_name=list(leads),
        p_signal=signal,
        fmt=["16"] * len(leads),
        adc_gain=[1000.0] * len(leads),
        baseline=[0] * len(leads),
        write_dir=str(folder),
    )
    wfdb.wrann(name, "atr", peaks, symbol=symbols or ["N"] * len(peaks), fs=ann_fs, write_dir=str(folder))
    return signal


# --------------------------------------------------------------------------------------------- constants


def test_aami_map_is_the_ec57_table_and_ignores_non_beats():
    assert {s: c for c, syms in AAMI_TABLE.items() for s in syms} == AAMI_MAP
    for not_a_beat in '+~|x[]!"':
        assert not_a_beat not in AAMI_MAP


def test_record_sets_are_the_de_chazal_split():
    assert len(DS1) == len(DS2) == 22
    assert not set(DS1) & set(DS2)
    assert not set(PACED_RECORDS) & (set(DS1) | set(DS2))
    assert len(mitdb.ALL_RECORDS) == 48


# --------------------------------------------------------------------------------------------- real records


@needs_real
def test_real_record_loads_whole_mlii_lead_in_mv():
    rec = load_record(REAL_DATA, "101")
    assert rec.patient_id == "mitdb:101"
    assert rec.fs == 360
    assert rec.signal.shape == (650000,)
    assert rec.signal.dtype == np.float32
    assert rec.meta == {"records": ["101"], "lead": "MLII", "fs": 360, "filtered": True}
    assert Path(rec.source) == REAL_DATA / "101"
    # in mV: QRS complexes of about a millivolt, not ADC units
    assert 0.3 < np.percentile(np.abs(rec.signal), 99.9) < 5


@needs_real
@pytest.mark.parametrize("record", ["114", "207", "208", "223"])
def test_aami_counts_match_annotation_symbols(record: str):
    ann = wfdb.rdann(str(REAL_DATA / record), "atr")
    symbols = Counter(ann.symbol)
    expected = {c: sum(symbols[s] for s in syms) for c, syms in AAMI_TABLE.items()}
    rec = load_record(REAL_DATA, record, filter=False)
    assert rec.counts() == expected
    beat = np.isin(ann.symbol, [s for syms in AAMI_TABLE.values() for s in syms])
    np.testing.assert_array_equal(rec.r_peaks, np.asarray(ann.sample)[beat])


@needs_real
def test_record_114_uses_its_second_channel_mlii():
    assert wfdb.rdheader(str(REAL_DATA / "114")).sig_name == ["V5", "MLII"]
    rec = load_record(REAL_DATA, "114", filter=False)
    raw = wfdb.rdrecord(str(REAL_DATA / "114")).p_signal
    np.testing.assert_allclose(rec.signal, raw[:, 1].astype(np.float32))
    assert not np.allclose(rec.signal, raw[:, 0].astype(np.float32))


@needs_real
def test_leads_2_adds_114s_other_lead_and_leaves_mlii_as_it_was():
    one, two = load_record(REAL_DATA, "114"), load_record(REAL_DATA, "114", leads=2)
    assert one.second_lead is None and "second_lead" not in one.meta
    assert two.meta["second_lead"] == "V5" and two.second_lead.shape == (650000,)
    assert one.signal.tobytes() == two.signal.tobytes()  # MLII read with the other lead is the same lead
    raw = wfdb.rdrecord(str(REAL_DATA / "114"), channels=[0]).p_signal[:, 0]
    expected = mitdb.bandpass(raw, 360, where="114").astype(np.float32)  # filtered as MLII is
    np.testing.assert_allclose(two.second_lead, expected, atol=1e-6)


@needs_real
def test_bandpass_is_zero_phase_and_removes_baseline():
    raw = load_record(REAL_DATA, "101", filter=False)
    flt = load_record(REAL_DATA, "101", filter=True)
    np.testing.assert_array_equal(raw.r_peaks, flt.r_peaks)
    assert abs(float(flt.signal.mean())) < 0.01 < 0.1 < abs(float(raw.signal.mean()))
    # baseline wander: the median of each 10-second stretch moves far less once filtered
    wander = [np.std(np.median(r.signal[: 180 * 3600].reshape(180, 3600), axis=1)) for r in (raw, flt)]
    assert wander[1] < wander[0] / 4
    # the R peak stays where the cardiologists put it: the local maximum does not move
    r = raw.r_peaks[10:-10]
    near = r[:, None] + np.arange(-20, 21)
    shift = np.abs(flt.signal[near]).argmax(1) - np.abs(raw.signal[near] - np.median(raw.signal)).argmax(1)
    assert np.median(np.abs(shift)) <= 1


@needs_real
def test_real_ds1_folder_resolves_ds1_and_rejects_ds2():
    assert resolve_records("DS1", REAL_DATA) == list(DS1)
    with pytest.raises(DataError, match=r"none of the 22 records of 'DS2'.*metasuite data fetch mitdb"):
        resolve_records("DS2", REAL_DATA)


@needs_real
def test_201_without_202_is_loaded_alone(tmp_path: Path):
    for ext in ("hea", "dat", "atr"):
        (tmp_path / f"201.{ext}").symlink_to(REAL_DATA / f"201.{ext}")
    with pytest.warns(MissingRecordsWarning, match="202"):
        patients = load_patients(tmp_path, "all", filter=False)
    assert [p.patient_id for p in patients] == ["mitdb:201"]
    assert patients[0].meta["records"] == ["201"]
    assert "segment_starts" not in patients[0].meta
    assert len(patients[0].signal) == 650000


@needs_real
def test_truncated_real_dat_is_reported(tmp_path: Path):
    for ext in ("hea", "atr"):
        shutil.copy(REAL_DATA / f"101.{ext}", tmp_path)
    (tmp_path / "101.dat").write_bytes((REAL_DATA / "101.dat").read_bytes()[:300001])
    with pytest.raises(DataError, match=r"101\.dat.*(truncated|corrupted)"):
        load_record(tmp_path, "101")


# --------------------------------------------------------------------------------------------- record sets


def test_list_records_are_hea_basenames(tmp_path: Path):
    _write(tmp_path, "100", [500, 900])
    _write(tmp_path, "203", [500, 900])
    (tmp_path / "notes.txt").write_text("not a record")
    assert list_records(tmp_path) == ["100", "203"]
    with pytest.raises(DataError, match="does not exist"):
        list_records(tmp_path / "nowhere")


def test_paced_records_only_when_named(tmp_path: Path):
    for name in ("100", "102", "104", "201"):
        _write(tmp_path, name, [500, 900])
    with pytest.warns(MissingRecordsWarning) as caught:
        assert resolve_records("all", tmp_path) == ["100", "201"]
    message = str(caught[0].message).replace(str(tmp_path), "DIR")  # pytest's tmp path may hold "102" itself
    assert "42 of the 44 records of 'all'" in message and "234" in message and "102" not in message
    assert resolve_records("102, 100,102", tmp_path) == ["102", "100"]
    assert resolve_records(["104"], tmp_path) == ["104"]


def test_explicit_missing_record_is_an_error(tmp_path: Path):
    _write(tmp_path, "100", [500, 900])
    with pytest.raises(DataError, match=r"\['105'\].*metasuite data fetch mitdb --dest"):
        resolve_records("100,105", tmp_path)
    with pytest.raises(DataError, match="no MIT-BIH record requested"):
        resolve_records(" , ", tmp_path)


def test_201_and_202_are_one_patient(tmp_path: Path):
    sig201 = _write(tmp_path, "201", [400, 800, 1200], ["N", "V", "A"], n_samples=2000, level=0.1)
    sig202 = _write(tmp_path, "202", [300, 700], ["N", "/"], n_samples=1500, level=-0.2)
    _write(tmp_path, "100", [500, 900])
    with pytest.warns(MissingRecordsWarning):
        patients = load_patients(tmp_path, "all", filter=False)
    assert [p.patient_id for p in patients] == ["mitdb:100", "mitdb:201+202"]
    merged = patients[1]
    np.testing.assert_allclose(merged.signal, np.concatenate([sig201[:, 0], sig202[:, 0]]), atol=1e-3)
    np.testing.assert_array_equal(merged.r_peaks, [400, 800, 1200, 2300, 2700])
    assert merged.labels.tolist() == ["N", "V", "S", "N", "Q"]
    assert merged.meta["records"] == ["201", "202"]
    assert merged.meta["segment_starts"] == [0, 2000]
    # order of the request does not change recording order; 202 alone stays alone
    assert load_patients(tmp_path, ["202", "201"], filter=False)[0].patient_id == "mitdb:201+202"
    assert [p.patient_id for p in load_patients(tmp_path, "202", filter=False)] == ["mitdb:202"]


def test_filter_flag_recorded_and_short_records_refused(tmp_path: Path):
    _write(tmp_path, "100", [500, 900, 1300], n_samples=3600, level=0.5)
    rec = load_record(tmp_path, "100", filter=True)
    assert rec.meta["filtered"] is True
    assert abs(float(np.median(rec.signal))) < 0.01  # the 0.5 mV offset is gone
    _write(tmp_path, "101", [2], n_samples=5)
    with pytest.raises(DataError, match=r"too few to band-pass.*filter=False"):
        load_record(tmp_path, "101", filter=True)


# --------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize("ext", ["hea", "dat", "atr"])
def test_missing_file_is_named(tmp_path: Path, ext: str):
    _write(tmp_path, "100", [500, 900])
    (tmp_path / f"100.{ext}").unlink()
    with pytest.raises(DataError, match=rf"100\.{ext} is missing.*metasuite data fetch mitdb --dest"):
        load_record(tmp_path, "100")


def test_header_without_mlii_lists_the_leads(tmp_path: Path):
    _write(tmp_path, "100", [500, 900], leads=("V1", "V5"))
    with pytest.raises(DataError, match=r"100\.hea has no MLII lead \(leads found: \['V1', 'V5'\]\)"):
        load_record(tmp_path, "100")


def test_mlii_picked_by_name_on_synthetic_record(tmp_path: Path):
    signal = _write(tmp_path, "100", [500, 900], leads=("V5", "MLII"))
    rec = load_record(tmp_path, "100", filter=False)
    np.testing.assert_allclose(rec.signal, signal[:, 1], atol=1e-3)


def test_second_lead_is_picked_whatever_its_name_and_joined_across_201_and_202(tmp_path: Path):
    signal = _write(tmp_path, "100", [500, 900], leads=("V4", "MLII"))
    rec = load_record(tmp_path, "100", filter=False, leads=2)
    np.testing.assert_allclose(rec.signal, signal[:, 1], atol=1e-3)
    np.testing.assert_allclose(rec.second_lead, signal[:, 0], atol=1e-3)
    assert rec.meta["second_lead"] == "V4"
    sig201 = _write(tmp_path, "201", [400, 800], n_samples=2000)
    sig202 = _write(tmp_path, "202", [300, 700], n_samples=1500)
    merged = load_patients(tmp_path, "201,202", filter=False, leads=2)[0]
    np.testing.assert_allclose(merged.second_lead, np.concatenate([sig201[:, 1], sig202[:, 1]]), atol=1e-3)
    assert merged.meta["second_lead"] == "V1"


def test_a_record_without_a_second_lead_is_refused_by_name_for_leads_2(tmp_path: Path):
    _write(tmp_path, "100", [500, 900], leads=("MLII",))
    assert load_record(tmp_path, "100").second_lead is None  # one lead is all leads=1 needs
    with pytest.raises(
        DataError, match=r"record '100': .*100\.hea has no lead besides MLII \(leads found: \['MLII'\]\)"
    ):
        load_patients(tmp_path, "100", leads=2)
    with pytest.raises(DataError, match=r"leads must be 1 .* or 2"):
        load_record(tmp_path, "100", leads=3)


def test_annotations_beyond_signal(tmp_path: Path):
    _write(tmp_path, "100", [500, 900], n_samples=1000)
    wfdb.wrann("100", "atr", np.array([500, 1500]), symbol=["N", "N"], write_dir=str(tmp_path))
    with pytest.raises(DataError, match=r"100\.atr has annotations up to sample 1500.*1000 samples"):
        load_record(tmp_path, "100")


def test_sampling_rate_mismatch(tmp_path: Path):
    _write(tmp_path, "100", [500, 900], ann_fs=250)
    with pytest.raises(DataError, match=r"100\.atr was made at 250 Hz but .*100\.hea says 360 Hz"):
        load_record(tmp_path, "100")


@pytest.mark.parametrize(
    ("ext", "damage"),
    [
        ("dat", lambda b: b[: len(b) // 2 + 1]),
        ("dat", lambda b: b""),
        ("atr", lambda b: b"garbage\x00\x01"),
        ("hea", lambda b: b"not a header\n"),
    ],
)
def test_corrupted_files_raise_data_error(tmp_path: Path, ext: str, damage):
    _write(tmp_path, "100", [500, 900])
    path = tmp_path / f"100.{ext}"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(DataError, match=rf"100\.{ext}"):
        load_record(tmp_path, "100")


@pytest.mark.parametrize("error", [OSError("Name or service not known"), ConnectionError("connection refused")])
def test_fetch_without_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: Exception):
    calls = []

    def offline(db_dir, dl_dir, *args, **kwargs):
        calls.append((db_dir, dl_dir))
        raise error

    monkeypatch.setattr(wfdb, "dl_database", offline)
    with pytest.raises(DataError, match=r"network.*unreachable.*https://physionet\.org/content/mitdb/1\.0\.0/"):
        fetch_mitdb(tmp_path / "mitdb")
    assert calls == [("mitdb", str(tmp_path / "mitdb"))]
