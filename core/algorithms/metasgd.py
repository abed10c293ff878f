"""Meta-SGD: MAML with learned per-parameter inner learning rates.

Every backbone parameter ``theta_i`` gets a learned step-size tensor ``alpha_i`` of the same shape
(initialised to ``inner_lr``); the inner update is ``phi = theta - alpha * grad L_support(theta)``
and both ``theta`` and ``alpha`` are meta-learned through the query loss (second order unless
``first_order=True``). The rates are stored as ``lrs.<parameter name with '.' -> '__'>``.

``learn_init=False`` meta-learns the step sizes only: the initialisation stays what it was when training started
(e.g. a supervised pre-trained network, ``--pretrain-steps``), so meta-training learns *how to fine-tune* that
network on a support set -- a per-weight preconditioner of plain fine-tuning -- without moving the network itself
towards the few training tasks (``--hparam learn_init=false``).

Example
-------
>>> from metasuite.core.backbones import build_backbone
>>> learner = MetaSGD(build_backbone("mlp", in_features=1, out_features=1), kind="regression",
...                   inner_lr=0.01)

Reference: Z. Li, F. Zhou, F. Chen, H. Li. "Meta-SGD: Learning to Learn Quickly for Few-Shot
Learning." arXiv:1707.09835, 2017.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from metasuite.core.algorithms.base import Params
from metasuite.core.algorithms.maml import MAML

__all__ = ["MetaSGD"]


def _lr_key(name: str) -> str:
    return "lrs." + name.replace(".", "__")


class MetaSGD(MAML):
    """MAML with a learned learning rate for every scalar parameter (Li et al. 2017)."""

    name = "metasgd"
    paper = "Li, Zhou, Chen & Li, 2017, arXiv:1707.09835"

    def __init__(self, backbone: nn.Module, *, learn_init: bool = True, **kwargs: Any):
        super().__init__(backbone, **kwargs)
        self.lrs = nn.ParameterDict(
            {
                n.replace(".", "__"): nn.Parameter(torch.full_like(p, self.inner_lr))
                for n, p in backbone.named_parameters()
            }
        )
        self.learn_init = bool(learn_init)
        if not self.learn_init:  # no meta-gradient reaches the initialisation: the optimiser leaves it as loaded
            for p in self.backbone.parameters():
                p.requires_grad_(False)

    def hparams(self) -> dict[str, Any]:
        return {**super().hparams(), "learn_init": self.learn_init}

    def adapt_fn(
        self,
        params: Params,
        support_x: Tensor,
        support_y: Tensor,
        support_mask: Tensor | None,
        steps: int,
        create_graph: bool,
    ) -> Params:
        def lr_of(k: str) -> Tensor:
            return params[_lr_key(k[len("backbone.") :])]

        return self.adapt_backbone(params, support_x, support_y, support_mask, steps, create_graph, lr_of=lr_of)
