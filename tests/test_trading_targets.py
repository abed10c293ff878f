"""Targets that can be traded (issue 16): the 21-day regime and volatility-tercile labels by hand, their
embargo, cut-offs from the training period only, old checkpoints meaning ``direction``, and the batched
walk-forward predictions equal to the one-task-at-a-time ones."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from metasuite.core.baselines import BaselineConfig, ScratchBaseline
from metasuite.core.errors import DataError, TaskError
from metasuite.core.evaluate import MetaMethod
from metasuite.core.learners import make_learner
from metasuite.data import CHECKPOINTS
from metasuite.domains.trading.domain import TradingDomain
from metasuite.domains.trading.evaluation import check_model_options, eval_options, positions
from metasuite.domains.trading.features import FEATURE_SETS, regime_features
from metasuite.domains.trading.jump import JumpModelStrategy, viterbi_two_state
from metasuite.domains.trading.predict import predict_windows, window_batch
from metasuite.domains.trading.synth import simulate_market
from metasuite.domains.trading.targets import make_target
from metasuite.domains.trading.tasks import AssetSeries, make_task

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def market():
    return simulate_market(900, 2, seed=5)


def test_regime21_labels_by_hand() -> None:
    # 26 closes; a 2-day horizon would hide the point, so use the real 21: day 0 looks at closes 1..21
    up = np.exp(np.linspace(0.0, 0.2, 26))  # a steady rise: +20% over 25 days, never a drawdown
    y, known = make_target("regime21").labels(up)
    assert known.tolist() == [True] * 5 + [False] * 21  # day t needs close t + 21
    assert y[:5].tolist() == [1] * 5  # bull
    dip = up.copy()
    dip[10] = dip[9] * 0.94  # one 6% fall from the running peak, recovered the next day
    y, _ = make_target("regime21").labels(dip)
    assert y[:5].tolist() == [0] * 5  # bear: the window's drawdown exceeds 5% although it ends higher
    y, _ = make_target("regime21", bear_drawdown=0.07).labels(dip)
    assert y[:5].tolist() == [1] * 5  # a 7% threshold lets it pass
    down = np.exp(np.linspace(0.0, -0.03, 26))  # -3% over 25 days, each daily fall tiny
    y, _ = make_target("regime21").labels(down)
    assert y[:5].tolist() == [0] * 5  # bear by the 21-day return below -2%


def test_vol_tercile_cutoffs_come_from_the_training_period_only(market) -> None:
    prices = {t: df for t, df in market.prices.items()}
    test_start = str(prices["SYN0"].index[700].date())

    def target(p):
        return TradingDomain(source="csv", prices=p, test_start=test_start, target="vol_tercile").fitted_target()

    base = target(prices)
    assert base.vol_cutoffs[0] < base.vol_cutoffs[1] and base.target_vol > 0
    wild = {t: df.copy() for t, df in prices.items()}
    for df in wild.values():  # a far more volatile test period changes nothing
        df.iloc[700:, :4] *= np.exp(np.random.default_rng(0).normal(0, 0.05, (len(df) - 700, 1)))
    assert target(wild).vol_cutoffs == base.vol_cutoffs
    calm = {t: df.copy() for t, df in prices.items()}
    for df in calm.values():  # a calmer training period moves them
        df.iloc[:400, :4] = df.iloc[:400, :4].mean().to_numpy()[None, :] * np.exp(np.linspace(0, 0.01, 400))[:, None]
    assert target(calm).vol_cutoffs != base.vol_cutoffs
    domain = TradingDomain(source="csv", prices=prices, test_start=test_start, target="vol_tercile")
    train, ranges = domain.split_series("train")
    labels = np.concatenate([s.y[max(lo, s.first_valid) : hi - 21] for s, (lo, hi) in zip(train, ranges)])
    assert np.bincount(labels, minlength=3) / labels.size == pytest.approx([1 / 3] * 3, abs=0.02)


def test_the_embargo_must_cover_the_horizon(market) -> None:
    with pytest.raises(DataError, match="embargo must be at least 21"):
        TradingDomain(target="regime21", embargo=5)
    assert TradingDomain(target="regime21").embargo == 21 and TradingDomain().embargo == 1
    series = AssetSeries.from_prices("SYN0", market.prices["SYN0"], target=make_target("regime21"))
    with pytest.raises(TaskError, match="embargo"):
        make_task(series, 600, 60, 10, 20)
    task = make_task(series, 600, 60, 10, 21)
    last_support = series.dates.get_loc(pd.Timestamp(task.metadata["support_dates"][1]))
    assert last_support + 21 <= 600 - 1  # its outcome is realised before the first decision (close of 600)
    assert task.metadata["class_names"] == ["bear", "bull"]
    # the last 21 days have no outcome yet: predicted, masked out of every score
    end = make_task(series, len(series.dates) - 15, 60, 10, 21)
    assert end.query_mask is not None and not end.query_mask.any()


def test_options_record_the_target_and_old_checkpoints_mean_direction() -> None:
    assert "target" not in TradingDomain(n_assets=2, n_markets=1).options  # direction: as before
    regime = TradingDomain(n_assets=2, n_markets=1, target="regime21", features="regime")
    assert regime.options["target"] == "regime21" and regime.options["embargo"] == 21
    assert regime.options["bear_return"] == -0.02 and regime.options["bear_drawdown"] == 0.05
    assert regime.backbone_spec("maml", 2)[1]["in_features"] == len(FEATURE_SETS["regime"])
    assert TradingDomain(target="vol_tercile").default_setting()["n_way"] == 3
    with pytest.raises(DataError, match="unknown target"):
        TradingDomain(target="sentiment")
    shipped = ROOT / "data" / "checkpoints" / "trading" / "maml-indices-to2004" / "best.json"
    options = json.loads(shipped.read_text())["domain_options"]
    assert "target" not in options
    assert TradingDomain(**options).target.name == "direction"
    assert TradingDomain(n_assets=2, n_markets=1).fingerprint() != regime.fingerprint()


def _regime_series(market) -> AssetSeries:
    return AssetSeries.from_prices("SYN0", market.prices["SYN0"], target=make_target("regime21"))


def test_window_batch_holds_the_rows_labels_and_scaling_of_make_task(market) -> None:
    series = _regime_series(market)
    batch = window_batch(series, 500, 880, 60, 10, 21)
    assert len(batch) == 38 and batch.n_days[-1] == 10 and batch.n_days.sum() == 380
    for w in (0, 17, len(batch) - 1):
        task = make_task(series, int(batch.starts[w]), 60, 10, 21)
        torch.testing.assert_close(batch.support_x[w], task.support_x)
        torch.testing.assert_close(batch.support_y[w], task.support_y)
        torch.testing.assert_close(batch.query_x[w, : task.n_query], task.query_x)


def test_batched_adaptation_equals_one_task_at_a_time(market) -> None:
    series = _regime_series(market)
    domain = TradingDomain(source="csv", prices={"SYN0": market.prices["SYN0"]}, target="regime21", support_days=60)
    learner = make_learner(domain, "maml", n_way=2, seed=3)
    cfg = BaselineConfig(**{**domain.default_baselines(), "scratch_steps": 15})
    for method in (MetaMethod(learner), ScratchBaseline(domain, 2, cfg)):
        probs, accs = predict_windows(method, series, 600, 700, 60, 10, 21)
        assert np.isnan(probs[:600]).all() and np.isnan(probs[700:]).all() and np.isfinite(probs[600:700]).all()
        for t in (600, 650, 690):
            task = make_task(series, t, 60, 10, 21)
            with torch.enable_grad():
                predict = method.adapt(task)
            expected = torch.softmax(predict(task.query_x).double(), dim=-1).numpy()
            np.testing.assert_allclose(probs[t : t + 10], expected, atol=2e-5)
        assert len(accs) == 10 and all(0 <= a <= 1 for a in accs)


def test_positions_trade_the_probability_of_bull_or_target_the_volatility() -> None:
    index = pd.bdate_range("2020-01-01", periods=4)
    probs = np.array([[0.7, 0.3], [0.4, 0.6], [np.nan, np.nan], [0.5, 0.5]])
    p, signal = positions(probs, make_target("regime21"), "long_flat", 0.0, index)
    assert p.iloc[[0, 1, 3]].tolist() == [0.3, 0.6, 0.5] and math.isnan(p.iloc[2])
    assert signal.iloc[[0, 1, 3]].tolist() == [0.0, 1.0, 0.0] and math.isnan(signal.iloc[2])
    vol = make_target("vol_tercile").with_vol_terciles(np.linspace(0.1, 0.4, 300))
    expected = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # certain of low, of high volatility
    _, signal = positions(expected, vol, "vol_target", 0.0, index[:2])
    assert signal.iloc[0] == 1.0  # calm: fully invested (never levered)
    assert signal.iloc[1] == pytest.approx(vol.target_vol / vol.vol_levels[2])  # stormy: scaled down
    with pytest.raises(DataError, match="vol_tercile"):
        positions(probs, make_target("regime21"), "vol_target", 0.0, index)


def test_a_checkpoint_is_never_evaluated_as_another_target_or_feature_set() -> None:
    """A bear/bull model read as down/up (or fed other features) would give silently wrong positions: refused."""
    regime = CHECKPOINTS / "trading" / "maml-regime21-indices-to2004"
    direction = CHECKPOINTS / "trading" / "maml-synthetic"
    if not (regime / "best.safetensors").exists() or not (direction / "best.safetensors").exists():
        pytest.skip("the shipped trading checkpoints are not installed")
    check_model_options(regime, TradingDomain(target="regime21", features="regime"))  # its own: accepted
    check_model_options(direction, TradingDomain())
    with pytest.raises(DataError, match=r"target=regime21; evaluating it with target=direction"):
        check_model_options(regime, TradingDomain(features="regime"))
    with pytest.raises(DataError, match=r"features=regime; evaluating it with features=base"):
        check_model_options(regime, TradingDomain(target="regime21"))
    with pytest.raises(DataError, match=r"target=direction; evaluating it with target=regime21"):
        check_model_options(direction, TradingDomain(target="regime21", features="base"))


def test_jump_model_delayed_states_are_the_viterbi_path_of_the_data_so_far(market) -> None:
    """Day k's label state is the smoothed (Viterbi) state of day k on the data up to k + lag: computed for
    every day at once, it must equal a fresh DP run on each truncated history, and not move when later prices do."""
    close = market.prices["SYN0"]["close"]
    jm = JumpModelStrategy(seed=0).fit(close.iloc[:600])
    lag = 20
    states = jm.delayed_states(close, lag)
    f = regime_features(close)
    first = int(np.argmax(f.notna().all(axis=1).to_numpy()))
    assert (states[:first] == -1).all() and (states[-lag:] == -1).all() and set(states[first:-lag]) <= {0, 1}
    x = jm._standardised(f.iloc[first:])
    loss = 0.5 * ((x[:, None, :] - jm.centers_[None]) ** 2).sum(axis=-1)
    for k in (first, first + 5, 300, 450, 700, len(close) - lag - 1):
        path, _ = viterbi_two_state(loss[: k + lag + 1 - first, 0] - loss[: k + lag + 1 - first, 1], jm.jump_penalty)
        assert states[k] == path[k - first], k
    moved = close.copy()
    moved.iloc[500:] *= np.exp(np.linspace(0, -0.6, len(close) - 500))  # a crash after day 500
    after = jm.delayed_states(moved, lag)
    np.testing.assert_array_equal(after[: 500 - lag], states[: 500 - lag])
    assert not np.array_equal(after[500 - lag :], states[500 - lag :]), "the crash should change later states"
    # the fit's own smoothed path on its training days is the lag -> infinity limit
    full = jm.delayed_states(close.iloc[:600], 600)
    assert (full == -1).all()  # lag longer than the data: nothing is known yet


def test_jump21_labels_come_from_a_model_fitted_on_training_closes_and_find_the_bear_regimes() -> None:
    market = simulate_market(2500, 2, seed=1)  # bull, sideways, bear and crisis days in training and test
    prices = {t: df for t, df in market.prices.items()}
    test_start = str(prices["SYN0"].index[2000].date())

    def domain(p):
        return TradingDomain(source="csv", prices=p, regimes=market.regimes, test_start=test_start, target="jump21")

    base = domain(prices)
    target = base.fitted_target()
    assert target.name == "jump21" and target.horizon == 21 and target.class_names == ("bear", "bull")
    wild = {t: df.copy() for t, df in prices.items()}
    for df in wild.values():  # a different test period leaves the fitted model as it was
        df.iloc[2000:, :4] *= np.exp(np.random.default_rng(0).normal(0, 0.05, (len(df) - 2000, 1)))
    np.testing.assert_array_equal(domain(wild).fitted_target().jump.centers_, target.jump.centers_)
    series = base.series()[0]
    y, known = series.y, series.known
    assert not known[-21:].any() and known[300:-21].all()
    # bull = the jump model's state 0 (the higher training return); its bear labels track the true bad regimes
    truth = market.regimes.reindex(series.dates).isin(["bear", "crisis"]).to_numpy()
    day = np.flatnonzero(known)
    nxt = truth[day + 1]
    balanced = 0.5 * ((y[day][nxt] == 0).mean() + (y[day][~nxt] == 1).mean())
    assert balanced > 0.7, balanced  # 0.81 here; a bull / bear swap would give 0.19
    with pytest.raises(TaskError, match="no jump model yet"):
        make_target("jump21").labels(prices["SYN0"]["close"].to_numpy())
    with pytest.raises(DataError, match="jump_penalty"):
        make_target("jump21", jump_penalty=-1)
    assert TradingDomain(n_assets=2, n_markets=1, target="jump21").options["jump_penalty"] == 50.0


def test_a_jump21_checkpoint_records_its_jump_model_and_evaluation_labels_with_it(tmp_path) -> None:
    """The labels' jump model is part of what a jump21 model learned: recorded in the domain options, restored
    exactly (same labels) by a domain built from them -- never refitted on the evaluation data, whose own
    history may be too short or different (unseen tickers)."""
    market = simulate_market(1500, 2, seed=1)
    prices = dict(market.prices)
    test_start = str(prices["SYN0"].index[1200].date())
    domain = TradingDomain(source="csv", prices=prices, test_start=test_start, target="jump21")
    assert "jump_model" not in domain.options  # fitted with the series, then recorded
    fitted = domain.fitted_target().jump
    recorded = json.loads(json.dumps(domain.options["jump_model"]))  # what a checkpoint's JSON holds
    restored = TradingDomain(source="csv", prices=prices, test_start=test_start, target="jump21", jump_model=recorded)
    assert restored.options["jump_model"] == recorded and restored.fingerprint() == domain.fingerprint()
    np.testing.assert_array_equal(restored.fitted_target().jump.centers_, fitted.centers_)
    np.testing.assert_array_equal(restored.series()[1].y, domain.series()[1].y)
    # another market's evaluation keeps the recorded model (no refit on its own training period)
    other = simulate_market(1500, 2, seed=3).prices
    elsewhere = TradingDomain(
        source="csv", prices=dict(other), test_start=test_start, target="jump21", jump_model=recorded
    )
    np.testing.assert_array_equal(elsewhere.fitted_target().jump.centers_, fitted.centers_)
    # evaluating on another source (a CSV folder of unseen tickers) carries the recorded model with the target
    carried = eval_options(dict(domain.options), {"source": "csv", "data_dir": "elsewhere", "start": "2020-01-02"})
    assert carried["target"] == "jump21" and carried["jump_model"] == recorded
    with pytest.raises(DataError, match="2 centres"):
        TradingDomain(target="jump21", jump_model={**recorded, "centers": [[0.0]]})
    with pytest.raises(DataError, match="malformed"):
        TradingDomain(target="jump21", jump_model={"mean": [1.0]})
