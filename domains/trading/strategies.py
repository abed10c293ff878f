"""Baseline trading strategies: buy & hold, moving-average crossover, time-series momentum, volatility targeting,
2-state HMM (the statistical jump model is in :mod:`metasuite.domains.trading.jump`).

Every strategy maps closing prices to a *signal* (see :mod:`metasuite.domains.trading.backtest`): ``signal[t]`` is
the position decided at the close of day ``t`` from closes up to and including day ``t`` -- strictly
causal, so changing prices after day ``t`` never changes ``signal[:t]``. Values are 1 (long), 0 (flat),
-1 (short, where the strategy allows it); NaN means "no decision yet".

The HMM strategy is fitted on a training period only and then *filters* the test period: the probability
of each hidden state at day ``t`` is ``P(state_t | r_1 .. r_t)``, from the forward recursion alone.
hmmlearn's ``predict_proba`` runs the forward-backward algorithm, whose smoothed probabilities use
returns after ``t``: trading on them would look ahead.

Models fitted on history (the HMM, the jump model, the volatility target) can be refitted on an expanding window
every few months (:func:`refit_starts`, :func:`refitted_signal`): the model used from day ``r`` on is fitted on the
closes before ``r`` only.

References
----------
Moskowitz T, Ooi YH, Pedersen LH. Time series momentum. Journal of Financial Economics 104(2):228-250, 2012.
Moreira A, Muir T. Volatility-managed portfolios. Journal of Finance 72(4):1611-1644, 2017.
Hamilton JD. A new approach to the economic analysis of nonstationary time series and the business cycle.
Econometrica 57(2):357-384, 1989.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
from hmmlearn.hmm import GaussianHMM
from threadpoolctl import ThreadpoolController

from metasuite.core.errors import DataError
from metasuite.domains.trading.backtest import TRADING_DAYS, check_close

__all__ = [
    "BASELINE_NAMES",
    "RISK_OFF",
    "RISK_ON",
    "HMMRegimeStrategy",
    "baseline_signals",
    "buy_and_hold",
    "log_returns",
    "ma_crossover",
    "one_thread",
    "realised_variance",
    "refit_starts",
    "refitted_signal",
    "tsmom",
    "vol_target",
]

RISK_ON = "risk-on"
RISK_OFF = "risk-off"
#: Display names of :func:`baseline_signals`, in order.
BASELINE_NAMES = ("buy & hold", "MA 50/200", "TSMOM 12-1", "HMM 2-state")
#: The HMM sees log returns in percent: hmmlearn's variance floor (``min_covar`` = 1e-3) and covariance
#: prior would swamp daily variances of ~1e-4 in natural units.
_HMM_SCALE = 100.0


_THREADPOOLS: list[ThreadpoolController] = []


def one_thread() -> Any:
    """A context in which BLAS and OpenMP (scikit-learn's k-means, scipy) use one thread: on small fits their
    threads only contend (hmmlearn's HMM fit took 20-50x longer with them on a busy 2-core machine). The thread
    pools are found once per process (a scan of the loaded libraries costs ~4 ms)."""
    if not _THREADPOOLS:
        _THREADPOOLS.append(ThreadpoolController())
    return _THREADPOOLS[0].limit(limits=1)


class _NotConvergingFilter(logging.Filter):
    """Drops hmmlearn's "Model is not converging" warning: EM's log-likelihood dipping by round-off between two
    iterations (it is printed per restart and per refit, dozens of lines per evaluation); every other hmmlearn
    warning passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Model is not converging")


@contextlib.contextmanager
def _quiet_em() -> Iterator[None]:
    logger, only = logging.getLogger("hmmlearn.base"), _NotConvergingFilter()
    logger.addFilter(only)
    try:
        yield
    finally:
        logger.removeFilter(only)


def log_returns(close: pd.Series) -> pd.Series:
    """Daily log returns ``log(close[t] / close[t - 1])`` in natural units, on ``close``'s dates but the first."""
    close = check_close(close)
    return np.log(close).diff().iloc[1:].rename("log_return")


def realised_variance(close: pd.Series, window: int = 21) -> pd.Series:
    """Mean squared daily log return over the last ``window`` days (including ``t``); NaN until that many exist."""
    r2 = log_returns(close).reindex(close.index) ** 2
    return r2.rolling(window, min_periods=window).mean().rename("realised_variance")


def vol_target(close: pd.Series, target_variance: float, window: int = 21) -> pd.Series:
    """Volatility-managed exposure (Moreira & Muir 2017): ``min(1, target_variance / realised variance)``.

    The realised variance is :func:`realised_variance` over the last ``window`` days; ``target_variance`` (daily,
    log returns squared) is the training period's mean of it. Capped at 1: the backtest allows no leverage, so
    the exposure is cut in turbulent months and full otherwise. NaN until ``window`` returns exist.
    """
    if not (math.isfinite(target_variance) and target_variance > 0):
        raise DataError(f"target_variance must be a positive daily variance, got {target_variance}")
    rv = realised_variance(check_close(close), window)
    return np.minimum(1.0, target_variance / rv.where(rv > 0)).rename("vol target")


def buy_and_hold(close: pd.Series) -> pd.Series:
    """Long every day: a signal of 1 on every date of ``close`` (held from the second day on)."""
    close = check_close(close)
    return pd.Series(1.0, index=close.index, name="buy & hold")


def _flat_value(short: bool) -> float:
    return -1.0 if short else 0.0


def ma_crossover(close: pd.Series, fast: int = 50, slow: int = 200, *, short: bool = False) -> pd.Series:
    """Long (1) when the ``fast``-day simple moving average of closes is above the ``slow``-day one.

    Otherwise flat (0), or short (-1) with ``short=True``. The first ``slow - 1`` days, before the slow
    average exists, are flat (0) either way.
    """
    if not (isinstance(fast, int) and isinstance(slow, int) and 1 <= fast < slow):
        raise DataError(f"need integer windows 1 <= fast < slow, got fast={fast}, slow={slow}")
    close = check_close(close)
    ma_fast = close.rolling(fast, min_periods=fast).mean()
    ma_slow = close.rolling(slow, min_periods=slow).mean()
    signal = np.where(ma_fast > ma_slow, 1.0, _flat_value(short))
    signal[ma_slow.isna().to_numpy()] = 0.0
    return pd.Series(signal, index=close.index, name=f"MA {fast}/{slow}")


def tsmom(close: pd.Series, lookback: int = 252, skip: int = 21, *, short: bool = False) -> pd.Series:
    """Time-series momentum: long (1) when the return from ``t - lookback`` to ``t - skip`` is positive.

    The default is the 12-1 month rule of Moskowitz, Ooi & Pedersen (2012): the past year's return
    without its last month (short-term reversal). Otherwise flat (0), or with ``short=True`` short (-1)
    after a negative return (0 after an exactly zero one). Flat until ``lookback`` days of history exist.
    """
    if not (isinstance(lookback, int) and isinstance(skip, int) and 0 <= skip < lookback):
        raise DataError(f"need integers 0 <= skip < lookback, got lookback={lookback}, skip={skip}")
    close = check_close(close)
    past = close.shift(skip) / close.shift(lookback) - 1.0
    signal = np.where(past > 0, 1.0, 0.0)
    if short:
        signal[(past < 0).to_numpy()] = -1.0
    return pd.Series(signal, index=close.index, name="TSMOM 12-1" if (lookback, skip) == (252, 21) else "TSMOM")


class HMMRegimeStrategy:
    """Long in the "risk-on" state of a 2-state Gaussian HMM of daily log returns, flat in "risk-off".

    :meth:`fit` estimates the HMM on a training period with hmmlearn (``GaussianHMM(n_components=2,
    covariance_type="diag", n_iter=n_iter, random_state=s, implementation="scaling")``: with one feature the
    diagonal covariance is the full one, and the scaled forward-backward computes the same EM iterates three
    times faster than the log-space one; EM from ``n_restarts`` seeds ``seed, seed + 1, ...``, keeping the fit
    with the highest log-likelihood). ``fit(..., warm_start=model)`` instead runs one EM from a fitted model's
    parameters: the expanding-window refits. The state with the lower volatility
    is "risk-on", the other "risk-off". Volatility, not mean / volatility, decides because a state's
    volatility is estimated far more precisely than its mean (the standard error of an annualised mean
    is about vol / sqrt(years)): on ``simulate_market(3000, 3, seed=0)`` fitted on the first 1500 days,
    the high-volatility state of two of the three assets had the higher mean / volatility ratio, and
    labelling by that ratio put bear and crisis days into "risk-on" (balanced accuracy 0.35 and 0.28).
    Because a test period starts at an arbitrary day, the initial state distribution is then replaced
    by the chain's stationary distribution (EM would otherwise pin it to the state of the training
    period's first day).

    :meth:`filtered_probs` runs the scaled forward recursion on new returns; :meth:`signal` and
    :meth:`regime_labels` turn it into positions and labels. Same data and seed -> same model.

    Attributes (after :meth:`fit`)
    ------------------------------
    model_ : the fitted ``GaussianHMM`` (on log returns in percent).
    log_likelihood_ : its log-likelihood of the training returns.
    state_names_ : ``state_names_[k]`` is "risk-on" or "risk-off" for hidden state ``k``.
    state_stats_ : ``{name: {"ann_mean", "ann_vol", "expected_days"}}`` per state, annualised log returns
        in natural units and the expected run length ``1 / (1 - p_kk)``.
    """

    #: Fewer training returns than this give unstable EM fits.
    MIN_TRAIN_RETURNS = 100

    def __init__(self, *, n_restarts: int = 5, n_iter: int = 200, seed: int = 0) -> None:
        self.n_restarts = n_restarts
        self.n_iter = n_iter
        self.seed = seed

    def fit(self, train_close: pd.Series, *, warm_start: HMMRegimeStrategy | None = None) -> HMMRegimeStrategy:
        """Fit the HMM on the daily log returns of the training closes; returns ``self``.

        ``warm_start``: a fitted strategy whose parameters start a single EM run (no restarts). Raises
        :class:`~metasuite.core.errors.DataError` for fewer than :attr:`MIN_TRAIN_RETURNS` returns or unusable
        prices (NaN, non-positive).
        """
        if self.n_restarts < 1 or self.n_iter < 1:
            raise DataError(f"need n_restarts >= 1 and n_iter >= 1, got {self.n_restarts}, {self.n_iter}")
        returns = log_returns(check_close(train_close, name="train_close"))
        if len(returns) < self.MIN_TRAIN_RETURNS:
            raise DataError(
                f"the HMM needs at least {self.MIN_TRAIN_RETURNS} training returns, got {len(returns)} "
                f"(train_close has {len(returns) + 1} days); use a longer training period"
            )
        x = self.features(returns)
        best, best_ll = None, -math.inf
        seeds = [self.seed] if warm_start is not None else range(self.seed, self.seed + self.n_restarts)
        with one_thread(), _quiet_em():
            for s in seeds:
                model = self._model(s, warm_start)
                model.fit(x)
                ll = float(model.score(x))
                if math.isfinite(ll) and ll > best_ll:
                    best, best_ll = model, ll
        if best is None:
            raise DataError("every HMM fit of the training returns failed (non-finite log-likelihood)")

        mean = best.means_[:, 0] / _HMM_SCALE
        vol = np.sqrt(best.covars_[:, 0, 0]) / _HMM_SCALE
        risk_on = int(np.argmin(vol))
        best.startprob_ = best.get_stationary_distribution()
        self.model_ = best
        self.log_likelihood_ = best_ll
        self.state_names_ = [RISK_ON if k == risk_on else RISK_OFF for k in range(2)]
        stay = np.diag(best.transmat_)
        self.state_stats_ = {
            self.state_names_[k]: {
                "ann_mean": float(mean[k] * TRADING_DAYS),
                "ann_vol": float(vol[k] * math.sqrt(TRADING_DAYS)),
                "expected_days": float(1.0 / (1.0 - stay[k])) if stay[k] < 1 else math.inf,
            }
            for k in range(2)
        }
        return self

    def _model(self, seed: int, warm_start: HMMRegimeStrategy | None) -> GaussianHMM:
        kw = {"covariance_type": "diag", "n_iter": self.n_iter, "random_state": seed, "implementation": "scaling"}
        if warm_start is None:
            return GaussianHMM(n_components=2, **kw)
        warm_start._check_fitted()
        old = warm_start.model_
        model = GaussianHMM(n_components=2, init_params="", **kw)
        model.startprob_, model.transmat_ = old.startprob_.copy(), old.transmat_.copy()
        model.means_, model.covars_ = old.means_.copy(), old.covars_[:, 0, 0][:, None].copy()
        return model

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise DataError("HMMRegimeStrategy is not fitted: call .fit(train_close) first")

    @staticmethod
    def features(returns: pd.Series) -> np.ndarray:
        """The ``(n_days, 1)`` array the HMM models: daily log returns (natural units) in percent.

        Raises :class:`~metasuite.core.errors.DataError` for an empty or non-finite series.
        """
        if not isinstance(returns, pd.Series):
            raise DataError(f"returns must be a pandas Series of log returns, got {type(returns).__name__}")
        x = returns.to_numpy(dtype=np.float64)
        if x.size == 0 or not np.isfinite(x).all():
            raise DataError("returns must be a non-empty series of finite log returns (drop the first NaN)")
        return x[:, None] * _HMM_SCALE

    def filtered_probs(self, returns: pd.Series) -> pd.DataFrame:
        """``P(state_t | r_1 .. r_t)`` for each date of ``returns`` (daily log returns, natural units).

        Returns a DataFrame with columns ``"risk-on"``, ``"risk-off"`` (rows sum to 1) on ``returns``'s
        index. The recursion starts from the stationary distribution at the first return.
        """
        self._check_fitted()
        z = self.features(returns)[:, 0]
        m = self.model_
        var = m.covars_[:, 0, 0]
        log_b = -0.5 * (np.log(2.0 * np.pi * var)[None, :] + (z[:, None] - m.means_[None, :, 0]) ** 2 / var[None, :])
        # emission likelihoods up to a per-day factor, which the normalisation removes (no underflow)
        b = np.exp(log_b - log_b.max(axis=1, keepdims=True))
        trans = m.transmat_
        probs = np.empty_like(b)
        alpha = m.startprob_ * b[0]
        probs[0] = alpha / alpha.sum()
        for t in range(1, len(b)):  # the recursion is inherently sequential: each day needs yesterday's
            alpha = (probs[t - 1] @ trans) * b[t]
            probs[t] = alpha / alpha.sum()
        columns = self.state_names_
        frame = pd.DataFrame(probs, index=returns.index, columns=columns)
        return frame[[RISK_ON, RISK_OFF]]

    def signal(self, close: pd.Series, threshold: float = 0.5) -> pd.Series:
        """1 where the filtered ``P(risk-on) > threshold``, else 0; NaN on the first date (no return yet)."""
        if not 0.0 <= threshold <= 1.0:
            raise DataError(f"threshold is a probability in [0, 1], got {threshold}")
        close = check_close(close)
        p_on = self.filtered_probs(log_returns(close))[RISK_ON]
        signal = (p_on > threshold).astype(np.float64).reindex(close.index)
        return signal.rename("HMM 2-state")

    def regime_labels(self, close: pd.Series) -> pd.Series:
        """The more probable filtered state, "risk-on" or "risk-off", each day; NaN on the first date."""
        close = check_close(close)
        probs = self.filtered_probs(log_returns(close))
        labels = probs.idxmax(axis=1).astype(object)
        return labels.reindex(close.index).rename("regime")


def refit_starts(dates: pd.DatetimeIndex, first: int, stop: int, months: int) -> list[int]:
    """Day indices from which a model fitted on history is used: ``first``, then the first trading day on or after
    each ``months`` calendar months later, before ``stop``. ``months`` 0: ``[first]`` (fitted once)."""
    if months < 0:
        raise DataError(f"refit months must be >= 0 (0: fit once before the test period), got {months}")
    starts = [first]
    while months and first < stop:
        nxt = int(dates.searchsorted(dates[starts[-1]] + pd.DateOffset(months=months)))
        if nxt >= stop:
            break
        starts.append(nxt)
    return starts


def refitted_signal(
    close: pd.Series, starts: list[int], fit_and_signal: Callable[[pd.Series, pd.Series, int], pd.Series]
) -> pd.Series:
    """One signal from models refitted at each of ``starts`` (day indices of ``close``).

    ``fit_and_signal(history, closes, k)`` fits the ``k``-th model on ``history`` (the closes before
    ``starts[k]``) and returns its signal on ``closes`` (the closes up to the next start); the days from
    ``starts[k]`` to the next start take that model's signal, the days before ``starts[0]`` the first model's.
    """
    out = pd.Series(np.nan, index=close.index)
    bounds = [*starts[1:], len(close)]
    for k, (lo, hi) in enumerate(zip(starts, bounds)):
        signal = fit_and_signal(close.iloc[:lo], close.iloc[:hi], k)
        rows = slice(0 if k == 0 else lo, hi)
        out.iloc[rows] = signal.iloc[rows].to_numpy()
    return out


def baseline_signals(close: pd.Series, train_close: pd.Series | None = None, *, seed: int = 0) -> dict[str, pd.Series]:
    """The baseline signals on ``close``, keyed by :data:`BASELINE_NAMES`.

    "HMM 2-state" is fitted on ``train_close`` (which should end before ``close`` starts, for an honest
    test) and is left out when ``train_close`` is None. Raises :class:`~metasuite.core.errors.DataError` when
    ``train_close`` is too short to fit the HMM.
    """
    close = check_close(close)
    signals = {
        "buy & hold": buy_and_hold(close),
        "MA 50/200": ma_crossover(close, 50, 200),
        "TSMOM 12-1": tsmom(close, 252, 21),
    }
    if train_close is not None:
        hmm = HMMRegimeStrategy(seed=seed).fit(train_close)
        signals["HMM 2-state"] = hmm.signal(close)
    return {name: s.rename(name) for name, s in signals.items()}
