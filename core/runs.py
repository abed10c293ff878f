"""The application layer: train, evaluate, benchmark and fetch data as plain function calls.

The command line (:mod:`metasuite.apps.cli`), the Streamlit pages, the benchmarks and the scaffolded
domains' tests all call these functions; none of them orchestrates a run itself. Each takes plain values
(a request dataclass) and returns a result; none prints.

* :func:`train_run` -- build the domain and learner, optionally pre-train, meta-train into a run folder
  (resumable; ``nproc > 1`` re-launches itself through ``torchrun``). Run metadata is built here only
  (:func:`run_metadata`).
* :func:`eval_run` / :func:`merge_run` -- the domain's :class:`~metasuite.core.evaluation.Evaluation`
  answers an :class:`~metasuite.core.evaluation.EvalRequest`; the JSON and figures are written here.
* :func:`bench_run` -- a benchmark registered under the ``metasuite.benchmarks`` entry points.
* :func:`fetch_dataset` -- a public data set some domain declares (:meth:`Domain.datasets`).

``python -m metasuite.core.runs train REQUEST.json [RESULT.json]`` runs one :class:`TrainRequest` stored as
JSON: what each ``torchrun`` worker and each process of ``metasuite bench distributed`` executes.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from metasuite.core import registry
from metasuite.core.algorithms import get_algorithm
from metasuite.core.baselines import BaselineConfig, pretrain
from metasuite.core.bench import machine_info
from metasuite.core.checkpoint import load_checkpoint
from metasuite.core.distributed import DistContext, barrier, init_from_env, launch_module, shutdown
from metasuite.core.domain import Dataset, Domain
from metasuite.core.errors import CheckpointError, DataError, MetasuiteError, UnknownNameError
from metasuite.core.evaluation import TASK_SHAPE, EvalReport, EvalRequest, FixedTaskEvaluation
from metasuite.core.jsonio import atomic_write_text, write_json
from metasuite.core.learners import MODEL_PREFIX, make_learner
from metasuite.core.options import coerce_options
from metasuite.core.rl.domain import RLDomain
from metasuite.core.rl.train import train_rl
from metasuite.core.trainer import RUN_CONFIG, TrainConfig, train

__all__ = [
    "EvalReport",
    "EvalRequest",
    "TrainRequest",
    "TrainResult",
    "bench_run",
    "build_domain",
    "checkpoint_init",
    "describe_domains",
    "eval_run",
    "fetch_dataset",
    "merge_run",
    "pretrained_init",
    "run_metadata",
    "train_run",
    "write_json",
]


# ---------------------------------------------------------------------------- domains
def build_domain(name: str, options: dict[str, Any] | None = None) -> Domain:
    """Domain ``name`` built from ``options`` checked against its declared option specs."""
    return registry.get_domain_class(name).from_options(options or {})


def describe_domains() -> list[dict[str, Any]]:
    """Every registered domain as ``{name, kind, title, description, error}``, sorted by name.

    A domain that fails to import is listed with ``error`` (``"TypeError: ..."``) instead of hiding the others.
    """
    rows = []
    for name, entry_point in registry.available_domains().items():
        try:
            cls = registry.get_domain_class(name)
        except Exception as exc:  # a broken third-party domain must not hide the others
            rows.append(
                {
                    "name": name,
                    "kind": "?",
                    "title": name,
                    "description": f"failed to load {entry_point.value!r}",
                    "error": f"{type(exc).__name__}: {exc}",
                }
            )
            continue
        rows.append({"name": name, "kind": cls.kind, "title": cls.title, "description": cls.description, "error": None})
    return rows


# ---------------------------------------------------------------------------- training
@dataclass
class TrainRequest:
    """One meta-training run, as plain values.

    Attributes
    ----------
    domain, algo : str
        Registered domain and algorithm names.
    out : Path
        Run folder (checkpoints, ``metrics.jsonl``).
    options : dict
        Domain options (typed, ``Domain.option_specs``); JSON-serialisable for ``nproc > 1``.
    n_way, k_shot, n_query : int, optional
        Task shape overrides of the domain's default setting.
    hparams : dict
        Learner hyperparameter overrides (``inner_lr``, ``inner_steps``, ``test_inner_steps``, ``execution``).
    config : dict
        :class:`~metasuite.core.trainer.TrainConfig` overrides over the domain's defaults (``steps`` ...).
    seed : int
    pretrain_steps : int, optional
        Pre-train the backbone on pooled training data for this many steps first (0: no). None: the algorithm's
        recipe -- the domain's pre-training budget for methods that start from a pre-trained network
        (``pretrain_by_default``: Meta-Baseline), no pre-training for the others.
    init : str, optional
        Start from this checkpoint's weights (fine-tune a shipped model on new data, e.g. a user's photo folder):
        every tensor whose name and shape match is copied (:func:`checkpoint_init`); replaces pre-training. The
        starting weights are validated first (step 0) and stay the best checkpoint unless meta-training beats them
        on the validation tasks.
    nproc : int, optional
        Processes on this machine (``torchrun``); each differentiates 1/nproc of every meta-batch.
    threads : int, optional
        torch CPU threads of this process.
    resume : bool
        Continue an existing run of the same configuration in ``out``; False refuses an existing run.
    overwrite : bool
        Start afresh in an ``out`` that holds files but no resumable run (a finished model, someone's results),
        replacing the run files; without it such a folder is refused, never silently overwritten.
    progress : bool
        Progress bars.
    """

    domain: str
    algo: str
    out: Path
    options: dict[str, Any] = field(default_factory=dict)
    n_way: int | None = None
    k_shot: int | None = None
    n_query: int | None = None
    hparams: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    pretrain_steps: int | None = None
    init: str | None = None
    nproc: int | None = None
    threads: int | None = None
    resume: bool = True
    overwrite: bool = False
    progress: bool = True

    def to_json(self) -> str:
        """The request as JSON (paths as strings); :class:`MetasuiteError` if an option is not JSON."""
        data = {**asdict(self), "out": str(self.out)}
        data["options"] = {k: str(v) if isinstance(v, Path) else v for k, v in self.options.items()}
        try:
            return json.dumps(data)
        except TypeError as exc:
            raise MetasuiteError(f"a multi-process run needs JSON domain options: {exc}") from exc

    @classmethod
    def from_json(cls, text: str) -> TrainRequest:
        data = json.loads(text)
        known = {f.name for f in fields(cls)}
        return cls(**{**{k: v for k, v in data.items() if k in known}, "out": Path(data["out"])})


@dataclass
class TrainResult:
    """``out`` and the trainer's summary (``steps_done``, ``best_step``, ``best_val``, ``stopped_early``,
    ``seconds``); ``main`` is False on the non-zero ranks of a multi-process run; ``warnings`` are the domain's
    data notes (what loading its data changed or found suspicious)."""

    out: Path
    summary: dict[str, Any]
    main: bool = True
    warnings: list[str] = field(default_factory=list)


def run_metadata(domain: Domain, setting: dict[str, Any], init: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a checkpoint records about its run beside the learner: domain, task shape, data fingerprint,
    domain options, the ids of the data it saw and how it was initialised. The only place it is built."""
    meta: dict[str, Any] = {
        "domain": domain.name,
        "setting": setting,
        "data_fingerprint": domain.fingerprint(),
        "domain_options": {k: str(v) if isinstance(v, Path) else v for k, v in domain.options.items()},
    }
    if (ids := domain.split_ids()) is not None:
        meta["split_ids"] = ids
    if init is not None:
        meta["init"] = init
    return meta


def pretrained_init(domain: Domain, learner: Any, steps: int, seed: int, progress: bool) -> dict[str, Any]:
    """Start meta-training from the supervised pre-trained model (the pretrain baselines' model).

    Pre-trains with the domain's baseline settings for ``steps`` steps and copies every tensor whose
    name and shape match into the learner's backbone (all of it for a fixed label space; the body
    only when the heads differ). Returns what was done, for the checkpoint's description.
    """
    cfg = BaselineConfig(**{**domain.default_baselines(), "pretrain_steps": steps, "seed": seed})
    pretrained = pretrain(domain, cfg, progress=progress).state_dict()
    own = learner.backbone.state_dict()
    copied = {k: v for k, v in pretrained.items() if k in own and own[k].shape == v.shape}
    if not copied:
        raise DataError(f"the pre-trained {domain.name} model shares no tensor with the {learner.name} backbone")
    learner.backbone.load_state_dict(copied, strict=False)
    return {"pretrain_steps": steps, "copied": sorted(copied), "skipped": sorted(set(own) - set(copied))}


def checkpoint_init(domain: Domain, learner: Any, path: str | Path) -> dict[str, Any]:
    """Start meta-training from a checkpoint's weights: every tensor of ``learner`` whose name and shape match
    one in the checkpoint is copied (the whole model for the same algorithm and task shape; the backbone's body
    when the head or the algorithm differs). Refuses (:class:`~metasuite.core.errors.CheckpointError`) a
    checkpoint of another domain or one that shares no tensor. Returns what was done, for the checkpoint's
    description."""
    tensors, meta = load_checkpoint(path)
    if meta.get("domain") not in (None, domain.name):
        raise CheckpointError(
            f"--init {path} is a {meta.get('domain')} checkpoint; a {domain.name} run can start only from a "
            f"{domain.name} checkpoint"
        )
    theirs = {k.removeprefix(MODEL_PREFIX): v for k, v in tensors.items() if k.startswith(MODEL_PREFIX)}
    own = learner.state_dict()
    copied = {k: v for k, v in theirs.items() if k in own and own[k].shape == v.shape}
    if not copied:
        raise CheckpointError(
            f"--init {path} ({meta.get('algorithm', '?')}) shares no tensor of the same name and shape with this "
            f"{learner.name} model: check the domain options that shape the network (e.g. hidden)"
        )
    learner.load_state_dict(copied, strict=False)
    return {
        "from": str(path),
        "algorithm": meta.get("algorithm"),
        "data_fingerprint": meta.get("data_fingerprint"),
        "copied": sorted(copied),
        "skipped": sorted(set(own) - set(copied)),
    }


def train_setting(domain: Domain, request: TrainRequest) -> dict[str, Any]:
    """The task shape of the run: the request's overrides over the domain's default setting."""
    setting = domain.default_setting()
    return {k: getattr(request, k) if getattr(request, k) is not None else setting[k] for k in TASK_SHAPE}


def train_config(domain: Domain, algorithm: str, request: TrainRequest, world_size: int = 1) -> TrainConfig:
    """The domain's training defaults for ``algorithm``, the request's overrides, one shard per process."""
    cfg = {**domain.default_train_config(algorithm), "seed": request.seed, **request.config}
    if world_size > 1:
        cfg["shards"] = world_size  # one shard of every meta-batch per rank
    try:
        config = TrainConfig.from_dict(cfg)
    except ValueError as exc:
        raise MetasuiteError(str(exc)) from exc
    if config.meta_batch_size % config.shards:
        raise MetasuiteError(
            f"the meta-batch of {config.meta_batch_size} tasks does not split into {config.shards} equal shards "
            "(one per process); pass --meta-batch-size as a multiple of the number of processes"
        )
    return config


def train_run(request: TrainRequest, *, domain: Domain | None = None) -> TrainResult:
    """Meta-train as ``request`` says; returns the run folder and the trainer's summary.

    ``domain`` (optional) is an already built domain to use instead of building ``request.domain`` from
    ``request.options`` (the app passes its own). With ``request.nproc > 1`` outside ``torchrun`` the run is
    validated here, then re-launched in ``nproc`` processes; rank 0's summary is returned.
    """
    if os.environ.get("RANK", "0") == "0":  # the launching process / rank 0 (other ranks see rank 0's files)
        _check_out(Path(request.out), request)
    if request.threads:
        torch.set_num_threads(request.threads)
    if request.nproc is not None and request.nproc > 1 and "WORLD_SIZE" not in os.environ:
        if domain is not None:
            raise MetasuiteError("a multi-process run rebuilds its domain from the request; pass options, not a domain")
        return _launch(request)
    dist = init_from_env()
    try:
        result = _train_here(request, dist, domain)
        if dist is not None:  # leave together: a rank tearing gloo down while another still finishes aborted it
            barrier()
        return result
    finally:
        shutdown()


def _check_out(out: Path, request: TrainRequest) -> None:
    """Refuse a run folder that is a file, or that holds files but no resumable run, unless told to overwrite."""
    if out.exists() and not out.is_dir():
        raise MetasuiteError(f"--out {out} is a file; give a folder for the run (best.*, last.*, metrics.jsonl)")
    if not out.is_dir() or not any(out.iterdir()):
        return
    if (out / "last.safetensors").exists() or (out / RUN_CONFIG).exists():
        if not request.resume and not request.overwrite:
            raise MetasuiteError(f"{out} already holds a run; remove it or drop --no-resume to continue it")
        return  # resumable: the trainer checks it is the same configuration
    if not request.overwrite:
        held = sorted(p.name for p in out.iterdir())
        raise MetasuiteError(
            f"{out} is not empty and holds no resumable run ({', '.join(held[:6])}{' ...' if len(held) > 6 else ''}):"
            " it may be a finished model or someone's results. Choose a new --out folder, or pass --overwrite to "
            "start afresh there (its best.*, last.* and metrics.jsonl are replaced)"
        )


def _train_here(request: TrainRequest, dist: DistContext | None, domain: Domain | None) -> TrainResult:
    """Meta-train in this process (alone, or as one rank of a ``torchrun`` run when ``dist`` is given)."""
    domain = domain if domain is not None else build_domain(request.domain, request.options)
    setting = train_setting(domain, request)
    if isinstance(domain, RLDomain):  # tasks that are environments: the RL trainer collects its own rollouts
        return _train_rl_here(request, domain, setting)
    learner = make_learner(domain, request.algo, n_way=setting["n_way"], seed=request.seed, **request.hparams)
    # both samplers before any pre-training: a task shape or a share of auxiliary tasks the data cannot fill fails now
    train_tasks, val_tasks = domain.meta_train_sampler(**setting), domain.sampler("val", **setting)
    init = None
    steps = request.pretrain_steps
    if request.init is not None:
        if steps:
            raise MetasuiteError("--init and --pretrain-steps both choose the starting weights: give one of them")
        init = checkpoint_init(domain, learner, request.init)
    else:
        if steps is None:
            steps = BaselineConfig(**domain.default_baselines()).pretrain_steps if learner.pretrain_by_default else 0
        if steps:
            init = pretrained_init(domain, learner, steps, request.seed, progress=request.progress)
    config = train_config(domain, learner.name, request, 1 if dist is None else dist.world_size)
    summary = train(
        learner,
        train_tasks,
        val_tasks,
        config,
        request.out,
        run_meta=run_metadata(domain, setting, init),
        resume=request.resume and not request.overwrite,
        progress=request.progress,
        dist=dist,
        val_score=domain.validation_score,
        validate_start=request.init is not None,
    )
    return TrainResult(Path(request.out), summary, dist is None or dist.is_main, domain.data_notes())


def _train_rl_here(request: TrainRequest, domain: RLDomain, setting: dict[str, Any]) -> TrainResult:
    """Meta-train an RL algorithm (``maml-rl``, ``fomaml-rl``, ``rl2``) on an RL domain's task family."""
    summary = train_rl(
        domain.task_family(),
        request.algo,
        request.out,
        setting=setting,
        hparams={**domain.default_hparams(request.algo), **request.hparams},
        config={**domain.default_train_config(request.algo), "seed": request.seed, **request.config},
        run_meta=run_metadata(domain, setting),
        resume=request.resume and not request.overwrite,
        progress=request.progress,
    )
    return TrainResult(Path(request.out), summary, True, domain.data_notes())


def _launch(request: TrainRequest) -> TrainResult:
    """Validate ``request`` here, then run it in ``request.nproc`` processes through ``torchrun``."""
    domain = build_domain(request.domain, request.options)
    if isinstance(domain, RLDomain):
        raise MetasuiteError(f"{domain.name} trains in one process (its rollouts are vectorised environments)")
    train_config(
        domain, get_algorithm(request.algo).name, request, request.nproc or 1
    )  # fails here, in one line, not in every rank
    with tempfile.TemporaryDirectory(prefix="metasuite-run-") as tmp:
        req, res = Path(tmp, "request.json"), Path(tmp, "result.json")
        req.write_text(request.to_json())
        code = launch_module(["metasuite.core.runs", "train", str(req), str(res)], request.nproc or 1)
        if code != 0 or not res.exists():
            raise MetasuiteError(
                f"the distributed run failed (torchrun exit code {code}): a rank crashed, was killed or timed out "
                "and torchrun stopped the others; see the rank's traceback above. Re-running the same command "
                "resumes from the last checkpoint."
            )
        return TrainResult(Path(request.out), json.loads(res.read_text()))


# ---------------------------------------------------------------------------- evaluation
#: Request fields of :class:`~metasuite.core.evaluation.FixedTaskEvaluation` -> the CLI flag that sets them; another
#: evaluation uses only those in its ``uses``.
FIXED_TASK_ONLY = {
    "split": "--split", "n_way": "--ways", "k_shot": "--shots", "n_query": "--queries", "inner_steps": "--inner-steps",
    "finetune_steps": "--finetune-steps", "finetune_select": "--finetune-select", "calibrate": "--calibrate",
    "logreg_head": "--logreg-head",
    "prior_shift": "--prior-shift", "support_views": "--support-views", "baseline_seeds": "--baseline-seeds",
    "ensemble": "--ensemble", "baseline_only": "--baseline",
}  # fmt: skip


def eval_run(request: EvalRequest, json_path: str | Path | None = None) -> tuple[EvalReport, list[Path]]:
    """Evaluate with the domain's :class:`~metasuite.core.evaluation.Evaluation`; write the JSON (and its
    figures) to ``json_path`` when given. Returns ``(report, files written)``."""
    if request.n_tasks < 1 or request.workers < 1:
        raise MetasuiteError(f"need at least one test task and one worker, got {request.n_tasks} and {request.workers}")
    cls = registry.get_domain_class(request.domain)
    evaluation = cls.evaluation()
    if not isinstance(evaluation, FixedTaskEvaluation):
        off = EvalRequest(request.domain)  # every option at its default
        used = [
            flag
            for n, flag in FIXED_TASK_ONLY.items()
            if n not in evaluation.uses and getattr(request, n) != getattr(off, n)
        ]
        if used:  # silently ignored otherwise: refused before anything is loaded or trained
            raise MetasuiteError(
                f"{', '.join(used)}: options of the fixed-task evaluation; the {cls.name} domain is evaluated by "
                f"'{evaluation.name}', which does not use them: leave them out"
            )
        if request.split is not None and evaluation.splits is not None and request.split not in evaluation.splits:
            raise MetasuiteError(
                f"--split {request.split}: the {cls.name} domain's '{evaluation.name}' evaluates the "
                f"{' / '.join(evaluation.splits)} split only"
            )
    request.settings = coerce_options(evaluation.option_specs, request.settings, f"the {cls.name} evaluation")
    if json_path is not None:
        request.partial_json = Path(json_path)
    report = evaluation.run(cls, request)
    return report, _write(evaluation, report, json_path, request.settings)


def merge_run(domain: str, paths: list[str | Path], json_path: str | Path | None = None) -> tuple[EvalReport, list]:
    """One report from eval JSONs of disjoint test sets (e.g. leave-patients-out folds), with its summary."""
    evaluation = registry.get_domain_class(domain).evaluation()
    if not isinstance(evaluation, FixedTaskEvaluation):
        raise MetasuiteError(f"the {domain} evaluation ({evaluation.name}) does not merge eval JSONs")
    report = evaluation.merge(paths)
    return report, _write(evaluation, report, json_path, {})


def _write(evaluation: Any, report: EvalReport, json_path: str | Path | None, settings: dict[str, Any]) -> list[Path]:
    """The eval JSON (when asked for) and the evaluation's figures; the paths written."""
    out = None if json_path is None else write_json(json_path, report.data)
    return [*([out] if out else []), *evaluation.write_artifacts(report, out, settings)]


# ---------------------------------------------------------------------------- benchmarks and data
def bench_run(
    name: str, quick: bool = False, json_path: str | Path | None = None, options: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Run benchmark ``name`` (``metasuite.benchmarks`` entry points); write its JSON; return the report.

    A benchmark is ``fn(quick: bool, **options) -> dict`` (``options``: e.g. ``data_dir``) whose dict holds
    ``"ratios"`` (the headline comparisons, measured side by side in one run); the report adds the name, the
    machine and the wall time.
    """
    benches = registry.available_benchmarks()
    if name not in benches:
        raise UnknownNameError(f"unknown benchmark {name!r}; available: {', '.join(sorted(benches))}")
    t0 = time.perf_counter()
    result = benches[name].load()(quick=quick, **(options or {}))
    if "ratios" not in result:
        raise ValueError(f"benchmark {name!r} returned no 'ratios' object")
    report = {"name": name, "quick": quick, "machine": machine_info(), **result}
    report["seconds"] = round(time.perf_counter() - t0, 2)
    if json_path is not None:
        write_json(json_path, report)
    return report


def fetch_dataset(name: str, dest: str | Path) -> Path:
    """Download the public data set ``name`` that some registered domain declares into ``dest``."""
    found: dict[str, Dataset] = {}
    for domain in registry.available_domains():
        for dataset in registry.get_domain_class(domain).datasets():
            found[dataset.name] = dataset
    if name not in found:
        known = ", ".join(f"{d.name} ({d.title}, {d.size})" for d in found.values()) or "none"
        raise UnknownNameError(f"unknown data set {name!r}; the installed domains offer: {known}")
    return found[name].fetch(Path(dest))


def datasets() -> list[Dataset]:
    """Every data set the registered domains declare."""
    return [d for name in registry.available_domains() for d in registry.get_domain_class(name).datasets()]


# ---------------------------------------------------------------------------- worker entry point
def _worker(argv: list[str]) -> int:
    """``train REQUEST.json [RESULT.json]``: run a stored :class:`TrainRequest`; rank 0 writes the summary."""
    if len(argv) not in (2, 3) or argv[0] != "train":
        print("usage: python -m metasuite.core.runs train REQUEST.json [RESULT.json]", file=sys.stderr)
        return 2
    request = TrainRequest.from_json(Path(argv[1]).read_text())
    try:
        result = train_run(request)
    except MetasuiteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if result.main and len(argv) == 3:
        atomic_write_text(Path(argv[2]), json.dumps(result.summary))
    return 0


if __name__ == "__main__":
    code = _worker(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    # Leave without the interpreter's teardown: the process group is already destroyed, and on a loaded machine a
    # gloo thread still being joined by a C++ destructor at exit aborted a finished rank ("terminate called without
    # an active exception", SIGABRT), failing a run whose results were written.
    os._exit(code)
