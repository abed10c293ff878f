"""``metasuite bench rl``: simulation throughput, single environment vs vectorised, and meta-iteration time.

For every registered RL domain (found through the registry, so the core imports none), with the same
Gaussian MLP policy choosing every action:

* environment steps per second of one ``gymnasium.Env`` stepped in a Python loop (the non-vectorised
  reference), of Gymnasium's ``SyncVectorEnv`` and ``AsyncVectorEnv`` (one process per environment; 2 = both
  cores of a 2-core machine) and of the family's natively batched ``VectorEnv``, all through
  :func:`~metasuite.core.rl.rollouts.collect`;
* wall time of one MAML-RL meta-iteration (meta-batch 20 tasks x R + R rollouts, 5 outer epochs) on native
  and sync environments.

Sizes follow each family's cost (:func:`bench_sizes`): the large batch is as many environments as one single
environment steps in about ``STEP_BUDGET_S`` seconds (at most 400: the point robot gets 400, a MuJoCo arm far
fewer), and R is 20 rollouts for cheap families, fewer for costly ones; the sizes are recorded in the JSON.
The single environment is timed after one untimed episode (a Meta-World benchmark is built on its first reset).
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

__all__ = ["STEP_BUDGET_S", "bench_rl", "bench_sizes"]

#: Seconds of single-environment stepping that one collection of the large batch may cost.
STEP_BUDGET_S = 5.0


def _single_env_rate(family: TaskFamily, learner: MAMLRL, episodes: int) -> float:
    """Steps per second of one environment, one policy call and one ``env.step`` per step."""
    env = family.make_env()
    env.task = family.sample("train", generator(0, "bench"))
    gen = generator(0, "bench-actions")
    steps, t0 = 0, 0.0
    for episode in range(episodes + 1):  # episode 0 warms up (first reset, first calls) and is not timed
        if episode == 1:
            steps, t0 = 0, time.perf_counter()
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


def _iteration_seconds(family: TaskFamily, mode: str, repeats: int, rollouts: int) -> float:
    learner = MAMLRL(family.obs_dim, family.act_dim)
    opt = torch.optim.Adam(learner.parameters(), lr=1e-3)
    pool = EnvPool(family, mode)
    times = []
    for step in range(repeats + 1):
        tasks = sample_env_tasks(family, "train", 20, generator(0, "train", step))
        t0 = time.perf_counter()
        learner.iteration(pool, tasks, opt, generator(0, "rollouts", step), n_support=rollouts, n_query=rollouts)
        times.append(time.perf_counter() - t0)
    pool.close()
    return float(np.median(times[1:]))


def bench_sizes(single_rate: float, horizon: int) -> dict[str, int]:
    """Batch sizes for a family whose single environment steps ``single_rate`` times a second: ``small`` (20 or
    fewer), ``large`` (the environments one single environment steps through in ``STEP_BUDGET_S`` seconds, 2 to
    400) and ``rollouts`` per task of a meta-iteration (20 for cheap families, down to 2)."""
    large = int(np.clip(round(STEP_BUDGET_S * single_rate / horizon), 2, 400))
    rollouts = int(np.clip(round(4 * STEP_BUDGET_S * single_rate / (40 * horizon)), 2, 20))
    return {"small": min(20, large), "large": large, "rollouts": rollouts}


def bench_family(family: TaskFamily, quick: bool) -> dict[str, Any]:
    learner = MAMLRL(family.obs_dim, family.act_dim)
    episodes, repeats = (5, 2) if quick else (50, 5)
    rates = {"single": _single_env_rate(family, learner, episodes)}
    sizes = bench_sizes(rates["single"], family.horizon)
    small, large = sizes["small"], sizes["large"]
    for mode, n in (
        ("sync", small),
        ("sync", large),
        ("async", 2),
        ("async", small),
        ("native", small),
        ("native", large),
    ):
        if (mode == "native" and family.make_vector_env(1) is None) or f"{mode}_{n}" in rates:
            continue
        rates[f"{mode}_{n}"] = _vector_rate(family, learner, mode, n, repeats)
    iteration = {
        mode: _iteration_seconds(family, mode, 1 if quick else 3, sizes["rollouts"]) for mode in ("native", "sync")
    }
    return {
        "sizes": sizes,
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
