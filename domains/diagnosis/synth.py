"""A deterministic synthetic ECG cohort: one lead at 360 Hz, in mV, with AAMI EC57 beat labels.

Every patient is a :class:`PatientProfile` drawn from its integer seed by :func:`sample_profile`:
a sinus rate and heart-rate variability, the shape of the P, Q, R, S and T waves, the ectopic
P wave of its supraventricular beats, one to three ventricular foci (each with its own wide QRS
and discordant T wave), its ectopy burdens and its noise. :func:`synth_patient` turns a profile
into a :class:`~metasuite.domains.diagnosis.records.PatientRecord` in three steps:

1. **Rhythm.** The sinus node fires with a cycle length modulated by respiration (respiratory
   sinus arrhythmia), a low-frequency (0.04-0.15 Hz) and a very-low-frequency process, plus
   beat-to-beat noise. Ectopic events replace sinus cycles with their physiology:

   * ``S`` -- premature (coupling 60-80 % of the sinus cycle), abnormal, inverted or absent P wave,
     normal narrow QRS; it resets the sinus node, so the pause after it is *not* compensatory
     (pre-RR + post-RR < 2 sinus cycles). Some patients have short atrial runs.
   * ``V`` -- premature (coupling 55-78 %), no P wave, QRS >= 120 ms of the focus' own shape, T wave
     opposite to the main QRS deflection; the sinus impulse that falls into its refractory period
     is blocked, so the pause is fully compensatory (pre-RR + post-RR = 2 sinus cycles). Some
     patients have couplets, triplets, short runs and bigeminy / trigeminy episodes.
   * ``F`` -- a ventricular focus firing just as the sinus impulse arrives: near-normal timing,
     sinus P wave, QRS and T between the patient's normal and ventricular shapes.

   ``Q`` beats are never generated.

2. **Beats.** Each wave is an asymmetric Gaussian (in the spirit of ECGSYN, McSharry et al.,
   "A dynamical model for generating synthetic electrocardiogram signals", IEEE TBME 2003, but
   placed directly in the time domain), evaluated for all beats at once on a window of
   -0.40 s .. +0.70 s around the R peak and overlap-added. Per beat: small amplitude jitter,
   respiratory modulation of the QRS amplitude, and a T wave that moves with the preceding RR
   interval (Fridericia, QT = QTc * RR^(1/3)).

3. **Noise.** Baseline wander (respiration plus a 0.05-0.5 Hz drift), muscle (EMG) noise
   (15-150 Hz, in bursts) and powerline interference (50 or 60 Hz, per patient).

Everything is drawn from explicit :class:`numpy.random.Generator` objects seeded by the patient
seed: the same seed gives bit-identical arrays. :data:`SYNTH_VERSION` names this generator; bump
it whenever its output changes (trained-model tests key off it, :func:`synth_fingerprint` also
hashes every defining constant).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable
from dataclasses import asdict, astuple, dataclass, replace
from typing import Any

import numpy as np
from scipy import fft as sp_fft

from metasuite.core.errors import DataError
from metasuite.domains.diagnosis.records import FS, PatientRecord

__all__ = [
    "SYNTH_VERSION",
    "PatientProfile",
    "VentricularFocus",
    "Wave",
    "beat_templates",
    "sample_profile",
    "synth_cohort",
    "synth_fingerprint",
    "synth_patient",
]

SYNTH_VERSION = "ecg-synth-v1"

# Sub-streams of a patient's seed: the profile and the recording draw from independent generators,
# so a caller-supplied profile does not shift the recording's noise.
_PROFILE_STREAM = 0
_RECORDING_STREAM = 1


@dataclass(frozen=True)
class _Constants:
    """The priors and fixed parameters that define the generator (all hashed by :func:`synth_fingerprint`).

    ``(lo, hi)`` pairs are uniform ranges unless the name says ``log``; times are seconds, amplitudes mV,
    ``*_frac`` are fractions (of the RR interval, of the R amplitude, ...).
    """

    # rhythm
    hr_bpm: tuple[float, float] = (55.0, 100.0)
    resp_hz: tuple[float, float] = (0.15, 0.40)
    resp_wander_frac: float = 0.08  # slow drift of the breathing rate
    resp_wander_band_hz: tuple[float, float] = (0.005, 0.05)
    rsa_frac: tuple[float, float] = (0.01, 0.06)
    lf_frac: tuple[float, float] = (0.005, 0.03)
    lf_band_hz: tuple[float, float] = (0.04, 0.15)
    vlf_frac: tuple[float, float] = (0.01, 0.05)
    vlf_band_hz: tuple[float, float] = (0.003, 0.04)
    rr_noise_frac: tuple[float, float] = (0.003, 0.015)
    min_cycle_s: float = 0.32  # no sinus cycle or ventricular run faster than ~190 bpm
    rhythm_grid_hz: float = 4.0
    # normal beat morphology
    pr_s: tuple[float, float] = (0.13, 0.20)
    qtc_s: tuple[float, float] = (0.37, 0.44)
    p_amp_mv: tuple[float, float] = (0.08, 0.25)
    p_width_s: tuple[float, float] = (0.016, 0.026)
    q_amp_mv: tuple[float, float] = (0.03, 0.15)
    q_offset_s: tuple[float, float] = (0.022, 0.032)
    q_width_s: tuple[float, float] = (0.006, 0.010)
    r_amp_mv: tuple[float, float] = (0.7, 1.8)
    r_width_s: tuple[float, float] = (0.007, 0.012)
    s_amp_mv: tuple[float, float] = (0.05, 0.45)
    s_offset_s: tuple[float, float] = (0.022, 0.035)
    s_width_s: tuple[float, float] = (0.007, 0.013)
    t_amp_frac: tuple[float, float] = (0.12, 0.35)
    t_width_left_s: tuple[float, float] = (0.045, 0.07)
    t_width_right_s: tuple[float, float] = (0.028, 0.045)
    edr_frac: tuple[float, float] = (0.02, 0.08)
    beat_jitter_frac: tuple[float, float] = (0.01, 0.04)
    wave_jitter_frac: float = 0.05
    # ectopy burdens (target fraction of all beats)
    no_ectopy_prob: float = 0.30
    v_present_prob: float = 0.75
    v_burden_log: tuple[float, float] = (0.002, 0.20)
    s_present_prob: float = 0.55
    s_burden_log: tuple[float, float] = (0.002, 0.10)
    f_present_prob: float = 0.40  # among patients with V beats
    f_share_of_v: tuple[float, float] = (0.05, 0.30)
    # supraventricular beats
    s_coupling: tuple[float, float] = (0.60, 0.80)
    s_reset_frac: tuple[float, float] = (0.03, 0.15)
    s_run_patient_prob: float = 0.30
    s_run_prob: tuple[float, float] = (0.02, 0.10)
    s_run_beats: tuple[int, int] = (3, 8)
    s_p_kinds: tuple[str, ...] = ("ectopic", "inverted", "absent")
    s_p_kind_probs: tuple[float, ...] = (0.5, 0.3, 0.2)
    s_pr_s: tuple[float, float] = (0.11, 0.22)
    s_p_width_frac: tuple[float, float] = (0.7, 1.3)
    s_p_amp_frac: tuple[float, float] = (0.5, 1.5)
    s_inverted_pr_s: tuple[float, float] = (0.08, 0.12)
    s_p_inverted_amp_frac: tuple[float, float] = (0.5, 1.0)
    # ventricular beats
    v_foci_probs: tuple[float, ...] = (0.7, 0.2, 0.1)  # one, two, three foci (multiform)
    v_positive_prob: float = 0.6
    v_amp_frac: tuple[float, float] = (1.0, 2.0)
    v_width_left_s: tuple[float, float] = (0.022, 0.034)
    v_width_right_s: tuple[float, float] = (0.028, 0.045)
    v_notch_offset_s: tuple[float, float] = (0.035, 0.07)
    v_notch_amp_frac: tuple[float, float] = (-0.5, 0.3)
    v_notch_width_s: tuple[float, float] = (0.012, 0.025)
    v_slur_offset_s: tuple[float, float] = (-0.04, 0.05)
    v_slur_amp_frac: tuple[float, float] = (-0.3, 0.3)
    v_slur_width_s: tuple[float, float] = (0.015, 0.03)
    v_t_amp_frac: tuple[float, float] = (0.25, 0.5)
    v_t_center_s: tuple[float, float] = (0.24, 0.32)
    v_t_width_left_s: tuple[float, float] = (0.06, 0.09)
    v_t_width_right_s: tuple[float, float] = (0.04, 0.06)
    v_coupling: tuple[float, float] = (0.55, 0.78)
    v_run_cycle_frac: tuple[float, float] = (0.50, 0.75)
    v_refractory_frac: float = 0.5  # a sinus impulse this soon (x cycle) after a V beat is blocked
    v_repetitive_patient_prob: float = 0.40
    v_couplet_prob: tuple[float, float] = (0.02, 0.15)
    v_triplet_prob: tuple[float, float] = (0.0, 0.05)
    v_run_prob: tuple[float, float] = (0.0, 0.02)
    v_run_beats: tuple[int, int] = (4, 10)
    bigeminy_min_burden: float = 0.02
    bigeminy_patient_prob: float = 0.5
    bigeminy_prob: tuple[float, float] = (0.02, 0.10)
    bigeminy_cycles: tuple[int, int] = (8, 40)
    coupling_jitter_frac: float = 0.02
    # fusion beats
    fusion_weight: tuple[float, float] = (0.35, 0.65)
    fusion_weight_jitter: float = 0.1
    fusion_weight_clip: tuple[float, float] = (0.2, 0.8)
    fusion_timing: tuple[float, float] = (0.92, 0.99)
    # noise
    baseline_mv: tuple[float, float] = (0.03, 0.25)
    drift_mv: tuple[float, float] = (0.03, 0.25)
    drift_band_hz: tuple[float, float] = (0.05, 0.5)
    emg_mv: tuple[float, float] = (0.005, 0.04)
    emg_band_hz: tuple[float, float] = (15.0, 150.0)
    emg_burst_band_hz: tuple[float, float] = (0.01, 0.1)
    emg_burst_depth: float = 0.6
    powerline_hz: tuple[int, ...] = (50, 60)
    powerline_mv: tuple[float, float] = (0.005, 0.03)
    # beat window around the R peak
    window_s: tuple[float, float] = (-0.40, 0.70)
    max_beats_per_chunk: int = 4096


_C = _Constants()


def synth_fingerprint() -> str:
    """``sha256(version + fs + every defining constant)[:16]``: changes whenever the generator's output may."""
    payload = json.dumps({"version": SYNTH_VERSION, "fs": FS, "constants": asdict(_C)}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------------------------- profile


@dataclass(frozen=True)
class Wave:
    """One deflection: ``amp_mv * exp(-(t - center_s)^2 / (2 w^2))``, ``w = width_left_s`` before the centre and
    ``width_right_s`` after it; ``t`` in seconds relative to the R peak (the beat's annotation)."""

    amp_mv: float
    center_s: float
    width_left_s: float
    width_right_s: float


@dataclass(frozen=True)
class VentricularFocus:
    """One ectopic ventricular focus: its QRS (main deflection, notch, slur), discordant T wave and share of V beats."""

    qrs: tuple[Wave, ...]
    t_wave: Wave
    weight: float


@dataclass(frozen=True)
class PatientProfile:
    """Everything that makes one synthetic patient distinct (seconds, mV, Hz; ``*_frac`` are fractions).

    Rhythm: ``mean_hr_bpm`` is the sinus rate; the sinus cycle is ``60 / mean_hr_bpm * (1 - rsa_frac *
    sin(respiration) + lf_frac * LF + vlf_frac * VLF)`` with unit-variance LF (0.04-0.15 Hz) and VLF
    processes, times ``1 + rr_noise_frac * N(0, 1)`` per beat. Normal beat: the five waves, the T wave
    placed for RR = 1 s and moved by ``qtc_s * (RR^(1/3) - 1)``. Burdens are target fractions of all
    beats (the realised counts are in :meth:`PatientRecord.counts`).
    """

    seed: int
    # rhythm
    mean_hr_bpm: float
    resp_hz: float
    rsa_frac: float
    lf_frac: float
    vlf_frac: float
    rr_noise_frac: float
    # normal morphology
    p_wave: Wave
    q_wave: Wave
    r_wave: Wave
    s_wave: Wave
    t_wave: Wave
    qtc_s: float
    edr_frac: float
    beat_jitter_frac: float
    # supraventricular ectopy
    s_burden: float
    s_p_kind: str
    s_p_wave: Wave
    s_coupling: float
    s_reset_frac: float
    s_run_prob: float
    # ventricular ectopy and fusion
    v_burden: float
    v_foci: tuple[VentricularFocus, ...]
    v_coupling: float
    v_run_cycle_frac: float
    v_couplet_prob: float
    v_triplet_prob: float
    v_run_prob: float
    bigeminy_prob: float
    f_burden: float
    fusion_weight: float
    # noise
    baseline_mv: float
    drift_mv: float
    emg_mv: float
    powerline_hz: int
    powerline_mv: float

    @property
    def has_ectopy(self) -> bool:
        return self.s_burden + self.v_burden + self.f_burden > 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (nested waves become dicts, tuples stay tuples / become JSON lists)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PatientProfile:
        """Inverse of :meth:`to_dict` (also accepts the lists that a JSON round trip makes of tuples)."""
        d = dict(data)
        for name in ("p_wave", "q_wave", "r_wave", "s_wave", "t_wave", "s_p_wave"):
            d[name] = Wave(**d[name])
        d["v_foci"] = tuple(
            VentricularFocus(tuple(Wave(**w) for w in f["qrs"]), Wave(**f["t_wave"]), f["weight"]) for f in d["v_foci"]
        )
        return cls(**d)


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise DataError(f"a synthetic patient's seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def _uniform(rng: np.random.Generator, lo_hi: tuple[float, float]) -> float:
    return float(rng.uniform(*lo_hi))


def _log_uniform(rng: np.random.Generator, lo_hi: tuple[float, float]) -> float:
    return float(math.exp(rng.uniform(math.log(lo_hi[0]), math.log(lo_hi[1]))))


def _ventricular_focus(rng: np.random.Generator, r_amp: float, weight: float) -> VentricularFocus:
    """A wide bizarre QRS (main deflection, notch, slur) with a T wave opposite to the main deflection.

    The centres are shifted so that the QRS extreme (the annotated "R peak" of the V beat) is at t = 0.
    """
    sign = 1.0 if rng.random() < _C.v_positive_prob else -1.0
    main_amp = sign * r_amp * _uniform(rng, _C.v_amp_frac)
    main = Wave(main_amp, 0.0, _uniform(rng, _C.v_width_left_s), _uniform(rng, _C.v_width_right_s))
    notch_width = _uniform(rng, _C.v_notch_width_s)
    notch = Wave(
        main_amp * _uniform(rng, _C.v_notch_amp_frac),
        float(rng.choice((-1.0, 1.0))) * _uniform(rng, _C.v_notch_offset_s),
        notch_width,
        notch_width,
    )
    slur_width = _uniform(rng, _C.v_slur_width_s)
    slur = Wave(main_amp * _uniform(rng, _C.v_slur_amp_frac), _uniform(rng, _C.v_slur_offset_s), slur_width, slur_width)
    t_left, t_right = _uniform(rng, _C.v_t_width_left_s), _uniform(rng, _C.v_t_width_right_s)
    t_wave = Wave(-main_amp * _uniform(rng, _C.v_t_amp_frac), _uniform(rng, _C.v_t_center_s), t_left, t_right)
    fine = np.linspace(-0.1, 0.1, 2001)
    qrs = _wave_sum(fine, (main, notch, slur))
    shift = float(fine[np.argmax(np.abs(qrs))])
    move = lambda w: replace(w, center_s=w.center_s - shift)
    return VentricularFocus((move(main), move(notch), move(slur)), move(t_wave), weight)


def _p_wave_center(pr_s: float, width_s: float) -> float:
    """Centre (s, relative to R) of a P wave of ``width_s`` whose onset is ``pr_s`` before the QRS onset.

    The P onset is taken 2.5 widths before its centre and the QRS onset 0.04 s before the R peak.
    """
    return -(pr_s + 0.04) + 2.5 * width_s


def sample_profile(seed: int) -> PatientProfile:
    """Draw the patient of ``seed`` (a non-negative integer) from the cohort's priors.

    About 30 % of patients have no ectopy at all; the others have V beats (75 %), S beats (55 %) and
    fusion beats (40 % of those with V), with log-uniform burdens (V up to 20 %, S up to 10 % of beats).
    """
    rng = np.random.default_rng([_check_seed(seed), _PROFILE_STREAM])
    u = lambda lo_hi: _uniform(rng, lo_hi)

    r_amp = u(_C.r_amp_mv)
    pr = u(_C.pr_s)
    p_width = u(_C.p_width_s)
    p_center = _p_wave_center(pr, p_width)
    p_wave = Wave(u(_C.p_amp_mv), p_center, p_width, p_width)
    q_width, s_width = u(_C.q_width_s), u(_C.s_width_s)
    q_wave = Wave(-u(_C.q_amp_mv), -u(_C.q_offset_s), q_width, q_width)
    r_width = u(_C.r_width_s)
    r_wave = Wave(r_amp, 0.0, r_width, r_width)
    s_wave = Wave(-u(_C.s_amp_mv), u(_C.s_offset_s), s_width, s_width)
    qtc = u(_C.qtc_s)
    t_left, t_right = u(_C.t_width_left_s), u(_C.t_width_right_s)
    # T end (~2.5 right widths past the centre) at QT after QRS onset, for RR = 1 s.
    t_wave = Wave(r_amp * u(_C.t_amp_frac), qtc - 0.04 - 2.5 * t_right, t_left, t_right)

    s_p_kind = str(rng.choice(_C.s_p_kinds, p=_C.s_p_kind_probs))
    if s_p_kind == "ectopic":  # another atrial site: different size, width and PR
        w = p_width * u(_C.s_p_width_frac)
        s_p_wave = Wave(p_wave.amp_mv * u(_C.s_p_amp_frac), _p_wave_center(u(_C.s_pr_s), w), w, w)
    elif s_p_kind == "inverted":  # low atrial: negative P with a short PR
        amp = -p_wave.amp_mv * u(_C.s_p_inverted_amp_frac)
        s_p_wave = Wave(amp, _p_wave_center(u(_C.s_inverted_pr_s), p_width), p_width, p_width)
    else:  # junctional: no visible P wave
        s_p_wave = Wave(0.0, p_center, p_width, p_width)

    n_foci = 1 + int(rng.choice(len(_C.v_foci_probs), p=_C.v_foci_probs))
    weights = rng.dirichlet(np.full(n_foci, 2.0))
    v_foci = tuple(_ventricular_focus(rng, r_amp, float(wt)) for wt in weights)

    s_burden = v_burden = f_burden = 0.0
    if rng.random() >= _C.no_ectopy_prob:
        has_v = rng.random() < _C.v_present_prob
        has_s = rng.random() < _C.s_present_prob
        if not (has_v or has_s):
            has_v = rng.random() < 0.5
            has_s = not has_v
        if has_v:
            v_burden = _log_uniform(rng, _C.v_burden_log)
            if rng.random() < _C.f_present_prob:
                f_burden = v_burden * u(_C.f_share_of_v)
        if has_s:
            s_burden = _log_uniform(rng, _C.s_burden_log)
    repetitive = v_burden > 0 and rng.random() < _C.v_repetitive_patient_prob
    bigeminal = v_burden >= _C.bigeminy_min_burden and rng.random() < _C.bigeminy_patient_prob

    return PatientProfile(
        seed=int(seed),
        mean_hr_bpm=u(_C.hr_bpm),
        resp_hz=u(_C.resp_hz),
        rsa_frac=u(_C.rsa_frac),
        lf_frac=u(_C.lf_frac),
        vlf_frac=u(_C.vlf_frac),
        rr_noise_frac=u(_C.rr_noise_frac),
        p_wave=p_wave,
        q_wave=q_wave,
        r_wave=r_wave,
        s_wave=s_wave,
        t_wave=t_wave,
        qtc_s=qtc,
        edr_frac=u(_C.edr_frac),
        beat_jitter_frac=u(_C.beat_jitter_frac),
        s_burden=s_burden,
        s_p_kind=s_p_kind,
        s_p_wave=s_p_wave,
        s_coupling=u(_C.s_coupling),
        s_reset_frac=u(_C.s_reset_frac),
        s_run_prob=u(_C.s_run_prob) if s_burden > 0 and rng.random() < _C.s_run_patient_prob else 0.0,
        v_burden=v_burden,
        v_foci=v_foci,
        v_coupling=u(_C.v_coupling),
        v_run_cycle_frac=u(_C.v_run_cycle_frac),
        v_couplet_prob=u(_C.v_couplet_prob) if repetitive else 0.0,
        v_triplet_prob=u(_C.v_triplet_prob) if repetitive else 0.0,
        v_run_prob=u(_C.v_run_prob) if repetitive else 0.0,
        bigeminy_prob=u(_C.bigeminy_prob) if bigeminal else 0.0,
        f_burden=f_burden,
        fusion_weight=u(_C.fusion_weight),
        baseline_mv=u(_C.baseline_mv),
        drift_mv=u(_C.drift_mv),
        emg_mv=u(_C.emg_mv),
        powerline_hz=int(rng.choice(_C.powerline_hz)),
        powerline_mv=u(_C.powerline_mv),
    )


# --------------------------------------------------------------------------------------------- waves


def _asym_gauss(t: np.ndarray, amp: np.ndarray, center: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Asymmetric Gaussians, broadcast: ``t`` (W,) against per-beat parameters (n, 1) -> (n, W)."""
    d = t - center
    w = np.where(d < 0, left, right)
    return amp * np.exp(-0.5 * (d / w) ** 2)


def _wave_sum(t: np.ndarray, waves: Iterable[Wave]) -> np.ndarray:
    """Sum of fixed waves on the time axis ``t`` (s), shape (W,), in mV."""
    out = np.zeros_like(t)
    for w in waves:
        out += _asym_gauss(t, w.amp_mv, w.center_s, w.width_left_s, w.width_right_s)
    return out


def _window_axis() -> np.ndarray:
    """Sample times of the beat window relative to the R peak, shape (W,), seconds (multiples of 1/FS)."""
    lo, hi = round(_C.window_s[0] * FS), round(_C.window_s[1] * FS)
    return np.arange(lo, hi + 1) / FS


def _beat_waveforms(
    profile: PatientProfile,
    labels: np.ndarray,
    focus: np.ndarray,
    fusion_w: np.ndarray,
    pre_rr: np.ndarray,
    gains: np.ndarray,
) -> np.ndarray:
    """Noise-free beats on the window axis.

    ``labels`` (n,) of 'N','S','V','F'; ``focus`` (n,) ventricular focus index (used by V and F beats);
    ``fusion_w`` (n,) share of the ventricular shape in an F beat; ``pre_rr`` (n,) preceding RR interval (s);
    ``gains`` (n, 3) multiplicative gains of the P wave, the QRS and the T wave. Returns (n, W) in mV.
    """
    t = _window_axis()
    is_v, is_f, is_s = labels == "V", labels == "F", labels == "S"
    w_v = np.where(is_v, 1.0, np.where(is_f, fusion_w, 0.0))  # share of the ventricular shape

    p_rows = np.stack([_wave_sum(t, [profile.p_wave]), _wave_sum(t, [profile.s_p_wave])])
    p_part = p_rows[is_s.astype(np.intp)] * (gains[:, 0] * (~is_v))[:, None]

    n_qrs = _wave_sum(t, [profile.q_wave, profile.r_wave, profile.s_wave])
    v_qrs = np.stack([_wave_sum(t, f.qrs) for f in profile.v_foci])
    qrs_part = (gains[:, 1] * (1.0 - w_v))[:, None] * n_qrs + (gains[:, 1] * w_v)[:, None] * v_qrs[focus]

    # T wave parameters (amp, centre, left, right width) per beat, blended like the QRS for fusion beats.
    n_t = np.array(astuple(profile.t_wave))
    v_t = np.array([astuple(f.t_wave) for f in profile.v_foci])[focus]
    amp, center, left, right = ((1.0 - w_v)[:, None] * n_t + w_v[:, None] * v_t).T
    center = center + profile.qtc_s * (np.cbrt(np.clip(pre_rr, _C.min_cycle_s, 2.0)) - 1.0)
    t_part = _asym_gauss(t, (gains[:, 2] * amp)[:, None], center[:, None], left[:, None], right[:, None])
    return p_part + qrs_part + t_part


def beat_templates(profile: PatientProfile, rr_s: float | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Noise-free beat of each class for ``profile``, as :func:`synth_patient` draws them (without jitter).

    ``rr_s`` is the sinus cycle (default: the patient's mean); S and V beats follow their premature coupling
    interval. V uses the patient's first ventricular focus, F the profile's mean fusion weight.
    Returns ``(t, beats)``: ``t`` (W,) seconds relative to the R peak, ``beats[label]`` (W,) in mV.
    """
    rr = 60.0 / profile.mean_hr_bpm if rr_s is None else float(rr_s)
    labels = np.array(["N", "S", "V", "F"])
    pre_rr = np.array([rr, profile.s_coupling * rr, profile.v_coupling * rr, rr])
    fusion_w = np.full(4, profile.fusion_weight)
    beats = _beat_waveforms(profile, labels, np.zeros(4, dtype=np.intp), fusion_w, pre_rr, np.ones((4, 3)))
    return _window_axis(), dict(zip(labels.tolist(), beats, strict=True))


# --------------------------------------------------------------------------------------------- rhythm


def _band_noise(rng: np.random.Generator, n: int, fs: float, band_hz: tuple[float, float]) -> np.ndarray:
    """Gaussian noise with a smooth band-pass spectrum, unit standard deviation, shape (n,).

    Synthesised in the frequency domain on a length long enough to hold twenty periods of the lowest
    frequency (so short records still get their slow components), then cut to ``n``.
    """
    lo, hi = band_hz
    m = sp_fft.next_fast_len(max(n, math.ceil(20 * fs / lo)), real=True)
    f = sp_fft.rfftfreq(m, 1.0 / fs)[1:]
    f = f[f <= 10 * hi]  # the gain is below 1e-4 beyond: leave those bins at zero
    gain = 1.0 / np.sqrt((1.0 + (lo / f) ** 8) * (1.0 + (f / hi) ** 8))  # 4th-order Butterworth-like band-pass
    spectrum = np.zeros(m // 2 + 1, dtype=complex)
    spectrum[1 : len(f) + 1] = gain * (rng.standard_normal(len(f)) + 1j * rng.standard_normal(len(f)))
    x = sp_fft.irfft(spectrum, m)
    return x[:n] / x.std()


@dataclass
class _Rhythm:
    """Beat times (s), labels, ventricular focus index and fusion weight, all shape (n_beats,); the
    respiration phase (rad) on a time grid (s), shape (n_grid,), shared by RSA, QRS modulation and baseline."""

    times: np.ndarray
    labels: np.ndarray
    focus: np.ndarray
    fusion_w: np.ndarray
    grid_t: np.ndarray
    resp_phase: np.ndarray


def _event_probabilities(profile: PatientProfile) -> tuple[float, float, float]:
    """Per-sinus-cycle probabilities of starting an S, V and F event that give roughly the target burdens."""
    runs = profile.v_couplet_prob + profile.v_triplet_prob + profile.v_run_prob
    mean_run = sum(_C.v_run_beats) / 2
    v_per_event = (1 - runs) + 2 * profile.v_couplet_prob + 3 * profile.v_triplet_prob + mean_run * profile.v_run_prob
    v_per_event += profile.bigeminy_prob * sum(_C.bigeminy_cycles) / 2
    s_per_event = 1 + profile.s_run_prob * (sum(_C.s_run_beats) / 2 - 1)
    # every ectopic event is followed by at least one sinus beat; that reduces the free cycles
    free = max(1.0 - profile.s_burden - profile.v_burden - profile.f_burden, 0.5)
    return (
        profile.s_burden / s_per_event / free,
        profile.v_burden / v_per_event / free,
        profile.f_burden / free,
    )


def _rhythm(profile: PatientProfile, rng: np.random.Generator, t_start: float, t_end: float) -> _Rhythm:
    """Walk the sinus node from ``t_start`` to ``t_end`` (s), replacing cycles by ectopic events."""
    grid_fs = _C.rhythm_grid_hz
    n_grid = math.ceil((t_end - t_start + 4.0) * grid_fs)
    grid_t = t_start + np.arange(n_grid) / grid_fs
    resp_rate = profile.resp_hz * (1 + _C.resp_wander_frac * _band_noise(rng, n_grid, grid_fs, _C.resp_wander_band_hz))
    resp_phase = rng.uniform(0, 2 * np.pi) + 2 * np.pi * np.cumsum(resp_rate) / grid_fs
    cycle = (60.0 / profile.mean_hr_bpm) * (
        1.0
        - profile.rsa_frac * np.sin(resp_phase)
        + profile.lf_frac * _band_noise(rng, n_grid, grid_fs, _C.lf_band_hz)
        + profile.vlf_frac * _band_noise(rng, n_grid, grid_fs, _C.vlf_band_hz)
    )
    cycle = np.maximum(cycle, _C.min_cycle_s).tolist()
    cycle_at = lambda t: cycle[min(max(int((t - t_start) * grid_fs), 0), n_grid - 1)]

    p_s, p_v, p_f = _event_probabilities(profile)
    foci_p = np.array([f.weight for f in profile.v_foci])
    # Per-cycle random numbers, drawn in blocks (one numpy call instead of one per beat).
    n_block = math.ceil((t_end - t_start) / _C.min_cycle_s) + 16
    uniforms: list[list[float]] = []
    normals: list[list[float]] = []

    times: list[float] = []
    labels: list[str] = []
    focus: list[int] = []
    fusion_w: list[float] = []

    def emit(t: float, label: str, f: int = 0, w: float = 0.0) -> None:
        times.append(t)
        labels.append(label)
        focus.append(f)
        fusion_w.append(w)

    def pick_focus() -> int:
        return int(rng.choice(len(foci_p), p=foci_p)) if len(foci_p) > 1 else 0

    anchor = last = t_start  # last sinus discharge (conducted or not), last beat
    k = 0
    prev_ectopic = False
    episode_left = episode_gap = since_v = 0  # bigeminy / trigeminy episode state
    while last < t_end:
        if k == len(uniforms):
            uniforms += rng.random((n_block, 3)).tolist()
            normals += rng.standard_normal((n_block, 2)).tolist()
        u, z = uniforms[k], normals[k]
        k += 1
        rr = cycle_at(anchor) * (1.0 + profile.rr_noise_frac * z[0])
        if episode_left > 0 and not prev_ectopic and since_v >= episode_gap:
            event = "V1"
            episode_left -= 1
        elif prev_ectopic:
            event = "N"
        elif u[0] < p_v:
            event = "V"
        elif u[0] < p_v + p_s:
            event = "S"
        elif u[0] < p_v + p_s + p_f:
            event = "F"
        else:
            event = "N"

        if event == "N":
            last = anchor = anchor + rr
            emit(last, "N")
            since_v += 1
            prev_ectopic = False
            continue
        prev_ectopic = True
        jitter = 1.0 + _C.coupling_jitter_frac * z[1]
        if event == "S":
            n_beats = 1
            if u[1] < profile.s_run_prob:
                n_beats = int(rng.integers(_C.s_run_beats[0], _C.s_run_beats[1] + 1))
            for _ in range(n_beats):
                last += max(profile.s_coupling * rr * jitter, _C.min_cycle_s)
                emit(last, "S")
                jitter = 1.0 + _C.coupling_jitter_frac * rng.standard_normal()
            anchor = last + profile.s_reset_frac * rr  # the atrial beat reset the sinus node
        elif event == "F":
            timing = _C.fusion_timing[0] + (_C.fusion_timing[1] - _C.fusion_timing[0]) * u[1]
            w = float(np.clip(profile.fusion_weight + _C.fusion_weight_jitter * z[1], *_C.fusion_weight_clip))
            last = anchor + timing * rr
            emit(last, "F", pick_focus(), w)
            anchor += rr  # the sinus impulse arrived together with the ventricular one: no reset
            since_v = 0
        else:  # V, or V1: one V beat of a bigeminy / trigeminy episode
            n_beats = 1
            if event == "V":
                c = profile.v_couplet_prob
                if u[1] < c:
                    n_beats = 2
                elif u[1] < c + profile.v_triplet_prob:
                    n_beats = 3
                elif u[1] < c + profile.v_triplet_prob + profile.v_run_prob:
                    n_beats = int(rng.integers(_C.v_run_beats[0], _C.v_run_beats[1] + 1))
                elif u[2] < profile.bigeminy_prob:
                    episode_left = int(rng.integers(_C.bigeminy_cycles[0], _C.bigeminy_cycles[1] + 1))
                    episode_gap = 1 + int(u[2] < profile.bigeminy_prob / 3)  # 1: bigeminy, 2: trigeminy
            last += max(profile.v_coupling * rr * jitter, _C.min_cycle_s)
            emit(last, "V", pick_focus())
            for _ in range(n_beats - 1):
                step = profile.v_run_cycle_frac * rr * (1.0 + _C.coupling_jitter_frac * rng.standard_normal())
                last += max(step, _C.min_cycle_s)
                emit(last, "V", pick_focus())
            # Sinus impulses that reach the ventricles in their refractory period are blocked: the
            # sinus rhythm continues underneath, so a single V beat gets a full compensatory pause.
            anchor += rr
            while anchor + cycle_at(anchor) <= last + _C.v_refractory_frac * cycle_at(anchor):
                anchor += cycle_at(anchor)
            since_v = 0

    return _Rhythm(
        np.array(times),
        np.array(labels, dtype="<U1"),
        np.array(focus, dtype=np.intp),
        np.array(fusion_w),
        grid_t,
        resp_phase,
    )


# --------------------------------------------------------------------------------------------- patient


def synth_patient(seed: int, minutes: float = 30.0, profile: PatientProfile | None = None) -> PatientRecord:
    """Generate ``minutes`` of one synthetic patient's ECG.

    Parameters
    ----------
    seed : int
        Non-negative patient seed; the record is ``patient_id="synth:<seed>"`` and bit-identical for
        the same ``(seed, minutes, profile)``.
    minutes : float
        Recording length; the signal has ``round(minutes * 60 * 360)`` samples.
    profile : PatientProfile, optional
        The patient to render (default ``sample_profile(seed)``); the seed still drives the rhythm
        and the noise.

    Returns
    -------
    PatientRecord
        ``signal`` float32 (n_samples,) in mV at 360 Hz; ``r_peaks`` int64 (n_beats,) ground-truth R-peak
        samples; ``labels`` (n_beats,) of 'N', 'S', 'V', 'F'; ``meta`` with ``synth_version``,
        ``fingerprint``, ``minutes`` and ``profile`` (JSON-serialisable, see :meth:`PatientProfile.to_dict`).
    """
    seed = _check_seed(seed)
    try:
        length_min = float(minutes)
    except (TypeError, ValueError):
        length_min = math.nan
    if not (math.isfinite(length_min) and length_min > 0):
        raise DataError(f"minutes must be a positive number, got {minutes!r}")
    n = round(length_min * 60 * FS)
    if n < 1:
        raise DataError(f"minutes={minutes!r} is shorter than one sample at {FS} Hz")
    profile = sample_profile(seed) if profile is None else profile
    rng = np.random.default_rng([seed, _RECORDING_STREAM])
    duration = n / FS

    # Start the rhythm before the record so that it opens mid-rhythm with a valid preceding RR.
    rhythm = _rhythm(profile, rng, -3.0, duration + 1.0)
    pre_rr = np.diff(rhythm.times, prepend=rhythm.times[0] - 60.0 / profile.mean_hr_bpm)
    n_beats = len(rhythm.times)
    jitter = rng.standard_normal((n_beats, 3))
    resp_phase = np.interp(rhythm.times, rhythm.grid_t, rhythm.resp_phase)
    gains = np.empty((n_beats, 3))
    gains[:, 0] = 1.0 + _C.wave_jitter_frac * jitter[:, 0]
    gains[:, 1] = (1.0 + profile.beat_jitter_frac * jitter[:, 1]) * (1.0 + profile.edr_frac * np.sin(resp_phase))
    gains[:, 2] = 1.0 + _C.wave_jitter_frac * jitter[:, 2]

    r_peaks = np.round(rhythm.times * FS).astype(np.int64)
    offsets = np.round(_window_axis() * FS).astype(np.int64)
    signal = np.zeros(n)
    for lo in range(0, n_beats, _C.max_beats_per_chunk):
        sl = slice(lo, lo + _C.max_beats_per_chunk)
        beats = _beat_waveforms(
            profile, rhythm.labels[sl], rhythm.focus[sl], rhythm.fusion_w[sl], pre_rr[sl], gains[sl]
        )
        idx = r_peaks[sl, None] + offsets[None, :]
        inside = (idx >= 0) & (idx < n)
        signal += np.bincount(idx[inside], weights=beats[inside], minlength=n)

    t = np.arange(n) / FS
    signal += profile.baseline_mv * np.sin(np.interp(t, rhythm.grid_t, rhythm.resp_phase))
    signal += profile.drift_mv * _band_noise(rng, n, FS, _C.drift_band_hz)
    bursts = np.exp(_C.emg_burst_depth * _band_noise(rng, n, FS, _C.emg_burst_band_hz))
    signal += profile.emg_mv * _band_noise(rng, n, FS, _C.emg_band_hz) * bursts / np.sqrt(np.mean(bursts**2))
    signal += profile.powerline_mv * np.sin(2 * np.pi * profile.powerline_hz * t + rng.uniform(0, 2 * np.pi))

    keep = (r_peaks >= 0) & (r_peaks < n)
    return PatientRecord(
        patient_id=f"synth:{seed}",
        fs=FS,
        signal=signal.astype(np.float32),
        r_peaks=r_peaks[keep],
        labels=rhythm.labels[keep],
        source="synthetic",
        meta={
            "synth_version": SYNTH_VERSION,
            "fingerprint": synth_fingerprint(),
            "minutes": length_min,
            "profile": profile.to_dict(),
        },
    )


def synth_cohort(seeds: Iterable[int], minutes: float = 30.0) -> list[PatientRecord]:
    """One :func:`synth_patient` record per seed, in the order given."""
    return [synth_patient(seed, minutes) for seed in seeds]
