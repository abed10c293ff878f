"""The one in-memory form of an ECG recording that every part of the diagnosis domain shares.

A :class:`PatientRecord` is what the synthetic cohort (:mod:`metasuite.domains.diagnosis.synth`) generates
and what the MIT-BIH reader (:mod:`metasuite.domains.diagnosis.mitdb`) loads: one lead (MLII), optionally a
second lead of the same recording, the sampling rate, the R-peak sample index of every annotated beat and the
beat's AAMI EC57 class.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from metasuite.core.errors import DataError

__all__ = ["AAMI_CLASSES", "ALL_AAMI", "FS", "PatientRecord"]

#: The four classes the models predict (AAMI EC57); ``Q`` (unclassifiable / paced) beats are kept
#: in records but never used as training or evaluation labels.
AAMI_CLASSES = ("N", "S", "V", "F")
ALL_AAMI = (*AAMI_CLASSES, "Q")
#: Sampling rate of MIT-BIH and of the synthetic cohort (Hz).
FS = 360


@dataclass
class PatientRecord:
    """One patient's recording.

    Attributes
    ----------
    patient_id : str
        ``"mitdb:201+202"``, ``"synth:17"``, ...
    fs : int
        Sampling rate in Hz.
    signal : np.ndarray, float32, shape (n_samples,)
        The lead used for classification (MLII for MIT-BIH), in mV.
    r_peaks : np.ndarray, int64, shape (n_beats,)
        Sample index of each annotated beat's R peak, strictly increasing.
    labels : np.ndarray, dtype '<U1', shape (n_beats,)
        AAMI class of each beat, one of :data:`ALL_AAMI`.
    source : str
        Where the record came from (a file path or ``"synthetic"``).
    meta : dict
        Anything else (MIT-BIH record names, the second lead's name ``meta["second_lead"]``, synthetic profile
        parameters ...).
    second_lead : np.ndarray, float32, shape (n_samples,), optional
        Another lead of the same recording, sample for sample (MIT-BIH's V1 in most records), in mV; None when
        only one lead was loaded.
    """

    patient_id: str
    fs: int
    signal: np.ndarray
    r_peaks: np.ndarray
    labels: np.ndarray
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    second_lead: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.signal = np.asarray(self.signal, dtype=np.float32)
        if self.second_lead is not None:
            self.second_lead = np.asarray(self.second_lead, dtype=np.float32)
        self.r_peaks = np.asarray(self.r_peaks, dtype=np.int64)
        self.labels = np.asarray(self.labels, dtype="<U1")
        where = f"record {self.patient_id!r} ({self.source or 'in memory'})"
        if self.signal.ndim != 1:
            raise DataError(f"{where}: signal must be one lead, shape (n_samples,), got {self.signal.shape}")
        if self.r_peaks.shape != self.labels.shape:
            raise DataError(f"{where}: {len(self.r_peaks)} R peaks but {len(self.labels)} labels")
        if not np.isfinite(self.signal).all():
            raise DataError(f"{where}: the signal contains NaN or infinite samples")
        if self.second_lead is not None and self.second_lead.shape != self.signal.shape:
            raise DataError(f"{where}: second lead of shape {self.second_lead.shape}, signal {self.signal.shape}")
        if self.second_lead is not None and not np.isfinite(self.second_lead).all():
            raise DataError(f"{where}: the second lead contains NaN or infinite samples")
        if len(self.r_peaks) and (self.r_peaks.min() < 0 or self.r_peaks.max() >= len(self.signal)):
            raise DataError(
                f"{where}: beat annotations run from sample {self.r_peaks.min()} to {self.r_peaks.max()} but the "
                f"signal has {len(self.signal)} samples (annotation and signal files do not match)"
            )
        if len(self.r_peaks) > 1 and (np.diff(self.r_peaks) <= 0).any():
            raise DataError(f"{where}: R-peak positions must be strictly increasing")
        bad = sorted(set(self.labels.tolist()) - set(ALL_AAMI))
        if bad:
            raise DataError(f"{where}: unknown beat classes {bad}; expected AAMI classes {ALL_AAMI}")

    @property
    def duration_s(self) -> float:
        return len(self.signal) / self.fs

    def counts(self) -> dict[str, int]:
        """Number of beats per AAMI class (every class of :data:`ALL_AAMI`, zeros included)."""
        return {c: int((self.labels == c).sum()) for c in ALL_AAMI}
