"""Trading tasks: (asset, date) → support = the recent past with realised outcomes, query = the next days.

Day indices refer to one asset's trading days. A task starting at day ``t`` (its first query day) is

* **query**: days ``t, ..., t + H - 1``; the input of day ``i`` is its feature row (prices up to the
  close of ``i``), the label is the direction of the return from the close of ``i`` to the close of
  ``i + 1`` (not known when deciding);
* **support**: the ``L`` days ``t - E - L, ..., t - E - 1`` with their labels. The label of the last
  support day is realised at the close of ``t - E``; with the embargo ``E >= 1`` every support label is
  known strictly before the first query decision (at the close of ``t``), and the gap keeps the support
  outcomes from overlapping the query window;
* **standardisation**: every feature is scaled with the support window's mean and deviation only.

Labels are the global classes ``0 = down`` and ``1 = up`` in every task (a fixed label space).
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

__all__ = ["CLASS_NAMES", "AssetSeries", "make_task", "valid_starts", "walk_forward_starts"]

CLASS_NAMES = ("down", "up")


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
    """

    ticker: str
    dates: pd.DatetimeIndex
    x: np.ndarray
    next_return: np.ndarray
    prices: pd.DataFrame
    regimes: pd.Series | None = None
    first_valid: int = field(init=False)
    day_names: np.ndarray = field(init=False, repr=False)

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
    def from_prices(cls, ticker: str, prices: pd.DataFrame, regimes: pd.Series | None = None) -> AssetSeries:
        """Compute the causal features and outcomes of ``prices`` (the loaders' OHLCV frame)."""
        feats = compute_features(prices)
        return cls(
            ticker=ticker,
            dates=pd.DatetimeIndex(prices.index),
            x=feats.to_numpy(np.float32),
            next_return=next_day_return(prices).to_numpy(np.float64),
            prices=prices,
            regimes=None if regimes is None else regimes.reindex(prices.index),
        )

    @property
    def y(self) -> np.ndarray:
        """Direction labels (1 = the next close is higher); meaningless where ``next_return`` is NaN."""
        return (self.next_return > 0).astype(np.int64)

    def index_range(self, start: pd.Timestamp | None, end: pd.Timestamp | None) -> tuple[int, int]:
        """``[lo, hi)`` day indices of the dates in ``[start, end]`` (either open)."""
        lo = 0 if start is None else int(self.dates.searchsorted(start, side="left"))
        hi = len(self.dates) if end is None else int(self.dates.searchsorted(end, side="right"))
        return lo, hi


def valid_starts(series: AssetSeries, lo: int, hi: int, support: int, query: int, embargo: int) -> np.ndarray:
    """First query days ``t`` of full tasks whose query days and their outcomes lie in days ``[lo, hi)``.

    The outcome of query day ``i`` is the close of ``i + 1``, so ``t + query <= hi - 1``; the support
    must start after the warm-up: ``t - embargo - support >= first_valid``.
    """
    first = max(lo, series.first_valid + embargo + support)
    last = min(hi - 1, len(series.dates) - 1) - query  # inclusive
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
    day) keeps a placeholder label and is masked out (``query_mask``), so it can still be predicted.
    """
    if embargo < 1:
        raise TaskError(
            f"embargo must be >= 1 day (the last support outcome is realised at t - embargo), got {embargo}"
        )
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
    known = np.isfinite(series.next_return[t:q1])
    y = series.y
    meta: dict[str, Any] = {
        "ticker": series.ticker,
        "task_id": f"{series.ticker}@{series.day_names[t]}",
        "split": split,
        "classes": [0, 1],
        "class_names": list(CLASS_NAMES),
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
