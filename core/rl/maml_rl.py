"""MAML for reinforcement learning, with a PPO-style outer objective (ProMP), and its first-order variant.

The inner step is one policy gradient on the task's own rollouts ``D`` (REINFORCE with a fitted linear
baseline and GAE, :func:`~metasuite.core.rl.pg.vpg_loss`)::

    phi = theta - inner_lr * grad_theta L_VPG(theta; D)             D ~ pi_theta
    meta-objective = mean over tasks of L_PPO-clip(phi(theta); D')   D' ~ pi_phi

and the outer update differentiates the clipped surrogate on the adapted policy's rollouts ``D'`` *through*
the inner step (``torch.func.grad`` inside ``vmap`` over tasks), ``outer_epochs`` Adam steps per meta-batch.
The first-order variant treats the inner gradient as a constant (``d phi / d theta = I``).

Example
-------
>>> learner = MAMLRL(obs_dim=2, act_dim=2, inner_lr=0.1)          # doctest: +SKIP
>>> stats = learner.iteration(pool, tasks, optimizer, gen, n_support=20, n_query=20)   # doctest: +SKIP
>>> curve = learner.curve(pool, test_tasks, steps=3, n_rollouts=20, gen=gen)          # doctest: +SKIP

References: C. Finn, P. Abbeel, S. Levine. "Model-Agnostic Meta-Learning for Fast Adaptation of Deep
Networks." ICML 2017, arXiv:1703.03400, §5.3. J. Rothfuss et al. "ProMP: Proximal Meta-Policy Search."
ICLR 2019, arXiv:1810.06784.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import grad, vmap

from metasuite.core.rl.pg import PGBatch, adaptation_curve, policy_log_prob, ppo_loss, rollout_batch, stacked, vpg_loss
from metasuite.core.rl.policies import GaussianMLPPolicy, Params
from metasuite.core.rl.rollouts import EnvPool
from metasuite.core.rl.tasks import EnvTask

__all__ = ["FOMAMLRL", "MAMLRL"]


class MAMLRL(nn.Module):
    """MAML-RL (Finn et al. 2017, §5.3) with ProMP's clipped outer surrogate; ``first_order=True``: FO-MAML-RL."""

    name = "maml-rl"
    paper = "Finn, Abbeel & Levine, ICML 2017, arXiv:1703.03400; Rothfuss et al., ICLR 2019, arXiv:1810.06784"

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        *,
        hidden: Sequence[int] = (64, 64),
        init_std: float = 1.0,
        inner_lr: float = 0.1,
        inner_steps: int = 1,
        first_order: bool = False,
        gamma: float = 0.99,
        gae_lambda: float = 1.0,
        clip: float = 0.3,
        outer_epochs: int = 5,
        seed: int = 0,
    ):
        super().__init__()
        self.policy = GaussianMLPPolicy(obs_dim, act_dim, hidden, init_std, seed)
        self.inner_lr, self.inner_steps, self.first_order = inner_lr, inner_steps, first_order
        self.gamma, self.gae_lambda, self.clip, self.outer_epochs = gamma, gae_lambda, clip, outer_epochs
        self._hparams = {
            "hidden": list(hidden),
            "init_std": init_std,
            "inner_lr": inner_lr,
            "inner_steps": inner_steps,
            "first_order": first_order,
            "gamma": gamma,
            "gae_lambda": gae_lambda,
            "clip": clip,
            "outer_epochs": outer_epochs,
        }

    def hparams(self) -> dict[str, Any]:
        """The constructor's keywords (besides dimensions and seed), JSON-ready."""
        return dict(self._hparams)

    def params(self) -> Params:
        return dict(self.policy.named_parameters())

    # ------------------------------------------------------------------ pure functions of one task
    def adapt_fn(self, params: Params, support: tuple[Tensor, ...], steps: int, create_graph: bool) -> Params:
        """``steps`` policy-gradient steps on one task's support rollouts (:meth:`PGBatch.tensors`, no ``G``)."""
        obs, actions, advantages, mask, old_log_prob = support[:5]

        def inner_loss(p: Params) -> Tensor:
            return vpg_loss(policy_log_prob(self.policy, p, obs, actions), old_log_prob, advantages, mask)

        for _ in range(steps):
            g = grad(inner_loss)(params)
            if not create_graph:
                g = {k: v.detach() for k, v in g.items()}
            params = {k: params[k] - self.inner_lr * g[k] for k in params}
        return params

    def task_objective(self, params: Params, support: tuple[Tensor, ...], query: tuple[Tensor, ...]) -> Tensor:
        """The meta-objective of one task: PPO-clip on the query rollouts of the policy adapted on the support."""
        phi = self.adapt_fn(params, support, self.inner_steps, create_graph=not self.first_order)
        obs, actions, advantages, mask, old_log_prob = query[:5]
        log_prob = policy_log_prob(self.policy, phi, obs, actions)
        return ppo_loss(log_prob, old_log_prob, advantages, mask, self.clip)

    # ------------------------------------------------------------------ batched over tasks
    def meta_loss(self, support: PGBatch, query: PGBatch) -> Tensor:
        """Mean meta-objective over the ``G`` tasks of a meta-batch (differentiable in the meta-parameters)."""
        losses = vmap(self.task_objective, in_dims=(None, 0, 0))(self.params(), support.tensors(), query.tensors())
        return losses.mean()

    def adapted(self, params: Params, support: PGBatch, steps: int) -> Params:
        """Per-task adapted parameters (leading dim ``G``) from stacked ``params`` and the support rollouts."""
        with torch.no_grad():  # torch.func.grad still differentiates the inner loss
            return vmap(lambda p, s: self.adapt_fn(p, s, steps, create_graph=False))(params, support.tensors())

    def iteration(
        self,
        pool: EnvPool,
        tasks: Sequence[EnvTask],
        optimizer: torch.optim.Optimizer,
        gen: torch.Generator,
        *,
        n_support: int,
        n_query: int,
    ) -> dict[str, float]:
        """One meta-update: support rollouts with ``theta``, adapt, query rollouts with ``phi``, then
        ``outer_epochs`` optimiser steps on the meta-objective. Returns the mean returns before / after."""
        theta = stacked({k: v.detach() for k, v in self.params().items()}, len(tasks))
        rollout = dict(gamma=self.gamma, lam=self.gae_lambda)
        support = rollout_batch(pool, tasks, self.policy, theta, n_support, gen, **rollout)
        phi = self.adapted(theta, support, self.inner_steps)
        query = rollout_batch(pool, tasks, self.policy, phi, n_query, gen, **rollout)
        first = None
        for _ in range(self.outer_epochs):
            optimizer.zero_grad(set_to_none=True)
            loss = self.meta_loss(support, query)
            loss.backward()
            optimizer.step()
            first = float(loss.detach()) if first is None else first
        return {
            "loss": float(first),
            "return_before": float(support.returns.mean()),
            "return_after": float(query.returns.mean()),
        }

    def curve(
        self, pool: EnvPool, tasks: Sequence[EnvTask], steps: int, n_rollouts: int, gen: torch.Generator
    ) -> dict[str, Tensor]:
        """Return and success ``(G, steps + 1)`` before and after each of ``steps`` inner steps on
        ``n_rollouts`` fresh rollouts (Finn et al. 2017, Fig. 5)."""
        theta = stacked({k: v.detach() for k, v in self.params().items()}, len(tasks))
        update = lambda k, p, batch: self.adapted(p, batch, 1)
        return adaptation_curve(
            pool, tasks, self.policy, theta, steps, n_rollouts, update, gen, self.gamma, self.gae_lambda
        )


class FOMAMLRL(MAMLRL):
    """First-order MAML-RL: the inner policy gradient is a constant in the meta-gradient."""

    name = "fomaml-rl"

    def __init__(self, obs_dim: int, act_dim: int, *, first_order: bool = True, **kwargs: Any):
        if not first_order:
            raise ValueError("FOMAML-RL is first-order by definition; use maml-rl for second order")
        super().__init__(obs_dim, act_dim, first_order=True, **kwargs)
