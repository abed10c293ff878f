"""The evaluator (mean ± 95% CI, same tasks for every method, JSON schema, table) and the baselines."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable

import pytest
import torch
from conftest import VECTOR_DIM, GaussianClassSampler, TinyClassificationDomain, gen
from torch import Tensor

from metasuite.core.baselines import (
    BaselineConfig,
    FinetuneBaseline,
    LogRegBaseline,
    PooledBaseline,
    ScratchBaseline,
    build_baselines,
    pretrain,
)
from metasuite.core.evaluate import (
    EVAL_SCHEMA_KEYS,
    Ensemble,
    MetaMethod,
    evaluate,
    format_markdown,
    format_table,
    job_groups,
    mean_ci,
)
from metasuite.core.learners import make_learner
from metasuite.core.tasks import Task, fixed_tasks
from metasuite.domains.sinusoid import SinusoidDomain

TINY = BaselineConfig(scratch_steps=20, pretrain_steps=30, pretrain_batch_size=32, finetune_steps=10, seed=0)


def test_mean_ci_matches_a_hand_computation() -> None:
    values = [0.2, 0.4, 0.9, 0.5, 0.55, 0.1]
    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))  # sample sd, ddof=1
    got = mean_ci(values)
    assert got["mean"] == pytest.approx(mean, rel=1e-12)
    assert got["ci95"] == pytest.approx(1.96 * sd / math.sqrt(n), rel=1e-12)
    assert got["ci95"] == pytest.approx(1.96 * statistics.stdev(values) / math.sqrt(n), rel=1e-12)


def test_mean_ci_edge_cases() -> None:
    assert mean_ci([0.7]) == {"mean": 0.7, "ci95": None, "n": 1}  # one task: no interval, not "± 0"
    assert mean_ci([2.0, 2.0, 2.0]) == {"mean": 2.0, "ci95": 0.0}
    with pytest.raises(ValueError, match="empty"):
        mean_ci([])


class _Recorder:
    """A method that remembers the tasks it saw and predicts a fixed class."""

    kind = "baseline"

    def __init__(self, name: str, label: int):
        self.name, self.label, self.seen = name, label, []

    def adapt(self, task: Task) -> Callable[[Tensor], Tensor]:
        self.seen.append(task)
        return lambda x: torch.nn.functional.one_hot(torch.full((x.shape[0],), self.label), 3).float()


def test_evaluate_runs_every_method_on_the_same_tasks_and_follows_the_schema(
    tiny_domain: TinyClassificationDomain,
) -> None:
    tasks = fixed_tasks(tiny_domain.sampler("test"), 5, seed=4)
    a, b = _Recorder("always-0", 0), _Recorder("always-1", 1)
    learner = make_learner(tiny_domain, "protonet", n_way=3, seed=0)
    methods = [a, b, MetaMethod(learner)]
    report = evaluate(tiny_domain, methods, tasks, {"n_way": 3, "k_shot": 2}, progress=False)

    for m in (a, b):  # the very same task objects, in the same order
        assert len(m.seen) == len(tasks) and all(s is t for s, t in zip(m.seen, tasks, strict=True))
    assert tuple(report) == EVAL_SCHEMA_KEYS
    assert report["domain"] == "tiny-gauss" and report["setting"] == {"n_way": 3, "k_shot": 2}
    assert [r["method"] for r in report["results"]] == ["always-0", "always-1", "protonet"]
    for r in report["results"]:
        assert r.keys() >= {"method", "kind", "metrics"}
        assert r["kind"] in ("meta", "baseline")
        assert list(r["metrics"]) == ["accuracy", "loss"]  # headline metric first
        for name, summary in r["metrics"].items():
            assert set(summary) == {"mean", "ci95"}
            assert all(isinstance(v, float) and math.isfinite(v) for v in summary.values())
            assert summary == mean_ci(r["per_task"][name])
            assert len(r["per_task"][name]) == len(tasks)
    assert report["results"][2]["kind"] == "meta"
    # a constant predictor is right exactly on the queries of its class: 3 of 9 in every task
    assert report["results"][0]["metrics"]["accuracy"] == {"mean": pytest.approx(1 / 3), "ci95": 0.0}
    json.loads(json.dumps(report))  # plain JSON


def test_format_table_lists_every_method_with_mean_and_ci(tiny_domain: TinyClassificationDomain) -> None:
    tasks = fixed_tasks(tiny_domain.sampler("test"), 3, seed=0)
    report = evaluate(tiny_domain, [_Recorder("always-0", 0), _Recorder("always-2", 2)], tasks, {}, progress=False)
    table = format_table(report)
    assert table.startswith("domain: tiny-gauss")
    for r in report["results"]:
        line = next(ln for ln in table.splitlines() if ln.startswith(r["method"]))
        acc = r["metrics"]["accuracy"]
        assert f"{acc['mean']:.4f} ± {acc['ci95']:.4f}" in line
    assert "accuracy" in table and "loss" in table


def test_format_markdown_has_one_row_per_method(tiny_domain: TinyClassificationDomain) -> None:
    tasks = fixed_tasks(tiny_domain.sampler("test"), 3, seed=0)
    report = evaluate(tiny_domain, [_Recorder("always-0", 0), _Recorder("always-2", 2)], tasks, {}, progress=False)
    lines = format_markdown(report).splitlines()
    assert lines[0].startswith("| method | kind | accuracy")
    assert len(lines) == 2 + len(report["results"])
    acc = report["results"][1]["metrics"]["accuracy"]
    assert lines[3].startswith("| always-2 | baseline |") and f"{acc['mean']:.3f} ± {acc['ci95']:.3f}" in lines[3]


def test_meta_method_honours_its_step_override(tiny_domain: TinyClassificationDomain) -> None:
    learner = make_learner(tiny_domain, "maml", n_way=3, seed=0, inner_lr=0.5, test_inner_steps=5)
    task = tiny_domain.sampler("test").sample(gen(0))
    zero = MetaMethod(learner, steps=0).adapt(task)(task.query_x)
    with torch.no_grad():
        assert torch.allclose(zero, learner.backbone(task.query_x), atol=1e-6)
    five = MetaMethod(learner).adapt(task)(task.query_x)
    assert not torch.allclose(five, zero)


def test_pooled_batch_maps_local_labels_to_global_classes(tiny_domain: TinyClassificationDomain) -> None:
    x, y = tiny_domain.pooled_batch("train", 40, gen(0))
    assert x.shape == (40, VECTOR_DIM) and y.shape == (40,)
    assert y.dtype == torch.int64 and int(y.min()) >= 0 and int(y.max()) < 12
    # every example lies near the mean of the global class it is labelled with
    means = tiny_domain.sampler("train").means
    nearest = torch.cdist(x, means).argmin(dim=1)
    assert (nearest == y).float().mean() > 0.9


def test_every_baseline_gives_valid_predictions_on_a_classification_domain(
    tiny_domain: TinyClassificationDomain,
) -> None:
    baselines = build_baselines(tiny_domain, 3, TINY, None)
    assert [b.name for b in baselines] == ["scratch", "pretrain+finetune", "pretrain+logreg"]
    assert all(b.kind == "baseline" for b in baselines)
    tasks = fixed_tasks(tiny_domain.sampler("test"), 4, seed=1)
    for b in baselines:
        for t in tasks:
            pred = b.adapt(t)(t.query_x)
            assert pred.shape == (t.n_query, 3), b.name
            assert torch.isfinite(pred).all(), b.name
    report = evaluate(tiny_domain, baselines, tasks, {}, progress=False)
    for r in report["results"]:  # well separated clusters: every baseline beats chance
        assert r["metrics"]["accuracy"]["mean"] > 1 / 3 + 0.1, r


def test_baselines_are_deterministic(tiny_domain: TinyClassificationDomain) -> None:
    task = tiny_domain.sampler("test").sample(gen(2))
    first = [b.adapt(task)(task.query_x) for b in build_baselines(tiny_domain, 3, TINY, None)]
    second = [b.adapt(task)(task.query_x) for b in build_baselines(tiny_domain, 3, TINY, None)]
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))


def test_finetune_does_not_modify_the_pretrained_model(tiny_domain: TinyClassificationDomain) -> None:
    model = pretrain(tiny_domain, TINY)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    task = tiny_domain.sampler("test").sample(gen(0))
    FinetuneBaseline(model, "classification", 3, TINY).adapt(task)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert model.head.out_features == tiny_domain.n_classes_total()


class SharedClasses(TinyClassificationDomain):
    shared_classes = True


def test_pooled_baseline_reads_the_global_logits_of_the_task_classes(tiny_domain: TinyClassificationDomain) -> None:
    model = pretrain(tiny_domain, TINY)
    task = tiny_domain.sampler("train").sample(gen(3))  # pre-training classes (the tiny test classes are new)
    pred = PooledBaseline(model).adapt(task)(task.query_x)
    with torch.no_grad():
        full = model(task.query_x)
    assert torch.equal(pred, full[:, list(task.metadata["classes"])])
    # the support set is unused: a task with another support set predicts the same
    other = Task(task.support_x.flip(0), task.support_y.flip(0), task.query_x, task.query_y, metadata=task.metadata)
    assert torch.equal(PooledBaseline(model).adapt(other)(task.query_x), pred)
    with pytest.raises(ValueError, match="metadata"):
        PooledBaseline(model).adapt(Task(task.support_x, task.support_y, task.query_x, task.query_y))
    new_classes = tiny_domain.sampler("test").sample(gen(3))
    with pytest.raises(ValueError, match="seen in pre-training"):
        PooledBaseline(model).adapt(new_classes)
    # only domains whose test classes were seen in pre-training get it
    names = [b.name for b in build_baselines(SharedClasses(), 3, TINY, model)]
    assert names[-1] == "pooled (no adaptation)"


def test_logreg_never_predicts_a_class_missing_from_support(tiny_domain: TinyClassificationDomain) -> None:
    model = pretrain(tiny_domain, TINY)
    logreg = LogRegBaseline(model, 3, TINY)
    task = GaussianClassSampler((VECTOR_DIM,), n_way=3, k_shot=3, n_query=4).sample(gen(5))
    keep = task.support_y != 1
    two_class = Task(task.support_x[keep], task.support_y[keep], task.query_x, task.query_y)
    pred = logreg.adapt(two_class)(task.query_x)  # queries include class-1 examples
    assert pred.shape == (task.n_query, 3)
    assert not (pred.argmax(-1) == 1).any()
    assert torch.isfinite(pred).all()
    only = task.support_y == 2
    one_class = Task(task.support_x[only], task.support_y[only], task.query_x, task.query_y)
    assert (logreg.adapt(one_class)(task.query_x).argmax(-1) == 2).all()


def test_baselines_on_a_regression_domain() -> None:
    domain = SinusoidDomain()
    cfg = BaselineConfig(scratch_steps=5, pretrain_steps=5, pretrain_batch_size=20, finetune_steps=3)
    baselines = build_baselines(domain, None, cfg, None)
    assert [b.name for b in baselines] == ["scratch", "pretrain+finetune"]  # no logreg for regression
    assert isinstance(baselines[0], ScratchBaseline)
    task = domain.sampler("test", k_shot=5, n_query=7).sample(gen(0))
    for b in baselines:
        pred = b.adapt(task)(task.query_x)
        assert pred.shape == (7, 1) and torch.isfinite(pred).all()


def test_pretraining_needs_the_number_of_global_classes(tiny_domain: TinyClassificationDomain) -> None:
    class NoCount(TinyClassificationDomain):
        def n_classes_total(self) -> int | None:
            return None

    with pytest.raises(ValueError, match="must define n_classes_total"):
        pretrain(NoCount(), TINY)


class _Counting:
    """Adapts to a task (counted) and answers a per-task class distribution the test can recompute."""

    kind = "meta"

    def __init__(self, name: str, shift: float):
        self.name, self.shift, self.adapted = name, shift, 0

    def adapt(self, task: Task) -> Callable[[Tensor], Tensor]:
        self.adapted += 1
        centre = task.support_x.mean(0)
        return lambda x: torch.stack([(x - centre).sum(-1), x.sum(-1) * self.shift, -x.sum(-1)], dim=-1)


def test_an_ensemble_reuses_the_predictions_of_members_evaluated_before_it(
    tiny_domain: TinyClassificationDomain,
) -> None:
    tasks = fixed_tasks(tiny_domain.sampler("test"), 6, 1)
    a, b = _Counting("a", 0.5), _Counting("b", -2.0)
    ens = Ensemble([a, b], classification=True)
    together = evaluate(tiny_domain, [a, b, ens], tasks, {}, progress=False)["results"]
    assert (a.adapted, b.adapted) == (6, 6)  # the ensemble did not adapt its members again
    alone = evaluate(tiny_domain, [Ensemble([a, b], classification=True)], tasks, {}, progress=False)["results"]
    assert (a.adapted, b.adapted) == (12, 12)  # without its members evaluated first it adapts them itself
    assert together[2]["per_task"] == alone[0]["per_task"]
    # a member that is not the evaluated object (e.g. wrapped) is not mistaken for it
    wrapped = _Counting("a", 0.5)
    evaluate(tiny_domain, [a, Ensemble([wrapped, b], classification=True)], tasks, {}, progress=False)
    assert wrapped.adapted == 6


def test_job_groups_put_each_ensemble_with_its_members() -> None:
    a, b, c, d = (_Counting(n, 1.0) for n in "abcd")
    methods = [a, b, c, Ensemble([a, b], classification=True), d, Ensemble([c, d], classification=True)]
    assert job_groups(methods) == [(0, 1, 3), (2, 4, 5)]
    assert job_groups([a, b]) == [(0,), (1,)]
    shared = [a, b, c, Ensemble([a, b], classification=True), Ensemble([b, c], classification=True)]
    assert job_groups(shared) == [(0, 1, 2, 3, 4)]  # a member of two ensembles joins them


def test_parallel_evaluation_equals_sequential_evaluation() -> None:
    from metasuite.core.evaluate import evaluate_parallel

    domain = SinusoidDomain()
    cfg = BaselineConfig(scratch_steps=3, pretrain_steps=3, pretrain_batch_size=10, finetune_steps=2)
    seeds = [MetaMethod(make_learner(domain, "maml", n_way=None, seed=s)) for s in (0, 1)]
    for s, m in enumerate(seeds):
        m.name = f"maml (seed {s})"
    methods = [*seeds, *build_baselines(domain, None, cfg, None), Ensemble(seeds, classification=False)]
    plan = [{"n_way": None, "k_shot": k, "n_query": 4, "split": "test"} for k in (2, 5)]
    parallel = evaluate_parallel(domain, methods, plan, 5, 3, workers=2, progress=False)
    for entry, report in zip(plan, parallel, strict=True):
        shape = {k: entry[k] for k in ("n_way", "k_shot", "n_query")}
        tasks = fixed_tasks(domain.sampler("test", **shape), 5, 3)
        sequential = evaluate(domain, methods, tasks, {}, progress=False)
        assert report["setting"]["k_shot"] == entry["k_shot"] and report["setting"]["n_tasks"] == 5
        assert [r["method"] for r in report["results"]] == [r["method"] for r in sequential["results"]]
        for got, want in zip(report["results"], sequential["results"], strict=True):
            assert got["per_task"]["mse"] == pytest.approx(want["per_task"]["mse"], rel=1e-5)


def test_confusion_labels_follow_global_class_ids(tiny_domain: TinyClassificationDomain) -> None:
    class Fixed:
        name, kind = "echo", "baseline"

        def adapt(self, task: Task) -> Callable[[Tensor], Tensor]:
            return lambda q: torch.nn.functional.one_hot(task.query_y, 4).float()

    y = torch.tensor([0, 1, 2, 3])
    task = Task(
        torch.zeros(4, 2),
        y,
        torch.zeros(4, 2),
        y,
        metadata={"classes": [0, 1, 2, 3], "class_names": ["N", "S", "V", "F"]},
    )
    report = evaluate(tiny_domain, [Fixed()], [task], {}, progress=False, confusion=True)
    conf = report["results"][0]["confusion"]
    assert conf["labels"] == ["N", "S", "V", "F"]  # not alphabetical (F, N, S, V)
    assert conf["matrix"] == [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]


def test_merging_fold_reports_equals_evaluating_all_tasks_at_once(tiny_domain: TinyClassificationDomain) -> None:
    """Cross-validation folds: merged per-task values, CIs and confusion counts equal one evaluation of every task."""
    from metasuite.core.evaluate import merge_reports

    tasks = fixed_tasks(tiny_domain.sampler("test"), 7, seed=2)
    for i, t in enumerate(tasks):
        t.metadata["task_id"] = f"t{i}"
    learner = make_learner(tiny_domain, "protonet", n_way=3, seed=0)
    methods = [_Recorder("always-0", 0), MetaMethod(learner)]
    setting = {"n_way": 3, "k_shot": 2, "split": "test"}
    whole = evaluate(tiny_domain, methods, tasks, {**setting, "n_tasks": 7}, progress=False, confusion=True)
    folds = [
        evaluate(tiny_domain, methods, part, {**setting, "n_tasks": len(part)}, progress=False, confusion=True)
        for part in (tasks[:3], tasks[3:5], tasks[5:])
    ]
    merged = merge_reports(folds)
    assert merged["setting"]["n_tasks"] == 7 and merged["setting"]["split"] == "test"
    assert len(merged["setting"]["merged"]) == 3
    for a, b in zip(whole["results"], merged["results"], strict=True):
        assert a["method"] == b["method"] and b["n_tasks"] == 7
        assert a["per_task"] == b["per_task"] and a["task_ids"] == b["task_ids"] == [f"t{i}" for i in range(7)]
        for name in a["metrics"]:
            assert b["metrics"][name]["mean"] == pytest.approx(a["metrics"][name]["mean"])
            assert b["metrics"][name]["ci95"] == pytest.approx(a["metrics"][name]["ci95"])
        sa, sb = a["confusion"], b["confusion"]
        count = {(t, p): sb["matrix"][i][j] for i, t in enumerate(sb["labels"]) for j, p in enumerate(sb["labels"])}
        for i, t in enumerate(sa["labels"]):
            for j, p in enumerate(sa["labels"]):
                assert count.get((t, p), 0) == sa["matrix"][i][j]
    with pytest.raises(ValueError, match="different domains"):
        merge_reports([folds[0], {**folds[1], "domain": "other"}])


def test_merging_keeps_a_method_missing_from_one_fold(tiny_domain: TinyClassificationDomain) -> None:
    from metasuite.core.evaluate import merge_reports

    tasks = fixed_tasks(tiny_domain.sampler("test"), 4, seed=3)
    a = evaluate(tiny_domain, [_Recorder("x", 0), _Recorder("y", 1)], tasks[:2], {}, progress=False)
    b = evaluate(tiny_domain, [_Recorder("x", 0)], tasks[2:], {}, progress=False)
    merged = {r["method"]: r for r in merge_reports([a, b])["results"]}
    assert merged["x"]["n_tasks"] == 4 and merged["y"]["n_tasks"] == 2
