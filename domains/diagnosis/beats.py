"""From a :class:`~metasuite.domains.diagnosis.records.PatientRecord` to per-beat model inputs.

Each annotated beat gives

* a **window** of the signal around its R peak, :data:`WINDOW` = samples -90 .. +161 at 360 Hz
  (-0.25 s to +0.45 s, 252 samples, the R peak at index 90: P wave, QRS and T wave). The window's
  median is subtracted (removes what is left of the baseline); the amplitude is *not* rescaled per
  beat, because amplitude carries class information (a ventricular beat is typically larger than
  the patient's normal beats). Records at another sampling rate are resampled onto the same time
  grid by linear interpolation (signals above 360 Hz should be low-passed first, as
  :func:`metasuite.domains.diagnosis.mitdb.load_record` does with its 0.5-40 Hz band-pass). A record with a
  second lead gets a second window per beat, cut at the same R peak and centred the same way;
* five **RR features** in seconds (:data:`RR_FEATURES`): the interval to the previous beat, to the
  next beat, the local average (mean of the last 10 RR intervals up to and including the pre-RR,
  fewer at the start of a recording, so it never looks ahead), pre-RR / local average and
  post-RR / pre-RR.

Beats that lack a feature are dropped rather than padded: the first and last annotated beat of each
recording (no pre- or post-RR) and beats whose window runs off the signal. A record joined from
several recordings (``meta["segment_starts"]``, e.g. MIT-BIH 201+202) is treated segment by segment,
so no RR interval or window spans the joint. RR intervals are measured between *all* annotated beats,
including the classes ``drop_classes`` removes afterwards (a Q beat still ends its neighbour's RR).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from metasuite.core.errors import DataError
from metasuite.domains.diagnosis.records import AAMI_CLASSES, FS, PatientRecord

__all__ = ["RR_FEATURES", "WINDOW", "WINDOW_LENGTH", "BeatSet", "extract_beats", "split_by_time"]

#: Window around the R peak in samples at :data:`~metasuite.domains.diagnosis.records.FS` = 360 Hz, end exclusive.
WINDOW = (-90, 162)
WINDOW_LENGTH = WINDOW[1] - WINDOW[0]  # 252 samples, 0.7 s
RR_FEATURES = ("pre_rr", "post_rr", "local_rr", "pre_over_local", "post_over_pre")
#: Number of RR intervals averaged into ``local_rr``.
LOCAL_RR_BEATS = 10


@dataclass
class BeatSet:
    """The beats of one patient, in time order.

    Attributes
    ----------
    windows : np.ndarray, float32, shape (n, 252)
        Signal around each R peak (mV, window median subtracted), 360 Hz time grid, R peak at index 90.
    rr : np.ndarray, float32, shape (n, 5)
        RR features in the order of :data:`RR_FEATURES` (seconds, and two ratios).
    labels : np.ndarray, '<U1', shape (n,)
        AAMI class of each beat.
    times_s : np.ndarray, float64, shape (n,)
        R-peak time in seconds from the start of the record.
    r_index : np.ndarray, int64, shape (n,)
        R-peak sample index in the record's signal.
    patient_id : str
    second_windows : np.ndarray, float32, shape (n, 252), optional
        The record's second lead around the same R peaks (as ``windows``); None for a one-lead record.
    """

    windows: np.ndarray
    rr: np.ndarray
    labels: np.ndarray
    times_s: np.ndarray
    r_index: np.ndarray
    patient_id: str = ""
    second_windows: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.windows = np.asarray(self.windows, dtype=np.float32).reshape(-1, WINDOW_LENGTH)
        self.rr = np.asarray(self.rr, dtype=np.float32).reshape(-1, len(RR_FEATURES))
        self.labels = np.asarray(self.labels, dtype="<U1")
        self.times_s = np.asarray(self.times_s, dtype=np.float64)
        self.r_index = np.asarray(self.r_index, dtype=np.int64)
        if self.second_windows is not None:
            self.second_windows = np.asarray(self.second_windows, dtype=np.float32).reshape(-1, WINDOW_LENGTH)
            if len(self.second_windows) != len(self.windows):
                raise DataError(
                    f"BeatSet of {self.patient_id!r}: {len(self.second_windows)} second-lead windows for "
                    f"{len(self.windows)} beats"
                )
        sizes = {len(a) for a in (self.windows, self.rr, self.labels, self.times_s, self.r_index)}
        if len(sizes) != 1:
            raise DataError(
                f"BeatSet of {self.patient_id!r}: windows, rr, labels, times_s and r_index must have one row per "
                f"beat, got {len(self.windows)}, {len(self.rr)}, {len(self.labels)}, {len(self.times_s)}, "
                f"{len(self.r_index)}"
            )

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def lead_windows(self) -> list[np.ndarray]:
        """Each lead's windows, ``(n, 252)`` each: ``[windows]`` or ``[windows, second_windows]``."""
        return [self.windows] if self.second_windows is None else [self.windows, self.second_windows]

    def select(self, mask_or_index: np.ndarray | Sequence[int] | Sequence[bool]) -> BeatSet:
        """The beats picked by a boolean mask of length ``len(self)`` or by integer indices (in that order)."""
        idx = np.asarray(mask_or_index)
        if idx.dtype == bool and idx.shape != (len(self),):
            raise DataError(f"BeatSet of {self.patient_id!r}: mask has shape {idx.shape}, expected ({len(self)},)")
        if idx.dtype != bool:
            idx = idx.astype(np.int64).reshape(-1)
        second = None if self.second_windows is None else self.second_windows[idx]
        return BeatSet(
            self.windows[idx],
            self.rr[idx],
            self.labels[idx],
            self.times_s[idx],
            self.r_index[idx],
            self.patient_id,
            second,
        )

    def label_ids(self, classes: Sequence[str] = AAMI_CLASSES) -> np.ndarray:
        """int64 array, shape (n,): the index of each beat's class in ``classes``, -1 for any other class."""
        ids = np.full(len(self), -1, dtype=np.int64)
        for i, c in enumerate(classes):
            ids[self.labels == c] = i
        return ids


def extract_beats(record: PatientRecord, drop_classes: Sequence[str] = ("Q",)) -> BeatSet:
    """Windows and RR features of every usable beat of ``record`` (see the module docstring).

    Beats of ``drop_classes`` are left out after the RR features are computed. Vectorised: a 30-minute
    MIT-BIH record (2,000-3,500 beats) takes a few milliseconds.
    """
    starts = sorted({0, *(int(s) for s in record.meta.get("segment_starts", [0]))})
    bounds = [*starts, len(record.signal)]
    if bounds[0] != 0 or any(b >= e for b, e in pairwise(bounds)):
        raise DataError(
            f"record {record.patient_id!r}: meta['segment_starts'] = {record.meta.get('segment_starts')} must be "
            f"increasing sample indices inside the signal ({len(record.signal)} samples)"
        )
    peaks, fs = record.r_peaks, record.fs
    keep_parts, rr_parts = [], []
    for lo, hi in pairwise(bounds):
        seg = np.flatnonzero((peaks >= lo) & (peaks < hi))
        if len(seg) < 3:
            continue
        r = peaks[seg]
        intervals = np.diff(r) / fs  # intervals[k] = RR between beats k and k+1 of this segment
        pre, post = intervals[:-1], intervals[1:]  # for beats 1 .. len(r) - 2
        csum = np.concatenate([[0.0], np.cumsum(intervals)])
        last = np.arange(1, len(intervals))  # index of each beat's pre-RR interval is last - 1
        first = np.maximum(last - LOCAL_RR_BEATS, 0)
        local = (csum[last] - csum[first]) / (last - first)
        rr = np.stack([pre, post, local, pre / local, post / pre], axis=1)
        inner = seg[1:-1]
        before, after = _window_reach(fs)
        fits = (peaks[inner] - before >= lo) & (peaks[inner] + after <= hi)
        keep_parts.append(inner[fits])
        rr_parts.append(rr[fits])

    keep = np.concatenate(keep_parts) if keep_parts else np.zeros(0, dtype=np.int64)
    rr = np.concatenate(rr_parts) if rr_parts else np.zeros((0, len(RR_FEATURES)))
    wanted = ~np.isin(record.labels[keep], list(drop_classes))
    keep, rr = keep[wanted], rr[wanted]
    r_index = peaks[keep]
    windows = _centred_windows(record.signal, r_index, fs)
    second = None if record.second_lead is None else _centred_windows(record.second_lead, r_index, fs)
    return BeatSet(windows, rr, record.labels[keep], r_index / fs, r_index, record.patient_id, second)


def _window_reach(fs: int) -> tuple[int, int]:
    """Samples needed before and after (inclusive) the R peak to cover :data:`WINDOW` at ``fs``."""
    if fs == FS:
        return -WINDOW[0], WINDOW[1] - 1
    scale = fs / FS
    return int(np.ceil(-WINDOW[0] * scale)), int(np.ceil((WINDOW[1] - 1) * scale))


def _centred_windows(signal: np.ndarray, r_index: np.ndarray, fs: int) -> np.ndarray:
    """float32 (n, 252): :func:`_windows` minus each window's median."""
    windows = _windows(signal, r_index, fs)
    windows -= np.median(windows, axis=1, keepdims=True)
    return windows


def _windows(signal: np.ndarray, r_index: np.ndarray, fs: int) -> np.ndarray:
    """float32 (n, 252): the signal on the 360 Hz window grid around each R peak (linear interpolation)."""
    offsets = np.arange(*WINDOW)
    if fs == FS:
        return signal[r_index[:, None] + offsets].astype(np.float32)
    pos = r_index[:, None] + offsets * (fs / FS)  # fractional sample positions at fs
    lo = np.floor(pos).astype(np.int64)
    frac = (pos - lo).astype(np.float32)
    hi = np.minimum(lo + 1, len(signal) - 1)
    return (signal[lo] * (1 - frac) + signal[hi] * frac).astype(np.float32)


def split_by_time(beats: BeatSet, support_minutes: float) -> tuple[BeatSet, BeatSet]:
    """Split a patient's beats at ``support_minutes`` after the start of the record.

    Returns ``(support, query)``: the beats whose R peak lies in the first ``support_minutes`` minutes
    (``times_s < 60 * support_minutes``) and every later beat. This is the clinical protocol: a
    cardiologist labels the first minutes of a recording and the model classifies the rest.
    """
    if not np.isfinite(support_minutes) or support_minutes < 0:
        raise DataError(f"support_minutes must be a finite number >= 0, got {support_minutes!r}")
    early = beats.times_s < 60.0 * support_minutes
    return beats.select(early), beats.select(~early)
