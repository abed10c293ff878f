"""The RL meta-learners by name: build one for a task family, describe it for a checkpoint, load it back.

>>> sorted(RL_ALGORITHMS)
['fomaml-rl', 'maml-rl', 'rl2']
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import nn

from metasuite.core.checkpoint import load_checkpoint, load_into
from metasuite.core.errors import CheckpointError, MetasuiteError, UnknownNameError
from metasuite.core.rl.maml_rl import FOMAMLRL, MAMLRL
from metasuite.core.rl.rl2 import RL2
from metasuite.core.rl.tasks import TaskFamily

if TYPE_CHECKING:
    from metasuite.core.domain import Domain

__all__ = ["MODEL_PREFIX", "RL_ALGORITHMS", "get_rl_algorithm", "load_rl_learner", "make_rl_learner", "rl_learner_meta"]

RL_ALGORITHMS: dict[str, type[nn.Module]] = {cls.name: cls for cls in (MAMLRL, FOMAMLRL, RL2)}
MODEL_PREFIX = "model."


def get_rl_algorithm(name: str) -> type[nn.Module]:
    """The RL algorithm class called ``name`` (case-insensitive; ``_`` and ``-`` alike)."""
    key = name.lower().replace("_", "-")
    if key not in RL_ALGORITHMS:
        raise UnknownNameError(f"unknown RL algorithm {name!r}; choose one of {', '.join(sorted(RL_ALGORITHMS))}")
    return RL_ALGORITHMS[key]


def make_rl_learner(family: TaskFamily, algorithm: str, *, seed: int = 0, **hparams: Any) -> nn.Module:
    """A fresh learner of ``algorithm`` for ``family``'s observation and action sizes; an unknown hyperparameter
    is refused naming the ones the algorithm takes."""
    cls = get_rl_algorithm(algorithm)
    if cls is FOMAMLRL:
        hparams.pop("first_order", None)
    try:
        return cls(family.obs_dim, family.act_dim, seed=seed, **hparams)
    except TypeError as exc:
        known = sorted(
            set(inspect.signature(cls.__init__).parameters) - {"self", "obs_dim", "act_dim", "seed", "kwargs"}
        )
        raise MetasuiteError(
            f"{cls.name} has no hyperparameter in {sorted(hparams)} ({exc}); it takes: {known}"
        ) from exc


def rl_learner_meta(learner: nn.Module) -> dict[str, Any]:
    """The JSON description of a learner: algorithm, hyperparameters and the policy's sizes."""
    spec = learner.policy.spec
    return {
        "algorithm": learner.name,
        "hparams": learner.hparams(),
        "policy": {"obs_dim": spec["obs_dim"], "act_dim": spec["act_dim"]},
    }


def load_rl_learner(path: str | Path, domain: Domain | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the RL learner stored in checkpoint ``path`` (file or run folder) -> ``(learner, meta)``."""
    tensors, meta = load_checkpoint(path)
    source = meta["path"]
    if meta.get("algorithm") not in RL_ALGORITHMS or "policy" not in meta:
        raise CheckpointError(
            f"checkpoint {source} holds a {meta.get('algorithm')!r} model, not an RL policy "
            f"({', '.join(sorted(RL_ALGORITHMS))})"
        )
    if domain is not None and meta.get("domain") not in (None, domain.name):
        raise CheckpointError(f"checkpoint {source} was trained on domain {meta.get('domain')!r}, not {domain.name!r}")
    cls = RL_ALGORITHMS[meta["algorithm"]]
    hparams = {k: v for k, v in meta["hparams"].items() if not (cls is FOMAMLRL and k == "first_order")}
    try:
        learner = cls(meta["policy"]["obs_dim"], meta["policy"]["act_dim"], **hparams)
    except (TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"checkpoint {source} describes a policy this metasuite cannot build: {exc}") from exc
    load_into(learner, tensors, source, prefix=MODEL_PREFIX)
    return learner, meta
