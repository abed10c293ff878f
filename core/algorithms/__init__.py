"""Meta-learning algorithms behind one interface (:class:`~metasuite.core.algorithms.base.MetaLearner`).

>>> from metasuite.core.algorithms import ALGORITHMS, build_learner
>>> sorted(ALGORITHMS)
['anil', 'fomaml', 'maml', 'metabaseline', 'metaoptnet', 'metasgd', 'protonet', 'r2d2', 'reptile']
"""

from __future__ import annotations

from typing import Any

from torch import nn

from metasuite.core.algorithms.anil import ANIL
from metasuite.core.algorithms.base import AdaptedModel, MetaLearner
from metasuite.core.algorithms.maml import FOMAML, MAML
from metasuite.core.algorithms.metabaseline import MetaBaseline
from metasuite.core.algorithms.metaoptnet import MetaOptNet
from metasuite.core.algorithms.metasgd import MetaSGD
from metasuite.core.algorithms.protonet import ProtoNet
from metasuite.core.algorithms.r2d2 import R2D2
from metasuite.core.algorithms.reptile import Reptile
from metasuite.core.errors import UnknownNameError

__all__ = [
    "ALGORITHMS",
    "ANIL",
    "FOMAML",
    "MAML",
    "R2D2",
    "AdaptedModel",
    "MetaBaseline",
    "MetaLearner",
    "MetaOptNet",
    "MetaSGD",
    "ProtoNet",
    "Reptile",
    "build_learner",
]

ALGORITHMS: dict[str, type[MetaLearner]] = {
    cls.name: cls for cls in (MAML, FOMAML, ANIL, MetaSGD, Reptile, ProtoNet, MetaBaseline, R2D2, MetaOptNet)
}


def get_algorithm(name: str) -> type[MetaLearner]:
    """The algorithm class registered under ``name`` (case-insensitive)."""
    key = name.lower().replace("-", "").replace("_", "")
    if key not in ALGORITHMS:
        raise UnknownNameError(f"unknown algorithm {name!r}; choose one of {', '.join(sorted(ALGORITHMS))}")
    return ALGORITHMS[key]


def build_learner(name: str, backbone: nn.Module, **hparams: Any) -> MetaLearner:
    """Build algorithm ``name`` around ``backbone`` with hyperparameters ``hparams``."""
    cls = get_algorithm(name)
    if cls in (FOMAML, Reptile):
        hparams.pop("first_order", None)
    return cls(backbone, **hparams)


__all__.append("get_algorithm")
