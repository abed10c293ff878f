"""The navigation domain: the point robot's dynamics and reward, vectorised == single environments, disjoint goal
splits, the domain's options, and `metasuite train` / `metasuite eval` end to end with tiny budgets."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium
import numpy as np
import pytest
import torch

from metasuite.apps.cli import main
from metasuite.core.errors import MetasuiteError
from metasuite.core.registry import get_domain
from metasuite.core.rl.evaluation import RLEvaluation
from metasuite.core.rl.rollouts import collect
from metasuite.core.rl.tasks import EnvTask, fixed_env_tasks
from metasuite.core.runs import TrainRequest, train_run
from metasuite.core.tasks import generator
from metasuite.domains.navigation import (
    NavigationDomain,
    NavigationFamily,
    PointNavigationEnv,
    PointNavigationVectorEnv,
)
from metasuite.domains.navigation.env import GOAL_RANGE, GRID, SPLIT_CELLS, split_of_goal


def _task(x: float, y: float) -> EnvTask:
    return EnvTask({"goal": [x, y]}, "test")


def test_dynamics_reward_truncation_and_success() -> None:
    env = PointNavigationEnv(horizon=3, success_radius=0.05)
    env.task = _task(0.2, -0.05)
    obs, _ = env.reset(seed=0)
    assert np.array_equal(obs, [0.0, 0.0])
    obs, reward, terminated, truncated, info = env.step(np.array([0.3, -0.05]))  # x clipped to the 0.1 limit
    np.testing.assert_allclose(obs, [0.1, -0.05], atol=1e-7)
    assert reward == pytest.approx(-0.1) and info["distance"] == pytest.approx(0.1)
    assert not terminated and not truncated and not info["is_success"]
    obs, reward, _, truncated, info = env.step(np.array([0.1, 0.0]))
    assert reward == pytest.approx(0.0, abs=1e-9) and info["is_success"] and not truncated
    *_, truncated, info = env.step(np.array([-0.1, -0.1]))
    assert truncated and not info["is_success"]  # the horizon ends the episode (no early termination)


def test_the_vectorised_env_steps_like_single_envs_and_like_gymnasium_sync() -> None:
    goals = [_task(0.3, 0.2), _task(-0.4, 0.1), _task(0.0, -0.45)]
    native = PointNavigationVectorEnv(3, horizon=5)
    sync = gymnasium.vector.SyncVectorEnv([NavigationFamily(horizon=5).make_env] * 3)
    singles = [PointNavigationEnv(horizon=5) for _ in goals]
    for env, task in zip(singles, goals):
        env.task = task
        env.reset()
    native.set_attr("task", goals)
    sync.set_attr("task", goals)
    native.reset(seed=0)
    sync.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(5):
        actions = rng.uniform(-0.3, 0.3, (3, 2))
        out_native, out_sync = native.step(actions), sync.step(actions)
        out_single = [env.step(a) for env, a in zip(singles, actions)]
        for i in range(4):  # obs, reward, terminated, truncated
            np.testing.assert_allclose(np.asarray(out_native[i], float), np.asarray(out_sync[i], float), atol=1e-6)
            np.testing.assert_allclose(out_native[i], np.stack([s[i] for s in out_single]), atol=1e-6)
        np.testing.assert_array_equal(out_native[4]["is_success"], [s[4]["is_success"] for s in out_single])
    assert out_native[3].all()


def test_collect_gives_the_same_episodes_on_native_and_gymnasium_envs() -> None:
    family = NavigationFamily(horizon=10)
    tasks = fixed_env_tasks(family, "train", 4, 0)

    def run(envs: gymnasium.vector.VectorEnv) -> torch.Tensor:
        gen = generator(0)
        policy = lambda obs, *_: 0.1 * torch.randn(obs.shape, generator=gen) - 0.2 * obs
        return collect(envs, tasks, policy, family.horizon, n_episodes=2).rewards

    sync = gymnasium.vector.SyncVectorEnv([family.make_env] * 4)
    torch.testing.assert_close(run(family.make_vector_env(4)), run(sync))


def test_goal_splits_are_disjoint_and_cover_the_square() -> None:
    cells = [c for split in SPLIT_CELLS.values() for c in split]
    assert sorted(cells) == [(i, j) for i in range(GRID) for j in range(GRID)]  # a partition of the 8 x 8 grid
    family = NavigationFamily()
    goals = {}
    for split in ("train", "val", "test"):
        tasks = fixed_env_tasks(family, split, 300, 0)
        goals[split] = {tuple(t.params["goal"]) for t in tasks}
        assert all(split_of_goal(g) == split and max(map(abs, g)) <= GOAL_RANGE for g in goals[split])
    assert not goals["train"] & goals["test"] and not goals["train"] & goals["val"] and not goals["val"] & goals["test"]
    assert fixed_env_tasks(family, "test", 100, 0) == fixed_env_tasks(family, "test", 100, 0)
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        family.sample("dev", generator(0))


def test_the_domain_declares_options_and_refuses_supervised_use(tmp_path: Path) -> None:
    domain = get_domain("navigation")
    assert isinstance(domain, NavigationDomain) and domain.kind == "reinforcement"
    assert [o.name for o in domain.option_specs] == ["horizon", "success_radius"]
    assert isinstance(domain.evaluation(), RLEvaluation)
    assert domain.fingerprint() != get_domain("navigation", horizon=50).fingerprint()
    assert get_domain("navigation", horizon="50").task_family().horizon == 50
    with pytest.raises(MetasuiteError, match="tasks are environments"):
        domain.sampler("train", n_way=None, k_shot=1, n_query=1)
    with pytest.raises(MetasuiteError, match="one process"):
        train_run(TrainRequest("navigation", "maml-rl", tmp_path / "run", nproc=2, progress=False))


def test_train_and_eval_through_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, rl2 = tmp_path / "maml-rl", tmp_path / "rl2"
    tiny = ["--meta-batch-size", "2", "--shots", "2", "--queries", "2", "--val-every", "1", "--val-tasks", "2"]
    assert main(["train", "navigation", "--algo", "maml-rl", "--steps", "2", *tiny, "--out", str(out), "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["steps_done"] == 2 and (out / "best.safetensors").exists() and (out / "last.safetensors").exists()
    assert main(["train", "navigation", "--algo", "rl2", "--steps", "1", *tiny, "--out", str(rl2), "--quiet"]) == 0
    capsys.readouterr()
    report = tmp_path / "eval" / "nav.json"
    argv = ["eval", "navigation", "--checkpoint", str(out), "--checkpoint", str(rl2), "--tasks", "3", "--shots", "2"]
    argv += ["--inner-steps", "2", "--baselines", "--baseline-steps", "1", "--json", str(report), "--quiet"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "return@1" in text and "paired on return@1: maml-rl - multi-task" in text
    data = json.loads(report.read_text())
    methods = [r["method"] for r in data["results"]]
    assert methods == ["maml-rl", "rl2", "multi-task", "multi-task + fine-tune", "PPO from scratch"]
    for r in data["results"]:
        assert r["n_tasks"] == 3 and len(r["per_task"]["return@2"]) == 3 and len(r["curve"]["return_mean"]) == 3
    assert {(p["meta"], p["baseline"], p["metric"]) for p in data["paired"]} >= {("maml-rl", "multi-task", "return@1")}
    assert (report.parent / "nav-curve.png").stat().st_size > 1000
