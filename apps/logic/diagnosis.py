"""Computation behind the Diagnosis page: adapt a beat classifier to one new patient and summarise them.

One task is one patient's recording (:class:`~metasuite.domains.diagnosis.DiagnosisSampler`): the beats of the
first ``support_minutes`` minutes are labelled (support), every later beat is to be classified
(query), in the fixed AAMI label space N, S, V, F. The page compares two models on it:

* **adapted** -- the shipped meta-learned checkpoint (or a first-order MAML stand-in meta-trained
  in-process), adapted on the support beats with its own inner loop;
* **global (no adaptation)** -- a supervised model pre-trained on every beat of the pooled training
  patients (:func:`metasuite.core.baselines.pretrain`); it never sees this patient's support beats. For a real
  MIT-BIH record with the shipped MIT-BIH checkpoint no such model is at hand, and the comparison is the
  **meta-learned initialisation (no adaptation)**: the same network with zero inner steps
  (:func:`comparison_title` names which one a result holds).

Both are scored with :func:`metasuite.domains.diagnosis.metrics.beat_metrics`, and the adapted predictions are
summarised by :func:`metasuite.domains.diagnosis.report.build_report` -- a decision aid, not a diagnosis.

The in-app models and the patient list come from one small synthetic domain (:data:`APP_COHORT`,
:data:`APP_MINUTES`): small enough to meta-train a stand-in in a couple of minutes on a laptop CPU,
and the patients offered on the page are that domain's *test* patients, whom neither model saw.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from metasuite.apps.logic import confusion_heatmap, display_path
from metasuite.apps.logic.generic import fit_confusion_labels
from metasuite.apps.logic.models import (
    MetaLearner,
    StandIn,
    ensemble_members,
    pooled_model,
    shipped_checkpoint,
    shipped_or_stand_in,
)
from metasuite.core.errors import DataError
from metasuite.core.losses import log_mean_probability
from metasuite.core.tasks import Task
from metasuite.domains.diagnosis import DiagnosisDomain, DiagnosisSampler
from metasuite.domains.diagnosis.beats import BeatSet, extract_beats
from metasuite.domains.diagnosis.domain import preprocess
from metasuite.domains.diagnosis.metrics import HEADLINE_KEYS, beat_metrics, confusion
from metasuite.domains.diagnosis.mitdb import MitdbError, list_records, load_patients
from metasuite.domains.diagnosis.records import AAMI_CLASSES, PatientRecord
from metasuite.domains.diagnosis.report import DISCLAIMER, PatientReport, ReportThresholds, build_report

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = [
    "ADAPTED",
    "APP_COHORT",
    "APP_MINUTES",
    "CLASS_COLOURS",
    "DEFAULT_CHECKPOINT",
    "DEFAULT_SUPPORT_MINUTES",
    "DEFAULT_WINDOW_S",
    "DISCLAIMER",
    "FALLBACK_STEPS",
    "GLOBAL",
    "MAX_PLOT_POINTS",
    "METRIC_LABELS",
    "MITDB_CHECKPOINT",
    "MITDB_CHECKPOINTS",
    "PRETRAIN_STEPS",
    "STAND_IN",
    "SUPPORT_MINUTES_RANGE",
    "UNADAPTED",
    "AdaptResult",
    "BeatSet",
    "MetaLearner",
    "PatientRecord",
    "ReportThresholds",
    "Task",
    "adapt_and_predict",
    "app_domain",
    "comparison_note",
    "comparison_title",
    "confusion_figure",
    "load_global_model",
    "load_meta_learner",
    "load_mitdb_patient",
    "marker_classes",
    "metrics_table",
    "minmax_indices",
    "mitdb_records",
    "model_card",
    "patient_beats",
    "patient_label",
    "patient_report",
    "patient_task",
    "strip_figure",
    "synthetic_patients",
    "threshold_fields",
]

#: The shipped checkpoint: a run folder holding ``best.safetensors`` + ``best.json``.
DEFAULT_CHECKPOINT = shipped_checkpoint("diagnosis", "fomaml")
#: The shipped checkpoint meta-trained on real MIT-BIH DS1 patients, for records of a local MIT-BIH folder.
MITDB_CHECKPOINT = shipped_checkpoint("diagnosis", "metasgd-mitdb")
#: The shipped MIT-BIH ensemble: the same Meta-SGD recipe trained with seeds 0 and 1 (class probabilities averaged;
#: on the DS1 folds the ensemble beat an ensemble of pretrain+logreg's seeds on gross S and V F1, see the README).
MITDB_CHECKPOINTS = (MITDB_CHECKPOINT, shipped_checkpoint("diagnosis", "metasgd-mitdb-seed1"))
#: The app's synthetic cohort (patients per split) and recording length (minutes). Twelve training
#: patients of 15 minutes are ~13k beats: enough for a stand-in that beats chance, small enough to
#: generate in a few seconds and meta-train in minutes. 15 minutes leaves >= 5 minutes of query beats
#: at the largest support window (:data:`SUPPORT_MINUTES_RANGE`).
APP_COHORT = {"train": 12, "val": 2, "test": 8}
APP_MINUTES = 15.0
#: Stand-in meta-learner (used only when :data:`DEFAULT_CHECKPOINT` is absent): first-order MAML,
#: meta-batch 2, 128 query beats per training task, Adam 1e-3, ragged tasks padded (patients have
#: different numbers of support beats).
FALLBACK_STEPS = 60
STAND_IN = StandIn(
    "fomaml",
    "first-order MAML",
    steps=FALLBACK_STEPS,
    meta_batch_size=2,
    n_query=128,
    val_tasks=4,
    pad_tasks=True,
    note=" on a small synthetic cohort",
)
#: Pre-training budget of the global model (the domain's class-balanced loss and learning rate).
PRETRAIN_STEPS = 200
PRETRAIN_BATCH = 64
#: The support-minutes slider: (min, max) and default, in minutes.
SUPPORT_MINUTES_RANGE = (1, 10)
DEFAULT_SUPPORT_MINUTES = 5
#: The ECG strip: at most this many line points (min/max decimation), and the initial visible window.
MAX_PLOT_POINTS = 100_000
DEFAULT_WINDOW_S = 10.0
#: Marker colour of each AAMI class on the strip.
CLASS_COLOURS = {"N": "#9e9e9e", "S": "#fb8c00", "V": "#e53935", "F": "#8e24aa"}
#: Row labels of :func:`metrics_table`, one per :data:`~metasuite.domains.diagnosis.metrics.HEADLINE_KEYS` entry.
METRIC_LABELS = {
    "accuracy": "accuracy",
    "macro_f1": "macro-F1",
    "S_Se": "S sensitivity (Se)",
    "S_+P": "S positive predictivity (+P)",
    "S_F1": "S F1",
    "V_Se": "V sensitivity (Se)",
    "V_+P": "V positive predictivity (+P)",
    "V_F1": "V F1",
}
ADAPTED = "adapted (meta-learned)"
GLOBAL = "global (no adaptation)"
UNADAPTED = "meta-learned initialisation (no adaptation)"
#: The heading of the comparison block, per comparison model (:attr:`AdaptResult.global_label`).
_COMPARISON_TITLES = {
    GLOBAL: "Global model (no adaptation) vs adapted",
    UNADAPTED: "Meta-learned initialisation (no adaptation) vs adapted",
}
#: What the comparison model is, in one sentence for the page.
_COMPARISON_NOTES = {
    GLOBAL: "The global model was pre-trained on the pooled beats of the training patients and never sees this "
    "patient's support beats; the adapted model is the meta-learned network after adapting on them.",
    UNADAPTED: "Both columns are the same meta-learned network (or the shipped ensemble of two, probabilities "
    "averaged): once with zero inner steps (its meta-learned initialisation, before it has seen this patient's "
    "support beats) and once adapted on them. No global model "
    "trained on other patients is compared here. An initialisation meta-learned for adaptation (MAML, Meta-SGD) is "
    "a starting point for the inner steps, not a classifier: before adaptation it may label almost every beat "
    "wrongly, which says nothing about the adapted model.",
}


@functools.cache
def app_domain() -> DiagnosisDomain:
    """The app's synthetic domain (:data:`APP_COHORT`, :data:`APP_MINUTES`), built once per process."""
    return DiagnosisDomain(cohort=APP_COHORT, minutes=APP_MINUTES)


# ---------------------------------------------------------------------------- models
def load_meta_learner(
    path: str | Path | None = None,
    cache_dir: str | Path | None = None,
    steps: int = FALLBACK_STEPS,
    domain: DiagnosisDomain | None = None,
    default: str | Path = DEFAULT_CHECKPOINT,
) -> tuple[MetaLearner, dict[str, Any]]:
    """Load the diagnosis meta-learner -> ``(learner, meta)``; ``meta`` is the checkpoint's JSON.

    ``path``: a run folder or ``.safetensors`` file (one that does not exist raises
    :class:`~metasuite.core.errors.CheckpointError`). Default: ``default`` (:data:`DEFAULT_CHECKPOINT`), or
    when it is missing the :data:`STAND_IN` first-order MAML meta-trained for ``steps`` steps on ``domain``
    (default :func:`app_domain`), once, and cached under ``cache_dir`` (default: the app's cache) keyed by
    its budget and the domain's data fingerprint (:func:`metasuite.apps.logic.models.shipped_or_stand_in`).
    ``meta["source"]`` is ``"checkpoint"`` or ``"quick-train"``.
    """
    stand_in = replace(STAND_IN, steps=steps)
    return shipped_or_stand_in(domain or app_domain(), default, stand_in, path=path, cache=cache_dir)


def load_global_model(
    cache_dir: str | Path | None = None,
    steps: int = PRETRAIN_STEPS,
    batch_size: int = PRETRAIN_BATCH,
    domain: DiagnosisDomain | None = None,
    seed: int = 0,
) -> nn.Module:
    """The global model: pre-trained on beats pooled over ``domain``'s training patients, logits over N, S, V, F.

    ``domain`` defaults to :func:`app_domain`. Pre-trained once with the domain's class-balanced baseline
    settings for ``steps`` Adam steps of ``batch_size`` beats and cached under ``cache_dir`` (default: the
    app's cache), keyed by the budget and the domain's data fingerprint
    (:func:`metasuite.apps.logic.models.pooled_model`). Returned in eval mode.
    """
    return pooled_model(domain or app_domain(), steps, batch_size, seed, cache=cache_dir)


def model_card(
    meta: dict[str, Any], global_model: bool = True, ensemble: Sequence[dict[str, Any]] = ()
) -> dict[str, Any]:
    """The facts about the meta-learner the page shows, from its checkpoint JSON ``meta``.

    Keys: ``model`` (shipped checkpoint or stand-in), ``algorithm``, ``training steps``,
    ``meta-batch size``, ``val accuracy`` (at the kept step), ``inner lr``, ``adaptation steps``
    (``test_inner_steps``), ``training data``, ``file`` (relative to the repository root when inside
    it), ``comparison`` (the pre-trained global model, or with ``global_model=False`` the
    meta-learned network before adaptation). Missing entries are None. ``ensemble``: the checkpoint JSONs of every
    member when the page averages several (``meta`` is the first's); ``model``, ``val accuracy`` and ``file`` then
    name them all.
    """
    train_cfg = meta.get("train_config") or {}
    hparams = meta.get("hparams") or {}
    stand_in = meta.get("source") == "quick-train"
    if stand_in:
        data = (
            f"synthetic cohort: {APP_COHORT['train']} training + {APP_COHORT['val']} validation patients, "
            f"{APP_MINUTES:g} min each"
        )
    else:
        data = f"fingerprint {meta['data_fingerprint']}" if meta.get("data_fingerprint") else None
        train_ids = (meta.get("split_ids") or {}).get("train")
        if train_ids and not train_ids[0].startswith("synth:"):
            data = f"{len(train_ids)} training patients: " + ", ".join(i.split(":", 1)[-1] for i in train_ids)
    card = {
        "model": "stand-in, meta-trained in-process" if stand_in else "shipped checkpoint",
        "algorithm": meta.get("algorithm"),
        "training steps": train_cfg.get("steps"),
        "meta-batch size": train_cfg.get("meta_batch_size"),
        "val accuracy": (meta.get("metrics") or {}).get("val_metric"),
        "inner lr": hparams.get("inner_lr"),
        "adaptation steps": hparams.get("test_inner_steps"),
        "training data": data,
        "file": None if meta.get("path") is None else display_path(meta["path"]),
        "comparison": f"global model pre-trained {PRETRAIN_STEPS} steps × {PRETRAIN_BATCH} pooled training beats"
        if global_model
        else UNADAPTED,
    }
    if len(ensemble) > 1:
        seeds = ", ".join(str((m.get("train_config") or {}).get("seed", "?")) for m in ensemble)
        scores = [(m.get("metrics") or {}).get("val_metric") for m in ensemble]
        card["model"] = f"ensemble of {len(ensemble)} shipped checkpoints (training seeds {seeds}; mean probability)"
        card["val accuracy"] = " / ".join("-" if v is None else f"{v:.3f}" for v in scores)
        card["file"] = ", ".join(display_path(m["path"]) for m in ensemble if m.get("path") is not None) or None
    return card


# ---------------------------------------------------------------------------- patients
def synthetic_patients(domain: DiagnosisDomain | None = None) -> list[PatientRecord]:
    """The (filtered) recordings of the test patients of ``domain`` (default :func:`app_domain`).

    Test patients only: the stand-in and the global model were trained on the same domain's
    training patients, which the split keeps disjoint from these.
    """
    return (domain or app_domain()).records_of("test")


def patient_label(record: PatientRecord) -> str:
    """One line for the patient selector: id, length and true beats per class."""
    counts = record.counts()
    beats = " · ".join(f"{c} {counts[c]}" for c in AAMI_CLASSES)
    return f"{record.patient_id} ({record.duration_s / 60:.0f} min; {beats})"


def mitdb_records(folder: str | Path) -> list[str]:
    """Names of the MIT-BIH records (``.hea`` files) in ``folder``.

    Raises :class:`~metasuite.core.errors.DataError` (a :class:`~metasuite.domains.diagnosis.mitdb.MitdbError`) when the
    folder does not exist or holds no record.
    """

    records = list_records(folder)
    if not records:
        raise MitdbError(
            f"no MIT-BIH record in {folder} (no .hea files); point at the folder holding <record>.hea/.dat/.atr, "
            f"or download the database with `metasuite data fetch mitdb --dest {folder}`"
        )
    return records


def load_mitdb_patient(folder: str | Path, record: str) -> PatientRecord:
    """One MIT-BIH record, MLII lead band-passed 0.5-40 Hz (:func:`~metasuite.domains.diagnosis.mitdb.load_patients`).

    Raises :class:`~metasuite.core.errors.DataError` naming the file when the record is missing or unreadable.
    """

    (patient,) = load_patients(folder, [record])
    return patient


def patient_beats(record: PatientRecord) -> BeatSet:
    """The classifiable beats of ``record`` (Q beats dropped), extracted as the domain does."""
    return extract_beats(preprocess(record))


def patient_task(beats: BeatSet, support_minutes: float) -> Task:
    """The evaluation task of one patient: support = beats of the first ``support_minutes``, query = every later beat.

    Built by :meth:`DiagnosisSampler.all_tasks`, so it is exactly the task the evaluator scores.
    ``metadata["query_times_s"]`` holds the query beats' R-peak times (s from the recording start).
    Raises :class:`~metasuite.core.errors.DataError` when no beat follows the support window.
    """
    return DiagnosisSampler([beats], support_minutes, n_query=0, split="app").all_tasks()[0]


# ---------------------------------------------------------------------------- adaptation and scores
@dataclass(frozen=True)
class AdaptResult:
    """Both models' predictions for the query beats of one task.

    Attributes
    ----------
    adapted_proba, global_proba : np.ndarray, float64, shape (n_query, 4)
        Softmax class probabilities over :data:`~metasuite.domains.diagnosis.records.AAMI_CLASSES`.
    global_label : str
        What the comparison model is: :data:`GLOBAL` (a pre-trained global model) or
        :data:`UNADAPTED` (the meta-learned network before adaptation); ``global_proba`` and
        ``global_pred`` are that model's, whichever it is.
    """

    adapted_proba: np.ndarray
    global_proba: np.ndarray
    global_label: str = GLOBAL

    @property
    def adapted_pred(self) -> np.ndarray:
        """Predicted class id of each query beat, int64 ``(n_query,)``."""
        return self.adapted_proba.argmax(axis=1)

    @property
    def global_pred(self) -> np.ndarray:
        """Each query beat's class id predicted by the comparison model (:attr:`global_label`), int64 ``(n_query,)``."""
        return self.global_proba.argmax(axis=1)


def comparison_title(result: AdaptResult) -> str:
    """The heading of the block comparing ``result``'s two models, naming the comparison model truthfully:
    ``"Global model (no adaptation) vs adapted"`` or ``"Meta-learned initialisation (no adaptation) vs adapted"``."""
    return _COMPARISON_TITLES.get(result.global_label, f"{result.global_label} vs adapted")


def comparison_note(result: AdaptResult) -> str:
    """One sentence saying what the two compared models of ``result`` are."""
    return _COMPARISON_NOTES.get(result.global_label, "")


def _softmax(logits: torch.Tensor) -> np.ndarray:
    return torch.softmax(logits.detach().double(), dim=-1).numpy()


def _mean_softmax(logits: Sequence[torch.Tensor]) -> np.ndarray:
    """Class probabilities averaged over the ensemble members' logits (one member: its softmax), float64."""
    return _softmax(log_mean_probability([z.detach().double() for z in logits]))


def adapt_and_predict(
    learner: MetaLearner | Sequence[MetaLearner], global_model: nn.Module | None, task: Task
) -> AdaptResult:
    """Adapt ``learner`` on the support beats and predict every query beat, next to the global model.

    ``learner`` may be several meta-learners (an ensemble, e.g. one recipe trained with two seeds): each adapts
    on its own and their class probabilities are averaged. Without a ``global_model`` the comparison is the
    meta-learned network(s) before adaptation (zero inner steps, averaged likewise): for real records, where no
    global model trained on other patients is at hand.
    """
    learners = ensemble_members(learner)
    adapted = [m.adapt(task.support_x, task.support_y).predict(task.query_x) for m in learners]
    with torch.no_grad():
        if global_model is None:
            unadapted = [m.adapt(task.support_x, task.support_y, steps=0).predict(task.query_x) for m in learners]
            global_proba, label = _mean_softmax(unadapted), UNADAPTED
        else:
            global_proba, label = _softmax(global_model(task.query_x)), GLOBAL
    return AdaptResult(adapted_proba=_mean_softmax(adapted), global_proba=global_proba, global_label=label)


def metrics_table(task: Task, result: AdaptResult) -> pd.DataFrame:
    """Headline metrics (fractions, NaN when undefined) of both models on the query beats.

    Index: the labels of :data:`METRIC_LABELS` in :data:`HEADLINE_KEYS` order; columns
    ``result.global_label`` (e.g. ``"global (no adaptation)"``) and ``"adapted (meta-learned)"``.
    """
    true = task.query_y.numpy()
    scores = {
        result.global_label: beat_metrics(true, result.global_pred),
        ADAPTED: beat_metrics(true, result.adapted_pred),
    }
    return pd.DataFrame(
        {name: [m[k] for k in HEADLINE_KEYS] for name, m in scores.items()},
        index=[METRIC_LABELS[k] for k in HEADLINE_KEYS],
    )


def confusion_figure(true_ids: np.ndarray, pred_ids: np.ndarray, title: str) -> go.Figure:
    """Plotly heatmap of the AAMI confusion matrix (rows true, columns predicted) with counts, titled ``title``."""
    figure = confusion_heatmap(confusion(true_ids, pred_ids), list(AAMI_CLASSES), "beats", title=title)
    return fit_confusion_labels(figure, list(AAMI_CLASSES))


def patient_report(
    task: Task, result: AdaptResult, duration_s: float, thresholds: ReportThresholds | None = None
) -> PatientReport:
    """The rhythm summary of the adapted model's predictions on the query beats.

    The report covers the classified part of the recording, from the end of the support window to
    ``duration_s`` (the recording length, s): its times count from the end of the support window, so
    that beats per hour are per hour of *analysed* recording. Probabilities feed its confidence
    section.
    """
    start_s = task.metadata["support_start_s"] + 60.0 * task.metadata["support_minutes"]
    times = np.asarray(task.metadata["query_times_s"], dtype=np.float64) - start_s
    return build_report(
        times,
        result.adapted_pred,
        proba=result.adapted_proba,
        duration_s=duration_s - start_s,
        thresholds=thresholds or ReportThresholds(),
        classes=task.metadata["class_names"],
    )


def threshold_fields() -> list[dict[str, Any]]:
    """Every :class:`ReportThresholds` field as a number-input spec.

    Keys: ``name``, ``default``, ``integer`` (bool), ``min``, ``max`` (None = unbounded) and
    ``step``; the bounds are the ranges :class:`ReportThresholds` accepts (percentages in
    [0, 100], run lengths >= 2, a probability in (0, 1]), with ints for the integer fields.
    """
    special = {"low_confidence": (0.01, 1.0, 0.05), "sustained_vt_s": (0.5, None, 1.0)}
    out = []
    for f in fields(ReportThresholds):
        integer = isinstance(f.default, int)
        lo, hi, step = special.get(f.name, (2, None, 1) if integer else (0.0, 100.0, 0.5))
        out.append({"name": f.name, "default": f.default, "integer": integer, "min": lo, "max": hi, "step": step})
    return out


# ---------------------------------------------------------------------------- the ECG strip
def minmax_indices(signal: np.ndarray, max_points: int) -> np.ndarray:
    """Sample indices that draw ``signal`` with at most ``max_points`` points, keeping every peak.

    All indices when the signal is short enough; otherwise the signal is cut into
    ``max_points // 2`` consecutive buckets and each contributes its minimum and its maximum (in
    time order), so no R peak or deep S wave disappears. Sorted, unique, int64.
    """
    n = len(signal)
    if max_points < 2:
        raise ValueError(f"max_points must be at least 2, got {max_points}")
    if n <= max_points:
        return np.arange(n, dtype=np.int64)
    size = math.ceil(n / (max_points // 2))
    n_full = n // size
    blocks = np.asarray(signal[: n_full * size]).reshape(n_full, size)
    offsets = np.arange(n_full, dtype=np.int64)[:, None] * size
    picks = [np.stack([blocks.argmin(axis=1), blocks.argmax(axis=1)], axis=1) + offsets]
    if n_full * size < n:
        tail = np.asarray(signal[n_full * size :])
        picks.append(np.array([[tail.argmin(), tail.argmax()]]) + n_full * size)
    return np.unique(np.concatenate(picks).ravel()).astype(np.int64)


def marker_classes(beats: BeatSet, support_minutes: float, query_pred: np.ndarray | None) -> np.ndarray:
    """The class id to draw on each beat: true labels, with the query beats' predictions when given.

    ``query_pred`` holds one class id per beat after the support window (the task's query beats,
    in time order). Returns int64 ``(len(beats),)``.
    """
    ids = beats.label_ids()
    if query_pred is None:
        return ids
    query = beats.times_s >= 60.0 * support_minutes
    if int(query.sum()) != len(query_pred):
        raise DataError(
            f"{len(query_pred)} predictions for {int(query.sum())} beats after the first {support_minutes:g} minutes"
        )
    out = ids.copy()
    out[query] = np.asarray(query_pred, dtype=np.int64)
    return out


def strip_figure(
    record: PatientRecord,
    beats: BeatSet,
    support_minutes: float,
    query_pred: np.ndarray | None = None,
    window_s: float = DEFAULT_WINDOW_S,
    max_points: int = MAX_PLOT_POINTS,
) -> go.Figure:
    """The filtered ECG with its R peaks coloured by class, the support minutes shaded.

    Traces: the signal (``"ECG"``, at most ``max_points`` points, :func:`minmax_indices`), then one
    marker trace per AAMI class (N, S, V, F; possibly empty) on the beats' R peaks. Markers show the
    true class, or with ``query_pred`` (one class id per query beat) the predicted class of every
    query beat; a predicted beat whose true class differs is drawn as a cross. The x axis (time in
    s) has a range slider and shows ``window_s`` seconds: the first ones, or with ``query_pred``
    those around the end of the support window, where the predictions begin.
    """
    import plotly.graph_objects as go

    signal = preprocess(record).signal
    keep = minmax_indices(signal, max_points)
    fig = go.Figure()
    # an SVG line, not Scattergl: WebGL is often unavailable (headless browsers, remote desktops)
    fig.add_scatter(
        x=keep / record.fs,
        y=signal[keep],
        mode="lines",
        name="ECG",
        line={"color": "#455a64", "width": 1},
        hoverinfo="skip",
    )
    shown = marker_classes(beats, support_minutes, query_pred)
    true = beats.label_ids()
    names = np.array(AAMI_CLASSES)
    predicted = (beats.times_s >= 60.0 * support_minutes) & (query_pred is not None)
    hover = np.where(
        predicted, np.char.add(np.char.add("predicted ", names[shown]), np.char.add(", true ", names[true])), ""
    )
    hover = np.where(predicted, hover, np.char.add("labelled ", names[true]))
    peaks = signal[beats.r_index]
    for i, c in enumerate(AAMI_CLASSES):
        on = shown == i
        fig.add_scatter(
            x=beats.times_s[on],
            y=peaks[on],
            mode="markers",
            name=c,
            marker={
                "color": CLASS_COLOURS[c],
                "size": 8,
                "symbol": np.where(shown[on] != true[on], "x", "circle").tolist(),
                "line": {"width": 0},
            },
            hovertext=hover[on].tolist(),
            hovertemplate="%{x:.2f} s<br>%{hovertext}<extra></extra>",
        )
    support_end = 60.0 * support_minutes
    start = 0.0 if query_pred is None else max(0.0, support_end - 0.2 * window_s)
    fig.add_vrect(
        x0=0.0,
        x1=support_end,
        fillcolor="#1e88e5",
        opacity=0.08,
        line_width=0,
        annotation_text=f"support: first {support_minutes:g} min (labelled)",
        annotation_position="top left",
    )
    fig.update_layout(
        height=380,
        margin={"l": 40, "r": 20, "t": 30, "b": 20},
        xaxis={
            "title": "time (s)",
            "range": [start, start + window_s],
            "rangeslider": {"visible": True, "thickness": 0.12},
        },
        yaxis={"title": "mV"},
        legend={"orientation": "h", "y": 1.12, "title": {"text": "beats:" if query_pred is None else "predicted:"}},
        hovermode="closest",
    )
    return fig
