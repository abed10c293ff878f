"""Reptile: first-order meta-learning by moving the initialisation toward adapted weights.

For each task, run ``inner_steps`` of plain SGD from ``theta`` on the support set to get
``phi``; the meta-gradient is ``theta - mean_over_tasks(phi)``, which the outer optimiser
applies (with plain SGD at lr ``epsilon`` this is exactly the batched Reptile update
``theta <- theta + epsilon * (mean(phi) - theta)``). No second-order terms, no query loss in the
update; the query loss after adaptation is still reported as the training metric.

Example
-------
>>> from metasuite.core.backbones import build_backbone
>>> learner = Reptile(build_backbone("mlp", in_features=1, out_features=1), kind="regression",
...                   inner_lr=0.02, inner_steps=5)

Reference: A. Nichol, J. Achiam, J. Schulman. "On First-Order Meta-Learning Algorithms."
arXiv:1803.02999, 2018.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from metasuite.core.algorithms.base import Params
from metasuite.core.algorithms.maml import MAML
from metasuite.core.backbones import vmap_safe
from metasuite.core.tasks import TaskBatch

__all__ = ["Reptile"]


class Reptile(MAML):
    """Reptile (Nichol et al. 2018): meta-gradient ``theta - mean(phi)``."""

    name = "reptile"
    paper = "Nichol, Achiam & Schulman, 2018, arXiv:1803.02999"

    def __init__(self, *args: Any, first_order: bool = True, **kwargs: Any):
        super().__init__(*args, first_order=True, **kwargs)

    def _adapt_and_score(
        self, params: Params, sx: Tensor, sy: Tensor, sm: Tensor | None, qx: Tensor, qy: Tensor, qm: Tensor | None
    ) -> tuple[Params, Tensor, Tensor]:
        phi = self.adapt_backbone(params, sx, sy, sm, self.inner_steps, create_graph=False)
        loss, metric = self.query_objective(self.predict_fn(params, phi, qx), qy, qm, sy, sm)
        return phi, loss, metric

    def meta_backward(self, batch: TaskBatch) -> dict[str, float]:
        self.check_task(batch)
        params = {k: v.detach() for k, v in self.params().items()}
        args = (batch.support_x, batch.support_y, batch.support_mask, batch.query_x, batch.query_y, batch.query_mask)
        n = len(batch)
        with torch.no_grad():
            if self.resolved_execution == "vmap":
                in_dims = (None, *tuple(None if a is None else 0 for a in args))
                phi, losses, metrics = vmap_safe(self._adapt_and_score, in_dims=in_dims)(params, *args)
                phi_mean = {k: v.mean(dim=0) for k, v in phi.items()}
                loss, metric = float(losses.mean()), float(metrics.mean())
            else:
                phi_mean = {k: torch.zeros_like(v) for k, v in params.items() if k.startswith("backbone.")}
                loss = metric = 0.0
                for i in range(n):
                    phi, li, mi = self._adapt_and_score(params, *(None if a is None else a[i] for a in args))
                    for k in phi_mean:
                        phi_mean[k] += phi[k] / n
                    loss += float(li) / n
                    metric += float(mi) / n
        for k, p in self.named_parameters():
            g = params[k] - phi_mean[k]
            p.grad = g if p.grad is None else p.grad + g
        return {"loss": loss, "metric": metric}
