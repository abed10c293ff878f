"""Rollouts through Gymnasium's vector API: episodes are the support and query data of an RL task.

:func:`make_vector_env` builds ``num_envs`` environments of a family as one
:class:`gymnasium.vector.VectorEnv`: the family's natively batched one (``"native"``), or Gymnasium's
:class:`~gymnasium.vector.SyncVectorEnv` / :class:`~gymnasium.vector.AsyncVectorEnv` (one process per
environment) over :meth:`~metasuite.core.rl.tasks.TaskFamily.make_env`. :func:`collect` assigns one task per
environment (``set_attr("task", tasks)``) and runs ``n_episodes`` consecutive episodes in every one of them
(a trial, for RL^2), calling ``policy(obs, prev_action, prev_reward, prev_done)`` once per step for all
environments at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import gymnasium
import numpy as np
import torch
from torch import Tensor

from metasuite.core.rl.tasks import EnvTask, TaskFamily

__all__ = ["ENV_MODES", "EnvPool", "Episodes", "Policy", "collect", "env_groups", "make_vector_env"]

ENV_MODES = ("native", "sync", "async")

#: ``policy(obs (B, obs_dim), prev_action (B, act_dim), prev_reward (B,), prev_done (B,)) -> actions (B, act_dim)``;
#: the previous step's action / reward / episode-end flag are zeros at the start of a trial.
Policy = Callable[[Tensor, Tensor, Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class Episodes:
    """``n_episodes`` consecutive episodes of ``T`` steps in each of ``B`` environments.

    Attributes
    ----------
    obs : Tensor, (B, E, T, obs_dim)
        Observation each action was chosen from.
    actions : Tensor, (B, E, T, act_dim)
        The sampled actions (before the environment clips them).
    rewards : Tensor, (B, E, T)
    mask : Tensor of bool, (B, E, T)
        True for steps taken in the episode (False after it terminated early).
    done : Tensor of bool, (B, E, T)
        True at the step that ended the episode (the ``prev_done`` the policy saw one step later).
    success : Tensor of bool, (B, E)
        The environment's ``info["is_success"]`` at the episode's last step.
    """

    obs: Tensor
    actions: Tensor
    rewards: Tensor
    mask: Tensor
    done: Tensor
    success: Tensor

    @property
    def returns(self) -> Tensor:
        """Undiscounted return of every episode, (B, E)."""
        return (self.rewards * self.mask).sum(-1)

    @classmethod
    def cat(cls, parts: Sequence[Episodes]) -> Episodes:
        """The environments of ``parts`` one after the other (along ``B``)."""
        if len(parts) == 1:
            return parts[0]
        return cls(*(torch.cat([getattr(p, f) for p in parts]) for f in cls.__dataclass_fields__))


def make_vector_env(family: TaskFamily, num_envs: int, mode: str = "native") -> gymnasium.vector.VectorEnv:
    """``num_envs`` environments of ``family`` stepped together; ``mode`` in :data:`ENV_MODES`."""
    if mode not in ENV_MODES:
        raise ValueError(f"unknown environment mode {mode!r}; choose one of {', '.join(ENV_MODES)}")
    if mode == "native":
        native = family.make_vector_env(num_envs)
        if native is not None:
            return native
        mode = "sync"  # the family has no batched implementation: Gymnasium's loop over its environments
    fns = [family.make_env] * num_envs
    if mode == "sync":
        return gymnasium.vector.SyncVectorEnv(fns)
    return gymnasium.vector.AsyncVectorEnv(fns)


def collect(
    envs: gymnasium.vector.VectorEnv,
    tasks: Sequence[EnvTask],
    policy: Policy,
    horizon: int,
    n_episodes: int = 1,
    seed: int = 0,
) -> Episodes:
    """Run ``n_episodes`` episodes of at most ``horizon`` steps in every environment; environment ``b`` solves
    ``tasks[b]``. The first reset is seeded with ``seed`` (environment ``b`` gets ``seed + b``)."""
    n = len(tasks)
    if envs.num_envs != n:
        raise ValueError(f"{n} tasks for {envs.num_envs} environments: give one task per environment")
    envs.set_attr("task", list(tasks))
    obs_dim = int(np.prod(envs.single_observation_space.shape))
    act_dim = int(np.prod(envs.single_action_space.shape))
    obs_buf = np.zeros((n, n_episodes, horizon, obs_dim), np.float32)
    act_buf = np.zeros((n, n_episodes, horizon, act_dim), np.float32)
    rew_buf = np.zeros((n, n_episodes, horizon), np.float32)
    mask = np.zeros((n, n_episodes, horizon), bool)
    done = np.zeros((n, n_episodes, horizon), bool)
    success = np.zeros((n, n_episodes), bool)
    prev_action, prev_reward, prev_done = torch.zeros(n, act_dim), torch.zeros(n), torch.zeros(n)
    for e in range(n_episodes):
        obs, _ = envs.reset(seed=seed if e == 0 else None)
        alive = np.ones(n, bool)
        for t in range(horizon):
            obs_t = torch.as_tensor(np.asarray(obs, np.float32).reshape(n, obs_dim))
            with torch.no_grad():
                action = policy(obs_t, prev_action, prev_reward, prev_done)
            obs, reward, terminated, truncated, info = envs.step(action.numpy())
            obs_buf[:, e, t], act_buf[:, e, t], rew_buf[:, e, t], mask[:, e, t] = obs_t, action, reward, alive
            ended = alive & (np.asarray(terminated) | np.asarray(truncated) | (t == horizon - 1))
            if "is_success" in info:
                success[ended, e] = np.asarray(info["is_success"], bool)[ended]
            done[:, e, t] = ended
            alive &= ~ended
            prev_action = action
            prev_reward = torch.as_tensor(np.asarray(reward, np.float32))
            prev_done = torch.as_tensor(ended, dtype=torch.float32)
    return Episodes(*(torch.from_numpy(a) for a in (obs_buf, act_buf, rew_buf, mask, done, success)))


class EnvPool:
    """Vector environments of one family, built once per size and reused (``mode`` in :data:`ENV_MODES`).

    ``run(tasks, policy, n_episodes, seed)`` is :func:`collect` on the pool's ``len(tasks)`` environments. Callers
    with many tasks step them in :func:`env_groups` (the family's ``max_envs`` at a time).
    """

    def __init__(self, family: TaskFamily, mode: str = "native"):
        self.family, self.mode = family, mode
        self._envs: dict[int, gymnasium.vector.VectorEnv] = {}

    def run(self, tasks: Sequence[EnvTask], policy: Policy, n_episodes: int = 1, seed: int = 0) -> Episodes:
        n = len(tasks)
        if n not in self._envs:
            self._envs[n] = make_vector_env(self.family, n, self.mode)
        return collect(self._envs[n], tasks, policy, self.family.horizon, n_episodes, seed)

    def close(self) -> None:
        for envs in self._envs.values():
            envs.close()
        self._envs.clear()


def env_groups(family: TaskFamily, n_tasks: int, per_task: int = 1) -> list[slice]:
    """Consecutive groups of ``n_tasks`` tasks of ``per_task`` environments each, as few as fit the family's
    :attr:`~metasuite.core.rl.tasks.TaskFamily.max_envs` environments at once (at least one task per group): memory
    then does not grow with the number of tasks (a Meta-World simulator is ~19 MB; 500 at once held 13 GB)."""
    size = n_tasks if family.max_envs is None else max(1, family.max_envs // max(1, per_task))
    return [slice(lo, min(lo + size, n_tasks)) for lo in range(0, n_tasks, size)]
