"""Heartbeat-classification metrics as the ECG literature reports them (AAMI EC57 classes N, S, V, F).

Per class, from the confusion matrix (rows = true class, columns = predicted class), following
de Chazal et al. (2004) and Kiranyaz et al. (2016):

* sensitivity ``Se = TP / (TP + FN)``,
* positive predictivity ``+P = TP / (TP + FP)``,
* ``F1 = 2 TP / (2 TP + FP + FN)``, the harmonic mean of Se and +P where both exist.

**0/0 convention.** A ratio whose denominator is 0 is ``NaN`` -- never an error, never 0. Se is NaN
for a class with no true beats, +P is NaN for a class that is never predicted, and F1 is NaN only
for a class absent from both the truth and the prediction (a class with true beats that is never
predicted has F1 = 0 and +P = NaN, as in scikit-learn >= 1.3). Every average in this module skips
NaN: the macro-F1 is therefore the mean over the classes present in the truth or the prediction,
and :func:`average_metrics` averages each value over the patients for whom it exists.

**Gross vs average statistics** (de Chazal et al. 2004). *Gross* statistics pool every beat of
every patient (the confusion matrices are summed), so patients with many beats weigh more;
*average* statistics are the unweighted mean over patients of the per-patient values.

Metric values are fractions in [0, 1]; the published results in :data:`REFERENCES` are percentages.

References
----------
de Chazal P, O'Dwyer M, Reilly RB. Automatic classification of heartbeats using ECG morphology
and heartbeat interval features. IEEE Trans Biomed Eng 51(7):1196-1206, 2004.
Kiranyaz S, Ince T, Gabbouj M. Real-time patient-specific ECG classification by 1-D convolutional
neural networks. IEEE Trans Biomed Eng 63(3):664-675, 2016.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from sklearn.metrics import confusion_matrix

from metasuite.core.errors import DataError
from metasuite.domains.diagnosis.records import AAMI_CLASSES

__all__ = [
    "HEADLINE_KEYS",
    "REFERENCES",
    "REFERENCE_KEYS",
    "average_metrics",
    "beat_metrics",
    "class_stats",
    "confusion",
    "gross_metrics",
    "metrics_from_confusion",
    "patient_table",
    "reference_table",
]

#: The scalar metrics reported per patient and averaged over patients (fractions in [0, 1]).
HEADLINE_KEYS = ("accuracy", "macro_f1", "S_Se", "S_+P", "S_F1", "V_Se", "V_+P", "V_F1")

#: Published MIT-BIH results (percent) to print next to ours. VEB = class V, SVEB = class S.
#: Each paper uses its own record split and training protocol, so compare with care.
REFERENCES: dict[str, dict[str, Any]] = {
    "Kiranyaz2016": {
        "method": "patient-specific 1-D CNN",
        "citation": (
            "Kiranyaz S, Ince T, Gabbouj M. Real-time patient-specific ECG classification by 1-D "
            "convolutional neural networks. IEEE Trans Biomed Eng 63(3):664-675, 2016."
        ),
        "V_Se": 95.0,
        "V_+P": 89.5,
        "S_Se": 64.6,
        "S_+P": 62.1,
    },
    "deChazal2006": {
        "method": "patient-adapting linear discriminant",
        "citation": (
            "de Chazal P, Reilly RB. A patient-adapting heartbeat classifier using ECG morphology and "
            "heartbeat interval features. IEEE Trans Biomed Eng 53(12):2535-2543, 2006."
        ),
        "V_Se": 94.3,
        "V_+P": 96.2,
        "S_Se": 87.7,
        "S_+P": 47.0,
    },
}

REFERENCE_KEYS = ("V_Se", "V_+P", "S_Se", "S_+P")


def _class_ids(name: str, ids: ArrayLike, n_classes: int) -> np.ndarray:
    arr = np.asarray(ids)
    if arr.ndim != 1:
        raise DataError(f"{name} must be a 1-D array of class ids, got shape {arr.shape}")
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.dtype.kind not in "iu":
        raise DataError(
            f"{name} must hold integer class ids 0..{n_classes - 1} (index into {AAMI_CLASSES}), got dtype {arr.dtype}"
        )
    if arr.min() < 0 or arr.max() >= n_classes:
        raise DataError(f"{name} holds ids from {arr.min()} to {arr.max()}; expected 0..{n_classes - 1}")
    return arr.astype(np.int64)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` elementwise, NaN where ``den == 0`` (the module's 0/0 convention)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.full(num.shape, np.nan), where=den > 0)


def confusion(true_ids: ArrayLike, pred_ids: ArrayLike, n_classes: int = len(AAMI_CLASSES)) -> np.ndarray:
    """Confusion matrix of integer class ids.

    Parameters
    ----------
    true_ids, pred_ids : array of int, shape (n_beats,)
        Class ids ``0 .. n_classes - 1`` (for the AAMI classes, indices into :data:`AAMI_CLASSES`).
    n_classes : int
        Number of classes; every class gets a row and a column even when absent.

    Returns
    -------
    np.ndarray, int64, shape (n_classes, n_classes)
        ``conf[i, j]`` = number of beats of true class ``i`` predicted as ``j``. All zeros for no beats.
    """
    y_true = _class_ids("true_ids", true_ids, n_classes)
    y_pred = _class_ids("pred_ids", pred_ids, n_classes)
    if len(y_true) != len(y_pred):
        raise DataError(f"true_ids has {len(y_true)} beats but pred_ids has {len(y_pred)}")
    if len(y_true) == 0:  # sklearn refuses empty input; an empty record simply has no counts
        return np.zeros((n_classes, n_classes), dtype=np.int64)
    return confusion_matrix(y_true, y_pred, labels=list(range(n_classes))).astype(np.int64)


def class_stats(conf: ArrayLike, classes: Sequence[str] = AAMI_CLASSES) -> dict[str, dict[str, float]]:
    """Per-class ``Se``, ``+P``, ``F1`` (fractions, NaN for 0/0) and ``support``, ``TP``, ``FN``, ``FP`` (ints).

    ``conf`` is a confusion matrix, shape (n_classes, n_classes), rows = true, columns = predicted,
    with one row per entry of ``classes``. ``support`` is the number of true beats of the class.
    """
    conf = np.asarray(conf)
    k = len(classes)
    if conf.shape != (k, k):
        raise DataError(f"confusion matrix has shape {conf.shape} but {k} classes {tuple(classes)} were given")
    if (conf < 0).any():
        raise DataError("confusion matrix has negative counts")
    tp = np.diag(conf)
    fn = conf.sum(axis=1) - tp
    fp = conf.sum(axis=0) - tp
    se = _ratio(tp, tp + fn)
    ppv = _ratio(tp, tp + fp)
    f1 = _ratio(2 * tp, 2 * tp + fp + fn)
    return {
        c: {
            "Se": float(se[i]),
            "+P": float(ppv[i]),
            "F1": float(f1[i]),
            "support": int(tp[i] + fn[i]),
            "TP": int(tp[i]),
            "FN": int(fn[i]),
            "FP": int(fp[i]),
        }
        for i, c in enumerate(classes)
    }


def metrics_from_confusion(conf: ArrayLike) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class statistics and the S/V headline keys of an AAMI confusion matrix.

    Returns
    -------
    dict
        ``n_beats`` (int); ``accuracy`` (NaN without beats); ``macro_f1`` (mean F1 over the classes
        present in the truth or the prediction, NaN without beats); ``per_class`` (see
        :func:`class_stats`, all four classes); ``confusion`` (nested list, rows = true); and the
        flattened ``S_Se``, ``S_+P``, ``S_F1``, ``V_Se``, ``V_+P``, ``V_F1``.
    """
    conf = np.asarray(conf)
    stats = class_stats(conf, AAMI_CLASSES)
    n_beats = int(conf.sum())
    f1s = [s["F1"] for s in stats.values() if not math.isnan(s["F1"])]
    out: dict[str, Any] = {
        "n_beats": n_beats,
        "accuracy": float(np.trace(conf)) / n_beats if n_beats else math.nan,
        "macro_f1": math.fsum(f1s) / len(f1s) if f1s else math.nan,
        "per_class": stats,
        "confusion": conf.astype(np.int64).tolist(),
    }
    for c in ("S", "V"):
        for stat in ("Se", "+P", "F1"):
            out[f"{c}_{stat}"] = stats[c][stat]
    return out


def beat_metrics(true_ids: ArrayLike, pred_ids: ArrayLike) -> dict[str, Any]:
    """Metrics of one set of beats; ids index :data:`AAMI_CLASSES`. See :func:`metrics_from_confusion`."""
    return metrics_from_confusion(confusion(true_ids, pred_ids))


def _check_patients(n: int) -> None:
    if n == 0:
        raise DataError("no patients given: pass at least one (true_ids, pred_ids) pair")


def gross_metrics(per_patient: Sequence[tuple[ArrayLike, ArrayLike]]) -> dict[str, Any]:
    """Gross statistics: every beat of every patient pooled (confusion matrices summed).

    ``per_patient`` is a sequence of ``(true_ids, pred_ids)`` pairs, one per patient. Returns the
    same dict as :func:`beat_metrics`, plus ``n_patients``.
    """
    _check_patients(len(per_patient))
    conf = sum(confusion(y_true, y_pred) for y_true, y_pred in per_patient)
    return {"n_patients": len(per_patient), **metrics_from_confusion(conf)}


def average_metrics(per_patient: Sequence[tuple[ArrayLike, ArrayLike]]) -> dict[str, Any]:
    """Average statistics: the mean over patients of each per-patient value in :data:`HEADLINE_KEYS`.

    A patient whose value is NaN (e.g. ``S_Se`` for a patient without S beats) is skipped for that
    value; ``n_patients_counted[key]`` says how many patients entered each mean (NaN when none).
    """
    _check_patients(len(per_patient))
    table = patient_table(dict(enumerate(per_patient)))[list(HEADLINE_KEYS)]
    means = table.mean(skipna=True)
    return {
        "n_patients": len(per_patient),
        **{key: float(means[key]) for key in HEADLINE_KEYS},
        "n_patients_counted": {key: int(n) for key, n in table.count().items()},
    }


def patient_table(per_patient: Mapping[Any, tuple[ArrayLike, ArrayLike]]) -> pd.DataFrame:
    """One row per patient (index ``patient_id``), in the order given.

    Columns: ``beats``; ``N``, ``S``, ``V``, ``F`` (number of beats of each *true* class);
    ``accuracy``; ``S_Se``, ``S_+P``, ``S_F1``, ``V_Se``, ``V_+P``, ``V_F1``; ``macro_f1``.
    Metric columns are fractions, NaN under the 0/0 convention.
    """
    _check_patients(len(per_patient))
    rows = []
    for patient_id, (y_true, y_pred) in per_patient.items():
        m = beat_metrics(y_true, y_pred)
        rows.append(
            {
                "patient_id": patient_id,
                "beats": m["n_beats"],
                **{c: m["per_class"][c]["support"] for c in AAMI_CLASSES},
                **{key: m[key] for key in HEADLINE_KEYS if key != "macro_f1"},
                "macro_f1": m["macro_f1"],
            }
        )
    return pd.DataFrame(rows).set_index("patient_id")


def reference_table(ours: Mapping[str, Mapping[str, Any]] | None = None) -> pd.DataFrame:
    """Published results of :data:`REFERENCES` and ours side by side, in percent.

    ``ours`` maps a row name to a metrics dict of this module (e.g. ``{"ours (gross)":
    gross_metrics(...)}``); its fractions are converted to percent. Columns ``V_Se``, ``V_+P``,
    ``S_Se``, ``S_+P``, ``method``.
    """
    rows = {name: {**{k: ref[k] for k in REFERENCE_KEYS}, "method": ref["method"]} for name, ref in REFERENCES.items()}
    for name, metrics in (ours or {}).items():
        rows[name] = {**{k: 100.0 * metrics[k] for k in REFERENCE_KEYS}, "method": "this work"}
    return pd.DataFrame.from_dict(rows, orient="index")
