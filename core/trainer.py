"""The meta-training loop: meta-batches, outer optimiser, validation, checkpoints, resume.

Read top to bottom: build the optimiser, restore ``last.safetensors`` if the run folder has one,
then for each step draw the meta-batch seeded by ``(seed, step)``, accumulate the meta-gradient,
step the optimiser; every ``val_every`` steps score a fixed set of validation tasks and keep the
best checkpoint (by the domain's own validation score when it has one, e.g. trading's Sharpe ratio after
costs: ``val_score``); every ``checkpoint_every`` steps write the resumable state. Because each step's
tasks depend only on ``(seed, step)`` and the optimiser state is saved exactly, a run killed at
any moment (even SIGKILL) and resumed ends with the same parameters as an uninterrupted one.

Run folder layout::

    out/last.safetensors + last.json   meta-parameters, optimiser state, trainer state (resume)
    out/best.safetensors + best.json   meta-parameters with the best validation metric
    out/metrics.jsonl                  one JSON object per logged step / validation
    out/run.json                       the run's configuration, written before the first step (a folder holding it
                                       is a run of that configuration, even when killed before its first checkpoint)
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from metasuite.core.algorithms import MetaLearner
from metasuite.core.checkpoint import atomic_write_text, load_checkpoint, load_into, save_checkpoint
from metasuite.core.distributed import (
    DistContext,
    all_reduce_grads,
    average,
    broadcast_module,
    broadcast_value,
)
from metasuite.core.errors import CheckpointError
from metasuite.core.jsonio import dumps
from metasuite.core.learners import MODEL_PREFIX, learner_meta
from metasuite.core.losses import is_improvement
from metasuite.core.progress import progress as progress_bar
from metasuite.core.tasks import TaskBatch, TaskSampler, derive_seed, fixed_tasks, generator, sample_batch

__all__ = ["RUN_CONFIG", "TrainConfig", "train", "validate"]

_OPT = "optim."
RUN_CONFIG = "run.json"


@dataclass
class TrainConfig:
    """Plain-data configuration of one meta-training run."""

    steps: int = 1000
    meta_batch_size: int = 16
    outer_lr: float = 1e-3
    optimizer: str = "adam"  # "adam" or "sgd"
    lr_schedule: str = "constant"  # "constant", "cosine" or "linear" (decay to 0 at `steps`)
    grad_clip: float | None = None
    val_every: int = 200
    val_tasks: int = 100
    checkpoint_every: int = 100
    log_every: int = 10
    patience: int | None = None  # validations without improvement before stopping early
    seed: int = 0
    pad_tasks: bool = False  # stack ragged tasks with masks
    compile: bool = False  # torch.compile the vmap meta-objective (faster steps after ~30 s compiling)
    shards: int = 1  # the meta-batch is this many equal sub-batches, each seeded on its own (one per rank)

    def __post_init__(self) -> None:
        for name in ("steps", "meta_batch_size", "val_every", "checkpoint_every", "log_every", "shards"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.val_tasks < 0:
            raise ValueError(f"val_tasks must be >= 0 (0: no validation), got {self.val_tasks}")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"patience must be a positive number of validations, got {self.patience}")
        if not (self.outer_lr >= 0 and math.isfinite(self.outer_lr)):
            raise ValueError(f"outer_lr must be a finite number >= 0, got {self.outer_lr}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Build from a dict, rejecting unknown keys with the list of known ones."""
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown TrainConfig field(s) {sorted(unknown)}; known: {sorted(known)}")
        return cls(**d)


def _optimizer(learner: MetaLearner, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        # The fused kernel is ~2.5x faster than the per-tensor loop for small models on CPU.
        return torch.optim.Adam(learner.parameters(), lr=cfg.outer_lr, fused=True)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(learner.parameters(), lr=cfg.outer_lr)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}; choose 'adam' or 'sgd'")


def _lr_factor(cfg: TrainConfig, step: int) -> float:
    frac = step / max(cfg.steps, 1)
    if cfg.lr_schedule == "constant":
        return 1.0
    if cfg.lr_schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * frac))
    if cfg.lr_schedule == "linear":
        return 1.0 - frac
    raise ValueError(f"unknown lr_schedule {cfg.lr_schedule!r}; choose constant, cosine or linear")


def _optim_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, Tensor], list[dict[str, Any]]]:
    sd = opt.state_dict()
    tensors: dict[str, Tensor] = {}
    for idx, state in sd["state"].items():
        for key, value in state.items():
            tensors[f"{_OPT}{idx}.{key}"] = value if isinstance(value, Tensor) else torch.tensor(value)
    return tensors, sd["param_groups"]


def _restore_optim(opt: torch.optim.Optimizer, tensors: dict[str, Tensor], groups: list[dict[str, Any]]) -> None:
    state: dict[int, dict[str, Tensor]] = {}
    for name, value in tensors.items():
        if name.startswith(_OPT):
            idx, key = name[len(_OPT) :].split(".", 1)
            state.setdefault(int(idx), {})[key] = value
    opt.load_state_dict({"state": state, "param_groups": groups})


def _meta_backward(
    learner: MetaLearner,
    sampler: TaskSampler,
    cfg: TrainConfig,
    step: int,
    dist: DistContext | None,
    device: torch.device,
) -> dict[str, float]:
    """Accumulate the meta-gradient of step ``step``'s global meta-batch into ``.grad``; its mean loss/metric.

    One shard: the meta-batch drawn with ``(seed, "train", step)``. Several: shard ``k`` is drawn with
    ``(seed, "train", step, "shard", k)``; a rank differentiates its own shard and the gradients are
    averaged over ranks, a single process differentiates every shard and divides by their number --
    the same mean over the same tasks.
    """
    if cfg.shards == 1 and dist is None:
        batch = sample_batch(sampler, cfg.meta_batch_size, generator(cfg.seed, "train", step), cfg.pad_tasks)
        return learner.meta_backward(batch)
    per = cfg.meta_batch_size // cfg.shards
    mine = range(cfg.shards) if dist is None else [dist.rank]
    stats = []
    for k in mine:
        shard = sample_batch(sampler, per, generator(cfg.seed, "train", step, "shard", k), cfg.pad_tasks)
        stats.append(learner.meta_backward(shard if device.type == "cpu" else shard.to(device)))
    mean = {key: sum(s[key] for s in stats) / len(stats) for key in stats[0]}
    if dist is None:
        for p in learner.parameters():
            if p.grad is not None:
                p.grad /= cfg.shards
        return mean
    all_reduce_grads(list(learner.parameters()), dist.world_size)
    return average(mean, device)


def validate(learner: MetaLearner, batch: TaskBatch) -> float:
    """Mean headline metric of ``learner`` over a fixed validation batch (test-time steps)."""
    return float(learner.score(batch).mean())


@dataclass
class _Progress:
    """Where a run stands: the next step to take and the early-stopping bookkeeping (saved in ``last.json``)."""

    step: int = 0
    best_val: float | None = None
    best_step: int | None = None
    bad_vals: int = 0


class _RunFolder:
    """The run folder: resumable state (``last``), best weights (``best``) and the metrics log.

    Only the main process (rank 0, or the only process) writes; the others read nothing and write nothing.
    """

    def __init__(self, out: Path, meta: dict[str, Any], main: bool):
        self.out, self.meta, self.main = out, meta, main
        self.last = out / "last.safetensors"
        self.log_path = out / "metrics.jsonl"
        self.config_path = out / RUN_CONFIG
        if main:
            out.mkdir(parents=True, exist_ok=True)

    def _check_same_run(self, saved: dict[str, Any], source: Path) -> None:
        if isinstance(saved.get("train_config"), dict):  # runs from before a config field existed: its default
            saved["train_config"] = {**asdict(TrainConfig()), **saved["train_config"]}
        for key in ("algorithm", "hparams", "backbone", "train_config"):
            if json.dumps(saved.get(key), sort_keys=True) != json.dumps(self.meta[key], sort_keys=True):
                raise CheckpointError(
                    f"{source} belongs to a run with a different {key} ({saved.get(key)} vs {self.meta[key]}); "
                    "use a new --out folder or delete the old run"
                )

    def resume(self, learner: MetaLearner, opt: torch.optim.Optimizer) -> _Progress:
        """Load ``last`` into ``learner`` and ``opt`` after checking it belongs to the same configuration;
        cut the log back to that checkpoint. Returns the saved progress."""
        tensors, saved = load_checkpoint(self.last)
        self._check_same_run(saved, self.last)
        load_into(learner, tensors, self.last, prefix=MODEL_PREFIX)
        tr = saved["trainer"]
        _restore_optim(opt, tensors, tr["param_groups"])
        if self.main and self.log_path.exists():  # drop log lines written after the checkpoint we resume from
            # (the line of step `start` itself was written before that checkpoint: keep it)
            lines = self.log_path.read_text().splitlines()
            kept = [ln for ln in lines if ln and json.loads(ln)["step"] <= tr["step"]]
            atomic_write_text(self.log_path, "".join(ln + "\n" for ln in kept))
        return _Progress(tr["step"], tr["best_val"], tr["best_step"], tr["bad_vals"])

    def start_fresh(self, resume: bool) -> _Progress:
        """Step 0: a run interrupted before its first checkpoint may restart only with the same configuration."""
        if resume and self.config_path.exists():
            self._check_same_run(json.loads(self.config_path.read_text()), self.config_path)
        if self.main:
            if self.log_path.exists():
                self.log_path.unlink()
            atomic_write_text(self.config_path, dumps(self.meta, indent=2, sort_keys=True) + "\n")
        return _Progress()

    def save_last(self, learner: MetaLearner, opt: torch.optim.Optimizer, progress: _Progress) -> None:
        """The resumable state after ``progress.step`` steps: parameters, optimiser and trainer state."""
        opt_tensors, groups = _optim_tensors(opt)
        model = {MODEL_PREFIX + k: v for k, v in learner.state_dict().items()}
        trainer_state = {**asdict(progress), "param_groups": groups}
        save_checkpoint(self.last, {**model, **opt_tensors}, {**self.meta, "trainer": trainer_state})

    def save_best(self, learner: MetaLearner, step: int, value: float | None, score: float | None = None) -> None:
        model = {MODEL_PREFIX + k: v for k, v in learner.state_dict().items()}
        metrics = {"val_metric": value, "step": step, **({} if score is None else {"val_score": score})}
        save_checkpoint(self.out / "best", model, {**self.meta, "metrics": metrics})


def _check_sharding(cfg: TrainConfig, dist: DistContext | None) -> None:
    world = 1 if dist is None else dist.world_size
    if cfg.shards < 1 or cfg.meta_batch_size % cfg.shards:
        raise ValueError(
            f"meta_batch_size {cfg.meta_batch_size} must split into {cfg.shards} equal shards; "
            "choose a meta-batch size divisible by the number of processes"
        )
    if dist is not None and cfg.shards != world:
        raise ValueError(f"a {world}-process run needs shards={world} (one shard per rank), got {cfg.shards}")


def _validation_batch(val_sampler: TaskSampler | None, cfg: TrainConfig, main: bool) -> TaskBatch | None:
    """The fixed validation tasks (drawn once from ``(seed, "val")``), on the main process only."""
    if not main or val_sampler is None or cfg.val_tasks <= 0:
        return None
    return TaskBatch.stack(fixed_tasks(val_sampler, cfg.val_tasks, derive_seed(cfg.seed, "val")), pad=cfg.pad_tasks)


def _optimizer_step(
    learner: MetaLearner,
    opt: torch.optim.Optimizer,
    base_lrs: list[float],
    sampler: TaskSampler,
    cfg: TrainConfig,
    step: int,
    dist: DistContext | None,
    device: torch.device,
) -> dict[str, float]:
    """One meta-update: scheduled learning rate, meta-gradient of step ``step``'s meta-batch, clipping, step."""
    factor = _lr_factor(cfg, step)
    for group, lr in zip(opt.param_groups, base_lrs, strict=True):
        group["lr"] = lr * factor
    opt.zero_grad(set_to_none=True)
    stats = _meta_backward(learner, sampler, cfg, step, dist, device)
    if cfg.grad_clip is not None:
        torch.nn.utils.clip_grad_norm_(learner.parameters(), cfg.grad_clip)
    opt.step()
    return stats


def _validate_everywhere(
    learner: MetaLearner,
    val_batch: TaskBatch | None,
    dist: DistContext | None,
    device: torch.device,
    val_score: ValScore | None = None,
) -> tuple[float | None, float | None]:
    """The validation metric and the domain's validation score (None without one), computed on the main process
    and shared with every rank (same early stopping)."""
    value = validate(learner, val_batch) if val_batch is not None else None
    score = val_score(learner, val_batch) if val_batch is not None and val_score is not None else None
    if dist is None:
        return value, score
    return broadcast_value(value, device), broadcast_value(score, device)


#: A domain's validation score of a learner on the validation batch (higher is better; None: use the metric).
ValScore = Callable[[MetaLearner, TaskBatch], float | None]


def _validate_step(
    learner: MetaLearner,
    val_batch: TaskBatch | None,
    dist: DistContext | None,
    device: torch.device,
    val_score: ValScore | None,
    state: _Progress,
    folder: _RunFolder,
    main: bool,
    done: int,
) -> dict[str, Any]:
    """Validate after ``done`` steps; keep the weights as the best checkpoint when they beat the best so far
    (``state`` updated). The log record: ``step``, ``val_metric``, ``best_val`` (and ``val_score``)."""
    value, score = _validate_everywhere(learner, val_batch, dist, device, val_score)
    key = value if score is None else score
    higher = score is not None or learner.kind == "classification"  # a domain's score: higher is better
    better = is_improvement(key, state.best_val, higher=higher)
    if better:
        state.best_val, state.best_step, state.bad_vals = key, done, 0
        if main:
            folder.save_best(learner, done, value, score)
    else:
        state.bad_vals += 1
    record = {"step": done, "val_metric": value, "best_val": state.best_val}
    if score is not None:
        record["val_score"] = score
    return record


def _due(done: int, every: int, cfg: TrainConfig) -> bool:
    return done % every == 0 or done == cfg.steps


def train(
    learner: MetaLearner,
    train_sampler: TaskSampler,
    val_sampler: TaskSampler | None,
    cfg: TrainConfig,
    out_dir: str | Path,
    *,
    run_meta: dict[str, Any] | None = None,
    resume: bool = True,
    progress: bool = True,
    dist: DistContext | None = None,
    val_score: ValScore | None = None,
    validate_start: bool = False,
) -> dict[str, Any]:
    """Meta-train ``learner`` in place; write checkpoints and logs under ``out_dir``.

    Parameters
    ----------
    run_meta : dict
        Extra JSON recorded in every checkpoint (domain, setting, data fingerprint ...).
    resume : bool
        Continue from ``out_dir/last.safetensors`` when it exists (same config required).
    dist : DistContext, optional
        This process's rank in a ``torchrun`` run (:mod:`metasuite.core.distributed`): it draws and
        differentiates shard ``rank`` of each meta-batch (``cfg.shards`` must equal the world size),
        meta-gradients are averaged with one all-reduce, rank 0 validates, logs and writes checkpoints.
    val_score : callable, optional
        ``val_score(learner, val_batch) -> float | None`` (``Domain.validation_score``): when it gives a number, the
        best checkpoint is the one with the highest score (recorded as ``val_score`` beside ``val_metric``);
        when it gives None (the default for every domain), the one with the best headline metric.
    validate_start : bool
        Score the starting weights on the validation tasks before the first step of a fresh run (logged as step 0)
        and keep them as the best checkpoint unless a later validation beats them: for a run that starts from a
        trained model (``--init``), so meta-training on new data cannot leave a model that validates worse than
        the one it started from.

    Returns
    -------
    dict with ``steps_done``, ``best_step``, ``best_val``, ``stopped_early``, ``seconds``.
    """
    # -- set up: where the run lives, on which device, with which optimiser, from which step
    _check_sharding(cfg, dist)
    main = dist is None or dist.is_main
    device = torch.device("cpu") if dist is None else dist.device
    if device.type != "cpu":
        learner.to(device)
    folder = _RunFolder(Path(out_dir), {**learner_meta(learner), **(run_meta or {}), "train_config": asdict(cfg)}, main)
    opt = _optimizer(learner, cfg)
    if cfg.compile:
        learner.compile_meta_step()
    base_lrs = [g["lr"] for g in opt.param_groups]
    state = folder.resume(learner, opt) if resume and folder.last.exists() else folder.start_fresh(resume)
    if dist is not None:
        broadcast_module(learner)  # every rank starts from rank 0's parameters
    val_batch = _validation_batch(val_sampler, cfg, main)
    validating = val_sampler is not None and cfg.val_tasks > 0

    # -- the loop: meta-update, log, validate (keep the best, stop early), checkpoint
    t0 = time.perf_counter()
    stopped_early = False
    start = state.step
    world = 1 if dist is None else dist.world_size
    bar = progress_bar(
        total=cfg.steps,
        initial=start,
        desc=f"meta-train {learner.name}" + (f" ({world} processes)" if world > 1 else ""),
        disable=not (progress and main),
        unit="step",
    )
    with folder.log_path.open("a", encoding="utf-8") if main else contextlib.nullcontext() as log:
        if validating and validate_start and start == 0:  # the starting weights are a candidate too
            record0 = _validate_step(learner, val_batch, dist, device, val_score, state, folder, main, 0)
            if main:
                log.write(dumps({**record0, "seconds": round(time.perf_counter() - t0, 3)}) + "\n")
        for step in range(start, cfg.steps):
            stats = _optimizer_step(learner, opt, base_lrs, train_sampler, cfg, step, dist, device)
            done = state.step = step + 1
            record: dict[str, Any] = {}
            if _due(done, cfg.log_every, cfg):
                record.update(step=done, loss=stats["loss"], metric=stats["metric"])
            if validating and _due(done, cfg.val_every, cfg):
                record.update(_validate_step(learner, val_batch, dist, device, val_score, state, folder, main, done))
                best = math.nan if state.best_val is None else state.best_val  # None: every validation so far NaN
                bar.set_postfix(val=f"{record.get('val_score', record['val_metric']):.4g}", best=f"{best:.4g}")
                stopped_early = cfg.patience is not None and state.bad_vals >= cfg.patience
            if record and main:
                record["seconds"] = round(time.perf_counter() - t0, 3)
                log.write(dumps(record) + "\n")
                log.flush()
            if main and (_due(done, cfg.checkpoint_every, cfg) or stopped_early):
                folder.save_last(learner, opt, state)
            bar.update(1)
            if stopped_early:
                break
    bar.close()

    # -- finish: without validation the final weights are the ones to keep
    if state.best_step is None and main:
        folder.save_best(learner, state.step, None)
    return {
        "steps_done": state.step,
        "best_step": state.best_step,
        "best_val": state.best_val,
        "stopped_early": stopped_early,
        "seconds": round(time.perf_counter() - t0, 3),
    }
