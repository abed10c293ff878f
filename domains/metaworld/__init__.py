"""Meta-World: meta-reinforcement learning on simulated robot manipulation (MuJoCo, a Sawyer arm).

ML1 gives one manipulation task (``reach``, ``push``, ``pick-place`` ...) with 50 training and 50 test goals;
ML10 trains on 10 task classes and tests on 5 held-out ones. The goal is hidden from the 39-dim observation: a
meta-learner has to find it from the rewards of a few rollouts. Success (the hand / object within 5 cm of the
goal at any step of an episode) is the headline metric. Meta-World 3.1.1 and MuJoCo come from PyPI.

Reference: Yu, Quillen, He, Julian, Hausman, Finn & Levine. "Meta-World: A Benchmark and Evaluation for
Multi-Task and Meta Reinforcement Learning." CoRL 2019, arXiv:1910.10897.
"""

from metasuite.domains.metaworld.domain import MetaWorldDomain
from metasuite.domains.metaworld.env import MetaWorldEnv, MetaWorldFamily, MetaWorldVectorEnv

__all__ = ["MetaWorldDomain", "MetaWorldEnv", "MetaWorldFamily", "MetaWorldVectorEnv"]
