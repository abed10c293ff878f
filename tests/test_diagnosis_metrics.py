"""Beat-classification metrics: Se/+P/F1 against scikit-learn, the 0/0 convention, gross vs average."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

from metasuite.core.errors import DataError
from metasuite.domains.diagnosis.metrics import (
    HEADLINE_KEYS,
    REFERENCES,
    average_metrics,
    beat_metrics,
    class_stats,
    confusion,
    gross_metrics,
    patient_table,
    reference_table,
)
from metasuite.domains.diagnosis.records import AAMI_CLASSES

N, S, V, F = range(4)

# rows = true N, S, V, F; columns = predicted
KNOWN_CONF = np.array(
    [
        [50, 2, 1, 0],
        [3, 6, 1, 0],
        [1, 0, 8, 1],
        [0, 0, 2, 0],
    ]
)


def beats_from_confusion(conf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(true_ids, pred_ids) realising a confusion matrix."""
    pairs = [(i, j) for i in range(len(conf)) for j in range(len(conf)) for _ in range(conf[i, j])]
    y_true, y_pred = np.array(pairs).T
    return y_true, y_pred


def test_confusion_rows_are_true_columns_predicted() -> None:
    conf = confusion([N, N, V, S], [N, V, V, N])
    assert conf.shape == (4, 4)
    assert conf[N, N] == 1 and conf[N, V] == 1 and conf[V, V] == 1 and conf[S, N] == 1
    assert conf.sum() == 4
    np.testing.assert_array_equal(confusion(*beats_from_confusion(KNOWN_CONF)), KNOWN_CONF)


def test_class_stats_exact_values_on_known_matrix() -> None:
    stats = class_stats(KNOWN_CONF)
    assert list(stats) == list(AAMI_CLASSES)
    s, v, f = stats["S"], stats["V"], stats["F"]
    assert (s["TP"], s["FN"], s["FP"], s["support"]) == (6, 4, 2, 10)
    assert s["Se"] == pytest.approx(0.6) and s["+P"] == pytest.approx(0.75) and s["F1"] == pytest.approx(2 / 3)
    assert (v["TP"], v["FN"], v["FP"]) == (8, 2, 4)
    assert v["Se"] == pytest.approx(0.8) and v["+P"] == pytest.approx(8 / 12) and v["F1"] == pytest.approx(16 / 22)
    # F is present in the truth and predicted once, never correctly: all zeros, not NaN
    assert (f["Se"], f["+P"], f["F1"]) == (0.0, 0.0, 0.0)


def test_class_stats_match_sklearn() -> None:
    y_true, y_pred = beats_from_confusion(KNOWN_CONF)
    ppv, se, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=range(4), zero_division=0)
    stats = class_stats(KNOWN_CONF)
    for i, c in enumerate(AAMI_CLASSES):
        assert stats[c]["Se"] == pytest.approx(se[i])
        assert stats[c]["+P"] == pytest.approx(ppv[i])
        assert stats[c]["F1"] == pytest.approx(f1[i])
        assert stats[c]["support"] == support[i]


def test_beat_metrics_match_sklearn_on_random_predictions() -> None:
    rng = np.random.default_rng(0)
    y_true = rng.choice(4, size=500, p=[0.7, 0.1, 0.15, 0.05])
    y_pred = np.where(rng.random(500) < 0.7, y_true, rng.integers(0, 4, size=500))
    m = beat_metrics(y_true, y_pred)
    assert m["n_beats"] == 500
    assert m["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert m["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, labels=range(4), average="macro"))
    ppv, se, f1, _ = precision_recall_fscore_support(y_true, y_pred, labels=range(4))
    for c in ("S", "V"):
        i = AAMI_CLASSES.index(c)
        assert (m[f"{c}_Se"], m[f"{c}_+P"], m[f"{c}_F1"]) == pytest.approx((se[i], ppv[i], f1[i]))
    assert set(HEADLINE_KEYS) <= set(m)
    assert m["confusion"] == confusion(y_true, y_pred).tolist()


def test_zero_over_zero_is_nan_and_skipped_by_macro_f1() -> None:
    # truth: N, S; prediction: N, V. F absent everywhere; S never predicted; V never true.
    m = beat_metrics([N, N, S, S], [N, N, V, N])
    s, v, f = m["per_class"]["S"], m["per_class"]["V"], m["per_class"]["F"]
    assert s["Se"] == 0.0 and math.isnan(s["+P"]) and s["F1"] == 0.0
    assert math.isnan(v["Se"]) and v["+P"] == 0.0 and v["F1"] == 0.0
    assert math.isnan(f["Se"]) and math.isnan(f["+P"]) and math.isnan(f["F1"])
    # macro-F1 over N, S, V (present in truth or prediction), not F
    f1_n = 2 * 2 / (2 * 2 + 1 + 0)
    assert m["macro_f1"] == pytest.approx((f1_n + 0.0 + 0.0) / 3)
    assert m["macro_f1"] == pytest.approx(f1_score([N, N, S, S], [N, N, V, N], labels=[N, S, V], average="macro"))


def test_no_beats_gives_nan_not_an_error() -> None:
    m = beat_metrics([], [])
    assert m["n_beats"] == 0
    assert math.isnan(m["accuracy"]) and math.isnan(m["macro_f1"])
    assert all(math.isnan(m[key]) for key in HEADLINE_KEYS)


def test_gross_pools_beats_while_average_weights_patients_equally() -> None:
    # patient A: 90 V beats all detected; patient B: 10 V beats all missed. Nobody has S beats.
    a = ([N] * 100 + [V] * 90, [N] * 100 + [V] * 90)
    b = ([N] * 100 + [V] * 10, [N] * 110)
    gross = gross_metrics([a, b])
    average = average_metrics([a, b])
    assert gross["n_patients"] == average["n_patients"] == 2
    assert gross["V_Se"] == pytest.approx(90 / 100)
    assert average["V_Se"] == pytest.approx((1.0 + 0.0) / 2)
    assert gross["accuracy"] == pytest.approx(290 / 300)
    assert average["accuracy"] == pytest.approx((1.0 + 100 / 110) / 2)
    # V_+P is NaN for patient B (V never predicted): averaged over patient A only
    assert average["V_+P"] == pytest.approx(1.0)
    assert average["n_patients_counted"]["V_+P"] == 1
    assert average["n_patients_counted"]["V_Se"] == 2
    # no patient has S beats: NaN in both, counted by nobody
    assert math.isnan(gross["S_Se"]) and math.isnan(average["S_Se"])
    assert average["n_patients_counted"]["S_Se"] == 0


def test_gross_equals_beat_metrics_of_concatenated_patients() -> None:
    rng = np.random.default_rng(1)
    patients = [(rng.integers(0, 4, n), rng.integers(0, 4, n)) for n in (5, 50, 500)]
    pooled = beat_metrics(np.concatenate([t for t, _ in patients]), np.concatenate([p for _, p in patients]))
    gross = gross_metrics(patients)
    for key in HEADLINE_KEYS:
        assert gross[key] == pytest.approx(pooled[key])


def test_patient_table_one_row_per_patient() -> None:
    table = patient_table({"mitdb:100": ([N, N, V, S], [N, N, V, N]), "mitdb:200": ([F, V], [F, V])})
    assert list(table.index) == ["mitdb:100", "mitdb:200"]
    assert table.index.name == "patient_id"
    assert list(table.columns) == ["beats", "N", "S", "V", "F", "accuracy", *HEADLINE_KEYS[2:], "macro_f1"]
    row = table.loc["mitdb:100"]
    assert (row["beats"], row["N"], row["S"], row["V"], row["F"]) == (4, 2, 1, 1, 0)
    assert row["accuracy"] == pytest.approx(0.75)
    assert row["V_Se"] == 1.0 and row["S_Se"] == 0.0 and math.isnan(row["S_+P"])
    assert math.isnan(table.loc["mitdb:200", "S_Se"])
    assert table.loc["mitdb:200", "macro_f1"] == pytest.approx(1.0)


def test_average_metrics_is_the_nan_skipping_mean_of_the_patient_table() -> None:
    patients = {0: ([N, S, V], [N, S, N]), 1: ([N, N, V], [N, V, V]), 2: ([N, N], [N, N])}
    table = patient_table(patients)
    average = average_metrics(list(patients.values()))
    for key in HEADLINE_KEYS:
        values = table[key].dropna()
        assert average[key] == pytest.approx(values.mean())
        assert average["n_patients_counted"][key] == len(values)


def test_references_and_reference_table() -> None:
    assert REFERENCES["Kiranyaz2016"]["V_Se"] == 95.0 and REFERENCES["Kiranyaz2016"]["S_+P"] == 62.1
    assert REFERENCES["deChazal2006"]["V_+P"] == 96.2 and REFERENCES["deChazal2006"]["S_Se"] == 87.7
    assert all("IEEE Trans Biomed Eng" in ref["citation"] for ref in REFERENCES.values())
    ours = gross_metrics([([N, V, V, S], [N, V, N, S])])
    table = reference_table({"ours": ours})
    assert list(table.index) == [*REFERENCES, "ours"]
    assert table.loc["ours", "V_Se"] == pytest.approx(50.0)  # fractions become percent
    assert table.loc["Kiranyaz2016", "S_Se"] == 64.6


@pytest.mark.parametrize(
    ("true_ids", "pred_ids", "match"),
    [
        ([N, S], [N], "2 beats but pred_ids has 1"),
        ([N, 4], [N, N], "expected 0..3"),
        ([N, -1], [N, N], "expected 0..3"),
        ([0.0, 1.0], [N, N], "integer class ids"),
        (["N", "S"], [N, N], "integer class ids"),
        ([[N, S]], [[N, S]], "1-D"),
    ],
)
def test_bad_ids_raise_data_error(true_ids: list, pred_ids: list, match: str) -> None:
    with pytest.raises(DataError, match=match):
        beat_metrics(true_ids, pred_ids)


def test_bad_confusion_and_empty_patient_lists_raise() -> None:
    with pytest.raises(DataError, match="4 classes"):
        class_stats(np.zeros((3, 3)))
    with pytest.raises(DataError, match="negative"):
        class_stats(-np.ones((4, 4)))
    with pytest.raises(DataError, match="no patients"):
        gross_metrics([])
    with pytest.raises(DataError, match="no patients"):
        average_metrics([])
    with pytest.raises(DataError, match="no patients"):
        patient_table({})
