"""Baseline strategies: hand-checked rules, no look-ahead for any of them, and the HMM's causal filter."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from metasuite.core.errors import DataError
from metasuite.domains.trading.strategies import (
    BASELINE_NAMES,
    RISK_OFF,
    RISK_ON,
    HMMRegimeStrategy,
    baseline_signals,
    buy_and_hold,
    log_returns,
    ma_crossover,
    tsmom,
)
from metasuite.domains.trading.synth import simulate_market

N_DAYS, TRAIN_DAYS = 3000, 1500


@pytest.fixture(scope="module")
def market():
    return simulate_market(N_DAYS, 3, seed=0)


@pytest.fixture(scope="module")
def close(market):
    return market.prices["SYN0"]["close"]


@pytest.fixture(scope="module")
def hmm(close):
    return HMMRegimeStrategy(seed=0).fit(close.iloc[:TRAIN_DAYS])


def test_buy_and_hold_and_ma_crossover_by_hand() -> None:
    dates = pd.bdate_range("2022-01-03", periods=7)
    close = pd.Series([1.0, 2.0, 3.0, 4.0, 3.0, 1.0, 1.0], index=dates)
    assert (buy_and_hold(close) == 1.0).all() and buy_and_hold(close).index.equals(dates)
    # MA2: -, 1.5, 2.5, 3.5, 3.5, 2, 1   MA3: -, -, 2, 3, 3.33, 2.67, 1.67
    np.testing.assert_array_equal(ma_crossover(close, 2, 3), [0, 0, 1, 1, 1, 0, 0])
    np.testing.assert_array_equal(ma_crossover(close, 2, 3, short=True), [0, 0, 1, 1, 1, -1, -1])


def test_tsmom_skips_the_last_month_by_hand() -> None:
    close = pd.Series([10.0, 12.0, 9.0, 11.0, 13.0, 8.0], index=pd.bdate_range("2022-01-03", periods=6))
    # lookback 3, skip 1: sign of close[t-1] / close[t-3] - 1, flat until day 3; day 5 ignores its own fall
    np.testing.assert_array_equal(tsmom(close, 3, 1), [0, 0, 0, 0, 0, 1])
    np.testing.assert_array_equal(tsmom(close, 3, 1, short=True), [0, 0, 0, -1, -1, 1])


def _all_signals(close: pd.Series, hmm: HMMRegimeStrategy) -> dict[str, pd.Series]:
    return {
        "buy_and_hold": buy_and_hold(close),
        "ma_crossover": ma_crossover(close, 50, 200, short=True),
        "tsmom": tsmom(close, 252, 21, short=True),
        "hmm_signal": hmm.signal(close, threshold=0.5),
        "hmm_p_on": hmm.filtered_probs(log_returns(close))[RISK_ON].reindex(close.index),
    }


def test_every_strategy_is_a_valid_signal(close, hmm) -> None:
    for name, signal in _all_signals(close, hmm).items():
        assert signal.index.equals(close.index), name
        values = signal.dropna()
        assert len(values) >= len(close) - 1 and values.between(-1, 1).all(), name


def test_no_strategy_looks_ahead(close, hmm) -> None:
    k = 2200
    rng = np.random.default_rng(0)
    perturbed = close.copy()
    perturbed.iloc[k + 1 :] *= np.exp(np.cumsum(rng.normal(0, 0.03, len(close) - k - 1)))
    full = _all_signals(close, hmm)
    truncated = _all_signals(close.iloc[: k + 1], hmm)
    changed = _all_signals(perturbed, hmm)
    for name in full:
        for other in (truncated[name], changed[name]):
            np.testing.assert_allclose(other.iloc[: k + 1], full[name].iloc[: k + 1], rtol=0, atol=1e-12, err_msg=name)
    assert not np.allclose(changed["hmm_p_on"].iloc[k + 1 :], full["hmm_p_on"].iloc[k + 1 :])

    # control: hmmlearn's smoothed posteriors do change before day k, which is why the strategy filters
    scaled = lambda c: hmm.features(log_returns(c))
    smoothed, smoothed_changed = hmm.model_.predict_proba(scaled(close)), hmm.model_.predict_proba(scaled(perturbed))
    assert np.abs(smoothed[: k - 1] - smoothed_changed[: k - 1]).max() > 1e-6


def test_filtered_probs_end_at_the_smoothed_probs_and_differ_before(close, hmm) -> None:
    returns = log_returns(close.iloc[TRAIN_DAYS:])
    filtered = hmm.filtered_probs(returns)
    assert list(filtered.columns) == [RISK_ON, RISK_OFF]
    np.testing.assert_allclose(filtered.sum(axis=1), 1.0, atol=1e-12)
    smoothed = hmm.model_.predict_proba(hmm.features(returns))
    order = [hmm.state_names_.index(RISK_ON), hmm.state_names_.index(RISK_OFF)]
    smoothed = smoothed[:, order]
    # at the last date nothing lies ahead: forward filter = forward-backward smoother
    np.testing.assert_allclose(filtered.iloc[-1].to_numpy(), smoothed[-1], atol=1e-6)
    assert np.abs(filtered.to_numpy()[:-1] - smoothed[:-1]).max() > 0.05


def _balanced_accuracy(predicted: pd.Series, actual: pd.Series) -> float:
    tpr = (predicted & actual).sum() / actual.sum()
    tnr = (~predicted & ~actual).sum() / (~actual).sum()
    return 0.5 * (tpr + tnr)


def test_hmm_risk_off_finds_bear_and_crisis_days_out_of_sample(market) -> None:
    bad_times = market.regimes.isin(["bear", "crisis"]).iloc[TRAIN_DAYS + 1 :]
    for ticker, prices in market.prices.items():
        model = HMMRegimeStrategy(seed=0).fit(prices["close"].iloc[:TRAIN_DAYS])
        assert model.state_stats_[RISK_OFF]["ann_vol"] > model.state_stats_[RISK_ON]["ann_vol"]
        labels = model.regime_labels(prices["close"].iloc[TRAIN_DAYS:])
        assert labels.isna().sum() == 1 and set(labels.dropna()) <= {RISK_ON, RISK_OFF}
        # measured 0.81, 0.66, 0.72 on the three assets; chance is 0.5
        assert _balanced_accuracy(labels.iloc[1:] == RISK_OFF, bad_times) > 0.6, ticker


def test_hmm_is_deterministic_and_keeps_the_best_restart(close) -> None:
    train = close.iloc[:800]
    a = HMMRegimeStrategy(seed=3, n_restarts=3).fit(train)
    b = HMMRegimeStrategy(seed=3, n_restarts=3).fit(train)
    pd.testing.assert_frame_equal(a.filtered_probs(log_returns(close)), b.filtered_probs(log_returns(close)))
    singles = [HMMRegimeStrategy(seed=s, n_restarts=1).fit(train).log_likelihood_ for s in (3, 4, 5)]
    assert a.log_likelihood_ == pytest.approx(max(singles))


def test_baseline_signals(close) -> None:
    test = close.iloc[TRAIN_DAYS:]
    signals = baseline_signals(test, close.iloc[:TRAIN_DAYS], seed=0)
    assert tuple(signals) == BASELINE_NAMES
    assert all(s.index.equals(test.index) and s.name == name for name, s in signals.items())
    assert tuple(baseline_signals(test)) == BASELINE_NAMES[:3]  # no training period: no HMM
    with pytest.raises(DataError, match="at least 100 training returns"):
        baseline_signals(test, close.iloc[:50])


def test_bad_inputs_raise_actionable_errors(close) -> None:
    with pytest.raises(DataError, match="at least 100 training returns, got 59"):
        HMMRegimeStrategy().fit(close.iloc[:60])
    with pytest.raises(DataError, match="train_close must be positive and finite"):
        HMMRegimeStrategy().fit(close.iloc[:300].where(close.iloc[:300] < close.iloc[150], np.nan))
    with pytest.raises(DataError, match=r"call \.fit"):
        HMMRegimeStrategy().signal(close)
    with pytest.raises(DataError, match="fast < slow"):
        ma_crossover(close, 200, 50)
    with pytest.raises(DataError, match="skip < lookback"):
        tsmom(close, 21, 252)
    with pytest.raises(DataError, match="Series"):
        buy_and_hold(close.to_numpy())


def test_hmm_fit_drops_only_hmmlearns_round_off_convergence_warning(close, monkeypatch, caplog) -> None:
    hmm_log = logging.getLogger("hmmlearn.base")
    make = HMMRegimeStrategy._model

    def noisy_model(self, seed, warm_start):  # type: ignore[no-untyped-def]
        model = make(self, seed, warm_start)
        fit = model.fit

        def logged_fit(x):  # type: ignore[no-untyped-def]
            hmm_log.warning("Model is not converging.  Current: 1.0 is not greater than 1.0000001. Delta is -1e-7")
            hmm_log.warning("Fitting a model with 7 free scalar parameters with only 3 data points")
            return fit(x)

        model.fit = logged_fit
        return model

    monkeypatch.setattr(HMMRegimeStrategy, "_model", noisy_model)
    with caplog.at_level(logging.WARNING, logger="hmmlearn.base"):
        HMMRegimeStrategy(seed=0, n_restarts=2).fit(close.iloc[:400])
        hmm_log.warning("Model is not converging after the fit")  # the filter is gone again
    messages = [r.getMessage() for r in caplog.records]
    assert sum("free scalar parameters" in m for m in messages) == 2  # other warnings pass, once per restart
    assert [m for m in messages if m.startswith("Model is not converging")] == ["Model is not converging after the fit"]
