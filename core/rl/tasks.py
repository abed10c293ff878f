"""Tasks that are environments: a family of MDPs, seeded task sampling, disjoint splits.

A *task family* is a distribution of MDPs sharing observation and action spaces (point navigation: one
MDP per goal). :meth:`TaskFamily.sample` draws an :class:`EnvTask` of a split with an explicit generator;
:meth:`TaskFamily.make_env` builds one Gymnasium environment whose ``task`` attribute selects the MDP, and
:meth:`TaskFamily.make_vector_env` may build a natively batched one. The splits are disjoint by
construction (the family decides how: navigation gives each split its own cells of the goal square), and
:func:`fixed_env_tasks` gives the reproducible evaluation list: task ``i`` is drawn with ``generator(seed, i)``, or,
for a family with a finite task list (Meta-World's 50 goals per class), the list in a seeded order, so that 50
evaluation tasks are the 50 goals, each once (and the next 50 another order of them).

Example
-------
>>> tasks = fixed_env_tasks(family, "test", 100, seed=0)          # doctest: +SKIP
>>> env = family.make_env(); env.task = tasks[0]                   # doctest: +SKIP
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import gymnasium
import numpy as np
import torch

from metasuite.core.tasks import generator

__all__ = ["EnvTask", "TaskFamily", "fixed_env_tasks", "sample_env_tasks", "tasks_for_envs"]


@dataclass(frozen=True)
class EnvTask:
    """One MDP of a family.

    Attributes
    ----------
    params : dict
        What defines the MDP, JSON-ready (navigation: ``{"goal": [x, y]}``).
    split : str
        ``"train"``, ``"val"`` or ``"test"``.
    """

    params: dict[str, Any] = field(default_factory=dict)
    split: str = "train"


class TaskFamily(ABC):
    """A distribution of MDPs with disjoint train / val / test task sets.

    Class attributes: ``name``, ``horizon`` (steps per episode), ``obs_dim``, ``act_dim``, ``max_envs``.
    """

    name: ClassVar[str]
    horizon: ClassVar[int]
    obs_dim: ClassVar[int]
    act_dim: ClassVar[int]
    #: The most environments stepped together (memory: a family whose environments are heavy caps it); None: all.
    max_envs: ClassVar[int | None] = None

    @abstractmethod
    def sample(self, split: str, generator: torch.Generator) -> EnvTask:
        """Draw one task of ``split``; all randomness from ``generator``."""

    @abstractmethod
    def make_env(self) -> gymnasium.Env:
        """One environment; setting its ``task`` attribute to an :class:`EnvTask` selects the MDP."""

    def make_vector_env(self, num_envs: int) -> gymnasium.vector.VectorEnv | None:
        """A natively batched environment of ``num_envs`` copies (``set_attr("task", tasks)``); None: use
        Gymnasium's :class:`~gymnasium.vector.SyncVectorEnv` over :meth:`make_env`."""
        return None

    def goal(self, task: EnvTask) -> np.ndarray | None:
        """Where ``task``'s goal lies, for display only (the policy is not shown it): ``params["goal"]`` by
        default; None when the family names no goal position."""
        goal = task.params.get("goal")
        return None if goal is None else np.asarray(goal, dtype=float)

    def finite_tasks(self, split: str) -> list[dict[str, Any]] | None:
        """Every task of ``split`` as its ``params``, when the split is a finite list (Meta-World), so that
        evaluation lists draw them without replacement; None (the default) for a continuous family."""
        return None


def sample_env_tasks(family: TaskFamily, split: str, n: int, gen: torch.Generator) -> list[EnvTask]:
    """``n`` tasks of ``split`` drawn one after the other with ``gen``."""
    return [family.sample(split, gen) for _ in range(n)]


def fixed_env_tasks(family: TaskFamily, split: str, n: int, seed: int) -> list[EnvTask]:
    """A fixed list of ``n`` tasks (prefix-stable: the first ``m`` of ``n`` are the list of ``m``).

    Task ``i`` is drawn with ``generator(seed, i)``; but where the family's split is a finite list of ``m`` tasks
    (:meth:`TaskFamily.finite_tasks`), tasks ``0..m-1`` are that list in a seeded order, ``m..2m-1`` another seeded
    order, and so on: no task is repeated before every task has been used (drawing 50 of Meta-World's 50 test
    goals with replacement would leave about 18 of them out and count others twice).
    """
    listed = family.finite_tasks(split)
    if listed is None:
        return [family.sample(split, generator(seed, i)) for i in range(n)]
    if not listed:
        raise ValueError(f"{family.name} has no {split!r} tasks")
    m = len(listed)
    orders = [torch.randperm(m, generator=generator(seed, "order", c)).tolist() for c in range(-(-n // m))]
    return [EnvTask(dict(listed[orders[i // m][i % m]]), split) for i in range(n)]


def tasks_for_envs(name: str, values: Any, num_envs: int, owner: str) -> list[EnvTask]:
    """The tasks a vector env's ``set_attr(name, values)`` assigns: one per environment (a single task goes to
    all). Only ``"task"`` can be set; a list of another length is refused."""
    if name != "task":
        raise AttributeError(f"{owner} sets only 'task', not {name!r}")
    tasks = list(values) if isinstance(values, list | tuple) else [values] * num_envs
    if len(tasks) != num_envs:
        raise ValueError(f"{len(tasks)} tasks for {num_envs} environments")
    return tasks
