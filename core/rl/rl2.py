"""RL^2: a recurrent policy that learns to adapt within its hidden state, trained with PPO.

A *trial* is ``episodes_per_trial`` consecutive episodes of one task. The policy is a GRU over
``(o_t, a_{t-1}, r_{t-1}, done_{t-1})`` whose hidden state is carried across the episodes of a trial and reset
between trials, so what it learns about the task in one episode (where the reward is) shapes the next. The
whole trial is one episode of the meta-MDP: advantages (GAE with the GRU's value head) run across episode
boundaries, and PPO's clipped surrogate is optimised over whole trials (the GRU is re-run from the trial's
start on the stored inputs, so training sees exactly the hidden states the rollouts had).

Example
-------
>>> learner = RL2(obs_dim=2, act_dim=2, episodes_per_trial=2)     # doctest: +SKIP
>>> stats = learner.iteration(pool, tasks, optimizer, gen, n_support=10, n_query=0)   # doctest: +SKIP
>>> curve = learner.curve(pool, test_tasks, steps=1, n_rollouts=20, gen=gen)  # return of episode 1, 2  # doctest: +SKIP

References: Y. Duan et al. "RL^2: Fast Reinforcement Learning via Slow Reinforcement Learning."
arXiv:1611.02779 (2016). J. X. Wang et al. "Learning to Reinforcement Learn." arXiv:1611.05763 (2016).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from metasuite.core.rl.pg import ppo_loss
from metasuite.core.rl.policies import RecurrentGaussianPolicy, gaussian_log_prob, sample_gaussian
from metasuite.core.rl.returns import gae, normalize
from metasuite.core.rl.rollouts import EnvPool, Episodes, Policy, env_groups
from metasuite.core.rl.tasks import EnvTask

__all__ = ["RL2"]


class RL2(nn.Module):
    """RL^2 (Duan et al. 2016; Wang et al. 2016) trained with PPO over whole trials."""

    name = "rl2"
    paper = "Duan et al. 2016, arXiv:1611.02779; Wang et al. 2016, arXiv:1611.05763"

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        *,
        hidden: int = 64,
        init_std: float = 1.0,
        episodes_per_trial: int = 2,
        gamma: float = 0.99,
        gae_lambda: float = 0.95,
        clip: float = 0.2,
        ppo_epochs: int = 4,
        minibatches: int = 4,
        value_coef: float = 0.5,
        seed: int = 0,
    ):
        super().__init__()
        self.policy = RecurrentGaussianPolicy(obs_dim, act_dim, hidden, init_std, seed)
        self.episodes_per_trial = episodes_per_trial
        self.gamma, self.gae_lambda, self.clip = gamma, gae_lambda, clip
        self.ppo_epochs, self.minibatches, self.value_coef = ppo_epochs, minibatches, value_coef
        self._hparams = {
            "hidden": hidden,
            "init_std": init_std,
            "episodes_per_trial": episodes_per_trial,
            "gamma": gamma,
            "gae_lambda": gae_lambda,
            "clip": clip,
            "ppo_epochs": ppo_epochs,
            "minibatches": minibatches,
            "value_coef": value_coef,
        }

    def hparams(self) -> dict[str, Any]:
        return dict(self._hparams)

    def act_fn(self, gen: torch.Generator) -> Policy:
        """A fresh trial's policy: the hidden state starts at zero and is carried from step to step."""
        state: dict[str, Tensor | None] = {"h": None}

        def act(obs: Tensor, prev_action: Tensor, prev_reward: Tensor, prev_done: Tensor) -> Tensor:
            x = self.policy.inputs(obs, prev_action, prev_reward, prev_done).unsqueeze(1)
            mean, _, state["h"] = self.policy(x, state["h"])
            return sample_gaussian(mean[:, 0], self.policy.log_std, gen)

        return act

    def trial_inputs(self, episodes: Episodes) -> Tensor:
        """The GRU inputs the rollouts saw, ``(B, E * T, obs_dim + act_dim + 2)``: step ``i`` gets the action,
        reward and episode-end flag of step ``i - 1`` of the trial (zeros at its start)."""
        b = episodes.obs.shape[0]

        def flat(x: Tensor) -> Tensor:
            return x.reshape(b, -1, *x.shape[3:]).float()

        def shifted(x: Tensor) -> Tensor:
            return torch.cat([torch.zeros_like(x[:, :1]), x[:, :-1]], dim=1)

        acts, rews, dones = flat(episodes.actions), flat(episodes.rewards), flat(episodes.done)
        return self.policy.inputs(flat(episodes.obs), shifted(acts), shifted(rews), shifted(dones))

    def trials(
        self, pool: EnvPool, tasks: Sequence[EnvTask], n_trials: int, gen: torch.Generator, n_episodes: int
    ) -> Episodes:
        """``n_trials`` trials of ``n_episodes`` episodes for every task (environment ``b`` solves task ``b // n``)."""
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
        envs = [t for t in tasks for _ in range(n_trials)]
        with torch.no_grad():  # a fresh trial policy (zero hidden state) for each group of environments
            parts = [
                pool.run(envs[sl], self.act_fn(gen), n_episodes, seed + sl.start)
                for sl in env_groups(pool.family, len(envs))
            ]
        return Episodes.cat(parts)

    def iteration(
        self,
        pool: EnvPool,
        tasks: Sequence[EnvTask],
        optimizer: torch.optim.Optimizer,
        gen: torch.Generator,
        *,
        n_support: int,
        n_query: int = 0,
    ) -> dict[str, float]:
        """One PPO update on ``n_support`` trials per task (``n_query`` is unused: the trial is its own query)."""
        episodes = self.trials(pool, tasks, n_support, gen, self.episodes_per_trial)
        inputs = self.trial_inputs(episodes)
        b = inputs.shape[0]
        actions = episodes.actions.reshape(b, -1, episodes.actions.shape[-1])
        mask = episodes.mask.reshape(b, -1).float()
        rewards = episodes.rewards.reshape(b, -1) * mask
        with torch.no_grad():
            mean, values, _ = self.policy(inputs)
            old_log_prob = gaussian_log_prob(mean, self.policy.log_std, actions)
            advantages = gae(rewards, values * mask, mask, self.gamma, self.gae_lambda)
            targets = advantages + values * mask
            advantages = normalize(advantages, mask, dims=(0, 1))
        order = torch.randperm(b, generator=gen)
        first = None
        for _ in range(self.ppo_epochs):
            for idx in order.chunk(self.minibatches):
                mean, values, _ = self.policy(inputs[idx])
                log_prob = gaussian_log_prob(mean, self.policy.log_std, actions[idx])
                policy_loss = ppo_loss(log_prob, old_log_prob[idx], advantages[idx], mask[idx], self.clip)
                value_loss = ((values - targets[idx]) ** 2 * mask[idx]).sum() / mask[idx].sum()
                loss = policy_loss + self.value_coef * value_loss
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(self.parameters(), 1.0)
                optimizer.step()
                first = float(loss.detach()) if first is None else first
        returns = episodes.returns.mean(0)
        return {"loss": float(first), "return_before": float(returns[0]), "return_after": float(returns[-1])}

    def curve(
        self, pool: EnvPool, tasks: Sequence[EnvTask], steps: int, n_rollouts: int, gen: torch.Generator
    ) -> dict[str, Tensor]:
        """Return and success ``(G, steps + 1)`` of episode ``k + 1`` of a trial of ``steps + 1`` episodes (k
        earlier episodes of experience), mean over ``n_rollouts`` trials per task."""
        episodes = self.trials(pool, tasks, n_rollouts, gen, steps + 1)
        g = len(tasks)
        return {
            "returns": episodes.returns.reshape(g, n_rollouts, -1).mean(1),
            "success": episodes.success.float().reshape(g, n_rollouts, -1).mean(1),
        }
