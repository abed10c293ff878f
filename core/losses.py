"""Masked losses and the basic per-task metrics shared by every algorithm and baseline.

``kind`` is ``"classification"`` (``pred`` are logits ``(n, n_way)``, ``target`` int labels
``(n,)``) or ``"regression"`` (``pred`` and ``target`` are ``(n, *target_shape)`` floats).
An optional boolean ``mask`` ``(n,)`` drops padded examples from every mean. All functions are
pure tensor code, safe inside ``torch.func.vmap`` and ``torch.func.grad``.
"""

from __future__ import annotations

from typing import Literal

import torch.nn.functional as F
from torch import Tensor

from core.errors import UnknownNameError

__all__ = [
    "KINDS",
    "METRIC_NAME",
    "TaskKind",
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


def task_loss(pred: Tensor, target: Tensor, kind: str, mask: Tensor | None = None) -> Tensor:
    """Scalar loss of one task: masked mean of :func:`per_example_loss`."""
    return masked_mean(per_example_loss(pred, target, kind), mask)


def task_metric(pred: Tensor, target: Tensor, kind: str, mask: Tensor | None = None) -> Tensor:
    """Scalar headline metric of one task: accuracy (classification) or MSE (regression)."""
    if kind == "classification":
        return masked_mean((pred.argmax(dim=-1) == target).to(pred.dtype), mask)
    return masked_mean(per_example_loss(pred, target, kind), mask)


def metric_is_better(kind: str, new: float, old: float | None) -> bool:
    """True if ``new`` beats ``old`` for the headline metric of ``kind`` (higher accuracy, lower MSE)."""
    if old is None:
        return True
    return new > old if kind == "classification" else new < old
