"""The one interface every meta-learner implements, and the two execution paths.

A meta-learner is an ``nn.Module`` holding its meta-parameters (the backbone's initial weights,
plus e.g. Meta-SGD's learned inner learning rates). It has three verbs:

* :meth:`MetaLearner.meta_backward` -- given a :class:`~metasuite.core.tasks.TaskBatch`, accumulate the
  meta-gradient into ``.grad`` of every meta-parameter and return the mean query metrics. The
  trainer's outer optimiser then steps. (Distributed training all-reduces these ``.grad``.)
* :meth:`MetaLearner.adapt` -- turn one support set into an :class:`AdaptedModel`.
* :meth:`AdaptedModel.predict` -- logits ``(n, n_way)`` or regression outputs for query inputs.

Subclasses implement two *pure* functions of a parameter dictionary (``torch.func`` style):
``adapt_fn(params, support_x, support_y, support_mask, steps, create_graph) -> state`` and
``predict_fn(params, state, x) -> output``. The base class evaluates
``query_loss(predict_fn(params, adapt_fn(params, support), query_x), query_y)`` either

* batched over tasks with ``torch.func.vmap`` (``execution="vmap"``), or
* one task at a time, calling ``backward()`` per task so each task's graph is freed at once
  (``execution="loop"``, for backbones too large to hold every task's graph in memory).

Both paths run the same function, so they compute the same meta-gradient
(``tests/test_algorithms.py`` checks agreement to 1e-5).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad

from metasuite.core.backbones import under_vmap, vmap_safe
from metasuite.core.errors import TaskError, UnknownNameError
from metasuite.core.losses import KINDS, log_class_prior, task_loss, task_metric
from metasuite.core.tasks import Task, TaskBatch, check_classification_task

__all__ = ["EXECUTIONS", "AdaptedModel", "MetaLearner", "Params", "class_counts", "push_absent_down"]

Params = dict[str, Tensor]
EXECUTIONS = ("vmap", "loop", "auto")


def class_counts(
    support_y: Tensor, support_mask: Tensor | None, n_way: int, dtype: torch.dtype
) -> tuple[Tensor, Tensor]:
    """One-hot support labels ``(n_support, n_way)`` with padded rows zeroed, and each class's count ``(n_way,)``."""
    onehot = torch.nn.functional.one_hot(support_y.long(), n_way).to(dtype)
    if support_mask is not None:
        onehot = onehot * support_mask.to(dtype)[:, None]
    return onehot, onehot.sum(dim=0)


def push_absent_down(logits: Tensor, present: Tensor) -> Tensor:
    """``logits`` ``(n, n_way)`` with every class absent from the support (``present[c] == 0``) placed 1e4 below
    the row's lowest logit, whatever the logits' scale: never predicted, and no NaN or inf."""
    span = (logits.detach().amax(dim=-1, keepdim=True) - logits.detach().amin(dim=-1, keepdim=True)) + 1e4
    return logits - (1.0 - present)[None, :] * span


@dataclass
class AdaptedModel:
    """A predictor specialised to one support set.

    ``predict(x)`` maps ``(n, *feature_shape)`` to logits ``(n, n_way)`` (classification) or
    outputs ``(n, *target_shape)`` (regression), without building an autograd graph.
    """

    learner: MetaLearner
    params: Params
    state: Any
    offset: Tensor | None = None  # added to every output: the support's log prior (``prior_shift``)

    def predict(self, x: Tensor, batch_size: int | None = None) -> Tensor:
        """Predict for ``x`` ``(n, *feature_shape)``; ``batch_size`` bounds memory on big sets.

        Note: with ``norm="batch"`` backbones, statistics come from each forward batch, so
        ``batch_size`` changes results slightly; leave it None unless memory requires it.
        """
        self.learner.check_inputs(x, "query_x")
        with torch.no_grad():
            if batch_size is None or x.shape[0] <= batch_size:
                out = self.learner.predict_fn(self.params, self.state, x)
            else:
                out = torch.cat([self.learner.predict_fn(self.params, self.state, c) for c in x.split(batch_size)])
        return out if self.offset is None else out + self.offset


class MetaLearner(nn.Module):
    """Base class of every meta-learning algorithm.

    Parameters
    ----------
    backbone : nn.Module
        A backbone from :mod:`metasuite.core.backbones` (``body`` + ``head``); its parameters become the
        meta-learned initialisation.
    kind : {"classification", "regression"}
        Selects cross-entropy/accuracy or MSE.
    n_way : int, optional
        Number of classes (classification). Defaults to ``backbone.head.out_features``.
    inner_lr : float
        Step size of the inner (adaptation) loop.
    inner_steps : int
        Inner gradient steps during meta-training.
    test_inner_steps : int, optional
        Inner steps when adapting at test time (default: ``inner_steps``).
    first_order : bool
        Drop second-order terms (treat inner gradients as constants).
    execution : {"vmap", "loop", "auto"}
        How a meta-batch is evaluated; ``auto`` uses ``backbone.preferred_execution`` (set from
        ``metasuite bench core``; ``vmap`` when the backbone does not say).
    every_class_in_support : bool
        For classification, require every class in each support set (N-way K-shot episodes).
        Set False for fixed-label-space tasks where a support set may miss classes.
    balanced_loss : bool
        Classification losses (inner loop and meta-objective) weight every class present in the
        labels equally (:func:`metasuite.core.losses.balanced_weights`), for class-imbalanced tasks; the
        training / validation metric is then the balanced accuracy.
    prior_shift : float
        Classification, with ``balanced_loss``: every adapted prediction gets ``prior_shift`` times the log class
        frequencies of the task's own support added to its logits (add-one smoothed; :meth:`support_offset`), at
        training and at test time, and the meta-objective is the plain (unweighted) cross-entropy of those shifted
        logits -- the logit-adjusted loss of Menon et al. 2021 ("Long-tail learning via logit adjustment") as a
        meta-objective: the inner loop still fits the support class-balanced (so a few rare examples count), the
        outer loop learns predictions calibrated to the task's real class prior. 0: off.
    """

    name: ClassVar[str] = "base"
    paper: ClassVar[str] = ""
    supports_regression: ClassVar[bool] = True
    #: the backbone ends in an N-way linear head (False: a metric / closed-form head on the embedding)
    uses_head: ClassVar[bool] = True
    #: adaptation takes inner gradient steps (``inner_lr`` / ``inner_steps`` / ``test_inner_steps`` matter)
    has_inner_loop: ClassVar[bool] = True
    #: the method's recipe starts from a supervised pre-trained network (``train_run`` pre-trains unless told)
    pretrain_by_default: ClassVar[bool] = False

    def __init__(
        self,
        backbone: nn.Module,
        *,
        kind: str = "classification",
        n_way: int | None = None,
        inner_lr: float = 0.01,
        inner_steps: int = 1,
        test_inner_steps: int | None = None,
        first_order: bool = False,
        execution: str = "auto",
        every_class_in_support: bool = True,
        balanced_loss: bool = False,
        prior_shift: float = 0.0,
    ):
        super().__init__()
        if kind not in KINDS:
            raise UnknownNameError(f"unknown task kind {kind!r}; choose one of {', '.join(KINDS)}")
        if kind == "regression" and not self.supports_regression:
            raise TaskError(f"{self.name} only supports classification tasks, not regression")
        if execution not in EXECUTIONS:
            raise UnknownNameError(f"unknown execution {execution!r}; choose one of {', '.join(EXECUTIONS)}")
        if inner_steps < 0 or (test_inner_steps is not None and test_inner_steps < 0):
            raise ValueError("inner_steps and test_inner_steps must be >= 0")
        if not (math.isfinite(prior_shift) and prior_shift >= 0):
            raise ValueError(f"prior_shift must be a finite number >= 0 (0: off), got {prior_shift}")
        if prior_shift and kind != "classification":
            raise TaskError("prior_shift adds a class prior to logits: it needs classification tasks")
        if kind == "classification" and n_way is None:
            head = getattr(backbone, "head", None)
            n_way = getattr(head, "out_features", None)
            if n_way is None:
                raise ValueError("n_way is required for classification when the backbone has no linear head")
        self.backbone = backbone
        self.kind = kind
        self.n_way = n_way
        self.inner_lr = float(inner_lr)
        self.inner_steps = int(inner_steps)
        self.test_inner_steps = int(inner_steps if test_inner_steps is None else test_inner_steps)
        self.first_order = bool(first_order)
        self.execution = execution
        self.every_class_in_support = every_class_in_support
        self.balanced_loss = bool(balanced_loss)
        self.prior_shift = float(prior_shift)
        self._compiled: Callable[..., Any] | None = None

    # ------------------------------------------------------------------ configuration
    @property
    def any_way(self) -> bool:
        """True when nothing in the model depends on the number of classes (no linear head: ProtoNet and other
        metric learners), so a model trained N-way evaluates at any N; False for a learner with an N-way head."""
        head = getattr(self.backbone, "head", None)
        return self.kind == "classification" and getattr(head, "out_features", None) is None

    def hparams(self) -> dict[str, Any]:
        """The constructor arguments (minus the backbone) as plain JSON-able data."""
        return {
            "kind": self.kind,
            "n_way": self.n_way,
            "inner_lr": self.inner_lr,
            "inner_steps": self.inner_steps,
            "test_inner_steps": self.test_inner_steps,
            "first_order": self.first_order,
            "execution": self.execution,
            "every_class_in_support": self.every_class_in_support,
            "balanced_loss": self.balanced_loss,
            "prior_shift": self.prior_shift,
        }

    @property
    def resolved_execution(self) -> str:
        """``vmap`` or ``loop``: the path :meth:`meta_backward` takes."""
        if self.execution != "auto":
            return self.execution
        preferred = getattr(self.backbone, "preferred_execution", "vmap")
        if isinstance(preferred, dict):  # per device type, e.g. {"cpu": "loop", "cuda": "vmap"}
            device = next(self.parameters()).device.type
            return preferred.get(device, preferred.get("default", "vmap"))
        return preferred

    def compile_meta_step(self, enabled: bool = True) -> MetaLearner:
        """Compile the batched (vmap) meta-objective with ``torch.compile``; returns ``self``.

        Same math (the compiled graph is the vmap path's), about 2x fewer milliseconds per
        meta-step for small backbones on CPU, after a one-off compilation of ~30 s per task-batch
        shape. Only the ``vmap`` path is compiled; ``enabled=False`` reverts to eager.
        """
        self._compiled = torch.compile(self._batch_objective, dynamic=False) if enabled else None
        return self

    def _batch_objective(self, params: Params, *args: Tensor | None) -> tuple[Tensor, Tensor]:
        in_dims = (None, *tuple(None if a is None else 0 for a in args))
        return vmap_safe(self.task_objective, in_dims=in_dims)(params, *args)

    # ------------------------------------------------------------------ functional helpers
    def params(self) -> Params:
        """Meta-parameters as a ``{name: tensor}`` dict (the functional state)."""
        return dict(self.named_parameters())

    def loss(self, pred: Tensor, target: Tensor, mask: Tensor | None) -> Tensor:
        """This learner's task loss (masked; class-balanced when ``balanced_loss``)."""
        return task_loss(pred, target, self.kind, mask, balanced=self.balanced_loss)

    def support_offset(self, support_y: Tensor, support_mask: Tensor | None) -> Tensor | None:
        """``prior_shift`` x the add-one smoothed log class frequencies of one support set, ``(n_way,)``; None when
        ``prior_shift`` is 0. Shape-static (a comparison one-hot): safe under ``vmap``."""
        if not self.prior_shift:
            return None
        return self.prior_shift * log_class_prior(support_y, int(self.n_way), support_mask)

    def query_objective(
        self, pred: Tensor, query_y: Tensor, query_mask: Tensor | None, support_y: Tensor, support_mask: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        """Query loss and headline metric of adapted predictions ``pred`` (shifted by :meth:`support_offset`, the
        loss then unweighted, when ``prior_shift`` is set)."""
        offset = self.support_offset(support_y, support_mask)
        if offset is None:
            loss = self.loss(pred, query_y, query_mask)
        else:
            pred = pred + offset
            loss = task_loss(pred, query_y, self.kind, query_mask)  # the shifted logits carry the prior
        # For regression the headline metric (MSE) is the loss itself: skip recomputing it.
        return loss, loss if self.kind == "regression" else self.metric(pred, query_y, query_mask)

    def metric(self, pred: Tensor, target: Tensor, mask: Tensor | None) -> Tensor:
        """This learner's headline metric (balanced accuracy when ``balanced_loss``; drives validation)."""
        return task_metric(pred, target, self.kind, mask, balanced=self.balanced_loss)

    def forward_backbone(self, params: Params, x: Tensor, module: str = "") -> Tensor:
        """Run ``backbone`` (or its submodule ``module``: ``"body"``/``"head"``) with ``params``.

        ``params`` uses the learner's own names (``backbone.body.0.weight`` ...).
        """
        prefix = "backbone." + (module + "." if module else "")
        sub = {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}
        target = self.backbone if not module else getattr(self.backbone, module)
        return functional_call(target, sub, (x,))

    def sgd_inner_loop(
        self,
        params: Params,
        fast: Params,
        loss_of: Callable[[Params], Tensor],
        steps: int,
        create_graph: bool,
        lr_of: Callable[[str], Tensor | float] | None = None,
    ) -> Params:
        """Take ``steps`` gradient steps on ``loss_of(fast)`` and return the adapted ``fast``.

        ``create_graph=False`` detaches the inner gradients (first-order approximation);
        ``lr_of(name)`` gives a per-parameter step size (Meta-SGD); default ``inner_lr``.
        """
        plain = not create_graph and not under_vmap()
        for _ in range(steps):
            if plain:  # same gradient, ~20% less overhead than torch.func.grad on small batches
                leaves = {k: v.detach().requires_grad_(True) for k, v in fast.items()}
                with torch.enable_grad():
                    g = dict(zip(leaves, torch.autograd.grad(loss_of(leaves), list(leaves.values())), strict=True))
            else:
                g = grad(loss_of)(fast)
                if not create_graph:
                    g = {k: v.detach() for k, v in g.items()}
            fast = {k: fast[k] - (self.inner_lr if lr_of is None else lr_of(k)) * g[k] for k in fast}
        return fast

    def adapt_backbone(
        self,
        params: Params,
        support_x: Tensor,
        support_y: Tensor,
        support_mask: Tensor | None,
        steps: int,
        create_graph: bool,
        lr_of: Callable[[str], Tensor | float] | None = None,
    ) -> Params:
        """Gradient steps on every backbone weight against the support loss (the MAML family's inner loop)."""
        fast = {k: v for k, v in params.items() if k.startswith("backbone.")}

        def support_loss(p: Params) -> Tensor:
            return self.loss(self.forward_backbone(p, support_x), support_y, support_mask)

        return self.sgd_inner_loop(params, fast, support_loss, steps, create_graph, lr_of=lr_of)

    # ------------------------------------------------------------------ to implement
    def adapt_fn(
        self,
        params: Params,
        support_x: Tensor,
        support_y: Tensor,
        support_mask: Tensor | None,
        steps: int,
        create_graph: bool,
    ) -> Any:
        """Pure adaptation: support set of one task -> adapted state (a pytree of tensors)."""
        raise NotImplementedError

    def predict_fn(self, params: Params, state: Any, x: Tensor) -> Tensor:
        """Pure prediction with an adapted state: ``(n, *feature_shape)`` -> ``(n, out)``."""
        raise NotImplementedError

    # ------------------------------------------------------------------ shared machinery
    def task_objective(
        self,
        params: Params,
        support_x: Tensor,
        support_y: Tensor,
        support_mask: Tensor | None,
        query_x: Tensor,
        query_y: Tensor,
        query_mask: Tensor | None,
    ) -> tuple[Tensor, Tensor]:
        """Query loss and headline metric of one task after train-time adaptation (pure)."""
        state = self.adapt_fn(
            params, support_x, support_y, support_mask, self.inner_steps, create_graph=not self.first_order
        )
        pred = self.predict_fn(params, state, query_x)
        loss, metric = self.query_objective(pred, query_y, query_mask, support_y, support_mask)
        return loss, metric.detach()

    def check_inputs(self, x: Tensor, name: str) -> None:
        """Raise :class:`TaskError` if ``x`` (``(n, *feature_shape)``) does not fit the backbone."""
        expected = getattr(self.backbone, "input_shape", None)
        if expected is not None and tuple(x.shape[-len(expected) :]) != tuple(expected):
            raise TaskError(
                f"{name} examples have shape {tuple(x.shape[1:])} but the {type(self.backbone).__name__} "
                f"backbone expects {tuple(expected)}"
            )

    def check_task(self, task: Task | TaskBatch) -> None:
        """Validate a task or batch against this learner (shapes, label range, classes present)."""
        # one task's (n_support, *feature_shape), so that the message names the example shape
        self.check_inputs(task.support_x[0] if isinstance(task, TaskBatch) else task.support_x, "support_x")
        if self.kind == "classification":
            check_classification_task(task, self.n_way, every_class_in_support=self.every_class_in_support)
        elif task.support_y.is_floating_point() is False:
            raise TaskError(f"regression targets must be floating point, got {task.support_y.dtype}")

    def meta_backward(self, batch: TaskBatch) -> dict[str, float]:
        """Accumulate the meta-gradient of a batch into ``.grad``; return mean query loss/metric.

        The meta-loss is the mean over tasks of each task's query loss after adaptation.
        """
        self.check_task(batch)
        params = self.params()
        args = (batch.support_x, batch.support_y, batch.support_mask, batch.query_x, batch.query_y, batch.query_mask)
        n = len(batch)
        if self.resolved_execution == "vmap":
            objective = self._compiled or self._batch_objective
            losses, metrics = objective(params, *args)
            losses.mean().backward()
            loss, metric = float(losses.detach().mean()), float(metrics.mean())
        else:
            loss = metric = 0.0
            for i in range(n):
                li, mi = self.task_objective(params, *(None if a is None else a[i] for a in args))
                (li / n).backward()  # frees this task's graph before the next task
                loss += float(li.detach()) / n
                metric += float(mi) / n
        return {"loss": loss, "metric": metric}

    def _score_task(
        self,
        params: Params,
        sx: Tensor,
        sy: Tensor,
        sm: Tensor | None,
        qx: Tensor,
        qy: Tensor,
        qm: Tensor | None,
        steps: int,
    ) -> Tensor:
        state = self.adapt_fn(params, sx, sy, sm, steps, create_graph=False)
        return self.query_objective(self.predict_fn(params, state, qx), qy, qm, sy, sm)[1]

    def score(self, batch: TaskBatch, steps: int | None = None) -> Tensor:
        """Headline metric of every task after test-time adaptation, shape ``(n_tasks,)``.

        Batched with ``vmap`` (or looped, per ``execution``); builds no autograd graph.
        """
        self.check_task(batch)
        params = {k: v.detach() for k, v in self.params().items()}
        n_steps = self.test_inner_steps if steps is None else int(steps)
        args = (batch.support_x, batch.support_y, batch.support_mask, batch.query_x, batch.query_y, batch.query_mask)
        with torch.no_grad():
            if self.resolved_execution == "vmap":
                in_dims = (None, *tuple(None if a is None else 0 for a in args), None)
                return vmap_safe(self._score_task, in_dims=in_dims)(params, *args, n_steps)
            return torch.stack(
                [
                    self._score_task(params, *(None if a is None else a[i] for a in args), n_steps)
                    for i in range(len(batch))
                ]
            )

    def adapt(
        self,
        support_x: Tensor,
        support_y: Tensor,
        support_mask: Tensor | None = None,
        steps: int | None = None,
    ) -> AdaptedModel:
        """Adapt to one support set ``(n_support, *feature_shape)`` / ``(n_support, ...)``.

        ``steps`` overrides ``test_inner_steps``. Returns an :class:`AdaptedModel`.
        """
        probe = Task(support_x, support_y, support_x[:1], support_y[:1], support_mask=support_mask)
        self.check_task(probe)
        params = {k: v.detach() for k, v in self.params().items()}
        n_steps = self.test_inner_steps if steps is None else int(steps)
        with torch.no_grad():  # torch.func.grad still differentiates the inner loop
            state = self.adapt_fn(params, support_x, support_y, support_mask, n_steps, create_graph=False)
        return AdaptedModel(self, params, state, self.support_offset(support_y, support_mask))

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.hparams().items())
