"""Where every page gets its models: the shipped checkpoint or a quick-trained stand-in, and the pooled model.

One module owns the life of the app's models, for every page:

* :func:`shipped_or_stand_in` -- a checkpoint the user chose; else the page's shipped checkpoint (under
  :data:`metasuite.data.CHECKPOINTS`); else a small stand-in meta-learner, quick-trained once as its
  :class:`StandIn` says through :func:`metasuite.core.runs.train_run` (so its run metadata is the one every
  run records) and cached. :func:`stand_in_notice` words the warning a page shows for a stand-in. A domain
  whose tasks are environments (:class:`~metasuite.core.rl.domain.RLDomain`) gets an RL learner
  (:func:`metasuite.core.rl.learners.load_rl_learner`) the same way.
* :func:`pooled_model` -- the supervised model pre-trained on pooled meta-train data
  (:func:`metasuite.core.baselines.pretrain`), the "no adaptation" comparison; pre-trained once per budget
  and data, cached as ``.safetensors`` + ``.json``.
* :func:`load_recorded` -- a checkpoint's learner with its domain rebuilt from the options it recorded.

Everything here writes under :func:`app_cache` (``cache_dir("app", <domain>)``), never into the source tree.
Cache keys name the budget and the domain's data fingerprint, and end in a digest of every other value the
model depends on: a changed budget, data generator, hyperparameter or network trains afresh instead of
loading a stale model. A stand-in is trained in a temporary sibling folder and renamed into place
(:func:`train_atomically`), so concurrent sessions and test workers never see half a run.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from metasuite.apps.logic import display_path
from metasuite.core.algorithms import ALGORITHMS, MetaLearner, get_algorithm
from metasuite.core.backbones import build_backbone
from metasuite.core.baselines import BaselineConfig, pretrain
from metasuite.core.checkpoint import load_checkpoint, resolve_checkpoint, save_checkpoint
from metasuite.core.domain import Domain
from metasuite.core.errors import CheckpointError
from metasuite.core.learners import load_learner
from metasuite.core.paths import cache_dir
from metasuite.core.registry import get_domain
from metasuite.core.rl.domain import RLDomain
from metasuite.core.rl.learners import get_rl_algorithm, load_rl_learner
from metasuite.core.rl.train import RLTrainConfig
from metasuite.core.runs import TrainRequest, train_run
from metasuite.core.trainer import TrainConfig
from metasuite.data import CHECKPOINTS, EVAL

__all__ = [
    "ALGORITHM_NAMES",
    "MetaLearner",
    "StandIn",
    "app_cache",
    "checkpoint_learner",
    "checkpoint_meta",
    "checkpoint_version",
    "ensemble_members",
    "load_recorded",
    "pooled_model",
    "quick_train",
    "shipped_checkpoint",
    "shipped_eval",
    "shipped_or_stand_in",
    "shipped_runs",
    "stand_in_notice",
    "train_atomically",
]

#: The registered meta-learning algorithms, sorted (what a page offers for an untrained learner).
ALGORITHM_NAMES = tuple(sorted(ALGORITHMS))


# ---------------------------------------------------------------------------- where things live
def app_cache(domain: str) -> Path:
    """The app's cache folder for ``domain`` (``cache_dir("app", domain)``; not created until written)."""
    return cache_dir("app", domain)


def ensemble_members(learner: MetaLearner | Sequence[MetaLearner]) -> list[MetaLearner]:
    """A page's model as a list: one meta-learner, or the members of a shipped ensemble (at least one)."""
    members = [learner] if isinstance(learner, MetaLearner) else list(learner)
    if not members:
        raise ValueError("an ensemble needs at least one meta-learner")
    return members


def shipped_checkpoint(domain: str, run: str) -> Path:
    """The shipped run folder ``<CHECKPOINTS>/<domain>/<run>`` (it may be missing in a slim install)."""
    return CHECKPOINTS / domain / run


def shipped_runs(domain: str, root: Path = CHECKPOINTS) -> list[Path]:
    """Run folders ``root/<domain>/*`` that hold a ``best.safetensors``, sorted by name."""
    return sorted(p.parent for p in (Path(root) / domain).glob("*/best.safetensors"))


def shipped_eval(domain: str, name: str) -> Path:
    """The shipped evaluation result ``<EVAL>/<domain>/<name>`` (e.g. ``eval.json``; it may be missing)."""
    return EVAL / domain / name


def checkpoint_version(path: str | Path) -> tuple[Path, int]:
    """The ``.safetensors`` file of checkpoint ``path`` (run folder or file) and its modification time in ns:
    a cache key that changes when the checkpoint is retrained in place. :class:`CheckpointError` if missing."""
    target = resolve_checkpoint(path)
    return target, target.stat().st_mtime_ns


def checkpoint_meta(path: str | Path) -> dict[str, Any]:
    """The JSON description of checkpoint ``path`` (run folder or file); :class:`CheckpointError` if unreadable."""
    return load_checkpoint(path)[1]


def checkpoint_learner(path: str | Path, domain: Domain) -> tuple[Any, dict[str, Any]]:
    """Checkpoint ``path``'s learner for ``domain`` -> ``(learner, meta)``: a
    :class:`~metasuite.core.algorithms.MetaLearner`, or for an :class:`~metasuite.core.rl.domain.RLDomain` an RL
    learner (MAML-RL, RL^2). :class:`CheckpointError` if missing, unreadable or trained on another domain."""
    if isinstance(domain, RLDomain):
        return load_rl_learner(path, domain)
    return load_learner(path, domain)


def _digest(*parts: Any) -> str:
    """8 hex digits identifying plain JSON-able ``parts`` (sorted keys: the same values, the same digest)."""
    blob = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:8]


def code_digest(cls: type) -> str:
    """8 hex digits of the source of every metasuite module ``cls`` is built from (its class and base classes):
    a change to an algorithm's code (a bug fix) changes the digest, so a cached stand-in trained by the old code is
    not reused."""
    modules = sorted({c.__module__ for c in cls.__mro__ if c.__module__.startswith("metasuite.")})
    h = hashlib.sha256()
    for name in modules:
        try:
            h.update(inspect.getsource(sys.modules[name]).encode())
        except (OSError, TypeError):  # no source on disk (a frozen build): the module's name only
            h.update(name.encode())
    return h.hexdigest()[:8]


# ---------------------------------------------------------------------------- meta-learners
@dataclass(frozen=True)
class StandIn:
    """The meta-learner a page quick-trains when its shipped checkpoint is missing, as plain values.

    Attributes
    ----------
    algorithm : str
        Registered algorithm name (``"maml"``, ``"protonet"`` ...; ``"maml-rl"``, ``"rl2"`` for an RL domain).
    label : str
        How the page names it (``"MAML"``, ``"first-order MAML"``).
    steps, meta_batch_size : int
        Meta-training steps and tasks per step.
    n_way, k_shot, n_query : int, optional
        Task shape of the training tasks; None keeps the domain's default.
    outer_lr : float
        Adam learning rate of the meta-update.
    val_tasks : int
        Validation tasks, scored once, at the last step (the kept checkpoint).
    pad_tasks : bool
        Stack ragged tasks with masks (e.g. patients with different numbers of support beats).
    threads : int, optional
        torch intra-op threads while training (restored afterwards); None leaves the setting alone.
    seed : int
    note : str
        What else the page says about it, appended to "meta-trained in-process for N steps".
    """

    algorithm: str
    label: str
    steps: int
    meta_batch_size: int
    n_way: int | None = None
    k_shot: int | None = None
    n_query: int | None = None
    outer_lr: float = 1e-3
    val_tasks: int = 100
    pad_tasks: bool = False
    threads: int | None = None
    seed: int = 0
    note: str = ""

    def train_config(self, domain: Domain | None = None) -> dict[str, Any]:
        """Every :class:`~metasuite.core.trainer.TrainConfig` field (:class:`~metasuite.core.rl.train.RLTrainConfig`
        for an RL ``domain``): this budget, one validation and one checkpoint at the last step, the trainer's
        defaults for the rest (none of the domain's, which describe a full run)."""
        common = {
            "steps": self.steps,
            "meta_batch_size": self.meta_batch_size,
            "outer_lr": self.outer_lr,
            "val_every": self.steps,
            "val_tasks": self.val_tasks,
            "checkpoint_every": self.steps,
            "seed": self.seed,
        }
        if isinstance(domain, RLDomain):
            return asdict(RLTrainConfig(**common))
        return asdict(TrainConfig(**common, pad_tasks=self.pad_tasks))

    def request(self, domain: Domain, out: str | Path) -> TrainRequest:
        """The :class:`~metasuite.core.runs.TrainRequest` that trains this stand-in on ``domain`` into ``out``."""
        return TrainRequest(
            domain=domain.name,
            algo=self.algorithm,
            out=Path(out),
            options=dict(domain.options),
            n_way=self.n_way,
            k_shot=self.k_shot,
            n_query=self.n_query,
            config=self.train_config(domain),
            seed=self.seed,
            progress=False,
        )

    def cache_key(self, domain: Domain) -> str:
        """The run folder's name: ``<algorithm>-<steps>-<data fingerprint>-<digest>``.

        The digest covers the rest of the request (task shape, budget, seed), the domain's default
        hyperparameters, its network for this algorithm and the algorithm's code (:func:`code_digest`), so none of
        them can change unnoticed.
        """
        request = {k: v for k, v in asdict(self).items() if k not in ("label", "note", "threads")}
        if isinstance(domain, RLDomain):  # the policy's sizes come from the task family, named by the fingerprint
            cls = get_rl_algorithm(self.algorithm)
            algorithm, network = cls.name, None
        else:
            cls = get_algorithm(self.algorithm)
            algorithm = cls.name
            n_way = self.n_way if self.n_way is not None else domain.default_setting().get("n_way")
            network = domain.backbone_spec(algorithm, n_way)
        extra = _digest(request, domain.default_hparams(algorithm), network, code_digest(cls))
        return f"{algorithm}-{self.steps}-{domain.fingerprint()}-{extra}"


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run torch on ``n`` intra-op threads (None: unchanged), then restore the previous setting.

    Small networks gain nothing from threads, and on a busy two-core machine extra threads only contend
    (the sinusoid stand-in: ~12 s on one thread, minutes on two).
    """
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train_atomically(request: TrainRequest, domain: Domain) -> Path:
    """Run ``request`` on ``domain`` (:func:`metasuite.core.runs.train_run`) into ``request.out``; return it.

    No caller ever sees a half-written run: training happens in a temporary sibling folder that is renamed
    into place when done. If another process finished the same run first, its run is kept (the request is
    seeded, so both are the same model). A finished run already at ``request.out`` is returned as it is.
    """
    out = Path(request.out)
    if (out / "best.safetensors").exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        train_run(replace(request, out=tmp), domain=domain)
        try:
            tmp.rename(out)
        except OSError:  # another process renamed its finished run into place first
            if not (out / "best.safetensors").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def quick_train(domain: Domain, stand_in: StandIn, out: str | Path) -> Path:
    """Meta-train ``stand_in`` on ``domain`` into run folder ``out`` (atomically); a finished run is reused."""
    with torch_threads(stand_in.threads):
        return train_atomically(stand_in.request(domain, out), domain)


def shipped_or_stand_in(
    domain: Domain,
    shipped: str | Path,
    stand_in: StandIn,
    *,
    path: str | Path | None = None,
    cache: str | Path | None = None,
) -> tuple[MetaLearner, dict[str, Any]]:
    """A page's meta-learner -> ``(learner, meta)``; ``meta`` is its checkpoint's JSON (an RL learner for an RL
    domain: :func:`checkpoint_learner`).

    ``path`` (a run folder or ``.safetensors`` file the user chose) when given: one that does not exist
    raises :class:`~metasuite.core.errors.CheckpointError`. Else the ``shipped`` checkpoint; when that is
    missing, ``stand_in`` quick-trained on ``domain`` once (:func:`quick_train`) into
    ``cache / stand_in.cache_key(domain)`` (``cache`` defaults to :func:`app_cache`) and loaded from there
    afterwards.

    ``meta["source"]`` is ``"checkpoint"`` or ``"quick-train"``; a stand-in's ``meta`` also holds
    ``"shipped"`` (the checkpoint that was missing) and ``"stand_in"`` (the spec, for :func:`stand_in_notice`).
    """
    if path is None:
        try:
            resolve_checkpoint(shipped)
        except CheckpointError:
            folder = Path(cache) if cache is not None else app_cache(domain.name)
            run = quick_train(domain, stand_in, folder / stand_in.cache_key(domain))
            learner, meta = checkpoint_learner(run, domain)
            return learner, {**meta, "source": "quick-train", "shipped": str(shipped), "stand_in": asdict(stand_in)}
        path = shipped
    learner, meta = checkpoint_learner(path, domain)
    return learner, {**meta, "source": "checkpoint"}


def stand_in_notice(meta: dict[str, Any]) -> str | None:
    """What a page says above a quick-trained stand-in (None for a real checkpoint): which checkpoint is
    missing, what stands in for it, and the command that makes the real one."""
    if meta.get("source") != "quick-train":
        return None
    spec, shipped = meta["stand_in"], display_path(meta["shipped"])
    return (
        f"No shipped checkpoint at `{shipped}`: using a **stand-in** {spec['label']} meta-trained in-process for "
        f"{spec['steps']} steps{spec['note']}, weaker than the real one "
        f"(`metasuite train {meta['domain']} --algo {spec['algorithm']} --out {shipped}` makes it)."
    )


def load_recorded(domain_name: str, checkpoint: str | Path) -> tuple[Domain, MetaLearner, dict[str, Any]]:
    """Checkpoint ``checkpoint``'s learner with domain ``domain_name`` rebuilt from the ``domain_options`` it
    recorded (the data it was trained for) -> ``(domain, learner, meta)``, ``meta["source"] == "checkpoint"``
    (:func:`checkpoint_learner`: an RL learner for an RL domain).

    Raises :class:`~metasuite.core.errors.CheckpointError` when the checkpoint is missing, unreadable or was
    trained on another domain.
    """
    meta = checkpoint_meta(checkpoint)
    trained_on = meta.get("domain")
    if trained_on not in (None, domain_name):
        raise CheckpointError(
            f"checkpoint {meta['path']} was trained on domain {trained_on!r}; pick a {domain_name!r} run folder"
        )
    domain = get_domain(domain_name, **(meta.get("domain_options") or {}))
    learner, meta = checkpoint_learner(checkpoint, domain)
    return domain, learner, {**meta, "source": "checkpoint"}


# ---------------------------------------------------------------------------- the pooled model
def pooled_model(
    domain: Domain, steps: int, batch_size: int, seed: int = 0, cache: str | Path | None = None
) -> nn.Module:
    """The supervised model pre-trained on ``domain``'s pooled meta-train examples (global logits), in eval mode.

    :func:`metasuite.core.baselines.pretrain` with the domain's baseline settings (learning rate,
    class-balanced loss ...) for ``steps`` Adam steps of ``batch_size`` examples. Trained once and cached as
    ``<cache>/pretrain-<steps>-b<batch_size>-s<seed>-<data fingerprint>-<digest>.safetensors`` + ``.json``
    (``cache`` defaults to :func:`app_cache`); the digest covers the other settings and the network.
    """
    config = BaselineConfig(
        **{**domain.default_baselines(), "pretrain_steps": steps, "pretrain_batch_size": batch_size, "seed": seed}
    )
    network = domain.backbone_spec("pretrain", domain.n_classes_total())
    folder = Path(cache) if cache is not None else app_cache(domain.name)
    stem = folder / f"pretrain-{steps}-b{batch_size}-s{seed}-{domain.fingerprint()}-{_digest(asdict(config), network)}"
    try:
        tensors, meta = load_checkpoint(stem.with_suffix(".safetensors"))
    except CheckpointError:  # not trained yet (or a damaged file): train and (re)write it
        model = pretrain(domain, config)
        save_checkpoint(
            stem,
            model.state_dict(),
            {
                "backbone": model.backbone_spec,
                "domain": domain.name,
                "data_fingerprint": domain.fingerprint(),
                "baselines": asdict(config),
            },
        )
        return model.eval()
    spec = meta["backbone"]
    model = build_backbone(spec["name"], **spec["kwargs"])
    model.load_state_dict(tensors)
    model.backbone_spec = spec
    return model.eval()
