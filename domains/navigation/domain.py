"""The navigation domain: the MAML paper's 2-D point robot as a meta-RL benchmark."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from metasuite.core.options import Option
from metasuite.core.rl.domain import RLDomain
from metasuite.domains.navigation.env import GENERATOR_VERSION, NavigationFamily

__all__ = ["NavigationDomain"]


class NavigationDomain(RLDomain):
    """2-D point navigation to an unseen goal (Finn et al. 2017, §5.3)."""

    name = "navigation"
    title = "2-D point navigation (meta-RL)"
    description = "A point robot reaches a new goal after a few policy-gradient steps: MAML-RL, RL^2, baselines."
    option_specs = (
        Option("horizon", int, 100, "steps per episode"),
        Option("success_radius", float, 0.05, "an episode succeeds when it ends this close to its goal"),
    )

    def __init__(self, horizon: int = 100, success_radius: float = 0.05):
        if horizon < 1 or not success_radius > 0:
            raise ValueError(f"need horizon >= 1 and success_radius > 0, got {horizon} and {success_radius}")
        super().__init__(horizon=horizon, success_radius=success_radius)

    def task_family(self) -> NavigationFamily:
        return NavigationFamily(self.options["horizon"], self.options["success_radius"])

    def default_train_config(self, algorithm: str) -> dict[str, Any]:
        if algorithm == "rl2":  # at 300 iterations RL^2 had not learned to adapt; its best validation came at 800
            return {"steps": 1000, "meta_batch_size": 20, "outer_lr": 1e-3, "val_every": 25, "val_tasks": 40}
        return {"steps": 500, "meta_batch_size": 20, "outer_lr": 1e-3, "val_every": 25, "val_tasks": 40}

    def fingerprint(self) -> str:
        blob = json.dumps(
            {"domain": self.name, "generator": GENERATOR_VERSION, "options": self.options}, sort_keys=True
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]
