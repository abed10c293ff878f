"""Build a meta-learner for a domain, describe it for a checkpoint, and load it back.

This is the glue between a :class:`~metasuite.core.domain.Domain` (which backbone, which defaults) and the
algorithms; the trainer, evaluator, CLI and app all construct learners through it.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metasuite.core.algorithms import MetaLearner, build_learner, get_algorithm
from metasuite.core.backbones import build_backbone
from metasuite.core.checkpoint import load_checkpoint, load_into
from metasuite.core.errors import CheckpointError, MetasuiteError

if TYPE_CHECKING:
    from metasuite.core.domain import Domain

__all__ = ["MODEL_PREFIX", "learner_meta", "load_learner", "make_learner"]

MODEL_PREFIX = "model."


def make_learner(domain: Domain, algorithm: str, *, n_way: int | None, seed: int = 0, **overrides: Any) -> MetaLearner:
    """A fresh learner of ``algorithm`` with the domain's backbone and default hyperparameters.

    ``overrides`` replace individual defaults (``inner_lr=0.05``, ``execution="loop"`` ...).
    """
    cls = get_algorithm(algorithm)
    algo = cls.name
    bb_name, bb_kwargs = domain.backbone_spec(algo, n_way)
    if not cls.uses_head and "out_features" in bb_kwargs:  # metric / closed-form heads read the embedding
        bb_kwargs = {**bb_kwargs, "out_features": None}
    hparams = {"kind": domain.kind, **domain.default_hparams(algo), **overrides}
    if domain.kind == "classification":
        hparams.setdefault("n_way", n_way)
        hparams.setdefault("every_class_in_support", not domain.fixed_label_space)
    try:
        learner = build_learner(algo, build_backbone(bb_name, seed=seed, **bb_kwargs), **hparams)
    except TypeError as exc:  # a hyperparameter this algorithm does not have (--hparam typo)
        known = sorted(
            {p for c in cls.__mro__ if "__init__" in vars(c) for p in inspect.signature(c.__init__).parameters}
            - {"self", "backbone", "args", "kwargs"}
        )
        raise MetasuiteError(f"{algo} has no hyperparameter in {sorted(overrides)} ({exc}); it takes: {known}") from exc
    learner.backbone_spec = {"name": bb_name, "kwargs": bb_kwargs}
    return learner


def learner_meta(learner: MetaLearner) -> dict[str, Any]:
    """The JSON description of a learner (algorithm, hyperparameters, backbone spec)."""
    spec = getattr(learner, "backbone_spec", None)
    if spec is None:
        raise ValueError("learner has no backbone_spec; build it with metasuite.core.learners.make_learner")
    return {"algorithm": learner.name, "hparams": learner.hparams(), "backbone": spec}


def load_learner(path: str | Path, domain: Domain | None = None) -> tuple[MetaLearner, dict[str, Any]]:
    """Rebuild the learner stored in checkpoint ``path`` (file or run folder) -> ``(learner, meta)``.

    If ``domain`` is given, a checkpoint trained on another domain is refused with a clear error.
    """
    tensors, meta = load_checkpoint(path)
    source = meta["path"]
    for key in ("algorithm", "hparams", "backbone"):
        if key not in meta:
            raise CheckpointError(f"checkpoint {source} has no '{key}' entry; it does not hold a meta-learner")
    if domain is not None and meta.get("domain") not in (None, domain.name):
        raise CheckpointError(f"checkpoint {source} was trained on domain {meta.get('domain')!r}, not {domain.name!r}")
    bb = meta["backbone"]
    try:
        backbone = build_backbone(bb["name"], **bb["kwargs"])
        learner = build_learner(meta["algorithm"], backbone, **meta["hparams"])
    except (TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"checkpoint {source} describes a model this metasuite cannot build: {exc}") from exc
    load_into(learner, tensors, source, prefix=MODEL_PREFIX)
    learner.backbone_spec = bb
    return learner, meta
