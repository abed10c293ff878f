"""Returns, the fitted linear feature baseline and generalised advantage estimation.

All functions work on rollouts grouped by task: ``(G, N, T)`` -- ``G`` tasks, ``N`` rollouts each, ``T``
steps -- with a boolean ``mask`` of the steps taken. The value baseline of a task is fitted on that task's
own rollouts (Duan et al. 2016's ``LinearFeatureBaseline``, used by MAML-RL and ProMP): a ridge regression of
the discounted return-to-go on ``[o, o^2, t, t^2, t^3, 1]`` (``t`` = step / 100, ``o`` clipped to [-10, 10]).

References: J. Schulman et al. "High-Dimensional Continuous Control Using Generalized Advantage Estimation."
ICLR 2016, arXiv:1506.02438. Y. Duan et al. "Benchmarking Deep RL for Continuous Control." ICML 2016.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["discounted_returns", "gae", "linear_baseline", "normalize"]


def discounted_returns(rewards: Tensor, mask: Tensor, gamma: float) -> Tensor:
    """Return-to-go ``R_t = sum_k gamma^k r_{t+k}`` over the steps taken: same shape as ``rewards`` (..., T)."""
    r = rewards * mask
    out = torch.zeros_like(r)
    acc = torch.zeros_like(r[..., 0])
    for t in range(r.shape[-1] - 1, -1, -1):
        acc = r[..., t] + gamma * acc
        out[..., t] = acc
    return out


def linear_baseline(obs: Tensor, returns: Tensor, mask: Tensor, reg: float = 1e-5) -> Tensor:
    """Value estimates ``(G, N, T)`` of a ridge fit per task of ``returns`` (G, N, T) on features of ``obs``
    (G, N, T, obs_dim); the ridge term grows tenfold until the fit is finite (as in rllab)."""
    g, n, t = returns.shape
    time = (torch.arange(t, dtype=torch.float64) / 100.0).expand(g, n, t).unsqueeze(-1)
    o = obs.double().clamp(-10, 10)
    feats = torch.cat([o, o**2, time, time**2, time**3, torch.ones_like(time)], dim=-1)  # (G, N, T, F)
    w_mask = mask.double().unsqueeze(-1)
    x = (feats * w_mask).reshape(g, n * t, -1)
    y = (returns.double() * mask).reshape(g, n * t, 1)
    eye = torch.eye(x.shape[-1], dtype=torch.float64)
    xtx, xty = x.transpose(1, 2) @ x, x.transpose(1, 2) @ y
    for _ in range(5):
        coef = torch.linalg.solve(xtx + reg * eye, xty)
        if bool(torch.isfinite(coef).all()):
            break
        reg *= 10
    return (feats @ coef.unsqueeze(1)).squeeze(-1).float() * mask


def gae(rewards: Tensor, values: Tensor, mask: Tensor, gamma: float, lam: float) -> Tensor:
    """Advantages ``A_t = sum_k (gamma lam)^k delta_{t+k}``, ``delta_t = r_t + gamma V_{t+1} - V_t`` (V = 0 after
    the last step taken): same shape as ``rewards`` (..., T). ``lam = 1`` gives ``R_t - V_t``."""
    m = mask.to(rewards.dtype)
    next_values = torch.cat([values[..., 1:] * m[..., 1:], torch.zeros_like(values[..., :1])], dim=-1)
    delta = (rewards + gamma * next_values - values) * m
    out = torch.zeros_like(delta)
    acc = torch.zeros_like(delta[..., 0])
    for t in range(delta.shape[-1] - 1, -1, -1):
        acc = delta[..., t] + gamma * lam * acc * m[..., t]
        out[..., t] = acc
    return out


def normalize(advantages: Tensor, mask: Tensor, dims: tuple[int, ...] = (-2, -1)) -> Tensor:
    """``(A - mean) / (std + 1e-8)`` over the steps taken, per group (the leading dims not in ``dims``)."""
    m = mask.to(advantages.dtype)
    count = m.sum(dims, keepdim=True).clamp_min(1.0)
    mean = (advantages * m).sum(dims, keepdim=True) / count
    var = ((advantages - mean) ** 2 * m).sum(dims, keepdim=True) / count
    return (advantages - mean) / (var.sqrt() + 1e-8) * m
