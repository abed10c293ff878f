"""metasuite core: a domain-agnostic meta-learning library built on ``torch.func``.

``import core`` is deliberately cheap: it imports no torch. Import the submodules you need::

    from metasuite.core.tasks import Task, TaskBatch
    from metasuite.core.algorithms import build_learner
    from metasuite.core.trainer import TrainConfig, train
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
