"""Vectorised daily backtest of a trading signal, with performance metrics and a per-regime breakdown.

**Conventions** (shared by :mod:`metasuite.domains.trading.strategies`):

* a *signal* is a Series indexed by trading dates; ``signal[t]`` is the target position decided at the
  close of day ``t`` from information up to and including that close. Values lie in [-1, 1]
  (1 long, 0 flat, -1 short, fractions allowed); ``NaN`` means "no decision yet" and is held flat;
* execution has a one-day lag: the position held over day ``t``'s return is ``signal[t - 1]``;
* the daily simple return of the asset is ``r[t] = close[t] / close[t - 1] - 1`` (0 on the first day);
* trading ``|position[t] - position[t - 1]|`` (the first trade from a flat book counts) costs
  ``cost_bps + slippage_bps`` basis points of capital, charged on the day the new position is held.

**Undefined ratios are NaN**, never an error and never 0: the Sharpe ratio of a constant return series
(a flat strategy, for one), the Sortino ratio without a losing day, the Calmar ratio without a drawdown,
the hit rate of a strategy that is never invested. JSON writers turn them into ``null``.

Returns are fractions (0.01 = 1 %), annualised with ``periods_per_year`` trading days (252 by default).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from metasuite.core.errors import DataError
from metasuite.domains.trading.synth import TRADING_DAYS

__all__ = [
    "TRADING_DAYS",
    "BacktestResult",
    "annualised_sharpe",
    "backtest",
    "check_close",
    "drawdown",
    "performance",
    "regime_breakdown",
    "stationary_bootstrap_indices",
]

#: A signal may exceed 1 in absolute value by this much (rounding in a sizing rule) and still be accepted.
SIGNAL_TOLERANCE = 1e-9
#: A daily standard deviation below this is treated as zero (constant returns): the Sharpe ratio is undefined.
_STD_EPS = 1e-12
#: Bootstrap resamples are drawn in chunks of at most this many (resample, day) cells to bound memory.
_BOOT_CHUNK_CELLS = 2_000_000


@dataclass(frozen=True)
class BacktestResult:
    """Daily series of a backtest, all on the close prices' dates.

    Attributes
    ----------
    position : position held over each day's return (``signal`` shifted by one day, NaN -> 0).
    returns : the asset's daily simple return ``r`` (0 on the first day).
    gross : ``position * returns``, before costs.
    turnover : ``|position[t] - position[t - 1]|``, the first day's trade from 0 included.
    cost : ``turnover * (cost_bps + slippage_bps) / 1e4``.
    net : ``gross - cost``.
    equity : ``cumprod(1 + net)``, the value of 1 unit of capital at each close.
    """

    position: pd.Series
    returns: pd.Series
    gross: pd.Series
    turnover: pd.Series
    cost: pd.Series
    net: pd.Series
    equity: pd.Series
    cost_bps: float
    slippage_bps: float

    def performance(self, **kwargs: Any) -> dict[str, float]:
        """:func:`performance` of the net returns and positions (keyword arguments passed on)."""
        return performance(self.net, self.position, **kwargs)


def check_close(close: Any, name: str = "close") -> pd.Series:
    """Return ``close`` as a float Series after checking it is a usable price series.

    Raises :class:`~metasuite.core.errors.DataError` unless ``close`` is a non-empty Series of positive, finite
    prices on a unique, increasing index.
    """
    if isinstance(close, pd.DataFrame):
        hint = " (pass prices['close'], not the whole OHLCV frame)" if "close" in close.columns else ""
        raise DataError(f"{name} must be a pandas Series of prices, got a DataFrame{hint}")
    if not isinstance(close, pd.Series):
        raise DataError(f"{name} must be a pandas Series of prices indexed by date, got {type(close).__name__}")
    if close.empty:
        raise DataError(f"{name} is empty")
    if not close.index.is_unique:
        dupes = close.index[close.index.duplicated()].unique()[:3].tolist()
        raise DataError(f"{name} has duplicate dates, e.g. {dupes}; drop them first")
    if not close.index.is_monotonic_increasing:
        raise DataError(f"{name} dates are not in increasing order; sort it with .sort_index()")
    try:
        values = close.to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise DataError(f"{name} must hold numbers, got dtype {close.dtype}") from err
    bad = ~np.isfinite(values) | (values <= 0)
    if bad.any():
        raise DataError(
            f"{name} must be positive and finite; {int(bad.sum())} bad value(s), first at "
            f"{close.index[np.argmax(bad)]} ({values[np.argmax(bad)]}); drop or fill them first"
        )
    return pd.Series(values, index=close.index, name=close.name)


def _check_signal(signal: Any, close: pd.Series) -> pd.Series:
    if not isinstance(signal, pd.Series):
        raise DataError(f"signal must be a pandas Series indexed by date, got {type(signal).__name__}")
    if not signal.index.is_unique:
        dupes = signal.index[signal.index.duplicated()].unique()[:3].tolist()
        raise DataError(f"signal has duplicate dates, e.g. {dupes}")
    unknown = signal.index.difference(close.index)
    if len(unknown):
        raise DataError(
            f"signal has {len(unknown)} date(s) that are not trading dates of close, first {unknown[:3].tolist()}; "
            "compute the signal from the same price series, or .reindex() it onto close.index"
        )
    try:
        values = signal.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as err:
        raise DataError(f"signal must hold numbers in [-1, 1] (or NaN), got dtype {signal.dtype}") from err
    too_big = np.abs(values) > 1.0 + SIGNAL_TOLERANCE  # NaN compares False: "no decision" is allowed
    if too_big.any():
        i = int(np.argmax(too_big))
        raise DataError(
            f"signal must lie in [-1, 1] (no leverage); {int(too_big.sum())} value(s) outside, first "
            f"{values[i]} at {signal.index[i]}; scale or clip it"
        )
    return pd.Series(values, index=signal.index).reindex(close.index)


def backtest(
    signal: pd.Series, close: pd.Series, *, cost_bps: float = 10.0, slippage_bps: float = 0.0
) -> BacktestResult:
    """Backtest ``signal`` on the asset whose closing prices are ``close`` (see the module conventions).

    Parameters
    ----------
    signal : target positions in [-1, 1] on a subset of ``close``'s dates; missing dates and NaN are flat.
    close : closing prices (positive, finite) on a unique, increasing date index.
    cost_bps, slippage_bps : cost of trading one unit of capital, in basis points (commission, spread
        and market impact; the two are simply added).

    Raises :class:`~metasuite.core.errors.DataError` for misaligned dates, bad prices, positions outside [-1, 1]
    or negative costs.
    """
    close = check_close(close)
    for name, bps in (("cost_bps", cost_bps), ("slippage_bps", slippage_bps)):
        if not (math.isfinite(bps) and bps >= 0):
            raise DataError(f"{name} must be a finite number >= 0 (basis points), got {bps}")
    target = _check_signal(signal, close)

    position = target.shift(1).fillna(0.0).rename("position")
    returns = close.pct_change().fillna(0.0).rename("returns")
    gross = (position * returns).rename("gross")
    # diff() leaves the first day empty: the trade there is from a flat book
    turnover = position.diff().fillna(position.iloc[0]).abs().rename("turnover")
    cost = (turnover * (cost_bps + slippage_bps) / 1e4).rename("cost")
    net = (gross - cost).rename("net")
    equity = (1.0 + net).cumprod().rename("equity")
    return BacktestResult(
        position=position,
        returns=returns,
        gross=gross,
        turnover=turnover,
        cost=cost,
        net=net,
        equity=equity,
        cost_bps=float(cost_bps),
        slippage_bps=float(slippage_bps),
    )


def drawdown(equity: pd.Series) -> pd.Series:
    """Fractional drawdown of an equity curve from its running peak (0 at a new high, -0.3 = 30 % below).

    The first value is the first peak: prepend the starting capital if the curve does not start with it.
    Raises :class:`~metasuite.core.errors.DataError` for an empty curve, or one that is not finite and non-negative
    or starts at 0.
    """
    values = np.asarray(equity, dtype=np.float64)
    if values.size == 0:
        raise DataError("equity curve is empty")
    if not np.isfinite(values).all() or (values < 0).any() or values[0] <= 0:
        raise DataError("equity must be finite and >= 0 and start above 0 (a value of capital, not a return)")
    peak = np.maximum.accumulate(values)
    dd = values / peak - 1.0
    index = equity.index if isinstance(equity, pd.Series) else None
    return pd.Series(dd, index=index, name="drawdown")


def _as_returns(net: Any) -> pd.Series:
    series = net if isinstance(net, pd.Series) else pd.Series(np.asarray(net))
    if series.empty:
        raise DataError("no returns: the return series is empty")
    try:
        values = series.to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise DataError(f"returns must be numbers, got dtype {series.dtype}") from err
    if not np.isfinite(values).all():
        bad = ~np.isfinite(values)
        raise DataError(
            f"returns must be finite; {int(bad.sum())} NaN/inf value(s), first at {series.index[np.argmax(bad)]}"
        )
    if (values < -1.0).any():
        raise DataError(f"a daily return below -100 % ({values.min():.3f}) is impossible without leverage")
    return pd.Series(values, index=series.index)


def _as_positions(position: Any, net: pd.Series) -> np.ndarray:
    if isinstance(position, pd.Series):
        if not position.index.equals(net.index):
            raise DataError("position and net returns must be on the same dates (use BacktestResult.position and .net)")
    elif len(position) != len(net):
        raise DataError(f"position has {len(position)} values but net has {len(net)}")
    values = np.asarray(position, dtype=np.float64)
    if not np.isfinite(values).all():
        raise DataError("position must be finite (a held position is never NaN; flat is 0)")
    return values


def annualised_sharpe(x: np.ndarray, periods_per_year: int) -> np.ndarray:
    """Annualised Sharpe ratio along the last axis (rf = 0); NaN where the returns are constant."""
    mean = x.mean(axis=-1)
    std = x.std(axis=-1, ddof=1)
    ok = std > _STD_EPS
    return np.where(ok, mean / np.where(ok, std, 1.0) * math.sqrt(periods_per_year), np.nan)


def _stationary_bootstrap_sharpe(
    x: np.ndarray, *, n_boot: int, block: int, periods_per_year: int, rng: np.random.Generator
) -> np.ndarray:
    """Sharpe ratios of ``n_boot`` stationary-bootstrap resamples of ``x`` (Politis & Romano 1994).

    Each resample is a chain of blocks that start at a uniform random day and wrap around the end; a new
    block starts on each day with probability ``1 / block`` (geometric block lengths, mean ``block``).
    """
    n = x.size
    out = np.empty(n_boot)
    chunk = max(1, _BOOT_CHUNK_CELLS // n)
    for lo in range(0, n_boot, chunk):
        m = min(chunk, n_boot - lo)
        new_block = rng.random((m, n)) < 1.0 / block
        starts = rng.integers(0, n, size=(m, n))
        out[lo : lo + m] = annualised_sharpe(x[stationary_bootstrap_indices(new_block, starts)], periods_per_year)
    return out


def stationary_bootstrap_indices(new_block: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Day indices of stationary-bootstrap resamples, shape ``(m, n)``, from their random draws.

    ``new_block[i, j]`` says whether resample ``i`` starts a new block on day ``j`` (day 0 always does),
    ``starts[i, j]`` where in the data that block would start (uniform in ``[0, n)``); a block then runs
    on consecutive days, wrapping around the end.
    """
    n = new_block.shape[1]
    day = np.arange(n)
    opens = new_block.copy()
    opens[:, 0] = True
    # day on which the current block began, then where that block started in the data
    began = np.maximum.accumulate(np.where(opens, day, 0), axis=1)
    origin = np.take_along_axis(starts, began, axis=1)
    return (origin + day - began) % n


def _window_stats(x: np.ndarray, pos: np.ndarray | None, periods_per_year: int) -> dict[str, float]:
    """Statistics shared by :func:`performance` and :func:`regime_breakdown` (no bootstrap)."""
    n = x.size
    std = float(x.std(ddof=1)) if n > 1 else math.nan
    if pos is None:
        hit_rate = exposure = math.nan
    else:
        invested = pos != 0
        hit_rate = float((x[invested] > 0).mean()) if invested.any() else math.nan
        exposure = float(np.abs(pos).mean())
    return {
        "ann_return": float(x.mean() * periods_per_year),
        "ann_vol": std * math.sqrt(periods_per_year),
        "sharpe": float(annualised_sharpe(x, periods_per_year)) if n > 1 else math.nan,
        "hit_rate": hit_rate,
        "exposure": exposure,
        "total_return": float(np.prod(1.0 + x) - 1.0),
        "n_days": float(n),
    }


def performance(
    net: pd.Series,
    position: pd.Series | None = None,
    *,
    periods_per_year: int = TRADING_DAYS,
    n_boot: int = 1000,
    block: int = 20,
    seed: int = 0,
) -> dict[str, float]:
    """Performance metrics of daily net returns (fractions), optionally with the positions held.

    Returns a dict of floats:

    * ``cagr``: ``(1 + total_return) ** (periods_per_year / n_days) - 1``, each return being one period;
    * ``ann_vol``: standard deviation (ddof 1) times ``sqrt(periods_per_year)``;
    * ``sharpe``: ``mean / std * sqrt(periods_per_year)`` with a zero risk-free rate, and ``sharpe_lo``,
      ``sharpe_hi``: its 95 % percentile interval from ``n_boot`` stationary-bootstrap resamples (mean
      block length ``block`` days, which keeps volatility clustering), drawn from
      ``numpy.random.default_rng(seed)``;
    * ``sortino``: ``mean / downside deviation * sqrt(periods_per_year)``, the downside deviation being
      ``sqrt(mean(min(r, 0) ** 2))`` over all days;
    * ``max_drawdown``: the deepest fall from a peak (<= 0; -0.55 = 55 % below), starting capital included;
    * ``calmar``: ``cagr / |max_drawdown|``;
    * ``turnover``: ``sum |position[t] - position[t - 1]|`` per year (the first trade from 0 included);
    * ``hit_rate``: among the days with a nonzero position, the fraction with a positive net return;
    * ``exposure``: mean ``|position|``;
    * ``total_return``, ``n_days``.

    Ratios whose denominator is zero are NaN (see the module docstring), as are ``turnover``, ``hit_rate``
    and ``exposure`` when ``position`` is not given and the bootstrap interval when ``n_boot`` is 0.

    Raises :class:`~metasuite.core.errors.DataError` for empty or non-finite returns, a return below -100 %, or
    positions on other dates than the returns.
    """
    if periods_per_year <= 0 or n_boot < 0 or block < 1:
        raise DataError(
            f"need periods_per_year > 0, n_boot >= 0 and block >= 1; got {periods_per_year}, {n_boot}, {block}"
        )
    series = _as_returns(net)
    x = series.to_numpy()
    pos = None if position is None else _as_positions(position, series)
    n = x.size
    stats = _window_stats(x, pos, periods_per_year)

    total = stats["total_return"]
    cagr = (1.0 + total) ** (periods_per_year / n) - 1.0
    equity = np.concatenate([[1.0], np.cumprod(1.0 + x)])
    mdd = float(drawdown(pd.Series(equity)).min())
    downside = math.sqrt(float(np.mean(np.minimum(x, 0.0) ** 2)))
    sortino = float(x.mean()) / downside * math.sqrt(periods_per_year) if downside > _STD_EPS else math.nan

    sharpe_lo = sharpe_hi = math.nan
    if n_boot > 0 and math.isfinite(stats["sharpe"]):
        boot = _stationary_bootstrap_sharpe(
            x, n_boot=n_boot, block=block, periods_per_year=periods_per_year, rng=np.random.default_rng(seed)
        )
        if np.isfinite(boot).any():
            sharpe_lo, sharpe_hi = (float(v) for v in np.nanpercentile(boot, [2.5, 97.5]))

    if pos is None:
        turnover = math.nan
    else:
        trades = np.abs(np.diff(pos, prepend=0.0))
        turnover = float(trades.sum() * periods_per_year / n)
    return {
        "cagr": float(cagr),
        "ann_vol": stats["ann_vol"],
        "sharpe": stats["sharpe"],
        "sharpe_lo": sharpe_lo,
        "sharpe_hi": sharpe_hi,
        "sortino": sortino,
        "max_drawdown": mdd,
        "calmar": float(cagr) / abs(mdd) if mdd < 0 else math.nan,
        "turnover": turnover,
        "hit_rate": stats["hit_rate"],
        "exposure": stats["exposure"],
        "total_return": total,
        "n_days": stats["n_days"],
    }


def regime_breakdown(
    net: pd.Series, position: pd.Series, regimes: pd.Series, *, periods_per_year: int = TRADING_DAYS
) -> dict[str, dict[str, float]]:
    """Metrics on the days of each regime label: ``{label: {ann_return, ann_vol, sharpe, hit_rate,
    exposure, n_days, total_return}}``.

    ``ann_return`` is the mean daily return times ``periods_per_year`` (the days of a regime are not
    contiguous, so a compounded rate would mislead); ``total_return`` compounds that regime's days only.
    ``regimes`` must label every date of ``net`` (extra dates are ignored); a NaN label means "unknown"
    and that day is left out of every group. Labels are listed in category order for a categorical
    Series, else sorted.

    Raises :class:`~metasuite.core.errors.DataError` when ``regimes`` misses dates of ``net`` or ``position`` is
    not on ``net``'s dates.
    """
    series = _as_returns(net)
    pos = _as_positions(position, series)
    if not isinstance(regimes, pd.Series):
        raise DataError(f"regimes must be a pandas Series of labels indexed by date, got {type(regimes).__name__}")
    missing = series.index.difference(regimes.index)
    if len(missing):
        raise DataError(
            f"regimes has no entry for {len(missing)} date(s) of the returns, first {missing[:3].tolist()}; "
            "label every day (NaN for unknown)"
        )
    if not regimes.index.is_unique:
        raise DataError("regimes has duplicate dates; give one label per day")
    labels = regimes.reindex(series.index)
    if isinstance(labels.dtype, pd.CategoricalDtype):
        present = set(labels.dropna())
        order = [c for c in labels.cat.categories if c in present]
    else:
        order = sorted(labels.dropna().unique(), key=str)
    x = series.to_numpy()
    lab = labels.to_numpy()
    return {str(name): _window_stats(x[lab == name], pos[lab == name], periods_per_year) for name in order}
