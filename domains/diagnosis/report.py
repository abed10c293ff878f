"""A patient-level rhythm summary from per-beat class predictions -- a decision aid, not a diagnosis.

:func:`build_report` turns the beat times and predicted AAMI classes of one recording (plus, if
available, the classifier's class probabilities) into a :class:`PatientReport`: beats and
beats/hour per class, ectopic burden, ventricular couplets / triplets / runs, supraventricular
runs, ventricular bigeminy, mean heart rate, threshold flags and a confidence section.

Conventions
-----------
* **Ectopic episodes.** Each *maximal* stretch of consecutive V beats is counted once, by its
  length: 1 = isolated, 2 = couplet, 3 = triplet, ``>= v_run_min`` = run. With the default
  ``v_run_min = 3`` a triplet is therefore *both* a triplet and a (non-sustained) run, as in Holter
  reporting, where a triplet is the shortest run of NSVT; with ``v_run_min = 2`` a couplet is a run
  too. S runs are maximal stretches of ``>= s_run_min`` consecutive S beats. A run's duration is
  the time from its first to its last beat, its rate ``60 * (n_beats - 1) / duration`` bpm. The
  rate does not qualify a run: a slow V run is reported as well.
* **Bigeminy.** An episode is a maximal stretch of strictly alternating N and V beats, trimmed to
  start on N and end on V; its cycles are its N-V pairs. Episodes with ``>= bigeminy_min_cycles``
  cycles are reported. Any S, F or second consecutive N/V beat ends an episode.
* **Burden** is the percentage of all classified beats: S, V, F and ``ectopic`` (every non-N beat).
* **Mean heart rate** counts every beat: ``60 * (n_beats - 1) / (last beat - first beat)`` bpm,
  ``None`` for fewer than two beats.
* **Flags** fire when their value is **>= threshold** (inclusive); see :class:`ReportThresholds`.
  Names (value / threshold): ``frequent_pvcs`` and ``frequent_svebs`` (V / S burden % /
  ``v_burden_flag_pct`` / ``s_burden_flag_pct``); ``nsvt`` (beats in the longest V run shorter
  than ``sustained_vt_s`` / ``v_run_min``); ``sustained_vt`` (seconds of the longest V run /
  ``sustained_vt_s``); ``svt_run`` (beats in the longest S run / ``s_run_min``);
  ``ventricular_bigeminy`` (cycles of the longest episode / ``bigeminy_min_cycles``);
  ``low_confidence`` (% uncertain beats / ``uncertain_flag_pct``, only with probabilities).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from metasuite.core.errors import DataError
from metasuite.domains.diagnosis.records import AAMI_CLASSES

__all__ = ["DISCLAIMER", "BigeminyEpisode", "PatientReport", "ReportThresholds", "Run", "build_report"]

DISCLAIMER = (
    "Decision aid only, not a diagnosis: this summary is computed automatically from per-beat classifier "
    "predictions, which can be wrong, and it is not a certified medical device. A qualified clinician must "
    "review the ECG itself before any clinical decision."
)

#: Rows sum to 1 within this tolerance (float32 softmax outputs are not exact).
_PROBA_ATOL = 1e-3
#: Markdown lists at most this many runs / episodes of each kind; ``to_dict`` has them all.
_MAX_LISTED = 20


@dataclass(frozen=True)
class ReportThresholds:
    """Every threshold the report uses; all are echoed in its output.

    Every flag fires when its value is greater than **or equal to** its threshold.

    Attributes
    ----------
    low_confidence : float, default 0.8
        A beat is *uncertain* when its highest class probability is strictly below this.
    v_burden_flag_pct : float, default 10.0
        Flag "frequent PVCs" when the V burden (% of all beats) is >= this.
    s_burden_flag_pct : float, default 10.0
        Flag frequent supraventricular ectopy when the S burden is >= this.
    v_run_min : int, default 3
        A maximal stretch of >= this many consecutive V beats is a V run (>= 2).
    sustained_vt_s : float, default 30.0
        A V run lasting >= this many seconds is sustained VT, a shorter one non-sustained VT.
    s_run_min : int, default 3
        A maximal stretch of >= this many consecutive S beats is an S (SVT) run (>= 2).
    bigeminy_min_cycles : int, default 3
        A bigeminy episode needs >= this many alternating N-V cycles (>= 2).
    uncertain_flag_pct : float, default 5.0
        Flag the report as low-confidence when uncertain beats are >= this % of all beats.
    """

    low_confidence: float = 0.8
    v_burden_flag_pct: float = 10.0
    s_burden_flag_pct: float = 10.0
    v_run_min: int = 3
    sustained_vt_s: float = 30.0
    s_run_min: int = 3
    bigeminy_min_cycles: int = 3
    uncertain_flag_pct: float = 5.0

    def __post_init__(self) -> None:
        if not 0.0 < self.low_confidence <= 1.0:
            raise DataError(f"low_confidence is a probability in (0, 1], got {self.low_confidence}")
        for name in ("v_burden_flag_pct", "s_burden_flag_pct", "uncertain_flag_pct"):
            value = getattr(self, name)
            if not 0.0 <= value <= 100.0:
                raise DataError(f"{name} is a percentage in [0, 100], got {value}")
        for name in ("v_run_min", "s_run_min", "bigeminy_min_cycles"):
            value = getattr(self, name)
            if int(value) != value or value < 2:
                raise DataError(f"{name} must be an integer >= 2, got {value}")
        if not self.sustained_vt_s > 0:
            raise DataError(f"sustained_vt_s must be positive (seconds), got {self.sustained_vt_s}")


class Run(NamedTuple):
    """A maximal stretch of consecutive beats of one class."""

    start_s: float  # time of its first beat
    n_beats: int
    rate_bpm: float  # 60 * (n_beats - 1) / (last beat time - first beat time)


class BigeminyEpisode(NamedTuple):
    """A maximal stretch of alternating N-V beats, from its first N to its last V."""

    start_s: float
    end_s: float
    n_cycles: int


@dataclass
class PatientReport:
    """The rhythm summary of one recording; built by :func:`build_report`.

    Attributes
    ----------
    n_beats : int
    duration_s : float
        Recording length in seconds.
    classes : tuple of str
        Class names, in the column order of the probabilities.
    beats, beats_per_hour : dict class -> int / float
    burden_pct : dict
        ``"S"``, ``"V"``, ``"F"`` (every non-N class) and ``"ectopic"``: % of all beats.
    mean_hr_bpm : float or None
        ``None`` for fewer than two beats.
    v_couplets, v_triplets : int
        Maximal V episodes of exactly 2 / exactly 3 beats.
    v_runs, s_runs : list of Run
        Maximal episodes of >= ``v_run_min`` V / >= ``s_run_min`` S beats, in time order.
    bigeminy : list of BigeminyEpisode
    flags : list of dict
        ``{"name", "value", "threshold", "message"}``; a flag is present iff ``value >= threshold``.
    confidence : dict or None
        ``n_uncertain``, ``pct_uncertain``, ``mean_max_proba``; ``None`` without probabilities.
    thresholds : ReportThresholds
    disclaimer : str
    """

    n_beats: int
    duration_s: float
    classes: tuple[str, ...]
    beats: dict[str, int]
    beats_per_hour: dict[str, float]
    burden_pct: dict[str, float]
    mean_hr_bpm: float | None
    v_couplets: int
    v_triplets: int
    v_runs: list[Run]
    s_runs: list[Run]
    bigeminy: list[BigeminyEpisode]
    flags: list[dict[str, Any]]
    confidence: dict[str, float] | None
    thresholds: ReportThresholds
    disclaimer: str = field(default=DISCLAIMER)

    def flag_names(self) -> list[str]:
        return [f["name"] for f in self.flags]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable data; runs and episodes become dicts of their named fields."""
        return {
            "n_beats": self.n_beats,
            "duration_s": self.duration_s,
            "classes": list(self.classes),
            "beats": dict(self.beats),
            "beats_per_hour": dict(self.beats_per_hour),
            "burden_pct": dict(self.burden_pct),
            "mean_hr_bpm": self.mean_hr_bpm,
            "v_couplets": self.v_couplets,
            "v_triplets": self.v_triplets,
            "v_runs": [r._asdict() for r in self.v_runs],
            "s_runs": [r._asdict() for r in self.s_runs],
            "bigeminy": [e._asdict() for e in self.bigeminy],
            "flags": [dict(f) for f in self.flags],
            "confidence": None if self.confidence is None else dict(self.confidence),
            "thresholds": asdict(self.thresholds),
            "disclaimer": self.disclaimer,
        }

    def to_markdown(self) -> str:
        """A human-readable report; the disclaimer comes first."""
        t = self.thresholds
        hr = "n/a (fewer than two beats)" if self.mean_hr_bpm is None else f"{self.mean_hr_bpm:.0f} bpm"
        lines = [
            "# Rhythm summary (decision aid)",
            "",
            f"> **{self.disclaimer}**",
            "",
            f"Recording: {self.duration_s / 3600:.2f} h ({self.duration_s:.0f} s), {self.n_beats} beats, "
            f"mean heart rate {hr}.",
            "",
            "## Beats",
            "",
            "| Class | Beats | Beats/hour | Burden % |",
            "|---|---:|---:|---:|",
        ]
        for c in self.classes:
            burden = f"{self.burden_pct[c]:.1f}" if c in self.burden_pct else "-"
            lines.append(f"| {c} | {self.beats[c]} | {self.beats_per_hour[c]:.1f} | {burden} |")
        lines.append(f"| ectopic (non-N) | {self.n_beats - self.beats['N']} | | {self.burden_pct['ectopic']:.1f} |")
        lines += [
            "",
            "## Ventricular ectopy",
            "",
            f"- Couplets (2 consecutive V): {self.v_couplets}",
            f"- Triplets (3 consecutive V): {self.v_triplets}",
            f"- Runs (>= {t.v_run_min} consecutive V): {len(self.v_runs)}",
            *_run_lines(self.v_runs),
            "",
            "## Supraventricular runs",
            "",
            f"- Runs (>= {t.s_run_min} consecutive S): {len(self.s_runs)}",
            *_run_lines(self.s_runs),
            "",
            "## Ventricular bigeminy",
            "",
            f"- Episodes (>= {t.bigeminy_min_cycles} alternating N-V cycles): {len(self.bigeminy)}",
            *[f"  - {e.start_s:.1f} s to {e.end_s:.1f} s: {e.n_cycles} cycles" for e in self.bigeminy[:_MAX_LISTED]],
            *_more_line(len(self.bigeminy)),
            "",
            "## Flags",
            "",
        ]
        if self.flags:
            lines += [f"- **{f['name']}**: {f['message']}" for f in self.flags]
        else:
            lines.append("- none")
        lines += ["", "## Confidence", ""]
        if self.confidence is None:
            lines.append("Class probabilities were not provided: the confidence of the predictions is not assessed.")
        else:
            c = self.confidence
            lines += [
                f"- Uncertain beats (max probability < {t.low_confidence:g}): {c['n_uncertain']} "
                f"({c['pct_uncertain']:.1f}%)",
                f"- Mean max probability: {c['mean_max_proba']:.3f}",
            ]
        lines += ["", "## Thresholds used", "", "| Threshold | Value |", "|---|---:|"]
        lines += [f"| {name} | {value:g} |" for name, value in asdict(t).items()]
        return "\n".join(lines) + "\n"


def _more_line(n: int) -> list[str]:
    return [f"  - ... and {n - _MAX_LISTED} more (see to_dict())"] if n > _MAX_LISTED else []


def _run_lines(runs: list[Run]) -> list[str]:
    lines = [f"  - at {r.start_s:.1f} s: {r.n_beats} beats, {r.rate_bpm:.0f} bpm" for r in runs[:_MAX_LISTED]]
    return lines + _more_line(len(runs))


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start index and length of every maximal stretch of True in a 1-D boolean mask."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)  # one past the last True
    return starts, ends - starts


def _as_runs(times: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> list[Run]:
    durations = times[starts + lengths - 1] - times[starts]
    rates = 60.0 * (lengths - 1) / durations
    return [Run(float(t), int(n), float(r)) for t, n, r in zip(times[starts], lengths, rates)]


def _check_times(beat_times_s: ArrayLike) -> np.ndarray:
    times = np.asarray(beat_times_s, dtype=np.float64)
    if times.ndim != 1:
        raise DataError(f"beat_times_s must be 1-D (one time per beat), got shape {times.shape}")
    if len(times) == 0:
        raise DataError("no beats to report on: beat_times_s is empty")
    if not np.isfinite(times).all():
        raise DataError("beat_times_s contains NaN or infinite values")
    if times[0] < 0:
        raise DataError(f"beat_times_s are seconds from the start of the recording; got {times[0]} < 0")
    bad = np.flatnonzero(np.diff(times) <= 0)
    if len(bad):
        i = int(bad[0])
        raise DataError(
            f"beat_times_s must be strictly increasing (sorted, no duplicates): beat {i + 1} at {times[i + 1]} s "
            f"follows beat {i} at {times[i]} s"
        )
    return times


def _check_pred(pred: ArrayLike, classes: tuple[str, ...], n_beats: int) -> np.ndarray:
    """Class ids (int64, indices into ``classes``) from class names or ids."""
    arr = np.asarray(pred)
    if arr.shape != (n_beats,):
        raise DataError(f"pred has shape {arr.shape} but there are {n_beats} beat times")
    if arr.dtype.kind in "iu":
        if arr.min() < 0 or arr.max() >= len(classes):
            raise DataError(f"pred holds class ids {arr.min()}..{arr.max()}; expected 0..{len(classes) - 1} {classes}")
        return arr.astype(np.int64)
    if arr.dtype.kind == "U" or (arr.dtype.kind == "O" and all(isinstance(p, str) for p in arr.tolist())):
        names, inverse = np.unique(arr.astype(str), return_inverse=True)
        unknown = [name for name in names.tolist() if name not in classes]
        if unknown:
            raise DataError(f"pred holds unknown class names {unknown}; expected one of {classes}")
        return np.array([classes.index(name) for name in names.tolist()], dtype=np.int64)[inverse]
    raise DataError(f"pred must hold class names {classes} or integer class ids, got dtype {arr.dtype}")


def _check_proba(proba: ArrayLike, n_beats: int, n_classes: int) -> np.ndarray:
    p = np.asarray(proba, dtype=np.float64)
    if p.shape != (n_beats, n_classes):
        raise DataError(f"proba has shape {p.shape}; expected (n_beats, n_classes) = ({n_beats}, {n_classes})")
    bad = np.flatnonzero(~np.isfinite(p).all(axis=1))
    if len(bad):
        raise DataError(f"proba contains NaN or infinite values ({len(bad)} beats, first at beat {int(bad[0])})")
    if (p < 0).any() or (p > 1).any():
        raise DataError("proba values must lie in [0, 1]: pass class probabilities (softmax), not logits")
    off = np.flatnonzero(np.abs(p.sum(axis=1) - 1.0) > _PROBA_ATOL)
    if len(off):
        i = int(off[0])
        raise DataError(
            f"proba rows must sum to 1 (within {_PROBA_ATOL}); {len(off)} rows do not, e.g. beat {i} sums to "
            f"{p[i].sum():.4f}: pass softmax probabilities"
        )
    return p


def _check_duration(duration_s: float | None, times: np.ndarray) -> float:
    if duration_s is None:
        duration = float(times[-1])
        if duration <= 0:
            raise DataError("cannot infer the recording length from a single beat at 0 s: pass duration_s")
        return duration
    duration = float(duration_s)
    if not math.isfinite(duration) or duration <= 0:
        raise DataError(f"duration_s must be a positive number of seconds, got {duration_s}")
    if duration < times[-1]:
        raise DataError(f"duration_s = {duration} s but the last beat is at {times[-1]} s")
    return duration


def _bigeminy(ids: np.ndarray, times: np.ndarray, n_id: int, v_id: int, min_cycles: int) -> list[BigeminyEpisode]:
    is_n, is_v = ids == n_id, ids == v_id
    alternates = (is_n[:-1] & is_v[1:]) | (is_v[:-1] & is_n[1:])  # pair (i, i + 1) alternates N/V
    starts, lengths = _runs(alternates)
    last = starts + lengths  # last beat of the alternating stretch (lengths pairs = lengths + 1 beats)
    first = np.where(is_n[starts], starts, starts + 1)  # trim to start on N ...
    last = np.where(is_v[last], last, last - 1)  # ... and end on V
    cycles = (last - first + 1) // 2
    keep = cycles >= min_cycles
    return [
        BigeminyEpisode(float(times[a]), float(times[b]), int(c))
        for a, b, c in zip(first[keep], last[keep], cycles[keep])
    ]


def _flag(name: str, value: float, threshold: float, message: str) -> dict[str, Any]:
    return {"name": name, "value": value, "threshold": threshold, "message": message}


def build_report(
    beat_times_s: ArrayLike,
    pred: ArrayLike,
    proba: ArrayLike | None = None,
    duration_s: float | None = None,
    thresholds: ReportThresholds = ReportThresholds(),  # frozen: sharing one default is safe
    classes: Sequence[str] = AAMI_CLASSES,
) -> PatientReport:
    """Summarise one recording's predicted beats; see the module docstring for the conventions.

    Parameters
    ----------
    beat_times_s : array of float, shape (n_beats,)
        Time of each beat (R peak) in seconds from the start of the recording, strictly increasing.
    pred : array, shape (n_beats,)
        Predicted class of each beat: names from ``classes`` or integer ids indexing ``classes``.
    proba : array of float, shape (n_beats, len(classes)), optional
        Class probabilities (rows sum to 1); enables the confidence section and its flag.
    duration_s : float, optional
        Recording length in seconds; by default the time of the last beat.
    thresholds : ReportThresholds
    classes : sequence of str
        Class names; must include ``"N"``, ``"S"`` and ``"V"``.

    Raises
    ------
    DataError
        On mismatched lengths, unsorted times, unknown classes or probabilities that are NaN or do
        not sum to 1.
    """
    classes = tuple(classes)
    missing = [c for c in ("N", "S", "V") if c not in classes]
    if missing or len(set(classes)) != len(classes):
        raise DataError(f"classes must be distinct and include 'N', 'S' and 'V'; got {classes}")
    times = _check_times(beat_times_s)
    n = len(times)
    ids = _check_pred(pred, classes, n)
    p = None if proba is None else _check_proba(proba, n, len(classes))
    duration = _check_duration(duration_s, times)
    n_id, s_id, v_id = (classes.index(c) for c in ("N", "S", "V"))
    t = thresholds

    counts = np.bincount(ids, minlength=len(classes))
    beats = {c: int(counts[i]) for i, c in enumerate(classes)}
    burden = {c: 100.0 * beats[c] / n for c in classes if c != "N"}
    burden["ectopic"] = 100.0 * (n - beats["N"]) / n

    v_starts, v_lengths = _runs(ids == v_id)
    is_v_run = v_lengths >= t.v_run_min
    v_runs = _as_runs(times, v_starts[is_v_run], v_lengths[is_v_run])
    v_run_s = times[v_starts + v_lengths - 1][is_v_run] - times[v_starts][is_v_run]
    s_starts, s_lengths = _runs(ids == s_id)
    is_s_run = s_lengths >= t.s_run_min
    s_runs = _as_runs(times, s_starts[is_s_run], s_lengths[is_s_run])
    bigeminy = _bigeminy(ids, times, n_id, v_id, t.bigeminy_min_cycles)

    flags = []
    if burden["V"] >= t.v_burden_flag_pct:
        flags.append(
            _flag(
                "frequent_pvcs",
                burden["V"],
                t.v_burden_flag_pct,
                f"V burden {burden['V']:.1f}% >= {t.v_burden_flag_pct:g}%: frequent PVCs",
            )
        )
    if burden["S"] >= t.s_burden_flag_pct:
        flags.append(
            _flag(
                "frequent_svebs",
                burden["S"],
                t.s_burden_flag_pct,
                f"S burden {burden['S']:.1f}% >= {t.s_burden_flag_pct:g}%: frequent supraventricular ectopic beats",
            )
        )
    nsvt = v_run_s < t.sustained_vt_s
    if nsvt.any():
        longest = int(v_lengths[is_v_run][nsvt].max())
        flags.append(
            _flag(
                "nsvt",
                longest,
                t.v_run_min,
                f"{int(nsvt.sum())} run(s) of >= {t.v_run_min} consecutive V beats lasting < {t.sustained_vt_s:g} s "
                f"(non-sustained VT), longest {longest} beats",
            )
        )
    if (~nsvt).any():
        longest_s = float(v_run_s.max())
        flags.append(
            _flag(
                "sustained_vt",
                longest_s,
                t.sustained_vt_s,
                f"{int((~nsvt).sum())} run(s) of consecutive V beats lasting >= {t.sustained_vt_s:g} s "
                f"(sustained VT), longest {longest_s:.1f} s",
            )
        )
    if s_runs:
        longest = max(r.n_beats for r in s_runs)
        flags.append(
            _flag(
                "svt_run",
                longest,
                t.s_run_min,
                f"{len(s_runs)} run(s) of >= {t.s_run_min} consecutive S beats (SVT), longest {longest} beats",
            )
        )
    if bigeminy:
        most = max(e.n_cycles for e in bigeminy)
        flags.append(
            _flag(
                "ventricular_bigeminy",
                most,
                t.bigeminy_min_cycles,
                f"{len(bigeminy)} episode(s) of >= {t.bigeminy_min_cycles} alternating N-V cycles (ventricular "
                f"bigeminy), longest {most} cycles",
            )
        )

    confidence = None
    if p is not None:
        max_p = p.max(axis=1)
        n_uncertain = int((max_p < t.low_confidence).sum())
        confidence = {
            "n_uncertain": n_uncertain,
            "pct_uncertain": 100.0 * n_uncertain / n,
            "mean_max_proba": float(max_p.mean()),
        }
        if confidence["pct_uncertain"] >= t.uncertain_flag_pct:
            flags.append(
                _flag(
                    "low_confidence",
                    confidence["pct_uncertain"],
                    t.uncertain_flag_pct,
                    f"{confidence['pct_uncertain']:.1f}% of beats have max class probability < "
                    f"{t.low_confidence:g} (>= {t.uncertain_flag_pct:g}%): review the classification",
                )
            )

    return PatientReport(
        n_beats=n,
        duration_s=duration,
        classes=classes,
        beats=beats,
        beats_per_hour={c: 3600.0 * k / duration for c, k in beats.items()},
        burden_pct=burden,
        mean_hr_bpm=60.0 * (n - 1) / float(times[-1] - times[0]) if n > 1 else None,
        v_couplets=int((v_lengths == 2).sum()),
        v_triplets=int((v_lengths == 3).sum()),
        v_runs=v_runs,
        s_runs=s_runs,
        bigeminy=bigeminy,
        flags=flags,
        confidence=confidence,
        thresholds=t,
        disclaimer=DISCLAIMER,
    )
