"""Stochastic policies as pure functions of parameter dictionaries (``torch.func`` style).

* :class:`GaussianMLPPolicy` -- ``pi(a | s) = N(mu_theta(s), diag(sigma^2))``: an MLP mean and a free
  log-standard-deviation vector (Finn et al. 2017 §5.3; Rothfuss et al. 2019). :func:`gaussian_forward`
  evaluates it for one parameter set; under ``torch.func.vmap`` for a stack of them (one per task).
* :class:`RecurrentGaussianPolicy` -- the RL^2 policy (Duan et al. 2016): a GRU over
  ``(obs, previous action, previous reward, previous done)`` with a Gaussian action head and a value head.

Shapes: observations ``(..., obs_dim)``, actions ``(..., act_dim)``, log-probabilities ``(...)``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call

__all__ = [
    "GaussianMLPPolicy",
    "Params",
    "RecurrentGaussianPolicy",
    "gaussian_forward",
    "gaussian_log_prob",
    "sample_gaussian",
]

Params = dict[str, Tensor]
LOG_2PI = math.log(2 * math.pi)


def _init(module: nn.Module, seed: int) -> None:
    """Re-draw every weight uniformly in +-1/sqrt(fan_in) from an explicit generator (no global RNG)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("log_std"):
                continue
            bound = 1.0 / math.sqrt(p.shape[-1]) if p.ndim > 1 else 1.0 / math.sqrt(max(p.numel(), 1))
            p.copy_((torch.rand(p.shape, generator=g) * 2 - 1) * bound)


class GaussianMLPPolicy(nn.Module):
    """Diagonal Gaussian policy with an MLP mean ``obs_dim -> hidden... -> act_dim`` (tanh) and free ``log_std``.

    Example
    -------
    >>> policy = GaussianMLPPolicy(2, 2, hidden=(8, 8))
    >>> mean, log_std = gaussian_forward(policy, dict(policy.named_parameters()), torch.zeros(5, 2))
    >>> tuple(mean.shape), tuple(log_std.shape)
    ((5, 2), (2,))
    """

    def __init__(
        self, obs_dim: int, act_dim: int, hidden: Sequence[int] = (64, 64), init_std: float = 1.0, seed: int = 0
    ):
        super().__init__()
        sizes = [obs_dim, *hidden]
        layers: list[nn.Module] = []
        for i, o in itertools.pairwise(sizes):
            layers += [nn.Linear(i, o), nn.Tanh()]
        self.body = nn.Sequential(*layers)
        self.mean = nn.Linear(sizes[-1], act_dim)
        self.log_std = nn.Parameter(torch.full((act_dim,), math.log(init_std)))
        _init(self, seed)
        self.spec = {"obs_dim": obs_dim, "act_dim": act_dim, "hidden": list(hidden), "init_std": init_std}

    def forward(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        return self.mean(self.body(obs)), self.log_std


def gaussian_forward(policy: nn.Module, params: Params, obs: Tensor) -> tuple[Tensor, Tensor]:
    """``(mean (..., act_dim), log_std (act_dim,))`` of ``policy`` with parameters ``params`` at ``obs``."""
    return functional_call(policy, params, (obs,))


def gaussian_log_prob(mean: Tensor, log_std: Tensor, actions: Tensor) -> Tensor:
    """``log N(actions; mean, diag exp(log_std)^2)`` summed over the action dimension: ``(...)``."""
    z = (actions - mean) * torch.exp(-log_std)
    return (-0.5 * z.pow(2) - log_std - 0.5 * LOG_2PI).sum(-1)


def sample_gaussian(mean: Tensor, log_std: Tensor, gen: torch.Generator) -> Tensor:
    """One draw ``mean + exp(log_std) * eps`` with ``eps`` from ``gen``: ``(..., act_dim)``."""
    return mean + torch.exp(log_std) * torch.randn(mean.shape, generator=gen)


class RecurrentGaussianPolicy(nn.Module):
    """The RL^2 policy: ``h_t = GRU([o_t, a_{t-1}, r_{t-1}, d_{t-1}], h_{t-1})``; action ``N(W h_t, sigma^2)``;
    value ``v h_t``. The hidden state is carried across the episodes of a trial and reset between trials.

    ``forward(inputs (B, T, obs_dim + act_dim + 2), h0 (1, B, hidden) or None)`` returns
    ``(mean (B, T, act_dim), value (B, T), h (1, B, hidden))``.
    """

    def __init__(self, obs_dim: int, act_dim: int, hidden: int = 64, init_std: float = 1.0, seed: int = 0):
        super().__init__()
        self.gru = nn.GRU(obs_dim + act_dim + 2, hidden, batch_first=True)
        self.mean = nn.Linear(hidden, act_dim)
        self.value = nn.Linear(hidden, 1)
        self.log_std = nn.Parameter(torch.full((act_dim,), math.log(init_std)))
        _init(self, seed)
        self.spec: dict[str, Any] = {"obs_dim": obs_dim, "act_dim": act_dim, "hidden": hidden, "init_std": init_std}

    @staticmethod
    def inputs(obs: Tensor, prev_action: Tensor, prev_reward: Tensor, prev_done: Tensor) -> Tensor:
        """The GRU input ``[obs, prev_action, prev_reward, prev_done]``: ``(..., obs_dim + act_dim + 2)``."""
        return torch.cat([obs, prev_action, prev_reward.unsqueeze(-1), prev_done.unsqueeze(-1)], dim=-1)

    def forward(self, inputs: Tensor, h0: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        out, h = self.gru(inputs, h0)
        return self.mean(out), self.value(out).squeeze(-1), h
