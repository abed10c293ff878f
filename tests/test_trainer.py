"""The trainer: checkpoints and logs, early stopping, exact resume after a crash or SIGKILL."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import torch

import metasuite.core.trainer as trainer_module
from metasuite.core.checkpoint import load_checkpoint
from metasuite.core.errors import CheckpointError
from metasuite.core.learners import load_learner, make_learner
from metasuite.core.losses import is_improvement
from metasuite.core.tasks import TaskBatch, derive_seed, fixed_tasks
from metasuite.core.trainer import TrainConfig, train, validate
from metasuite.domains.sinusoid import SinusoidDomain

SETTING = {"k_shot": 5, "n_query": 5}
CONFIG = {"meta_batch_size": 4, "val_tasks": 8, "checkpoint_every": 5, "log_every": 5, "seed": 0}


def run(out: Path, *, resume: bool = True, algorithm: str = "maml", **cfg: Any) -> tuple[Any, dict[str, Any]]:
    """Meta-train on sinusoid tasks into ``out``; returns ``(learner, summary)``."""
    domain = SinusoidDomain()
    learner = make_learner(domain, algorithm, n_way=None, seed=0)
    config = TrainConfig(**{"steps": 40, "val_every": 10, **CONFIG, **cfg})
    summary = train(
        learner,
        domain.sampler("train", **SETTING),
        domain.sampler("val", **SETTING),
        config,
        out,
        run_meta={"domain": domain.name, "setting": {"n_way": None, **SETTING}},
        resume=resume,
        progress=False,
    )
    return learner, summary


def records(out: Path) -> list[dict[str, Any]]:
    """metrics.jsonl without the wall-clock field."""
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(ln).items() if k != "seconds"} for ln in lines]


def assert_same_run(a: Path, b: Path) -> None:
    """Two run folders hold bit-identical weights, optimiser state and trainer state."""
    ta, ma = load_checkpoint(a / "last.safetensors")
    tb, mb = load_checkpoint(b / "last.safetensors")
    assert ta.keys() == tb.keys()
    for k in ta:
        assert torch.equal(ta[k], tb[k]), f"{k} differs after resume"
    assert ma["trainer"] == mb["trainer"]


def test_short_run_writes_checkpoints_and_metrics(tmp_path: Path) -> None:
    learner, summary = run(tmp_path)
    assert summary["steps_done"] == 40 and not summary["stopped_early"]
    names = {p.name for p in tmp_path.iterdir()}
    assert names == {"best.safetensors", "best.json", "last.safetensors", "last.json", "metrics.jsonl", "run.json"}

    recs = records(tmp_path)
    steps = [r["step"] for r in recs]
    assert steps == list(range(5, 45, 5))
    assert all(r.keys() >= {"loss", "metric"} for r in recs)
    vals = {r["step"]: r["val_metric"] for r in recs if "val_metric" in r}
    assert sorted(vals) == [10, 20, 30, 40]

    best_step = min(vals, key=vals.get)  # regression: lower MSE is better
    assert summary["best_step"] == best_step and summary["best_val"] == vals[best_step]
    _, last = load_checkpoint(tmp_path / "last")
    assert last["trainer"]["step"] == 40
    assert last["domain"] == "sinusoid" and last["train_config"]["steps"] == 40

    # the best checkpoint reproduces its validation metric on the same fixed validation tasks
    best, meta = load_learner(tmp_path, SinusoidDomain())
    assert meta["metrics"] == {"val_metric": vals[best_step], "step": best_step}
    val_batch = TaskBatch.stack(fixed_tasks(SinusoidDomain().sampler("val", **SETTING), 8, derive_seed(0, "val")))
    assert validate(best, val_batch) == pytest.approx(vals[best_step], rel=1e-6)
    # and the in-memory learner holds the final weights, those of last.safetensors
    final, _ = load_learner(tmp_path / "last.safetensors")
    assert all(torch.equal(a, b) for a, b in zip(final.state_dict().values(), learner.state_dict().values()))


def test_training_lowers_the_validation_error(tmp_path: Path) -> None:
    run(tmp_path, steps=60, val_every=30, outer_lr=1e-2)
    vals = [r["val_metric"] for r in records(tmp_path) if "val_metric" in r]
    assert vals[-1] < vals[0]


def test_early_stopping_after_patience_validations_without_improvement(tmp_path: Path) -> None:
    # outer_lr=0: the weights never change, so no validation after the first one improves
    _, summary = run(tmp_path, outer_lr=0.0, patience=2)
    assert summary["stopped_early"]
    assert summary["steps_done"] == 30 and summary["best_step"] == 10
    _, last = load_checkpoint(tmp_path / "last")
    assert last["trainer"]["step"] == 30 and last["trainer"]["bad_vals"] == 2
    assert records(tmp_path)[-1]["step"] == 30


def test_starting_weights_stay_the_best_when_meta_training_only_makes_them_worse(tmp_path: Path) -> None:
    """validate_start (what `train --init` uses): the starting weights are validated as step 0 and kept as best.*
    unless a later validation beats them -- here a destructive outer learning rate only makes them worse."""
    trained, _ = run(tmp_path / "first", steps=60, val_every=30, outer_lr=1e-2)
    start = {k: v.clone() for k, v in trained.state_dict().items()}
    domain = SinusoidDomain()
    summary = train(
        trained,
        domain.sampler("train", **SETTING),
        domain.sampler("val", **SETTING),
        TrainConfig(**{"steps": 20, "val_every": 10, **CONFIG, "outer_lr": 0.5}),
        tmp_path / "second",
        run_meta={"domain": domain.name, "setting": {"n_way": None, **SETTING}},
        progress=False,
        validate_start=True,
    )
    recs = records(tmp_path / "second")
    vals = {r["step"]: r["val_metric"] for r in recs if "val_metric" in r}
    assert sorted(vals) == [0, 10, 20] and min(vals.values()) == vals[0]  # the damage is real
    assert summary["best_step"] == 0 and summary["best_val"] == vals[0]
    best, meta = load_learner(tmp_path / "second", domain)
    assert meta["metrics"]["step"] == 0
    assert all(torch.equal(start[k], v) for k, v in best.state_dict().items())
    # a fresh run without it logs no step 0 (the recorded recipes of the shipped models are unchanged)
    assert all(r["step"] > 0 for r in records(tmp_path / "first"))


def test_a_diverged_validation_never_becomes_the_best(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A NaN validation (the first one here) is not kept as the best, and later finite ones still replace it."""
    real = trainer_module._validate_everywhere
    calls = []

    def first_nan(*args: Any) -> tuple[float, float | None]:
        value, score = real(*args)
        calls.append(value)
        return (float("nan"), score) if len(calls) == 1 else (value, score)

    monkeypatch.setattr(trainer_module, "_validate_everywhere", first_nan)
    _, summary = run(tmp_path)
    vals = {r["step"]: r["val_metric"] for r in records(tmp_path) if "val_metric" in r}
    assert vals[10] is None and summary["best_step"] != 10  # NaN is logged as JSON null
    assert summary["best_val"] == min(v for v in vals.values() if v is not None)
    assert is_improvement(0.5, float("nan"), higher=True) and not is_improvement(float("nan"), 0.5, higher=True)
    assert not is_improvement(float("nan"), None, higher=False) and is_improvement(0.1, None, higher=False)


class _Crash(RuntimeError):
    pass


def test_resume_after_a_crash_equals_an_uninterrupted_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run(tmp_path / "ref")

    from metasuite.core.algorithms.maml import MAML

    real = MAML.meta_backward
    calls = {"n": 0}

    def crashing(self, batch):  # dies during step 23, after the checkpoint of step 20
        calls["n"] += 1
        if calls["n"] == 23:
            raise _Crash
        return real(self, batch)

    monkeypatch.setattr(MAML, "meta_backward", crashing)
    with pytest.raises(_Crash):
        run(tmp_path / "resumed")
    monkeypatch.setattr(MAML, "meta_backward", real)
    assert load_checkpoint(tmp_path / "resumed" / "last")[1]["trainer"]["step"] == 20

    _, summary = run(tmp_path / "resumed")
    assert summary["steps_done"] == 40
    assert_same_run(tmp_path / "ref", tmp_path / "resumed")
    assert records(tmp_path / "resumed") == records(tmp_path / "ref")  # no lost, no duplicated lines


def test_resuming_a_finished_run_changes_nothing(tmp_path: Path) -> None:
    run(tmp_path)
    before = (tmp_path / "last.safetensors").read_bytes(), records(tmp_path)
    _, summary = run(tmp_path)
    assert summary["steps_done"] == 40
    assert (tmp_path / "last.safetensors").read_bytes() == before[0]
    assert records(tmp_path) == before[1]


_KILL_SCRIPT = """
import sys, torch
torch.set_num_threads(1)
sys.path.insert(0, {tests!r})
from test_trainer import run
from pathlib import Path
run(Path({out!r}), steps={steps}, val_every=50)
"""


def _checkpoint_step(out: Path) -> int:
    try:
        return json.loads((out / "last.json").read_text())["trainer"]["step"]
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return 0


def test_resume_after_sigkill_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    # Kill at a random moment after a random checkpoint: as soon as the checkpoint of step
    # `target` exists, wait a random few milliseconds (a fraction of a step to a few steps).
    rng = random.Random()  # a different moment on every run; the values are in the failure messages
    steps, target, delay = 100, rng.choice(range(5, 45, 5)), rng.uniform(0.0, 0.03)
    out = tmp_path / "killed"
    script = textwrap.dedent(_KILL_SCRIPT).format(tests=str(Path(__file__).parent), out=str(out), steps=steps)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while _checkpoint_step(out) < target:
            assert proc.poll() is None, f"training subprocess died early: {proc.stderr.read()}"
            assert time.monotonic() < deadline, f"no checkpoint of step {target} within 120 s"
            time.sleep(0.002)
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
        proc.stderr.close()
    where = f"(killed {delay:.3f} s after the checkpoint of step {target})"
    assert proc.returncode == -signal.SIGKILL, f"the run finished before it was killed {where}"
    killed_at = load_checkpoint(out / "last")[1]["trainer"]["step"]
    assert target <= killed_at < steps, where

    run(out, steps=steps, val_every=50)  # resume
    run(tmp_path / "ref", steps=steps, val_every=50)
    assert_same_run(tmp_path / "ref", out)
    got, want = records(out), records(tmp_path / "ref")
    assert len({r["step"] for r in got}) == len(got), f"duplicated steps in metrics.jsonl {where}"
    assert got == want, where


def test_resuming_with_a_different_config_is_refused(tmp_path: Path) -> None:
    run(tmp_path, steps=10)
    with pytest.raises(CheckpointError, match="different train_config") as info:
        run(tmp_path, steps=10, outer_lr=5e-3)
    assert "new --out folder" in str(info.value)
    with pytest.raises(CheckpointError, match="different algorithm"):
        run(tmp_path, steps=10, algorithm="fomaml")
    # resume=False starts over instead
    _, summary = run(tmp_path, steps=10, outer_lr=5e-3, resume=False)
    assert summary["steps_done"] == 10


def test_unknown_config_fields_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"unknown TrainConfig field\(s\) \['stepz'\]"):
        TrainConfig.from_dict({"stepz": 3})
