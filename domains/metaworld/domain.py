"""The metaworld domain: Meta-World's ML1 / ML10 manipulation tasks as a meta-RL benchmark, sized for a CPU.

Deviation from the paper's protocol, for this 2-core machine: episodes last ``horizon`` = 150 steps (Meta-World's
own is 500; a reach needs about 30-60), and the default budgets below are a few percent of the paper's
environment steps. The headline metric is the success rate (Meta-World's any-step success, see
:mod:`~metasuite.domains.metaworld.env`).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from metasuite.core.errors import UnknownNameError
from metasuite.core.options import Option
from metasuite.core.rl.domain import RLDomain
from metasuite.domains.metaworld.env import (
    BENCHMARK_SEED,
    BENCHMARKS,
    GENERATOR_VERSION,
    VAL_PER_CLASS,
    MetaWorldFamily,
    metaworld_version,
    resolve_env_name,
)

__all__ = ["MetaWorldDomain"]


class MetaWorldDomain(RLDomain):
    """Meta-World ML1 (new goals of one manipulation task) or ML10 (5 held-out task classes), Yu et al. 2019."""

    name = "metaworld"
    title = "Meta-World manipulation (meta-RL)"
    description = "A Sawyer arm adapts to an unseen goal (ML1) or task (ML10) from a few rollouts: MAML-RL, RL^2."
    option_specs = (
        Option("benchmark", str, "ML1", "Meta-World benchmark", choices=BENCHMARKS),
        Option("task", str, "reach-v3", "ML1 environment: reach, push, pick-place or any v3 name (ML10 ignores it)"),
        Option("horizon", int, 150, "steps per episode (Meta-World's own is 500)"),
        Option("env_workers", int, 1, "processes stepping the environments, 2 = both cores (same results)"),
    )

    def __init__(self, benchmark: str = "ML1", task: str = "reach-v3", horizon: int = 150, env_workers: int = 1):
        if benchmark not in BENCHMARKS:
            raise UnknownNameError(f"unknown Meta-World benchmark {benchmark!r}; choose one of {', '.join(BENCHMARKS)}")
        if horizon < 1 or env_workers < 1:
            raise ValueError(f"need horizon >= 1 and env_workers >= 1, got {horizon} and {env_workers}")
        task = resolve_env_name(task)  # also checks that Meta-World is importable
        super().__init__(benchmark=benchmark, task=task, horizon=horizon, env_workers=env_workers)

    def task_family(self) -> MetaWorldFamily:
        o = self.options
        return MetaWorldFamily(o["benchmark"], o["task"], o["horizon"], o["env_workers"])

    def default_setting(self) -> dict[str, Any]:
        """10 rollouts per task for an adaptation step and 10 for the meta-objective (the paper: 10 per task)."""
        return {"n_way": None, "k_shot": 10, "n_query": 10}

    def default_train_config(self, algorithm: str) -> dict[str, Any]:
        return {"steps": 100, "meta_batch_size": 10, "outer_lr": 1e-3, "val_every": 10, "val_tasks": 10}

    def default_baselines(self) -> dict[str, Any]:
        return {
            "multitask_steps": 40,
            "meta_batch_size": 10,
            "rollouts": 10,
            "val_tasks": 5,
            "finetune_lrs": (0.03, 0.1, 0.3),
            "scratch_lrs": (0.003, 0.01, 0.03),
        }

    def fingerprint(self) -> str:
        """Meta-World and MuJoCo versions, the split rule and the options that change the tasks (not the number
        of worker processes, which changes nothing but speed)."""
        o = self.options
        blob = {
            "domain": self.name,
            "generator": GENERATOR_VERSION,
            "versions": metaworld_version(),
            "benchmark_seed": BENCHMARK_SEED,
            "val_per_class": VAL_PER_CLASS,
            "benchmark": o["benchmark"],
            "task": o["task"] if o["benchmark"] == "ML1" else None,
            "horizon": o["horizon"],
        }
        return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()[:16]
