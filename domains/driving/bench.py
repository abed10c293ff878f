"""``metasuite bench driving``: training time, task sampling and adaptation latency.

Three measurements, in one process, on the machine at hand (nothing else should run beside it):

* **training** -- ProtoNet and MAML trained with the domain's defaults (the recipes of the shipped
  checkpoints in ``data/checkpoints/driving/``) through :func:`metasuite.core.trainer.train`, exactly as
  ``metasuite train driving --algo NAME --queries 5`` does. Reported: wall time, the best
  validation accuracy, the shipped checkpoint's recorded validation accuracy, and the time at which
  training first reached it (from ``metrics.jsonl``). Target <= 15 minutes each (issue 3).
* **task sampling** -- milliseconds per 5-way 5-shot 15-query task from the cached image pools.
* **adaptation latency** -- one 5-way 5-shot task: ProtoNet prototypes, MAML 10 inner steps;
  adaptation alone and adaptation + classifying the 75 query frames. Median of repeated calls
  after warm-up. Targets <= 50 ms (ProtoNet) and <= 300 ms (MAML, 10 steps).

``quick`` keeps every code path but trains 20 steps and times fewer repeats (well under a minute).
Full runs keep their run folders (``runs/bench-driving/<algo>`` unless ``out_root`` is given).
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from metasuite.core.bench import repeat_timings
from metasuite.core.learners import load_learner, make_learner
from metasuite.core.registry import get_domain
from metasuite.core.tasks import generator
from metasuite.core.trainer import TrainConfig, train

__all__ = ["TARGETS", "bench_driving"]

#: Issue 3's targets: training minutes, adaptation milliseconds.
TARGETS = {"train_minutes": 15.0, "protonet_adapt_ms": 50.0, "maml_adapt_ms": 300.0}
TRAIN_ALGORITHMS = ("protonet", "maml")
SHIPPED = Path(__file__).resolve().parents[2] / "data" / "checkpoints" / "driving"
TRAIN_QUERIES = 5  # queries per class in meta-training (the shipped recipes' --queries 5)


def _median_ms(fn: Any, repeats: int, warmup: int = 2) -> dict[str, float]:
    times = [1000.0 * t for t in repeat_timings(fn, repeats, warmup)]
    return {"median_ms": round(statistics.median(times), 2), "min_ms": round(min(times), 2), "repeats": repeats}


def _shipped_val(algo: str) -> float | None:
    meta = SHIPPED / algo / "best.json"
    if not meta.is_file():
        return None
    return float(json.loads(meta.read_text())["metrics"]["val_metric"])


def _time_to(metrics_path: Path, target: float | None) -> float | None:
    """Seconds into training of the first validation at or above ``target`` (None if never)."""
    if target is None or not metrics_path.is_file():
        return None
    for line in metrics_path.read_text().splitlines():
        row = json.loads(line)
        if "val_metric" in row and row["val_metric"] >= target - 1e-6:
            return float(row["seconds"])
    return None


def _train(domain: Any, algo: str, out_dir: Path, quick: bool) -> dict[str, Any]:

    learner = make_learner(domain, algo, n_way=5, seed=0)
    cfg = {**domain.default_train_config(learner.name), "seed": 0}
    if quick:
        cfg.update(steps=20, val_every=10, val_tasks=10, checkpoint_every=10)
    setting = {"n_way": 5, "k_shot": 1, "n_query": TRAIN_QUERIES}
    t0 = time.perf_counter()
    summary = train(
        learner,
        domain.sampler("train", **setting),
        domain.sampler("val", **setting),
        TrainConfig.from_dict(cfg),
        out_dir,
        run_meta={"domain": domain.name, "setting": setting, "data_fingerprint": domain.fingerprint()},
        resume=False,
        progress=not quick,
    )
    seconds = time.perf_counter() - t0
    shipped = _shipped_val(algo)
    return {
        "algorithm": algo,
        "steps": cfg["steps"],
        "hparams": {}
        if algo == "protonet"
        else {k: getattr(learner, k) for k in ("inner_lr", "inner_steps", "test_inner_steps")},
        "train_seconds": round(seconds, 1),
        "train_minutes": round(seconds / 60.0, 2),
        "best_val": summary.get("best_val"),
        "shipped_val": shipped,
        "seconds_to_shipped_val": _time_to(out_dir / "metrics.jsonl", shipped),
        "out": str(out_dir),
    }


def _latency(domain: Any, quick: bool) -> dict[str, Any]:

    task = domain.sampler("test", n_way=5, k_shot=5, n_query=15).sample(generator(0, "bench-latency"))
    repeats = 5 if quick else 30
    out: dict[str, Any] = {}
    for algo, steps in (("protonet", None), ("maml", 10)):
        ckpt = SHIPPED / algo
        # latency does not depend on the weights' values: fall back to a fresh model if none is shipped
        learner = (
            load_learner(ckpt, domain)[0]
            if (ckpt / "best.safetensors").is_file()
            else make_learner(domain, algo, n_way=5, seed=0)
        )
        learner.eval()
        kw = {} if steps is None else {"steps": steps}
        adapted = learner.adapt(task.support_x, task.support_y, **kw)
        out[algo] = {
            "inner_steps": steps,
            "adapt": _median_ms(
                lambda learner=learner, kw=kw: learner.adapt(task.support_x, task.support_y, **kw), repeats
            ),
            "adapt_and_predict_75": _median_ms(
                lambda learner=learner, kw=kw: learner.adapt(task.support_x, task.support_y, **kw).predict(
                    task.query_x
                ),
                repeats,
            ),
            "predict_75": _median_ms(lambda adapted=adapted: adapted.predict(task.query_x), repeats),
        }
    return out


def _sampling(domain: Any, quick: bool) -> dict[str, Any]:

    t0 = time.perf_counter()
    sampler = domain.sampler("test", n_way=5, k_shot=5, n_query=15)
    pool_seconds = time.perf_counter() - t0
    n = 50 if quick else 500
    counter = iter(range(10**9))
    timing = _median_ms(lambda: sampler.sample(generator(0, "bench-sampling", next(counter))), n, warmup=5)
    return {"task": "5-way 5-shot 15-query", "pool_load_seconds": round(pool_seconds, 3), **timing}


def bench_driving(quick: bool = False, out_root: str | None = None) -> dict[str, Any]:
    """Run the three measurements; return the report (``ratios`` are measured / target, <= 1 meets it)."""

    domain = get_domain("driving")
    root = Path(out_root) if out_root else Path(tempfile.mkdtemp(prefix="metasuite-bench-driving-"))
    if not quick and out_root is None:
        root = Path("runs") / "bench-driving"
    sampling = _sampling(domain, quick)
    print(f"[bench driving] sampling: {sampling['median_ms']:.2f} ms/task", file=sys.stderr)
    latency = _latency(domain, quick)
    for algo, rep in latency.items():
        print(f"[bench driving] {algo} adaptation: {rep['adapt']['median_ms']:.1f} ms", file=sys.stderr)
    training = []
    for algo in TRAIN_ALGORITHMS:
        print(f"[bench driving] training {algo} ...", file=sys.stderr)
        training.append(_train(domain, algo, root / algo, quick))
        print(f"[bench driving] {algo}: {training[-1]['train_minutes']:.1f} min", file=sys.stderr)
    by_algo = {t["algorithm"]: t for t in training}
    ratios = {
        "protonet_train_vs_target": by_algo["protonet"]["train_minutes"] / TARGETS["train_minutes"],
        "maml_train_vs_target": by_algo["maml"]["train_minutes"] / TARGETS["train_minutes"],
        "protonet_adapt_vs_target": latency["protonet"]["adapt"]["median_ms"] / TARGETS["protonet_adapt_ms"],
        "maml_adapt_vs_target": latency["maml"]["adapt"]["median_ms"] / TARGETS["maml_adapt_ms"],
    }
    return {
        "setting": {
            "image_size": domain.image_size,
            "hidden": domain.hidden,
            "torch_threads": torch.get_num_threads(),
            "train_queries_per_class": TRAIN_QUERIES,
        },
        "targets": TARGETS,
        "sampling": sampling,
        "latency": latency,
        "training": training,
        "ratios": {k: round(v, 3) for k, v in ratios.items()},
        "targets_met": {k: v <= 1.0 for k, v in ratios.items()} if not quick else {},
        "run_folder": str(root),
    }
