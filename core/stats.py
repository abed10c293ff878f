"""Paired comparisons of two methods evaluated on the same tasks.

Two methods scored on the same fixed test tasks (or the same patients) are compared by the per-task
differences, not by two overlapping confidence intervals: the task-to-task variation that both share cancels.
:func:`paired_difference` gives the mean difference and a percentile bootstrap 95% CI over tasks (seeded, so a
report is reproducible); :func:`best_pair` picks the best meta-learner and the best baseline of a report.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["N_BOOT", "best_pair", "compare_best", "format_comparison", "higher_is_better", "paired_difference"]

N_BOOT = 10_000


def paired_difference(a: Sequence[float], b: Sequence[float], *, n_boot: int = N_BOOT, seed: int = 0) -> dict[str, Any]:
    """Mean of ``a[i] - b[i]`` over the tasks where both are defined, with a bootstrap 95% CI.

    Returns ``{"diff", "lo", "hi", "n"}``; ``diff``/``lo``/``hi`` are None when no task has both values, and
    ``lo == hi == diff`` for a single task (no interval from one pair).
    """
    if len(a) != len(b):
        raise ValueError(f"paired values need the same tasks: {len(a)} vs {len(b)} values")
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    both = np.isfinite(x) & np.isfinite(y)
    d = x[both] - y[both]
    n = int(d.size)
    if n == 0:
        return {"diff": None, "lo": None, "hi": None, "n": 0}
    mean = float(d.mean())
    if n == 1:
        return {"diff": mean, "lo": None, "hi": None, "n": 1}
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    for lo in range(0, n_boot, 1000):  # chunks: memory n_boot/10 x n, not n_boot x n
        idx = rng.integers(0, n, size=(min(1000, n_boot - lo), n))
        means[lo : lo + len(idx)] = d[idx].mean(axis=1)
    return {"diff": mean, "lo": float(np.percentile(means, 2.5)), "hi": float(np.percentile(means, 97.5)), "n": n}


def best_pair(results: Sequence[dict[str, Any]], metric: str, higher_is_better: bool) -> tuple[Any, Any] | None:
    """``(best meta-learner result, best baseline result)`` of an eval report's results by the mean of ``metric``;
    None when either kind is missing or has no defined mean."""

    def best(kind_meta: bool) -> dict[str, Any] | None:
        scored = [
            r
            for r in results
            if (r["kind"] == "meta") == kind_meta and (r["metrics"].get(metric) or {}).get("mean") is not None
        ]
        if not scored:
            return None
        sign = 1.0 if higher_is_better else -1.0
        return max(scored, key=lambda r: sign * r["metrics"][metric]["mean"])

    meta, baseline = best(True), best(False)
    return None if meta is None or baseline is None else (meta, baseline)


def higher_is_better(metric: str) -> bool:
    """False for error-like metric names (mse, mae, rmse, loss, error, nll), True otherwise."""
    return not any(word in metric.lower() for word in ("mse", "mae", "loss", "error", "nll"))


def compare_best(results: Sequence[dict[str, Any]], metric: str, *, seed: int = 0) -> dict[str, Any] | None:
    """The best meta-learner against the best baseline on ``metric``, paired over the tasks both were scored on.

    Returns ``{"metric", "meta", "baseline", "diff", "lo", "hi", "n", "higher_is_better"}`` (``diff`` = meta -
    baseline), or None when the report lacks a meta-learner or a baseline.
    """
    up = higher_is_better(metric)
    pair = best_pair(results, metric, up)
    if pair is None:
        return None
    meta, baseline = pair
    diff = paired_difference(meta["per_task"][metric], baseline["per_task"][metric], seed=seed)
    return {"metric": metric, "meta": meta["method"], "baseline": baseline["method"], **diff, "higher_is_better": up}


def format_comparison(c: dict[str, Any]) -> str:
    """``paired on accuracy: maml - scratch = +0.0123 [+0.0040, +0.0210] over 600 tasks (meta better)``."""

    def num(x: float | None) -> str:
        return "n/a" if x is None or not math.isfinite(x) else f"{x:+.4f}"

    verdict = ""
    if c["lo"] is not None and c["hi"] is not None:
        better = c["lo"] > 0 if c["higher_is_better"] else c["hi"] < 0
        worse = c["hi"] < 0 if c["higher_is_better"] else c["lo"] > 0
        verdict = (
            "; the meta-learner is better"
            if better
            else "; the baseline is better"
            if worse
            else "; no clear difference"
        )
    return (
        f"paired on {c['metric']}: {c['meta']} - {c['baseline']} = {num(c['diff'])} "
        f"[{num(c['lo'])}, {num(c['hi'])}] over {c['n']} tasks (bootstrap 95% CI){verdict}"
    )
