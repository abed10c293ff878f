"""``metasuite bench distributed``: meta-training throughput in 1 vs 2 processes (torchrun, gloo) on this machine.

The workloads come from the registered domains (:meth:`Domain.bench_workload`); the built-in ones are

* **MAML sinusoid** -- second-order MAML, MLP 1-40-40-1, meta-batch 32 tasks, K = 10;
* **Conv-4 ProtoNet** -- the driving domain's 5-way 1-shot episodes with 5 queries per class, 48 px frames,
  Conv-4-32, meta-batch 8.

Three layouts per workload, each run in fresh processes with nothing else running: one process with one
torch thread, one process with every core's threads, and two processes (``torchrun``: two ranks, one thread
each, each differentiating half of every meta-batch). Each run is a :class:`~metasuite.core.runs.TrainRequest`
executed by ``python -m metasuite.core.runs``. Throughput = meta-training tasks per second between the first
and the last logged step (start-up, data generation and torchrun's rendezvous excluded; no validation).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from metasuite.core import registry
from metasuite.core.runs import TrainRequest

__all__ = ["bench_distributed", "workloads"]


def workloads() -> dict[str, tuple[str, dict[str, Any]]]:
    """Workload name -> ``(domain, workload)`` for every registered domain that offers one."""
    found = {}
    for name in registry.available_domains():
        try:
            workload = registry.get_domain(name).bench_workload()
        except Exception:  # a broken third-party domain is left out of the benchmark
            continue
        if workload is not None:
            found[workload["name"]] = (name, workload)
    return found


def _throughput(run: Path, meta_batch: int) -> dict[str, float]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line]
    rows = [r for r in rows if "loss" in r]
    if len(rows) < 2:
        raise RuntimeError(f"{run}: fewer than two logged steps; run more steps")
    first, last = rows[0], rows[-1]
    steps, seconds = last["step"] - first["step"], last["seconds"] - first["seconds"]
    return {"steps_timed": steps, "seconds": round(seconds, 3), "tasks_per_s": round(steps * meta_batch / seconds, 1)}


def _run(domain: str, workload: dict[str, Any], steps: int, nproc: int, threads: int, out: Path) -> None:
    request = TrainRequest(
        domain=domain,
        algo=workload["algo"],
        out=out,
        n_query=workload.get("n_query"),
        config={"steps": steps, "meta_batch_size": workload["meta_batch_size"], "val_tasks": 0},
        nproc=nproc,
        threads=threads,
        resume=False,
        progress=False,
    )
    path = out.with_suffix(".json")
    path.write_text(request.to_json())
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    cmd = [sys.executable, "-m", "metasuite.core.runs", "train", str(path)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} ({request.to_json()}) failed:\n{done.stderr[-2000:]}")


def bench_distributed(quick: bool = False) -> dict[str, Any]:
    """Tasks/s of each workload in each layout; ratios are 2 processes over the best 1-process layout."""
    cores = os.cpu_count() or 1
    layouts = {
        "1 process x 1 thread": (1, 1),
        f"1 process x {cores} threads": (1, cores),
        "2 processes x 1 thread": (2, 1),
    }
    results: dict[str, Any] = {}
    ratios: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="metasuite-bench-dist-") as tmp:
        for name, (domain, w) in workloads().items():
            steps = w["quick_steps"] if quick else w["steps"]
            per: dict[str, Any] = {}
            for label, (nproc, threads) in layouts.items():
                out = Path(tmp) / f"{name}-{nproc}-{threads}"
                _run(domain, w, steps, nproc, threads, out)
                per[label] = _throughput(out, w["meta_batch_size"])
            results[name] = per
            best_single = max(v["tasks_per_s"] for k, v in per.items() if k.startswith("1 process"))
            ratios[f"{name}_2proc_vs_best_1proc"] = round(per["2 processes x 1 thread"]["tasks_per_s"] / best_single, 2)
            ratios[f"{name}_2proc_vs_1proc_1thread"] = round(
                per["2 processes x 1 thread"]["tasks_per_s"] / per["1 process x 1 thread"]["tasks_per_s"], 2
            )
    return {"workloads": results, "ratios": ratios, "cores": cores}
