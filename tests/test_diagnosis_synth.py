"""The synthetic ECG cohort: determinism, record invariants, and the physiology each AAMI class must show.

A 40-patient cohort of 5-minute records (built once per module) is the population for the statistical
checks; per-class timing is measured against the local sinus cycle, the median of the N-N intervals
among the 20 surrounding beats.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.signal import welch

import metasuite.domains.diagnosis.synth as synth
from metasuite.core.errors import DataError
from metasuite.domains.diagnosis.records import FS, PatientRecord
from metasuite.domains.diagnosis.synth import (
    SYNTH_VERSION,
    PatientProfile,
    beat_templates,
    sample_profile,
    synth_cohort,
    synth_fingerprint,
    synth_patient,
)

N_PATIENTS = 40
MINUTES = 5.0


@pytest.fixture(scope="module")
def cohort() -> list[PatientRecord]:
    return synth_cohort(range(N_PATIENTS), minutes=MINUTES)


def _local_sinus_rr(record: PatientRecord, half: int = 10) -> np.ndarray:
    """Median N-N interval (s) among the ``2 * half`` beats around each beat, shape (n_beats,); NaN if none."""
    rr = np.diff(record.r_peaks) / record.fs
    nn = (record.labels[:-1] == "N") & (record.labels[1:] == "N")
    out = np.full(len(record.labels), np.nan)
    for i in range(len(out)):
        lo, hi = max(i - half, 0), min(i + half, len(rr))
        window = rr[lo:hi][nn[lo:hi]]
        if len(window) >= 3:
            out[i] = np.median(window)
    return out


def _timing(records: list[PatientRecord], label: str) -> tuple[np.ndarray, np.ndarray]:
    """For every isolated ``label`` beat (an N before and after it): pre-RR and pre-RR + post-RR, both divided
    by the local sinus cycle, pooled over ``records``."""
    pre, pair = [], []
    for r in records:
        local = _local_sinus_rr(r)
        rr = np.diff(r.r_peaks) / r.fs
        lab = r.labels
        for i in np.flatnonzero(lab == label):
            if 0 < i < len(lab) - 1 and lab[i - 1] == "N" and lab[i + 1] == "N" and np.isfinite(local[i]):
                pre.append(rr[i - 1] / local[i])
                pair.append((rr[i - 1] + rr[i]) / local[i])
    return np.array(pre), np.array(pair)


def _lobe_width_s(t: np.ndarray, beat: np.ndarray, level: float = 0.3) -> float:
    """Width (s) of the deflection through t = 0: the contiguous span where ``|beat|`` stays above ``level`` of
    its value at the R peak (and of the same sign)."""
    i0 = int(np.argmin(np.abs(t)))
    above = beat * np.sign(beat[i0]) > level * abs(beat[i0])
    lo = i0
    while lo > 0 and above[lo - 1]:
        lo -= 1
    hi = i0
    while hi < len(beat) - 1 and above[hi + 1]:
        hi += 1
    return (hi - lo + 1) / FS


# --------------------------------------------------------------------------------------------- contract


def test_same_seed_is_bit_identical_and_seeds_differ() -> None:
    a, b, c = synth_patient(7, minutes=1.0), synth_patient(7, minutes=1.0), synth_patient(8, minutes=1.0)
    assert a.signal.tobytes() == b.signal.tobytes()
    assert np.array_equal(a.r_peaks, b.r_peaks) and np.array_equal(a.labels, b.labels)
    assert a.meta == b.meta
    assert sample_profile(7) == sample_profile(7)
    assert c.patient_id == "synth:8" and sample_profile(8) != sample_profile(7)
    n = min(len(a.signal), len(c.signal))
    assert not np.allclose(a.signal[:n], c.signal[:n])


def test_records_satisfy_the_patient_record_contract(cohort: list[PatientRecord]) -> None:
    for seed, r in enumerate(cohort):
        assert r.patient_id == f"synth:{seed}" and r.fs == FS == 360 and r.source == "synthetic"
        assert r.signal.dtype == np.float32 and r.signal.ndim == 1 and np.isfinite(r.signal).all()
        assert r.r_peaks.dtype == np.int64 and (np.diff(r.r_peaks) > 0).all()
        assert r.r_peaks.min() >= 0 and r.r_peaks.max() < len(r.signal)
        assert set(r.labels.tolist()) <= {"N", "S", "V", "F"}  # never Q
        assert r.meta["synth_version"] == SYNTH_VERSION and r.meta["fingerprint"] == synth_fingerprint()
        assert r.meta["profile"] == sample_profile(seed).to_dict()
        # A real ECG amplitude range, in mV, and a beat every 0.3 .. 2 s.
        assert 0.3 < np.ptp(r.signal) < 10.0
        rr = np.diff(r.r_peaks) / FS
        assert rr.min() >= 0.3 and rr.max() < 2.5
        assert r.r_peaks[0] / FS < 2.5 and (len(r.signal) - r.r_peaks[-1]) / FS < 2.5


def test_profile_is_json_serialisable_and_round_trips() -> None:
    for seed in range(10):
        profile = sample_profile(seed)
        text = json.dumps(synth_patient(seed, minutes=0.2).meta)
        assert PatientProfile.from_dict(json.loads(text)["profile"]) == profile


def test_duration_matches_minutes() -> None:
    for minutes in (0.02, 0.25, 1.7, 3.0):
        r = synth_patient(3, minutes=minutes)
        assert len(r.signal) == round(minutes * 60 * FS)
        assert r.duration_s == pytest.approx(minutes * 60, abs=1 / FS)


def test_a_given_profile_is_rendered_with_the_seed_s_noise() -> None:
    other = sample_profile(9)
    r = synth_patient(5, minutes=0.5, profile=other)
    assert r.patient_id == "synth:5" and r.meta["profile"] == other.to_dict()
    assert not np.array_equal(r.signal, synth_patient(5, minutes=0.5).signal)


def test_bad_arguments_raise_actionable_errors() -> None:
    with pytest.raises(DataError, match="non-negative integer"):
        synth_patient(-1)
    with pytest.raises(DataError, match="non-negative integer"):
        sample_profile(2.5)  # type: ignore[arg-type]
    for minutes in (0.0, -3.0, float("nan"), "ten"):
        with pytest.raises(DataError, match="minutes must be a positive number"):
            synth_patient(1, minutes=minutes)


def test_fingerprint_keys_off_the_version(monkeypatch: pytest.MonkeyPatch) -> None:
    fp = synth_fingerprint()
    assert len(fp) == 16 and int(fp, 16) >= 0 and fp == synth_fingerprint()
    monkeypatch.setattr(synth, "SYNTH_VERSION", "ecg-synth-v999")
    assert synth_fingerprint() != fp


# --------------------------------------------------------------------------------------------- rhythm


def test_sinus_rate_matches_the_profile(cohort: list[PatientRecord]) -> None:
    for seed, r in enumerate(cohort):
        profile = sample_profile(seed)
        assert 55.0 <= profile.mean_hr_bpm <= 100.0
        nn = (r.labels[:-1] == "N") & (r.labels[1:] == "N")
        rr = (np.diff(r.r_peaks) / FS)[nn]
        assert 60.0 / rr.mean() == pytest.approx(profile.mean_hr_bpm, rel=0.08)
        # heart-rate variability is there, but the rhythm is sinus, not chaos
        assert 0.003 < rr.std() / rr.mean() < 0.15


def test_v_beats_are_premature_with_a_full_compensatory_pause(cohort: list[PatientRecord]) -> None:
    pre, pair = _timing(cohort, "V")
    assert len(pre) > 50
    assert 0.55 < pre.mean() < 0.85 and np.quantile(pre, 0.95) < 0.9
    assert pair.mean() == pytest.approx(2.0, abs=0.05)
    assert np.mean(np.abs(pair - 2.0) < 0.15) > 0.9


def test_s_beats_are_premature_with_a_non_compensatory_pause(cohort: list[PatientRecord]) -> None:
    pre, pair = _timing(cohort, "S")
    assert len(pre) > 30
    assert 0.6 < pre.mean() < 0.85 and np.quantile(pre, 0.95) < 0.9
    assert 1.6 < pair.mean() < 1.95


def test_f_beats_have_near_normal_timing() -> None:
    fusing = next(s for s in range(500) if sample_profile(s).f_burden > 0.01)  # F beats are rare: pick a patient
    pre, _ = _timing([synth_patient(fusing)], "F")
    assert len(pre) > 10
    assert 0.85 < pre.mean() < 1.02


def test_cohort_spans_no_ectopy_to_frequent_multiform_ectopy(cohort: list[PatientRecord]) -> None:
    counts = [r.counts() for r in cohort]
    n_beats = [len(r.labels) for r in cohort]
    no_ectopy = sum(c["S"] + c["V"] + c["F"] == 0 for c in counts)
    frequent_v = sum(c["V"] / n > 0.05 for c, n in zip(counts, n_beats))
    assert no_ectopy >= 5 and frequent_v >= 2
    assert sum(c["S"] > 0 for c in counts) >= 5 and sum(c["F"] > 0 for c in counts) >= 1
    assert sum(len(sample_profile(s).v_foci) > 1 for s in range(N_PATIENTS)) >= 5
    for seed, c in enumerate(counts):
        if not sample_profile(seed).has_ectopy:
            assert c["S"] + c["V"] + c["F"] == 0


def test_repetitive_ventricular_patterns_occur() -> None:
    bigeminal = next(s for s in range(500) if sample_profile(s).bigeminy_prob > 0.05)
    repetitive = next(s for s in range(500) if sample_profile(s).v_couplet_prob > 0.1)
    big = "".join(synth_patient(bigeminal).labels.tolist())
    rep = "".join(synth_patient(repetitive).labels.tolist())
    assert "NVNVNVNV" in big
    assert "VV" in rep


# --------------------------------------------------------------------------------------------- morphology


def test_beat_templates_show_each_class_s_morphology() -> None:
    for seed in range(N_PATIENTS):
        profile = sample_profile(seed)
        t, beats = beat_templates(profile)
        n, s, v, f = beats["N"], beats["S"], beats["V"], beats["F"]
        at_r = int(np.argmin(np.abs(t)))
        qrs = np.abs(t) <= 0.06
        p_region = (t > -0.32) & (t < -0.07)
        # the R-peak annotation sits on the QRS extreme of N and V beats (the V's T wave may pull it by ~5 ms)
        for beat in (n, v):
            assert abs(int(np.argmax(np.abs(np.where(qrs, beat, 0)))) - at_r) <= 2
        # V: wide, no P wave, T discordant with the main deflection
        n_width, v_width = _lobe_width_s(t, n), _lobe_width_s(t, v)
        assert n_width < 0.05 and v_width > 0.06 and v_width > 2 * n_width
        # no P wave: nothing where the sinus P wave is (when that is clear of the wide QRS)
        p_at = int(np.argmin(np.abs(t - profile.p_wave.center_s)))
        if profile.p_wave.center_s < -0.15:
            assert abs(n[p_at]) > 0.9 * profile.p_wave.amp_mv and abs(v[p_at]) < 0.25 * profile.p_wave.amp_mv
        t_region = (t > 0.15) & (t < 0.5)
        v_t = v[t_region][np.argmax(np.abs(v[t_region]))]
        assert np.sign(v_t) == -np.sign(v[at_r])
        # S: the normal narrow QRS, an abnormal (or no) P wave
        assert _lobe_width_s(t, s) == pytest.approx(n_width, abs=2 / FS)
        core = np.abs(t) <= 0.03
        np.testing.assert_allclose(s[core], n[core], atol=0.05 * abs(n[at_r]))
        assert np.abs(s[p_region] - n[p_region]).max() > 0.2 * profile.p_wave.amp_mv
        if profile.s_p_kind == "absent":
            assert np.abs(s[p_region]).max() < 0.01
        # F: between N and V at the R peak
        assert min(n[at_r], v[at_r]) - 1e-9 <= f[at_r] <= max(n[at_r], v[at_r]) + 1e-9


def test_v_beats_are_wider_than_n_beats_in_the_signal(cohort: list[PatientRecord]) -> None:
    """Ensemble averages of the real (noisy) signal, not just the templates."""
    offsets = np.arange(-round(0.3 * FS), round(0.5 * FS))
    t = offsets / FS
    checked = 0
    for seed, r in enumerate(cohort):
        profile = sample_profile(seed)
        if r.counts()["V"] < 30 or len(profile.v_foci) > 1:
            continue
        inside = (r.r_peaks + offsets[0] >= 0) & (r.r_peaks + offsets[-1] < len(r.signal))
        mean_beat = {}
        for label in ("N", "V"):
            peaks = r.r_peaks[inside & (r.labels == label)]
            avg = r.signal[peaks[:, None] + offsets[None, :]].mean(axis=0)
            mean_beat[label] = avg - np.median(avg)
        assert _lobe_width_s(t, mean_beat["V"]) > 2 * _lobe_width_s(t, mean_beat["N"])
        checked += 1
    assert checked >= 2


def test_powerline_interference_at_the_patient_s_mains_frequency(cohort: list[PatientRecord]) -> None:
    for seed, r in enumerate(cohort[:12]):
        mains = sample_profile(seed).powerline_hz
        f, psd = welch(r.signal.astype(np.float64), fs=FS, nperseg=10 * FS)
        background = np.median(psd[(f > 40) & (f < 70) & (np.abs(f - 50) > 2) & (np.abs(f - 60) > 2)])
        peak = psd[np.argmin(np.abs(f - mains))]
        assert peak > 10 * background
        assert psd[np.argmin(np.abs(f - (110 - mains)))] < 0.1 * peak  # the other mains frequency: not there
