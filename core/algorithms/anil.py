"""ANIL: Almost No Inner Loop.

Like MAML, but the inner loop adapts only the final linear ``head``; the ``body`` is shared and
only meta-learned in the outer loop. Features of the support and query sets are computed once
per task, so adaptation is a few steps of (multinomial) linear regression on fixed features --
much cheaper than MAML's full inner loop, with comparable accuracy.

Example
-------
>>> from metasuite.core.backbones import build_backbone
>>> learner = ANIL(build_backbone("conv4", in_channels=3, out_features=5, image_size=84),
...                inner_lr=0.1, inner_steps=5)

Reference: A. Raghu, M. Raghu, S. Bengio, O. Vinyals. "Rapid Learning or Feature Reuse? Towards
Understanding the Effectiveness of MAML." ICLR 2020. arXiv:1909.09157.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from metasuite.core.algorithms.base import MetaLearner, Params

__all__ = ["ANIL"]

_HEAD = "backbone.head."


class ANIL(MetaLearner):
    """MAML whose inner loop adapts only ``backbone.head`` (Raghu et al. 2020)."""

    name = "anil"
    paper = "Raghu, Raghu, Bengio & Vinyals, ICLR 2020, arXiv:1909.09157"

    def adapt_fn(
        self,
        params: Params,
        support_x: Tensor,
        support_y: Tensor,
        support_mask: Tensor | None,
        steps: int,
        create_graph: bool,
    ) -> Params:
        head = {k: v for k, v in params.items() if k.startswith(_HEAD)}
        if not head:
            raise ValueError("ANIL needs a backbone with a parametrised head (out_features set)")
        feats = self.forward_backbone(params, support_x, "body")

        def support_loss(h: Params) -> Tensor:
            return self.loss(self.forward_backbone(h, feats, "head"), support_y, support_mask)

        return self.sgd_inner_loop(params, head, support_loss, steps, create_graph)

    def predict_fn(self, params: Params, state: Any, x: Tensor) -> Tensor:
        return self.forward_backbone(state, self.forward_backbone(params, x, "body"), "head")
