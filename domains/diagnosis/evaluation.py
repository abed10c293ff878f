"""ECG-literature summaries of a diagnosis eval report: gross statistics, per-patient table, references.

:func:`metasuite.core.evaluate.evaluate` gives, per method, the mean ± CI over patients of each per-patient
metric (the *average* statistics) and a confusion matrix of every query beat of every patient.
The ECG literature (de Chazal 2004/2006, Kiranyaz 2016) reports *gross* statistics: Se, +P and F1
of the beats pooled over all test patients. :func:`summarize` computes them from the confusion
matrices, lays out one row per patient and method, and puts published MIT-BIH results next to ours.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from metasuite.core.evaluation import FixedTaskEvaluation
from metasuite.domains.diagnosis.metrics import REFERENCE_KEYS, REFERENCES, metrics_from_confusion
from metasuite.domains.diagnosis.records import AAMI_CLASSES

__all__ = [
    "GROSS_KEYS",
    "PATIENT_KEYS",
    "PatientEvaluation",
    "format_summary",
    "gross_from_confusion",
    "summarize",
]

#: Gross statistics kept in the summary (fractions).
GROSS_KEYS = ("accuracy", "macro_f1", "S_Se", "S_+P", "S_F1", "V_Se", "V_+P", "V_F1")
#: Per-patient values in the patient table.
PATIENT_KEYS = ("accuracy", "S_F1", "V_F1")


def gross_from_confusion(confusion: dict[str, Any]) -> dict[str, Any]:
    """Gross statistics of an eval confusion (``{"labels": names, "matrix": rows true}``).

    Labels are matched to :data:`AAMI_CLASSES` by name, whatever their order; an unknown label is
    an error (it would silently drop beats).
    """
    labels, matrix = confusion["labels"], np.asarray(confusion["matrix"], dtype=np.int64)
    unknown = [lab for lab in labels if lab not in AAMI_CLASSES]
    if unknown:
        raise ValueError(f"confusion labels {unknown} are not AAMI classes {AAMI_CLASSES}")
    idx = [AAMI_CLASSES.index(lab) for lab in labels]
    conf = np.zeros((len(AAMI_CLASSES), len(AAMI_CLASSES)), dtype=np.int64)
    conf[np.ix_(idx, idx)] = matrix
    m = metrics_from_confusion(conf)
    return {"n_beats": m["n_beats"], **{k: m[k] for k in GROSS_KEYS}, "confusion": m["confusion"]}


def summarize(report: dict[str, Any]) -> dict[str, Any]:
    """Gross statistics per method, the per-patient table and the reference comparison.

    Returns
    -------
    ``{"gross": {method: {n_beats, accuracy, macro_f1, S_Se, ..., confusion}},
    "patients": [{"patient_id", method: {accuracy, S_F1, V_F1}, ...}],
    "references": {name: {V_Se, V_+P, S_Se, S_+P, method}} (percent)}``
    """
    gross, rows = {}, {}
    for r in report["results"]:
        if "confusion" in r:
            gross[r["method"]] = gross_from_confusion(r["confusion"])
        for i, pid in enumerate(r.get("task_ids") or []):
            row = rows.setdefault(pid, {"patient_id": pid})
            row[r["method"]] = {k: _clean(r["per_task"][k][i]) for k in PATIENT_KEYS if k in r["per_task"]}
    refs = {name: {**{k: ref[k] for k in REFERENCE_KEYS}, "method": ref["method"]} for name, ref in REFERENCES.items()}
    return {"gross": gross, "patients": list(rows.values()), "references": refs}


def _clean(v: float) -> float | None:
    return None if v is None or math.isnan(v) else float(v)


def _pct(v: float | None) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:5.1f}"


def format_summary(summary: dict[str, Any]) -> str:
    """Text tables: gross statistics (percent) with the references, then F1 per patient."""
    lines = ["gross statistics (every query beat of every patient pooled; percent) next to published MIT-BIH results:"]
    w = max([34, *map(len, summary["gross"])])  # whole method names: "pretrain+finetune (support prior x0.1)"
    head = f"{'method':{w}s} {'beats':>7s} {'acc':>6s} {'V Se':>6s} {'V +P':>6s} {'V F1':>6s} "
    head += f"{'S Se':>6s} {'S +P':>6s} {'S F1':>6s}"
    lines += [head, "-" * len(head)]
    for method, g in summary["gross"].items():
        cells = [_pct(g[k]) for k in ("accuracy", "V_Se", "V_+P", "V_F1", "S_Se", "S_+P", "S_F1")]
        lines.append(f"{method:{w}s} {g['n_beats']:7d} " + " ".join(f"{c:>6s}" for c in cells))
    for name, ref in summary["references"].items():
        cells = [f"{ref[k]:5.1f}" if k in ref else "-" for k in REFERENCE_KEYS]
        label = f"{name} ({ref['method']})"[:w]
        row = ["-", cells[0], cells[1], "-", cells[2], cells[3], "-"]
        lines.append(f"{label:{w}s} {'':>7s} " + " ".join(f"{c:>6s}" for c in row))
    lines.append("(references use their own record splits and training protocols: compare with care)")
    patients = summary["patients"]
    if patients:
        methods = [m for m in summary["gross"] if any(m in row for row in patients)]
        lines += [
            "",
            "per patient: S F1 / V F1 (percent; '-' = the patient has no beat of the class, where its statistics are "
            "not defined)",
        ]
        widths = [max(16, len(m)) for m in methods]
        head = f"{'patient':18s} " + " ".join(f"{m:>{c}s}" for m, c in zip(methods, widths, strict=True))
        lines += [head, "-" * len(head)]
        for row in patients:
            cells = [f"{_pct(row[m].get('S_F1'))} / {_pct(row[m].get('V_F1'))}" if m in row else "-" for m in methods]
            text = " ".join(f"{t:>{c}s}" for t, c in zip(cells, widths, strict=True))
            lines.append(f"{str(row['patient_id'])[:18]:18s} {text}")
    return "\n".join(lines)


class PatientEvaluation(FixedTaskEvaluation):
    """The core's fixed-task evaluation (one task per test patient) plus the ECG literature's summary:
    gross statistics over every beat, a per-patient table and published references."""

    name = "patients"

    def summarize(self, report: dict[str, Any]) -> dict[str, Any]:
        return summarize(report)

    def format_summary(self, summary: dict[str, Any]) -> str:
        return format_summary(summary)

    def paired_metrics(self, report: dict[str, Any]) -> list[str]:
        """Per-patient macro-F1 (every patient), S F1 and V F1 (the patients who have the class)."""
        return ["macro_f1", "S_F1", "V_F1"]

    def describe_setting(self, setting: dict[str, Any]) -> str:
        """``one task per test patient, support = first 5 min labelled, query = every later beat ...``."""
        minutes = setting.get("support_minutes")
        support = f"the first {minutes:g} min of labelled beats" if minutes is not None else "the first minutes"
        merged = f", merged from {len(setting['merged'])} reports" if "merged" in setting else ""
        return (
            f"one task per {setting.get('split', 'test')} patient ({setting.get('n_tasks', '?')} patients): "
            f"support = {support}, query = every later beat; classes {', '.join(AAMI_CLASSES)}; "
            f"seed {setting.get('seed', '?')}{merged}"
        )
