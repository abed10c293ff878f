"""Paired comparisons: the per-task difference of two methods on the same tasks, with a bootstrap CI."""

from __future__ import annotations

import math

import numpy as np
import pytest

from metasuite.core.evaluation import EvalRequest, FixedTaskEvaluation
from metasuite.core.stats import compare_best, format_comparison, paired_difference


def test_a_shared_task_effect_cancels_in_the_paired_difference() -> None:
    """Task difficulty varies a lot, the gap between the methods a little: only a paired test sees the gap."""
    rng = np.random.default_rng(0)
    difficulty = rng.normal(0.0, 1.0, 200)
    a, b = difficulty + 0.1 + rng.normal(0, 0.05, 200), difficulty + rng.normal(0, 0.05, 200)
    d = paired_difference(a, b)
    assert d["n"] == 200 and d["diff"] == pytest.approx(float(np.mean(a - b)))
    assert 0.0 < d["lo"] < 0.1 < d["hi"] < 0.2  # clearly above zero, although the two means' CIs overlap
    assert paired_difference(a, b) == d  # seeded: reproducible


def test_tasks_where_either_value_is_undefined_are_left_out() -> None:
    d = paired_difference([1.0, math.nan, 3.0, 4.0], [0.5, 1.0, math.nan, 3.0])
    assert d["n"] == 2 and d["diff"] == pytest.approx(0.75)
    assert paired_difference([math.nan], [1.0]) == {"diff": None, "lo": None, "hi": None, "n": 0}
    with pytest.raises(ValueError, match="same tasks"):
        paired_difference([1.0], [1.0, 2.0])


def test_compare_best_picks_the_best_of_each_kind_and_respects_the_metric_direction() -> None:
    def result(name: str, kind: str, values: list[float], metric: str = "mse") -> dict:
        return {
            "method": name,
            "kind": kind,
            "metrics": {metric: {"mean": float(np.mean(values))}},
            "per_task": {metric: values},
        }

    results = [
        result("maml", "meta", [1.0, 2.0, 3.0]),
        result("reptile", "meta", [2.0, 3.0, 4.0]),
        result("scratch", "baseline", [3.0, 4.0, 5.0]),
        result("pretrain", "baseline", [1.5, 2.5, 3.5]),
    ]
    c = compare_best(results, "mse")
    assert (c["meta"], c["baseline"]) == ("maml", "pretrain") and c["diff"] == pytest.approx(-0.5)
    assert "the meta-learner is better" in format_comparison(c)  # lower MSE is better
    assert compare_best(results[:2], "mse") is None  # no baseline: nothing to compare


def test_a_single_setting_eval_json_holds_its_paired_comparison() -> None:
    """The comparison printed under the table is also in the JSON, for one setting as for several (it was lost
    from single-setting JSONs: the object was copied before the comparison was attached)."""

    def result(name: str, kind: str, values: list[float]) -> dict:
        mean = float(np.mean(values))
        return {
            "method": name,
            "kind": kind,
            "n_tasks": len(values),
            "metrics": {"accuracy": {"mean": mean, "ci95": 0.01}},
            "per_task": {"accuracy": values},
        }

    def report(k: int) -> dict:
        setting = {"n_way": 5, "k_shot": k, "n_query": 15, "split": "test", "n_tasks": 4, "seed": 0}
        return {
            "domain": "driving",
            "setting": setting,
            "results": [result("metabaseline", "meta", [0.8, 0.7, 0.9, 0.6]), result("pooled", "baseline", [0.7] * 4)],
        }

    one = FixedTaskEvaluation()._report("driving", [report(1)], None, [])
    assert one.data["paired"][0]["meta"] == "metabaseline" and one.data["paired"][0]["baseline"] == "pooled"
    assert "metabaseline - pooled" in one.text
    two = FixedTaskEvaluation()._report("driving", [report(1), report(5)], EvalRequest("driving"), [])
    assert [p["comparisons"][0]["diff"] for p in two.data["paired"]] == pytest.approx([0.05, 0.05])
