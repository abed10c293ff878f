"""What a trading task predicts (the domain option ``target``), and the outcomes each label is made of.

A day's label is an *outcome*: it is known only once the ``horizon`` days after that day's close have passed.
Every target is causal in the same sense as the next-day direction: the label of day ``t`` uses closes
``t .. t + horizon`` only, and a task uses a support label only once it is realised (the embargo must be at
least the horizon, :func:`check_embargo`).

* ``direction`` (horizon 1, classes ``down`` / ``up``): the sign of the next day's log return -- the reference,
  and what every checkpoint without a recorded ``target`` predicts.
* ``regime21`` (horizon 21, classes ``bear`` / ``bull``): the regime of the next 21 trading days. *Bear* when
  their simple return is below ``bear_return`` (default -2 %) **or** their closes fall more than
  ``bear_drawdown`` (default 5 %) below their running peak (the close of day ``t`` included); bull otherwise.
  Positions trade the probability of bull.
* ``vol_tercile`` (horizon 21, classes ``low vol`` / ``mid vol`` / ``high vol``): the tercile of the next 21
  days' realised volatility (annualised standard deviation of their daily log returns). The two cut-offs are
  the 1/3 and 2/3 quantiles of that volatility over the *training* period's days only
  (:func:`vol_cutoffs`), never over validation or test days. Positions are volatility-targeted: the expected
  volatility ``sum_k P(k) * vol_k`` (``vol_k`` the mean volatility of tercile ``k`` in training) scales the
  exposure ``min(1, target_vol / expected)`` with the training median as ``target_vol``.
* ``jump21`` (horizon 21, classes ``bear`` / ``bull``): the statistical jump model's regime of the next day as it
  is known 21 days later. One two-state jump model (:class:`~metasuite.domains.trading.jump.JumpModelStrategy`,
  penalty ``jump_penalty``) is fitted on the *training* period's closes of the training assets only
  (:meth:`Target.with_jump_model`); the label of day ``t`` is its state of day ``t + 1`` on the best path over
  the days up to ``t + 21`` (:meth:`~metasuite.domains.trading.jump.JumpModelStrategy.delayed_states`): the
  smoothed regime the model's own fit would give, using closes up to ``t + 21`` only. Positions trade P(bull).

References: the 21-day regime label follows the bull / bear definitions of Pagan & Sossounov (2003, J. Applied
Econometrics 18:23-46) in spirit (a fall from a peak, over a month rather than months); the volatility target is
Moreira & Muir (2017), "Volatility-managed portfolios", J. Finance 72(4):1611-1644. Not investment advice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from metasuite.core.errors import DataError, TaskError
from metasuite.domains.trading.jump import JUMP_PENALTY, JumpModelStrategy

__all__ = [
    "DIRECTION",
    "TARGETS",
    "Target",
    "check_embargo",
    "forward_drawdown",
    "forward_return",
    "forward_vol",
    "make_target",
    "vol_cutoffs",
]

#: The targets a trading domain can predict (option ``target``).
TARGETS = ("direction", "regime21", "vol_tercile", "jump21")
_HORIZON = {"direction": 1, "regime21": 21, "vol_tercile": 21, "jump21": 21}
_CLASSES = {
    "direction": ("down", "up"),
    "regime21": ("bear", "bull"),
    "jump21": ("bear", "bull"),
    "vol_tercile": ("low vol", "mid vol", "high vol"),
}
_ANNUAL = math.sqrt(252.0)


@dataclass(frozen=True)
class Target:
    """A target: its name, horizon (trading days until a label is realised), classes and thresholds.

    ``vol_cutoffs`` / ``vol_levels`` / ``target_vol`` (annualised, fractions) exist for ``vol_tercile`` once fitted
    on the training period (:meth:`with_vol_terciles`); None before. ``jump`` is the fitted jump model of
    ``jump21`` (:meth:`with_jump_model`); None before.
    """

    name: str = "direction"
    bear_return: float = -0.02
    bear_drawdown: float = 0.05
    vol_cutoffs: tuple[float, float] | None = None
    vol_levels: tuple[float, float, float] | None = None
    target_vol: float | None = None
    jump_penalty: float = JUMP_PENALTY
    jump: JumpModelStrategy | None = field(default=None, compare=False, repr=False)

    @property
    def horizon(self) -> int:
        return _HORIZON[self.name]

    @property
    def fitted(self) -> bool:
        """True once everything the target learns from the training period is there (``vol_tercile``: its
        cut-offs; ``jump21``: its jump model); always for the others."""
        if self.name == "vol_tercile":
            return self.vol_cutoffs is not None
        return self.jump is not None if self.name == "jump21" else True

    @property
    def class_names(self) -> tuple[str, ...]:
        return _CLASSES[self.name]

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def labels(self, close: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(labels, known)`` for every day of the closes ``close`` ``(n_days,)``.

        ``labels`` is an int64 class index per day (0 where unknown), ``known`` True where the outcome is realised
        inside the data (day ``t`` with ``t + horizon < n_days``).
        """
        logc = np.log(np.asarray(close, dtype=np.float64))
        n = logc.size
        known = np.arange(n) + self.horizon < n
        if self.name == "direction":
            y = np.diff(logc, append=np.nan) > 0
        elif self.name == "regime21":
            bear = (forward_return(logc, self.horizon) < math.log1p(self.bear_return)) | (
                forward_drawdown(logc, self.horizon) < math.log1p(-self.bear_drawdown)
            )
            y = ~bear
        elif self.name == "jump21":
            if self.jump is None:
                raise TaskError("the jump21 target has no jump model yet: fit it on the training period first")
            state = self.jump.delayed_states(pd.Series(np.asarray(close, dtype=np.float64)), self.horizon - 1)
            nxt = np.append(state[1:], -1)  # day t's label: the state of day t + 1, known at t + horizon
            known &= nxt >= 0
            y = nxt == 0
        else:
            if self.vol_cutoffs is None:
                raise TaskError("the vol_tercile target has no cut-offs yet: fit them on the training period first")
            y = np.searchsorted(np.asarray(self.vol_cutoffs), forward_vol(logc, self.horizon), side="right")
        return np.where(known, y, 0).astype(np.int64), known

    def with_vol_terciles(self, train_vols: np.ndarray) -> Target:
        """This target with its tercile cut-offs, tercile mean volatilities and target volatility fitted on
        ``train_vols``: forward volatilities of training-period days only (:func:`vol_cutoffs`)."""
        cuts = vol_cutoffs(train_vols)
        v = np.asarray(train_vols, dtype=np.float64)
        v = v[np.isfinite(v)]
        k = np.searchsorted(np.asarray(cuts), v, side="right")
        levels = tuple(float(v[k == i].mean()) for i in range(3))
        return replace(self, vol_cutoffs=cuts, vol_levels=levels, target_vol=float(np.median(v)))

    def with_jump_model(self, train_closes: list[pd.Series], *, seed: int = 0) -> Target:
        """This target with its jump model fitted on ``train_closes`` (each training asset's closes of the
        training period only): one model for all assets, 10 k-means++ starts drawn with ``seed``."""
        model = JumpModelStrategy(jump_penalty=self.jump_penalty, seed=seed).fit_pooled(train_closes)
        return replace(self, jump=model)

    def with_jump_params(self, params: dict[str, Any]) -> Target:
        """This target with the jump model a checkpoint recorded (:meth:`JumpModelStrategy.params`)."""
        return replace(self, jump=JumpModelStrategy.from_params(params))

    def risk_on(self, probs: np.ndarray) -> np.ndarray:
        """The probability that drives a long position: P(up) (direction), P(bull) (regime21), P(low or mid
        volatility) (vol_tercile). ``probs`` ``(..., n_classes)``."""
        probs = np.asarray(probs, dtype=np.float64)
        return probs[..., :2].sum(axis=-1) if self.name == "vol_tercile" else probs[..., 1]

    def expected_vol(self, probs: np.ndarray) -> np.ndarray:
        """``sum_k P(k) * vol_k``: the predicted annualised volatility of the next 21 days (vol_tercile only)."""
        if self.vol_levels is None:
            raise DataError(f"expected volatility needs the vol_tercile target with fitted terciles, not {self.name}")
        return np.asarray(probs, dtype=np.float64) @ np.asarray(self.vol_levels)

    def options(self) -> dict[str, float]:
        """The thresholds a checkpoint records (only those this target uses)."""
        if self.name == "jump21":
            return {"jump_penalty": self.jump_penalty}
        return {"bear_return": self.bear_return, "bear_drawdown": self.bear_drawdown} if self.name == "regime21" else {}


#: The reference target of every checkpoint without a recorded ``target``.
DIRECTION = Target()


def make_target(
    name: str = "direction",
    *,
    bear_return: float = -0.02,
    bear_drawdown: float = 0.05,
    jump_penalty: float = JUMP_PENALTY,
) -> Target:
    """The :class:`Target` named ``name`` (one of :data:`TARGETS`) with its thresholds checked."""
    if name not in TARGETS:
        raise DataError(f"unknown target {name!r}; choose one of {', '.join(TARGETS)}")
    if not -1.0 < bear_return < 1.0:
        raise DataError(f"bear_return is a 21-day simple return in (-1, 1), e.g. -0.02, got {bear_return}")
    if not 0.0 < bear_drawdown < 1.0:
        raise DataError(f"bear_drawdown is a fall from the peak in (0, 1), e.g. 0.05 for 5 %, got {bear_drawdown}")
    if not jump_penalty >= 0:
        raise DataError(f"jump_penalty is the jump model's cost of a switch, >= 0 (default 50), got {jump_penalty}")
    return Target(name, float(bear_return), float(bear_drawdown), jump_penalty=float(jump_penalty))


def check_embargo(embargo: int, target: Target) -> None:
    """Refuse an embargo shorter than the target's horizon: the last support label (day ``t - embargo - 1``) is
    realised at the close of ``t - embargo - 1 + horizon``, which must come before the first decision at ``t``."""
    if embargo < target.horizon:
        raise TaskError(
            f"the {target.name} target's outcome takes {target.horizon} day(s) to be realised, so the embargo "
            f"must be at least {target.horizon} (got {embargo}): a shorter one trains on outcomes not yet known"
        )


def _ahead(logc: np.ndarray, j: int) -> np.ndarray:
    """``logc[t + j]`` for every ``t`` (NaN past the end)."""
    out = np.full(logc.size, np.nan)
    if j < logc.size:
        out[: logc.size - j] = logc[j:]
    return out


def forward_return(logc: np.ndarray, horizon: int) -> np.ndarray:
    """Log return from the close of ``t`` to the close of ``t + horizon`` (NaN where that close is not in the data)."""
    return _ahead(logc, horizon) - logc


def forward_drawdown(logc: np.ndarray, horizon: int) -> np.ndarray:
    """The deepest log fall of the closes ``t + 1 .. t + horizon`` below their running peak, the close of ``t``
    included (<= 0; NaN where ``t + horizon`` is past the end)."""
    peak = logc.copy()
    worst = np.zeros(logc.size)
    for j in range(1, horizon + 1):
        c = _ahead(logc, j)
        peak = np.fmax(peak, c)
        worst = np.minimum(worst, c - peak)
    return np.where(np.isfinite(_ahead(logc, horizon)), worst, np.nan)


def forward_vol(logc: np.ndarray, horizon: int) -> np.ndarray:
    """Annualised standard deviation (ddof 1) of the daily log returns of days ``t + 1 .. t + horizon``."""
    r = pd.Series(np.diff(logc, prepend=np.nan))
    return (r.rolling(horizon, min_periods=horizon).std().shift(-horizon) * _ANNUAL).to_numpy()


def vol_cutoffs(train_vols: np.ndarray) -> tuple[float, float]:
    """The 1/3 and 2/3 quantiles of ``train_vols`` (forward volatilities of training days; NaN ignored)."""
    v = np.asarray(train_vols, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size < 30:
        raise DataError(
            f"the vol_tercile cut-offs need at least 30 training days with a realised 21-day volatility, got {v.size}"
        )
    lo, hi = np.quantile(v, [1 / 3, 2 / 3])
    return float(lo), float(hi)
