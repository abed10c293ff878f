"""MAML and first-order MAML.

Model-Agnostic Meta-Learning learns an initialisation ``theta`` such that a few gradient steps
on a task's support set give good query performance::

    phi = theta - inner_lr * grad_theta L_support(theta)        (repeated inner_steps times)
    meta-loss = mean over tasks of L_query(phi)

MAML differentiates through the inner steps (second order); FOMAML treats the inner gradients as
constants, so ``d phi / d theta = I``.

Example
-------
>>> from metasuite.core.backbones import build_backbone
>>> learner = MAML(build_backbone("mlp", in_features=1, out_features=1), kind="regression",
...                inner_lr=0.01, inner_steps=1)

Reference: C. Finn, P. Abbeel, S. Levine. "Model-Agnostic Meta-Learning for Fast Adaptation of
Deep Networks." ICML 2017. arXiv:1703.03400 (first-order variant: Section 5.2).
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from metasuite.core.algorithms.base import MetaLearner, Params

__all__ = ["FOMAML", "MAML"]


class MAML(MetaLearner):
    """Second-order MAML (Finn et al. 2017); ``first_order=True`` gives FOMAML."""

    name = "maml"
    paper = "Finn, Abbeel & Levine, ICML 2017, arXiv:1703.03400"

    def adapt_fn(
        self,
        params: Params,
        support_x: Tensor,
        support_y: Tensor,
        support_mask: Tensor | None,
        steps: int,
        create_graph: bool,
    ) -> Params:
        return self.adapt_backbone(params, support_x, support_y, support_mask, steps, create_graph)

    def predict_fn(self, params: Params, state: Any, x: Tensor) -> Tensor:
        return self.forward_backbone(state, x)


class FOMAML(MAML):
    """First-order MAML: MAML without second-order terms (Finn et al. 2017, Sec. 5.2)."""

    name = "fomaml"

    def __init__(self, *args: Any, first_order: bool = True, **kwargs: Any):
        if not first_order:
            raise ValueError("FOMAML is first-order by definition; use MAML for second order")
        super().__init__(*args, first_order=True, **kwargs)
