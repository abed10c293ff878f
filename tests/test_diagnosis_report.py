"""The patient-level rhythm report: episode counting conventions, flag boundaries, renderings, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from metasuite.core.errors import DataError
from metasuite.domains.diagnosis.report import (
    DISCLAIMER,
    BigeminyEpisode,
    ReportThresholds,
    Run,
    build_report,
)


def report_of(sequence: str, rr_s: float = 1.0, **kwargs):
    """Report of a string of beat classes ("NNVVN...") at a constant RR interval, first beat at 0 s."""
    times = np.arange(len(sequence)) * rr_s
    return build_report(times, list(sequence), **kwargs)


def proba_with_max(max_p: np.ndarray, pred_ids: np.ndarray) -> np.ndarray:
    """(n, 4) probabilities whose maximum ``max_p`` sits on ``pred_ids``; the rest spread evenly."""
    proba = np.repeat(((1.0 - max_p) / 3)[:, None], 4, axis=1)
    proba[np.arange(len(max_p)), pred_ids] = max_p
    return proba


def test_counts_rates_burden_and_heart_rate() -> None:
    r = report_of("NNNNSNNVNF", duration_s=7200.0)
    assert r.n_beats == 10
    assert r.beats == {"N": 7, "S": 1, "V": 1, "F": 1}
    assert r.beats_per_hour["N"] == pytest.approx(7 / 2) and r.beats_per_hour["V"] == pytest.approx(0.5)
    assert r.burden_pct == pytest.approx({"S": 10.0, "V": 10.0, "F": 10.0, "ectopic": 30.0})
    assert r.mean_hr_bpm == pytest.approx(60.0)  # one beat per second
    assert report_of("NNNN", rr_s=0.5).mean_hr_bpm == pytest.approx(120.0)
    assert report_of("N", duration_s=1.0).mean_hr_bpm is None


def test_duration_defaults_to_the_last_beat_time() -> None:
    r = report_of("NNNNN")  # beats at 0..4 s
    assert r.duration_s == 4.0
    assert r.beats_per_hour["N"] == pytest.approx(5 * 3600 / 4)


def test_ids_and_names_give_the_same_report() -> None:
    times = np.arange(8.0)
    by_name = build_report(times, list("NVVNSSSF"))
    by_id = build_report(times, np.array([0, 2, 2, 0, 1, 1, 1, 3]))
    assert by_name.to_dict() == by_id.to_dict()


def test_v_episodes_counted_once_by_length_and_triplets_are_runs() -> None:
    # maximal V episodes of length 1, 2, 3 and 5
    seq = "NVNVVNVVVNVVVVVN"
    r = report_of(seq, rr_s=0.5)
    assert r.v_couplets == 1
    assert r.v_triplets == 1
    # default v_run_min = 3: the triplet is also a run, the couplet is not
    assert r.v_runs == [Run(start_s=3.0, n_beats=3, rate_bpm=120.0), Run(start_s=5.0, n_beats=5, rate_bpm=120.0)]
    assert len(report_of(seq, thresholds=ReportThresholds(v_run_min=4)).v_runs) == 1
    assert [run.n_beats for run in report_of(seq, thresholds=ReportThresholds(v_run_min=2)).v_runs] == [2, 3, 5]
    # a 4-beat episode is neither a couplet nor a triplet
    r4 = report_of("NVVVVN")
    assert (r4.v_couplets, r4.v_triplets, len(r4.v_runs)) == (0, 0, 1)


def test_s_runs() -> None:
    r = report_of("NSSSNSSNSSSSN", rr_s=0.5)
    assert r.s_runs == [Run(0.5, 3, 120.0), Run(4.0, 4, 120.0)]
    assert "svt_run" in r.flag_names()
    assert report_of("NSSNSSN").s_runs == []
    assert "svt_run" not in report_of("NSSNSSN").flag_names()


def test_bigeminy_needs_min_cycles_of_strict_n_v_alternation() -> None:
    r = report_of("NNVNVNVNN")  # 3 cycles from beat 1 (1 s) to beat 6 (6 s)
    assert r.bigeminy == [BigeminyEpisode(start_s=1.0, end_s=6.0, n_cycles=3)]
    assert "ventricular_bigeminy" in r.flag_names()
    assert report_of("NNVNVNN").bigeminy == []  # 2 cycles < default 3
    assert len(report_of("NNVNVNN", thresholds=ReportThresholds(bigeminy_min_cycles=2)).bigeminy) == 1
    # a leading V is trimmed: the episode starts on N
    assert report_of("VNVNVNV").bigeminy == [BigeminyEpisode(1.0, 6.0, 3)]
    # an S beat or a V couplet breaks the alternation
    assert report_of("NVNVSNVNV").bigeminy == []
    assert report_of("NVNVVNVNV").bigeminy == []
    assert "ventricular_bigeminy" not in report_of("NVNVSNVNV").flag_names()


@pytest.mark.parametrize(("n_v", "fires"), [(10, True), (9, False)])
def test_v_burden_flag_fires_at_exactly_the_threshold(n_v: int, fires: bool) -> None:
    seq = "NNNNNNNNNV" * n_v + "N" * (100 - 10 * n_v)  # isolated V beats: no runs, no bigeminy
    r = report_of(seq)
    assert r.burden_pct["V"] == pytest.approx(n_v)
    assert r.flag_names() == (["frequent_pvcs"] if fires else [])
    if fires:
        flag = r.flags[0]
        assert flag["value"] == 10.0 and flag["threshold"] == 10.0
        assert "frequent PVCs" in flag["message"]


@pytest.mark.parametrize(("n_s", "fires"), [(10, True), (9, False)])
def test_s_burden_flag_fires_at_exactly_the_threshold(n_s: int, fires: bool) -> None:
    seq = "NNNNNNNNNS" * n_s + "N" * (100 - 10 * n_s)
    assert ("frequent_svebs" in report_of(seq).flag_names()) is fires


@pytest.mark.parametrize(("seq", "fires"), [("NVVVN", True), ("NVVNVVN", False)])
def test_nsvt_flag_fires_from_a_triplet(seq: str, fires: bool) -> None:
    r = report_of(seq)
    assert ("nsvt" in r.flag_names()) is fires
    if fires:
        flag = r.flags[r.flag_names().index("nsvt")]
        assert (flag["value"], flag["threshold"]) == (3, 3)


@pytest.mark.parametrize(("n_v", "sustained"), [(31, True), (30, False)])
def test_v_run_is_sustained_from_exactly_30_seconds(n_v: int, sustained: bool) -> None:
    # n_v V beats one second apart last n_v - 1 seconds
    r = report_of("N" + "V" * n_v + "N")
    assert len(r.v_runs) == 1
    names = r.flag_names()
    assert ("sustained_vt" in names) is sustained
    assert ("nsvt" in names) is not sustained
    if sustained:
        flag = r.flags[names.index("sustained_vt")]
        assert (flag["value"], flag["threshold"]) == (30.0, 30.0)


@pytest.mark.parametrize(("n_uncertain", "fires"), [(5, True), (4, False)])
def test_low_confidence_flag_fires_at_exactly_the_threshold(n_uncertain: int, fires: bool) -> None:
    pred = np.zeros(100, dtype=int)
    max_p = np.full(100, 0.95)
    max_p[:n_uncertain] = 0.7
    max_p[50] = 0.8  # exactly low_confidence: not uncertain
    r = build_report(np.arange(100.0), pred, proba=proba_with_max(max_p, pred))
    assert r.confidence is not None
    assert r.confidence["n_uncertain"] == n_uncertain
    assert r.confidence["pct_uncertain"] == pytest.approx(n_uncertain)
    assert r.confidence["mean_max_proba"] == pytest.approx(max_p.mean())
    assert ("low_confidence" in r.flag_names()) is fires


def test_no_probabilities_means_no_confidence_section() -> None:
    r = report_of("NNVN")
    assert r.confidence is None
    assert "low_confidence" not in r.flag_names()
    assert "not provided" in r.to_markdown()


def test_every_flag_value_is_at_least_its_threshold() -> None:
    seq = "NVNVNVN" + "V" * 40 + "NSSSSSSSN" + "VVVN" * 3  # 7 S of 68 beats: S burden >= 10%
    pred = np.array(["NSVF".index(c) for c in seq])
    proba = proba_with_max(np.full(len(seq), 0.5), pred)
    r = build_report(np.arange(len(seq)) * 0.8, list(seq), proba=proba)
    assert set(r.flag_names()) == {
        "frequent_pvcs",
        "frequent_svebs",
        "nsvt",
        "sustained_vt",
        "svt_run",
        "ventricular_bigeminy",
        "low_confidence",
    }
    assert all(f["value"] >= f["threshold"] for f in r.flags)


def test_to_dict_is_json_and_echoes_thresholds_and_disclaimer() -> None:
    thresholds = ReportThresholds(v_burden_flag_pct=12.5, v_run_min=4)
    seq = "NVVVVNVVNSSSN"
    pred = np.array(["NSVF".index(c) for c in seq])
    r = build_report(
        np.arange(len(seq)) * 0.6, pred, proba=proba_with_max(np.full(len(seq), 0.9), pred), thresholds=thresholds
    )
    d = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert d["thresholds"]["v_burden_flag_pct"] == 12.5 and d["thresholds"]["v_run_min"] == 4
    assert d["thresholds"]["low_confidence"] == 0.8
    assert d["disclaimer"] == DISCLAIMER
    assert d["v_runs"] == [{"start_s": pytest.approx(0.6), "n_beats": 4, "rate_bpm": pytest.approx(100.0)}]
    assert d["confidence"]["n_uncertain"] == 0
    assert {f["name"] for f in d["flags"]} >= {"frequent_pvcs", "nsvt", "svt_run"}
    assert json.dumps(report_of("N", duration_s=1.0).to_dict(), allow_nan=False)  # mean HR None, no NaN


def test_markdown_has_disclaimer_counts_and_thresholds() -> None:
    md = report_of("NVVNVVVNSSSN", proba=None).to_markdown()
    assert DISCLAIMER in md
    assert "decision aid" in DISCLAIMER.lower() and "not a diagnosis" in DISCLAIMER.lower()
    assert "Couplets (2 consecutive V): 1" in md
    assert "Triplets (3 consecutive V): 1" in md
    assert "**nsvt**" in md and "**svt_run**" in md
    for name in ("low_confidence", "v_burden_flag_pct", "sustained_vt_s", "bigeminy_min_cycles"):
        assert f"| {name} |" in md
    assert "- none" in report_of("NNNN").to_markdown()


def test_markdown_truncates_long_run_lists() -> None:
    md = report_of("NVVV" * 30 + "N").to_markdown()
    assert "Runs (>= 3 consecutive V): 30" in md
    assert "... and 10 more" in md


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"beat_times_s": [0.0, 1.0, 2.0], "pred": ["N", "N"]}, "pred has shape"),
        ({"beat_times_s": [0.0, 2.0, 1.0], "pred": ["N", "N", "N"]}, "strictly increasing"),
        ({"beat_times_s": [0.0, 1.0, 1.0], "pred": ["N", "N", "N"]}, "strictly increasing"),
        ({"beat_times_s": [-1.0, 1.0], "pred": ["N", "N"]}, "< 0"),
        ({"beat_times_s": [0.0, np.nan], "pred": ["N", "N"]}, "NaN"),
        ({"beat_times_s": [], "pred": []}, "no beats"),
        ({"beat_times_s": [0.0, 1.0], "pred": ["N", "Q"]}, r"unknown class names \['Q'\]"),
        ({"beat_times_s": [0.0, 1.0], "pred": [0, 4]}, "expected 0..3"),
        ({"beat_times_s": [0.0, 1.0], "pred": [0.0, 1.0]}, "class names"),
        ({"beat_times_s": [0.0, 1.0], "pred": ["N", "N"], "duration_s": 0.5}, "last beat is at 1.0"),
        ({"beat_times_s": [0.0], "pred": ["N"]}, "pass duration_s"),
        ({"beat_times_s": [0.0, 1.0], "pred": ["N", "N"], "proba": np.full((2, 4), 0.3)}, "sum to 1"),
        ({"beat_times_s": [0.0, 1.0], "pred": ["N", "N"], "proba": [[1, 0, 0, 0], [np.nan, 0, 0, 0]]}, "NaN"),
        ({"beat_times_s": [0.0, 1.0], "pred": ["N", "N"], "proba": np.full((2, 3), 1 / 3)}, r"\(2, 4\)"),
        ({"beat_times_s": [0.0, 1.0], "pred": ["N", "N"], "proba": [[2, -1, 0, 0]] * 2}, "logits"),
        ({"beat_times_s": [0.0, 1.0], "pred": ["N", "N"], "classes": ("N", "V", "F")}, "include 'N', 'S' and 'V'"),
    ],
)
def test_bad_input_raises_data_error(kwargs: dict, match: str) -> None:
    with pytest.raises(DataError, match=match) as info:
        build_report(**kwargs)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"low_confidence": 0.0}, "low_confidence"),
        ({"v_burden_flag_pct": 120.0}, "v_burden_flag_pct"),
        ({"v_run_min": 1}, "v_run_min"),
        ({"bigeminy_min_cycles": 2.5}, "bigeminy_min_cycles"),
        ({"sustained_vt_s": 0.0}, "sustained_vt_s"),
    ],
)
def test_bad_thresholds_raise_data_error(kwargs: dict, match: str) -> None:
    with pytest.raises(DataError, match=match):
        ReportThresholds(**kwargs)
