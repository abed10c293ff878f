"""Meta-RL in the core (metasuite.core.rl) on a tiny environment: a 1-D point, 5 steps, goal left or right.

Specifications: the inner step is REINFORCE with a baseline (checked against a hand-written per-sample
estimator); the MAML-RL meta-gradient flows through the inner step (equal to explicit second-order autograd) and
the first-order variant differs (equal to the detached reference); RL^2's hidden state is carried across the
episodes of a trial, replayed exactly in training and reset between trials; runs are seeded; checkpoints
round-trip and a killed run resumes to the uninterrupted run's parameters.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
import pytest
import torch
from gymnasium import spaces

from metasuite.core.errors import CheckpointError, MetasuiteError
from metasuite.core.rl.bench import STEP_BUDGET_S, bench_sizes
from metasuite.core.rl.learners import load_rl_learner, make_rl_learner
from metasuite.core.rl.maml_rl import FOMAMLRL, MAMLRL
from metasuite.core.rl.pg import policy_log_prob, ppo_loss, rollout_batch, stacked, vpg_loss
from metasuite.core.rl.returns import discounted_returns, gae, linear_baseline, normalize
from metasuite.core.rl.rl2 import RL2
from metasuite.core.rl.rollouts import EnvPool, env_groups
from metasuite.core.rl.tasks import EnvTask, TaskFamily, fixed_env_tasks, sample_env_tasks
from metasuite.core.rl.train import train_rl
from metasuite.core.tasks import generator

ROOT = Path(__file__).resolve().parents[1]


class LineEnv(gymnasium.Env):
    """A point on a line: moves by the action clipped to [-0.5, 0.5]; reward -|x - goal|; 5 steps."""

    def __init__(self) -> None:
        self.observation_space = spaces.Box(-np.inf, np.inf, (1,), np.float32)
        self.action_space = spaces.Box(-0.5, 0.5, (1,), np.float32)
        self.task: EnvTask | None = None
        self.x, self.t = 0.0, 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.x, self.t = 0.0, 0
        return np.array([self.x], np.float32), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        self.x += float(np.clip(action[0], -0.5, 0.5))
        self.t += 1
        distance = abs(self.x - self.task.params["goal"])
        return np.array([self.x], np.float32), -distance, False, self.t >= 5, {"is_success": distance < 0.3}


class LineFamily(TaskFamily):
    """Goals in [0.5, 1] on the right (train) or on the left (test)."""

    name, horizon, obs_dim, act_dim = "line", 5, 1, 1

    def sample(self, split: str, generator: torch.Generator) -> EnvTask:
        side = 1.0 if split == "train" else -1.0
        return EnvTask({"goal": side * (0.5 + 0.5 * float(torch.rand(1, generator=generator)))}, split)

    def make_env(self) -> LineEnv:
        return LineEnv()


FAMILY = LineFamily()
SETTING = {"n_way": None, "k_shot": 4, "n_query": 4}


@pytest.fixture()
def pool() -> EnvPool:
    pool = EnvPool(FAMILY, "sync")  # the family has no batched implementation: Gymnasium's SyncVectorEnv
    yield pool
    pool.close()


def _maml(**kw: Any) -> MAMLRL:
    return MAMLRL(1, 1, hidden=(8,), inner_lr=0.5, seed=0, **kw)


def _support_query(learner: MAMLRL, pool: EnvPool):  # type: ignore[no-untyped-def]
    tasks = sample_env_tasks(FAMILY, "train", 2, generator(0, "tasks"))
    theta = stacked({k: v.detach() for k, v in learner.params().items()}, 2)
    support = rollout_batch(pool, tasks, learner.policy, theta, 4, generator(1), 0.9, 1.0)
    phi = learner.adapted(theta, support, 1)
    query = rollout_batch(pool, tasks, learner.policy, phi, 4, generator(2), 0.9, 1.0)
    return support, query


# ---------------------------------------------------------------------------- returns and advantages
def test_returns_gae_and_linear_baseline() -> None:
    rewards = torch.tensor([[1.0, 2.0, 3.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    assert torch.allclose(discounted_returns(rewards, mask, 0.5), torch.tensor([[2.75, 3.5, 3.0, 0.0]]))
    values = torch.tensor([[0.5, -1.0, 2.0, 9.0]])
    # lambda = 1: the advantage is the return-to-go minus the value
    assert torch.allclose(
        gae(rewards, values, mask, 0.5, 1.0), (discounted_returns(rewards, mask, 0.5) - values) * mask
    )
    # lambda = 0: the one-step TD error
    td = torch.tensor([[1.0 + 0.5 * -1.0 - 0.5, 2.0 + 0.5 * 2.0 + 1.0, 3.0 - 2.0, 0.0]])
    assert torch.allclose(gae(rewards, values, mask, 0.5, 0.0), td)
    # a return that is linear in the features is fitted exactly, per task
    obs = torch.randn(2, 3, 6, 1, generator=generator(0))
    t = torch.arange(6).float() / 100
    target = torch.stack([3 * obs[0, ..., 0] - 2 + t, -(obs[1, ..., 0] ** 2) + 5 * t**2])
    fitted = linear_baseline(obs, target, torch.ones(2, 3, 6))
    assert torch.allclose(fitted, target, atol=1e-2)  # up to the small ridge term
    adv = normalize(torch.randn(2, 3, 6, generator=generator(1)), torch.ones(2, 3, 6))
    assert torch.allclose(adv.mean((1, 2)), torch.zeros(2), atol=1e-6)


# ---------------------------------------------------------------------------- MAML-RL
def test_inner_step_is_reinforce_with_a_baseline(pool: EnvPool) -> None:
    learner = _maml()
    support, _ = _support_query(learner, pool)
    task = tuple(t[0] for t in support.tensors())
    theta = {k: v.detach() for k, v in learner.params().items()}
    phi = learner.adapt_fn(theta, task, 1, create_graph=False)
    # hand-written REINFORCE: -(1/n) sum_t A_t grad log pi(a_t | s_t), one autograd call per sample
    obs, actions, advantages, mask = task[0], task[1], task[2], task[3]
    reference = {k: torch.zeros_like(v) for k, v in theta.items()}
    names, leaves = list(learner.params()), list(learner.parameters())
    for i in range(obs.shape[0]):
        for t in range(obs.shape[1]):
            if mask[i, t] == 0:
                continue
            mean, log_std = learner.policy(obs[i, t])
            log_pi = torch.distributions.Normal(mean, log_std.exp()).log_prob(actions[i, t]).sum()
            for name, g in zip(names, torch.autograd.grad(log_pi, leaves)):
                reference[name] -= advantages[i, t] * g / mask.sum()
    for name in theta:
        torch.testing.assert_close(phi[name], theta[name] - 0.5 * reference[name], atol=1e-5, rtol=1e-4)


def _reference_meta_grad(learner: MAMLRL, support, query, first_order: bool) -> list[torch.Tensor]:  # type: ignore[no-untyped-def]
    """Explicit autograd: phi = theta - lr * grad(inner), through create_graph unless first-order."""
    leaves = list(learner.parameters())
    names = list(learner.params())
    total = 0.0
    for g in range(support.obs.shape[0]):
        s = tuple(x[g] for x in support.tensors())
        q = tuple(x[g] for x in query.tensors())
        theta = dict(zip(names, leaves))
        inner = vpg_loss(policy_log_prob(learner.policy, theta, s[0], s[1]), s[4], s[2], s[3])
        grads = torch.autograd.grad(inner, leaves, create_graph=not first_order)
        phi = {n: p - learner.inner_lr * (gr.detach() if first_order else gr) for n, p, gr in zip(names, leaves, grads)}
        total = total + ppo_loss(policy_log_prob(learner.policy, phi, q[0], q[1]), q[4], q[2], q[3], learner.clip)
    return list(torch.autograd.grad(total / support.obs.shape[0], leaves))


def test_meta_gradient_flows_through_the_inner_step_and_first_order_differs(pool: EnvPool) -> None:
    second = _maml()
    first = FOMAMLRL(1, 1, hidden=(8,), inner_lr=0.5, seed=0)
    support, query = _support_query(second, pool)
    grads = {}
    for learner in (second, first):
        learner.zero_grad()
        learner.meta_loss(support, query).backward()
        grads[learner.name] = [p.grad.clone() for p in learner.parameters()]
        for mine, ref in zip(grads[learner.name], _reference_meta_grad(learner, support, query, learner.first_order)):
            torch.testing.assert_close(mine, ref, atol=1e-5, rtol=1e-4)
    differ = [not torch.allclose(a, b, atol=1e-6) for a, b in zip(grads["maml-rl"], grads["fomaml-rl"])]
    assert any(differ), "the second-order meta-gradient equals the first-order one: nothing flowed through the step"


def test_a_maml_rl_iteration_is_seeded(pool: EnvPool) -> None:
    def run(seed: int) -> list[torch.Tensor]:
        learner = _maml()
        opt = torch.optim.Adam(learner.parameters(), lr=1e-2)
        tasks = sample_env_tasks(FAMILY, "train", 2, generator(seed, "tasks"))
        stats = learner.iteration(pool, tasks, opt, generator(seed, "rollouts"), n_support=3, n_query=3)
        assert np.isfinite(list(stats.values())).all()
        return [p.detach().clone() for p in learner.parameters()]

    a, b, c = run(0), run(0), run(1)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not all(torch.equal(x, y) for x, y in zip(a, c))


def test_adaptation_curve_shapes(pool: EnvPool) -> None:
    curve = _maml().curve(pool, fixed_env_tasks(FAMILY, "test", 3, 0), 2, 4, generator(0))
    assert curve["returns"].shape == curve["success"].shape == (3, 3)
    assert bool(((curve["success"] >= 0) & (curve["success"] <= 1)).all())


# ---------------------------------------------------------------------------- RL^2
def test_rl2_hidden_state_carries_across_episodes_and_resets_between_trials(pool: EnvPool) -> None:
    learner = RL2(1, 1, hidden=8, episodes_per_trial=2, seed=0)
    with torch.no_grad():
        learner.policy.log_std.fill_(-30.0)  # deterministic: every action is the policy's mean
    tasks = fixed_env_tasks(FAMILY, "train", 3, 0)
    trial = learner.trials(pool, tasks, 1, generator(0), 2)
    again = learner.trials(pool, tasks, 1, generator(1), 2)
    assert torch.equal(trial.actions, again.actions)  # a new trial starts from a zero hidden state
    inputs = learner.trial_inputs(trial)  # (3, 2 * 5, 1 + 1 + 2)
    mean, _, _ = learner.policy(inputs)
    torch.testing.assert_close(mean, trial.actions.reshape(3, 10, 1), atol=1e-5, rtol=1e-5)  # training replays it
    assert torch.equal(inputs[:, 5, -1], torch.ones(3))  # episode 2 starts with prev_done = 1
    restarted, _, _ = learner.policy(inputs[:, 5:])  # episode 2 with a hidden state reset at the boundary
    assert not torch.allclose(restarted, trial.actions[:, 1], atol=1e-4), "the hidden state was not carried over"


class CappedLineFamily(LineFamily):
    max_envs = 3  # as Meta-World caps its ~19 MB simulators


def test_a_capped_family_is_stepped_in_groups_with_the_same_rollouts(pool: EnvPool) -> None:
    """``max_envs`` caps the environments alive at once (memory must not grow with the number of test tasks):
    policy-gradient rollouts and RL^2 trials are then collected group by group -- each task still acting with its
    own parameters, each RL^2 trial from a zero hidden state -- and equal the all-at-once ones."""
    assert env_groups(CappedLineFamily(), 7, 1) == [slice(0, 3), slice(3, 6), slice(6, 7)]
    assert env_groups(CappedLineFamily(), 3, 2) == [slice(0, 1), slice(1, 2), slice(2, 3)]  # one task of 2 envs
    assert env_groups(FAMILY, 7, 4) == [slice(0, 7)]
    capped = EnvPool(CappedLineFamily(), "sync")
    tasks = fixed_env_tasks(FAMILY, "train", 4, 0)
    learner = _maml()
    theta = stacked({k: v.detach() for k, v in learner.params().items()}, 4)
    theta = {k: v + 0.3 * torch.arange(4.0).reshape(-1, *[1] * (v.dim() - 1)) for k, v in theta.items()}
    theta["log_std"] = torch.full_like(theta["log_std"], -30.0)  # deterministic: actions are the tasks' means
    got = rollout_batch(capped, tasks, learner.policy, theta, 2, generator(1), 0.9, 1.0)
    want = rollout_batch(pool, tasks, learner.policy, theta, 2, generator(1), 0.9, 1.0)
    assert set(capped._envs) == {2}  # one task's two rollouts per group
    for name in ("obs", "actions", "advantages", "mask", "returns"):
        torch.testing.assert_close(getattr(got, name), getattr(want, name))
    rl2 = RL2(1, 1, hidden=8, episodes_per_trial=2, seed=0)
    with torch.no_grad():
        rl2.policy.log_std.fill_(-30.0)
    six = fixed_env_tasks(FAMILY, "train", 6, 0)
    grouped, whole = rl2.trials(capped, six, 1, generator(0), 2), rl2.trials(pool, six, 1, generator(0), 2)
    torch.testing.assert_close(grouped.actions, whole.actions)  # no hidden state carried into the next group
    capped.close()


def test_rl2_iteration_updates_the_policy(pool: EnvPool) -> None:
    learner = RL2(1, 1, hidden=8, episodes_per_trial=2, ppo_epochs=2, minibatches=2, seed=0)
    before = [p.detach().clone() for p in learner.parameters()]
    opt = torch.optim.Adam(learner.parameters(), lr=1e-2)
    stats = learner.iteration(pool, fixed_env_tasks(FAMILY, "train", 2, 0), opt, generator(0), n_support=2)
    assert np.isfinite(list(stats.values())).all()
    assert any(not torch.equal(a, b) for a, b in zip(before, learner.parameters()))
    curve = learner.curve(pool, fixed_env_tasks(FAMILY, "test", 2, 0), 2, 3, generator(0))
    assert curve["returns"].shape == (2, 3)


# ---------------------------------------------------------------------------- tasks, checkpoints, resume
def test_fixed_env_tasks_are_seeded_prefix_stable_and_split() -> None:
    tasks = fixed_env_tasks(FAMILY, "test", 5, 7)
    assert tasks == fixed_env_tasks(FAMILY, "test", 5, 7)
    assert tasks[:3] == fixed_env_tasks(FAMILY, "test", 3, 7)
    assert tasks != fixed_env_tasks(FAMILY, "test", 5, 8)
    assert all(t.params["goal"] < 0 for t in tasks) and all(t.split == "test" for t in tasks)


class ListedLineFamily(LineFamily):
    """Seven goals per split, as a list (like Meta-World's 50 per class)."""

    def finite_tasks(self, split: str) -> list[dict[str, Any]]:
        return [{"goal": (i + 1.0) * (-1 if split == "test" else 1)} for i in range(7)]


def test_fixed_env_tasks_of_a_listed_family_use_every_task_before_repeating_one() -> None:
    family = ListedLineFamily()
    listed = family.finite_tasks("test")
    tasks = fixed_env_tasks(family, "test", 17, 3)
    goals = [t.params["goal"] for t in tasks]
    # the first 7 are the 7 tasks, each once; so are the next 7; the last 3 are distinct
    assert sorted(goals[:7]) == sorted(g["goal"] for g in listed) == sorted(goals[7:14])
    assert len(set(goals[14:])) == 3 and all(t.split == "test" for t in tasks)
    assert tasks[:5] == fixed_env_tasks(family, "test", 5, 3)  # prefix-stable
    assert goals[:7] != [t.params["goal"] for t in fixed_env_tasks(family, "test", 7, 4)]  # the order is seeded


def _train(out: Path, steps: int = 4, **kw: Any) -> dict[str, Any]:
    config = {"steps": steps, "meta_batch_size": 2, "val_every": 2, "val_tasks": 2, "checkpoint_every": 2}
    return train_rl(
        FAMILY,
        "maml-rl",
        out,
        setting=SETTING,
        hparams={"hidden": [8], "inner_lr": 0.5},
        config={**config, "env_mode": "sync"},
        run_meta={"domain": "line"},
        progress=False,
        **kw,
    )


def test_checkpoint_round_trip_and_a_killed_run_resumes_to_the_same_parameters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = _train(tmp_path / "straight")
    assert summary["steps_done"] == 4 and summary["best_step"] in (2, 4)
    learner, meta = load_rl_learner(tmp_path / "straight" / "last.safetensors")
    assert meta["algorithm"] == "maml-rl" and meta["setting"] == SETTING and meta["hparams"]["hidden"] == [8]
    straight = {k: v.clone() for k, v in learner.state_dict().items()}

    real, calls = MAMLRL.iteration, {"n": 0}

    def crash_at_step_3(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("killed")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(MAMLRL, "iteration", crash_at_step_3)
    with pytest.raises(KeyboardInterrupt):
        _train(tmp_path / "killed")
    monkeypatch.setattr(MAMLRL, "iteration", real)
    assert _train(tmp_path / "killed")["steps_done"] == 4  # resumes from the step-2 checkpoint
    resumed = load_rl_learner(tmp_path / "killed" / "last.safetensors")[0].state_dict()
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)
    steps = [int(line.split('"step": ')[1].split(",")[0]) for line in (tmp_path / "killed" / "metrics.jsonl").open()]
    assert steps == [1, 2, 3, 4]  # the log has each step once
    with pytest.raises(CheckpointError, match="different train_config"):
        _train(tmp_path / "killed", steps=6)


def test_loading_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not an RL policy"):
        load_rl_learner(ROOT / "data" / "checkpoints" / "sinusoid" / "maml")
    with pytest.raises(MetasuiteError, match=r"takes: .*inner_lr"):
        make_rl_learner(FAMILY, "maml-rl", inner_rate=0.1)
    with pytest.raises(MetasuiteError, match="unknown RL algorithm 'ppo'"):
        make_rl_learner(FAMILY, "ppo")
    with pytest.raises(MetasuiteError, match="has no setting"):
        train_rl(FAMILY, "maml-rl", tmp_path, setting=SETTING, hparams={}, config={"compile": True}, run_meta={})


def test_bench_rl_sizes_follow_the_cost_of_a_family() -> None:
    """The point robot (~14k steps/s) keeps the 400-environment batch and 20 rollouts; a MuJoCo arm (~1.5k steps/s,
    horizon 150) gets batches one single environment would step through in a few seconds, not 400 x 150 steps."""
    assert bench_sizes(14_000, 100) == {"small": 20, "large": 400, "rollouts": 20}
    slow = bench_sizes(1_500, 150)
    assert slow["large"] * 150 <= STEP_BUDGET_S * 1_500 * 1.01 and 2 <= slow["rollouts"] < 20
    assert bench_sizes(1, 500) == {"small": 2, "large": 2, "rollouts": 2}  # never below two
