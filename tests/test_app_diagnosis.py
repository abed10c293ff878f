"""The Diagnosis page's logic (tiny cohort, tiny models) and the page itself through Streamlit's AppTest."""

from __future__ import annotations

import json
from dataclasses import asdict, fields, replace
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from metasuite.apps.logic import APPS_DIR, REPO_ROOT, user_path
from metasuite.apps.logic.diagnosis import (
    APP_COHORT,
    APP_MINUTES,
    CLASS_COLOURS,
    DEFAULT_CHECKPOINT,
    METRIC_LABELS,
    STAND_IN,
    UNADAPTED,
    AdaptResult,
    adapt_and_predict,
    app_domain,
    confusion_figure,
    load_global_model,
    load_meta_learner,
    load_mitdb_patient,
    marker_classes,
    metrics_table,
    minmax_indices,
    mitdb_records,
    model_card,
    patient_beats,
    patient_label,
    patient_report,
    patient_task,
    strip_figure,
    synthetic_patients,
    threshold_fields,
)
from metasuite.core.errors import DataError
from metasuite.core.learners import make_learner
from metasuite.domains.diagnosis import DiagnosisDomain
from metasuite.domains.diagnosis.metrics import HEADLINE_KEYS, beat_metrics
from metasuite.domains.diagnosis.records import AAMI_CLASSES
from metasuite.domains.diagnosis.report import DISCLAIMER, ReportThresholds

DIAGNOSIS = str(APPS_DIR / "pages" / "3_Diagnosis.py")
REAL_MITDB = REPO_ROOT / ".." / "shared" / "data" / "mitdb-ds1"
SUPPORT_MINUTES = 1.0


@pytest.fixture(scope="module")
def tiny() -> DiagnosisDomain:
    """Two 3-minute test patients (and one train / val patient): a few hundred beats each."""
    return DiagnosisDomain(cohort={"train": 1, "val": 1, "test": 2}, minutes=3.0, support_minutes=1.0, hidden=8)


@pytest.fixture(scope="module")
def patient(tiny: DiagnosisDomain) -> tuple:
    """``(record, beats, task)`` of the tiny domain's first test patient, 1 support minute."""
    record = synthetic_patients(tiny)[0]
    beats = patient_beats(record)
    return record, beats, patient_task(beats, SUPPORT_MINUTES)


def _result_from(pred_ids: np.ndarray, p_max: float = 0.97) -> AdaptResult:
    """An :class:`AdaptResult` whose both models predict ``pred_ids`` with max probability ``p_max``."""
    proba = np.full((len(pred_ids), 4), (1.0 - p_max) / 3)
    proba[np.arange(len(pred_ids)), pred_ids] = p_max
    return AdaptResult(adapted_proba=proba, global_proba=proba.copy())


# ---------------------------------------------------------------------------- patients and tasks
def test_app_domain_is_the_documented_small_cohort() -> None:
    domain = app_domain()
    assert domain is app_domain()  # built once
    assert {k: domain.cohort[k] for k in APP_COHORT} == APP_COHORT
    assert domain.minutes == APP_MINUTES and domain.data_dir is None


def test_patient_list_is_the_test_split_never_the_training_patients(tiny: DiagnosisDomain) -> None:
    records = synthetic_patients(tiny)
    ids = [r.patient_id for r in records]
    assert ids == [b.patient_id for b in tiny.patients("test")]
    assert set(ids).isdisjoint(b.patient_id for split in ("train", "val") for b in tiny.patients(split))
    assert records[0].meta["filtered"]  # the strip shows the signal the model reads
    label = patient_label(records[0])
    counts = records[0].counts()
    assert label.startswith(ids[0]) and "3 min" in label
    assert all(f"{c} {counts[c]}" in label for c in AAMI_CLASSES)


@pytest.mark.parametrize("minutes", [1.0, 2.0])
def test_patient_task_support_is_the_first_minutes_and_query_every_later_beat(patient: tuple, minutes: float) -> None:
    _, beats, _ = patient
    task = patient_task(beats, minutes)
    early = beats.times_s < 60.0 * minutes
    assert task.support_x.shape == (int(early.sum()), 257)
    assert task.query_x.shape == (int((~early).sum()), 257)
    assert task.support_y.tolist() == beats.label_ids()[early].tolist()
    assert task.query_y.tolist() == beats.label_ids()[~early].tolist()
    assert task.metadata["query_times_s"] == beats.times_s[~early].tolist()
    assert task.metadata["patient_id"] == beats.patient_id
    assert task.metadata["class_names"] == list(AAMI_CLASSES)


def test_support_longer_than_the_recording_is_a_data_error(patient: tuple) -> None:
    _, beats, _ = patient
    with pytest.raises(DataError, match="no beats after the first 5 minutes"):
        patient_task(beats, 5.0)


# ---------------------------------------------------------------------------- models and scores
def test_global_model_is_cached_and_reloads_identically(tiny: DiagnosisDomain, tmp_path: Path, patient: tuple) -> None:
    _, _, task = patient
    first = load_global_model(tmp_path, steps=2, batch_size=8, domain=tiny)
    assert len(list(tmp_path.glob("*.safetensors"))) == 1
    second = load_global_model(tmp_path, steps=2, batch_size=8, domain=tiny)
    with torch.no_grad():
        assert torch.allclose(first(task.query_x), second(task.query_x))
        assert first(task.query_x).shape == (task.query_x.shape[0], len(AAMI_CLASSES))


def test_adapt_and_predict_gives_probabilities_for_every_query_beat(tiny: DiagnosisDomain, patient: tuple) -> None:
    _, _, task = patient
    learner = make_learner(tiny, "fomaml", n_way=4, seed=0, test_inner_steps=2)
    global_model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(257, 4))
    result = adapt_and_predict(learner, global_model, task)
    n = task.query_x.shape[0]
    for proba, pred in ((result.adapted_proba, result.adapted_pred), (result.global_proba, result.global_pred)):
        assert proba.shape == (n, 4) and proba.dtype == np.float64
        assert np.allclose(proba.sum(axis=1), 1.0) and (proba >= 0).all()
        assert pred.shape == (n,) and np.array_equal(pred, proba.argmax(axis=1))
    with torch.no_grad():
        expected = torch.softmax(global_model(task.query_x).double(), -1).numpy()
    assert np.allclose(result.global_proba, expected)


def test_without_a_global_model_the_comparison_is_the_unadapted_meta_learner(
    tiny: DiagnosisDomain, patient: tuple
) -> None:
    _, _, task = patient
    learner = make_learner(tiny, "fomaml", n_way=4, seed=0, test_inner_steps=2)
    result = adapt_and_predict(learner, None, task)
    assert result.global_label == UNADAPTED
    with torch.no_grad():
        expected = torch.softmax(learner.backbone(task.query_x).double(), -1).numpy()
    assert np.allclose(result.global_proba, expected)
    assert not np.allclose(result.adapted_proba, expected)  # adaptation moved the weights
    assert list(metrics_table(task, result).columns) == [UNADAPTED, "adapted (meta-learned)"]
    meta = {"algorithm": "fomaml", "split_ids": {"train": ["mitdb:101", "mitdb:106"], "val": ["mitdb:108"]}}
    card = model_card(meta, global_model=False)
    assert card["comparison"] == UNADAPTED and card["training data"] == "2 training patients: 101, 106"


def test_an_ensemble_of_meta_learners_averages_their_adapted_and_unadapted_probabilities(
    tiny: DiagnosisDomain, patient: tuple
) -> None:
    _, _, task = patient
    members = [make_learner(tiny, "fomaml", n_way=4, seed=s, test_inner_steps=2) for s in (0, 1)]
    alone = [adapt_and_predict(m, None, task) for m in members]
    both = adapt_and_predict(members, None, task)
    assert np.allclose(both.adapted_proba, (alone[0].adapted_proba + alone[1].adapted_proba) / 2)
    assert np.allclose(both.global_proba, (alone[0].global_proba + alone[1].global_proba) / 2)
    assert both.global_label == UNADAPTED and np.allclose(both.adapted_proba.sum(axis=1), 1.0)
    assert not np.allclose(alone[0].adapted_proba, alone[1].adapted_proba)  # two different members
    with pytest.raises(ValueError, match="at least one"):
        adapt_and_predict([], None, task)
    metas = [
        {"algorithm": "metasgd", "train_config": {"seed": s}, "metrics": {"val_metric": v}, "path": f"/x/m{s}"}
        for s, v in ((0, 0.869), (1, 0.9))
    ]
    card = model_card(metas[0], global_model=False, ensemble=metas)
    assert card["model"].startswith("ensemble of 2") and "seeds 0, 1" in card["model"]
    assert card["val accuracy"] == "0.869 / 0.900" and card["file"].count("/x/m") == 2
    assert model_card(metas[0], global_model=False, ensemble=metas[:1])["model"] == "shipped checkpoint"


def test_metrics_table_compares_both_models_with_beat_metrics(patient: tuple) -> None:
    _, _, task = patient
    true = task.query_y.numpy()
    perfect = _result_from(true)
    all_normal = _result_from(np.zeros_like(true))
    result = AdaptResult(adapted_proba=perfect.adapted_proba, global_proba=all_normal.global_proba)
    table = metrics_table(task, result)
    assert list(table.columns) == ["global (no adaptation)", "adapted (meta-learned)"]
    assert list(table.index) == [METRIC_LABELS[k] for k in HEADLINE_KEYS]
    expected = beat_metrics(true, np.zeros_like(true))
    assert table.iloc[:, 0].tolist() == pytest.approx([expected[k] for k in HEADLINE_KEYS], nan_ok=True)
    assert table.loc["accuracy", "adapted (meta-learned)"] == 1.0
    assert table.loc["accuracy", "global (no adaptation)"] == pytest.approx(np.mean(true == 0))


def test_confusion_figure_counts_rows_true_columns_predicted() -> None:
    fig = confusion_figure(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 1]), "adapted")
    z = np.asarray(fig.data[0].z)
    assert z.shape == (4, 4) and z.sum() == 4
    assert z[0].tolist() == [1, 1, 0, 0] and z[2].tolist() == [0, 1, 0, 0]
    assert list(fig.data[0].x) == list(AAMI_CLASSES)


def test_quick_trained_stand_in_is_cached_and_described(tiny: DiagnosisDomain, tmp_path: Path) -> None:
    absent = tmp_path / "no-checkpoint"  # as on a machine without the shipped checkpoint
    cache = tmp_path / "cache"
    learner, meta = load_meta_learner(cache_dir=cache, steps=1, domain=tiny, default=absent)
    (run,) = cache.iterdir()
    assert run.name == replace(STAND_IN, steps=1).cache_key(tiny) and (run / "best.safetensors").exists()
    assert run.name.startswith(f"fomaml-1-{tiny.fingerprint()}-")  # the budget and the data in the key
    assert meta["source"] == "quick-train" and meta["algorithm"] == "fomaml"
    stamp = (run / "best.safetensors").stat().st_mtime_ns
    load_meta_learner(cache_dir=cache, steps=1, domain=tiny, default=absent)
    assert (run / "best.safetensors").stat().st_mtime_ns == stamp  # reused, not retrained
    card = model_card(meta)
    assert card["model"].startswith("stand-in") and card["algorithm"] == "fomaml"
    assert card["training steps"] == 1 and card["adaptation steps"] == learner.hparams()["test_inner_steps"]


# ---------------------------------------------------------------------------- the report
def test_report_covers_the_query_beats_with_the_disclaimer(patient: tuple) -> None:
    record, _, task = patient
    pred = task.query_y.numpy()
    report = patient_report(task, _result_from(pred), record.duration_s)
    text = report.to_markdown()
    assert DISCLAIMER in text and report.disclaimer == DISCLAIMER
    assert report.n_beats == task.query_x.shape[0]
    assert [report.beats[c] for c in AAMI_CLASSES] == np.bincount(pred, minlength=4).tolist()
    # the report spans the analysed recording: from the end of the support window to the end
    assert report.duration_s == pytest.approx(record.duration_s - 60.0 * SUPPORT_MINUTES)
    assert report.confidence is not None and report.confidence["n_uncertain"] == 0


def test_report_flags_follow_the_thresholds(patient: tuple) -> None:
    record, _, task = patient
    bigeminy = _result_from(np.arange(task.query_x.shape[0]) % 2 * 2, p_max=0.5)  # N V N V ..., unsure
    flags = {f["name"] for f in patient_report(task, bigeminy, record.duration_s).flags}
    assert flags == {"frequent_pvcs", "ventricular_bigeminy", "low_confidence"}
    lenient = ReportThresholds(v_burden_flag_pct=60.0, low_confidence=0.4)
    flags = {f["name"] for f in patient_report(task, bigeminy, record.duration_s, lenient).flags}
    assert flags == {"ventricular_bigeminy"}


def test_threshold_fields_cover_report_thresholds_and_their_bounds_are_valid() -> None:
    specs = threshold_fields()
    assert [s["name"] for s in specs] == [f.name for f in fields(ReportThresholds)]
    assert ReportThresholds(**{s["name"]: s["default"] for s in specs}) == ReportThresholds()
    ReportThresholds(**{s["name"]: s["min"] for s in specs})  # the lowest values the inputs allow are accepted
    for s in specs:
        assert s["integer"] == isinstance(asdict(ReportThresholds())[s["name"]], int)
        assert isinstance(s["step"], int) == s["integer"]


# ---------------------------------------------------------------------------- the ECG strip
def test_minmax_decimation_bounds_and_keeps_every_peak() -> None:
    short = np.zeros(50)
    assert np.array_equal(minmax_indices(short, 100), np.arange(50))
    signal = np.random.default_rng(0).normal(0, 0.05, 648_000)  # a 30-minute record at 360 Hz
    peaks = np.arange(100, len(signal), 300)
    signal[peaks] = 2.0 + np.arange(len(peaks)) * 1e-4
    signal[peaks + 20] = -1.0
    keep = minmax_indices(signal, 10_000)
    assert len(keep) <= 10_000
    assert np.all(np.diff(keep) > 0) and keep[0] >= 0 and keep[-1] < len(signal)
    assert set(peaks.tolist()) <= set(keep.tolist())  # every R peak survives
    assert set((peaks + 20).tolist()) <= set(keep.tolist())  # and every trough
    odd = minmax_indices(np.arange(1001.0), 333)
    assert len(odd) <= 333 and odd[-1] == 1000  # the tail bucket is kept
    with pytest.raises(ValueError, match="at least 2"):
        minmax_indices(signal, 1)


def test_strip_shows_true_classes_before_adaptation(patient: tuple) -> None:
    record, beats, _ = patient
    fig = strip_figure(record, beats, SUPPORT_MINUTES, window_s=10.0, max_points=5_000)
    assert len(fig.data) == 1 + len(AAMI_CLASSES)
    line, *markers = fig.data
    assert line.mode == "lines" and len(line.x) <= 5_000
    assert line.x[-1] <= record.duration_s
    assert [m.name for m in markers] == list(AAMI_CLASSES)
    assert [m.marker.color for m in markers] == [CLASS_COLOURS[c] for c in AAMI_CLASSES]
    assert CLASS_COLOURS == {"N": "#9e9e9e", "S": "#fb8c00", "V": "#e53935", "F": "#8e24aa"}
    assert sum(len(m.x) for m in markers) == len(beats)
    for c, m in zip(AAMI_CLASSES, markers, strict=True):
        assert np.array_equal(np.asarray(m.x), beats.times_s[beats.labels == c])
        assert set(m.marker.symbol) <= {"circle"}
    layout = fig.to_dict()["layout"]
    assert layout["xaxis"]["range"] == [0.0, 10.0] and layout["xaxis"]["rangeslider"]["visible"]
    (support,) = layout["shapes"]
    assert (support["x0"], support["x1"]) == (0.0, 60.0 * SUPPORT_MINUTES)


def test_strip_colours_query_beats_by_prediction_and_marks_mistakes(patient: tuple) -> None:
    record, beats, task = patient
    pred = task.query_y.numpy().copy()
    pred[:5] = 2  # the first five query beats predicted V
    fig = strip_figure(record, beats, SUPPORT_MINUTES, pred)
    shown = marker_classes(beats, SUPPORT_MINUTES, pred)
    support = beats.times_s < 60.0 * SUPPORT_MINUTES
    assert np.array_equal(shown[support], beats.label_ids()[support])  # support beats keep their labels
    assert np.array_equal(shown[~support], pred)
    v = fig.data[1 + AAMI_CLASSES.index("V")]
    assert v.marker.color == CLASS_COLOURS["V"]
    crosses = sum(sym == "x" for m in fig.data[1:] for sym in m.marker.symbol)
    assert crosses == int((pred != task.query_y.numpy()).sum())
    assert set(beats.times_s[~support][:5]) <= set(v.x)
    start = 60.0 * SUPPORT_MINUTES - 2.0  # the window opens just before the first prediction
    assert fig.to_dict()["layout"]["xaxis"]["range"] == [start, start + 10.0]
    with pytest.raises(DataError, match="predictions for"):
        marker_classes(beats, SUPPORT_MINUTES, pred[:-1])


# ---------------------------------------------------------------------------- MIT-BIH folders
def test_bad_mitdb_folders_raise_data_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        mitdb_records(tmp_path / "missing")
    with pytest.raises(DataError, match=r"no MIT-BIH record in .*no \.hea files"):
        mitdb_records(tmp_path)
    (tmp_path / "100.hea").write_text("not a header\n")
    assert mitdb_records(tmp_path) == ["100"]
    with pytest.raises(DataError, match="missing"):
        load_mitdb_patient(tmp_path, "100")  # no .dat / .atr


def test_a_typed_folder_starts_relative_paths_at_the_repository_root(tmp_path: Path) -> None:
    assert user_path(" data/mitdb ") == REPO_ROOT / "data" / "mitdb"
    assert user_path(str(tmp_path)) == tmp_path


@pytest.mark.skipif(not REAL_MITDB.is_dir(), reason=f"real MIT-BIH records not available ({REAL_MITDB})")
@pytest.mark.filterwarnings("ignore:The inplace keyword:DeprecationWarning")
def test_a_real_mitdb_record_gives_a_task_and_a_strip() -> None:
    assert "101" in mitdb_records(REAL_MITDB)
    record = load_mitdb_patient(REAL_MITDB, "101")
    beats = patient_beats(record)
    task = patient_task(beats, 5.0)
    assert record.patient_id == "mitdb:101" and task.query_x.shape[0] > 1000
    fig = strip_figure(record, beats, 5.0)
    assert len(fig.data[0].x) <= 100_000 < len(record.signal)


# ---------------------------------------------------------------------------- the page
@pytest.fixture(scope="module")
def _models_ready() -> None:
    """Load (or train and cache in the app's cache) both models outside AppTest's per-run timeout."""
    load_meta_learner()
    load_global_model()


def _strip(at: AppTest) -> dict:
    charts = at.get("plotly_chart")
    assert charts, "no plotly chart rendered"
    return json.loads(charts[0].proto.spec)


@pytest.mark.usefixtures("_models_ready")
def test_diagnosis_page_renders_the_disclaimer_patients_and_strip() -> None:
    at = AppTest.from_file(DIAGNOSIS, default_timeout=300).run()
    assert not at.exception
    assert at.title[0].value == "Diagnosis"
    assert at.warning[0].value == DISCLAIMER  # first thing under the title
    shipped = (DEFAULT_CHECKPOINT / "best.safetensors").exists()
    assert any("stand-in" in w.value for w in at.warning) != shipped
    patients = at.selectbox(key="patient")
    assert list(patients.options) == [patient_label(r) for r in synthetic_patients(app_domain())]
    assert at.slider(key="support_minutes").value == 5
    strip = _strip(at)
    assert len(at.get("plotly_chart")) == 1 and len(strip["data"]) == 5
    assert strip["layout"]["shapes"][0]["x1"] == 300.0
    assert not at.dataframe  # nothing scored before Adapt
    at.slider(key="support_minutes").set_value(2).run()
    assert not at.exception and _strip(at)["layout"]["shapes"][0]["x1"] == 120.0


@pytest.mark.usefixtures("_models_ready")
def test_adapt_shows_metrics_confusions_and_the_report() -> None:
    at = AppTest.from_file(DIAGNOSIS, default_timeout=300).run()
    at.button(key="adapt").click().run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table.columns) == ["global (no adaptation)", "adapted (meta-learned)"]
    assert list(table.index) == [METRIC_LABELS[k] for k in HEADLINE_KEYS]
    assert len(at.get("plotly_chart")) == 3  # strip + two confusion matrices
    report = next(m.value for m in at.markdown if m.value.startswith("# Rhythm summary"))
    assert DISCLAIMER in report and "## Flags" in report
    assert at.expander and at.number_input(key="threshold_v_burden_flag_pct").value == 10.0
    predicted = _strip(at)
    at.button_group(key="markers").set_value("true").run()
    assert not at.exception
    true = _strip(at)
    assert all(set(t["marker"]["symbol"]) <= {"circle"} for t in true["data"][1:])
    assert len(predicted["data"]) == len(true["data"]) == 5
    at.slider(key="support_minutes").set_value(3).run()  # another task: the old results are not shown
    assert not at.exception and not at.dataframe


@pytest.mark.usefixtures("_models_ready")
def test_a_bad_mitdb_folder_shows_an_error_and_keeps_the_page() -> None:
    at = AppTest.from_file(DIAGNOSIS, default_timeout=300).run()
    at.radio(key="source").set_value("Local MIT-BIH folder").run()
    at.text_input(key="mitdb_dir").input("/definitely/not/a/folder").run()
    assert not at.exception
    assert any("does not exist" in e.value for e in at.error)
    assert at.title[0].value == "Diagnosis" and at.text_input(key="mitdb_dir").value == "/definitely/not/a/folder"
    at.radio(key="source").set_value("Synthetic cohort (test patients)").run()
    assert not at.exception and len(at.get("plotly_chart")) == 1


@pytest.mark.skipif(not REAL_MITDB.is_dir(), reason=f"real MIT-BIH records not available ({REAL_MITDB})")
@pytest.mark.usefixtures("_models_ready")
def test_a_real_record_adapts_and_compares_with_the_unadapted_network() -> None:
    from metasuite.apps.logic.diagnosis import MITDB_CHECKPOINT

    at = AppTest.from_file(DIAGNOSIS, default_timeout=300).run()
    at.radio(key="source").set_value("Local MIT-BIH folder").run()
    at.text_input(key="mitdb_dir").input(str(REAL_MITDB)).run()
    at.selectbox(key="mitdb_record").set_value("101").run()
    assert not at.exception
    shipped = (MITDB_CHECKPOINT / "best.json").is_file()
    assert any("synthetic beats only" in w.value for w in at.warning) != shipped
    if shipped:  # 101 is a DS1 record: the shipped MIT-BIH model trained on it, and the page says so
        trained_on = json.loads((MITDB_CHECKPOINT / "best.json").read_text())["split_ids"]
        seen = "mitdb:101" in trained_on["train"] + trained_on["val"]
        assert any("among this model's training patients" in w.value for w in at.warning) == seen
    at.button(key="adapt").click().run()
    assert not at.exception
    assert at.dataframe[0].value.columns[0] == (UNADAPTED if shipped else "global (no adaptation)")
