"""``metasuite bench distributed``: meta-training throughput in 1 vs 2 processes (torchrun, gloo) on this machine.

Two workloads, each run as the real command line in fresh processes, nothing else running:

* **MAML sinusoid** -- second-order MAML, MLP 1-40-40-1, meta-batch 32 tasks, K = 10;
* **Conv-4 ProtoNet** -- the driving domain's 5-way 1-shot episodes with 5 queries per class, 48 px frames,
  Conv-4-32, meta-batch 8.

Three layouts per workload: one process with one torch thread, one process with every core's threads,
and ``--nproc 2`` (two ranks, one thread each, each differentiating half of every meta-batch). Throughput =
meta-training tasks per second between the first and the last logged step (start-up, data generation
and torchrun's rendezvous excluded; no validation).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["bench_distributed"]

WORKLOADS = {
    "maml_sinusoid": {
        "args": ["sinusoid", "--algo", "maml", "--meta-batch-size", "32"],
        "steps": 400,
        "quick_steps": 60,
        "meta_batch": 32,
    },
    "protonet_conv4_driving": {
        "args": ["driving", "--algo", "protonet", "--queries", "5", "--meta-batch-size", "8"],
        "steps": 40,
        "quick_steps": 12,
        "meta_batch": 8,
    },
}


def _throughput(run: Path, meta_batch: int) -> dict[str, float]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line]
    rows = [r for r in rows if "loss" in r]
    if len(rows) < 2:
        raise RuntimeError(f"{run}: fewer than two logged steps; run more steps")
    first, last = rows[0], rows[-1]
    steps, seconds = last["step"] - first["step"], last["seconds"] - first["seconds"]
    return {"steps_timed": steps, "seconds": round(seconds, 3), "tasks_per_s": round(steps * meta_batch / seconds, 1)}


def _run(args: list[str], steps: int, nproc: int, threads: int, out: Path) -> None:
    cmd = [sys.executable, "-m", "metasuite.core.cli", "train", *args, "--steps", str(steps), "--val-tasks", "0"]
    cmd += ["--out", str(out), "--quiet", "--no-resume", "--threads", str(threads)]
    if nproc > 1:
        cmd += ["--nproc", str(nproc)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")


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
        for name, w in WORKLOADS.items():
            steps = w["quick_steps"] if quick else w["steps"]
            per: dict[str, Any] = {}
            for label, (nproc, threads) in layouts.items():
                out = Path(tmp) / f"{name}-{nproc}-{threads}"
                _run(w["args"], steps, nproc, threads, out)
                per[label] = _throughput(out, w["meta_batch"])
            results[name] = per
            best_single = max(v["tasks_per_s"] for k, v in per.items() if k.startswith("1 process"))
            ratios[f"{name}_2proc_vs_best_1proc"] = round(per["2 processes x 1 thread"]["tasks_per_s"] / best_single, 2)
            ratios[f"{name}_2proc_vs_1proc_1thread"] = round(
                per["2 processes x 1 thread"]["tasks_per_s"] / per["1 process x 1 thread"]["tasks_per_s"], 2
            )
    return {"workloads": results, "ratios": ratios, "cores": cores}
