"""The MIT-BIH Arrhythmia Database (WFDB format) read into :class:`~metasuite.domains.diagnosis.records.PatientRecord`.

48 half-hour two-lead recordings at 360 Hz from 47 patients (Moody & Mark, "The impact of the MIT-BIH
Arrhythmia Database", IEEE Eng in Med and Biol 20(3):45-50, 2001), with every beat annotated by two
cardiologists. Each record is three files: ``<name>.hea`` (header), ``<name>.dat`` (samples, format 212)
and ``<name>.atr`` (reference annotations).

What a loaded record holds:

* the **MLII** lead, picked by its name in the header (it is the first channel in most records,
  the second in record 114), in mV, float32; with ``leads=2`` also the record's other lead, whatever its
  name (V1 in most records, V2, V4 or V5 in a few), as ``second_lead`` (its name in ``meta["second_lead"]``);
* when ``filter`` is true, each lead band-passed 0.5-40 Hz with a zero-phase Butterworth filter (removes baseline
  wander and mains / muscle noise without shifting the R peaks);
* one R peak per *beat* annotation with its AAMI EC57 class (:data:`AAMI_MAP`); the other annotations
  (rhythm changes ``+``, noise ``~``, artefacts ``|``, non-conducted P waves ``x``, ventricular flutter
  waves ``!`` and ``[``/``]``, comments ``"`` ...) are not beats and are dropped.

Records are grouped by *patient*: 201 and 202 come from the same person, so :func:`load_patients` joins
them into one :class:`PatientRecord` (``"mitdb:201+202"``) whose ``meta["segment_starts"]`` marks where
202 begins -- the two recordings are not contiguous in time, so :mod:`metasuite.domains.diagnosis.beats` never
computes an RR interval or a window across that boundary.

Record sets: :data:`DS1` / :data:`DS2` are the inter-patient training / test halves of de Chazal et al.
("Automatic classification of heartbeats using ECG morphology and heartbeat interval features", IEEE
TBME 51(7), 2004); the four paced records :data:`PACED_RECORDS` are in neither and are excluded unless
named explicitly. :func:`fetch_mitdb` downloads the database from PhysioNet.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from metasuite.core.errors import DataError
from metasuite.domains.diagnosis.records import PatientRecord

__all__ = [
    "AAMI_MAP",
    "ALL_RECORDS",
    "DS1",
    "DS2",
    "LEAD",
    "PACED_RECORDS",
    "PHYSIONET_URL",
    "SAME_PATIENT",
    "MissingRecordsWarning",
    "MitdbError",
    "bandpass",
    "fetch_mitdb",
    "list_records",
    "load_patients",
    "load_record",
    "record_names",
    "resolve_records",
]

#: MIT-BIH beat annotation symbol -> AAMI EC57 class. Symbols not listed here are not beats.
AAMI_MAP: dict[str, str] = {
    **dict.fromkeys("NLRej", "N"),  # normal, left / right bundle branch block, atrial / nodal escape
    **dict.fromkeys("AaJS", "S"),  # atrial / aberrated atrial / nodal / supraventricular premature
    **dict.fromkeys("VE", "V"),  # premature ventricular contraction, ventricular escape
    "F": "F",  # fusion of ventricular and normal
    **dict.fromkeys("/fQ", "Q"),  # paced, fusion of paced and normal, unclassifiable
}

PACED_RECORDS = ("102", "104", "107", "217")
DS1 = (
    "101", "106", "108", "109", "112", "114", "115", "116", "118", "119", "122",
    "124", "201", "203", "205", "207", "208", "209", "215", "220", "223", "230",
)  # fmt: skip
DS2 = (
    "100", "103", "105", "111", "113", "117", "121", "123", "200", "202", "210",
    "212", "213", "214", "219", "221", "222", "228", "231", "232", "233", "234",
)  # fmt: skip
#: Every record of the database, paced ones included (48 records).
ALL_RECORDS = tuple(sorted((*DS1, *DS2, *PACED_RECORDS)))
#: Records that come from one patient, in recording order.
SAME_PATIENT: tuple[tuple[str, ...], ...] = (("201", "202"),)

LEAD = "MLII"
PHYSIONET_URL = "https://physionet.org/content/mitdb/1.0.0/"

# Butterworth order of each half of the band-pass; sosfiltfilt runs it forward and backward.
_FILTER_ORDER = 2
_BAND_HZ = (0.5, 40.0)


class MitdbError(DataError):
    """An MIT-BIH record is missing, corrupted or inconsistent; the message names the file."""


class MissingRecordsWarning(UserWarning):
    """Some records of a requested set (DS1, DS2, all) are not in the data folder and are skipped."""


def _fetch_hint(data_dir: Path) -> str:
    return f"download the database with `metasuite data fetch mitdb --dest {data_dir}` (or from {PHYSIONET_URL})"


def _corrupt_hint(data_dir: Path) -> str:
    return f"replace the record's files ({_fetch_hint(data_dir)})"


# --------------------------------------------------------------------------------------------- one record


def load_record(data_dir: str | Path, record: str, filter: bool = True, leads: int = 1) -> PatientRecord:
    """Read one MIT-BIH record's MLII lead (and with ``leads=2`` its other lead) and its beat annotations.

    Parameters
    ----------
    data_dir : folder holding ``<record>.hea``, ``<record>.dat`` and ``<record>.atr``.
    record : record name, e.g. ``"114"``.
    filter : band-pass the signal 0.5-40 Hz (zero-phase Butterworth) before returning it.
    leads : 1 (MLII) or 2 (MLII and the first other lead of the header, returned as ``second_lead``).

    Returns
    -------
    PatientRecord
        ``patient_id="mitdb:<record>"``, ``fs`` from the header (360 Hz for MIT-BIH), ``signal`` float32
        in mV of shape ``(n_samples,)`` (650000 for a full record), ``r_peaks`` / ``labels`` for every
        beat annotation (AAMI classes), ``source`` the record path without extension and
        ``meta = {"records": [record], "lead": "MLII", "fs": fs, "filtered": filter}`` (plus
        ``"second_lead"``, the other lead's name, with ``leads=2``).

    Raises
    ------
    MitdbError
        A file is missing or unreadable, the header has no MLII lead (or, with ``leads=2``, no other lead),
        the annotations lie beyond the signal or were made at another sampling rate.
    """
    import wfdb

    data_dir = Path(data_dir)
    path = data_dir / str(record)
    hea, dat, atr = files = [path.with_name(f"{path.name}.{ext}") for ext in ("hea", "dat", "atr")]
    for f in files:
        if not f.is_file():
            raise MitdbError(f"MIT-BIH record {record!r}: {f} is missing; {_fetch_hint(data_dir)}")

    try:
        header = wfdb.rdheader(str(path))
    except (ValueError, OSError, IndexError, KeyError, TypeError) as e:
        raise MitdbError(f"MIT-BIH record {record!r}: cannot parse {hea} ({e}); {_corrupt_hint(data_dir)}") from e
    names = list(header.sig_name or [])
    channels = _lead_channels(record, hea, names, leads)
    fs = header.fs
    if not fs or float(fs) != int(fs):
        raise MitdbError(f"MIT-BIH record {record!r}: {hea} gives sampling rate {fs!r}; expected a whole number of Hz")
    fs = int(fs)

    try:
        rec = wfdb.rdrecord(str(path), channels=channels, physical=True)
        signals = np.asarray(rec.p_signal, dtype=np.float64)
    except (ValueError, OSError, IndexError, TypeError, EOFError) as e:
        raise MitdbError(
            f"MIT-BIH record {record!r}: cannot read the samples of {dat} ({e}); the file is truncated or "
            f"corrupted: {_corrupt_hint(data_dir)}"
        ) from e
    signal = signals[:, 0]
    if header.sig_len and len(signal) != header.sig_len:
        raise MitdbError(
            f"MIT-BIH record {record!r}: {dat} holds {len(signal)} samples but {hea} announces {header.sig_len}; "
            f"{_corrupt_hint(data_dir)}"
        )
    if not np.isfinite(signals).all():
        raise MitdbError(
            f"MIT-BIH record {record!r}: {dat} has {int((~np.isfinite(signals)).sum())} invalid (NaN) samples in "
            f"{' and '.join(names[c] for c in channels)}; {_corrupt_hint(data_dir)}"
        )

    try:
        ann = wfdb.rdann(str(path), "atr")
        samples = np.asarray(ann.sample, dtype=np.int64)
        symbols = list(ann.symbol)
    except (ValueError, OSError, IndexError, KeyError, TypeError, EOFError) as e:
        raise MitdbError(
            f"MIT-BIH record {record!r}: cannot read the annotations {atr} ({e}); {_corrupt_hint(data_dir)}"
        ) from e
    if len(samples) != len(symbols):
        raise MitdbError(f"MIT-BIH record {record!r}: {atr} is inconsistent; {_corrupt_hint(data_dir)}")
    if ann.fs is not None and float(ann.fs) != fs:
        raise MitdbError(
            f"MIT-BIH record {record!r}: {atr} was made at {ann.fs} Hz but {hea} says {fs} Hz; the annotation "
            f"file belongs to another recording: {_corrupt_hint(data_dir)}"
        )
    if len(samples) and (samples.min() < 0 or samples.max() >= len(signal)):
        raise MitdbError(
            f"MIT-BIH record {record!r}: {atr} has annotations up to sample {samples.max()} but {dat} has "
            f"{len(signal)} samples; the annotation file belongs to another recording: {_corrupt_hint(data_dir)}"
        )

    is_beat = np.array([s in AAMI_MAP for s in symbols], dtype=bool)
    r_peaks = samples[is_beat]
    labels = np.array([AAMI_MAP[s] for s, b in zip(symbols, is_beat) if b], dtype="<U1")
    if filter:
        signals = np.stack([bandpass(s, fs, where=f"MIT-BIH record {record!r} ({dat})") for s in signals.T], axis=1)
    meta = {"records": [str(record)], "lead": LEAD, "fs": fs, "filtered": bool(filter)}
    return PatientRecord(
        patient_id=f"mitdb:{record}",
        fs=fs,
        signal=signals[:, 0].astype(np.float32),
        r_peaks=r_peaks,
        labels=labels,
        source=str(path),
        meta=meta if leads == 1 else {**meta, "second_lead": names[channels[1]]},
        second_lead=signals[:, 1].astype(np.float32) if leads == 2 else None,
    )


def _lead_channels(record: str, hea: Path, names: list[str], leads: int) -> list[int]:
    """Channel indices of MLII and, with ``leads=2``, of the first other lead in the header ``hea``."""
    if leads not in (1, 2):
        raise MitdbError(f"leads must be 1 (MLII) or 2 (MLII and the record's other lead), got {leads!r}")
    if LEAD not in names:
        raise MitdbError(
            f"MIT-BIH record {record!r}: {hea} has no {LEAD} lead (leads found: {names}); the diagnosis models "
            f"are trained on {LEAD}, so use a record that has it"
        )
    others = [i for i, name in enumerate(names) if name != LEAD]
    if leads == 2 and not others:
        raise MitdbError(
            f"MIT-BIH record {record!r}: {hea} has no lead besides {LEAD} (leads found: {names}); leave it out "
            "of the records or use leads=1"
        )
    return [names.index(LEAD), *others[: leads - 1]]


def bandpass(signal: np.ndarray, fs: int, where: str) -> np.ndarray:
    """Zero-phase 0.5-40 Hz Butterworth band-pass of a float64 signal."""
    from scipy.signal import butter, sosfiltfilt

    low, high = _BAND_HZ
    if high >= fs / 2:
        raise MitdbError(
            f"{where}: sampling rate {fs} Hz is too low for the {low}-{high} Hz band-pass; load it with filter=False"
        )
    sos = butter(_FILTER_ORDER, [low, high], btype="bandpass", fs=fs, output="sos")
    try:
        return sosfiltfilt(sos, signal)
    except ValueError as e:  # shorter than the filter's edge padding
        raise MitdbError(
            f"{where}: {len(signal)} samples are too few to band-pass ({e}); load it with filter=False"
        ) from e


# --------------------------------------------------------------------------------------------- record sets


def list_records(data_dir: str | Path) -> list[str]:
    """Names of the records in ``data_dir`` (the basename of every ``.hea`` file), sorted.

    Raises :class:`MitdbError` when ``data_dir`` is not a folder.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise MitdbError(f"MIT-BIH folder {data_dir} does not exist; {_fetch_hint(data_dir)}")
    return sorted(p.stem for p in data_dir.glob("*.hea") if p.is_file())


_NAMED_SETS = {"ds1": DS1, "ds2": DS2, "all": tuple(r for r in ALL_RECORDS if r not in PACED_RECORDS)}


def record_names(spec: str | Sequence[str]) -> list[str]:
    """The record names a specification asks for (``"DS2"`` -> its 22 names), present or not."""
    if isinstance(spec, str) and spec.strip().lower() in _NAMED_SETS:
        return list(_NAMED_SETS[spec.strip().lower()])
    names = spec.split(",") if isinstance(spec, str) else [str(s) for s in spec]
    return list(dict.fromkeys(n.strip() for n in names if n.strip()))


def resolve_records(spec: str | Sequence[str], data_dir: str | Path) -> list[str]:
    """Turn a record specification into the names of records present in ``data_dir``.

    Parameters
    ----------
    spec : ``"DS1"``, ``"DS2"``, ``"all"`` (every non-paced record, i.e. DS1 + DS2), a comma-separated
        string ``"101,114"`` or a sequence of names. Paced records (:data:`PACED_RECORDS`) are only
        included when named explicitly.
    data_dir : the folder holding the WFDB files.

    Returns
    -------
    list of str
        For a named set, the records of the set found in ``data_dir``, in database order; when some are
        missing a :class:`MissingRecordsWarning` names them. For explicit names, the names in the given
        order (duplicates removed).

    Raises
    ------
    MitdbError
        An explicitly named record is missing, a named set has no record at all in ``data_dir``, or the
        specification is empty.
    """
    data_dir = Path(data_dir)
    present = set(list_records(data_dir))
    if isinstance(spec, str) and spec.strip().lower() in _NAMED_SETS:
        wanted = _NAMED_SETS[spec.strip().lower()]
        found = [r for r in wanted if r in present]
        missing = [r for r in wanted if r not in present]
        if not found:
            raise MitdbError(
                f"none of the {len(wanted)} records of {spec!r} is in {data_dir} (records found there: "
                f"{sorted(present) or 'none'}); {_fetch_hint(data_dir)}"
            )
        if missing:
            warnings.warn(
                f"{len(missing)} of the {len(wanted)} records of {spec!r} are not in {data_dir} and are skipped: "
                f"{', '.join(missing)}; {_fetch_hint(data_dir)}",
                MissingRecordsWarning,
                stacklevel=2,
            )
        return found

    names = record_names(spec)
    if not names:
        raise MitdbError(f"no MIT-BIH record requested ({spec!r}); give 'DS1', 'DS2', 'all' or record names")
    missing = [n for n in names if n not in present]
    if missing:
        raise MitdbError(
            f"MIT-BIH records {missing} are not in {data_dir} (no {missing[0]}.hea there); {_fetch_hint(data_dir)}"
        )
    return names


def load_patients(
    data_dir: str | Path,
    records: str | Sequence[str] = "DS1",
    filter: bool = True,
    leads: int = 1,
) -> list[PatientRecord]:
    """Load the requested records as one :class:`PatientRecord` per patient.

    ``records`` is resolved by :func:`resolve_records`. Records of one patient (:data:`SAME_PATIENT`:
    201 and 202) that are both requested and present are joined, in recording order, into one record
    ``"mitdb:201+202"``: each is read (and filtered) on its own, the signals are concatenated and the
    R peaks of 202 shifted by the length of 201's signal; ``meta["segment_starts"]`` gives the first
    sample of each recording (``[0, len(201)]``). A patient with one record present is loaded alone.
    Patients come in the order of their first record in the resolved list. ``leads`` as in :func:`load_record`.
    """
    names = resolve_records(records, data_dir)
    group_of = {r: g for g in SAME_PATIENT for r in g}
    patients: list[PatientRecord] = []
    done: set[str] = set()
    for name in names:
        if name in done:
            continue
        group = [r for r in group_of.get(name, (name,)) if r in names]
        done.update(group)
        parts = [load_record(data_dir, r, filter=filter, leads=leads) for r in group]
        patients.append(parts[0] if len(parts) == 1 else _join(parts))
    return patients


def _join(parts: list[PatientRecord]) -> PatientRecord:
    """One record of the same patient's recordings, end to end (see :func:`load_patients`)."""
    fs = {p.fs for p in parts}
    names = [r for p in parts for r in p.meta["records"]]
    if len(fs) != 1:
        raise MitdbError(f"MIT-BIH records {names} of one patient have different sampling rates {sorted(fs)}")
    starts = np.cumsum([0, *(len(p.signal) for p in parts[:-1])])
    meta = {**parts[0].meta, "records": names, "segment_starts": [int(s) for s in starts]}
    second = [p.meta["second_lead"] for p in parts if p.second_lead is not None]
    if second:  # one name when the recordings share the lead (201+202: V1), "V1+V2" otherwise
        meta["second_lead"] = "+".join(dict.fromkeys(second))
    return PatientRecord(
        patient_id="mitdb:" + "+".join(names),
        fs=parts[0].fs,
        signal=np.concatenate([p.signal for p in parts]),
        r_peaks=np.concatenate([p.r_peaks + s for p, s in zip(parts, starts)]),
        labels=np.concatenate([p.labels for p in parts]),
        source=" + ".join(p.source for p in parts),
        meta=meta,
        second_lead=np.concatenate([p.second_lead for p in parts]) if second else None,
    )


# --------------------------------------------------------------------------------------------- download


def fetch_mitdb(dest: str | Path) -> Path:
    """Download the whole MIT-BIH Arrhythmia Database (~100 MB) from PhysioNet into ``dest``.

    Returns ``dest``. Raises :class:`MitdbError` when PhysioNet cannot be reached (the message says how
    to copy the files by hand) or when the download left no record in ``dest``.
    """
    import wfdb

    dest = Path(dest)
    try:
        dest.mkdir(parents=True, exist_ok=True)
        wfdb.dl_database("mitdb", str(dest))
    except OSError as e:  # ConnectionError, socket timeouts and requests' errors are all OSErrors
        raise MitdbError(
            f"cannot download the MIT-BIH database into {dest}: the network or PhysioNet is unreachable ({e}). "
            f"On a machine with internet access download the .hea, .dat and .atr files from {PHYSIONET_URL} "
            f"and copy them into {dest}"
        ) from e
    if not list_records(dest):
        raise MitdbError(
            f"downloading the MIT-BIH database left no .hea file in {dest}; copy the files from {PHYSIONET_URL} by hand"
        )
    return dest
