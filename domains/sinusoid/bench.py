"""``metasuite bench sinusoid``: the Meta-SGD paper's Table 1 setting, all methods, one run.

Setting (Li et al. 2017, Table 1): sine regression, one inner step, K = 5, 10, 20 support
points, meta-batch 25, 70 000 meta-iterations, 600 test tasks. Every algorithm is trained with
the domain defaults through the same :func:`metasuite.core.trainer.train` that ``metasuite train`` uses,
then evaluated by :func:`metasuite.core.evaluate.evaluate` on the same fixed seeded test tasks (100 query
points per task) next to the scratch and pretrain+finetune baselines. Training jobs run in a
pool of worker processes, one per core, each with one torch thread.

The published numbers are MSE after one inner step (lower is better).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from metasuite.core.baselines import BaselineConfig, build_baselines
from metasuite.core.evaluate import MetaMethod, evaluate
from metasuite.core.learners import load_learner, make_learner
from metasuite.core.registry import get_domain
from metasuite.core.tasks import fixed_tasks
from metasuite.core.trainer import TrainConfig, train
from metasuite.domains.sinusoid.domain import SinusoidDomain

__all__ = ["PUBLISHED", "TARGETS", "bench_sinusoid"]

ALGORITHMS = ("maml", "fomaml", "metasgd", "anil", "reptile")
SHOTS = (5, 10, 20)
#: Li, Zhou, Chen & Li 2017 (Meta-SGD), Table 1, sinusoid MSE after one step.
PUBLISHED = {"maml": {5: 1.13, 10: 0.77, 20: 0.48}, "metasgd": {5: 0.90, 10: 0.53, 20: 0.31}}
#: Targets of this project (issue 2): MAML K=10 <= 0.40, Meta-SGD K=10 <= 0.30.
TARGETS = {("maml", 10): 0.40, ("metasgd", 10): 0.30}


def _train_job(algo: str, k_shot: int, steps: int, out_dir: str, seed: int, compile_step: bool) -> dict[str, Any]:
    """Train one (algorithm, K) model in a worker process; return the run summary."""
    import torch

    torch.set_num_threads(1)

    domain = get_domain("sinusoid")
    learner = make_learner(domain, algo, n_way=None, seed=seed)
    # compile: same math as eager (tests/test_algorithms.py), ~2x faster steps for this tiny MLP, but
    # ~15-30 s of compilation per process, so quick runs stay eager.
    cfg = {**domain.default_train_config(learner.name), "steps": steps, "seed": seed, "compile": compile_step}
    cfg["val_every"] = min(cfg["val_every"], max(steps // 4, 1))
    cfg["checkpoint_every"] = min(cfg["checkpoint_every"], max(steps // 4, 1))
    kw = {"n_way": None, "k_shot": k_shot, "n_query": k_shot}
    t0 = time.perf_counter()
    summary = train(
        learner,
        domain.sampler("train", **kw),
        domain.sampler("val", **kw),
        TrainConfig.from_dict(cfg),
        out_dir,
        run_meta={"domain": "sinusoid", "setting": kw, "data_fingerprint": domain.fingerprint()},
        progress=False,
    )
    return {"algo": algo, "k_shot": k_shot, "out": out_dir, "train_seconds": time.perf_counter() - t0, **summary}


def _eval_job(k_shot: int, runs: dict[str, str], n_tasks: int, seed: int, baseline_cfg: dict[str, Any]) -> dict:
    """Evaluate every trained model for one K, plus baselines, on the same fixed test tasks."""
    import torch

    torch.set_num_threads(1)

    domain = get_domain("sinusoid")
    setting = {"n_way": None, "k_shot": k_shot, "n_query": 100}
    methods: list[Any] = [MetaMethod(load_learner(path, domain)[0]) for path in runs.values()]
    methods += build_baselines(domain, None, BaselineConfig(**baseline_cfg), None)
    tasks = fixed_tasks(domain.sampler("test", **setting), n_tasks, seed)
    report = evaluate(
        domain,
        methods,
        tasks,
        {**setting, "split": "test", "n_tasks": n_tasks, "seed": seed, "inner_steps": 1},
        progress=False,
    )
    for r in report["results"]:
        r.pop("per_task", None)
        pub = PUBLISHED.get(r["method"], {}).get(k_shot)
        if pub is not None:
            r["published_mse"] = pub
    return report


def bench_sinusoid(quick: bool = False, workers: int | None = None, out_root: str | None = None) -> dict[str, Any]:
    """Train and evaluate the Table 1 grid; returns ``{"results": [eval JSON per K], "ratios": ...}``.

    ``quick`` keeps the code path but trains 100 eager steps and evaluates 20 tasks.
    """
    steps = 100 if quick else 70_000
    n_tasks = 20 if quick else 600
    seed = 0
    workers = workers or max(1, min(os.cpu_count() or 1, 2 if quick else os.cpu_count() or 1))
    root = Path(out_root or tempfile.mkdtemp(prefix="metasuite-bench-sinusoid-"))

    baseline_cfg = {**SinusoidDomain().default_baselines(), "seed": seed}
    if quick:
        baseline_cfg.update(pretrain_steps=100, scratch_steps=20)
    jobs = [(algo, k) for k in SHOTS for algo in ALGORITHMS]
    t0 = time.perf_counter()
    trained: dict[int, dict[str, str]] = {k: {} for k in SHOTS}
    train_info: list[dict[str, Any]] = []
    ctx = get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        futures = [pool.submit(_train_job, a, k, steps, str(root / f"k{k}-{a}"), seed, not quick) for a, k in jobs]
        for i, fut in enumerate(as_completed(futures), start=1):
            info = fut.result()
            trained[info["k_shot"]][info["algo"]] = info["out"]
            train_info.append(info)
            elapsed = time.perf_counter() - t0
            eta = elapsed / i * (len(jobs) - i)
            print(
                f"[bench sinusoid] trained {info['algo']} K={info['k_shot']} in {info['train_seconds']:.0f}s "
                f"({i}/{len(jobs)}, elapsed {elapsed / 60:.1f} min, ETA {eta / 60:.1f} min)",
                file=sys.stderr,
            )
        train_seconds = time.perf_counter() - t0
        eval_futures = {
            pool.submit(_eval_job, k, {a: trained[k][a] for a in ALGORITHMS}, n_tasks, seed, baseline_cfg): k
            for k in SHOTS
        }
        reports = {eval_futures[f]: f.result() for f in as_completed(eval_futures)}
    results = [reports[k] for k in SHOTS]

    def mse(algo: str, k: int) -> float:
        rep = reports[k]
        return next(r["metrics"]["mse"]["mean"] for r in rep["results"] if r["method"] == algo)

    ratios = {f"{a}_k{k}_vs_published": mse(a, k) / PUBLISHED[a][k] for a in PUBLISHED for k in SHOTS}
    targets = {f"{a}_k{k}_mse<={t}": mse(a, k) <= t for (a, k), t in TARGETS.items()}
    at_or_below = {f"{a}_k{k}": mse(a, k) <= PUBLISHED[a][k] for a in PUBLISHED for k in SHOTS}
    return {
        "setting": {
            "steps": steps,
            "meta_batch_size": 25,
            "inner_steps": 1,
            "shots": list(SHOTS),
            "n_test_tasks": n_tasks,
            "n_query": 100,
            "workers": workers,
        },
        "results": results,
        "published": {a: {str(k): v for k, v in d.items()} for a, d in PUBLISHED.items()},
        "ratios": ratios,
        "targets_met": targets,
        "at_or_below_published": at_or_below,
        "train": sorted(
            ({k: v for k, v in t.items() if k != "out"} for t in train_info), key=lambda t: (t["k_shot"], t["algo"])
        ),
        "train_wall_seconds": round(train_seconds, 1),
        "run_folder": str(root),
    }
