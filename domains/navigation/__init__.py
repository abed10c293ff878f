"""2-D point navigation: meta-reinforcement learning on the MAML paper's point robot.

A point in the plane starts at the origin and moves by velocities clipped to [-0.1, 0.1] per axis for 100 steps;
the reward is minus its distance to a goal drawn uniformly in [-0.5, 0.5]^2 (train, val and test goals in
disjoint cells of that square). A meta-learner adapts to a new goal from a few rollouts.

Reference: Finn, Abbeel & Levine, ICML 2017, §5.3 (2D navigation).
"""

from metasuite.domains.navigation.domain import NavigationDomain
from metasuite.domains.navigation.env import NavigationFamily, PointNavigationEnv, PointNavigationVectorEnv

__all__ = ["NavigationDomain", "NavigationFamily", "PointNavigationEnv", "PointNavigationVectorEnv"]
