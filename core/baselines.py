"""Baselines available to every domain, reported next to the meta-learners.

* ``scratch`` -- the domain's backbone, freshly initialised, trained on the support set only.
* ``pretrain+finetune`` -- supervised pre-training on pooled meta-train data (global labels),
  then fine-tuning the whole network on the support set with a new ``n_way`` head
  (classification) or the pre-trained head (regression). Chen et al., "A Closer Look at
  Few-shot Classification", ICLR 2019 (arXiv:1904.04232).
* ``pretrain+logreg`` -- scikit-learn logistic regression on frozen pre-trained features
  (classification only; the "Baseline" of Chen et al. with a convex head, as in Tian et al. 2020).
* ``pooled (no adaptation)`` -- the pre-trained model as is: its global logits restricted to the
  task's classes, support set unused (N-way classification whose tasks name their global classes
  in ``metadata["classes"]``). Its seen-vs-unseen gap measures the domain shift.

Every baseline is seeded explicitly; ``adapt(task)`` returns ``predict(query_x)``.
"""

from __future__ import annotations

import copy
import math
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn

from metasuite.core import pretrain_cache
from metasuite.core.backbones import build_backbone, init_parameters
from metasuite.core.errors import MetasuiteError, UnknownNameError
from metasuite.core.losses import task_loss
from metasuite.core.progress import progress as progress_bar
from metasuite.core.tasks import Task, derive_seed, generator

if TYPE_CHECKING:
    from metasuite.core.domain import Domain

__all__ = [
    "BASELINE_KEYS",
    "BaselineConfig",
    "FinetuneBaseline",
    "LogRegBaseline",
    "PooledBaseline",
    "ScratchBaseline",
    "baseline_keys",
    "build_baselines",
    "check_baseline_keys",
    "pretrain",
]

#: log(1e-12): the smallest log-probability a baseline reports, so that a probability that underflows to 0 gives a
#: large finite loss (27.6) instead of an infinite one (a mean of ``inf`` and a CI of ``nan``).
LOG_PROB_FLOOR = math.log(1e-12)


@dataclass
class BaselineConfig:
    """Budgets of the baselines (domains override through ``Domain.default_baselines``)."""

    scratch_steps: int = 100
    scratch_lr: float = 1e-2
    pretrain_steps: int = 2000
    pretrain_batch_size: int = 128
    pretrain_lr: float = 1e-3
    finetune_steps: int = 50
    finetune_lr: float = 1e-3
    logreg_c: float = 1.0
    balanced: bool = False  # class-balanced losses (imbalanced classification, e.g. ECG beats)
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def _fit(
    model: nn.Module,
    params: list[nn.Parameter],
    x: Tensor,
    y: Tensor,
    mask: Tensor | None,
    kind: str,
    steps: int,
    lr: float,
    balanced: bool = False,
) -> nn.Module:
    """Full-batch Adam on ``(x, y)`` for ``steps`` steps; returns ``model`` (trained in place)."""
    opt = torch.optim.Adam(params, lr=lr)
    model.train()
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        task_loss(model(x), y, kind, mask, balanced=balanced).backward()
        opt.step()
    return model


def _predictor(model: nn.Module) -> Callable[[Tensor], Tensor]:
    def predict(x: Tensor) -> Tensor:
        with torch.no_grad():
            return model(x)

    return predict


@dataclass
class ScratchBaseline:
    """Train the domain's backbone from a fresh seeded init on the support set only."""

    domain: Domain
    n_way: int | None
    config: BaselineConfig = field(default_factory=BaselineConfig)
    name: str = "scratch"
    kind: str = "baseline"

    @property
    def balanced(self) -> bool:
        """Fitted with a class-balanced loss (the config's ``balanced``): its logits assume equal class priors."""
        return self.config.balanced

    def adapt(self, task: Task) -> Callable[[Tensor], Tensor]:
        bb_name, kwargs = self.domain.backbone_spec("scratch", self.n_way)
        if self.domain.kind == "classification":
            kwargs = {**kwargs, "out_features": self.n_way}
        model = build_backbone(bb_name, seed=derive_seed(self.config.seed, "scratch"), **kwargs)
        _fit(
            model,
            list(model.parameters()),
            task.support_x,
            task.support_y,
            task.support_mask,
            self.domain.kind,
            self.config.scratch_steps,
            self.config.scratch_lr,
            self.config.balanced,
        )
        return _predictor(model)


def pretrain(domain: Domain, config: BaselineConfig, progress: bool = False, cache: bool = False) -> nn.Module:
    """Supervised pre-training on pooled meta-train examples; returns the trained backbone.

    Classification uses a head over ``domain.n_classes_total()`` global classes; regression
    keeps the domain's regression head. ``cache``: reuse (and keep) the result in the per-user cache of
    :mod:`metasuite.core.pretrain_cache`, which returns the very weights this function would compute.
    """
    bb_name, kwargs = domain.backbone_spec("pretrain", domain.n_classes_total())
    if domain.kind == "classification":
        total = domain.n_classes_total()
        if total is None:
            raise ValueError(f"domain {domain.name!r} must define n_classes_total() for the pre-training baselines")
        kwargs = {**kwargs, "out_features": total}
    model = build_backbone(bb_name, seed=derive_seed(config.seed, "pretrain"), **kwargs)
    model.backbone_spec = {"name": bb_name, "kwargs": kwargs}
    key = pretrain_cache.pretrain_key(domain, config, (bb_name, kwargs)) if cache and pretrain_cache.enabled() else None
    # (None also for a domain whose code cannot be hashed: then it always pre-trains)
    if key is not None and (hit := pretrain_cache.load(key, model)) is not None:
        if progress:
            print(f"pretrain baseline (seed {config.seed}): from the cache, {hit}", file=sys.stderr)
        return model
    opt = torch.optim.Adam(model.parameters(), lr=config.pretrain_lr)
    for step in progress_bar(range(config.pretrain_steps), desc="pretrain baseline", disable=not progress, unit="step"):
        x, y = domain.pooled_batch("train", config.pretrain_batch_size, generator(config.seed, "pretrain", step))
        opt.zero_grad(set_to_none=True)
        task_loss(model(x), y, domain.kind, balanced=config.balanced).backward()
        opt.step()
    if key is not None:
        pretrain_cache.store(key, model)
    return model


@dataclass
class FinetuneBaseline:
    """Fine-tune a pre-trained backbone on the support set (Chen et al. 2019)."""

    pretrained: nn.Module
    kind_of_task: str
    n_way: int | None
    config: BaselineConfig = field(default_factory=BaselineConfig)
    new_head: bool = True  # False for fixed-label-space tasks: keep the pre-trained global head
    name: str = "pretrain+finetune"
    kind: str = "baseline"

    @property
    def balanced(self) -> bool:
        """Fitted with a class-balanced loss (the config's ``balanced``): its logits assume equal class priors."""
        return self.config.balanced

    def adapt(self, task: Task) -> Callable[[Tensor], Tensor]:
        model = copy.deepcopy(self.pretrained)
        if self.kind_of_task == "classification" and self.new_head:
            model.head = nn.Linear(model.feature_dim, self.n_way)
            init_parameters(model.head, generator(self.config.seed, "finetune-head"))
        _fit(
            model,
            list(model.parameters()),
            task.support_x,
            task.support_y,
            task.support_mask,
            self.kind_of_task,
            self.config.finetune_steps,
            self.config.finetune_lr,
            self.config.balanced,
        )
        return _predictor(model)


@dataclass
class LogRegBaseline:
    """Logistic regression (scikit-learn) on frozen pre-trained features (classification)."""

    pretrained: nn.Module
    n_way: int
    config: BaselineConfig = field(default_factory=BaselineConfig)
    name: str = "pretrain+logreg"
    kind: str = "baseline"

    def adapt(self, task: Task) -> Callable[[Tensor], Tensor]:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler

        body = self.pretrained.body
        x, y = task.support_x, task.support_y
        if task.support_mask is not None:
            x, y = x[task.support_mask], y[task.support_mask]
        with torch.no_grad():
            feats = body(x).double().numpy()
        labels = y.numpy()
        classes = sorted(set(labels.tolist()))
        scaler = StandardScaler().fit(feats)
        if len(classes) == 1:  # a one-class support set: predict that class
            only = classes[0]

            def predict_const(q: Tensor) -> Tensor:
                out = torch.full((q.shape[0], self.n_way), LOG_PROB_FLOOR - 1.0)
                out[:, only] = 0.0
                return out

            return predict_const
        # A support set of a few examples in many dimensions is separable: lbfgs drives the weights up and numpy
        # reports overflow / divide-by-zero RuntimeWarnings (and sklearn ConvergenceWarnings) at every task, which
        # say nothing about the result. They are silenced here; the metrics judge the fit.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf = LogisticRegression(C=self.config.logreg_c, max_iter=1000).fit(scaler.transform(feats), labels)

        def predict(q: Tensor) -> Tensor:
            with torch.no_grad():
                f = scaler.transform(body(q).double().numpy())
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                logp = np.maximum(clf.predict_log_proba(f), LOG_PROB_FLOOR)  # log 0 = -inf: a clipped log-loss
            out = torch.full((q.shape[0], self.n_way), LOG_PROB_FLOOR - 1.0)  # classes absent from the support
            out[:, torch.as_tensor(clf.classes_, dtype=torch.long)] = torch.as_tensor(logp, dtype=torch.float32)
            return out

        return predict


@dataclass
class PooledBaseline:
    """The pooled pre-trained model without adaptation: global logits of the task's classes.

    ``fixed_label_space=True``: task labels *are* the global classes; all logits are returned.
    """

    pretrained: nn.Module
    name: str = "pooled (no adaptation)"
    kind: str = "baseline"
    fixed_label_space: bool = False
    balanced: bool = False  # pre-trained with a class-balanced loss (``BaselineConfig.balanced``)

    def adapt(self, task: Task) -> Callable[[Tensor], Tensor]:
        if self.fixed_label_space:
            return _predictor(self.pretrained)
        classes = task.metadata.get("classes")
        if classes is None:
            raise ValueError(
                "the pooled baseline needs tasks with metadata['classes'] (local label -> global class id)"
            )
        columns = torch.as_tensor(list(classes), dtype=torch.long)
        n_global = getattr(getattr(self.pretrained, "head", None), "out_features", None)
        if n_global is not None and len(columns) and int(columns.max()) >= n_global:
            raise ValueError(
                f"task class id {int(columns.max())} is outside the pooled model's {n_global} classes: "
                "the pooled baseline needs meta-test classes that were seen in pre-training"
            )

        def predict(q: Tensor) -> Tensor:
            with torch.no_grad():
                return self.pretrained(q)[:, columns]

        return predict


#: Short names of the baselines (``eval --baseline NAME``), in the order :func:`build_baselines` builds them.
BASELINE_KEYS = ("scratch", "finetune", "logreg", "pooled")


def baseline_keys(domain: Domain) -> list[str]:
    """The :data:`BASELINE_KEYS` of the baselines ``domain`` has: scratch and finetune always, logreg for
    classification, pooled where every task shares the global classes (or the label space is fixed)."""
    classification = domain.kind == "classification"
    pooled = classification and (domain.fixed_label_space or domain.shared_classes)
    return ["scratch", "finetune", *(["logreg"] if classification else []), *(["pooled"] if pooled else [])]


def check_baseline_keys(domain: Domain, keys: list[str]) -> None:
    """Refuse baseline names that are unknown or that ``domain`` has no such baseline for (before any training)."""
    unknown = [k for k in keys if k not in BASELINE_KEYS]
    if unknown:
        raise UnknownNameError(f"unknown baseline(s) {', '.join(unknown)}; choose from {', '.join(BASELINE_KEYS)}")
    have = baseline_keys(domain)
    missing = [k for k in keys if k not in have]
    if missing:
        raise MetasuiteError(
            f"the {domain.name} domain has no {' or '.join(missing)} baseline (its baselines: {', '.join(have)})"
        )


def build_baselines(
    domain: Domain,
    n_way: int | None,
    config: BaselineConfig,
    pretrained: nn.Module | None,
    progress: bool = False,
    only: list[str] | None = None,
    cache: bool = False,
) -> list[Any]:
    """The baselines for ``domain``: scratch, pretrain+finetune, and for classification pretrain+logreg
    and (N-way episodes over global classes) the pooled model without adaptation. ``only``: the
    :data:`BASELINE_KEYS` to build (checked by :func:`check_baseline_keys`); the backbone is pre-trained only when
    one of them needs it (``cache``: through the pre-training cache, see :func:`pretrain`)."""
    if only:
        check_baseline_keys(domain, list(only))
    keys = [k for k in baseline_keys(domain) if not only or k in only]
    if pretrained is None and set(keys) - {"scratch"}:
        pretrained = pretrain(domain, config, progress=progress, cache=cache)
    out: list[Any] = []
    for key in keys:
        if key == "scratch":
            out.append(ScratchBaseline(domain, n_way, config))
        elif key == "finetune":
            out.append(FinetuneBaseline(pretrained, domain.kind, n_way, config, new_head=not domain.fixed_label_space))
        elif key == "logreg":
            out.append(LogRegBaseline(pretrained, n_way, config))
        elif domain.fixed_label_space:
            out.append(
                PooledBaseline(
                    pretrained, name="global model (no adaptation)", fixed_label_space=True, balanced=config.balanced
                )
            )
        else:
            out.append(PooledBaseline(pretrained, balanced=config.balanced))
    return out
