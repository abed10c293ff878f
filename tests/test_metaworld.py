"""The metaworld domain: disjoint splits, Meta-World's any-step success on a scripted reach, the vector env (in
process and with worker processes) equal to single envs, seeded rollouts, clear errors, and `metasuite train` /
`metasuite eval` end to end with tiny budgets."""

from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from metasuite.apps.cli import main
from metasuite.apps.logic.rl import path_view, task_goal, task_text
from metasuite.core.errors import DataError, MetasuiteError, UnknownNameError
from metasuite.core.options import OptionError
from metasuite.core.registry import get_domain
from metasuite.core.rl.evaluation import RLEvaluation
from metasuite.core.rl.maml_rl import MAMLRL
from metasuite.core.rl.rollouts import collect
from metasuite.core.rl.tasks import EnvTask, fixed_env_tasks
from metasuite.core.rl.train import validation_return
from metasuite.core.tasks import generator
from metasuite.domains.metaworld import MetaWorldDomain, MetaWorldEnv, MetaWorldFamily, MetaWorldVectorEnv
from metasuite.domains.metaworld import env as mw_env


def _reach(index: int, source: str = "test") -> EnvTask:
    return EnvTask({"benchmark": "ML1", "env_name": "reach-v3", "source": source, "index": index}, "test")


def _goal(task: EnvTask) -> np.ndarray:
    """The hidden goal, read from the Meta-World task the environment is built from."""
    return np.asarray(pickle.loads(mw_env._lookup(task.params)[1].data)["rand_vec"][3:])


def test_splits_are_disjoint_and_are_metaworlds_own() -> None:
    family = MetaWorldFamily("ML1", "reach", horizon=20)
    coords = {s: {tuple(sorted(p.items())) for p in ps} for s, ps in family.split_tasks.items()}
    assert [len(coords[s]) for s in ("train", "val", "test")] == [40, 10, 50]
    assert not coords["train"] & coords["val"] and not coords["train"] & coords["test"]
    assert not coords["val"] & coords["test"]
    assert {p["index"] for p in family.split_tasks["val"]} == set(range(40, 50))  # held out of Meta-World's train
    assert {p["source"] for p in family.split_tasks["test"]} == {"test"}
    goals = {s: {tuple(_goal(EnvTask(p))) for p in ps} for s, ps in family.split_tasks.items()}
    assert len(goals["train"] | goals["val"] | goals["test"]) == 100  # 100 distinct goals: none shared
    drawn = fixed_env_tasks(family, "val", 30, 0)
    assert drawn == fixed_env_tasks(family, "val", 30, 0) and all(t.params in family.split_tasks["val"] for t in drawn)
    fifty = fixed_env_tasks(family, "test", 50, 0)  # an evaluation of 50 tasks is the 50 test goals, each once
    assert sorted(map(str, (t.params for t in fifty))) == sorted(map(str, family.split_tasks["test"]))
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        family.sample("dev", generator(0))
    ml10 = MetaWorldFamily("ML10", horizon=20)
    train_classes = {p["env_name"] for p in ml10.split_tasks["train"]}
    test_classes = {p["env_name"] for p in ml10.split_tasks["test"]}
    assert len(train_classes) == 10 and len(test_classes) == 5 and not train_classes & test_classes
    assert len(ml10.split_tasks["val"]) == 100 and len(ml10.split_tasks["test"]) == 250


def test_a_scripted_reach_succeeds_and_success_counts_at_any_step() -> None:
    """Move the hand to the true goal, then away: the last step is not a success, the episode is."""
    env = MetaWorldEnv(horizon=120)
    env.task = _reach(3)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (39,) and obs.dtype == np.float32 and not obs[-3:].any()  # the goal is hidden
    goal = env.sim._target_pos.copy()
    np.testing.assert_allclose(goal, _goal(env.task))
    reached, steps, rewards, flags = False, 0, [], []
    while True:
        hand = obs[:3]
        reached = reached or np.linalg.norm(hand - goal) < 0.02
        direction = (hand - goal) if reached else (goal - hand)
        obs, reward, terminated, truncated, info = env.step(np.append(np.clip(40 * direction, -1, 1), 0.0))
        steps, flags = steps + 1, [*flags, (info["success"], info["is_success"])]
        rewards.append(reward)
        assert not terminated and truncated == (steps == 120)
        if truncated:
            break
    success = [s for s, _ in flags]
    assert any(success) and not success[-1]  # reached, then left the goal
    first = success.index(True)
    assert [f for _, f in flags] == [False] * first + [True] * (120 - first)
    assert all(0.0 <= r <= 10.0 for r in rewards) and max(rewards) > 5 * rewards[0]
    with pytest.raises(MetasuiteError, match="reset"):
        env.step(np.zeros(4))
    env.reset()  # a new episode starts unsuccessful
    *_, info = env.step(np.array([0.0, -1.0, 1.0, 0.0]))
    assert not info["is_success"]


def test_collect_reports_any_step_success_for_each_environment() -> None:
    tasks = [_reach(0), _reach(7), _reach(11)]
    goals = torch.tensor(np.stack([_goal(t) for t in tasks]), dtype=torch.float32)
    reached = torch.zeros(3, dtype=torch.bool)

    def scripted(obs: torch.Tensor, *_: torch.Tensor) -> torch.Tensor:
        nonlocal reached
        to_goal = goals - obs[:, :3]
        reached |= to_goal.norm(dim=1) < 0.02
        direction = torch.where(reached[:, None], -to_goal, to_goal)
        direction[2] = -to_goal[2]  # environment 2 never goes to its goal
        return torch.cat([(40 * direction).clamp(-1, 1), torch.zeros(3, 1)], 1)

    episodes = collect(MetaWorldVectorEnv(3, horizon=100), tasks, scripted, horizon=100)
    assert episodes.success[:, 0].tolist() == [True, True, False]
    assert episodes.rewards.shape == (3, 1, 100) and episodes.obs.shape == (3, 1, 100, 39)


@pytest.mark.parametrize("workers", [1, 2])
def test_the_vector_env_steps_like_single_envs(workers: int) -> None:
    tasks = [_reach(1), _reach(2, "train"), _reach(30), _reach(45, "train"), _reach(9)]
    vector = MetaWorldVectorEnv(5, horizon=6, workers=workers)
    singles = [MetaWorldEnv(horizon=6) for _ in tasks]
    vector.set_attr("task", tasks)
    for env, task in zip(singles, tasks):
        env.task = task
    obs = vector.reset(seed=0)[0]
    np.testing.assert_array_equal(obs, np.stack([env.reset()[0] for env in singles]))
    rng = np.random.default_rng(0)
    for t in range(9):  # past the end of the first episode: next-step autoreset
        actions = rng.uniform(-1.5, 1.5, (5, 4))
        out = vector.step(actions)
        if t == 6:  # the step after truncation resets every environment
            np.testing.assert_array_equal(out[0], np.stack([env.reset()[0] for env in singles]))
            assert not out[1].any() and not out[4]["_is_success"].any()
            continue
        single = [env.step(a) for env, a in zip(singles, actions)]
        for i in range(4):  # obs, reward, terminated, truncated
            np.testing.assert_array_equal(out[i], np.stack([s[i] for s in single]))
        np.testing.assert_array_equal(out[4]["is_success"], [s[4]["is_success"] for s in single])
    vector.close()


def test_rollouts_are_determined_by_the_seed_on_fresh_and_reused_simulators() -> None:
    family = MetaWorldFamily("ML1", "reach", horizon=15)
    learner = MAMLRL(family.obs_dim, family.act_dim, hidden=(16,))
    mw_env._IDLE_SIMS.clear()
    first = validation_return(learner, family, n_tasks=2, n_rollouts=2, seed=0)  # new simulators, then closed
    assert len(mw_env._IDLE_SIMS["reach-v3"]) == 4  # ... and reused (in another order) below
    assert validation_return(learner, family, n_tasks=2, n_rollouts=2, seed=0) == first
    assert validation_return(learner, family, n_tasks=2, n_rollouts=2, seed=1) != first


def test_environments_hold_one_simulator_and_the_idle_pool_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """ML10 moves every environment across classes: each must hold one simulator at a time, and the idle ones are
    capped (unbounded, 100 environments x 10 classes kept ~1,000 simulators, 19 GB, and the run was OOM-killed)."""
    monkeypatch.setattr(mw_env, "MAX_IDLE_SIMS", 3)
    mw_env._IDLE_SIMS.clear()
    family = MetaWorldFamily("ML10", horizon=5)
    names = sorted({p["env_name"] for p in family.split_tasks["train"]})[:3]
    tasks = [EnvTask({"benchmark": "ML10", "env_name": n, "source": "train", "index": 0}, "train") for n in names]
    envs = [MetaWorldEnv(horizon=5) for _ in range(4)]
    built, take = [], mw_env._take_sim
    monkeypatch.setattr(mw_env, "_take_sim", lambda name, cls: built.append(name) or take(name, cls))
    for round_ in range(6):  # every environment visits every class twice
        for i, env in enumerate(envs):
            env.task = tasks[(i + round_) % len(tasks)]
            env.reset()
            assert env.sim is not None and env._sim_class == tasks[(i + round_) % len(tasks)].params["env_name"]
        assert sum(len(v) for v in mw_env._IDLE_SIMS.values()) <= 3
    for env in envs:
        env.close()
    assert sum(len(v) for v in mw_env._IDLE_SIMS.values()) == 3
    assert len({id(s) for v in mw_env._IDLE_SIMS.values() for s in v}) == 3
    assert len(built) == 24  # a simulator taken on every class change (from the pool or new)
    mw_env._IDLE_SIMS.clear()


def test_the_family_names_each_tasks_hidden_goal_for_the_page() -> None:
    family = MetaWorldFamily("ML1", "reach", horizon=5)
    for i in (0, 7):
        np.testing.assert_allclose(family.goal(_reach(i)), _goal(_reach(i)))
    assert not np.allclose(family.goal(_reach(0)), family.goal(_reach(7)))
    push = EnvTask({"benchmark": "ML1", "env_name": "push-v3", "source": "test", "index": 3}, "test")
    assert MetaWorldFamily("ML1", "push", horizon=5).goal(push).shape == (3,)
    view = path_view("metaworld", family.obs_dim)
    assert np.allclose(task_goal(_reach(0), view, family), _goal(_reach(0)))
    assert task_text(_reach(0), view, family).endswith("goal ({:.2f}, {:.2f}, {:.2f})".format(*_goal(_reach(0))))


def test_the_domain_declares_options_and_refuses_bad_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    domain = get_domain("metaworld", task="reach")
    assert isinstance(domain, MetaWorldDomain) and domain.kind == "reinforcement"
    assert [o.name for o in domain.option_specs] == ["benchmark", "task", "horizon", "env_workers"]
    assert domain.options["task"] == "reach-v3" and isinstance(domain.evaluation(), RLEvaluation)
    assert get_domain("metaworld", task="push").task_family().split_tasks["test"][0]["env_name"] == "push-v3"
    assert get_domain("metaworld", task="pick-place", horizon="80").task_family().horizon == 80
    assert domain.fingerprint() == get_domain("metaworld", env_workers=2).fingerprint()  # speed only
    assert domain.fingerprint() != get_domain("metaworld", horizon=100).fingerprint()
    assert domain.fingerprint() != get_domain("metaworld", task="push").fingerprint()
    with pytest.raises(UnknownNameError, match=r"unknown Meta-World task 'reech'.*reach"):
        get_domain("metaworld", task="reech")
    with pytest.raises(OptionError, match=r"benchmark must be one of \['ML1', 'ML10'\]"):
        get_domain("metaworld", benchmark="ML45")
    with pytest.raises(UnknownNameError, match="unknown Meta-World benchmark 'ML45'"):
        MetaWorldDomain(benchmark="ML45")
    with pytest.raises(ValueError, match="horizon >= 1"):
        MetaWorldDomain(horizon=0)
    with pytest.raises(MetasuiteError, match=r"assign env\.task"):
        MetaWorldEnv().reset()
    with pytest.raises(MetasuiteError, match="tasks are environments"):
        domain.sampler("train", n_way=None, k_shot=1, n_query=1)
    monkeypatch.setitem(sys.modules, "metaworld", None)  # as if Meta-World were not installed
    with pytest.raises(DataError, match=r"pip install metaworld==3\.1\.1 mujoco==3\.3\.0"):
        get_domain("metaworld")


@pytest.mark.slow
def test_train_and_eval_through_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, rl2 = tmp_path / "maml-rl", tmp_path / "rl2"
    tiny = ["--meta-batch-size", "2", "--shots", "2", "--queries", "2", "--val-every", "1", "--val-tasks", "2"]
    tiny += ["--horizon", "10", "--task", "reach", "--threads", "1"]
    assert main(["train", "metaworld", "--algo", "maml-rl", "--steps", "2", *tiny, "--out", str(out), "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["steps_done"] == 2 and (out / "best.safetensors").exists()
    assert main(["train", "metaworld", "--algo", "rl2", "--steps", "1", *tiny, "--out", str(rl2), "--quiet"]) == 0
    capsys.readouterr()
    report = tmp_path / "eval" / "mw.json"
    argv = ["eval", "metaworld", "--checkpoint", str(out), "--checkpoint", str(rl2), "--tasks", "2", "--shots", "2"]
    argv += ["--inner-steps", "1", "--baselines", "--baseline-steps", "1", "--json", str(report), "--quiet"]
    assert main([*argv, "--threads", "1"]) == 0
    text = capsys.readouterr().out
    assert "success@1" in text and "paired on return@1: maml-rl - multi-task" in text
    data = json.loads(report.read_text())
    assert data["setting"]["horizon"] == 10 and data["setting"]["split"] == "test"
    methods = [r["method"] for r in data["results"]]
    assert methods == ["maml-rl", "rl2", "multi-task", "multi-task + fine-tune", "PPO from scratch"]
    for r in data["results"]:
        assert r["n_tasks"] == 2 and len(r["per_task"]["success@1"]) == 2
    assert (report.parent / "mw-curve.png").stat().st_size > 1000


def test_quaternions_from_matrices_equal_scipys() -> None:
    from scipy.spatial.transform import Rotation

    mats = np.concatenate(
        [
            Rotation.random(500, random_state=3).as_matrix(),
            np.stack([np.eye(3), np.diag([1.0, -1, -1]), np.diag([-1.0, 1, -1]), np.diag([-1.0, -1, 1])]),
            0.5 * np.eye(3)[None],  # not orthogonal: SciPy orthogonalises, and so do we (through SciPy)
        ]
    )
    for m in mats:
        assert np.allclose(mw_env.quat_from_matrix(m), Rotation.from_matrix(m).as_quat(), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="determinant"):
        mw_env.quat_from_matrix(-np.eye(3))  # a reflection: SciPy's own error


def _touching(sim: object) -> bool | None:
    try:
        return sim.touching_main_object
    except (AttributeError, KeyError):  # classes without the lookup (upstream: basketball-v3 calls an old MuJoCo API)
        return None


def test_fast_observations_leave_every_classs_observations_and_rewards_unchanged() -> None:
    """Meta-World's expert policy drives each ML10 class (so grippers do touch objects) with and without the
    faster observation and reset code, on one task and then another and back (the simulator reused, as the vector
    envs do; each task reset repeatedly); every observation, reward and success flag agrees, step by step, the
    observations after each reset included."""
    import metaworld.policies as policies

    names = sorted(set().union(*mw_env._classes("ML10", "reach-v3").values()))
    assert len(names) == 15
    touched = set()
    for name in names:
        source = "train" if name in mw_env._classes("ML10", "reach-v3")["train"] else "test"
        tasks = [EnvTask({"benchmark": "ML10", "env_name": name, "source": source, "index": i}) for i in (3, 7)]
        policy = policies.ENV_POLICY_MAP[name]()
        runs = []
        for fast in (False, True):
            mw_env.fast_observations(fast)
            env = MetaWorldEnv(60)
            sawyer = sys.modules["metaworld.sawyer_xyz_env"].SawyerXYZEnv
            assert (sawyer.touching_object is mw_env._touching_object) == fast
            assert (sawyer._get_curr_obs_combined_no_goal is mw_env._curr_obs_combined_no_goal) == fast
            assert (sawyer.reset is mw_env._reset) == fast and (sawyer._reset_hand is mw_env._reset_hand) == fast
            seen = []
            # each task reset more than once (the cached hand reset replayed), and back to the first task
            for task, steps in zip([tasks[0], tasks[0], tasks[1], tasks[1], tasks[0]], (60, 20, 20, 10, 10)):
                env.task = task
                obs, _ = env.reset()
                seen.append((obs, 0.0, False, None))
                for _ in range(steps):
                    obs, reward, _, _, info = env.step(policy.get_action(obs.astype(np.float64)))
                    seen.append((obs, reward, info["success"], _touching(env.sim)))
            runs.append(seen)
            env.close()
        for (o1, r1, s1, t1), (o2, r2, s2, t2) in zip(*runs, strict=True):
            assert np.allclose(o1, o2, rtol=0, atol=1e-6), name
            assert (r1, s1, t1) == (pytest.approx(r2, abs=1e-9), s2, t2), name
            if t1:
                touched.add(name)
    mw_env.fast_observations(True)  # as environments leave it
    assert len(touched) >= 3, f"the gripper touched an object in too few classes to test the contact code: {touched}"


@pytest.mark.slow
def test_fast_observations_agree_on_all_fifty_meta_world_classes() -> None:
    """Every Meta-World v3 class (ML1 accepts any of the 50): two goals drawn from the class's own reset space, the
    simulator reused across them (goal 1, 1, 2, 2, 1: resets repeated and a return to the first goal), Meta-World's
    expert policy for 15 steps each; the faster code's observations (after each reset too), rewards and successes
    equal Meta-World's own."""
    import metaworld
    import metaworld.policies as policies

    names = sorted(metaworld.ML1.ENV_NAMES)
    assert len(names) == 50
    for name in names:
        cls = metaworld.env_dict.ALL_V3_ENVIRONMENTS[name]
        probe = cls()  # goals drawn as Meta-World's own task lists draw them: resets of an unfrozen environment
        probe._freeze_rand_vec, probe._set_task_called = False, True
        state = np.random.get_state()
        np.random.seed(0)
        try:
            goals = [probe.reset() and probe._last_rand_vec.copy() for _ in range(2)]
        finally:
            np.random.set_state(state)
            probe.close()
        data = {**metaworld.env_dict.ML1_ARGS_KWARGS[name]["kwargs"], "env_cls": cls, "partially_observable": True}
        data.pop("task_id", None)
        tasks = [metaworld._encode_task(name, {**data, "rand_vec": goal}) for goal in goals]
        policy = policies.ENV_POLICY_MAP[name]()
        runs = []
        for fast in (False, True):
            mw_env.fast_observations(fast)
            sim, seen = cls(), []
            for task in [tasks[0], tasks[0], tasks[1], tasks[1], tasks[0]]:
                sim.set_task(task)
                obs, _ = sim.reset()
                seen.append((obs.copy(), 0.0, 0.0))
                for _ in range(15):
                    obs, reward, _, _, info = sim.step(policy.get_action(obs))
                    seen.append((obs.copy(), reward, info["success"]))
            sim.close()
            runs.append(seen)
        for (o1, r1, s1), (o2, r2, s2) in zip(*runs, strict=True):
            assert np.allclose(o1, o2, rtol=0, atol=1e-9), name
            assert (r1, s1) == (pytest.approx(r2, abs=1e-9), s2), name
    mw_env.fast_observations(True)
