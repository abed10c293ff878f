"""The Meta-RL page: its logic (apps.logic.rl) called directly, and the page run headless through AppTest."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from metasuite.apps.logic import APPS_DIR, DOMAIN_PAGES, RL_PAGE, RL_PAGE_DOMAINS, card_table, list_domains
from metasuite.apps.logic import rl as logic
from metasuite.apps.logic.models import StandIn, stand_in_notice
from metasuite.apps.logic.rl import (
    DEFAULT_SEED,
    PATH_VIEWS,
    RLModel,
    StageRollouts,
    adaptation_note,
    adaptation_rollouts,
    evaluation_figure,
    evaluation_table,
    load_rl_model,
    model_card,
    path_view,
    return_figure,
    sample_task,
    shipped_evaluation,
    stage_labels,
    stage_table,
    task_goal,
    task_text,
    trajectory_figure,
)
from metasuite.core import registry
from metasuite.core.errors import CheckpointError
from metasuite.core.paths import CACHE_ENV
from metasuite.core.rl.learners import make_rl_learner
from metasuite.core.rl.rollouts import EnvPool
from metasuite.core.rl.tasks import EnvTask
from metasuite.core.tasks import generator
from metasuite.data import CHECKPOINTS
from metasuite.domains.navigation import NavigationDomain

PAGE = str(APPS_DIR / RL_PAGE)
HOME = str(APPS_DIR / "Home.py")
#: Held-out goals for the adaptation property (the page's own task seeds).
GOAL_SEEDS = range(8)


@pytest.fixture(scope="module")
def model() -> RLModel:
    """The page's navigation policy: the shipped MAML-RL checkpoint (or its stand-in in a slim install)."""
    return load_rl_model("navigation")


def _rollouts(obs_dim: int, stages: int = 2, n: int = 3, horizon: int = 4) -> StageRollouts:
    """Synthetic rollouts: position ``t * (k + 1)`` in every entry at step ``t`` of stage ``k``."""
    t = np.arange(horizon, dtype=np.float32)
    obs = np.stack([np.broadcast_to((k + 1) * t[None, :, None], (n, horizon, obs_dim)) for k in range(stages)])
    returns = -np.arange(stages * n, dtype=np.float32).reshape(stages, n)
    mask = np.ones((stages, n, horizon), bool)
    return StageRollouts(obs=obs.copy(), mask=mask, returns=returns, success=np.zeros((stages, n), bool))


# ---------------------------------------------------------------------------- registration
def test_the_page_is_registered_for_every_installed_rl_domain() -> None:
    assert "navigation" in RL_PAGE_DOMAINS and (APPS_DIR / RL_PAGE).is_file()
    installed = registry.available_domains()
    assert ("metaworld" in RL_PAGE_DOMAINS) == ("metaworld" in installed)
    assert {n for n, page in DOMAIN_PAGES.items() if page == RL_PAGE} == set(RL_PAGE_DOMAINS)
    rows = {row["name"]: row for row in list_domains()}
    assert rows["navigation"]["page"] == RL_PAGE and rows["navigation"]["has_page"]


# ---------------------------------------------------------------------------- model
def test_the_shipped_navigation_policy_loads_with_its_card(model: RLModel) -> None:
    assert isinstance(model.domain, NavigationDomain)
    assert model.family.obs_dim == 2 and model.n_rollouts == model.meta["setting"]["k_shot"]
    card = model_card(model.meta)
    assert card["algorithm"] == "maml-rl" and card["inner lr"] == model.learner.inner_lr
    assert "episodes per trial" not in card
    assert card_table(card)[""][0] == "algorithm"


def test_the_card_of_an_rl2_policy_names_its_trial_length() -> None:
    meta = {"algorithm": "rl2", "hparams": {"hidden": 64, "episodes_per_trial": 2}, "setting": {"k_shot": 10}}
    card = model_card(meta)
    assert card["episodes per trial"] == 2 and "inner lr" not in card
    assert card["rollouts per step"] == 10 and card["file"] is None


def test_without_a_checkpoint_or_stand_in_the_error_says_how_to_train_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logic, "page_checkpoints", lambda name: [])
    monkeypatch.delitem(logic.STAND_INS, "navigation")
    with pytest.raises(CheckpointError, match="metasuite train navigation --algo maml-rl"):
        load_rl_model("navigation")


def test_a_missing_checkpoint_is_replaced_by_a_quick_trained_stand_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The model lifecycle trains an RL stand-in through the RL trainer and loads it as an RL learner."""
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(logic, "page_checkpoints", lambda name: [])
    monkeypatch.setattr(logic, "shipped_checkpoint", lambda domain, run: tmp_path / "absent" / domain / run)
    tiny = StandIn("maml-rl", "MAML-RL", steps=1, meta_batch_size=2, val_tasks=2, threads=1)
    monkeypatch.setitem(logic.STAND_INS, "navigation", tiny)
    domain = NavigationDomain()
    assert set(tiny.train_config(domain)) >= {"steps", "env_mode"} and "pad_tasks" not in tiny.train_config(domain)
    model = load_rl_model("navigation")
    assert model.meta["source"] == "quick-train" and model.meta["algorithm"] == "maml-rl"
    run = tmp_path / "cache" / "app" / "navigation" / tiny.cache_key(domain)
    assert run.name.startswith("maml-rl-1-") and (run / "best.safetensors").exists()
    assert "metasuite train navigation --algo maml-rl" in stand_in_notice(model.meta)
    assert shipped_evaluation("navigation", model.meta) is None  # the shipped evaluation is not of the stand-in
    again = load_rl_model("navigation")  # cached: loaded, not retrained
    assert all(torch.equal(a, b) for a, b in zip(again.learner.parameters(), model.learner.parameters()))


# ---------------------------------------------------------------------------- task and rollouts
def test_tasks_are_held_out_goals_drawn_by_seed(model: RLModel) -> None:
    task = sample_task(model.family, DEFAULT_SEED)
    assert task.split == "test" and task == sample_task(model.family, DEFAULT_SEED)
    assert task.params["goal"] != sample_task(model.family, DEFAULT_SEED + 1).params["goal"]
    view = path_view("navigation", 2)
    assert np.allclose(task_goal(task, view), task.params["goal"])
    assert task_text(task, view) == "({:.2f}, {:.2f})".format(*task.params["goal"])


def test_rollouts_have_one_stage_per_step_and_are_what_the_learner_scored(model: RLModel) -> None:
    task, steps, n = sample_task(model.family, 0), 2, 6
    rollouts = adaptation_rollouts(model.learner, model.family, task, steps, n, seed=0)
    horizon = model.family.horizon
    assert rollouts.obs.shape == (steps + 1, n, horizon, 2)
    assert rollouts.mask.shape == (steps + 1, n, horizon) and rollouts.mask.all()
    assert rollouts.returns.shape == rollouts.success.shape == (steps + 1, n)
    assert np.all(rollouts.obs[:, :, 0] == 0.0)  # every rollout starts at the origin
    assert list(rollouts.steps) == [0, 1, 2]
    curve = model.learner.curve(EnvPool(model.family), [task], steps, n, generator(0, "rollouts"))
    np.testing.assert_allclose(rollouts.returns.mean(1), curve["returns"][0].numpy(), rtol=1e-5)
    again = adaptation_rollouts(model.learner, model.family, task, steps, n, seed=0)
    np.testing.assert_array_equal(again.obs, rollouts.obs)  # seeded: the page shows the same paths on a rerun


def test_adaptation_raises_the_return_on_held_out_goals(model: RLModel) -> None:
    """The shipped MAML-RL gains ~20 return from one step (card: -40.8 -> -19.2 on 100 goals); a broken
    adaptation (no step, a wrong sign, a lost update) leaves the before and after columns alike or worse."""
    before, after = [], []
    for seed in GOAL_SEEDS:
        task = sample_task(model.family, seed)
        returns = adaptation_rollouts(model.learner, model.family, task, 1, model.n_rollouts, seed).returns
        before.append(returns[0].mean())
        after.append(returns[1].mean())
    assert np.mean(after) > np.mean(before) + 8.0, (before, after)


def test_an_rl2_policy_adapts_over_the_episodes_of_one_trial() -> None:
    family = NavigationDomain(horizon=10).task_family()
    learner = make_rl_learner(family, "rl2", seed=0)
    task = sample_task(family, 1)
    rollouts = adaptation_rollouts(learner, family, task, 2, 3, seed=1)
    assert rollouts.obs.shape == (3, 3, 10, 2)
    assert np.all(rollouts.obs[:, :, 0] == 0.0)  # each episode of the trial starts at the origin again
    curve = learner.curve(EnvPool(family), [task], 2, 3, generator(1, "rollouts"))
    np.testing.assert_allclose(rollouts.returns.mean(1), curve["returns"][0].numpy(), rtol=1e-5)
    assert stage_labels(learner, 2) == ["episode 1 (no experience)", "episode 2", "episode 3"]


def test_the_adaptation_note_says_what_a_step_is(model: RLModel) -> None:
    assert f"size {model.learner.inner_lr:g}" in adaptation_note(model.learner)
    assert "Meta-trained for 1 step:" in adaptation_note(model.learner)
    rl2 = make_rl_learner(NavigationDomain().task_family(), "rl2", episodes_per_trial=3)
    assert "trials of 3 episodes" in adaptation_note(rl2)


def test_bad_rollout_arguments_are_refused(model: RLModel) -> None:
    with pytest.raises(ValueError, match="n_rollouts >= 1"):
        adaptation_rollouts(model.learner, model.family, sample_task(model.family, 0), 1, 0, seed=0)


def test_stage_names_and_table(model: RLModel) -> None:
    labels = stage_labels(model.learner, 3)
    assert labels == ["before adaptation", "after 1 step", "after 2 steps", "after 3 steps"]
    rollouts = _rollouts(2, stages=4)
    table = stage_table(rollouts, labels)
    assert list(table.index) == labels and list(table.columns) == ["return", "sd", "success"]
    np.testing.assert_allclose(table["return"], rollouts.returns.mean(1))


def test_the_mean_path_averages_only_the_steps_taken() -> None:
    rollouts = _rollouts(2, stages=1, n=2, horizon=4)  # positions 0, 1, 2, 3
    rollouts.obs[0, 1] += 10.0  # the second rollout: 10, 11, 12, 13
    rollouts.mask[0, 1, 2:] = False  # ... ended after two steps
    rollouts.mask[0, 0, 3] = False  # the first one after three
    path = rollouts.mean_path(0)
    np.testing.assert_allclose(path[:3, 0], [5.0, 6.0, 2.0])
    assert np.isnan(path[3]).all()


# ---------------------------------------------------------------------------- figures
def test_the_trajectory_figure_draws_every_stage_the_start_and_the_goal(model: RLModel) -> None:
    task = sample_task(model.family, DEFAULT_SEED)
    rollouts = adaptation_rollouts(model.learner, model.family, task, 2, 4, seed=DEFAULT_SEED)
    labels, view = stage_labels(model.learner, 2), path_view("navigation", 2)
    fig = trajectory_figure(rollouts, labels, view, task_goal(task, view), n_shown=2)
    assert len(fig.data) == 3 * (2 + 1) + 2  # per stage 2 rollouts + the mean path; start; goal
    legend = [t.name for t in fig.data if t.showlegend]
    assert legend == [*labels, "start", "goal"]
    goal = next(t for t in fig.data if t.name == "goal")
    assert (goal.x[0], goal.y[0]) == pytest.approx(tuple(task.params["goal"]))
    assert fig.layout.yaxis.scaleanchor == "x"  # a plane: x and y at the same scale


def test_three_d_positions_are_drawn_from_the_top_and_the_side() -> None:
    """The Meta-World branch, without MuJoCo: the hand's xyz (obs[:3]) in an x-y and an x-z panel."""
    view = path_view("metaworld", 39)
    assert view == PATH_VIEWS["metaworld"] and len(view.axes) == 3
    rollouts = _rollouts(39, stages=2, n=3)
    fig = trajectory_figure(rollouts, ["before adaptation", "after 1 step"], view, None, n_shown=1)
    assert [a.text for a in fig.layout.annotations] == ["hand x – hand y", "hand x – hand z"]
    assert len(fig.data) == 2 * 2 * (1 + 1) + 2  # per panel and stage: a rollout and the mean; a start per panel
    assert not any(t.name == "goal" for t in fig.data)
    side = [t for t in fig.data if t.xaxis == "x2" and t.name == "after 1 step"]
    np.testing.assert_allclose(side[-1].y, 2 * np.arange(4))  # the z entry of stage 1's mean path


def test_another_rl_domain_is_drawn_by_its_first_two_observation_entries() -> None:
    assert path_view("some-domain", 5).axes == ("obs[0]", "obs[1]")
    with pytest.raises(ValueError, match="at least two"):
        path_view("some-domain", 1)
    task = EnvTask({"env_name": "reach-v3", "index": 6}, "test")
    assert task_goal(task, path_view("some-domain", 5)) is None
    assert task_text(task, path_view("some-domain", 5)) == "env_name reach-v3 · index 6"


def test_the_return_figure_has_one_group_of_dots_per_stage() -> None:
    rollouts = _rollouts(2, stages=3)
    fig = return_figure(rollouts, ["before adaptation", "after 1 step", "after 2 steps"])
    assert len(fig.data) == 3 + 1
    np.testing.assert_allclose(fig.data[-1].y, rollouts.returns.mean(1))
    assert list(fig.layout.xaxis.ticktext) == ["before", "1 step", "2 steps"]


# ---------------------------------------------------------------------------- the shipped evaluation
def test_the_shipped_evaluation_is_that_of_the_loaded_checkpoint(model: RLModel) -> None:
    if model.meta["source"] != "checkpoint":
        pytest.skip("no shipped navigation checkpoint in this install")
    shipped = shipped_evaluation("navigation", model.meta)
    assert shipped is not None
    path, report = shipped
    assert path.name == "maml-rl.json"
    table = evaluation_table(report)
    methods = [r["method"] for r in report["results"]]
    assert list(table.index) == methods and "multi-task" in methods
    assert list(table.columns) == ["before", "after 1", "after 2", "after 3", "success after 3 (%)"]
    fig = evaluation_figure(report)
    assert len(fig.data) == 2 * len(methods)
    meta_line = fig.data[0]
    assert meta_line.name == "maml-rl" and meta_line.line.dash == "solid"


@pytest.mark.parametrize("domain_name", ["navigation", "metaworld"])
def test_every_shipped_rl_checkpoint_has_its_shipped_evaluation_found(domain_name: str) -> None:
    """The page finds ``data/eval/<domain>/<run folder>.json`` by the checkpoint's folder name: an evaluation saved
    under another name is silently not shown (the Meta-World one was, as ml1-reach-maml-rl.json)."""
    folders = sorted(p.parent for p in (CHECKPOINTS / domain_name).glob("*/best.safetensors"))
    assert folders, f"no shipped {domain_name} checkpoint"
    for folder in folders:
        meta = {"source": "checkpoint", "path": str(folder / "best.safetensors")}
        assert shipped_evaluation(domain_name, meta) is not None, folder.name


def test_an_evaluation_of_another_checkpoint_is_not_shown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    report = {
        "results": [{"method": "maml-rl", "kind": "meta", "curve": {"return_mean": [0.0]}}],
        "data_source": {"checkpoints": {"runs/other/best.safetensors": "x"}},
    }
    (tmp_path / "maml-rl.json").write_text(json.dumps(report))
    monkeypatch.setattr(logic, "shipped_eval", lambda domain, name: tmp_path / name)
    meta = {"source": "checkpoint", "path": "/data/checkpoints/navigation/maml-rl/best.safetensors"}
    assert shipped_evaluation("navigation", meta) is None
    report["data_source"]["checkpoints"] = {"data/checkpoints/navigation/maml-rl/best.safetensors": "x"}
    (tmp_path / "maml-rl.json").write_text(json.dumps(report))
    assert shipped_evaluation("navigation", meta) is not None
    (tmp_path / "maml-rl.json").write_text("{not json")
    assert shipped_evaluation("navigation", meta) is None


# ---------------------------------------------------------------------------- the page
def _goal_trace(at: AppTest) -> dict:
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    return next(t for t in spec["data"] if t.get("name") == "goal")


def test_the_page_renders_paths_returns_evaluation_and_card(model: RLModel) -> None:
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not at.exception
    assert at.title[0].value.startswith("Meta-RL")
    assert [m.label for m in at.metric] == [
        "Return: before adaptation",
        "Return: after 3 steps",
        "Success: after 3 steps",
    ]
    shipped = model.meta["source"] == "checkpoint"
    assert len(at.get("plotly_chart")) == (3 if shipped else 2)
    assert "Model card" in [s.value for s in at.subheader]
    assert "algorithm" in at.table[0].value.iloc[:, 0].tolist()
    legend = [t["name"] for t in json.loads(at.get("plotly_chart")[0].proto.spec)["data"] if t.get("showlegend")]
    assert legend == ["before adaptation", "after 1 step", "after 2 steps", "after 3 steps", "start", "goal"]


def test_the_new_task_button_moves_the_goal() -> None:
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    goal = _goal_trace(at)
    at.button[0].click().run()
    assert not at.exception
    assert at.number_input(key="rl_seed").value == DEFAULT_SEED + 1
    assert _goal_trace(at) != goal
    assert f"(seed {DEFAULT_SEED + 1})" in at.markdown[1].value


def test_the_steps_slider_sets_the_stages() -> None:
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    at.slider(key="rl_steps").set_value(1).run()
    assert not at.exception
    assert at.metric[1].label == "Return: after 1 step"
    assert len(at.dataframe[0].value) == 2


def test_home_links_to_the_page_for_navigation() -> None:
    at = AppTest.from_file(HOME, default_timeout=60).run()
    assert any("navigation" in link.value.lower() for link in at.page_link)
    at.switch_page(RL_PAGE).run()
    assert not at.exception
    assert at.title[0].value.startswith("Meta-RL")


@pytest.mark.slow
@pytest.mark.skipif("metaworld" not in RL_PAGE_DOMAINS, reason="the metaworld domain is not installed")
def test_the_page_shows_metaworld_or_says_how_to_train_it() -> None:
    at = AppTest.from_file(PAGE, default_timeout=300).run()
    at.selectbox(key="rl_domain").set_value("metaworld").run()
    assert not at.exception
    if at.info:  # no shipped Meta-World policy yet
        assert "metasuite train metaworld" in at.info[0].value
    else:
        spec = json.loads(at.get("plotly_chart")[0].proto.spec)
        assert spec["layout"]["xaxis"]["title"]["text"] == "hand x"
