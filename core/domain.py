"""The ``Domain`` interface: what a use case supplies to the shared meta-learning core.

A domain bundles its task samplers (one per split, disjoint by the unit that matters in the
domain), its default backbone and hyperparameters, its metrics, and a fingerprint of its data.
The core's trainer, evaluator, CLI and the app only ever talk to this interface; domains are
found through the ``metasuite.domains`` entry-point group (:mod:`metasuite.core.registry`).

Minimal example (a complete domain)::

    class MyDomain(Domain):
        name = "mine"
        title = "My use case"
        description = "One line for the CLI and the Home page."
        kind = "classification"

        def sampler(self, split, *, n_way, k_shot, n_query):
            return MySampler(split, n_way, k_shot, n_query)   # has .sample(generator) -> Task

        def backbone_spec(self, algorithm, n_way):
            return "conv4", {"in_channels": 3, "image_size": 84,
                             "out_features": None if algorithm == "protonet" else n_way}
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import Tensor

from metasuite.core.losses import METRIC_NAME, task_loss, task_metric
from metasuite.core.tasks import TaskSampler

__all__ = ["SPLITS", "Domain"]

SPLITS = ("train", "val", "test")


class Domain(ABC):
    """Base class of every domain. Subclasses set the class attributes and two methods.

    Class attributes
    ----------------
    name : str            registry key and CLI argument (``metasuite train NAME``)
    title, description    shown by ``metasuite domains`` and the app's Home page
    kind : str            ``"classification"`` or ``"regression"``
    fixed_label_space : bool
        True when labels are global classes (every task shares the label space and a support
        set may miss some classes); False for N-way episodes with per-task labels.
    shared_classes : bool
        True when meta-test tasks draw from the same global classes as meta-training and the shift
        is in the inputs (new environments, new patients); adds the "pooled (no adaptation)"
        baseline. False for the classic class-disjoint few-shot splits.
    page : str or None    path of the domain's Streamlit page, relative to the ``apps`` folder
    """

    name: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str] = ""
    kind: ClassVar[str] = "classification"
    fixed_label_space: ClassVar[bool] = False
    shared_classes: ClassVar[bool] = False
    page: ClassVar[str | None] = None

    def __init__(self, **options: Any):
        if options and type(self).__init__ is Domain.__init__:
            raise TypeError(f"{type(self).__name__} takes no options, got {sorted(options)}")
        self.options = options

    # ---------------------------------------------------------------- required
    @abstractmethod
    def sampler(self, split: str, *, n_way: int | None, k_shot: int, n_query: int) -> TaskSampler:
        """A task sampler for ``split`` in :data:`SPLITS` (disjoint splits)."""

    @abstractmethod
    def backbone_spec(self, algorithm: str, n_way: int | None) -> tuple[str, dict[str, Any]]:
        """``(backbone name, kwargs)`` for :func:`metasuite.core.backbones.build_backbone`."""

    # ---------------------------------------------------------------- defaults to override
    def default_setting(self) -> dict[str, Any]:
        """Default task shape: ``{"n_way": int|None, "k_shot": int, "n_query": int}``."""
        return {"n_way": 5, "k_shot": 1, "n_query": 15}

    def default_hparams(self, algorithm: str) -> dict[str, Any]:
        """Learner hyperparameters for ``algorithm`` (``inner_lr``, ``inner_steps`` ...)."""
        return {}

    def default_train_config(self, algorithm: str) -> dict[str, Any]:
        """Overrides of :class:`metasuite.core.trainer.TrainConfig` fields for ``algorithm``."""
        return {}

    def default_baselines(self) -> dict[str, Any]:
        """Overrides of :class:`metasuite.core.baselines.BaselineConfig` fields (budgets of the baselines)."""
        return {}

    def n_classes_total(self) -> int | None:
        """Number of global classes in the meta-train split (for the pre-training baseline)."""
        return None

    def fingerprint(self) -> str:
        """A short hash identifying the data (generator version + parameters, or file list)."""
        blob = json.dumps({"domain": self.name, "options": self.options}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def metrics(self, pred: Tensor, query_y: Tensor, query_mask: Tensor | None) -> dict[str, float]:
        """Per-task metrics of predictions ``pred`` for ``query_y``; the first is the headline."""
        return {
            METRIC_NAME[self.kind]: float(task_metric(pred, query_y, self.kind, query_mask)),
            "loss": float(task_loss(pred, query_y, self.kind, query_mask)),
        }

    def pooled_batch(self, split: str, batch_size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """A batch of ordinary supervised examples pooled over tasks of ``split``.

        Returns ``x`` ``(batch_size, *feature_shape)`` and ``y`` in the *global* label space
        (``metadata["classes"]`` maps each task's local labels to global ids) or regression
        targets. Used by the pre-training baselines. The default draws tasks from the sampler.
        """
        setting = self.default_setting()
        sampler = self.sampler(split, n_way=setting["n_way"], k_shot=setting["k_shot"], n_query=setting["n_query"])
        xs: list[Tensor] = []
        ys: list[Tensor] = []
        n = 0
        while n < batch_size:
            task = sampler.sample(generator)
            x = torch.cat([task.support_x, task.query_x])
            y = torch.cat([task.support_y, task.query_y])
            mask = None
            if task.support_mask is not None or task.query_mask is not None:
                sm = (
                    task.support_mask if task.support_mask is not None else torch.ones(task.n_support, dtype=torch.bool)
                )
                qm = task.query_mask if task.query_mask is not None else torch.ones(task.n_query, dtype=torch.bool)
                mask = torch.cat([sm, qm])
                x, y = x[mask], y[mask]
            if self.kind == "classification" and not self.fixed_label_space:
                classes = task.metadata.get("classes")
                if classes is None:
                    raise ValueError(
                        f"domain {self.name!r}: tasks need metadata['classes'] (local label -> global class id) "
                        "for the pre-training baselines, or override Domain.pooled_batch"
                    )
                y = torch.as_tensor(classes, dtype=torch.long)[y]
            xs.append(x)
            ys.append(y)
            n += x.shape[0]
        return torch.cat(xs)[:batch_size], torch.cat(ys)[:batch_size]

    def eval_plan(self, setting: dict[str, Any], split: str | None, explicit: bool) -> list[dict[str, Any]]:
        """The evaluation settings ``metasuite eval`` runs, each ``{n_way, k_shot, n_query, split}``.

        ``setting`` is the task shape from the command line / checkpoint, ``split`` the ``--split``
        given (or None) and ``explicit`` tells whether the user fixed the shape or split. The
        default is one evaluation on ``split`` (``"test"`` when not given); a domain can return a
        grid (e.g. 1- and 5-shot on unseen and seen environments).
        """
        return [{**setting, "split": split or "test"}]

    def split_ids(self) -> dict[str, list[str]] | None:
        """Identifiers of the train / val data (e.g. patient ids), recorded in checkpoints; default none."""
        return None

    def eval_summary(self, report: dict[str, Any]) -> dict[str, Any] | None:
        """Field-specific summary of an eval report (``metasuite eval`` stores it under ``"summary"``).

        ``report`` is :func:`metasuite.core.evaluate.evaluate`'s JSON object (or a merge of several). The
        default is none; e.g. the diagnosis domain pools every patient's beats (gross statistics)
        and tabulates patients.
        """
        return None

    def format_eval_summary(self, summary: dict[str, Any]) -> str:
        """Text of :meth:`eval_summary`'s result, printed after the eval tables."""
        return ""

    @classmethod
    def add_arguments(cls, parser: Any, command: str) -> list[str]:
        """Add this domain's own flags to ``metasuite train`` / ``eval`` (``command``); return the ``dest`` names
        that are constructor options (passed to the domain when given on the command line).

        ``parser`` is an argparse argument group shown under "<domain> options" in ``--help``. The default adds
        nothing: ``--option KEY=VALUE`` and ``--data-dir`` reach every domain.
        """
        return []

    def run_eval(self, args: Any) -> int | None:
        """Take over ``metasuite eval`` when the domain's evaluation is not scores over fixed tasks.

        ``args`` is the parsed command line. Return an exit code, or None (the default) for the core's
        evaluation. The trading domain runs a walk-forward backtest here.
        """
        return None

    def benchmarks(self) -> dict[str, Callable[..., dict[str, Any]]]:
        """Named benchmarks this domain offers to ``metasuite bench`` (``fn(quick=bool) -> dict``)."""
        return {}

    def describe(self) -> dict[str, Any]:
        """Plain-data summary for listings."""
        return {"name": self.name, "title": self.title, "description": self.description, "kind": self.kind}
