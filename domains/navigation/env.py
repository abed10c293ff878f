"""The MAML paper's 2-D point robot as Gymnasium environments, and its family of goals.

State: the position ``(x, y)``, starting at the origin. Action: a velocity ``(dx, dy)``, each component clipped to
``[-0.1, 0.1]``. Reward: ``-||position - goal||`` (Euclidean distance after the move). Episodes last ``horizon``
steps (100; truncation, no early termination, so every episode has the same length). Success: the final
distance is below ``success_radius`` (0.05). Goals are uniform in ``[-0.5, 0.5]^2``.

Disjoint splits: the goal square is cut into 8 x 8 cells, and a fixed permutation gives 40 cells to ``train``,
8 to ``val`` and 16 to ``test``; a split's goals are uniform over its own cells, so no test goal is ever a
training goal (nor close to one in the cell's interior).

:class:`PointNavigationEnv` is one environment (``gymnasium.Env``); :class:`PointNavigationVectorEnv` steps many
of them as numpy arrays (a ``gymnasium.vector.VectorEnv``, same dynamics, tested equal).

Reference: Finn, Abbeel & Levine, ICML 2017, §5.3 ("2D navigation").
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector.utils import batch_space

from metasuite.core.rl.tasks import EnvTask, TaskFamily, tasks_for_envs
from metasuite.core.tasks import derive_seed

__all__ = [
    "GENERATOR_VERSION",
    "GOAL_RANGE",
    "GRID",
    "MAX_SPEED",
    "SPLIT_CELLS",
    "NavigationFamily",
    "PointNavigationEnv",
    "PointNavigationVectorEnv",
    "split_of_goal",
]

GENERATOR_VERSION = "navigation-v1"
GOAL_RANGE = 0.5
MAX_SPEED = 0.1
GRID = 8
_COUNTS = {"train": 40, "val": 8, "test": 16}


def _split_cells() -> dict[str, list[tuple[int, int]]]:
    order = torch.randperm(GRID * GRID, generator=torch.Generator().manual_seed(derive_seed(GENERATOR_VERSION)))
    cells, start = {}, 0
    for split, count in _COUNTS.items():
        cells[split] = [(int(c) // GRID, int(c) % GRID) for c in order[start : start + count]]
        start += count
    return cells


#: The cells ``(i, j)`` (column, row of the 8 x 8 grid over the goal square) of each split.
SPLIT_CELLS = _split_cells()


def split_of_goal(goal: Any) -> str:
    """The split whose cells hold ``goal`` ``(x, y)``."""
    size = 2 * GOAL_RANGE / GRID
    cell = tuple(min(int((g + GOAL_RANGE) // size), GRID - 1) for g in goal)
    return next(s for s, cells in SPLIT_CELLS.items() if cell in cells)


def _goal(task: EnvTask | None) -> np.ndarray:
    return np.zeros(2) if task is None else np.asarray(task.params["goal"], dtype=np.float64)


class PointNavigationEnv(gymnasium.Env):
    """One point robot; assign ``env.task`` (an :class:`EnvTask` with ``params["goal"]``) to choose the goal."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(self, horizon: int = 100, success_radius: float = 0.05):
        self.horizon, self.success_radius = horizon, success_radius
        self.observation_space = spaces.Box(-np.inf, np.inf, (2,), np.float32)
        self.action_space = spaces.Box(-MAX_SPEED, MAX_SPEED, (2,), np.float32)
        self.task: EnvTask | None = None
        self._pos, self._t = np.zeros(2), 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self._pos, self._t = np.zeros(2), 0
        return self._pos.astype(np.float32), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        self._pos = self._pos + np.clip(np.asarray(action, np.float64), -MAX_SPEED, MAX_SPEED)
        self._t += 1
        distance = float(np.linalg.norm(self._pos - _goal(self.task)))
        info = {"distance": distance, "is_success": distance < self.success_radius}
        return self._pos.astype(np.float32), -distance, False, self._t >= self.horizon, info


class PointNavigationVectorEnv(gymnasium.vector.VectorEnv):
    """``num_envs`` point robots stepped as one numpy array; ``set_attr("task", tasks)`` gives each its goal.

    Same dynamics, reward and success as :class:`PointNavigationEnv`; an environment whose episode ended is
    reset by the next ``step`` (Gymnasium's next-step autoreset; that step's reward is 0).
    """

    metadata: ClassVar[dict[str, Any]] = {"autoreset_mode": gymnasium.vector.AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int, horizon: int = 100, success_radius: float = 0.05):
        self.num_envs, self.horizon, self.success_radius = num_envs, horizon, success_radius
        self.single_observation_space = spaces.Box(-np.inf, np.inf, (2,), np.float32)
        self.single_action_space = spaces.Box(-MAX_SPEED, MAX_SPEED, (2,), np.float32)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._goals = np.zeros((num_envs, 2))
        self._pos, self._t = np.zeros((num_envs, 2)), np.zeros(num_envs, np.int64)
        self._ended = np.zeros(num_envs, bool)

    def set_attr(self, name: str, values: Any) -> None:
        tasks = tasks_for_envs(name, values, self.num_envs, type(self).__name__)
        self._goals = np.stack([_goal(t) for t in tasks])

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self._pos[:], self._t[:], self._ended[:] = 0.0, 0, False
        return self._pos.astype(np.float32), {}

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        moving = ~self._ended
        step = np.clip(np.asarray(actions, np.float64), -MAX_SPEED, MAX_SPEED)
        self._pos = np.where(moving[:, None], self._pos + step, 0.0)
        self._t = np.where(moving, self._t + 1, 0)
        distance = np.linalg.norm(self._pos - self._goals, axis=1)
        reward = np.where(moving, -distance, 0.0)
        truncated = moving & (self._t >= self.horizon)
        success = moving & (distance < self.success_radius)
        self._ended = truncated
        info = {"distance": distance, "is_success": success, "_is_success": moving, "_distance": moving}
        return self._pos.astype(np.float32), reward, np.zeros(self.num_envs, bool), truncated, info


class NavigationFamily(TaskFamily):
    """Goals uniform over a split's cells of ``[-0.5, 0.5]^2``; ``params = {"goal": [x, y]}``."""

    name = "point-navigation"
    horizon = 100
    obs_dim = 2
    act_dim = 2

    def __init__(self, horizon: int = 100, success_radius: float = 0.05):
        self.horizon, self.success_radius = horizon, success_radius

    def sample(self, split: str, generator: torch.Generator) -> EnvTask:
        if split not in SPLIT_CELLS:
            raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLIT_CELLS)}")
        cells = SPLIT_CELLS[split]
        i, j = cells[int(torch.randint(0, len(cells), (1,), generator=generator))]
        u = torch.rand(2, generator=generator, dtype=torch.float64)
        size = 2 * GOAL_RANGE / GRID
        goal = [-GOAL_RANGE + (i + float(u[0])) * size, -GOAL_RANGE + (j + float(u[1])) * size]
        return EnvTask({"goal": goal}, split)

    def make_env(self) -> PointNavigationEnv:
        return PointNavigationEnv(self.horizon, self.success_radius)

    def make_vector_env(self, num_envs: int) -> PointNavigationVectorEnv:
        return PointNavigationVectorEnv(num_envs, self.horizon, self.success_radius)
