"""Few-shot tasks, batches of tasks, and the sampler protocol.

A *task* is one small learning problem: a support set to adapt on and a query set to be
judged on. Classification labels are ``int64`` class indices in ``[0, n_way)``; regression
targets are float tensors. Optional boolean masks mark real examples (``True``) versus padding
(``False``) so that tasks of different sizes can be stacked into one batch, and so that
class-imbalanced or ragged query sets are handled in the same code path.

No global random state is used anywhere: samplers receive an explicit ``torch.Generator``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor

from metasuite.core.errors import TaskError

__all__ = [
    "Task",
    "TaskBatch",
    "TaskSampler",
    "check_classification_task",
    "derive_seed",
    "expand_support",
    "fixed_tasks",
    "generator",
    "sample_batch",
]


def _check_finite(name: str, t: Tensor) -> None:
    if t.is_floating_point() and not bool(torch.isfinite(t).all()):
        n_bad = int((~torch.isfinite(t)).sum())
        raise TaskError(f"{name} contains {n_bad} NaN/inf value(s); clean or impute the data before building tasks")


@dataclass(frozen=True)
class Task:
    """One few-shot task.

    Attributes
    ----------
    support_x : Tensor, shape (n_support, *feature_shape)
    support_y : Tensor, shape (n_support,) int64 labels, or (n_support, *target_shape) float targets
    query_x : Tensor, shape (n_query, *feature_shape)
    query_y : Tensor, shape (n_query,) or (n_query, *target_shape)
    support_mask, query_mask : Tensor of bool, shape (n_support,) / (n_query,), optional
        ``False`` marks padding that every loss and metric ignores.
    metadata : dict
        Free-form description (environment, patient id, ticker and dates, global class ids ...).
        ``metadata["classes"]``, when present, maps local label ``i`` to a global class id.
    """

    support_x: Tensor
    support_y: Tensor
    query_x: Tensor
    query_y: Tensor
    support_mask: Tensor | None = None
    query_mask: Tensor | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for part in ("support", "query"):
            x, y = getattr(self, f"{part}_x"), getattr(self, f"{part}_y")
            mask = getattr(self, f"{part}_mask")
            if x.ndim < 1 or y.ndim < 1:
                raise TaskError(f"{part}_x and {part}_y need a leading example dimension")
            if x.shape[0] != y.shape[0]:
                raise TaskError(
                    f"{part}_x has {x.shape[0]} examples but {part}_y has {y.shape[0]}; they must have the same length"
                )
            if mask is not None and tuple(mask.shape) != (x.shape[0],):
                raise TaskError(f"{part}_mask has shape {tuple(mask.shape)}, expected ({x.shape[0]},)")
            _check_finite(f"{part}_x", x)
            _check_finite(f"{part}_y", y)
        if self.support_x.shape[1:] != self.query_x.shape[1:]:
            raise TaskError(
                f"support_x examples have shape {tuple(self.support_x.shape[1:])} but query_x "
                f"examples have shape {tuple(self.query_x.shape[1:])}"
            )
        if self.support_y.dtype != self.query_y.dtype:
            raise TaskError(f"support_y is {self.support_y.dtype} but query_y is {self.query_y.dtype}")

    @property
    def n_support(self) -> int:
        """Number of support examples, padding included."""
        return int(self.support_x.shape[0])

    @property
    def n_query(self) -> int:
        """Number of query examples, padding included."""
        return int(self.query_x.shape[0])

    def to(self, device: torch.device | str) -> Task:
        """Return a copy with every tensor on ``device``."""
        return _moved(self, device)


_TENSOR_FIELDS = ("support_x", "support_y", "query_x", "query_y", "support_mask", "query_mask")


def _moved(obj: Any, device: torch.device | str) -> Any:
    """A copy of a Task/TaskBatch with every tensor field on ``device``."""
    return replace(obj, **{f: getattr(obj, f).to(device) for f in _TENSOR_FIELDS if getattr(obj, f) is not None})


def _pad(t: Tensor, n: int) -> Tensor:
    if t.shape[0] == n:
        return t
    pad = t.new_zeros((n - t.shape[0], *t.shape[1:]))
    return torch.cat([t, pad])


@dataclass(frozen=True)
class TaskBatch:
    """Tasks stacked along a new leading dimension ``n_tasks``.

    Shapes are those of :class:`Task` with ``n_tasks`` in front, e.g. ``support_x`` is
    ``(n_tasks, n_support, *feature_shape)``. Masks are ``(n_tasks, n_support)`` or ``None``.
    """

    support_x: Tensor
    support_y: Tensor
    query_x: Tensor
    query_y: Tensor
    support_mask: Tensor | None = None
    query_mask: Tensor | None = None
    metadata: tuple[dict[str, Any], ...] = ()

    @classmethod
    def stack(cls, tasks: Sequence[Task], pad: bool = False) -> TaskBatch:
        """Stack tasks into a batch.

        Parameters
        ----------
        tasks : sequence of Task
            Tasks with equal feature shapes.
        pad : bool
            If False (default) every task must have the same support and query sizes. If True,
            shorter tasks are zero-padded and masks mark the real examples.
        """
        if not tasks:
            raise TaskError("cannot stack an empty list of tasks")
        first = tasks[0]
        for i, t in enumerate(tasks[1:], start=1):
            if t.support_x.shape[1:] != first.support_x.shape[1:]:
                raise TaskError(
                    f"task {i} has examples of shape {tuple(t.support_x.shape[1:])}, task 0 has "
                    f"{tuple(first.support_x.shape[1:])}"
                )
        n_s = max(t.n_support for t in tasks)
        n_q = max(t.n_query for t in tasks)
        ragged = any(t.n_support != n_s or t.n_query != n_q for t in tasks)
        if ragged and not pad:
            sizes = sorted({(t.n_support, t.n_query) for t in tasks})
            raise TaskError(
                f"tasks have different (support, query) sizes {sizes}; pass pad=True to pad them with masks"
            )
        any_mask = ragged or any(t.support_mask is not None or t.query_mask is not None for t in tasks)

        def mask_of(t: Task, part: str, n: int) -> Tensor:
            m = getattr(t, f"{part}_mask")
            size = getattr(t, f"n_{part}")
            if m is None:
                m = torch.ones(size, dtype=torch.bool, device=t.support_x.device)
            return _pad(m, n)

        return cls(
            support_x=torch.stack([_pad(t.support_x, n_s) for t in tasks]),
            support_y=torch.stack([_pad(t.support_y, n_s) for t in tasks]),
            query_x=torch.stack([_pad(t.query_x, n_q) for t in tasks]),
            query_y=torch.stack([_pad(t.query_y, n_q) for t in tasks]),
            support_mask=torch.stack([mask_of(t, "support", n_s) for t in tasks]) if any_mask else None,
            query_mask=torch.stack([mask_of(t, "query", n_q) for t in tasks]) if any_mask else None,
            metadata=tuple(t.metadata for t in tasks),
        )

    def __len__(self) -> int:
        return int(self.support_x.shape[0])

    def __getitem__(self, i: int) -> Task:
        return Task(
            support_x=self.support_x[i],
            support_y=self.support_y[i],
            query_x=self.query_x[i],
            query_y=self.query_y[i],
            support_mask=None if self.support_mask is None else self.support_mask[i],
            query_mask=None if self.query_mask is None else self.query_mask[i],
            metadata=self.metadata[i] if self.metadata else {},
        )

    def to(self, device: torch.device | str) -> TaskBatch:
        """Return a copy with every tensor on ``device``."""
        return _moved(self, device)


@runtime_checkable
class TaskSampler(Protocol):
    """Anything that draws a task from one split given an explicit generator.

    A sampler whose split has a natural, finite set of evaluation tasks (one task per patient, with
    the support taken from the start of the recording) may also define ``all_tasks() -> list[Task]``;
    :func:`fixed_tasks` then evaluates on those instead of drawing random ones.
    """

    def sample(self, generator: torch.Generator) -> Task:
        """Draw one task. All randomness must come from ``generator``."""
        ...


_MASK63 = (1 << 63) - 1


def derive_seed(*parts: int | str) -> int:
    """Deterministically combine integers/strings into a 63-bit seed (SplitMix64 mixing).

    ``derive_seed(seed, step)`` gives the seed of step ``step`` of a run, so a resumed run draws
    exactly the tasks an uninterrupted one would, without saving any RNG state.
    """
    h = 0x9E3779B97F4A7C15
    for p in parts:
        if isinstance(p, str):
            p = int.from_bytes(hashlib.blake2b(p.encode("utf-8"), digest_size=8).digest(), "little")
        h = (h ^ (int(p) & 0xFFFFFFFFFFFFFFFF)) & 0xFFFFFFFFFFFFFFFF
        h = (h + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
        z = h
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
        h = z ^ (z >> 31)
    return h & _MASK63


def generator(*seed_parts: int | str) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with ``derive_seed(*seed_parts)``."""
    return torch.Generator().manual_seed(derive_seed(*seed_parts))


def sample_batch(sampler: TaskSampler, n_tasks: int, gen: torch.Generator, pad: bool = False) -> TaskBatch:
    """Draw ``n_tasks`` tasks from ``sampler`` with ``gen`` and stack them.

    Samplers may provide a vectorised ``sample_batch(n_tasks, generator) -> TaskBatch``; it is
    used when present.
    """
    if n_tasks < 1:
        raise TaskError(f"n_tasks must be >= 1, got {n_tasks}")
    fast = getattr(sampler, "sample_batch", None)
    if fast is not None:
        return fast(n_tasks, gen)
    return TaskBatch.stack([sampler.sample(gen) for _ in range(n_tasks)], pad=pad)


def fixed_tasks(sampler: TaskSampler, n_tasks: int, seed: int) -> list[Task]:
    """A fixed, reproducible list of tasks: task ``i`` is drawn with ``generator(seed, i)``.

    The first ``m`` tasks of ``fixed_tasks(s, n, seed)`` equal ``fixed_tasks(s, m, seed)``, so a
    quick evaluation on fewer tasks is a prefix of the full one. A sampler with ``all_tasks()``
    (a finite natural task set) gives its first ``n_tasks`` tasks in order; ``seed`` is unused then.
    """
    finite = getattr(sampler, "all_tasks", None)
    if callable(finite):
        return list(finite())[:n_tasks]
    return [sampler.sample(generator(seed, i)) for i in range(n_tasks)]


def expand_support(
    tasks: Sequence[Task], augment: Callable[[Tensor, torch.Generator], Tensor], views: int, seed: int
) -> list[Task]:
    """Each task with ``views`` augmented copies of every support example added to its support.

    Labels and mask are repeated with the copies; the query is untouched. Copy ``v`` of task ``i`` is drawn with
    ``generator(seed, "support-views", i, v)``, so every method evaluated on the returned tasks adapts from the
    very same enlarged support. ``views = 0`` returns the tasks as they are.
    """
    if views < 0:
        raise TaskError(f"support views must be >= 0, got {views}")
    if views == 0:
        return list(tasks)
    out = []
    for i, task in enumerate(tasks):
        copies = [augment(task.support_x, generator(seed, "support-views", i, v)) for v in range(views)]
        for copy in copies:
            if copy.shape != task.support_x.shape:
                raise TaskError(
                    f"the augmentation changed the support's shape {tuple(task.support_x.shape)} to "
                    f"{tuple(copy.shape)}; it must return views of the same shape"
                )
        mask = None if task.support_mask is None else task.support_mask.repeat(views + 1)
        out.append(
            replace(
                task,
                support_x=torch.cat([task.support_x, *copies]),
                support_y=task.support_y.repeat(views + 1, *([1] * (task.support_y.ndim - 1))),
                support_mask=mask,
                metadata={**task.metadata, "support_views": views},
            )
        )
    return out


def check_classification_task(task: Task | TaskBatch, n_way: int, *, every_class_in_support: bool) -> None:
    """Raise :class:`TaskError` unless labels are valid class indices for ``n_way`` classes.

    Parameters
    ----------
    every_class_in_support : bool
        Require at least one support example of every class (N-way K-shot episodes and
        prototype methods need it; fixed-label-space tasks do not).
    """
    for part in ("support", "query"):
        y = getattr(task, f"{part}_y")
        if y.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
            raise TaskError(f"{part}_y must hold integer class labels for classification, got {y.dtype}")
        mask = getattr(task, f"{part}_mask")
        real = y if mask is None else y[mask]
        if real.numel() and (int(real.min()) < 0 or int(real.max()) >= n_way):
            raise TaskError(
                f"{part}_y has labels in [{int(real.min())}, {int(real.max())}] but n_way={n_way}; "
                f"labels must lie in [0, {n_way - 1}]"
            )
    if every_class_in_support:
        ys = task.support_y if task.support_y.ndim == 2 else task.support_y[None]
        masks = task.support_mask
        if masks is not None and masks.ndim == 1:
            masks = masks[None]
        for i in range(ys.shape[0]):
            real = ys[i] if masks is None else ys[i][masks[i]]
            present = torch.bincount(real.long(), minlength=n_way)
            missing = (present == 0).nonzero().flatten().tolist()
            if missing:
                raise TaskError(
                    f"support set has {int((present > 0).sum())} classes but n_way={n_way} "
                    f"(no support example for class(es) {missing})"
                )
