"""The statistical jump model: two market regimes as clusters with a penalty on every switch.

Given standardised features ``x_0 .. x_{T-1}`` (:func:`~metasuite.domains.trading.features.regime_features`), the
jump model (Nystrup, Lindström & Madsen 2020; Shu, Yu & Mulvey 2024) chooses centres ``theta_0, theta_1`` and
states ``s_t`` minimising

    sum_t 1/2 ||x_t - theta_{s_t}||^2  +  lambda * #{t : s_t != s_{t-1}}

by coordinate descent from ``n_init`` k-means++ starts: states by dynamic programming given the centres (the
E-step), centres as the state means given the states (the M-step), until the states stop changing. States are
then sorted by cumulative return: state 0 is the bull state (the higher sum of daily returns in training).

Online use (``predict_online``): the state of day ``t`` is the argmin of the DP's forward values at ``t``, which
depend on ``x_0 .. x_t`` only -- causal, unlike the smoothed (Viterbi) path of the fit.

With two states and one penalty the DP's forward values reduce to their difference ``d_t = v_t(0) - v_t(1)``:

    d_0 = a_0,   d_t = a_t + clip(d_{t-1}, -lambda, lambda),   a_t = L_t(0) - L_t(1),

so each step is a few float operations. This module solves exactly the problem of ``jumpmodels.JumpModel``
(Shu et al.'s own package, a dependency: its k-means++ initialisation and its clipping / scaling preprocessing
are used as they are), which runs the general K-state DP as a per-day numpy loop: 0.77 s for one fit of ten
years with its default ten starts, against the ~0.5 s a whole ticker's evaluation may take here.
``tests/test_trading_jump.py`` checks that the states, centres and online states equal ``jumpmodels``' on the
same data and starts, and a hand-computed example.

Example
-------
>>> import numpy as np
>>> a = np.array([-3.0, -3.0, 2.0, 2.0, -3.0])      # L(t, 0) - L(t, 1): state 1 is cheaper on days 2 and 3
>>> viterbi_two_state(a, 1.0)[0].tolist()            # a switch costs 1: worth it for the two-day stretch
[0, 0, 1, 1, 0]
>>> viterbi_two_state(a, 10.0)[0].tolist()           # too dear: stay in state 0
[0, 0, 0, 0, 0]

References: Nystrup P, Lindström E, Madsen H (2020), "Learning hidden Markov models with persistent states by
penalizing jumps", Expert Systems with Applications 150:113307. Shu Y, Yu C, Mulvey JM (2024), "Downside risk
reduction using regime-switching signals: a statistical jump model approach", J. Asset Management 25:493-507.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from jumpmodels.base import init_centers_kmeans_plusplus
from jumpmodels.preprocess import DataClipperStd, StandardScalerPD
from sklearn.preprocessing import StandardScaler

from metasuite.core.errors import DataError
from metasuite.domains.trading.backtest import check_close
from metasuite.domains.trading.features import REGIME_FEATURES, regime_features
from metasuite.domains.trading.strategies import one_thread

__all__ = [
    "JUMP_PENALTY",
    "JumpModelStrategy",
    "fit_jump_model",
    "forward_differences",
    "online_two_state",
    "viterbi_two_state",
]

#: Default jump penalty lambda on the standardised features (the ``jumpmodels`` example for daily data uses 50).
JUMP_PENALTY = 50.0


def forward_differences(a: np.ndarray, jump_penalty: float) -> np.ndarray:
    """``d_t = v_t(0) - v_t(1)`` of the DP's forward values for the loss differences ``a`` ``(T,)``."""
    lam = float(jump_penalty)
    out = [0.0] * len(a)
    d = 0.0
    for t, at in enumerate(a.tolist()):  # sequential by nature; plain floats are ~20x faster than numpy per step
        if t:
            d = lam if d > lam else -lam if d < -lam else d
            d += at
        else:
            d = at
        out[t] = d
    return np.asarray(out)


def viterbi_two_state(a: np.ndarray, jump_penalty: float) -> tuple[np.ndarray, np.ndarray]:
    """The optimal state path ``(T,)`` for loss differences ``a`` and the forward differences ``d``.

    Ties go to state 0, as in ``jumpmodels`` (``argmin`` takes the first).
    """
    d = forward_differences(a, jump_penalty)
    lam = float(jump_penalty)
    dl = d.tolist()
    labels = [0] * len(dl)
    s = 1 if dl[-1] > 0 else 0
    labels[-1] = s
    for t in range(len(dl) - 1, 0, -1):
        prev = dl[t - 1]
        s = (1 if prev > lam else 0) if s == 0 else (0 if prev <= -lam else 1)
        labels[t - 1] = s
    return np.asarray(labels, dtype=np.int64), d


def online_two_state(a: np.ndarray, jump_penalty: float) -> np.ndarray:
    """The state of each day from the forward values up to that day only: 1 where ``d_t > 0``, else 0."""
    return (forward_differences(a, jump_penalty) > 0).astype(np.int64)


def _loss(x: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """``1/2 ||x_t - theta_k||^2`` ``(T, 2)``; an empty state (NaN centre) is unreachable (inf)."""
    loss = 0.5 * ((x[:, None, :] - centers[None, :, :]) ** 2).sum(axis=-1)
    return np.where(np.isnan(loss), np.inf, loss)


def _same_clustering(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    """Equal up to swapping the two labels (``jumpmodels.utils.is_same_clustering`` for two states)."""
    return a is not None and b is not None and (bool((a == b).all()) or bool((a != b).all()))


def _e_step(x: np.ndarray, centers: np.ndarray, jump_penalty: float) -> tuple[np.ndarray, float]:
    loss = _loss(x, centers)
    labels, _ = viterbi_two_state(loss[:, 0] - loss[:, 1], jump_penalty)
    value = float(loss[np.arange(len(labels)), labels].sum() + jump_penalty * np.count_nonzero(np.diff(labels)))
    return labels, value


def _m_step(x: np.ndarray, labels: np.ndarray) -> np.ndarray:
    centers = np.full((2, x.shape[1]), np.nan)
    for k in (0, 1):
        if (labels == k).any():
            centers[k] = x[labels == k].mean(axis=0)
    return centers


def fit_jump_model(
    x: np.ndarray,
    returns: np.ndarray,
    jump_penalty: float,
    inits: list[np.ndarray],
    *,
    max_iter: int = 1000,
    tol: float = 1e-8,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Fit the two-state jump model to standardised features ``x`` ``(T, F)``: ``(centres (2, F), states (T,),
    objective)``, states sorted so that state 0 has the higher sum of ``returns`` ``(T,)`` (the bull state).

    ``inits`` are starting centres ``(2, F)`` (``jumpmodels.base.init_centers_kmeans_plusplus``); each runs
    coordinate descent until the states repeat (up to relabelling) or the objective improves by at most ``tol``;
    the best objective wins -- the loop of ``jumpmodels.JumpModel.fit``.
    """
    best: tuple[np.ndarray, np.ndarray, float] | None = None
    for start in inits:
        centers = np.asarray(start, dtype=np.float64)
        labels, value = _e_step(x, centers, jump_penalty)
        previous, previous_value, n_iter = None, math.inf, 0
        while n_iter < max_iter and not _same_clustering(labels, previous) and previous_value - value > tol:
            n_iter += 1
            previous, previous_value = labels, value
            centers = _m_step(x, labels)
            labels, value = _e_step(x, centers, jump_penalty)
        if (best is None or not _same_clustering(best[1], labels)) and value < (math.inf if best is None else best[2]):
            best = (centers, labels, value)
    if best is None:
        raise DataError("the jump model found no finite solution (check the features for NaN)")
    centers, labels, value = best
    cumulative = np.array([returns[labels == k].sum() if (labels == k).any() else np.nan for k in (0, 1)])
    order = np.argsort(np.where(np.isnan(cumulative), np.inf, -cumulative))  # bull first, an empty state last
    return centers[order], np.argsort(order)[labels], value


class JumpModelStrategy:
    """Long in the statistical jump model's bull state, flat in its bear state (Shu, Yu & Mulvey 2024).

    :meth:`fit` builds the :func:`~metasuite.domains.trading.features.regime_features` of the training closes,
    clips each at 3 standard deviations and standardises it with ``jumpmodels``' ``DataClipperStd`` /
    ``StandardScalerPD`` (fitted on the training days only), and fits the jump model with penalty
    ``jump_penalty`` from ``n_init`` k-means++ starts drawn with ``seed``. ``fit(..., warm_start=model)`` starts
    from a fitted model's centres alone instead (the expanding-window refits: six more months move the optimum
    little). :meth:`signal` applies it online to any closes: day ``t``'s state uses the features of days up to
    ``t`` only. The features are causal, so they may be computed once for a whole history and passed in
    (``features``): those of a prefix of the closes are a prefix of them. Same data and seed -> same model.
    """

    #: Fewer training days with features than this give unstable fits.
    MIN_TRAIN_DAYS = 100

    def __init__(self, *, jump_penalty: float = JUMP_PENALTY, n_init: int = 10, seed: int = 0) -> None:
        self.jump_penalty = jump_penalty
        self.n_init = n_init
        self.seed = seed

    @staticmethod
    def _features(close: pd.Series, features: pd.DataFrame | None) -> pd.DataFrame:
        f = regime_features(check_close(close)) if features is None else features.reindex(close.index)
        return f.loc[f.notna().all(axis=1)]

    def fit(
        self,
        train_close: pd.Series,
        *,
        features: pd.DataFrame | None = None,
        warm_start: JumpModelStrategy | None = None,
    ) -> JumpModelStrategy:
        """Fit on the closes ``train_close`` (``features``: their :func:`regime_features`, or those of a longer
        history); returns ``self``. :class:`DataError` when too short."""
        f = self._features(check_close(train_close, name="train_close"), features)
        returns = np.log(train_close.astype(np.float64)).diff().reindex(f.index).to_numpy()
        return self._fit_features(f, returns, warm_start)

    def fit_pooled(self, train_closes: list[pd.Series]) -> JumpModelStrategy:
        """Fit one model on the training closes of several assets: their :func:`regime_features` stacked (each
        asset's own causal features; the few artificial jumps where one asset's days end and the next one's
        begin cost the objective at most ``jump_penalty`` each), one clipping / scaling for all. Returns ``self``."""
        frames, returns = [], []
        for close in train_closes:
            f = self._features(check_close(close, name="train_close"), None)
            frames.append(f.reset_index(drop=True))
            returns.append(np.log(close.astype(np.float64)).diff().reindex(f.index).to_numpy())
        if not frames:
            raise DataError("the jump model needs at least one training asset")
        return self._fit_features(pd.concat(frames, ignore_index=True), np.concatenate(returns), None)

    def _fit_features(
        self, f: pd.DataFrame, returns: np.ndarray, warm_start: JumpModelStrategy | None
    ) -> JumpModelStrategy:
        if self.jump_penalty < 0 or self.n_init < 1:
            raise DataError(f"need jump_penalty >= 0 and n_init >= 1, got {self.jump_penalty}, {self.n_init}")
        if len(f) < self.MIN_TRAIN_DAYS:
            raise DataError(
                f"the jump model needs at least {self.MIN_TRAIN_DAYS} training days with features (60 days of "
                f"returns first), got {len(f)}; use a longer training period"
            )
        with one_thread():
            values = f.to_numpy(np.float64)
            self.clipper_ = DataClipperStd(mul=3.0).fit(values)
            self.scaler_ = StandardScalerPD().fit(self.clipper_.transform(values))
            x = self._standardised(f)
            if warm_start is None:
                inits = init_centers_kmeans_plusplus(x, 2, self.n_init, self.seed)
            else:  # the previous centres, in the new scaling
                inits = [warm_start.scaler_.scaler.inverse_transform(warm_start.centers_)]
                inits = [np.asarray(self.scaler_.scaler.transform(inits[0]), dtype=np.float64)]
        self.centers_, self.labels_, self.value_ = fit_jump_model(x, returns, self.jump_penalty, inits)
        return self

    def params(self) -> dict[str, Any]:
        """The fitted model as JSON-ready numbers (penalty, clipping bounds, scaling, centres): what a checkpoint
        records so that evaluation uses the very model its labels came from. Round-trips exactly
        (:meth:`from_params`)."""
        self._check_fitted()
        scaler = self.scaler_.scaler
        return {
            "jump_penalty": float(self.jump_penalty),
            "clip_lower": [float(v) for v in self.clipper_.lb],
            "clip_upper": [float(v) for v in self.clipper_.ub],
            "mean": [float(v) for v in scaler.mean_],
            "scale": [float(v) for v in scaler.scale_],
            "centers": [[float(v) for v in row] for row in self.centers_],
        }

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> JumpModelStrategy:
        """A fitted model from :meth:`params`' numbers; :class:`DataError` when they are malformed."""
        try:
            n = len(REGIME_FEATURES)
            arrays = {k: np.asarray(params[k], dtype=np.float64) for k in ("clip_lower", "clip_upper", "mean", "scale")}
            centers = np.asarray(params["centers"], dtype=np.float64)
            penalty = float(params["jump_penalty"])
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"a recorded jump model is malformed ({exc!r}); retrain the checkpoint") from exc
        if any(a.shape != (n,) for a in arrays.values()) or centers.shape != (2, n) or not penalty >= 0:
            raise DataError(f"a recorded jump model needs {n} features and 2 centres; retrain the checkpoint")
        model = cls(jump_penalty=penalty)
        model.clipper_ = DataClipperStd(mul=3.0)
        model.clipper_.lb, model.clipper_.ub = arrays["clip_lower"], arrays["clip_upper"]
        scaler = StandardScaler()
        scaler.mean_, scaler.scale_, scaler.var_ = arrays["mean"], arrays["scale"], arrays["scale"] ** 2
        scaler.n_features_in_, scaler.n_samples_seen_ = n, 1
        model.scaler_ = StandardScalerPD()
        model.scaler_.scaler = scaler
        model.centers_ = centers
        return model

    def _check_fitted(self) -> None:
        if not hasattr(self, "centers_"):
            raise DataError("JumpModelStrategy is not fitted: call .fit(train_close) first")

    def _standardised(self, f: pd.DataFrame) -> np.ndarray:
        x = self.clipper_.transform(f.to_numpy(np.float64))  # arrays: numpy's clip, not pandas'
        return np.asarray(self.scaler_.scaler.transform(x), dtype=np.float64)

    def online_states(self, close: pd.Series, *, features: pd.DataFrame | None = None) -> pd.Series:
        """The online state (0 bull, 1 bear) of each day of ``close``; NaN before its features exist."""
        self._check_fitted()
        f = self._features(close, features)
        states = pd.Series(np.nan, index=close.index)
        if len(f):
            loss = _loss(self._standardised(f), self.centers_)
            states.loc[f.index] = online_two_state(loss[:, 0] - loss[:, 1], self.jump_penalty)
        return states

    def delayed_states(self, close: pd.Series, lag: int) -> np.ndarray:
        """The state (0 bull, 1 bear; -1 where undefined) of each day ``k`` of ``close`` on the best path over
        the days up to ``k + lag``: the fit's smoothed (Viterbi) state as known ``lag`` days later, so it uses
        closes up to ``k + lag`` only. -1 before the features exist and in the last ``lag`` days.

        The DP's forward differences ``d`` up to ``u = k + lag`` depend on days ``<= u`` only; the path is traced
        back from ``u``'s cheaper state ``lag`` steps with the E-step's rule, for every ``k`` at once.
        """
        self._check_fitted()
        if lag < 0:
            raise DataError(f"lag must be >= 0, got {lag}")
        out = np.full(len(close), -1, dtype=np.int64)
        f = self._features(close, None)
        if len(f) <= lag:
            return out
        first = int(close.index.get_loc(f.index[0]))
        if len(f) != len(close) - first:
            raise DataError("the jump model's features have a gap after their warm-up; check the closes")
        loss = _loss(self._standardised(f), self.centers_)
        d = forward_differences(loss[:, 0] - loss[:, 1], self.jump_penalty)
        lam = float(self.jump_penalty)
        ends = np.arange(lag, d.size)  # feature-row index of u = k + lag
        state = d[ends] > 0
        for step in range(1, lag + 1):
            prev = d[ends - step]
            state = np.where(state, prev > -lam, prev > lam)
        out[first : first + ends.size] = state.astype(np.int64)
        return out

    def signal(self, close: pd.Series, *, features: pd.DataFrame | None = None) -> pd.Series:
        """1 in the bull state, 0 in the bear state; NaN before the features exist (60 days of returns)."""
        return (1.0 - self.online_states(close, features=features)).rename("jump model")
