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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor

from metasuite.core.evaluation import Evaluation, FixedTaskEvaluation
from metasuite.core.losses import METRIC_NAME, task_loss, task_metric
from metasuite.core.options import Option, OptionError, coerce_options
from metasuite.core.tasks import TaskSampler

__all__ = ["SPLITS", "Dataset", "Domain"]

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Dataset:
    """A public data set a domain can download: ``metasuite data fetch NAME --dest DIR``.

    ``fetch(dest)`` downloads into folder ``dest`` and returns the folder to pass as the domain's
    ``data_dir``; it needs internet and is never called by tests or the default demo.
    """

    name: str
    title: str
    size: str
    fetch: Callable[[Path], Path]


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
    option_specs : tuple of Option
        The typed options the constructor takes (:mod:`metasuite.core.options`): the command line builds its
        flags and the app its widgets from them. Default none.

    Benchmarks are registered under the ``metasuite.benchmarks`` entry-point group (``name =
    "package.module:function"``), not on the class, so that a benchmark module may import its domain.
    """

    name: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str] = ""
    kind: ClassVar[str] = "classification"
    fixed_label_space: ClassVar[bool] = False
    shared_classes: ClassVar[bool] = False
    option_specs: ClassVar[tuple[Option, ...]] = ()

    def __init__(self, **options: Any):
        if options and type(self).__init__ is Domain.__init__:
            raise TypeError(f"{type(self).__name__} takes no options, got {sorted(options)}")
        self.options = options  # the values given (recorded in checkpoints)

    @classmethod
    def from_options(cls, values: Mapping[str, Any]) -> Domain:
        """Build the domain from option ``values`` checked against :attr:`option_specs` (text is parsed by type).

        Raises :class:`~metasuite.core.options.OptionError` naming the option for an undeclared name or a value
        of the wrong type; a domain that declares no options but takes keywords gets them unchecked.
        """
        specs = cls.option_specs
        checked = coerce_options(specs, values, f"domain {cls.name!r}") if specs else dict(values)
        try:
            return cls(**checked)
        except TypeError as exc:  # a keyword the constructor does not take
            raise OptionError(f"domain {cls.name!r} does not accept the options {sorted(checked)}: {exc}") from exc

    # ---------------------------------------------------------------- required
    @abstractmethod
    def sampler(self, split: str, *, n_way: int | None, k_shot: int, n_query: int) -> TaskSampler:
        """A task sampler for ``split`` in :data:`SPLITS` (disjoint splits)."""

    def meta_train_sampler(self, *, n_way: int | None, k_shot: int, n_query: int) -> TaskSampler:
        """The tasks meta-training draws (``metasuite train``): the training split's :meth:`sampler` by default. A
        domain may mix auxiliary tasks in here (driving's ``condition_tasks``); evaluation on any split, validation
        and the baselines' pooled batches keep :meth:`sampler`."""
        return self.sampler("train", n_way=n_way, k_shot=k_shot, n_query=n_query)

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

    def augment(self, x: Tensor, generator: torch.Generator) -> Tensor:
        """A randomly augmented view of examples ``x`` ``(n, *feature_shape)`` (same shape), drawn with ``generator``:
        what the fine-tune stage (``eval --finetune-steps``) trains on. Default: ``x`` unchanged (no augmentation
        that is known to preserve the labels); image domains flip and crop."""
        return x

    def data_notes(self) -> list[str]:
        """What loading the data changed or found suspicious, one sentence each (sorted dates, dropped rows,
        adjusted splits, skipped files ...), for the command line to print and reports to keep under
        ``warnings``. Default: nothing; call after the data was loaded."""
        return []

    def validation_score(self, learner: Any, batch: Any) -> float | None:
        """A field-specific validation score of ``learner`` (higher is better), or None (the default): the trainer
        then keeps the checkpoint with the best headline metric on the fixed validation ``batch``. Trading scores
        the Sharpe ratio after costs of a backtest over its validation period."""
        return None

    def split_ids(self) -> dict[str, list[str]] | None:
        """Identifiers of the train / val data (e.g. patient ids), recorded in checkpoints; default none."""
        return None

    @classmethod
    def evaluation(cls) -> Evaluation:
        """How ``metasuite eval`` evaluates this domain (:mod:`metasuite.core.evaluation`).

        The default scores every method on fixed seeded test tasks of :meth:`eval_plan`. A domain returns a
        :class:`~metasuite.core.evaluation.FixedTaskEvaluation` subclass to add a field-specific summary
        (diagnosis: gross statistics), or another :class:`~metasuite.core.evaluation.Evaluation` when its
        evaluation is not scores over tasks (trading: a walk-forward backtest with its own options).
        """
        return FixedTaskEvaluation()

    @classmethod
    def datasets(cls) -> tuple[Dataset, ...]:
        """Public data sets this domain can download (``metasuite data fetch NAME``); default none."""
        return ()

    def bench_workload(self) -> dict[str, Any] | None:
        """A short meta-training run that ``metasuite bench distributed`` times in 1 and 2 processes.

        ``{"algo", "meta_batch_size", "steps", "quick_steps"}`` plus optional task shape keys (``n_query``);
        None (the default) leaves the domain out of that benchmark.
        """
        return None

    def describe(self) -> dict[str, Any]:
        """Plain-data summary for listings."""
        return {"name": self.name, "title": self.title, "description": self.description, "kind": self.kind}
