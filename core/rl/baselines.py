"""What MAML-RL and RL^2 are compared with, on the same test tasks and the same sample budget.

* :class:`MultiTaskPolicy` -- one Gaussian MLP policy trained with PPO on the training tasks (the goal is not
  observed), evaluated without adaptation: what meta-learning has to beat.
* :class:`FineTuned` -- that policy fine-tuned on each new task: after every ``N`` fresh rollouts one policy
  gradient step (the same REINFORCE-with-baseline step as MAML-RL's inner step), its step size chosen on
  validation tasks (Finn et al. 2017's "pretrained" baseline).
* :class:`ScratchPPO` -- a fresh policy per new task trained by PPO (Adam, learning rate chosen on
  validation tasks) on the same rollouts: after every ``N`` rollouts one PPO update.

Every method answers ``curve(pool, tasks, steps, n_rollouts, gen) -> {"returns", "success"}`` ``(G, steps + 1)``
like the meta-learners. The per-task policies are stacked along a leading task dimension; Adam and SGD act on
every element separately, so one optimiser over the stack is exactly ``G`` independent ones.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor
from torch.func import grad, vmap

from metasuite.core.rl.pg import PGBatch, adaptation_curve, policy_log_prob, ppo_loss, rollout_batch, stacked, vpg_loss
from metasuite.core.rl.policies import GaussianMLPPolicy, Params
from metasuite.core.rl.rollouts import EnvPool
from metasuite.core.rl.tasks import EnvTask, TaskFamily, fixed_env_tasks, sample_env_tasks
from metasuite.core.tasks import derive_seed, generator

__all__ = ["FineTuned", "MultiTaskPolicy", "RLBaselineConfig", "ScratchPPO", "build_rl_baselines"]


@dataclass
class RLBaselineConfig:
    """Budgets and settings of the baselines (a domain overrides them in ``default_baselines()``)."""

    multitask_steps: int = 150  # PPO iterations of the multi-task policy
    meta_batch_size: int = 20  # training tasks per iteration
    rollouts: int = 20  # rollouts per task per iteration
    lr: float = 3e-3  # Adam learning rate of the multi-task policy
    ppo_epochs: int = 5
    clip: float = 0.2
    hidden: tuple[int, ...] = (64, 64)
    init_std: float = 1.0
    gamma: float = 0.99
    gae_lambda: float = 1.0
    finetune_lrs: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3, 1.0)  # candidates, chosen on validation tasks
    scratch_lrs: tuple[float, ...] = (0.003, 0.01, 0.03, 0.1)
    val_tasks: int = 20
    seed: int = 0
    chosen: dict[str, float] = field(default_factory=dict)  # filled in: the step sizes picked on validation


def _pg_update(policy: GaussianMLPPolicy, lr: float) -> Callable[[int, Params, PGBatch], Params]:
    """One REINFORCE-with-baseline step of size ``lr`` on every task's own rollouts (MAML-RL's inner step)."""

    def step(p: Params, batch: tuple[Tensor, ...]) -> Params:
        obs, actions, advantages, mask, old_log_prob = batch[:5]
        loss = lambda q: vpg_loss(policy_log_prob(policy, q, obs, actions), old_log_prob, advantages, mask)
        g = grad(loss)(p)
        return {k: p[k] - lr * g[k] for k in p}

    return lambda k, params, batch: vmap(step)(params, batch.tensors())


class MultiTaskPolicy:
    """One policy for every training task, trained by PPO on a fresh meta-batch of tasks each iteration."""

    kind = "baseline"

    def __init__(self, family: TaskFamily, pool: EnvPool, cfg: RLBaselineConfig, name: str = "multi-task"):
        self.name, self.cfg = name, cfg
        self.policy = GaussianMLPPolicy(family.obs_dim, family.act_dim, cfg.hidden, cfg.init_std, cfg.seed)
        opt = torch.optim.Adam(self.policy.parameters(), lr=cfg.lr)
        for step in range(cfg.multitask_steps):
            tasks = sample_env_tasks(family, "train", cfg.meta_batch_size, generator(cfg.seed, "multitask", step))
            theta = stacked(self.params(), len(tasks))
            batch = rollout_batch(
                pool,
                tasks,
                self.policy,
                theta,
                cfg.rollouts,
                generator(cfg.seed, "mt", step),
                cfg.gamma,
                cfg.gae_lambda,
            )
            for _ in range(cfg.ppo_epochs):
                log_prob = policy_log_prob(self.policy, dict(self.policy.named_parameters()), batch.obs, batch.actions)
                loss = ppo_loss(log_prob, batch.old_log_prob, batch.advantages, batch.mask, cfg.clip)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()

    def params(self) -> Params:
        return {k: v.detach() for k, v in self.policy.named_parameters()}

    def curve(
        self, pool: EnvPool, tasks: Sequence[EnvTask], steps: int, n_rollouts: int, gen: torch.Generator
    ) -> dict[str, Tensor]:
        """No adaptation: every column is ``n_rollouts`` fresh rollouts of the same policy."""
        same = lambda k, params, batch: params
        return adaptation_curve(
            pool,
            tasks,
            self.policy,
            stacked(self.params(), len(tasks)),
            steps,
            n_rollouts,
            same,
            gen,
            self.cfg.gamma,
            self.cfg.gae_lambda,
        )


class FineTuned:
    """The multi-task policy adapted by one policy-gradient step per ``N`` rollouts (step size chosen on val)."""

    kind = "baseline"

    def __init__(self, base: MultiTaskPolicy, lr: float, name: str = "multi-task + fine-tune"):
        self.base, self.lr, self.name = base, lr, name

    def curve(
        self, pool: EnvPool, tasks: Sequence[EnvTask], steps: int, n_rollouts: int, gen: torch.Generator
    ) -> dict[str, Tensor]:
        b = self.base
        return adaptation_curve(
            pool,
            tasks,
            b.policy,
            stacked(b.params(), len(tasks)),
            steps,
            n_rollouts,
            _pg_update(b.policy, self.lr),
            gen,
            b.cfg.gamma,
            b.cfg.gae_lambda,
        )


class ScratchPPO:
    """A fresh policy per task (seeded), one PPO update (``ppo_epochs`` Adam steps) per ``N`` rollouts."""

    kind = "baseline"

    def __init__(self, family: TaskFamily, cfg: RLBaselineConfig, lr: float, name: str = "PPO from scratch"):
        self.cfg, self.lr, self.name = cfg, lr, name
        self.policy = GaussianMLPPolicy(
            family.obs_dim, family.act_dim, cfg.hidden, cfg.init_std, derive_seed(cfg.seed, "scratch")
        )

    def curve(
        self, pool: EnvPool, tasks: Sequence[EnvTask], steps: int, n_rollouts: int, gen: torch.Generator
    ) -> dict[str, Tensor]:
        cfg = self.cfg
        leaves = {
            k: v.detach().clone().requires_grad_(True)
            for k, v in stacked(dict(self.policy.named_parameters()), len(tasks)).items()
        }
        opt = torch.optim.Adam(list(leaves.values()), lr=self.lr)
        per_task = vmap(lambda p, b: ppo_loss(policy_log_prob(self.policy, p, b[0], b[1]), b[4], b[2], b[3], cfg.clip))

        def update(k: int, params: Params, batch: PGBatch) -> Params:
            for _ in range(cfg.ppo_epochs):
                opt.zero_grad(set_to_none=True)
                per_task(leaves, batch.tensors()).sum().backward()  # a sum: each task's slice gets its own gradient
                opt.step()
            return leaves

        return adaptation_curve(
            pool,
            tasks,
            self.policy,
            {k: v.detach() for k, v in leaves.items()},
            steps,
            n_rollouts,
            update,
            gen,
            cfg.gamma,
            cfg.gae_lambda,
        )


def _best_lr(
    make: Callable[[float], object],
    lrs: Sequence[float],
    val: list[EnvTask],
    pool: EnvPool,
    steps: int,
    n_rollouts: int,
    seed: int,
) -> float:
    """The step size whose method has the highest mean return after 1..steps updates on the validation tasks."""
    scores = []
    for lr in lrs:
        curve = make(lr).curve(pool, val, steps, n_rollouts, generator(seed, "choose-lr"))  # type: ignore[attr-defined]
        scores.append(float(curve["returns"][:, 1:].mean()))
    return lrs[max(range(len(lrs)), key=scores.__getitem__)]


def build_rl_baselines(
    family: TaskFamily, pool: EnvPool, cfg: RLBaselineConfig, steps: int, n_rollouts: int
) -> list[object]:
    """The multi-task policy (trained now), its fine-tuned version and PPO from scratch, step sizes chosen on
    ``cfg.val_tasks`` fixed validation tasks; the chosen values are recorded in ``cfg.chosen``."""
    multitask = MultiTaskPolicy(family, pool, cfg)
    val = fixed_env_tasks(family, "val", cfg.val_tasks, derive_seed(cfg.seed, "val"))
    steps = max(steps, 1)
    ft_lr = _best_lr(lambda lr: FineTuned(multitask, lr), cfg.finetune_lrs, val, pool, steps, n_rollouts, cfg.seed)
    sc_lr = _best_lr(lambda lr: ScratchPPO(family, cfg, lr), cfg.scratch_lrs, val, pool, steps, n_rollouts, cfg.seed)
    cfg.chosen = {"finetune_lr": ft_lr, "scratch_lr": sc_lr}
    return [multitask, FineTuned(multitask, ft_lr), ScratchPPO(family, cfg, sc_lr)]
