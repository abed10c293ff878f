"""Synthetic multi-asset market with Markov regime switching and ground-truth regimes (``market-synth-v1``).

A hidden regime ``k_t`` follows a Markov chain over :data:`REGIMES` with realistic persistence (expected
durations: bull about a year, bear about half a year, sideways seven months, crisis six weeks). Given the
regime, the daily log return of asset ``i`` is

    r_it = mu_k + phi_k * r_i,t-1 + sigma_k * (sqrt(rho_k) * z_t + sqrt(1 - rho_k) * e_it)

with a common factor ``z_t`` and idiosyncratic shocks ``e_it`` (Student-t, 5 degrees of freedom, scaled to
unit variance: fat tails), so each regime has its own drift ``mu_k``, volatility ``sigma_k``, autocorrelation
``phi_k`` (> 0 momentum, < 0 mean reversion) and cross-asset correlation ``rho_k``. Each asset scales the
regime drift and volatility by its own factor. Open / high / low come from an overnight gap and an intraday
range proportional to the day's volatility; volume is log-normal, higher in volatile regimes and on large moves.

Everything is drawn from ``numpy.random.default_rng(seed)``: the same seed gives the same market.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from metasuite.core.errors import DataError

__all__ = [
    "REGIMES",
    "SYNTH_VERSION",
    "RegimeParams",
    "SyntheticMarket",
    "default_regimes",
    "default_transitions",
    "simulate_market",
    "synth_fingerprint",
]

SYNTH_VERSION = "market-synth-v1"
REGIMES = ("bull", "bear", "sideways", "crisis")
TRADING_DAYS = 252


@dataclass(frozen=True)
class RegimeParams:
    """One regime: annualised drift and volatility, lag-1 return autocorrelation, cross-asset correlation,
    expected duration (trading days) and relative volume level."""

    drift: float
    vol: float
    ar1: float
    corr: float
    duration: float
    volume: float = 1.0


def default_regimes() -> dict[str, RegimeParams]:
    """Regime parameters in the range of US equity indices (annualised)."""
    return {
        "bull": RegimeParams(drift=0.18, vol=0.12, ar1=0.05, corr=0.45, duration=250.0, volume=0.9),
        "bear": RegimeParams(drift=-0.22, vol=0.24, ar1=0.08, corr=0.65, duration=120.0, volume=1.2),
        "sideways": RegimeParams(drift=0.0, vol=0.15, ar1=-0.12, corr=0.40, duration=150.0, volume=1.0),
        "crisis": RegimeParams(drift=-0.80, vol=0.60, ar1=-0.05, corr=0.85, duration=30.0, volume=1.8),
    }


def default_transitions() -> dict[str, dict[str, float]]:
    """Where each regime goes when it ends (rows sum to 1): crises end in a bear market or a rebound, etc."""
    return {
        "bull": {"bear": 0.25, "sideways": 0.60, "crisis": 0.15},
        "bear": {"bull": 0.30, "sideways": 0.45, "crisis": 0.25},
        "sideways": {"bull": 0.55, "bear": 0.35, "crisis": 0.10},
        "crisis": {"bull": 0.35, "bear": 0.45, "sideways": 0.20},
    }


@dataclass
class SyntheticMarket:
    """Prices of every asset and the ground-truth regime of every day.

    ``prices[ticker]`` is a DataFrame indexed by business-day dates with columns
    ``open, high, low, close, volume``; ``regimes`` is a Series of regime names on the same dates.
    """

    prices: dict[str, pd.DataFrame]
    regimes: pd.Series
    params: dict[str, RegimeParams] = field(default_factory=dict)

    @property
    def tickers(self) -> list[str]:
        return list(self.prices)

    def regime_ids(self) -> np.ndarray:
        """Regime of each day as an index into :data:`REGIMES`."""
        return self.regimes.map({r: i for i, r in enumerate(REGIMES)}).to_numpy()


def _transition_matrix(params: dict[str, RegimeParams], exits: dict[str, dict[str, float]]) -> np.ndarray:
    n = len(REGIMES)
    p = np.zeros((n, n))
    for i, a in enumerate(REGIMES):
        stay = 1.0 - 1.0 / params[a].duration
        row = exits[a]
        total = sum(row.values())
        if total <= 0 or any(v < 0 for v in row.values()) or a in row:
            raise DataError(f"transitions out of {a!r} must be non-negative, name other regimes and sum > 0: {row}")
        p[i, i] = stay
        for b, w in row.items():
            p[i, REGIMES.index(b)] = (1.0 - stay) * w / total
    return p


def _student_t(rng: np.random.Generator, size: tuple[int, ...], dof: float = 5.0) -> np.ndarray:
    return rng.standard_t(dof, size=size) / np.sqrt(dof / (dof - 2.0))


def simulate_market(
    n_days: int = 2520,
    n_assets: int = 5,
    seed: int = 0,
    start: str = "2000-01-03",
    params: dict[str, RegimeParams] | None = None,
    transitions: dict[str, dict[str, float]] | None = None,
    start_price: float = 100.0,
) -> SyntheticMarket:
    """Simulate ``n_days`` business days of ``n_assets`` assets (tickers ``SYN0``, ``SYN1``, ...).

    Raises :class:`~metasuite.core.errors.DataError` for a non-positive size or invalid parameters.
    """
    if n_days < 2 or n_assets < 1:
        raise DataError(f"need n_days >= 2 and n_assets >= 1, got n_days={n_days}, n_assets={n_assets}")
    params = params or default_regimes()
    missing = [r for r in REGIMES if r not in params]
    if missing:
        raise DataError(f"regime parameters missing for {missing}; give all of {REGIMES}")
    for name, p in params.items():
        if p.vol <= 0 or not -1 < p.ar1 < 1 or not 0 <= p.corr < 1 or p.duration < 1:
            raise DataError(f"regime {name!r}: need vol > 0, -1 < ar1 < 1, 0 <= corr < 1, duration >= 1; got {p}")
    trans = _transition_matrix(params, transitions or default_transitions())
    rng = np.random.default_rng(seed)

    # hidden regime path, started from the chain's stationary distribution
    evals, evecs = np.linalg.eig(trans.T)
    stationary = np.real(evecs[:, np.argmin(np.abs(evals - 1.0))])
    stationary = stationary / stationary.sum()
    states = np.empty(n_days, dtype=np.int64)
    states[0] = rng.choice(len(REGIMES), p=stationary)
    u = rng.random(n_days)
    cum = np.cumsum(trans, axis=1)
    for t in range(1, n_days):
        states[t] = min(int(np.searchsorted(cum[states[t - 1]], u[t])), len(REGIMES) - 1)

    table = [params[r] for r in REGIMES]
    mu = np.array([p.drift for p in table])[states] / TRADING_DAYS
    sigma = np.array([p.vol for p in table])[states] / np.sqrt(TRADING_DAYS)
    phi = np.array([p.ar1 for p in table])[states]
    rho = np.array([p.corr for p in table])[states]
    vol_level = np.array([p.volume for p in table])[states]

    # each asset: its own drift / volatility scale around the regime's
    drift_scale = rng.uniform(0.6, 1.4, n_assets)
    vol_scale = rng.uniform(0.8, 1.6, n_assets)
    common = _student_t(rng, (n_days,))
    idio = _student_t(rng, (n_days, n_assets))
    shocks = np.sqrt(rho)[:, None] * common[:, None] + np.sqrt(1.0 - rho)[:, None] * idio
    # AR(1) in returns: the innovation variance is scaled so that the regime's volatility is the return's
    innov_sd = sigma[:, None] * vol_scale[None, :] * np.sqrt(1.0 - phi**2)[:, None]
    returns = np.empty((n_days, n_assets))
    prev = np.zeros(n_assets)
    for t in range(n_days):
        returns[t] = mu[t] * drift_scale + phi[t] * (prev - mu[t] * drift_scale) + innov_sd[t] * shocks[t]
        prev = returns[t]
    returns[0] = 0.0  # the first day is the starting price

    dates = pd.bdate_range(start=start, periods=n_days, name="date")
    close = start_price * rng.uniform(0.5, 2.0, n_assets)[None, :] * np.exp(np.cumsum(returns, axis=0))
    day_sd = sigma[:, None] * vol_scale[None, :]
    gap = 0.25 * day_sd * rng.standard_normal((n_days, n_assets))
    prev_close = np.vstack([close[:1], close[:-1]])
    open_ = prev_close * np.exp(gap)
    span = day_sd * np.abs(rng.standard_normal((n_days, n_assets))) * 0.8
    high = np.maximum(open_, close) * np.exp(span * rng.uniform(0.2, 1.0, (n_days, n_assets)))
    low = np.minimum(open_, close) * np.exp(-span * rng.uniform(0.2, 1.0, (n_days, n_assets)))
    base_volume = rng.uniform(2e6, 5e7, n_assets)
    surprise = np.abs(returns) / np.maximum(day_sd, 1e-12)
    volume = (
        base_volume[None, :]
        * vol_level[:, None]
        * np.exp(0.25 * surprise + 0.3 * rng.standard_normal((n_days, n_assets)))
    )

    prices = {
        f"SYN{i}": pd.DataFrame(
            {
                "open": open_[:, i],
                "high": high[:, i],
                "low": low[:, i],
                "close": close[:, i],
                "volume": np.round(volume[:, i]),
            },
            index=dates,
        )
        for i in range(n_assets)
    }
    regimes = pd.Series(np.array(REGIMES)[states], index=dates, name="regime")
    return SyntheticMarket(prices=prices, regimes=regimes, params=dict(params))


def synth_fingerprint(params: dict[str, RegimeParams] | None = None) -> str:
    """A short hash of the generator version and its regime parameters (changes when the generator does)."""
    blob = {
        "version": SYNTH_VERSION,
        "params": {k: asdict(v) for k, v in (params or default_regimes()).items()},
        "transitions": default_transitions(),
    }
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()[:16]
