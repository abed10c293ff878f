"""The synthetic regime-switching market: determinism, regime persistence and each regime's statistics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from metasuite.core.errors import DataError
from metasuite.domains.trading.synth import REGIMES, RegimeParams, default_regimes, simulate_market, synth_fingerprint


@pytest.fixture(scope="module")
def market():
    return simulate_market(n_days=40_000, n_assets=4, seed=3)


def test_same_seed_same_market_other_seed_other_market() -> None:
    a, b = simulate_market(300, 2, seed=1), simulate_market(300, 2, seed=1)
    c = simulate_market(300, 2, seed=2)
    for t in a.tickers:
        pd.testing.assert_frame_equal(a.prices[t], b.prices[t])
    pd.testing.assert_series_equal(a.regimes, b.regimes)
    assert not np.allclose(a.prices["SYN0"]["close"], c.prices["SYN0"]["close"])


def test_ohlcv_is_valid(market) -> None:
    for df in market.prices.values():
        assert list(df.columns) == ["open", "high", "low", "close", "volume"]
        assert (df[["open", "high", "low", "close"]] > 0).all().all() and (df["volume"] > 0).all()
        assert (df["low"] <= df[["open", "close"]].min(axis=1) + 1e-12).all()
        assert (df["high"] >= df[["open", "close"]].max(axis=1) - 1e-12).all()
        assert df.index.is_monotonic_increasing and df.index.is_unique
        assert not df.isna().any().any()


def test_regimes_persist_for_their_expected_durations(market) -> None:
    ids = market.regime_ids()
    change = np.flatnonzero(np.diff(ids)) + 1
    bounds = np.concatenate([[0], change, [len(ids)]])
    runs = pd.DataFrame({"regime": ids[bounds[:-1]], "length": np.diff(bounds)})
    params = default_regimes()
    for i, name in enumerate(REGIMES):
        lengths = runs.loc[runs["regime"] == i, "length"].iloc[:-1]  # the last run may be cut short
        assert len(lengths) >= 15, name
        # geometric durations: the mean run length estimates the expected duration (loose: few runs)
        assert lengths.mean() == pytest.approx(params[name].duration, rel=0.35), name
    assert set(market.regimes.unique()) == set(REGIMES)


def test_each_regime_has_its_drift_volatility_autocorrelation_and_correlation(market) -> None:
    closes = pd.DataFrame({t: df["close"] for t, df in market.prices.items()})
    rets = np.log(closes).diff().iloc[1:]
    regime = market.regimes.iloc[1:]
    prev_regime = market.regimes.shift(1).iloc[1:]
    stats = {}
    for name in REGIMES:
        lagged = rets.shift(1)
        # both days in the regime (for the autocorrelation), and a previous return to compare with
        inside = (regime == name) & (prev_regime == name) & lagged.notna().all(axis=1)
        r = rets[inside]
        lag = lagged[inside]
        vol = r.std().mean() * np.sqrt(252)
        ac = np.mean([np.corrcoef(r[c].to_numpy(), lag[c].to_numpy())[0, 1] for c in r.columns])
        corr = r.corr().to_numpy()[np.triu_indices(r.shape[1], 1)].mean()
        stats[name] = {"drift": r.mean().mean() * 252, "vol": vol, "ac": ac, "corr": corr}
    assert stats["crisis"]["vol"] > stats["bear"]["vol"] > stats["sideways"]["vol"] > stats["bull"]["vol"]
    assert stats["bull"]["drift"] > 0 > stats["bear"]["drift"] and stats["crisis"]["drift"] < 0
    assert stats["sideways"]["ac"] < -0.05 and stats["bull"]["ac"] > 0  # mean reversion vs momentum
    assert stats["crisis"]["corr"] > stats["bear"]["corr"] > stats["bull"]["corr"]


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(DataError, match="n_days"):
        simulate_market(n_days=1)
    bad = {**default_regimes(), "crisis": RegimeParams(drift=0.0, vol=-1.0, ar1=0.0, corr=0.5, duration=10)}
    with pytest.raises(DataError, match="crisis"):
        simulate_market(100, params=bad)
    partial = {k: v for k, v in default_regimes().items() if k != "bear"}
    with pytest.raises(DataError, match="bear"):
        simulate_market(100, params=partial)


def test_fingerprint_changes_with_the_parameters() -> None:
    other = {**default_regimes(), "bull": RegimeParams(0.1, 0.1, 0.0, 0.3, 200.0)}
    assert synth_fingerprint() == synth_fingerprint() != synth_fingerprint(other)
