"""Prototypical Networks.

Embed every example with the backbone; each class's *prototype* is the mean embedding of its
support examples; a query is classified by softmax over negative squared Euclidean distances to
the prototypes. Meta-training minimises the query cross-entropy through the embedding. There is
no inner gradient loop (``inner_lr``/``inner_steps`` are unused), so adaptation is one forward
pass.

Classes with no support example (possible in fixed-label-space tasks with
``every_class_in_support=False``) get no prototype; their logits are pushed ``1e4`` below the
lowest present-class logit of each query (whatever the embedding scale), so they are never
predicted and produce no NaNs.

Example
-------
>>> from metasuite.core.backbones import build_backbone
>>> learner = ProtoNet(build_backbone("conv4", in_channels=3, out_features=None, image_size=84),
...                    n_way=5)

Reference: J. Snell, K. Swersky, R. Zemel. "Prototypical Networks for Few-shot Learning."
NeurIPS 2017. arXiv:1703.05175.
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor

from metasuite.core.algorithms.base import MetaLearner, Params

__all__ = ["ProtoNet"]


class ProtoNet(MetaLearner):
    """Prototypical Networks (Snell et al. 2017), squared Euclidean distance."""

    name = "protonet"
    paper = "Snell, Swersky & Zemel, NeurIPS 2017, arXiv:1703.05175"
    supports_regression = False
    uses_head = False
    has_inner_loop = False

    def adapt_fn(
        self,
        params: Params,
        support_x: Tensor,
        support_y: Tensor,
        support_mask: Tensor | None,
        steps: int,
        create_graph: bool,
    ) -> dict[str, Tensor]:
        emb = self.forward_backbone(params, support_x)  # (n_support, d)
        onehot = F.one_hot(support_y.long(), self.n_way).to(emb.dtype)  # (n_support, n_way)
        if support_mask is not None:
            onehot = onehot * support_mask.to(emb.dtype)[:, None]
        counts = onehot.sum(dim=0)  # (n_way,)
        prototypes = (onehot.T @ emb) / counts.clamp_min(1.0)[:, None]
        return {"prototypes": prototypes, "present": (counts > 0).to(emb.dtype)}

    def predict_fn(self, params: Params, state: Any, x: Tensor) -> Tensor:
        emb = self.forward_backbone(params, x)  # (n, d)
        protos = state["prototypes"]
        d2 = (emb * emb).sum(-1, keepdim=True) - 2 * emb @ protos.T + (protos * protos).sum(-1)[None, :]
        # A fixed -1e4 is not enough once squared distances exceed 1e4: the absent class's zero
        # "prototype" would then win. Offset by each row's largest distance instead.
        offset = d2.detach().amax(dim=-1, keepdim=True) + 1e4  # (n, 1)
        return -d2 - (1.0 - state["present"])[None, :] * offset
