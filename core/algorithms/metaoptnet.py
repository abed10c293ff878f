"""MetaOptNet (logistic-regression head): a convex classifier solved on each task's support, differentiated through.

The backbone embeds the support set; the embeddings are L2-normalised (``X``, ``(n, d)``, ``||x|| = 1``) and a
multinomial logistic regression with an L2 penalty is fitted on them::

    W*, b* = argmin  sum_i w_i CE(x_i W + b, y_i) + l2 / 2 ||W||^2      (sum_i w_i = 1; class-balanced
                                                                        weights with ``balanced_loss``)

by ``inner_steps`` steps of Nesterov-accelerated gradient descent from zero with the step ``1 / L``, where
``L = 1/2 + l2`` bounds the curvature of this objective on unit-norm features (so the steps converge without a
learning rate to tune). The gradient is the closed form ``X^T (w * (softmax(XW + b) - Y)) + l2 W``; the unrolled
steps are differentiated by autograd, so meta-training shapes the features for the very head that is fitted at
test time -- the head of the strong "pre-train, then logistic regression" baseline. A query's logits are
``tau * (x W* + b*)`` with a learned temperature ``tau``. More steps at test time (``test_inner_steps``) solve the
convex problem more exactly. Classes absent from a support set are never predicted. Any N-way K-shot.

Lee et al. also solve an SVM head with a QP solver; the logistic head is their "LR" variant, chosen here
because it is the head of the baseline it must beat and needs no external solver.

Example
-------
>>> from metasuite.core.backbones import build_backbone
>>> learner = MetaOptNet(build_backbone("conv4", in_channels=3, out_features=None, image_size=84), n_way=5)

Reference: K. Lee, S. Maji, A. Ravichandran, S. Soatto. "Meta-Learning with Differentiable Convex
Optimization." CVPR 2019. arXiv:1904.03758.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from metasuite.core.algorithms.base import MetaLearner, Params, class_counts, push_absent_down
from metasuite.core.losses import balanced_weights

__all__ = ["MetaOptNet"]


class MetaOptNet(MetaLearner):
    """Differentiable multinomial logistic-regression head, solved per task (Lee et al. 2019, LR variant)."""

    name = "metaoptnet"
    paper = "Lee, Maji, Ravichandran & Soatto, CVPR 2019, arXiv:1904.03758"
    supports_regression = False
    uses_head = False

    def __init__(
        self,
        backbone: nn.Module,
        *,
        l2: float = 0.1,
        scale: float = 10.0,
        balanced_head: bool | None = None,
        inner_steps: int = 20,
        test_inner_steps: int | None = 100,
        **kwargs: Any,
    ):
        super().__init__(backbone, inner_steps=inner_steps, test_inner_steps=test_inner_steps, **kwargs)
        if not l2 > 0:
            raise ValueError(f"l2 must be > 0 (it makes the head's problem strongly convex), got {l2}")
        self.l2, self.scale = float(l2), float(scale)
        # class-balanced weights in the head's own problem (default: as the outer loss, ``balanced_loss``)
        self.balanced_head = self.balanced_loss if balanced_head is None else bool(balanced_head)
        self.log_tau = nn.Parameter(torch.tensor(math.log(self.scale)))

    def hparams(self) -> dict[str, Any]:
        return {**super().hparams(), "l2": self.l2, "scale": self.scale, "balanced_head": self.balanced_head}

    def adapt_fn(
        self,
        params: Params,
        support_x: Tensor,
        support_y: Tensor,
        support_mask: Tensor | None,
        steps: int,
        create_graph: bool,
    ) -> dict[str, Tensor]:
        x = F.normalize(self.forward_backbone(params, support_x).flatten(1), dim=-1)  # (n, d)
        if not create_graph:
            x = x.detach()
        y, counts = class_counts(support_y, support_mask, self.n_way, x.dtype)  # (n, n_way)
        if self.balanced_head:
            weight = balanced_weights(support_y, self.n_way, support_mask).to(x.dtype)  # sums to 1
        else:
            real = torch.ones_like(support_y, dtype=x.dtype) if support_mask is None else support_mask.to(x.dtype)
            weight = real / real.sum().clamp_min(1.0)
        step = 1.0 / (0.5 + self.l2)
        w = torch.zeros(x.shape[1], self.n_way, dtype=x.dtype)
        b = torch.zeros(self.n_way, dtype=x.dtype)
        w_prev, b_prev = w, b
        for t in range(steps):  # Nesterov-accelerated gradient descent on a smooth, strongly convex problem
            momentum = t / (t + 3.0)
            vw, vb = w + momentum * (w - w_prev), b + momentum * (b - b_prev)
            residual = weight[:, None] * (torch.softmax(x @ vw + vb, dim=-1) - y)  # (n, n_way)
            w_prev, b_prev = w, b
            w = vw - step * (x.T @ residual + self.l2 * vw)
            b = vb - step * residual.sum(dim=0)
        return {"w": w, "b": b, "present": (counts > 0).to(x.dtype)}

    def predict_fn(self, params: Params, state: Any, x: Tensor) -> Tensor:
        emb = F.normalize(self.forward_backbone(params, x).flatten(1), dim=-1)
        logits = params["log_tau"].exp() * (emb @ state["w"] + state["b"])
        return push_absent_down(logits, state["present"])
