"""``metasuite bench rl``: simulation throughput, single environment vs vectorised, and meta-iteration time.

For every registered RL domain (found through the registry, so the core imports none), with the same
Gaussian MLP policy choosing every action:

* environment steps per second of one ``gymnasium.Env`` stepped in a Python loop (the non-vectorised
  reference), of Gymnasium's ``SyncVectorEnv`` and ``AsyncVectorEnv`` (one process per environment; 2 = both
  cores of a 2-core machine) and of the family's natively batched ``VectorEnv``, all through
  :func:`~metasuite.core.rl.rollouts.collect`;
* wall time of one MAML-RL meta-iteration (meta-batch 20 tasks x 20 + 20 rollouts, 5 outer epochs) on native
  and sync environments.

``ratios`` holds each vectorised rate over the single-environment rate, and sync over native iteration time.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from metasuite.core import registry
from metasuite.core.rl.domain import RLDomain
from metasuite.core.rl.maml_rl import MAMLRL
from metasuite.core.rl.rollouts import EnvPool, collect, make_vector_env
from metasuite.core.rl.tasks import TaskFamily, sample_env_tasks
from metasuite.core.tasks import generator

__all__ = ["bench_rl"]


def _single_env_rate(family: TaskFamily, learner: MAMLRL, episodes: int) -> float:
    """Steps per second of one environment, one policy call and one ``env.step`` per step."""
    env = family.make_env()
    env.task = family.sample("train", generator(0, "bench"))
    gen = generator(0, "bench-actions")
    steps, t0 = 0, time.perf_counter()
    for _ in range(episodes):
        obs, _ = env.reset(seed=0)
        done = False
        while not done:
            with torch.no_grad():
                mean, log_std = learner.policy(torch.as_tensor(obs).unsqueeze(0))
                action = (mean + log_std.exp() * torch.randn(mean.shape, generator=gen))[0].numpy()
            obs, _, terminated, truncated, _ = env.step(action)
            done, steps = terminated or truncated, steps + 1
    env.close()
    return steps / (time.perf_counter() - t0)


def _vector_rate(family: TaskFamily, learner: MAMLRL, mode: str, n_envs: int, repeats: int) -> float:
    """Steps per second of ``n_envs`` environments in ``mode`` collecting full episodes, one batched policy call
    per step for all of them."""
    envs = make_vector_env(family, n_envs, mode)
    tasks = sample_env_tasks(family, "train", n_envs, generator(0, "bench"))
    gen = generator(0, "bench-actions")

    def policy(obs: torch.Tensor, *_: torch.Tensor) -> torch.Tensor:
        mean, log_std = learner.policy(obs)
        return mean + log_std.exp() * torch.randn(mean.shape, generator=gen)

    collect(envs, tasks, policy, family.horizon)  # warm-up (process start, first calls)
    t0 = time.perf_counter()
    for r in range(repeats):
        collect(envs, tasks, policy, family.horizon, seed=r)
    seconds = time.perf_counter() - t0
    envs.close()
    return repeats * n_envs * family.horizon / seconds


def _iteration_seconds(family: TaskFamily, mode: str, repeats: int) -> float:
    learner = MAMLRL(family.obs_dim, family.act_dim)
    opt = torch.optim.Adam(learner.parameters(), lr=1e-3)
    pool = EnvPool(family, mode)
    times = []
    for step in range(repeats + 1):
        tasks = sample_env_tasks(family, "train", 20, generator(0, "train", step))
        t0 = time.perf_counter()
        learner.iteration(pool, tasks, opt, generator(0, "rollouts", step), n_support=20, n_query=20)
        times.append(time.perf_counter() - t0)
    pool.close()
    return float(np.median(times[1:]))


def bench_family(family: TaskFamily, quick: bool) -> dict[str, Any]:
    learner = MAMLRL(family.obs_dim, family.act_dim)
    episodes, repeats = (5, 2) if quick else (50, 5)
    rates = {"single": _single_env_rate(family, learner, episodes)}
    for mode, n in (("sync", 20), ("sync", 400), ("async", 2), ("async", 20), ("native", 20), ("native", 400)):
        if mode == "native" and family.make_vector_env(1) is None:
            continue
        rates[f"{mode}_{n}"] = _vector_rate(family, learner, mode, n, repeats)
    iteration = {mode: _iteration_seconds(family, mode, 1 if quick else 3) for mode in ("native", "sync")}
    return {
        "env_steps_per_s": {k: round(v) for k, v in rates.items()},
        "meta_iteration_s": {k: round(v, 3) for k, v in iteration.items()},
        "ratios": {
            **{f"{k}_vs_single": round(v / rates["single"], 2) for k, v in rates.items() if k != "single"},
            "meta_iteration_sync_vs_native": round(iteration["sync"] / iteration["native"], 2),
        },
    }


def bench_rl(quick: bool = False) -> dict[str, Any]:
    """Throughput of every registered RL domain's environments (see the module docstring)."""
    torch.set_num_threads(min(2, torch.get_num_threads()))
    families = {}
    for name in registry.available_domains():
        cls = registry.get_domain_class(name)
        if issubclass(cls, RLDomain):
            families[name] = cls().task_family()
    if not families:
        raise RuntimeError("no RL domain is registered (metasuite.domains entry points)")
    results = {name: bench_family(family, quick) for name, family in families.items()}
    first = next(iter(results.values()))
    return {"domains": results, "ratios": first["ratios"]}
