"""Policy-gradient data and objectives shared by MAML-RL, its baselines and RL^2.

* :func:`rollout_batch` runs a stack of per-task Gaussian policies (parameters with a leading task
  dimension ``G``, ``N`` environments per task) and returns a :class:`PGBatch`: advantages from each task's
  own fitted linear baseline and GAE, normalised per task, and the sampling policy's log-probabilities.
* :func:`vpg_loss` -- REINFORCE written with a stopped-gradient likelihood ratio,
  ``-mean(exp(log pi - stop(log pi_old)) A)``: at ``pi = pi_old`` its gradient is REINFORCE's
  ``-mean(grad log pi A)``, and its Hessian is the one a meta-gradient through the inner step needs
  (ProMP's low-variance curvature estimator, Rothfuss et al. 2019, §5).
* :func:`ppo_loss` -- PPO's clipped surrogate ``-mean(min(rho A, clip(rho, 1-eps, 1+eps) A))``
  (Schulman et al. 2017, arXiv:1707.06347).
* :func:`adaptation_curve` -- return and success before and after each of ``steps`` updates, each update
  fed by ``N`` fresh rollouts of the current policy (the meta-test protocol of Finn et al. 2017, §5.3).

The losses take tensors of one shape ``(...)`` and average over the steps taken (``mask``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields

import torch
from torch import Tensor, nn
from torch.func import vmap

from metasuite.core.rl.policies import Params, gaussian_forward, gaussian_log_prob, sample_gaussian
from metasuite.core.rl.returns import discounted_returns, gae, linear_baseline, normalize
from metasuite.core.rl.rollouts import EnvPool, Episodes, Policy, env_groups
from metasuite.core.rl.tasks import EnvTask

__all__ = ["PGBatch", "adaptation_curve", "policy_log_prob", "ppo_loss", "rollout_batch", "stacked", "vpg_loss"]

#: ``update(k, params (G, ...), batch) -> params``: the k-th adaptation step of a stack of per-task policies.
Update = Callable[[int, Params, "PGBatch"], Params]


@dataclass(frozen=True)
class PGBatch:
    """Policy-gradient data of ``G`` tasks, ``N`` episodes each, ``T`` steps.

    Attributes
    ----------
    obs : (G, N, T, obs_dim)
    actions : (G, N, T, act_dim)
    advantages : (G, N, T), normalised per task over the steps taken
    mask : (G, N, T) float, 1 for steps taken
    old_log_prob : (G, N, T), log-probability of each action under the policy that sampled it
    returns : (G, N), undiscounted episode returns
    success : (G, N) float, 1 where the episode ended in success
    """

    obs: Tensor
    actions: Tensor
    advantages: Tensor
    mask: Tensor
    old_log_prob: Tensor
    returns: Tensor
    success: Tensor

    def tensors(self) -> tuple[Tensor, ...]:
        """The fields in order (to pass through ``torch.func.vmap``)."""
        return tuple(getattr(self, f.name) for f in fields(self))


def stacked(params: Params, n_tasks: int) -> Params:
    """``params`` repeated along a new leading task dimension (a view: no copy)."""
    return {k: v.unsqueeze(0).expand(n_tasks, *v.shape) for k, v in params.items()}


def policy_log_prob(policy: nn.Module, params: Params, obs: Tensor, actions: Tensor) -> Tensor:
    """Log-probability ``(...)`` of ``actions`` (..., act_dim) at ``obs`` (..., obs_dim) under one parameter set."""
    mean, log_std = gaussian_forward(policy, params, obs)
    return gaussian_log_prob(mean, log_std, actions)


def rollout_batch(
    pool: EnvPool,
    tasks: Sequence[EnvTask],
    policy: nn.Module,
    params: Params,
    n_rollouts: int,
    gen: torch.Generator,
    gamma: float,
    lam: float,
) -> PGBatch:
    """``n_rollouts`` episodes of task ``g`` with parameters ``params[.][g]`` (leading dim ``G = len(tasks)``)."""
    g, n = len(tasks), n_rollouts
    forward = vmap(lambda p, o: gaussian_forward(policy, p, o))

    def actor(group: Params, size: int) -> Policy:
        def act(obs: Tensor, *_: Tensor) -> Tensor:
            mean, log_std = forward(group, obs.reshape(size, n, -1))
            return sample_gaussian(mean, log_std.unsqueeze(1), gen).reshape(size * n, -1)

        return act

    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
    parts = []
    with torch.no_grad():
        for sl in env_groups(pool.family, g, n):  # all at once unless the family caps its environments
            group = {k: v[sl] for k, v in params.items()}
            envs = [t for t in tasks[sl] for _ in range(n)]
            parts.append(pool.run(envs, actor(group, sl.stop - sl.start), 1, seed + sl.start * n))
    return _grouped(Episodes.cat(parts), g, policy, params, gamma, lam)


def _grouped(episodes: Episodes, g: int, policy: nn.Module, params: Params, gamma: float, lam: float) -> PGBatch:
    b, _, t = episodes.rewards.shape

    def grouped(x: Tensor) -> Tensor:
        return x.reshape(g, b // g, t, *x.shape[3:])

    obs, actions, rewards = grouped(episodes.obs), grouped(episodes.actions), grouped(episodes.rewards)
    mask = grouped(episodes.mask).float()
    with torch.no_grad():
        log_prob = vmap(lambda p, o, a: policy_log_prob(policy, p, o, a))(params, obs, actions)
    values = linear_baseline(obs, discounted_returns(rewards, mask, gamma), mask)
    advantages = normalize(gae(rewards, values, mask, gamma, lam), mask)
    returns = episodes.returns.reshape(g, -1)
    success = episodes.success.float().reshape(g, -1)
    return PGBatch(obs, actions, advantages, mask, log_prob, returns, success)


def vpg_loss(log_prob: Tensor, old_log_prob: Tensor, advantages: Tensor, mask: Tensor) -> Tensor:
    """REINFORCE with a baseline as a likelihood-ratio surrogate (its value is ``-mean(A)`` at ``pi_old``)."""
    ratio = torch.exp(log_prob - old_log_prob)
    return -(ratio * advantages * mask).sum() / mask.sum().clamp_min(1.0)


def ppo_loss(log_prob: Tensor, old_log_prob: Tensor, advantages: Tensor, mask: Tensor, clip: float) -> Tensor:
    """PPO's clipped surrogate of ``log_prob`` against the sampling policy's, averaged over the steps taken."""
    ratio = torch.exp(log_prob - old_log_prob)
    surrogate = torch.minimum(ratio * advantages, ratio.clamp(1 - clip, 1 + clip) * advantages)
    return -(surrogate * mask).sum() / mask.sum().clamp_min(1.0)


def adaptation_curve(
    pool: EnvPool,
    tasks: Sequence[EnvTask],
    policy: nn.Module,
    params: Params,
    steps: int,
    n_rollouts: int,
    update: Update,
    gen: torch.Generator,
    gamma: float,
    lam: float,
) -> dict[str, Tensor]:
    """``{"returns", "success"}``, each ``(G, steps + 1)``: column ``k`` is the mean over ``n_rollouts`` fresh
    episodes after ``k`` updates; update ``k`` learns from the rollouts scored in column ``k``."""
    returns, success = [], []
    for k in range(steps + 1):
        batch = rollout_batch(pool, tasks, policy, params, n_rollouts, gen, gamma, lam)
        returns.append(batch.returns.mean(1))
        success.append(batch.success.mean(1))
        if k < steps:
            params = {n: v.detach() for n, v in update(k, params, batch).items()}
    return {"returns": torch.stack(returns, 1), "success": torch.stack(success, 1)}
