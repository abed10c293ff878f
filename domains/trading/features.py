"""Causal daily features of one asset, the next-day label, and support-window standardisation.

Every feature of day ``t`` is computed from prices and volumes up to and including day ``t``'s close
(rolling windows end at ``t``; nothing is centred or back-filled), so a decision taken at the close of
``t`` may use it. The label of day ``t`` is the direction of the *next* day's close-to-close return,
known only at the close of ``t + 1``: :mod:`metasuite.domains.trading.tasks` uses it for a support day only once
it is realised.

Features (:data:`FEATURES`):

* ``ret_1, ret_5, ret_21, ret_63, ret_252``: log returns over 1 day, a week, a month, a quarter, a year;
* ``vol_21, vol_63``: annualised realised volatility of daily log returns; ``vol_ratio`` = vol_21 / vol_63;
* ``drawdown``: log distance of the close below its running 252-day high (<= 0);
* ``ma_gap_50, ma_gap_200``: log distance of the close from its 50 / 200-day moving average;
* ``range_21``: mean intraday range (high - low) / close over 21 days;
* ``volume_z``: z-score of log volume against its 63-day mean and deviation (0 when volume is constant
  or missing, e.g. index series without volume).

Signed features (returns, drawdown, moving-average gaps: :data:`SIGNED`) keep their zero -- the sign
of a trend is the information -- and are only scaled by the support window's deviation; the others are
centred and scaled (:func:`standardise`).

A day's features exist once :data:`WARMUP` days of history lie behind it; earlier rows are NaN.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from metasuite.core.errors import DataError

__all__ = ["FEATURES", "SIGNED", "WARMUP", "compute_features", "next_day_return", "standardise"]

FEATURES = (
    "ret_1",
    "ret_5",
    "ret_21",
    "ret_63",
    "ret_252",
    "vol_21",
    "vol_63",
    "vol_ratio",
    "drawdown",
    "ma_gap_50",
    "ma_gap_200",
    "range_21",
    "volume_z",
)
#: Features whose zero means something (up vs down, above vs below the average): scaled, not centred.
SIGNED = np.array([f.startswith(("ret_", "ma_gap_")) or f == "drawdown" for f in FEATURES])
#: Trading days of history a feature row needs (the 252-day return and high).
WARMUP = 252
_ANNUAL = np.sqrt(252.0)


def compute_features(prices: pd.DataFrame) -> pd.DataFrame:
    """The :data:`FEATURES` of every day of one asset (rows before :data:`WARMUP` days are NaN).

    ``prices`` has columns ``open, high, low, close, volume`` on a sorted date index (the loaders'
    format). Returns a float64 frame on the same index.
    """
    missing = [c for c in ("high", "low", "close", "volume") if c not in prices.columns]
    if missing:
        raise DataError(f"price frame lacks columns {missing}; expected open, high, low, close, volume")
    close = prices["close"].astype(np.float64)
    if (close <= 0).any() or close.isna().any():
        raise DataError(
            "close prices must be positive and not NaN; validate the data with metasuite.domains.trading.data"
        )
    logc = np.log(close)
    r1 = logc.diff()
    f = pd.DataFrame(index=prices.index)
    for h in (1, 5, 21, 63, 252):
        f[f"ret_{h}"] = logc - logc.shift(h)
    f["vol_21"] = r1.rolling(21, min_periods=21).std() * _ANNUAL
    f["vol_63"] = r1.rolling(63, min_periods=63).std() * _ANNUAL
    f["vol_ratio"] = f["vol_21"] / f["vol_63"].where(f["vol_63"] > 0)
    f["drawdown"] = logc - logc.rolling(252, min_periods=252).max()
    f["ma_gap_50"] = logc - np.log(close.rolling(50, min_periods=50).mean())
    f["ma_gap_200"] = logc - np.log(close.rolling(200, min_periods=200).mean())
    span = (prices["high"].astype(np.float64) - prices["low"].astype(np.float64)) / close
    f["range_21"] = span.rolling(21, min_periods=21).mean()
    logv = np.log1p(prices["volume"].astype(np.float64).clip(lower=0).fillna(0.0))
    mu = logv.rolling(63, min_periods=63).mean()
    sd = logv.rolling(63, min_periods=63).std()
    f["volume_z"] = ((logv - mu) / sd.where(sd > 1e-8)).fillna(0.0).where(mu.notna())
    f = f[list(FEATURES)]
    f.iloc[:WARMUP] = np.nan  # one warm-up rule for every feature
    return f.replace([np.inf, -np.inf], np.nan)


def next_day_return(prices: pd.DataFrame) -> pd.Series:
    """Log return from the close of ``t`` to the close of ``t + 1`` (NaN on the last day): day ``t``'s outcome."""
    logc = np.log(prices["close"].astype(np.float64))
    return (logc.shift(-1) - logc).rename("next_return")


def standardise(
    support: np.ndarray, *others: np.ndarray, clip: float = 5.0, signed: np.ndarray | None = None
) -> tuple[np.ndarray, ...]:
    """Scale features with the support window's statistics only (never the query's), clipped to ±``clip``.

    Columns flagged in ``signed`` (default :data:`SIGNED` when there are ``len(FEATURES)`` columns, else
    none) are divided by their support root-mean-square and keep their sign; the others are centred on
    the support mean and divided by the support deviation. A column constant over the support (deviation
    ~ 0) is centred but not scaled.
    """
    if signed is None:
        signed = SIGNED if support.shape[1] == len(FEATURES) else np.zeros(support.shape[1], dtype=bool)
    mean = np.where(signed, 0.0, support.mean(axis=0))
    sd = np.sqrt(((support - mean) ** 2).mean(axis=0))
    sd = np.where(sd > 1e-8, sd, 1.0)
    return tuple(np.clip((a - mean) / sd, -clip, clip) for a in (support, *others))
