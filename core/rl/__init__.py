"""Meta-reinforcement learning: tasks that are environments.

* :mod:`~metasuite.core.rl.tasks` -- task families (distributions of MDPs), seeded sampling, disjoint splits.
* :mod:`~metasuite.core.rl.rollouts` -- episodes through Gymnasium's vector API (native, sync, async).
* :mod:`~metasuite.core.rl.policies`, :mod:`~metasuite.core.rl.returns`, :mod:`~metasuite.core.rl.pg` --
  Gaussian and recurrent policies, fitted linear baseline and GAE, REINFORCE and PPO objectives.
* :mod:`~metasuite.core.rl.maml_rl`, :mod:`~metasuite.core.rl.rl2` -- the meta-learners;
  :mod:`~metasuite.core.rl.baselines` -- multi-task, fine-tuned and from-scratch comparisons.
* :mod:`~metasuite.core.rl.train`, :mod:`~metasuite.core.rl.evaluation`, :mod:`~metasuite.core.rl.domain` --
  the trainer, the evaluation and the ``RLDomain`` base class the application layer dispatches on.
"""

from metasuite.core.rl.domain import RLDomain
from metasuite.core.rl.learners import RL_ALGORITHMS, load_rl_learner, make_rl_learner
from metasuite.core.rl.tasks import EnvTask, TaskFamily, fixed_env_tasks, sample_env_tasks

__all__ = [
    "RL_ALGORITHMS",
    "EnvTask",
    "RLDomain",
    "TaskFamily",
    "fixed_env_tasks",
    "load_rl_learner",
    "make_rl_learner",
    "sample_env_tasks",
]
