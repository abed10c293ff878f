"""``metasuite bench diagnosis``: record preprocessing, inference, per-patient adaptation, training memory.

Measured in one process on the machine at hand (nothing else should run beside it):

* **preprocessing** -- a full 30-minute record at 360 Hz to model inputs: 0.5-40 Hz band-pass,
  beat windows and RR features (:func:`~metasuite.domains.diagnosis.domain.preprocess`,
  :func:`~.beats.extract_beats`, :func:`~.domain.beats_to_tensor`).
  On a synthetic record always; on real MIT-BIH records too when a folder is found
  (``$METASUITE_MITDB`` or ``../shared/data/mitdb-ds1``), reading the WFDB files included.
  Target: a record in under 2 s.
* **inference** -- beats per second of an adapted model classifying a patient's later beats.
* **adaptation** -- one patient, support = the first 5 minutes: the shipped FOMAML checkpoint's
  test-time inner loop (20 steps) and ANIL's head-only loop (50 steps). Median over repeats after
  warm-up. Target <= 1 s.
* **peak memory while meta-training** -- a child process meta-trains FOMAML with the domain's
  defaults (meta-batch 4, 256 queries per task) for a few steps; reported: resident memory after
  loading the cohort and the peak (``ru_maxrss``) during training.

``quick`` keeps every code path with fewer repeats and inner steps, a smaller cohort and 2 training steps.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
from pathlib import Path
from typing import Any

import torch

from metasuite.core.bench import timing_summary
from metasuite.core.learners import load_learner, make_learner
from metasuite.core.trainer import TrainConfig, train
from metasuite.domains.diagnosis.beats import extract_beats
from metasuite.domains.diagnosis.domain import DiagnosisDomain, beats_to_tensor, preprocess
from metasuite.domains.diagnosis.mitdb import list_records, load_record
from metasuite.domains.diagnosis.synth import synth_patient

__all__ = ["TARGETS", "bench_diagnosis"]

#: Issue 4's targets.
TARGETS = {"record_preprocess_seconds": 2.0, "adapt_seconds": 1.0}
SHIPPED = Path(__file__).resolve().parents[2] / "data" / "checkpoints" / "diagnosis"
DEFAULT_MITDB = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "mitdb-ds1"


def _preprocess(quick: bool) -> dict[str, Any]:

    raw = synth_patient(7, minutes=30.0)
    n_beats = len(raw.r_peaks)
    repeats = 2 if quick else 5
    out: dict[str, Any] = {
        "synthetic_30min": {
            "beats": n_beats,
            **timing_summary(lambda: beats_to_tensor(extract_beats(preprocess(raw))), repeats),
        }
    }
    out["synthetic_30min"]["beats_per_s"] = round(n_beats / out["synthetic_30min"]["median_s"])
    folder = Path(os.environ.get("METASUITE_MITDB", DEFAULT_MITDB))
    if folder.is_dir():
        names = list_records(folder)[: 2 if quick else 6]
        per_record = []
        for name in names:

            def run(name: str = name) -> int:
                beats = extract_beats(load_record(folder, name))
                beats_to_tensor(beats)
                return len(beats)

            n = run()
            t = timing_summary(run, repeats, warmup=0)
            per_record.append({"record": name, "beats": n, **t, "beats_per_s": round(n / t["median_s"])})
        out["mitdb"] = {
            "folder": str(folder),
            "records": per_record,
            "max_median_s": max(r["median_s"] for r in per_record),
        }
    return out


def _learner(domain: Any, algo: str) -> Any:

    ckpt = SHIPPED / algo
    if (ckpt / "best.safetensors").is_file():
        return load_learner(ckpt, domain)[0]
    return make_learner(domain, algo, n_way=4, seed=0)  # timing does not depend on the weights


def _adapt_and_infer(domain: Any, quick: bool) -> dict[str, Any]:
    task = domain.sampler("test").all_tasks()[0]
    repeats = 2 if quick else 10
    out: dict[str, Any] = {"support_beats": int(task.n_support), "query_beats": int(task.n_query)}
    for algo in ("fomaml", "anil"):
        learner = _learner(domain, algo)
        learner.eval()
        steps = 2 if quick else learner.test_inner_steps
        adapted = learner.adapt(task.support_x, task.support_y, steps=steps)
        infer = timing_summary(lambda adapted=adapted: adapted.predict(task.query_x), repeats)
        out[algo] = {
            "inner_steps": steps,
            "adapt": timing_summary(
                lambda learner=learner, steps=steps: learner.adapt(task.support_x, task.support_y, steps=steps),
                repeats,
            ),
            "inference": {**infer, "beats_per_s": round(task.n_query / infer["median_s"])},
        }
    return out


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def _train_child(quick: bool, queue: Any) -> None:

    torch.set_num_threads(2)
    cohort = {"train": 3, "val": 1, "test": 1} if quick else None
    domain = DiagnosisDomain(cohort=cohort)
    train_s, val_s = domain.sampler("train"), domain.sampler("val")
    loaded = _rss_mb()
    learner = make_learner(domain, "fomaml", n_way=4, seed=0)
    cfg = {**domain.default_train_config("fomaml"), "steps": 2 if quick else 30, "val_every": 10**9, "seed": 0}
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        train(learner, train_s, val_s, TrainConfig.from_dict(cfg), Path(tmp), resume=False, progress=False)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    queue.put(
        {
            "algorithm": "fomaml",
            "steps": cfg["steps"],
            "meta_batch_size": cfg["meta_batch_size"],
            "train_patients": len(train_s.patients),
            "rss_after_loading_mb": round(loaded, 1),
            "peak_rss_mb": round(peak, 1),
        }
    )


def _memory(quick: bool) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")  # a fresh process: its peak is training's alone
    queue = ctx.Queue()
    proc = ctx.Process(target=_train_child, args=(quick, queue))
    proc.start()
    result = queue.get(timeout=3600)
    proc.join()
    return result


def bench_diagnosis(quick: bool = False) -> dict[str, Any]:
    """Run the diagnosis benchmarks; see the module docstring."""

    cohort = {"train": 1, "val": 1, "test": 2}
    domain = DiagnosisDomain(cohort=cohort)
    pre = _preprocess(quick)
    adapt = _adapt_and_infer(domain, quick)
    memory = _memory(quick)
    worst_record = max(pre["synthetic_30min"]["median_s"], pre.get("mitdb", {}).get("max_median_s", 0.0))
    worst_adapt = max(adapt[a]["adapt"]["median_s"] for a in ("fomaml", "anil"))
    return {
        "targets": TARGETS,
        "preprocessing": pre,
        "adaptation": adapt,
        "meta_training_memory": memory,
        "ratios": {
            "record_preprocess_vs_target": round(worst_record / TARGETS["record_preprocess_seconds"], 3),
            "adapt_vs_target": round(worst_adapt / TARGETS["adapt_seconds"], 3),
            "fomaml_vs_anil_adapt": round(adapt["fomaml"]["adapt"]["median_s"] / adapt["anil"]["adapt"]["median_s"], 2),
        },
    }
