"""Trading tasks: (asset, date) → support = the recent past with realised outcomes, query = the next days.

Day indices refer to one asset's trading days. A task starting at day ``t`` (its first query day) is

* **query**: days ``t, ..., t + H - 1``; the input of day ``i`` is its feature row (prices up to the
  close of ``i``), the label is the asset's :class:`~metasuite.domains.trading.targets.Target` outcome of day
  ``i``, realised at the close of ``i + h`` (``h`` = the target's horizon: 1 for the next-day direction, 21 for
  the 21-day regime and volatility targets), not known when deciding;
* **support**: the ``L`` days ``t - E - L, ..., t - E - 1`` with their labels. The label of the last
  support day is realised at the close of ``t - E - 1 + h``; with the embargo ``E >= h`` (enforced) every
  support label is known strictly before the first query decision (at the close of ``t``), and the gap keeps
  the support outcomes from overlapping the query window;
* **standardisation**: every feature is scaled with the support window's mean and deviation only.

Labels are the target's global classes in every task (a fixed label space): ``0 = down, 1 = up`` for the
direction, ``0 = bear, 1 = bull`` for the 21-day regime, ``0 / 1 / 2`` = low / mid / high volatility tercile.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from metasuite.core.errors import DataError, TaskError
from metasuite.core.tasks import Task
from metasuite.domains.trading.features import compute_features, next_day_return, standardise
from metasuite.domains.trading.targets import DIRECTION, Target, check_embargo

__all__ = ["CLASS_NAMES", "AssetSeries", "make_task", "valid_starts", "walk_forward_starts"]

#: The classes of the direction target (the reference); other targets name theirs in ``Target.class_names``.
CLASS_NAMES = DIRECTION.class_names


@dataclass
class AssetSeries:
    """One asset's features, outcomes and (optionally) regimes, as aligned numpy arrays.

    Attributes
    ----------
    ticker : str
    dates : DatetimeIndex of the asset's trading days
    x : float32 array ``(n_days, n_features)``, NaN during the warm-up
    next_return : float64 array ``(n_days,)``, the log return to the next close (NaN on the last day)
    prices : the OHLCV frame the arrays come from
    regimes : Series of regime labels on ``dates`` (ground truth of a synthetic market), optional
    target : what the labels ``y`` are (default: the next-day direction)
    """

    ticker: str
    dates: pd.DatetimeIndex
    x: np.ndarray
    next_return: np.ndarray
    prices: pd.DataFrame
    regimes: pd.Series | None = None
    target: Target = DIRECTION
    first_valid: int = field(init=False)
    day_names: np.ndarray = field(init=False, repr=False)
    _labels: tuple[Target, np.ndarray, np.ndarray] | None = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        self.day_names = np.asarray(self.dates.strftime("%Y-%m-%d"))
        ok = np.isfinite(self.x).all(axis=1)
        if not ok.any():
            raise DataError(
                f"{self.ticker}: no day has a full feature row (need more than 252 trading days of history, "
                f"got {len(self.dates)})"
            )
        self.first_valid = int(np.argmax(ok))
        if not ok[self.first_valid :].all():
            bad = self.dates[self.first_valid :][~ok[self.first_valid :]]
            raise DataError(f"{self.ticker}: features undefined after the warm-up on {list(bad[:3].date)}")

    @classmethod
    def from_prices(
        cls,
        ticker: str,
        prices: pd.DataFrame,
        regimes: pd.Series | None = None,
        target: Target = DIRECTION,
        features: str = "base",
    ) -> AssetSeries:
        """Compute the causal features (of the set ``features``) and outcomes of ``prices`` (the loaders' OHLCV
        frame)."""
        feats = compute_features(prices, features)
        return cls(
            ticker=ticker,
            dates=pd.DatetimeIndex(prices.index),
            x=feats.to_numpy(np.float32),
            next_return=next_day_return(prices).to_numpy(np.float64),
            prices=prices,
            regimes=None if regimes is None else regimes.reindex(prices.index),
            target=target,
        )

    def _target_labels(self) -> tuple[np.ndarray, np.ndarray]:
        if self._labels is None or self._labels[0] is not self.target:
            y, known = self.target.labels(self.prices["close"].to_numpy(np.float64))
            self._labels = (self.target, y, known)
        return self._labels[1], self._labels[2]

    @property
    def y(self) -> np.ndarray:
        """The target's class of every day (direction: 1 = the next close is higher); 0 where not yet :attr:`known`."""
        return self._target_labels()[0]

    @property
    def known(self) -> np.ndarray:
        """True on the days whose outcome is realised inside the data (all but the last ``horizon`` days)."""
        return self._target_labels()[1]

    def index_range(self, start: pd.Timestamp | None, end: pd.Timestamp | None) -> tuple[int, int]:
        """``[lo, hi)`` day indices of the dates in ``[start, end]`` (either open)."""
        lo = 0 if start is None else int(self.dates.searchsorted(start, side="left"))
        hi = len(self.dates) if end is None else int(self.dates.searchsorted(end, side="right"))
        return lo, hi


def valid_starts(series: AssetSeries, lo: int, hi: int, support: int, query: int, embargo: int) -> np.ndarray:
    """First query days ``t`` of full tasks whose query days and their outcomes lie in days ``[lo, hi)``.

    The outcome of query day ``i`` is the close of ``i + h`` (``h`` the target's horizon), so
    ``t + query - 1 + h <= hi - 1``; the support must start after the warm-up: ``t - embargo - support >= first_valid``.
    """
    first = max(lo, series.first_valid + embargo + support)
    last = min(hi - 1, len(series.dates) - 1) - query - series.target.horizon + 1  # inclusive
    return np.arange(first, last + 1) if last >= first else np.arange(0)


def walk_forward_starts(series: AssetSeries, lo: int, hi: int, support: int, query: int, embargo: int) -> np.ndarray:
    """Consecutive task starts covering the days ``[lo, hi)`` every ``query`` days (the last one may be short).

    Days too early for a full support window are skipped; the last day of the data (no outcome yet) is
    still a decision day when it lies inside ``[lo, hi)``.
    """
    first = max(lo, series.first_valid + embargo + support)
    stop = min(hi, len(series.dates))
    return np.arange(first, stop, query) if stop > first else np.arange(0)


def make_task(series: AssetSeries, t: int, support: int, query: int, embargo: int, split: str = "") -> Task:
    """The task of ``series`` whose first query day is ``t`` (see the module docstring).

    The query is cut at the end of the data; a query day whose outcome is not known yet (the last
    ``horizon`` days) keeps a placeholder label and is masked out (``query_mask``), so it can still be predicted.
    Raises :class:`TaskError` when ``embargo`` is shorter than the target's horizon.
    """
    check_embargo(embargo, series.target)
    s0, s1 = t - embargo - support, t - embargo
    if s0 < series.first_valid:
        raise TaskError(
            f"{series.ticker}: a task at {series.dates[t].date()} needs {support} support days after the "
            f"{series.first_valid}-day warm-up; start later or use fewer support days"
        )
    q1 = min(t + query, len(series.dates))
    if q1 <= t:
        raise TaskError(f"{series.ticker}: no query day at index {t} (the series has {len(series.dates)} days)")
    xs, xq = standardise(series.x[s0:s1].astype(np.float64), series.x[t:q1].astype(np.float64))
    known = series.known[t:q1]
    y = series.y
    meta: dict[str, Any] = {
        "ticker": series.ticker,
        "task_id": f"{series.ticker}@{series.day_names[t]}",
        "split": split,
        "classes": list(range(series.target.n_classes)),
        "class_names": list(series.target.class_names),
        "start_index": int(t),
        "support_dates": [str(series.day_names[s0]), str(series.day_names[s1 - 1])],
        "query_dates": series.day_names[t:q1].tolist(),
    }
    return Task(
        torch.from_numpy(xs.astype(np.float32)),
        torch.from_numpy(y[s0:s1].copy()),
        torch.from_numpy(xq.astype(np.float32)),
        torch.from_numpy(np.where(known, y[t:q1], 0)),
        query_mask=None if known.all() else torch.from_numpy(known),
        metadata=meta,
    )
