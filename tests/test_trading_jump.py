"""The statistical jump model baseline: a hand-computed example, agreement with Shu et al.'s own package
(``jumpmodels``), causality of its online states, the refit schedule and volatility targeting."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from jumpmodels.base import init_centers_kmeans_plusplus
from jumpmodels.jump import JumpModel

from metasuite.core.errors import DataError
from metasuite.domains.trading.features import regime_features
from metasuite.domains.trading.jump import (
    JumpModelStrategy,
    fit_jump_model,
    forward_differences,
    online_two_state,
    viterbi_two_state,
)
from metasuite.domains.trading.strategies import realised_variance, refit_starts, refitted_signal, vol_target
from metasuite.domains.trading.synth import simulate_market


@pytest.fixture(scope="module")
def close() -> pd.Series:
    return simulate_market(1500, 1, seed=4).prices["SYN0"]["close"]


def test_two_state_dp_by_hand() -> None:
    # L(t, 0) - L(t, 1): state 1 is cheaper by 2 on days 2 and 3, dearer by 3 elsewhere.
    a = np.array([-3.0, -3.0, 2.0, 2.0, -3.0])
    # forward differences, lambda 1: d0 = -3; d1 = -3 + clip(-3) = -4; d2 = 2 - 1 = 1; d3 = 2 + 1 = 3; d4 = -3 + 1
    np.testing.assert_allclose(forward_differences(a, 1.0), [-3, -4, 1, 3, -2])
    # two switches cost 2 and save 4: switch for days 2-3; at lambda 10 they cost 20: never switch
    assert viterbi_two_state(a, 1.0)[0].tolist() == [0, 0, 1, 1, 0]
    assert viterbi_two_state(a, 10.0)[0].tolist() == [0, 0, 0, 0, 0]
    # online: day t's state from days <= t only; with lambda 1 it switches on day 2 and back on day 4
    assert online_two_state(a, 1.0).tolist() == [0, 0, 1, 1, 0]
    assert online_two_state(a, 10.0).tolist() == [0, 0, 0, 0, 0]


def test_a_fit_by_hand_separates_two_levels_and_labels_the_bull_state_0() -> None:
    # one feature: 20 days at -1 (falling market), 20 at +1 (rising); the optimum is the two means, one jump
    x = np.r_[np.full(20, -1.0), np.full(20, 1.0)][:, None]
    returns = np.r_[np.full(20, -0.01), np.full(20, 0.01)]
    centers, labels, value = fit_jump_model(x, returns, 5.0, [np.array([[0.5], [-0.5]])])
    np.testing.assert_allclose(centers, [[1.0], [-1.0]])  # state 0 = the higher sum of returns
    assert labels.tolist() == [1] * 20 + [0] * 20
    assert value == pytest.approx(5.0)  # every day on its centre (loss 0) plus one jump


def test_fit_and_online_states_equal_the_jumpmodels_package(close: pd.Series) -> None:
    model = JumpModelStrategy(jump_penalty=50.0, n_init=10, seed=0).fit(close.iloc[:1000])
    f = regime_features(close).dropna()
    train = f.loc[: close.index[999]]
    x = model._standardised(train)
    returns = np.log(close).diff().reindex(train.index)
    reference = JumpModel(n_components=2, jump_penalty=50.0, n_init=10, random_state=0)
    reference.fit(pd.DataFrame(x, index=train.index), returns, sort_by="cumret")
    np.testing.assert_array_equal(model.labels_, reference.labels_.to_numpy())
    np.testing.assert_allclose(model.centers_, reference.centers_, atol=1e-12)
    assert model.value_ == pytest.approx(reference.val_, rel=1e-9)
    ours = model.online_states(close).dropna().to_numpy()
    theirs = reference.predict_online(pd.DataFrame(model._standardised(f), index=f.index)).to_numpy()
    np.testing.assert_array_equal(ours, theirs)
    assert 0 < ours.mean() < 1  # both states occur: the comparison is not trivial


def test_same_starts_give_the_package_result_on_another_penalty(close: pd.Series) -> None:
    f = regime_features(close).dropna().iloc[:600]
    x = (f - f.mean()) / f.std(ddof=0)
    returns = np.log(close).diff().reindex(f.index).to_numpy()
    starts = init_centers_kmeans_plusplus(x.to_numpy(), 2, 3, 7)
    _centers, labels, value = fit_jump_model(x.to_numpy(), returns, 10.0, starts)
    reference = JumpModel(n_components=2, jump_penalty=10.0, n_init=3, random_state=7).fit(x, returns)
    np.testing.assert_array_equal(labels, reference.labels_.to_numpy())
    assert value == pytest.approx(reference.val_, rel=1e-9)


def test_online_states_do_not_look_ahead(close: pd.Series) -> None:
    model = JumpModelStrategy(seed=1).fit(close.iloc[:800])
    k = 1100
    changed = close.copy()
    changed.iloc[k + 1 :] *= np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.03, len(close) - k - 1)))
    a, b = model.signal(close), model.signal(changed)
    pd.testing.assert_series_equal(a.iloc[: k + 1], b.iloc[: k + 1])
    assert not a.iloc[k + 1 :].equals(b.iloc[k + 1 :])
    pd.testing.assert_series_equal(a, model.signal(close, features=regime_features(close)))


def test_warm_started_refit_reaches_a_solution_as_good_as_ten_starts(close: pd.Series) -> None:
    first = JumpModelStrategy(seed=0).fit(close.iloc[:900])
    warm = JumpModelStrategy(seed=0).fit(close.iloc[:1030], warm_start=first)
    cold = JumpModelStrategy(seed=0).fit(close.iloc[:1030])
    assert warm.value_ <= cold.value_ * 1.01


def test_refit_schedule_and_each_model_sees_only_the_past() -> None:
    dates = pd.bdate_range("2020-01-01", periods=400)
    starts = refit_starts(dates, 100, 400, 6)
    assert starts[0] == 100
    assert all(dates[b] >= dates[a] + pd.DateOffset(months=6) for a, b in itertools.pairwise(starts))
    assert refit_starts(dates, 100, 400, 0) == [100]
    with pytest.raises(DataError, match="refit"):
        refit_starts(dates, 100, 400, -1)
    close = pd.Series(np.arange(1.0, 401.0), index=dates)
    seen = []

    def fit_and_signal(history: pd.Series, upto: pd.Series, k: int) -> pd.Series:
        assert history.index[-1] < dates[starts[k]]  # fitted on the days before its first day only
        seen.append(len(history))
        return pd.Series(float(k), index=upto.index)

    signal = refitted_signal(close, starts, fit_and_signal)
    assert seen == starts
    for k, (lo, hi) in enumerate(zip(starts, [*starts[1:], 400])):
        assert (signal.iloc[lo:hi] == k).all()


def test_volatility_targeting_by_hand() -> None:
    dates = pd.bdate_range("2021-01-04", periods=6)
    close = pd.Series(np.exp(np.cumsum([0.0, 0.01, -0.01, 0.02, -0.02, 0.0])), index=dates)
    rv = realised_variance(close, window=2)
    assert np.isnan(rv.iloc[:2]).all()
    assert rv.iloc[2] == pytest.approx((0.01**2 + 0.01**2) / 2)
    assert rv.iloc[4] == pytest.approx((0.02**2 + 0.02**2) / 2)
    w = vol_target(close, target_variance=2e-4, window=2)
    assert w.iloc[2] == pytest.approx(1.0)  # calm: full exposure, never levered
    assert w.iloc[4] == pytest.approx(0.5)  # variance twice the target: half
    with pytest.raises(DataError, match="target_variance"):
        vol_target(close, target_variance=float("nan"))
