"""The evaluator: every method on the same fixed, seeded test tasks; mean ± 95% CI.

A *method* is anything with ``name``, ``kind`` (``"meta"`` or ``"baseline"``) and
``adapt(task) -> predict`` where ``predict(query_x) -> logits/outputs``. Meta-learners are wrapped
by :class:`MetaMethod`; baselines live in :mod:`metasuite.core.baselines`.

The confidence interval is the normal-approximation 95% interval of the mean over tasks,
``1.96 * sd / sqrt(n)`` with the sample standard deviation (``ddof=1``).
"""

from __future__ import annotations

import copy
import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import torch
from torch import Tensor

from metasuite.core.algorithms import MetaLearner
from metasuite.core.losses import log_class_prior, log_mean_probability
from metasuite.core.progress import progress as progress_bar
from metasuite.core.tasks import Task, TaskBatch, expand_support, fixed_tasks

if TYPE_CHECKING:
    from metasuite.core.domain import Domain

__all__ = [
    "EVAL_SCHEMA_KEYS",
    "Ensemble",
    "MetaMethod",
    "Method",
    "PriorShift",
    "calibrate_bias",
    "eval_tasks",
    "evaluate",
    "evaluate_parallel",
    "fit_logit_offsets",
    "format_markdown",
    "format_mean_ci",
    "format_table",
    "job_groups",
    "mean_ci",
    "merge_reports",
    "support_log_prior",
    "trained_balanced",
]

EVAL_SCHEMA_KEYS = ("domain", "setting", "results")
#: A confusion matrix is kept up to this many classes; beyond it (e.g. 500 Omniglot characters) only per-class
#: correct / total counts: a 500 x 500 matrix is a 20 MB JSON nobody reads and a PNG nobody can draw.
CONFUSION_MAX_CLASSES = 30


class Method(Protocol):
    """What the evaluator needs from a method."""

    name: str
    kind: str  # "meta" or "baseline"

    def adapt(self, task: Task) -> Callable[[Tensor], Tensor]:
        """Fit to ``task``'s support set; return ``predict(query_x) -> output``."""
        ...


@dataclass
class MetaMethod:
    """Evaluate a meta-learner: adapt with its test-time inner steps, predict the query.

    Two optional test-time stages of the pre-train -> meta-train -> fine-tune pipeline:

    * ``finetune_steps`` (P>M>F, Hu et al. 2022): before adapting, a copy of the whole meta-learned model takes
      that many Adam steps (``finetune_lr``) of its own meta-objective on pseudo-episodes made of the support set:
      two independently ``augment``-ed views of it, one as support and one as query (the domain's augmentation,
      e.g. flips and crops of frames; identity without one). Seeded by the support's content: reproducible.
    * ``bias`` ``(n_way,)``: added to every logit (a per-class threshold calibrated on validation tasks, for
      class-imbalanced tasks; :func:`calibrate_bias`).
    """

    learner: MetaLearner
    name: str = ""
    kind: str = "meta"
    steps: int | None = None
    finetune_steps: int = 0
    finetune_lr: float = 1e-4
    augment: Callable[[Tensor, torch.Generator], Tensor] | None = None
    bias: Tensor | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        self.name = self.name or self.learner.name

    @property
    def balanced(self) -> bool:
        """Whether the learner adapts with a class-balanced loss (its logits then assume equal class priors) and
        does not put the support's prior back itself (its own ``prior_shift``)."""
        return self.learner.balanced_loss and not self.learner.prior_shift

    def adapt(self, task: Task) -> Callable[[Tensor], Tensor]:
        learner = self.learner
        if learner.any_way and learner.every_class_in_support:  # episodic labels 0..N-1: any N for a metric learner
            learner.n_way = int(task.support_y.max()) + 1
        if self.finetune_steps:
            learner = self._finetuned(learner, task)
        predict = learner.adapt(task.support_x, task.support_y, task.support_mask, steps=self.steps).predict
        if self.bias is None:
            return predict
        bias = self.bias
        return lambda x: predict(x) + bias

    def _finetuned(self, learner: MetaLearner, task: Task) -> MetaLearner:
        """A copy of ``learner`` fine-tuned on pseudo-episodes of ``task``'s support (the P>M>F stage)."""
        tuned = copy.deepcopy(learner)
        opt = torch.optim.Adam(tuned.parameters(), lr=self.finetune_lr)
        digest = hashlib.sha256(task.support_x.detach().cpu().numpy().tobytes()).hexdigest()[:12]
        g = torch.Generator().manual_seed(int(digest, 16) ^ self.seed)
        view = self.augment or (lambda x, _g: x)
        for _ in range(self.finetune_steps):
            pseudo = Task(
                view(task.support_x, g), task.support_y, view(task.support_x, g), task.support_y,
                task.support_mask, task.support_mask,
            )  # fmt: skip
            opt.zero_grad(set_to_none=True)
            tuned.meta_backward(TaskBatch.stack([pseudo]))
            opt.step()
        return tuned


def calibrate_bias(method: MetaMethod, tasks: Sequence[Task], n_classes: int, steps: int = 200) -> Tensor:
    """Per-class logit offsets ``(n_classes,)`` that maximise the likelihood (minimise the plain cross-entropy)
    of ``method``'s adapted predictions on the query examples of ``tasks`` (validation tasks, never test tasks).

    For class-imbalanced tasks (a patient's beats: 90 % N) a model meta-trained with a class-balanced loss
    over-calls the rare classes (its logits assume balanced priors); offsets fitted by maximum likelihood on
    held-out patients restore the real priors -- the decision thresholds calibrated there. (A class-balanced
    objective here would undo nothing: it is what the model already optimises.) A convex problem in the offsets,
    solved by L-BFGS; the first offset is fixed at 0.
    """
    logits, labels = [], []
    for task in tasks:
        predict = method.adapt(task)
        with torch.no_grad():
            out = predict(task.query_x).double()
        keep = slice(None) if task.query_mask is None else task.query_mask
        logits.append(out[keep])
        labels.append(task.query_y[keep].long())
    return fit_logit_offsets(torch.cat(logits), torch.cat(labels), steps).float()


def fit_logit_offsets(logits: Tensor, labels: Tensor, steps: int = 200) -> Tensor:
    """Per-class offsets ``b`` (float64, ``b[0] = 0``) that minimise the plain cross-entropy of ``logits + b``
    against ``labels`` -- the maximum-likelihood thresholds behind :func:`calibrate_bias`. Convex in ``b``; L-BFGS."""
    z, y = logits.double(), labels.long()
    free = torch.zeros(z.shape[-1] - 1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([free], max_iter=steps, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        opt.zero_grad()
        bias = torch.cat([torch.zeros(1, dtype=torch.float64), free])
        loss = torch.nn.functional.cross_entropy(z + bias, y)
        loss.backward()
        return loss

    opt.step(closure)
    return torch.cat([torch.zeros(1, dtype=torch.float64), free.detach()])


def support_log_prior(task: Task, n_classes: int) -> Tensor:
    """``(n_classes,)`` log class frequencies of ``task``'s support labels (masked entries left out), add-one
    smoothed: ``log((count_c + 1) / (n + n_classes))`` -- a class absent from the support keeps a finite prior."""
    y = task.support_y if task.support_mask is None else task.support_y[task.support_mask]
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= n_classes):
        raise ValueError(f"support labels must lie in 0..{n_classes - 1} for a prior over {n_classes} classes")
    return log_class_prior(task.support_y, n_classes, task.support_mask)


def trained_balanced(method: Any) -> bool:
    """Whether ``method`` fits with a class-balanced loss (``balanced`` attribute; False when it has none)."""
    return bool(getattr(method, "balanced", False))


@dataclass
class PriorShift:
    """``method``'s logits plus ``tau`` times the log class frequencies of each task's own support.

    A model fitted with a class-balanced loss predicts as if every class were equally likely; on a patient whose
    beats are 90 % N it over-calls the rare classes. Bayes' rule moves its logits to the real prior by adding the
    log prior (post-hoc logit adjustment, Menon et al. 2021, "Long-tail learning via logit adjustment", run the
    other way: from balanced training to the imbalanced test distribution). The prior is the patient's own --
    the class frequencies of the task's support set, which the method sees anyway -- so nothing is fitted on
    other tasks. ``tau = 1`` is the full Bayes correction (the accuracy-optimal rule), ``0`` none; F1-optimal
    thresholds lie between, so ``tau`` is chosen on validation tasks. For methods fitted without class weights
    (a plain logistic regression already learns the support's prior) it would count the prior twice: wrap only
    :func:`trained_balanced` methods.
    """

    method: Any
    tau: float
    n_classes: int
    name: str = ""
    kind: str = ""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.tau) and self.tau >= 0):
            raise ValueError(f"the prior shift's weight tau must be a finite number >= 0, got {self.tau}")
        if self.n_classes < 2:
            raise ValueError(f"a class prior needs at least 2 classes, got {self.n_classes}")
        self.name = self.name or f"{self.method.name} (support prior x{self.tau:g})"
        self.kind = self.kind or self.method.kind

    @property
    def balanced(self) -> bool:
        return False  # the shift has put the prior back

    def adapt(self, task: Task) -> Callable[[Tensor], Tensor]:
        predict = self.method.adapt(task)
        shift = self.tau * support_log_prior(task, self.n_classes)
        return lambda x: predict(x) + shift.to(x.device)


@dataclass
class Ensemble:
    """The average prediction of several methods, each adapted to the task on its own (a deep ensemble,
    Lakshminarayanan et al. 2017): class probabilities averaged for classification (returned as their log, so
    argmax and every metric read them as logits), outputs averaged for regression.

    Its use here is variance: with few training tasks (22 MIT-BIH patients) a method's score moves with its
    training seed by more than methods differ, and averaging seeds is the standard remedy -- compared fairly only
    with ensembles of the baselines over as many seeds.
    """

    members: list[Any]
    classification: bool
    name: str = ""
    kind: str = ""

    def __post_init__(self) -> None:
        if len(self.members) < 2:
            raise ValueError(f"an ensemble needs at least 2 members, got {len(self.members)}")
        kinds = {m.kind for m in self.members}
        if len(kinds) > 1 and not self.kind:
            raise ValueError(f"an ensemble mixes kinds {sorted(kinds)}: name its kind")
        self.kind = self.kind or kinds.pop()
        self.name = self.name or f"ensemble of {len(self.members)}: " + " + ".join(m.name for m in self.members)

    @property
    def balanced(self) -> bool:
        return all(trained_balanced(m) for m in self.members)

    def adapt(self, task: Task) -> Callable[[Tensor], Tensor]:
        predicts = [m.adapt(task) for m in self.members]
        return lambda x: self.combine([p(x) for p in predicts])

    def combine(self, outs: Sequence[Tensor]) -> Tensor:
        """The ensemble's prediction from its members' predictions on the same inputs, in member order."""
        outs = [o.float() for o in outs]
        return log_mean_probability(outs) if self.classification else torch.stack(outs).mean(0)


def mean_ci(values: Sequence[float]) -> dict[str, Any]:
    """``{"mean": m, "ci95": 1.96 * sd / sqrt(n)}``; a single value has no interval: ``{"mean", "ci95": None, "n": 1}``.

    NaN values (a metric undefined for a task, e.g. the sensitivity of a class the patient does
    not have) are left out; ``"n"`` then gives how many values were used, and a list of NaN only
    gives ``{"mean": None, "ci95": None, "n": 0}``.
    """
    if len(values) == 0:
        raise ValueError("cannot summarise an empty list of values")
    finite = [v for v in values if v is not None and not math.isnan(v)]
    if len(finite) < len(values):
        if not finite:
            return {"mean": None, "ci95": None, "n": 0}
        return {**mean_ci(finite), "n": len(finite)}
    n = len(values)
    mean = math.fsum(values) / n
    if n == 1:
        return {"mean": mean, "ci95": None, "n": 1}
    var = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    return {"mean": mean, "ci95": 1.96 * math.sqrt(var) / math.sqrt(n)}


def evaluate(
    domain: Domain,
    methods: Sequence[Method],
    tasks: Sequence[Task],
    setting: dict[str, Any],
    *,
    progress: bool = True,
    confusion: bool = False,
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run every method on every task; return the eval JSON object.

    ``confusion=True`` (classification) adds, per method, a confusion matrix over the *global*
    classes (``metadata["classes"]`` maps each task's labels to global ids and
    ``metadata["class_names"]`` names them; without them local labels are used), rows and columns
    in global-id order (alphabetical for names without an id) -- when at most
    :data:`CONFUSION_MAX_CLASSES` classes occur; beyond that ``per_class`` holds each class's correct / total
    query counts instead (memory bounded by the number of classes).

    ``on_result(result)`` is called with each method's result as soon as it is complete (saving partial
    results, progress).

    Returns
    -------
    ``{"domain": str, "setting": dict, "results": [{"method", "kind", "n_tasks",
    "metrics": {name: {"mean", "ci95"}}, "per_task": {name: [float, ...]},
    "task_ids": [...] (when tasks name themselves in ``metadata["task_id"]``, e.g. a patient),
    "confusion": {"labels": [str], "matrix": [[int]]} or "per_class": {"labels", "correct", "total"} (optional)}]}``
    """
    results = []
    # An ensemble whose members were evaluated before it in this call reuses their query predictions instead of
    # adapting every member again (with test-time fine-tuning that halves an ensemble evaluation); the members'
    # predictions are kept only while an ensemble still needs them.
    pending = {id(m) for e in methods if isinstance(e, Ensemble) for m in e.members}
    memo: dict[int, list[Tensor]] = {}
    for method in methods:
        per_task: dict[str, list[float]] = {}
        counts = _ConfusionCounts()
        global_id: dict[str, int] = {}  # class name -> global class id, to order the confusion matrix
        task_ids: list[Any] = []
        reuse = isinstance(method, Ensemble) and all(id(m) in memo for m in method.members)
        keep = memo.setdefault(id(method), []) if id(method) in pending else None
        for t, task in enumerate(
            progress_bar(tasks, desc=f"eval {method.name}", disable=not progress, unit="task", leave=False)
        ):
            task_ids.append(task.metadata.get("task_id"))
            reused = [memo[id(m)][t] for m in method.members] if reuse else None
            pred = method.combine(reused) if reused is not None else _predict_query(method, task)
            if keep is not None:
                keep.append(pred)
            for name, value in domain.metrics(pred, task.query_y, task.query_mask).items():
                per_task.setdefault(name, []).append(float(value))
            if confusion:
                counts.add(task, pred)
                names, ids = task.metadata.get("class_names"), task.metadata.get("classes")
                if names is not None and ids is not None:
                    global_id.update(zip(names, (int(i) for i in ids), strict=False))
        result: dict[str, Any] = {
            "method": method.name,
            "kind": method.kind,
            "n_tasks": len(tasks),
            "metrics": {name: mean_ci(vals) for name, vals in per_task.items()},
            "per_task": per_task,
        }
        if any(t is not None for t in task_ids):
            result["task_ids"] = task_ids
        if confusion:
            result.update(counts.summary(global_id))
        results.append(result)
        if on_result is not None:
            on_result(result)
        still_needed = {id(m) for e in methods[len(results) :] if isinstance(e, Ensemble) for m in e.members}
        for key in [k for k in memo if k not in still_needed]:
            del memo[key]
    return {"domain": domain.name, "setting": dict(setting), "results": results}


def _predict_query(method: Method, task: Task) -> Tensor:
    """``method`` adapted to ``task``'s support, its prediction of the query (adaptation may need gradients)."""
    predict = method.adapt(task)
    with torch.no_grad():
        return predict(task.query_x)


def eval_tasks(domain: Domain, entry: dict[str, Any], n_tasks: int, seed: int) -> list[Task]:
    """The fixed tasks of one evaluation setting (``entry``: task shape, ``split``, optional ``support_views``):
    :func:`~metasuite.core.tasks.fixed_tasks` of the split's sampler, each support enlarged by ``support_views``
    augmented copies (the domain's :meth:`~metasuite.core.domain.Domain.augment`) for every method alike."""
    shape = {k: entry[k] for k in ("n_way", "k_shot", "n_query")}
    tasks = fixed_tasks(domain.sampler(entry["split"], **shape), n_tasks, seed)
    return expand_support(tasks, domain.augment, int(entry.get("support_views", 0)), seed)


_WORKER_STATE: dict[str, Any] = {}


def _worker_init(blob_path: str, threads: int) -> None:
    torch.set_num_threads(threads)
    torch.set_grad_enabled(True)
    _WORKER_STATE.update(torch.load(blob_path, weights_only=False))  # written by evaluate_parallel
    _WORKER_STATE["tasks"] = {}


def _worker_job(
    entry_index: int, method_indices: tuple[int, ...], n_tasks: int, seed: int, confusion: bool
) -> list[dict[str, Any]]:

    domain, entry = _WORKER_STATE["domain"], _WORKER_STATE["plan"][entry_index]
    tasks = _WORKER_STATE["tasks"]
    if entry_index not in tasks:
        tasks.clear()  # keep one setting's tasks in memory
        tasks[entry_index] = eval_tasks(domain, entry, n_tasks, seed)
    methods = [_WORKER_STATE["methods"][m] for m in method_indices]
    return evaluate(domain, methods, tasks[entry_index], {}, progress=False, confusion=confusion)["results"]


def job_groups(methods: Sequence[Method]) -> list[tuple[int, ...]]:
    """Indices of ``methods`` in the groups one worker evaluates together: each ensemble with those of its members
    listed before it (so it reuses their predictions, :func:`evaluate`), every other method alone."""
    group_of = {i: (i,) for i in range(len(methods))}
    index = {id(m): i for i, m in enumerate(methods)}
    for i, method in enumerate(methods):
        if isinstance(method, Ensemble):
            members = [index[id(m)] for m in method.members if index.get(id(m), len(methods)) < i]
            merged = tuple(sorted({j for k in (*members, i) for j in group_of[k]}))
            for j in merged:
                group_of[j] = merged
    return sorted(set(group_of.values()))


def evaluate_parallel(
    domain: Domain,
    methods: Sequence[Method],
    plan: Sequence[dict[str, Any]],
    n_tasks: int,
    seed: int,
    workers: int,
    *,
    progress: bool = True,
    confusion: bool = False,
    on_result: Callable[[int, dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """:func:`evaluate` of every plan entry (a setting with ``split``), ``workers`` processes at once.

    Each (setting, method) pair is one job -- an ensemble and its members one job together (:func:`job_groups`);
    workers rebuild the same fixed tasks from ``seed``, so the result equals the sequential evaluation's (tested).
    The domain and methods reach the workers once, pickled to a temporary file (one pickle: an ensemble's members
    stay the objects listed); torch threads are split between the workers. Returns one eval report per plan entry,
    methods in the given order; ``on_result(entry, result)`` is called for each method as its job finishes.
    """
    import multiprocessing
    import os
    import tempfile
    from concurrent.futures import ProcessPoolExecutor, as_completed

    threads = max(1, torch.get_num_threads() // workers)
    jobs = [(e, g) for e in range(len(plan)) for g in job_groups(methods)]
    results: dict[tuple[int, int], dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="metasuite-eval-") as tmp:
        blob = os.path.join(tmp, "state.pt")
        torch.save({"domain": domain, "methods": list(methods), "plan": list(plan)}, blob)
        ctx = multiprocessing.get_context("spawn")  # fork is unsafe after torch's thread pools started
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init, initargs=(blob, threads)) as pool:
            futures = {pool.submit(_worker_job, e, g, n_tasks, seed, confusion): (e, g) for e, g in jobs}
            for fut in progress_bar(as_completed(futures), total=len(jobs), desc="eval jobs", disable=not progress):
                e, group = futures[fut]
                for m, result in zip(group, fut.result(), strict=True):
                    results[(e, m)] = result
                    if on_result is not None:
                        on_result(e, result)
    return [
        {
            "domain": domain.name,
            "setting": {**entry, "n_tasks": results[(e, 0)]["n_tasks"], "seed": seed},
            "results": [results[(e, m)] for m in range(len(methods))],
        }
        for e, entry in enumerate(plan)
    ]


def merge_reports(reports: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One report from evaluations of the same methods on disjoint task sets (e.g. cross-validation folds).

    Results are matched by method name (a method missing from some report keeps the tasks it has);
    per-task values and task ids are concatenated, means and CIs recomputed over all tasks, and
    confusion matrices summed. The setting keeps the keys every input agrees on, ``n_tasks`` is
    the number of tasks merged and ``setting["merged"]`` lists each input's setting.
    """
    if not reports:
        raise ValueError("nothing to merge: give at least one eval report")
    domains = {r["domain"] for r in reports}
    if len(domains) != 1:
        raise ValueError(f"cannot merge reports of different domains: {sorted(domains)}")
    merged: dict[str, dict[str, Any]] = {}
    for rep in reports:
        for r in rep["results"]:
            m = merged.setdefault(
                r["method"], {"method": r["method"], "kind": r["kind"], "n": 0, "per_task": {}, "counts": None}
            )
            n_before, n_new = m["n"], r["n_tasks"]
            for name in dict.fromkeys([*m["per_task"], *r["per_task"]]):  # missing on either side: NaN there
                values = r["per_task"].get(name, [math.nan] * n_new)
                m["per_task"].setdefault(name, [math.nan] * n_before).extend(values)
            if "task_ids" in r or "task_ids" in m:
                m.setdefault("task_ids", [None] * n_before).extend(r.get("task_ids", [None] * n_new))
            m["n"] += n_new
            if "confusion" in r or "per_class" in r:
                m["counts"] = m["counts"] or _ConfusionCounts()
                m["counts"].absorb(r)
    results = []
    for m in merged.values():
        out: dict[str, Any] = {
            "method": m["method"],
            "kind": m["kind"],
            "n_tasks": m["n"],
            "metrics": {k: mean_ci(v) for k, v in m["per_task"].items()},
            "per_task": m["per_task"],
        }
        if "task_ids" in m:
            out["task_ids"] = m["task_ids"]
        if m["counts"] is not None:
            out.update(m["counts"].summary(None))  # classes in the order the reports name them
        results.append(out)
    settings = [r["setting"] for r in reports]
    common = {k: v for k, v in settings[0].items() if k != "n_tasks" and all(s.get(k) == v for s in settings)}
    setting = {**common, "n_tasks": max(r["n_tasks"] for r in results), "merged": settings}
    return {"domain": reports[0]["domain"], "setting": setting, "results": results}


class _ConfusionCounts:
    """``(true, predicted)`` class-name counts while at most :data:`CONFUSION_MAX_CLASSES` classes occur, and
    per-class correct / total counts always."""

    def __init__(self) -> None:
        self.pairs: dict[tuple[str, str], int] | None = {}
        self.correct: dict[str, int] = {}
        self.total: dict[str, int] = {}

    def _count(self, true: str, guess: str, n: int) -> None:
        self.total[true] = self.total.get(true, 0) + n
        self.correct[true] = self.correct.get(true, 0) + (n if true == guess else 0)
        if self.pairs is not None:
            self.pairs[(true, guess)] = self.pairs.get((true, guess), 0) + n
            if len(self.total) > CONFUSION_MAX_CLASSES:
                self.pairs = None  # too many classes for a matrix: keep the per-class counts only

    def absorb(self, result: dict[str, Any]) -> None:
        """Add the counts of an eval result's ``confusion`` or ``per_class`` (merging reports)."""
        if "confusion" in result:
            labels, matrix = result["confusion"]["labels"], result["confusion"]["matrix"]
            for true in labels:  # every labelled class, even one never predicted nor queried
                self.total.setdefault(true, 0)
                self.correct.setdefault(true, 0)
            for i, true in enumerate(labels):
                for j, guess in enumerate(labels):
                    if matrix[i][j]:
                        self._count(true, guess, matrix[i][j])
            if self.pairs is not None:
                for true in labels:
                    self.pairs.setdefault((true, true), 0)
        else:
            pc = result["per_class"]
            self.pairs = None
            for true, correct, total in zip(pc["labels"], pc["correct"], pc["total"], strict=True):
                self.total[true] = self.total.get(true, 0) + total
                self.correct[true] = self.correct.get(true, 0) + correct

    def add(self, task: Task, pred: Tensor) -> None:
        """Count one task's real query examples."""
        meta = task.metadata
        names = meta.get("class_names") or [str(c) for c in meta.get("classes", [])]

        def name(label: int) -> str:
            return names[label] if label < len(names) else str(label)

        keep = slice(None) if task.query_mask is None else task.query_mask
        for t, p in zip(task.query_y[keep].tolist(), pred.argmax(-1)[keep].tolist(), strict=True):
            self._count(name(int(t)), name(int(p)), 1)

    def summary(self, global_id: dict[str, int] | None) -> dict[str, Any]:
        """``{"confusion": ...}`` or, beyond the class cap, ``{"per_class": ...}``; classes in global-id order
        when tasks name their global ids (N, S, V, F), else alphabetical; ``global_id=None``: first-seen order."""
        seen = {c: i for i, c in enumerate(dict.fromkeys([*self.total, *(g for _, g in self.pairs or {})]))}

        def order(c: str) -> tuple[int, str]:
            return (seen[c], "") if global_id is None else (global_id.get(c, 1 << 30), c)

        if self.pairs is not None:
            labels = sorted({a for a, _ in self.pairs} | {b for _, b in self.pairs}, key=order)
            matrix = [[self.pairs.get((t, p), 0) for p in labels] for t in labels]
            return {"confusion": {"labels": labels, "matrix": matrix}}
        labels = sorted(self.total, key=order)
        return {
            "per_class": {
                "labels": labels,
                "correct": [self.correct[c] for c in labels],
                "total": [self.total[c] for c in labels],
            }
        }


def format_mean_ci(m: dict[str, Any] | None, digits: int = 4) -> str:
    """``"0.7312 ± 0.0121"``; ``"0.7 ± n/a (n=1)"`` for one task; ``"-"`` when undefined."""
    if m is None or m.get("mean") is None:
        return "-"
    if m.get("ci95") is None:
        return f"{m['mean']:.{digits}f} ± n/a (n={m.get('n', 1)})"
    return f"{m['mean']:.{digits}f} ± {m['ci95']:.{digits}f}"


def format_table(report: dict[str, Any], setting_text: str | None = None) -> str:
    """The eval JSON as a fixed-width text table (``mean ± ci95`` per metric); its header line describes the
    setting in ``setting_text`` (the domain's own terms) or as the setting's ``key=value`` pairs."""
    names: list[str] = []
    for r in report["results"]:
        for n in r["metrics"]:
            if n not in names:
                names.append(n)
    header = ["method", "kind", *names]
    rows = [header]
    for r in report["results"]:
        cells = [r["method"], r["kind"]]
        cells += [format_mean_ci(r["metrics"].get(n)) for n in names]
        rows.append(cells)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    items = report.get("setting", {}).items()
    setting = setting_text or ", ".join(
        f"{k}={v}" if k != "merged" else f"merged from {len(v)} reports" for k, v in items
    )
    lines.insert(1, "-" * len(lines[0]))
    return f"domain: {report['domain']}  ({setting})\n" + "\n".join(lines)


def format_markdown(report: dict[str, Any], digits: int = 3) -> str:
    """The eval JSON as a Markdown table (``mean ± ci95`` per metric), for READMEs and model cards."""
    names: list[str] = []
    for r in report["results"]:
        names += [n for n in r["metrics"] if n not in names]
    lines = ["| method | kind | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for r in report["results"]:
        cells = [format_mean_ci(r["metrics"].get(n), digits) for n in names]
        lines.append(f"| {r['method']} | {r['kind']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
