"""``metasuite tune``: hyper-parameter search on validation tasks only (Optuna, seeded).

Each trial is one short :func:`~metasuite.core.runs.train_run` whose score is its best *validation* metric (the
fixed validation tasks the trainer already draws); test tasks are never touched. The sampler is Optuna's TPE,
seeded, so the same command proposes the same trials. The search space is the learner's: outer learning rate
and meta-batch size for every method, plus each algorithm's own knobs (inner learning rate and steps for the
MAML family, the ridge / L2 penalty and temperature of the closed-form heads). The best trial's checkpoint
records the whole search under ``"tuning"`` (every trial's values and score, the space, the seed) and is copied
to ``OUT/best-run``; ``OUT/tune.json`` holds the same table.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from metasuite.core.algorithms import get_algorithm
from metasuite.core.checkpoint import load_checkpoint, save_checkpoint
from metasuite.core.errors import MetasuiteError
from metasuite.core.jsonio import write_json
from metasuite.core.runs import TrainRequest, build_domain, train_run

__all__ = ["TuneRequest", "search_space", "tune_run"]

#: ``name -> (kind, low, high)`` with kind ``log`` / ``int`` / ``choice`` (``low`` holds the choices).
Space = dict[str, tuple[str, Any, Any]]


def search_space(algorithm: str, meta_batch_size: int) -> tuple[Space, Space]:
    """``(learner hyperparameters, trainer settings)`` to search for ``algorithm``."""
    cls = get_algorithm(algorithm)
    config: Space = {
        "outer_lr": ("log", 1e-4, 3e-3),
        "meta_batch_size": (
            "choice",
            sorted({max(1, meta_batch_size // 2), meta_batch_size, meta_batch_size * 2}),
            None,
        ),
    }
    hparams: Space = {}
    if cls.has_inner_loop and cls.name != "metaoptnet":
        hparams.update(inner_lr=("log", 1e-3, 0.5), inner_steps=("int", 1, 5))
    if cls.name == "metaoptnet":
        hparams.update(l2=("log", 0.01, 1.0), scale=("log", 1.0, 30.0), inner_steps=("int", 5, 30))
    if cls.name == "metabaseline":
        hparams.update(scale=("log", 1.0, 30.0))
    if cls.name == "r2d2":
        hparams.update(ridge=("log", 0.1, 10.0))
    return hparams, config


def _suggest(trial: Any, name: str, spec: tuple[str, Any, Any]) -> Any:
    kind, low, high = spec
    if kind == "log":
        return trial.suggest_float(name, low, high, log=True)
    if kind == "int":
        return trial.suggest_int(name, low, high)
    return trial.suggest_categorical(name, low)


@dataclass
class TuneRequest:
    """A search: ``trials`` short training runs of ``steps`` steps each, scored on validation tasks."""

    domain: str
    algo: str
    out: Path
    trials: int = 20
    steps: int | None = None
    options: dict[str, Any] = field(default_factory=dict)
    n_way: int | None = None
    k_shot: int | None = None
    n_query: int | None = None
    seed: int = 0
    progress: bool = True


def tune_run(request: TuneRequest) -> dict[str, Any]:
    """Run the search; returns ``{"best": {...}, "trials": [...], "best_run": path}`` (also in ``OUT/tune.json``)."""
    import optuna  # the search only: not needed by anything else

    if request.trials < 1:
        raise MetasuiteError(f"--trials must be >= 1, got {request.trials}")
    out = Path(request.out)
    if out.exists() and any(out.iterdir()):
        raise MetasuiteError(f"{out} is not empty; give a new folder for the search (each trial is a run in it)")
    domain = build_domain(request.domain, request.options)
    algo = get_algorithm(request.algo).name
    defaults = domain.default_train_config(algo)
    steps = request.steps or max(1, int(defaults.get("steps", 1000)) // 5)
    hspace, cspace = search_space(algo, int(defaults.get("meta_batch_size", 16)))
    classification = domain.kind == "classification"
    base = TrainRequest(
        domain=request.domain,
        algo=algo,
        out=out,
        options=request.options,
        n_way=request.n_way,
        k_shot=request.k_shot,
        n_query=request.n_query,
        seed=request.seed,
        progress=False,
    )
    rows: list[dict[str, Any]] = []

    def objective(trial: Any) -> float:
        hparams = {k: _suggest(trial, k, v) for k, v in hspace.items()}
        config = {k: _suggest(trial, k, v) for k, v in cspace.items()}
        config.update(steps=steps, val_every=max(1, steps // 4), checkpoint_every=steps)
        run = out / f"trial-{trial.number:03d}"
        result = train_run(replace(base, out=run, hparams=hparams, config=config), domain=domain)
        value = result.summary["best_val"]
        rows.append({"trial": trial.number, "hparams": hparams, "config": config, "val_metric": value, "run": str(run)})
        if value is None or not math.isfinite(value):
            return -math.inf if classification else math.inf
        return float(value)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize" if classification else "minimize", sampler=optuna.samplers.TPESampler(seed=request.seed)
    )
    study.optimize(objective, n_trials=request.trials, show_progress_bar=request.progress)
    best = rows[study.best_trial.number]
    record = {
        "objective": f"best validation {'metric (balanced accuracy or accuracy)' if classification else 'MSE'}",
        "sampler": f"optuna TPESampler(seed={request.seed})",
        "steps_per_trial": steps,
        "space": {"hparams": hspace, "config": cspace},
        "trials": rows,
        "best": best,
    }
    best_run = out / "best-run"
    shutil.copytree(best["run"], best_run)
    tensors, meta = load_checkpoint(best_run)
    meta.pop("path", None)
    save_checkpoint(best_run / "best", tensors, {**meta, "tuning": record})  # the search, in the model's card
    write_json(out / "tune.json", record)
    return {**record, "best_run": str(best_run)}
