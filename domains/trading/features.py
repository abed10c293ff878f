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

Feature sets (:data:`FEATURE_SETS`, the domain option ``features``): ``base`` (the 13 above, every checkpoint
without a recorded set) and ``regime`` (those 13 and the 9 :func:`regime_features`, 22 in all).

A day's features exist once :data:`WARMUP` days of history lie behind it; earlier rows are NaN.

:func:`regime_features` are the statistical jump model's inputs (Shu, Yu & Mulvey 2024; the ``jumpmodels``
package's example): exponentially weighted mean return, log downside deviation and Sortino ratio of daily
log returns at half-lives :data:`REGIME_HALFLIVES` days, equally causal.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from metasuite.core.errors import DataError

__all__ = [
    "FEATURES",
    "FEATURE_SETS",
    "REGIME_FEATURES",
    "REGIME_HALFLIVES",
    "SIGNED",
    "WARMUP",
    "compute_features",
    "next_day_return",
    "regime_features",
    "signed_mask",
    "standardise",
]

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
#: Half-lives (trading days) of the jump model's features.
REGIME_HALFLIVES = (5, 20, 60)
REGIME_FEATURES = tuple(f"{kind}_{hl}" for hl in REGIME_HALFLIVES for kind in ("ewm_ret", "log_dd", "sortino"))
#: The feature sets a domain can use: name -> feature names, in column order.
FEATURE_SETS = {"base": FEATURES, "regime": FEATURES + REGIME_FEATURES}
_SIGNED_NAMES = {f for f in FEATURE_SETS["regime"] if f.startswith(("ret_", "ma_gap_", "ewm_ret_", "sortino_"))}
_SIGNED_NAMES.add("drawdown")


def signed_mask(n_features: int) -> np.ndarray:
    """Which of the columns of a feature set with ``n_features`` columns keep their zero (:data:`SIGNED` for the
    base set); no column for a width that is no feature set (other data)."""
    for names in FEATURE_SETS.values():
        if len(names) == n_features:
            return np.array([f in _SIGNED_NAMES for f in names])
    return np.zeros(n_features, dtype=bool)


def compute_features(prices: pd.DataFrame, feature_set: str = "base") -> pd.DataFrame:
    """The features of ``feature_set`` (:data:`FEATURE_SETS`) of every day of one asset (rows before
    :data:`WARMUP` days are NaN).

    ``prices`` has columns ``open, high, low, close, volume`` on a sorted date index (the loaders'
    format). Returns a float64 frame on the same index.
    """
    if feature_set not in FEATURE_SETS:
        raise DataError(f"unknown feature set {feature_set!r}; choose one of {', '.join(FEATURE_SETS)}")
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
    if feature_set == "regime":
        f = pd.concat([f, regime_features(close)], axis=1)
    f.iloc[:WARMUP] = np.nan  # one warm-up rule for every feature
    return f.replace([np.inf, -np.inf], np.nan)


def regime_features(close: pd.Series) -> pd.DataFrame:
    """The :data:`REGIME_FEATURES` of every day of ``close`` (daily closes, date index), from log returns up to
    that day: for each half-life ``h``, the exponentially weighted mean return ``ewm_ret_h``, the log of the
    downside deviation ``sqrt(ewm(min(r, 0)^2))`` (``log_dd_h``) and their ratio ``sortino_h``.

    Rows before the longest half-life's worth of returns (and any day whose downside deviation is still 0) are
    NaN. Returns a float64 frame on ``close``'s index.
    """
    r = np.log(close.astype(np.float64)).diff()
    out = {}
    for hl in REGIME_HALFLIVES:
        mean = r.ewm(halflife=hl, ignore_na=True).mean()
        dd = np.sqrt((np.minimum(r, 0.0) ** 2).ewm(halflife=hl, ignore_na=True).mean())
        dd = dd.where(dd > 0)
        out[f"ewm_ret_{hl}"], out[f"log_dd_{hl}"], out[f"sortino_{hl}"] = mean, np.log(dd), mean / dd
    f = pd.DataFrame(out, index=close.index)[list(REGIME_FEATURES)]
    f.iloc[: max(REGIME_HALFLIVES)] = np.nan
    return f


def next_day_return(prices: pd.DataFrame) -> pd.Series:
    """Log return from the close of ``t`` to the close of ``t + 1`` (NaN on the last day): day ``t``'s outcome."""
    logc = np.log(prices["close"].astype(np.float64))
    return (logc.shift(-1) - logc).rename("next_return")


def standardise(
    support: np.ndarray, *others: np.ndarray, clip: float = 5.0, signed: np.ndarray | None = None
) -> tuple[np.ndarray, ...]:
    """Scale features with the support window's statistics only (never the query's), clipped to ±``clip``.

    Columns flagged in ``signed`` (default :func:`signed_mask` of the number of columns: :data:`SIGNED` for
    the base set) are divided by their support root-mean-square and keep their sign; the others are centred on
    the support mean and divided by the support deviation. A column constant over the support (deviation
    ~ 0) is centred but not scaled.
    """
    if signed is None:
        signed = signed_mask(support.shape[1])
    mean = np.where(signed, 0.0, support.mean(axis=0))
    sd = np.sqrt(((support - mean) ** 2).mean(axis=0))
    sd = np.where(sd > 1e-8, sd, 1.0)
    return tuple(np.clip((a - mean) / sd, -clip, clip) for a in (support, *others))
