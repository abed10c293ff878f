"""Meta-Baseline: a cosine-similarity ProtoNet with a learned temperature, meta-trained from a pre-trained network.

Every example is embedded and L2-normalised; each class's prototype is the mean normalised embedding of its
support examples; a query's logit for a class is ``tau * cos(embedding, prototype)`` with a learned temperature
``tau`` (initial ``scale``). The method's first stage is ordinary supervised pre-training of the backbone on all
training classes (``metasuite train ... --algo metabaseline`` pre-trains by default: the pipeline's
``pretrain_steps``); meta-training then fine-tunes the whole backbone and ``tau`` on episodes. No inner gradient
loop: adaptation is one forward pass, so the learner answers any N-way K-shot task.

Classes with no support example (fixed-label-space tasks) get no prototype and are never predicted.

Example
-------
>>> from metasuite.core.backbones import build_backbone
>>> learner = MetaBaseline(build_backbone("conv4", in_channels=3, out_features=None, image_size=84), n_way=5)

Reference: Y. Chen, Z. Liu, H. Xu, T. Darrell, X. Wang. "Meta-Baseline: Exploring Simple Meta-Learning for
Few-Shot Learning." ICCV 2021. arXiv:2003.04390.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from metasuite.core.algorithms.base import MetaLearner, Params, class_counts, push_absent_down

__all__ = ["MetaBaseline"]


class MetaBaseline(MetaLearner):
    """Cosine prototypes with a learned temperature (Chen et al. 2021), pre-trained first by default."""

    name = "metabaseline"
    paper = "Chen, Liu, Xu, Darrell & Wang, ICCV 2021, arXiv:2003.04390"
    supports_regression = False
    uses_head = False
    has_inner_loop = False
    pretrain_by_default = True

    def __init__(self, backbone: nn.Module, *, scale: float = 10.0, **kwargs: Any):
        super().__init__(backbone, **kwargs)
        self.scale = float(scale)
        self.log_tau = nn.Parameter(torch.tensor(math.log(self.scale)))

    def hparams(self) -> dict[str, Any]:
        return {**super().hparams(), "scale": self.scale}

    def adapt_fn(
        self,
        params: Params,
        support_x: Tensor,
        support_y: Tensor,
        support_mask: Tensor | None,
        steps: int,
        create_graph: bool,
    ) -> dict[str, Tensor]:
        emb = F.normalize(self.forward_backbone(params, support_x).flatten(1), dim=-1)  # (n_support, d)
        onehot, counts = class_counts(support_y, support_mask, self.n_way, emb.dtype)  # (n_support, n_way), (n_way,)
        prototypes = F.normalize(onehot.T @ emb, dim=-1)  # the direction of the class mean: (n_way, d)
        return {"prototypes": prototypes, "present": (counts > 0).to(emb.dtype)}

    def predict_fn(self, params: Params, state: Any, x: Tensor) -> Tensor:
        emb = F.normalize(self.forward_backbone(params, x).flatten(1), dim=-1)  # (n, d)
        logits = params["log_tau"].exp() * (emb @ state["prototypes"].T)  # (n, n_way), within [-tau, tau]
        return push_absent_down(logits, state["present"])
