"""The backtest engine and its metrics: lag and cost arithmetic, drawdown, CAGR, Sharpe CI, regime breakdown."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from metasuite.core.errors import DataError
from metasuite.domains.trading.backtest import backtest, drawdown, performance, regime_breakdown
from metasuite.domains.trading.strategies import ma_crossover
from metasuite.domains.trading.synth import simulate_market


@pytest.fixture(scope="module")
def five_days():
    dates = pd.bdate_range("2021-01-04", periods=5)
    close = pd.Series([100.0, 110.0, 99.0, 108.9, 98.01], index=dates)  # r = 0, +10 %, -10 %, +10 %, -10 %
    signal = pd.Series([1.0, 1.0, -0.5, np.nan, 1.0], index=dates)
    return close, signal


def test_five_day_example_by_hand(five_days) -> None:
    close, signal = five_days
    res = backtest(signal, close, cost_bps=10.0)
    # held over day t: signal[t-1]; the NaN decision on day 3 is flat on day 4; the last decision is never held
    np.testing.assert_allclose(res.position, [0.0, 1.0, 1.0, -0.5, 0.0])
    np.testing.assert_allclose(res.returns, [0.0, 0.1, -0.1, 0.1, -0.1], atol=1e-12)
    np.testing.assert_allclose(res.gross, [0.0, 0.1, -0.1, -0.05, 0.0], atol=1e-12)
    # the first trade (0 -> 1 on day 1) counts, then 1 -> -0.5 and -0.5 -> 0
    np.testing.assert_allclose(res.turnover, [0.0, 1.0, 0.0, 1.5, 0.5])
    np.testing.assert_allclose(res.cost, [0.0, 0.001, 0.0, 0.0015, 0.0005], atol=1e-15)
    net = np.array([0.0, 0.099, -0.1, -0.0515, -0.0005])
    np.testing.assert_allclose(res.net, net, atol=1e-12)
    np.testing.assert_allclose(res.equity, np.cumprod(1 + net), rtol=1e-12)
    assert res.position.index.equals(close.index)

    m = res.performance(n_boot=0)
    assert m["hit_rate"] == pytest.approx(1 / 3)  # invested days 1, 2, 3: only day 1 made money
    assert m["exposure"] == pytest.approx(2.5 / 5)
    assert m["turnover"] == pytest.approx(3.0 * 252 / 5)
    assert m["total_return"] == pytest.approx(np.prod(1 + net) - 1)

    # slippage adds to the commission; a signal on a subset of dates is flat elsewhere
    assert backtest(signal, close, cost_bps=4, slippage_bps=6).net.equals(res.net)
    partial = backtest(signal.iloc[:2], close, cost_bps=0.0)
    np.testing.assert_allclose(partial.position, [0.0, 1.0, 1.0, 0.0, 0.0])


def test_vectorised_backtest_matches_a_day_by_day_loop() -> None:
    close = simulate_market(400, 1, seed=5).prices["SYN0"]["close"]
    rng = np.random.default_rng(0)
    signal = pd.Series(rng.choice([-1.0, -0.3, 0.0, 0.5, 1.0, np.nan], size=len(close)), index=close.index)
    res = backtest(signal, close, cost_bps=7.0, slippage_bps=3.0)
    equity, held, out = 1.0, 0.0, []
    for t in range(len(close)):
        new = 0.0 if t == 0 or np.isnan(signal.iloc[t - 1]) else signal.iloc[t - 1]
        r = 0.0 if t == 0 else close.iloc[t] / close.iloc[t - 1] - 1
        equity *= 1 + new * r - abs(new - held) * 10 / 1e4
        held = new
        out.append(equity)
    np.testing.assert_allclose(res.equity, out, rtol=1e-10)


def test_drawdown_of_a_known_equity_path() -> None:
    equity = pd.Series([1.0, 1.2, 0.9, 1.1, 1.5, 0.75, 0.9])
    np.testing.assert_allclose(drawdown(equity), [0, 0, -0.25, 1.1 / 1.2 - 1, 0, -0.5, -0.4])
    net = equity.pct_change().fillna(0.0)
    assert performance(net, n_boot=0)["max_drawdown"] == pytest.approx(-0.5)
    # the starting capital is the first peak: losing 10 % on the first day is a 10 % drawdown
    assert performance(pd.Series([-0.1, 0.05]), n_boot=0)["max_drawdown"] == pytest.approx(-0.1)


def test_cagr_of_a_constant_daily_return_and_undefined_ratios_are_nan() -> None:
    net = pd.Series(0.001, index=pd.bdate_range("2020-01-01", periods=504))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = performance(net)
    assert m["cagr"] == pytest.approx(1.001**252 - 1, rel=1e-10)
    assert m["total_return"] == pytest.approx(1.001**504 - 1, rel=1e-10)
    assert m["max_drawdown"] == 0.0 and m["n_days"] == 504
    # no variance, no losing day, no drawdown: Sharpe, its interval, Sortino and Calmar are undefined
    for key in ("sharpe", "sharpe_lo", "sharpe_hi", "sortino", "calmar", "hit_rate", "turnover", "exposure"):
        assert math.isnan(m[key]), key


def test_flat_strategy_gives_nan_ratios_without_warnings() -> None:
    close = simulate_market(300, 1, seed=1).prices["SYN0"]["close"]
    res = backtest(pd.Series(0.0, index=close.index), close)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = res.performance()
    assert m["total_return"] == 0.0 and m["cagr"] == 0.0 and m["max_drawdown"] == 0.0
    assert m["turnover"] == 0.0 and m["exposure"] == 0.0 and m["ann_vol"] == 0.0
    assert all(math.isnan(m[k]) for k in ("sharpe", "sharpe_lo", "sharpe_hi", "sortino", "calmar", "hit_rate"))


def test_sortino_uses_the_downside_deviation_over_all_days() -> None:
    x = pd.Series([0.01, -0.02, 0.03])
    downside = math.sqrt(0.02**2 / 3)
    assert performance(x, n_boot=0)["sortino"] == pytest.approx(x.mean() / downside * math.sqrt(252))


def test_sharpe_interval_contains_the_estimate_narrows_with_data_and_has_the_iid_width() -> None:
    rng = np.random.default_rng(42)
    widths = {}
    for n in (500, 5000):
        net = pd.Series(rng.normal(0.0005, 0.01, n))
        m = performance(net, n_boot=1000, block=20, seed=0)
        assert m["sharpe_lo"] < m["sharpe"] < m["sharpe_hi"]
        assert m["sharpe"] == pytest.approx(net.mean() / net.std() * math.sqrt(252))
        widths[n] = m["sharpe_hi"] - m["sharpe_lo"]
        # iid returns: the annualised Sharpe estimate has sd about sqrt(252 / n) (Lo 2002)
        assert widths[n] == pytest.approx(2 * 1.96 * math.sqrt(252 / n), rel=0.25)
    assert widths[5000] < widths[500] / 2
    net = pd.Series(rng.normal(0.0005, 0.01, 800))
    assert performance(net, seed=3) == performance(net, seed=3)
    assert performance(net, seed=3)["sharpe_lo"] != performance(net, seed=4)["sharpe_lo"]


def test_regime_breakdown_partitions_the_days() -> None:
    market = simulate_market(1200, 1, seed=2)
    close = market.prices["SYN0"]["close"]
    res = backtest(ma_crossover(close, 20, 60), close)
    parts = regime_breakdown(res.net, res.position, market.regimes)
    assert set(parts) == set(market.regimes.unique())
    assert sum(p["n_days"] for p in parts.values()) == len(close)
    # compounding commutes: the regimes' cumulative returns multiply up to the whole backtest's
    assert np.prod([1 + p["total_return"] for p in parts.values()]) == pytest.approx(res.equity.iloc[-1])
    bull = market.regimes == "bull"
    assert parts["bull"]["ann_return"] == pytest.approx(res.net[bull].mean() * 252)
    assert parts["bull"]["exposure"] == pytest.approx(res.position[bull].abs().mean())

    # an unknown (NaN) label leaves that day out; a missing date is an error
    labels = market.regimes.astype(object).copy()
    labels.iloc[0] = np.nan
    parts = regime_breakdown(res.net, res.position, labels)
    assert sum(p["n_days"] for p in parts.values()) == len(close) - 1
    with pytest.raises(DataError, match="no entry for 1 date"):
        regime_breakdown(res.net, res.position, market.regimes.iloc[1:])


def test_bad_inputs_raise_actionable_errors(five_days) -> None:
    close, signal = five_days
    alien = pd.Series(1.0, index=pd.DatetimeIndex(["2021-01-05", "2021-01-09"]))  # a Saturday
    with pytest.raises(DataError, match=r"1 date\(s\) that are not trading dates.*2021-01-09"):
        backtest(alien, close)
    with pytest.raises(DataError, match=r"\[-1, 1\].*1\.5"):
        backtest(signal.replace(-0.5, 1.5), close)
    with pytest.raises(DataError, match=r"positive and finite.*2021-01-06"):
        backtest(signal, close.where(close != 99.0, np.nan))
    with pytest.raises(DataError, match="positive and finite"):
        backtest(signal, -close)
    with pytest.raises(DataError, match=r"prices\['close'\]"):
        backtest(signal, close.to_frame("close"))
    with pytest.raises(DataError, match="sort_index"):
        backtest(signal, close.iloc[::-1])
    with pytest.raises(DataError, match="cost_bps"):
        backtest(signal, close, cost_bps=-1)
    with pytest.raises(DataError, match="empty"):
        performance(pd.Series(dtype=float))
    with pytest.raises(DataError, match="finite"):
        performance(pd.Series([0.01, np.nan]))
    with pytest.raises(DataError, match="same dates"):
        performance(pd.Series([0.01, 0.02]), pd.Series([1.0, 1.0], index=[5, 6]))
    with pytest.raises(DataError, match="block"):
        performance(pd.Series([0.01, 0.02]), block=0)
