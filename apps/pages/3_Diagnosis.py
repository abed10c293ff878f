"""Diagnosis page: adapt a heartbeat classifier to a new patient from their first labelled minutes.

Layout only; every number comes from :mod:`metasuite.apps.logic.diagnosis`. A decision aid, not a diagnosis.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st
from torch import nn

from metasuite.apps.logic import card_table, display_path, user_path
from metasuite.apps.logic.diagnosis import (
    ADAPTED,
    DEFAULT_SUPPORT_MINUTES,
    DISCLAIMER,
    MITDB_CHECKPOINT,
    MITDB_CHECKPOINTS,
    PRETRAIN_STEPS,
    SUPPORT_MINUTES_RANGE,
    AdaptResult,
    BeatSet,
    MetaLearner,
    PatientRecord,
    ReportThresholds,
    Task,
    adapt_and_predict,
    comparison_note,
    comparison_title,
    confusion_figure,
    load_global_model,
    load_meta_learner,
    load_mitdb_patient,
    metrics_table,
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
from metasuite.apps.logic.models import stand_in_notice
from metasuite.core.errors import DataError, TaskError

st.set_page_config(page_title="Diagnosis · metasuite", page_icon=":material/ecg_heart:", layout="wide")

SYNTHETIC = "Synthetic cohort (test patients)"
MITDB = "Local MIT-BIH folder"


@st.cache_resource(show_spinner="Loading the meta-learned beat classifier…", max_entries=3)
def _learner(path: str | None) -> tuple[MetaLearner, dict[str, Any]]:
    return load_meta_learner(path)


@st.cache_resource(show_spinner=f"Pre-training the global model ({PRETRAIN_STEPS} steps, once)…", max_entries=1)
def _global_model() -> nn.Module:
    return load_global_model()


@st.cache_resource(show_spinner="Generating the synthetic test patients…", max_entries=1)
def _synthetic() -> dict[str, PatientRecord]:
    return {r.patient_id: r for r in synthetic_patients()}


@st.cache_resource(show_spinner="Reading the MIT-BIH record…", max_entries=4)
def _mitdb_patient(folder: str, record: str) -> PatientRecord:
    return load_mitdb_patient(folder, record)


@st.cache_resource(max_entries=4)
def _beats(source: str, patient_id: str, _record: PatientRecord) -> BeatSet:
    return patient_beats(_record)


@st.cache_resource(show_spinner="Adapting to the support beats and classifying every later beat…", max_entries=8)
def _adapt(key: tuple, _task: Task, checkpoints: tuple[str, ...]) -> AdaptResult:
    # real records: the shipped MIT-BIH ensemble, compared with its networks before adaptation (no synthetic global
    # model); the synthetic cohort: the default model (checkpoints empty) against the pre-trained global model
    learners = [_learner(c)[0] for c in checkpoints] or _learner(None)[0]
    return adapt_and_predict(learners, None if checkpoints else _global_model(), _task)


st.title("Diagnosis")
st.warning(DISCLAIMER, icon=":material/medical_information:")
st.markdown(
    "One **task is one patient**. A cardiologist labels the beats of the first few minutes of the recording "
    "(**support**, shaded on the strip); the meta-learned classifier adapts to this patient from them and labels "
    "**every later beat** (query) as **N** (normal), **S** (supraventricular ectopic), **V** (ventricular ectopic) "
    "or **F** (fusion). The adapted model is compared with a model that has not seen this patient's labels: for "
    "synthetic patients a **global model** trained on the pooled beats of the training patients; for MIT-BIH records "
    "(with the shipped MIT-BIH checkpoints: two Meta-SGD runs of different seeds, their probabilities averaged) the "
    "same meta-learned networks **before** adaptation, their meta-learned initialisation."
)

source_col, patient_col, minutes_col = st.columns([2, 4, 2], vertical_alignment="bottom")
with source_col:
    source = st.radio("Patients", [SYNTHETIC, MITDB], key="source")
with minutes_col:
    support_minutes = st.slider(
        "Support minutes",
        *SUPPORT_MINUTES_RANGE,
        value=DEFAULT_SUPPORT_MINUTES,
        key="support_minutes",
        help="Labelled minutes at the start of the recording the model adapts on.",
    )
with patient_col:
    if source == SYNTHETIC:
        patients = _synthetic()
        patient_id = st.selectbox(
            "Patient (synthetic test split, never seen in training)",
            list(patients),
            format_func=lambda pid: patient_label(patients[pid]),
            key="patient",
        )
        record = patients[patient_id]
        folder = ""
    else:
        folder = st.text_input(
            "MIT-BIH folder (`<record>.hea/.dat/.atr`; relative paths start at the repository root)",
            key="mitdb_dir",
            placeholder="data/mitdb",
        )
        if not folder.strip():
            st.info("Type the path of a folder holding MIT-BIH records.", icon=":material/folder_open:")
            st.stop()
        try:
            names = mitdb_records(user_path(folder))
        except DataError as exc:
            st.error(f"Could not list MIT-BIH records: {exc}", icon=":material/error:")
            st.stop()
        name = st.selectbox("Record", names, key="mitdb_record")
        try:
            record = _mitdb_patient(str(user_path(folder)), name)
        except DataError as exc:
            st.error(f"Could not read record {name}: {exc}", icon=":material/error:")
            st.stop()
        patient_id = record.patient_id

checkpoints = tuple(str(c) for c in MITDB_CHECKPOINTS if (c / "best.json").is_file()) if source == MITDB else ()
checkpoint = checkpoints[0] if checkpoints else None
meta = _learner(checkpoint)[1]
members = [_learner(c)[1] for c in checkpoints]  # the MIT-BIH ensemble's checkpoint JSONs (meta is the first's)
if notice := stand_in_notice(meta):
    st.warning(notice, icon=":material/info:")
if source == MITDB and checkpoint is None:
    st.warning(
        f"No MIT-BIH checkpoint at `{display_path(MITDB_CHECKPOINT)}`: the model was meta-trained on "
        "synthetic beats only.",
        icon=":material/info:",
    )
seen = {pid for m in members or [meta] for ids in (m.get("split_ids") or {}).values() for pid in ids}
if patient_id in seen:
    st.warning(
        f"Patient `{patient_id}` was among this model's training patients: its scores below are not a test result.",
        icon=":material/warning:",
    )

beats = _beats(f"{source}|{folder}", patient_id, record)
try:
    task = patient_task(beats, float(support_minutes))
except (DataError, TaskError) as exc:
    st.error(f"Could not build this patient's task: {exc}", icon=":material/error:")
    st.stop()
task_key = (source, folder, patient_id, int(support_minutes))

adapt_col, info_col = st.columns([1, 5], vertical_alignment="center")
if adapt_col.button("Adapt", type="primary", icon=":material/bolt:", key="adapt"):
    st.session_state.adapted = task_key
adapted = st.session_state.get("adapted") == task_key
info_col.caption(
    f"{task.support_x.shape[0]} labelled support beats in the first {support_minutes} min; "
    f"{task.query_x.shape[0]} later beats to classify."
)

result = _adapt(task_key, task, checkpoints) if adapted else None
st.subheader("ECG strip")
query_pred = None
if result is not None:
    show = st.segmented_control(
        "Beat markers",
        ["predicted", "true"],
        default="predicted",
        key="markers",
        help="Colour the beats after the support window by the adapted model's prediction or by the reference label.",
    )
    query_pred = result.adapted_pred if show != "true" else None
shown = (
    "after the support window, the **adapted model's predictions** (× = differs from the reference label)"
    if query_pred is not None
    else "the **reference labels**"
)
st.caption(
    f"Filtered lead (0.5-40 Hz) with R peaks coloured N grey · S orange · V red · F purple: {shown}. "
    "Drag the range slider below the chart, or zoom, to move along the recording."
)
st.plotly_chart(strip_figure(record, beats, float(support_minutes), query_pred), key="strip_chart")

if result is None:
    st.caption("Press **Adapt** to adapt the classifier to this patient's support beats and label the rest.")
else:
    st.header(comparison_title(result))
    table = metrics_table(task, result)
    st.caption(
        f"{comparison_note(result)} Scored on the {task.query_x.shape[0]} query beats; — = undefined (no such beats)."
    )
    st.dataframe(table.map(lambda v: "—" if pd.isna(v) else f"{v:.1%}"), key="metrics_table")
    true = task.query_y.numpy()
    global_col, adapted_col = st.columns(2)
    global_col.plotly_chart(confusion_figure(true, result.global_pred, result.global_label), key="confusion_global")
    adapted_col.plotly_chart(confusion_figure(true, result.adapted_pred, ADAPTED), key="confusion_adapted")

    st.header("Patient report")
    with st.expander("Report thresholds"):
        values: dict[str, Any] = {}
        cols = st.columns(4)
        for i, spec in enumerate(threshold_fields()):
            values[spec["name"]] = cols[i % 4].number_input(
                spec["name"],
                min_value=spec["min"],
                max_value=spec["max"],
                value=spec["default"],
                step=spec["step"],
                key=f"threshold_{spec['name']}",
            )
    try:
        thresholds = ReportThresholds(**values)
    except DataError as exc:
        st.error(f"Invalid thresholds, using the defaults: {exc}", icon=":material/error:")
        thresholds = ReportThresholds()
    report = patient_report(task, result, record.duration_s, thresholds)
    start_s = 60 * int(support_minutes)
    st.caption(
        f"From the adapted model's predictions for the beats after the support window: the report's times count "
        f"from {start_s} s into the recording (the end of the support window)."
    )
    for flag in report.flags:
        st.error(f"**{flag['name']}**: {flag['message']}", icon=":material/flag:")
    if not report.flags:
        st.success("No flag raised with these thresholds.", icon=":material/check:")
    with st.container(border=True):
        st.markdown(report.to_markdown())

st.header("Model card")
st.table(card_table(model_card(meta, global_model=checkpoint is None, ensemble=members)))
