"""Beat windows, RR features and the support/query split, on synthetic records with known R peaks.

One test also runs a real DS1 record from ``../shared/data/mitdb-ds1`` (skipped when it is absent).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from metasuite.core.errors import DataError
from metasuite.domains.diagnosis.beats import RR_FEATURES, WINDOW, BeatSet, extract_beats, split_by_time
from metasuite.domains.diagnosis.records import PatientRecord

REAL_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "mitdb-ds1"
FS = 360

# wfdb 4.3.1 calls pandas with a deprecated keyword on every read; not metasuite's concern.
pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword:DeprecationWarning")


def _spikes(peaks, labels=None, n_samples=None, fs=FS, heights=None, **meta) -> PatientRecord:
    """A flat line with a spike of ``heights[i]`` mV (1 by default) at each peak, plus a 0.3 mV offset."""
    peaks = np.asarray(peaks, dtype=np.int64)
    n_samples = n_samples or int(peaks[-1]) + 400
    signal = np.full(n_samples, 0.3)
    signal[peaks] += 1.0 if heights is None else np.asarray(heights)
    labels = ["N"] * len(peaks) if labels is None else labels
    return PatientRecord("synth:test", fs, signal, peaks, labels, source="synthetic", meta=meta)


def _reference_rr(peaks: np.ndarray, i: int, fs: int = FS) -> list[float]:
    """RR features of beat ``i``, written as plainly as possible."""
    intervals = [(peaks[k] - peaks[k - 1]) / fs for k in range(1, i + 1)]  # every interval up to beat i
    pre = (peaks[i] - peaks[i - 1]) / fs
    post = (peaks[i + 1] - peaks[i]) / fs
    local = sum(intervals[-10:]) / len(intervals[-10:])
    return [pre, post, local, pre / local, post / pre]


IRREGULAR = np.cumsum([200, 290, 310, 150, 400, 280, 300, 305, 295, 180, 420, 300, 290, 310, 300, 260, 330, 300])


def test_windows_are_252_samples_with_the_r_peak_at_index_90():
    rec = _spikes(IRREGULAR)
    beats = extract_beats(rec)
    assert WINDOW == (-90, 162)
    assert beats.windows.shape == (len(beats), 252)
    assert beats.windows.dtype == np.float32 and beats.rr.dtype == np.float32
    assert beats.labels.dtype == np.dtype("<U1")
    assert beats.times_s.dtype == np.float64 and beats.r_index.dtype == np.int64
    assert beats.patient_id == "synth:test"
    assert (np.abs(beats.windows).argmax(axis=1) == 90).all()
    np.testing.assert_allclose(beats.times_s, beats.r_index / FS)


def test_rr_features_are_exact():
    beats = extract_beats(_spikes(IRREGULAR))
    assert RR_FEATURES == ("pre_rr", "post_rr", "local_rr", "pre_over_local", "post_over_pre")
    index = {int(r): i for i, r in enumerate(IRREGULAR)}
    expected = [_reference_rr(IRREGULAR, index[int(r)]) for r in beats.r_index]
    np.testing.assert_allclose(beats.rr, np.array(expected, dtype=np.float32), rtol=1e-6)
    # the local average is causal: changing a later beat does not change it
    later = IRREGULAR.copy()
    later[-2] += 50
    np.testing.assert_array_equal(extract_beats(_spikes(later)).rr[:-2, 2], beats.rr[:-2, 2])


def test_first_last_and_off_signal_beats_are_dropped():
    peaks = np.array([50, 400, 700, 1000, 1300, 1600, 1700])
    beats = extract_beats(_spikes(peaks, n_samples=1750))
    # 50 first (and window off the start), 1700 last, 1600 needs samples up to 1761 of 1750
    np.testing.assert_array_equal(beats.r_index, [400, 700, 1000, 1300])
    edge = extract_beats(_spikes([50, 90, 400, 700], n_samples=1000))
    np.testing.assert_array_equal(edge.r_index, [90, 400])  # 90 - 90 = 0 is the first sample: fits


def test_q_beats_dropped_but_still_end_rr_intervals():
    peaks = np.array([300, 600, 900, 1200, 1500, 1800])
    labels = ["N", "N", "Q", "V", "N", "N"]
    beats = extract_beats(_spikes(peaks, labels))
    np.testing.assert_array_equal(beats.r_index, [600, 1200, 1500])
    assert beats.labels.tolist() == ["N", "V", "N"]
    np.testing.assert_allclose(beats.rr[0, 1], 300 / FS)  # post-RR of 600 ends at the Q beat
    kept = extract_beats(_spikes(peaks, labels), drop_classes=())
    assert kept.labels.tolist() == ["N", "Q", "V", "N"]


def test_window_median_is_subtracted_but_amplitude_is_kept():
    peaks = IRREGULAR
    small = extract_beats(_spikes(peaks))
    large = extract_beats(_spikes(peaks, heights=np.full(len(peaks), 3.0)))
    np.testing.assert_allclose(np.median(small.windows, axis=1), 0, atol=1e-6)  # 0.3 mV offset removed
    np.testing.assert_allclose(large.windows[:, 90], 3 * small.windows[:, 90], rtol=1e-6)


def test_joined_recordings_never_share_an_rr_interval_or_a_window():
    first = [300, 600, 900, 1200]
    second = [1350, 1650, 1950, 2250]  # 1350 - 1200 would be a spurious 150-sample RR
    rec = _spikes(first + second, n_samples=2700, segment_starts=[0, 1300])
    beats = extract_beats(rec)
    np.testing.assert_array_equal(beats.r_index, [600, 900, 1650, 1950])
    np.testing.assert_allclose(beats.rr[:, :2], 300 / FS, rtol=1e-6)
    np.testing.assert_allclose(beats.rr[2:, 2], 300 / FS, rtol=1e-6)  # local RR restarts in the second part
    with pytest.raises(DataError, match="segment_starts"):
        extract_beats(_spikes(first, segment_starts=[0, 99999]))


def test_other_sampling_rate_is_resampled_to_the_360_hz_grid():
    t360 = np.arange(3600) / 360
    t720 = np.arange(7200) / 720
    wave = lambda t: np.sin(2 * np.pi * 1.3 * t) + 0.5 * np.cos(2 * np.pi * 4.1 * t)
    peaks = np.array([0.5, 1.3, 2.2, 3.0, 3.9, 4.7, 5.4])
    rec360 = PatientRecord("a", 360, wave(t360), np.round(peaks * 360), ["N"] * 7)
    rec720 = PatientRecord("b", 720, wave(t720), np.round(peaks * 720), ["N"] * 7)
    b360, b720 = extract_beats(rec360), extract_beats(rec720)
    assert b720.windows.shape == (len(b360), 252)
    np.testing.assert_allclose(b720.windows, b360.windows, atol=1e-5)
    np.testing.assert_allclose(b720.rr, b360.rr, rtol=1e-6)
    np.testing.assert_allclose(b720.times_s, b360.times_s)
    rec250 = PatientRecord("c", 250, wave(np.arange(2500) / 250), np.round(peaks * 250), ["N"] * 7)
    b250 = extract_beats(rec250)
    assert b250.windows.shape == (len(b250), 252)
    np.testing.assert_allclose(b250.windows, b360.windows[: len(b250)], atol=0.02)


def test_split_by_time_puts_exactly_the_early_beats_in_support():
    peaks = np.arange(1, 200) * 360  # one beat a second
    beats = extract_beats(_spikes(peaks))
    support, query = split_by_time(beats, 1.5)
    assert (support.times_s < 90).all() and (query.times_s >= 90).all()
    assert len(support) + len(query) == len(beats)
    np.testing.assert_array_equal(np.concatenate([support.r_index, query.r_index]), beats.r_index)
    assert support.times_s.max() == 89.0 and query.times_s.min() == 90.0
    assert len(split_by_time(beats, 0)[0]) == 0
    with pytest.raises(DataError, match="support_minutes"):
        split_by_time(beats, -1)


def test_label_ids_and_select():
    labels = ["N", "N", "S", "V", "F", "Q", "N", "N"]
    beats = extract_beats(_spikes(np.arange(1, 9) * 300, labels), drop_classes=())
    assert beats.labels.tolist() == ["N", "S", "V", "F", "Q", "N"]
    np.testing.assert_array_equal(beats.label_ids(), [0, 1, 2, 3, -1, 0])
    assert beats.label_ids().dtype == np.int64
    np.testing.assert_array_equal(beats.label_ids(("V", "N")), [1, -1, 0, -1, -1, 1])
    picked = beats.select(beats.labels == "N")
    assert len(picked) == 2 and picked.patient_id == beats.patient_id
    np.testing.assert_array_equal(beats.select([3, 0]).r_index, beats.r_index[[3, 0]])
    with pytest.raises(DataError, match="mask has shape"):
        beats.select(np.ones(3, dtype=bool))
    with pytest.raises(DataError, match="one row per beat"):
        BeatSet(beats.windows, beats.rr[:2], beats.labels, beats.times_s, beats.r_index)


def test_no_usable_beat_gives_an_empty_set():
    beats = extract_beats(_spikes([300, 600]))
    assert len(beats) == 0 and beats.windows.shape == (0, 252) and beats.rr.shape == (0, 5)


def test_half_hour_record_is_fast():
    rng = np.random.default_rng(0)
    peaks = np.cumsum(rng.integers(180, 400, 3500)) + 200
    rec = _spikes(peaks, rng.choice(list("NSVFQ"), len(peaks)).tolist(), n_samples=int(peaks[-1]) + 400)
    start = time.perf_counter()
    beats = extract_beats(rec)
    assert time.perf_counter() - start < 0.5
    assert len(beats) > 2500


@pytest.mark.skipif(not REAL_DATA.is_dir(), reason=f"real MIT-BIH records not available ({REAL_DATA} is absent)")
def test_real_record_208():
    from metasuite.domains.diagnosis.mitdb import load_record

    rec = load_record(REAL_DATA, "208")
    beats = extract_beats(rec)
    assert np.isfinite(beats.windows).all() and np.isfinite(beats.rr).all()
    assert "Q" not in beats.labels.tolist()
    assert len(beats) >= rec.counts()["N"] + rec.counts()["V"] + rec.counts()["F"] - 10
    # premature ventricular beats come early: their pre-RR is shorter than the local average
    ratio = beats.rr[:, RR_FEATURES.index("pre_over_local")]
    assert np.median(ratio[beats.labels == "V"]) < np.median(ratio[beats.labels == "N"])
