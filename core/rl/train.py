"""Meta-training of an RL learner: meta-batches of environments, validation returns, checkpoints, resume.

Read top to bottom like :mod:`metasuite.core.trainer`: build the learner and optimiser, restore
``last.safetensors`` if the run folder has one, then for each step draw the meta-batch of training tasks with
``generator(seed, "train", step)`` and let the learner collect its rollouts (actions drawn with
``generator(seed, "rollouts", step)``) and update itself; every ``val_every`` steps score fixed validation tasks
(the return after the learner's own adaptation: one inner step for MAML-RL, the trial's last episode for RL^2)
and keep the best; every ``checkpoint_every`` steps write the resumable state. Every draw depends only on
``(seed, step)`` and the optimiser state is saved exactly, so a resumed run ends where an uninterrupted one does.

Run folder: ``run.json`` (configuration), ``last.*`` (model + optimiser + trainer state), ``best.*`` (model and
its validation return), ``metrics.jsonl`` -- checkpoints in :mod:`metasuite.core.checkpoint`'s format.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn

from metasuite.core.checkpoint import atomic_write_text, load_checkpoint, load_into, save_checkpoint
from metasuite.core.errors import CheckpointError, MetasuiteError
from metasuite.core.jsonio import dumps
from metasuite.core.losses import is_improvement
from metasuite.core.progress import progress as progress_bar
from metasuite.core.rl.learners import MODEL_PREFIX, make_rl_learner, rl_learner_meta
from metasuite.core.rl.rollouts import ENV_MODES, EnvPool
from metasuite.core.rl.tasks import TaskFamily, fixed_env_tasks, sample_env_tasks
from metasuite.core.tasks import derive_seed, generator
from metasuite.core.trainer import RUN_CONFIG, _optim_tensors, _restore_optim

__all__ = ["RLTrainConfig", "train_rl", "validation_return"]


@dataclass
class RLTrainConfig:
    """Plain-data configuration of one RL meta-training run."""

    steps: int = 500
    meta_batch_size: int = 20  # tasks per meta-batch
    outer_lr: float = 1e-3
    val_every: int = 50
    val_tasks: int = 40
    checkpoint_every: int = 10
    log_every: int = 1
    patience: int | None = None
    seed: int = 0
    env_mode: str = "native"  # see metasuite.core.rl.rollouts.ENV_MODES

    def __post_init__(self) -> None:
        for name in ("steps", "meta_batch_size", "val_every", "checkpoint_every", "log_every"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.env_mode not in ENV_MODES:
            raise ValueError(f"env_mode must be one of {', '.join(ENV_MODES)}, got {self.env_mode!r}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RLTrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise MetasuiteError(f"an RL run has no setting {sorted(unknown)}; it takes: {sorted(known)}")
        try:
            return cls(**d)
        except ValueError as exc:
            raise MetasuiteError(str(exc)) from exc


def val_steps(learner: nn.Module) -> int:
    """Adaptation steps behind the validation return: MAML-RL's inner steps, RL^2's earlier episodes."""
    return learner.inner_steps if hasattr(learner, "inner_steps") else learner.episodes_per_trial - 1


def validation_return(learner: nn.Module, family: TaskFamily, n_tasks: int, n_rollouts: int, seed: int) -> float:
    """Mean return after the learner's own adaptation on ``n_tasks`` fixed validation tasks (seeded rollouts)."""
    pool = EnvPool(family)
    tasks = fixed_env_tasks(family, "val", n_tasks, derive_seed(seed, "val"))
    curve = learner.curve(pool, tasks, val_steps(learner), n_rollouts, generator(seed, "val"))
    pool.close()
    return float(curve["returns"][:, -1].mean())


def _save(path: Path, learner: nn.Module, meta: dict[str, Any], extra: dict[str, torch.Tensor] | None = None) -> None:
    model = {MODEL_PREFIX + k: v for k, v in learner.state_dict().items()}
    save_checkpoint(path, {**model, **(extra or {})}, meta)


def train_rl(
    family: TaskFamily,
    algorithm: str,
    out: str | Path,
    *,
    setting: dict[str, Any],
    hparams: dict[str, Any],
    config: dict[str, Any],
    run_meta: dict[str, Any],
    resume: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """Meta-train ``algorithm`` on ``family`` into run folder ``out``.

    ``setting["k_shot"]`` / ``["n_query"]`` are the rollouts per task before / after adaptation; ``hparams``
    the learner's keywords; ``config`` :class:`RLTrainConfig` fields; ``run_meta`` what the checkpoints record
    about the domain. Returns ``{steps_done, best_step, best_val, stopped_early, seconds}``.
    """
    # -- set up: learner, optimiser, run folder, from which step
    cfg = RLTrainConfig.from_dict(config)
    learner = make_rl_learner(family, algorithm, seed=cfg.seed, **hparams)
    opt = torch.optim.Adam(learner.parameters(), lr=cfg.outer_lr)
    out = Path(out)
    meta = {**rl_learner_meta(learner), **run_meta, "setting": setting, "train_config": asdict(cfg)}
    last, log_path = out / "last.safetensors", out / "metrics.jsonl"
    state = {"step": 0, "best_val": None, "best_step": None, "bad_vals": 0}
    if resume and (last.exists() or (out / RUN_CONFIG).exists()):
        saved = load_checkpoint(last)[1] if last.exists() else json.loads((out / RUN_CONFIG).read_text())
        for key in ("algorithm", "hparams", "setting", "train_config"):
            if dumps(saved.get(key), sort_keys=True) != dumps(meta[key], sort_keys=True):
                raise CheckpointError(f"{out} holds a run with a different {key}; use a new --out folder")
    if resume and last.exists():
        tensors, saved = load_checkpoint(last)
        load_into(learner, tensors, last, prefix=MODEL_PREFIX)
        _restore_optim(opt, tensors, saved["trainer"].pop("param_groups"))
        state = saved["trainer"]
        lines = log_path.read_text().splitlines() if log_path.exists() else []
        atomic_write_text(
            log_path, "".join(ln + "\n" for ln in lines if ln and json.loads(ln)["step"] <= state["step"])
        )
    else:
        out.mkdir(parents=True, exist_ok=True)
        log_path.unlink(missing_ok=True)
        atomic_write_text(out / RUN_CONFIG, dumps(meta, indent=2, sort_keys=True) + "\n")
    pool = EnvPool(family, cfg.env_mode)

    # -- the loop: meta-update, log, validate (keep the best), checkpoint
    t0, stopped_early = time.perf_counter(), False
    bar = progress_bar(total=cfg.steps, initial=state["step"], desc=f"meta-train {learner.name}", disable=not progress)
    with log_path.open("a", encoding="utf-8") as log:
        for step in range(state["step"], cfg.steps):
            tasks = sample_env_tasks(family, "train", cfg.meta_batch_size, generator(cfg.seed, "train", step))
            stats = learner.iteration(
                pool,
                tasks,
                opt,
                generator(cfg.seed, "rollouts", step),
                n_support=setting["k_shot"],
                n_query=setting["n_query"],
            )
            done = state["step"] = step + 1
            record: dict[str, Any] = {"step": done, **stats} if done % cfg.log_every == 0 else {}
            if cfg.val_tasks > 0 and (done % cfg.val_every == 0 or done == cfg.steps):
                value = validation_return(learner, family, cfg.val_tasks, setting["k_shot"], cfg.seed)
                if is_improvement(value, state["best_val"], higher=True):  # a NaN return is never the best
                    state.update(best_val=value, best_step=done, bad_vals=0)
                    _save(out / "best", learner, {**meta, "metrics": {"val_metric": value, "step": done}})
                else:
                    state["bad_vals"] += 1
                record.update(step=done, val_return=value, best_val=state["best_val"])
                best = math.nan if state["best_val"] is None else state["best_val"]
                bar.set_postfix(val=f"{value:.1f}", best=f"{best:.1f}")
                stopped_early = cfg.patience is not None and state["bad_vals"] >= cfg.patience
            if record:
                log.write(dumps({**record, "seconds": round(time.perf_counter() - t0, 3)}) + "\n")
                log.flush()
            if done % cfg.checkpoint_every == 0 or done == cfg.steps or stopped_early:
                opt_tensors, groups = _optim_tensors(opt)
                _save(last, learner, {**meta, "trainer": {**state, "param_groups": groups}}, opt_tensors)
            bar.update(1)
            if stopped_early:
                break
    bar.close()
    pool.close()
    if state["best_step"] is None:  # no validation: the final weights are the ones to keep
        _save(out / "best", learner, {**meta, "metrics": {"val_metric": None, "step": state["step"]}})
    return {
        "steps_done": state["step"],
        "best_step": state["best_step"],
        "best_val": state["best_val"],
        "stopped_early": stopped_early,
        "seconds": round(time.perf_counter() - t0, 3),
    }
