"""R2D2: a differentiable ridge-regression head solved in closed form for every task.

The backbone embeds the support set ``X`` ``(n, d)``; the head is the ridge regression of the targets ``Y``
(one-hot classes ``(n, n_way)``, or regression targets ``(n, t)``) on ``X``::

    W = X^T (X X^T + lambda I_n)^-1 Y      (Woodbury form, when n <= d: an n x n solve)
    W = (X^T X + lambda I_d)^-1 X^T Y      (when n > d: a d x d solve)

and a query's output is ``alpha * (x W) + beta``. ``lambda`` (initial ``ridge``), ``alpha`` and ``beta`` are
meta-learned with the backbone; the solve is differentiated exactly (``torch.linalg.solve``), so meta-training
shapes the features for the head that is used at test time. No inner gradient loop; any N-way K-shot; works for
regression too.

Example
-------
>>> from metasuite.core.backbones import build_backbone
>>> learner = R2D2(build_backbone("conv4", in_channels=3, out_features=None, image_size=84), n_way=5)

Reference: L. Bertinetto, J. F. Henriques, P. H. S. Torr, A. Vedaldi. "Meta-learning with differentiable
closed-form solvers." ICLR 2019. arXiv:1805.08136.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from metasuite.core.algorithms.base import MetaLearner, Params, class_counts, push_absent_down

__all__ = ["R2D2"]


class R2D2(MetaLearner):
    """Ridge-regression head in closed form with learned regulariser, scale and offset (Bertinetto et al. 2019)."""

    name = "r2d2"
    paper = "Bertinetto, Henriques, Torr & Vedaldi, ICLR 2019, arXiv:1805.08136"
    uses_head = False
    has_inner_loop = False

    def __init__(self, backbone: nn.Module, *, ridge: float = 1.0, **kwargs: Any):
        super().__init__(backbone, **kwargs)
        self.ridge = float(ridge)
        self.log_lambda = nn.Parameter(torch.tensor(math.log(self.ridge)))
        self.alpha = nn.Parameter(torch.tensor(1.0))
        self.beta = nn.Parameter(torch.tensor(0.0))

    def hparams(self) -> dict[str, Any]:
        return {**super().hparams(), "ridge": self.ridge}

    def adapt_fn(
        self,
        params: Params,
        support_x: Tensor,
        support_y: Tensor,
        support_mask: Tensor | None,
        steps: int,
        create_graph: bool,
    ) -> dict[str, Tensor]:
        x = self.forward_backbone(params, support_x).flatten(1)  # (n, d)
        if self.kind == "classification":
            y, counts = class_counts(support_y, support_mask, self.n_way, x.dtype)  # (n, n_way); masked rows 0
            present = (counts > 0).to(x.dtype)
        else:
            y = support_y.reshape(support_y.shape[0], -1).to(x.dtype)  # (n, t)
            present = torch.ones(y.shape[1], dtype=x.dtype)
        if support_mask is not None:  # padded rows take no part in the fit
            m = support_mask.to(x.dtype)[:, None]
            x, y = x * m, y * m
        lam = params["log_lambda"].exp()
        n, d = x.shape
        if n <= d:
            w = x.T @ torch.linalg.solve(x @ x.T + lam * torch.eye(n, dtype=x.dtype), y)  # (d, n_out)
        else:
            w = torch.linalg.solve(x.T @ x + lam * torch.eye(d, dtype=x.dtype), x.T @ y)
        return {"w": w, "present": present}

    def predict_fn(self, params: Params, state: Any, x: Tensor) -> Tensor:
        out = params["alpha"] * (self.forward_backbone(params, x).flatten(1) @ state["w"]) + params["beta"]
        return push_absent_down(out, state["present"]) if self.kind == "classification" else out
