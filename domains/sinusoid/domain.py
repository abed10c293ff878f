"""The sinusoid domain: task sampler, defaults and benchmarks."""

from __future__ import annotations

import math
from typing import Any

import torch

from metasuite.core.domain import SPLITS, Domain
from metasuite.core.tasks import Task, TaskBatch, derive_seed

__all__ = ["AMPLITUDE", "PHASE", "X_RANGE", "SinusoidDomain", "SinusoidSampler"]

AMPLITUDE = (0.1, 5.0)
PHASE = (0.0, math.pi)
X_RANGE = (-5.0, 5.0)
GENERATOR_VERSION = "sinusoid-v1"


def _uniform(lo: float, hi: float, shape: tuple[int, ...], g: torch.Generator) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(shape, generator=g)


class SinusoidSampler:
    """Draws sine-regression tasks for one split.

    The split name is mixed into every draw, so the train, val and test streams never share a
    task even when the caller passes identically seeded generators.

    ``sample`` returns a :class:`~metasuite.core.tasks.Task` with ``support_x`` ``(k_shot, 1)``,
    ``support_y`` ``(k_shot, 1)``, ``query_x``/``query_y`` ``(n_query, 1)`` and metadata
    ``{"amplitude", "phase", "split"}``. ``sample_batch`` draws many tasks in one vectorised call.
    """

    def __init__(self, split: str, k_shot: int, n_query: int):
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
        if k_shot < 1 or n_query < 1:
            raise ValueError(f"k_shot and n_query must be >= 1 (got k_shot={k_shot}, n_query={n_query})")
        self.split, self.k_shot, self.n_query = split, k_shot, n_query

    def _split_generator(self, g: torch.Generator) -> torch.Generator:
        draw = int(torch.randint(0, 2**62, (1,), generator=g))
        return torch.Generator().manual_seed(derive_seed(GENERATOR_VERSION, self.split, draw))

    def _draw(self, n_tasks: int, g: torch.Generator) -> tuple[torch.Tensor, ...]:
        sg = self._split_generator(g)
        amp = _uniform(*AMPLITUDE, (n_tasks, 1, 1), sg)
        phase = _uniform(*PHASE, (n_tasks, 1, 1), sg)
        x = _uniform(*X_RANGE, (n_tasks, self.k_shot + self.n_query, 1), sg)
        y = amp * torch.sin(x - phase)
        return amp, phase, x, y

    def sample(self, generator: torch.Generator) -> Task:
        amp, phase, x, y = self._draw(1, generator)
        k = self.k_shot
        return Task(
            x[0, :k],
            y[0, :k],
            x[0, k:],
            y[0, k:],
            metadata={"amplitude": float(amp), "phase": float(phase), "split": self.split},
        )

    def sample_batch(self, n_tasks: int, generator: torch.Generator) -> TaskBatch:
        amp, phase, x, y = self._draw(n_tasks, generator)
        k = self.k_shot
        meta = tuple(
            {"amplitude": float(a), "phase": float(p), "split": self.split}
            for a, p in zip(amp.flatten(), phase.flatten(), strict=True)
        )
        return TaskBatch(x[:, :k], y[:, :k], x[:, k:], y[:, k:], metadata=meta)


class SinusoidDomain(Domain):
    """Few-shot sine regression (Finn et al. 2017)."""

    name = "sinusoid"
    title = "Sinusoid regression"
    description = "Fit y = A sin(x - phase) from K points: the MAML paper's regression benchmark."
    kind = "regression"

    def sampler(self, split: str, *, n_way: int | None = None, k_shot: int = 10, n_query: int = 10) -> SinusoidSampler:
        return SinusoidSampler(split, k_shot, n_query)

    def backbone_spec(self, algorithm: str, n_way: int | None) -> tuple[str, dict[str, Any]]:
        return "mlp", {"in_features": 1, "hidden": [40, 40], "out_features": 1}

    def default_setting(self) -> dict[str, Any]:
        return {"n_way": None, "k_shot": 10, "n_query": 10}

    def default_hparams(self, algorithm: str) -> dict[str, Any]:
        if algorithm == "reptile":
            return {"inner_lr": 0.02, "inner_steps": 1, "test_inner_steps": 1}
        return {"inner_lr": 0.01, "inner_steps": 1, "test_inner_steps": 1}

    def default_train_config(self, algorithm: str) -> dict[str, Any]:
        return {
            "steps": 70_000,
            "meta_batch_size": 25,
            "outer_lr": 1e-3,
            "val_every": 2000,
            "val_tasks": 200,
            "checkpoint_every": 1000,
        }

    def default_baselines(self) -> dict[str, Any]:
        return {
            "scratch_steps": 100,
            "scratch_lr": 1e-2,
            "pretrain_steps": 5000,
            "pretrain_batch_size": 250,
            "finetune_steps": 10,
            "finetune_lr": 1e-2,
        }

    def fingerprint(self) -> str:
        return f"{derive_seed(GENERATOR_VERSION, repr(AMPLITUDE), repr(PHASE), repr(X_RANGE)):016x}"

    def bench_workload(self) -> dict[str, Any]:
        """Second-order MAML, meta-batch 32 (``metasuite bench distributed``)."""
        return {"name": "maml_sinusoid", "algo": "maml", "meta_batch_size": 32, "steps": 400, "quick_steps": 60}
