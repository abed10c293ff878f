"""Bring your own frames (issue 17): fine-tune the shipped driving model on an uploaded folder, compare the two.

The Driving page's upload is an in-memory :data:`~metasuite.domains.driving.data.ImagePool`. To train on it with
the same code as ``metasuite train driving --data-dir DIR --init CHECKPOINT``:

1. :func:`write_upload_folder` saves its frames as PNGs in a plain ``<class>/<image>`` folder under the app cache,
   named by the frames' digest (the same upload is written once);
2. the driving domain reads that folder and splits it *by image*, 60 / 20 / 20 per class with a seeded rule
   (:func:`~metasuite.domains.driving.domain.split_by_image`), so test frames are never trained or validated on;
3. :class:`FineTuneJob` meta-trains from the shipped checkpoint (``init``) on the training frames in a background
   thread, keeping the step with the best validation accuracy (the starting weights included); the page polls
   :meth:`FineTuneJob.progress` (the run's ``metrics.jsonl``) for its progress bar. A finished run is renamed into
   place, so a cached run is whole. :class:`FineTuneJobs` does the same for each of the three shipped seeds in turn;
4. :func:`compare_on_upload` evaluates the shipped and the fine-tuned model (or the two ensembles of three) on the
   same fixed tasks of the held-out test frames (:func:`~metasuite.core.runs.eval_run`) and pairs them task by task
   (bootstrap 95% CI).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from metasuite.apps.logic.models import app_cache, checkpoint_version
from metasuite.core.errors import DataError
from metasuite.core.evaluation import EvalRequest
from metasuite.core.runs import TrainRequest, eval_run, train_run
from metasuite.core.stats import paired_difference
from metasuite.domains.driving.data import ImagePool

__all__ = [
    "FINE_TUNE_STEPS",
    "MIN_PER_CLASS",
    "FineTuneJob",
    "FineTuneJobs",
    "compare_on_upload",
    "fine_tune_folder",
    "fine_tune_request",
    "frames_digest",
    "held_out_room",
    "kept_step",
    "sample_grid",
    "write_upload_folder",
]

#: Meta-training steps the page offers (default first): ~0.3 s each for 5-way 1-shot on 48 px frames here.
FINE_TUNE_STEPS = (100, 50, 200, 400)
#: Frames per class the by-image split needs: 60 / 20 / 20 leaves 1 support + 1 query per class in each part.
MIN_PER_CLASS = 10
N_QUERY = 5
EVAL_TASKS = 100


def frames_digest(pool: ImagePool) -> str:
    """A short SHA-256 of the pool's class names and pixels (the cache key of everything derived from it)."""
    h = hashlib.sha256()
    for env in sorted(pool):
        for cls in sorted(pool[env]):
            arr = np.ascontiguousarray(pool[env][cls])
            h.update(f"{env}\0{cls}\0{arr.shape}\0".encode())
            h.update(arr.tobytes())
    return h.hexdigest()[:16]


def _classes(pool: ImagePool) -> dict[str, np.ndarray]:
    """Frames per class over every environment of the pool (an upload is one environment)."""
    merged: dict[str, list[np.ndarray]] = {}
    for by_class in pool.values():
        for cls, arr in by_class.items():
            merged.setdefault(cls, []).append(np.asarray(arr))
    return {cls: np.concatenate(parts) for cls, parts in sorted(merged.items())}


def sample_grid(pool: ImagePool, per_class: int = 6) -> list[tuple[str, int, np.ndarray]]:
    """``(class, number of frames, first per_class frames (n, H, W, 3) uint8)`` per class, sorted by name."""
    return [(cls, len(arr), arr[:per_class]) for cls, arr in _classes(pool).items()]


def write_upload_folder(pool: ImagePool, root: Path | None = None) -> Path:
    """Save ``pool`` as a plain ``<class>/<NNN>.png`` folder under ``root/<digest>`` (default: the driving app
    cache's ``uploads``); an existing one is reused. Written to a temporary sibling and renamed when complete.

    Raises :class:`DataError` when the pool has fewer than 2 classes, a class with fewer than
    :data:`MIN_PER_CLASS` frames (the by-image split could not give every split a support and a query frame),
    or a class name that is not a plain folder name.
    """
    classes = _classes(pool)
    if len(classes) < 2:
        raise DataError(f"fine-tuning needs at least 2 scene classes, the upload has {len(classes)}")
    small = {cls: len(arr) for cls, arr in classes.items() if len(arr) < MIN_PER_CLASS}
    if small:
        raise DataError(
            f"fine-tuning splits each class's frames 60/20/20 into training, validation and test frames and needs at "
            f"least {MIN_PER_CLASS} frames per class; too few in: "
            + ", ".join(f"{c} ({n})" for c, n in sorted(small.items()))
        )
    for cls in classes:
        if cls in ("", ".", "..") or Path(cls).name != cls or "\\" in cls:
            raise DataError(f"class name {cls!r} cannot be a folder name; rename that folder in the zip")
    base = Path(root) if root is not None else app_cache("driving") / "uploads"
    out = base / frames_digest(pool)
    if out.is_dir():
        return out
    base.mkdir(parents=True, exist_ok=True)
    tmp = base / f".{out.name}.partial-{threading.get_ident()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        for cls, arr in classes.items():
            (tmp / cls).mkdir(parents=True)
            for i, frame in enumerate(arr):
                Image.fromarray(np.asarray(frame, dtype=np.uint8)).save(tmp / cls / f"{i:03d}.png")
        try:
            tmp.rename(out)
        except OSError:  # another session wrote the same frames first
            if not out.is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def held_out_room(folder: Path) -> int:
    """Frames per class in the smallest class's validation or test part (each bounds K + queries of its tasks)."""
    sizes = [len(list(d.iterdir())) for d in Path(folder).iterdir() if d.is_dir()]
    # split_by_image gives the validation and the test part round(0.2 * n) frames each, at least one
    return min(max(1, round(0.2 * n)) for n in sizes)


def fine_tune_request(folder: Path, init: Path, steps: int, out: Path, n_way: int, seed: int = 0) -> TrainRequest:
    """``metasuite train driving --data-dir folder --init init --algo protonet --ways n_way --shots 1 --steps steps
    --seed seed`` with validation 4 times in the run, on one thread; queries per class fit the validation frames."""
    return TrainRequest(
        domain="driving",
        algo="protonet",
        out=out,
        options={"data_dir": str(folder)},
        n_way=n_way,
        k_shot=1,
        n_query=min(N_QUERY, held_out_room(folder) - 1),
        init=str(init),
        seed=seed,
        config={"steps": steps, "val_every": max(1, steps // 4), "val_tasks": 50, "checkpoint_every": steps},
        threads=1,
        resume=False,
        progress=False,
    )


def fine_tune_folder(folder: Path, init: Path, steps: int) -> Path:
    """Where the fine-tuned run of ``folder`` from ``init`` (its version) for ``steps`` steps is kept."""
    version = checkpoint_version(init)[1]
    return Path(folder).parent.parent / "byo-runs" / f"{Path(folder).name}-{version}-{steps}"


#: The thread training into each run folder (one at a time: a second job for the same folder waits for the first).
_ACTIVE: dict[Path, threading.Thread] = {}
_ACTIVE_LOCK = threading.Lock()


@dataclass
class FineTuneJob:
    """A fine-tuning run in a background thread; :meth:`start` it, poll :meth:`progress`, then read :attr:`out`.

    Attributes
    ----------
    request : TrainRequest
        What to train; it runs into a temporary sibling of ``out`` and is renamed into place when done.
    out : Path
        The finished run folder (``best.safetensors`` ...). Already there: nothing is trained.
    error : BaseException or None
        What stopped the run, if anything.
    """

    request: TrainRequest
    out: Path
    error: BaseException | None = None
    seconds: float = 0.0
    _thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def _tmp(self) -> Path:
        return self.out.with_name(f".{self.out.name}.partial")

    def start(self) -> FineTuneJob:
        if (self.out / "best.safetensors").exists():
            return self
        self._thread = threading.Thread(target=self.run_here, daemon=True, name=f"fine-tune {self.out.name}")
        self._thread.start()
        return self

    def run_here(self) -> None:
        """Train in the calling thread -- or, when another job is already training into the same ``out`` (the page
        rerun by a second click while the first run goes on), wait for that one instead of training beside it."""
        with _ACTIVE_LOCK:
            other = _ACTIVE.get(self.out)
            if other is None or not other.is_alive():
                _ACTIVE[self.out], other = threading.current_thread(), None
        if other is not None:
            other.join()
            if not (self.out / "best.safetensors").exists():
                self.error = DataError(f"the fine-tuning run {self.out.name} it waited for did not finish; try again")
            return
        try:
            self._run()
        finally:
            with _ACTIVE_LOCK:
                _ACTIVE.pop(self.out, None)

    def _run(self) -> None:
        t0 = time.perf_counter()
        try:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp.parent.mkdir(parents=True, exist_ok=True)
            train_run(TrainRequest(**{**self.request.__dict__, "out": self._tmp}))
            shutil.rmtree(self.out, ignore_errors=True)
            self._tmp.rename(self.out)
        except BaseException as exc:  # reported to the page; the thread must not die silently
            self.error = exc
        finally:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self.seconds = time.perf_counter() - t0

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def progress(self) -> float:
        """Fraction of the steps done (1.0 once the run is in place), from the run's ``metrics.jsonl``."""
        if (self.out / "best.safetensors").exists():
            return 1.0
        log = self._tmp / "metrics.jsonl"
        try:
            lines = log.read_text(encoding="utf-8").splitlines()
        except OSError:
            return 0.0
        done = 0
        for line in reversed(lines):
            try:
                done = int(json.loads(line)["step"])
                break
            except (ValueError, KeyError):  # a line being written
                continue
        return min(done / max(int(self.request.config["steps"]), 1), 1.0)

    def wait(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)


@dataclass
class FineTuneJobs:
    """Several :class:`FineTuneJob` (one per shipped seed of an ensemble) run one after another in one background
    thread -- on a 2-core machine the page stays responsive -- with the same interface: :meth:`start`,
    :attr:`running`, :meth:`progress` (the mean over the jobs), :attr:`error` (the first one), :meth:`wait`."""

    jobs: list[FineTuneJob]
    _thread: threading.Thread | None = field(default=None, repr=False)

    def start(self) -> FineTuneJobs:
        todo = [j for j in self.jobs if not (j.out / "best.safetensors").exists()]
        if todo:
            self._thread = threading.Thread(target=self._run, args=(todo,), daemon=True, name="fine-tune ensemble")
            self._thread.start()
        return self

    def _run(self, todo: list[FineTuneJob]) -> None:
        for job in todo:
            job.run_here()
            if job.error is not None:
                break

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def error(self) -> BaseException | None:
        return next((j.error for j in self.jobs if j.error is not None), None)

    def progress(self) -> float:
        return sum(j.progress() for j in self.jobs) / len(self.jobs)

    def wait(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)


def kept_step(run: Path) -> int:
    """The meta-training step whose weights a finished fine-tuning ``run`` kept (its best validation); 0 when no
    step beat the starting (shipped) weights, which ``train --init`` validates first."""
    try:
        return int(json.loads((Path(run) / "best.json").read_text(encoding="utf-8"))["metrics"]["step"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{run} holds no finished fine-tuning run ({exc}); fine-tune again") from exc


def compare_on_upload(
    folder: Path,
    shipped: Path | Sequence[Path],
    tuned: Path | Sequence[Path],
    k_shots: tuple[int, ...] = (1, 5),
    n_way: int = 5,
    seed: int = 0,
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """The shipped and the fine-tuned model on the same ``EVAL_TASKS`` fixed tasks of the held-out test frames, for
    each K that fits. Several checkpoints on a side (the shipped seeds and their fine-tuned copies) are scored as
    one ensemble (class probabilities averaged, ``eval --ensemble``).

    Returns a table (K, model, accuracy, ± 95% CI) and, per K, the paired difference fine-tuned - shipped
    (``{"k_shot", "diff", "lo", "hi", "n"}``). Raises :class:`DataError` when no K fits the test frames.
    """
    shipped_paths, tuned_paths = _paths(shipped), _paths(tuned)
    if len(shipped_paths) != len(tuned_paths):
        raise DataError(f"{len(shipped_paths)} shipped model(s) against {len(tuned_paths)} fine-tuned: pair them")
    room = held_out_room(folder)
    fitting = [k for k in k_shots if k + 1 <= room]
    if not fitting:
        raise DataError(f"the held-out test part has {room} frame(s) per class: too few for a support and a query")
    n = len(shipped_paths)
    labels = (
        ("shipped (renders)", "fine-tuned on your frames")
        if n == 1
        else (f"shipped ensemble of {n} (renders)", f"fine-tuned ensemble of {n}")
    )
    rows, paired = [], []
    for k in fitting:
        scored = [
            _score_on_upload(folder, paths, n_way, k, min(N_QUERY, room - k), seed)
            for paths in (shipped_paths, tuned_paths)
        ]
        for label, r in zip(labels, scored, strict=True):
            m = r["metrics"]["accuracy"]
            rows.append({"K": k, "model": label, "accuracy": m["mean"], "± 95% CI": m["ci95"]})
        shipped_r, tuned_r = scored
        diff = paired_difference(tuned_r["per_task"]["accuracy"], shipped_r["per_task"]["accuracy"], seed=seed)
        paired.append({"k_shot": k, **diff})
    return pd.DataFrame(rows), paired


def _paths(models: Path | Sequence[Path]) -> list[Path]:
    """One checkpoint or several, as a list."""
    return [Path(models)] if isinstance(models, (str, Path)) else [Path(p) for p in models]


def _score_on_upload(folder: Path, checkpoints: list[Path], n_way: int, k: int, n_query: int, seed: int) -> dict:
    """One model (one checkpoint) or one ensemble (several) on the fixed test tasks of ``folder``: its result row."""
    request = EvalRequest(
        domain="driving",
        options={"data_dir": str(folder)},
        checkpoints=[str(c) for c in checkpoints],
        n_way=n_way,
        k_shot=k,
        n_query=n_query,
        split="test",
        n_tasks=EVAL_TASKS,
        seed=seed,
        ensemble=len(checkpoints) > 1,
        progress=False,
    )
    report, _ = eval_run(request)
    results = report.data["results"]
    return next(r for r in results if "ensemble of" in r["method"]) if len(checkpoints) > 1 else results[0]
