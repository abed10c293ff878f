"""``RLDomain``: a domain whose tasks are environments (a :class:`~metasuite.core.rl.tasks.TaskFamily`).

An RL domain supplies :meth:`RLDomain.task_family` instead of support / query samplers and backbones.
:func:`metasuite.core.runs.train_run` hands it to the RL trainer (:func:`metasuite.core.rl.train.train_rl`)
with an RL algorithm (``maml-rl``, ``fomaml-rl``, ``rl2``); its evaluation is
:class:`~metasuite.core.rl.evaluation.RLEvaluation`. The task shape keeps the core's names: ``k_shot`` is the
number of rollouts per task an adaptation step learns from (support), ``n_query`` the rollouts the
meta-objective is computed on (query).
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, NoReturn

from metasuite.core.domain import Domain
from metasuite.core.errors import MetasuiteError
from metasuite.core.evaluation import Evaluation
from metasuite.core.rl.evaluation import RLEvaluation
from metasuite.core.rl.tasks import TaskFamily

__all__ = ["RLDomain"]


class RLDomain(Domain):
    """Base class of reinforcement-learning domains: override :meth:`task_family` (and the defaults)."""

    kind = "reinforcement"

    @abstractmethod
    def task_family(self) -> TaskFamily:
        """The distribution of MDPs, with disjoint train / val / test tasks."""

    def _not_supervised(self) -> NoReturn:
        raise MetasuiteError(
            f"{self.name} is a reinforcement-learning domain: its tasks are environments (task_family()), not "
            "support / query tensors; train it with an RL algorithm (maml-rl, fomaml-rl, rl2)"
        )

    def sampler(self, split: str, *, n_way: int | None, k_shot: int, n_query: int) -> NoReturn:
        self._not_supervised()

    def backbone_spec(self, algorithm: str, n_way: int | None) -> NoReturn:
        self._not_supervised()

    def default_setting(self) -> dict[str, Any]:
        """Rollouts per task: ``k_shot`` per adaptation step (support), ``n_query`` for the meta-objective."""
        return {"n_way": None, "k_shot": 20, "n_query": 20}

    @classmethod
    def evaluation(cls) -> Evaluation:

        return RLEvaluation()
