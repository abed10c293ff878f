"""Sinusoid regression: the MAML paper's few-shot regression benchmark.

Each task is ``y = A sin(x - phase)`` with amplitude ``A ~ U[0.1, 5]``, phase ``~ U[0, pi]`` and
inputs ``x ~ U[-5, 5]``; the model is the MLP 1-40-40-1 and the loss is MSE.

Reference: Finn, Abbeel & Levine, ICML 2017 (Section 5.1); Li et al. 2017 (Meta-SGD, Table 1).
"""

from metasuite.domains.sinusoid.domain import SinusoidDomain, SinusoidSampler

__all__ = ["SinusoidDomain", "SinusoidSampler"]
