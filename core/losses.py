"""Masked losses and the basic per-task metrics shared by every algorithm and baseline.

``kind`` is ``"classification"`` (``pred`` are logits ``(n, n_way)``, ``target`` int labels
``(n,)``) or ``"regression"`` (``pred`` and ``target`` are ``(n, *target_shape)`` floats).
An optional boolean ``mask`` ``(n,)`` drops padded examples from every mean. All functions are
pure tensor code, safe inside ``torch.func.vmap`` and ``torch.func.grad``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from metasuite.core.errors import UnknownNameError

__all__ = [
    "KINDS",
    "METRIC_NAME",
    "TaskKind",
    "balanced_weights",
    "is_improvement",
    "log_class_prior",
    "log_mean_probability",
    "masked_mean",
    "metric_is_better",
    "per_example_loss",
    "task_loss",
    "task_metric",
]

TaskKind = Literal["classification", "regression"]
KINDS: tuple[str, ...] = ("classification", "regression")
#: Name of the metric :func:`task_metric` returns for each task kind.
METRIC_NAME = {"classification": "accuracy", "regression": "mse"}


def per_example_loss(pred: Tensor, target: Tensor, kind: str) -> Tensor:
    """Loss of each example, shape ``(n,)``: cross-entropy or squared error (mean over targets)."""
    if kind == "classification":
        return F.cross_entropy(pred, target.long(), reduction="none")
    if kind == "regression":
        err = (pred - target) ** 2
        return err.reshape(err.shape[0], -1).mean(dim=1)
    raise UnknownNameError(f"unknown task kind {kind!r}; choose one of {', '.join(KINDS)}")


def masked_mean(values: Tensor, mask: Tensor | None) -> Tensor:
    """Mean of ``values`` ``(n,)`` over entries where ``mask`` ``(n,)`` is True (all if None)."""
    if mask is None:
        return values.mean()
    w = mask.to(values.dtype)
    return (values * w).sum() / w.sum().clamp_min(1.0)


def _masked_onehot(target: Tensor, n_classes: int, mask: Tensor | None) -> Tensor:
    """``(n, n_classes)`` one-hot rows of the real (unmasked) labels, zero rows for padding. A comparison, not
    ``F.one_hot``: one_hot checks its labels' range with ``.item()``, which ``vmap(grad(...))`` cannot run."""
    real = torch.ones_like(target, dtype=torch.float32) if mask is None else mask.to(torch.float32)
    classes = torch.arange(n_classes, device=target.device)
    return (target.long().clamp(0, n_classes - 1)[:, None] == classes).to(real.dtype) * real[:, None]


def balanced_weights(target: Tensor, n_classes: int, mask: Tensor | None = None) -> Tensor:
    """Per-example weights ``(n,)`` that give every class present in ``target`` the same total weight.

    ``w_i = 1 / (n_present * count[target_i])`` over the real (unmasked) examples, so the weights
    of the real examples sum to 1 and a rare class counts as much as a frequent one (the usual
    inverse-frequency weighting for class-imbalanced data such as ECG beats). Shape-static: safe
    under ``vmap``.
    """
    onehot = _masked_onehot(target, n_classes, mask)
    counts = onehot.sum(dim=0)  # (n_classes,)
    n_present = (counts > 0).to(onehot.dtype).sum().clamp_min(1.0)
    per_class = torch.where(counts > 0, 1.0 / (n_present * counts.clamp_min(1.0)), torch.zeros_like(counts))
    return (onehot * per_class).sum(dim=1)


def log_class_prior(target: Tensor, n_classes: int, mask: Tensor | None = None) -> Tensor:
    """``(n_classes,)`` log class frequencies of the real (unmasked) labels ``target``, add-one smoothed:
    ``log((count_c + 1) / (n + n_classes))`` -- a class absent from the labels keeps a finite prior. Shape-static:
    safe under ``vmap`` (a support set's prior for the prior shift)."""
    counts = _masked_onehot(target, n_classes, mask).sum(dim=0)
    return torch.log((counts + 1.0) / (counts.sum() + n_classes))


def log_mean_probability(logits: Sequence[Tensor]) -> Tensor:
    """The log of the class probabilities averaged over several models' logits for the same inputs (a deep
    ensemble's prediction, read as logits: softmax gives the averaged probabilities back). Floored at the dtype's
    smallest normal number, so a class every member rules out stays finite."""
    mean = torch.stack(list(logits)).softmax(-1).mean(0)
    return mean.clamp_min(torch.finfo(mean.dtype).tiny).log()


def task_loss(pred: Tensor, target: Tensor, kind: str, mask: Tensor | None = None, balanced: bool = False) -> Tensor:
    """Scalar loss of one task: masked mean of :func:`per_example_loss`.

    ``balanced=True`` (classification) weights examples by :func:`balanced_weights` instead: the
    mean over classes of each class's mean loss.
    """
    losses = per_example_loss(pred, target, kind)
    if balanced and kind == "classification":
        return (losses * balanced_weights(target, pred.shape[-1], mask).to(losses.dtype)).sum()
    return masked_mean(losses, mask)


def task_metric(pred: Tensor, target: Tensor, kind: str, mask: Tensor | None = None, balanced: bool = False) -> Tensor:
    """Scalar headline metric of one task: accuracy (classification) or MSE (regression).

    ``balanced=True`` (classification): balanced accuracy, the mean over the classes present in
    ``target`` of each class's recall (the same :func:`balanced_weights` as the balanced loss).
    """
    if kind == "classification":
        correct = (pred.argmax(dim=-1) == target).to(pred.dtype)
        if balanced:
            return (correct * balanced_weights(target, pred.shape[-1], mask).to(pred.dtype)).sum()
        return masked_mean(correct, mask)
    return masked_mean(per_example_loss(pred, target, kind), mask)


def metric_is_better(kind: str, new: float, old: float | None) -> bool:
    """True if ``new`` beats ``old`` for the headline metric of ``kind`` (higher accuracy, lower MSE)."""
    return is_improvement(new, old, higher=kind == "classification")


def is_improvement(new: float, old: float | None, *, higher: bool) -> bool:
    """True if ``new`` beats ``old`` (``None``: nothing yet) when ``higher`` (else lower) is better.

    A NaN ``new`` (a diverged validation) never beats anything, and any number beats a NaN ``old``: one bad
    validation must not become a best that no later one can replace."""
    if math.isnan(new):
        return False
    if old is None or math.isnan(old):
        return True
    return new > old if higher else new < old
