"""Baseline trading strategies: buy & hold, moving-average crossover, time-series momentum, 2-state HMM.

Every strategy maps closing prices to a *signal* (see :mod:`metasuite.domains.trading.backtest`): ``signal[t]`` is
the position decided at the close of day ``t`` from closes up to and including day ``t`` -- strictly
causal, so changing prices after day ``t`` never changes ``signal[:t]``. Values are 1 (long), 0 (flat),
-1 (short, where the strategy allows it); NaN means "no decision yet".

The HMM strategy is fitted on a training period only and then *filters* the test period: the probability
of each hidden state at day ``t`` is ``P(state_t | r_1 .. r_t)``, from the forward recursion alone.
hmmlearn's ``predict_proba`` runs the forward-backward algorithm, whose smoothed probabilities use
returns after ``t``: trading on them would look ahead.

References
----------
Moskowitz T, Ooi YH, Pedersen LH. Time series momentum. Journal of Financial Economics 104(2):228-250, 2012.
Hamilton JD. A new approach to the economic analysis of nonstationary time series and the business cycle.
Econometrica 57(2):357-384, 1989.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from hmmlearn.hmm import GaussianHMM

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
    "tsmom",
]

RISK_ON = "risk-on"
RISK_OFF = "risk-off"
#: Display names of :func:`baseline_signals`, in order.
BASELINE_NAMES = ("buy & hold", "MA 50/200", "TSMOM 12-1", "HMM 2-state")
#: The HMM sees log returns in percent: hmmlearn's variance floor (``min_covar`` = 1e-3) and covariance
#: prior would swamp daily variances of ~1e-4 in natural units.
_HMM_SCALE = 100.0


def log_returns(close: pd.Series) -> pd.Series:
    """Daily log returns ``log(close[t] / close[t - 1])`` in natural units, on ``close``'s dates but the first."""
    close = check_close(close)
    return np.log(close).diff().iloc[1:].rename("log_return")


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
    covariance_type="full", n_iter=n_iter, random_state=s)``, EM from ``n_restarts`` seeds ``seed,
    seed + 1, ...``, keeping the fit with the highest log-likelihood). The state with the lower volatility
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

    def fit(self, train_close: pd.Series) -> HMMRegimeStrategy:
        """Fit the HMM on the daily log returns of the training closes; returns ``self``.

        Raises :class:`~metasuite.core.errors.DataError` for fewer than :attr:`MIN_TRAIN_RETURNS` returns or
        unusable prices (NaN, non-positive).
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
        for s in range(self.seed, self.seed + self.n_restarts):
            model = GaussianHMM(n_components=2, covariance_type="full", n_iter=self.n_iter, random_state=s)
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
