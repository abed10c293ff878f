"""Computation behind the Driving page: draw a few-shot scene task in an unseen environment, adapt, score.

The page compares two models on one 5-way K-shot task drawn from a road environment never seen in
meta-training (or from an uploaded image folder):

* **after adaptation** -- the shipped ProtoNet checkpoint (or a small stand-in meta-trained in-process),
  adapted on the support frames (class prototypes) and scored on the query frames;
* **before adaptation** -- a supervised model pre-trained on the pooled meta-train frames over all
  global scene classes (:func:`metasuite.core.baselines.pretrain`); it never sees the support set, and its
  prediction is the argmax of its global logits restricted to the task's classes.

Accuracy is :func:`metasuite.core.losses.task_metric`, the metric the evaluator reports.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from metasuite.apps.logic import chart_layout, confusion_heatmap
from metasuite.apps.logic.generic import fit_confusion_labels
from metasuite.apps.logic.models import (
    MetaLearner,
    StandIn,
    ensemble_members,
    pooled_model,
    shipped_checkpoint,
    shipped_eval,
    shipped_or_stand_in,
)
from metasuite.core.errors import DataError
from metasuite.core.evaluate import MetaMethod
from metasuite.core.losses import log_mean_probability, task_metric
from metasuite.core.tasks import Task, generator
from metasuite.domains.driving import DrivingDomain
from metasuite.domains.driving.data import MAX_IMAGE_PIXELS, ImagePool, load_image_folder
from metasuite.domains.driving.domain import _MEAN, _STD, DrivingSampler
from metasuite.domains.driving.render import SCENE_CLASSES, Environment, cached_pool

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = [
    "DEFAULT_CHECKPOINT",
    "DEFAULT_SEED",
    "ENSEMBLE_CHECKPOINTS",
    "EVAL_COMMAND",
    "EVAL_JSON",
    "FALLBACK_STEPS",
    "IMAGES_PER_CLASS",
    "K_SHOTS",
    "MAX_DECODED_BYTES",
    "MAX_IMAGE_PIXELS",
    "MAX_UPLOAD_BYTES",
    "MAX_UPLOAD_ENTRIES",
    "N_QUERY",
    "N_WAY",
    "PAGE_FINETUNE",
    "PRETRAIN_STEPS",
    "STAND_IN",
    "AdaptResult",
    "ImagePool",
    "MetaLearner",
    "adapt_and_score",
    "adaptation_delta",
    "comparison_figure",
    "confusion_figure",
    "confusion_matrix",
    "default_environment",
    "environment_label",
    "environment_pool",
    "frames",
    "load_eval_results",
    "load_pooled_model",
    "load_protonet",
    "load_protonet_ensemble",
    "load_uploaded_zip",
    "pooled_logits",
    "sample_task",
    "unseen_environments",
    "upload_label",
    "upscale",
]

#: The task shape the page shows: 5-way, with K = 1 or 5 support frames per scene.
N_WAY = 5
K_SHOTS = (1, 5)
#: The shipped ProtoNet (run folder with ``best.safetensors`` + ``best.json``); may be missing.
DEFAULT_CHECKPOINT = shipped_checkpoint("driving", "protonet")
#: The shipped three-seed ProtoNet ensemble (the recipe trained with seeds 0, 1, 2; class probabilities averaged:
#: +4.5 / +3.3 points over the seed-0 model on unseen environments at 1 / 5 shots, README driving results).
ENSEMBLE_CHECKPOINTS = (DEFAULT_CHECKPOINT, *(shipped_checkpoint("driving", f"protonet-seed{s}") for s in (1, 2)))
#: The method comparison the page plots, written by :data:`EVAL_COMMAND` (run from the repository root).
EVAL_JSON = shipped_eval("driving", "eval.json")
EVAL_COMMAND = (
    "metasuite eval driving "
    + " ".join(
        f"--checkpoint data/checkpoints/driving/{a}"
        for a in ("protonet", "maml", "fomaml", "metasgd", "anil", "reptile")
    )
    + " --baselines --workers 2 --json data/eval/driving/eval.json"
)
#: Meta-training steps of the stand-in ProtoNet.
FALLBACK_STEPS = 150
#: Pre-training budget of the pooled supervised model ("before adaptation").
PRETRAIN_STEPS = 200
PRETRAIN_BATCH = 32
#: Rendered meta-train frames per class and environment for the two in-app models: the domain's default,
#: so the frames cached by any ``metasuite train driving`` run are reused (pre-training draws 5-way
#: 1-shot tasks with 15 queries, so it needs at least 16).
IMAGES_PER_CLASS = 30
N_QUERY = 10
#: Frames rendered per class for the chosen test environment (seed 1: never the training image seed).
POOL_PER_CLASS = 20
POOL_SEED = 1
#: Largest uncompressed size of an uploaded zip (a guard against zip bombs), checked from the zip's directory.
MAX_UPLOAD_BYTES = 512 * 2**20
#: Most entries (files and folders) an uploaded zip may hold: 50 frames per scene of a few dozen scenes.
MAX_UPLOAD_ENTRIES = 2000
#: Most bytes the images kept from an upload may decode to (width x height x 3, summed, read from the image
#: headers before any is decoded): ~57 full-HD PNGs, or thousands of phone JPEGs (they decode at 1/8 scale).
#: Each image is also capped at :data:`~metasuite.domains.driving.data.MAX_IMAGE_PIXELS`.
MAX_DECODED_BYTES = 512 * 2**20
#: Where an upload is unpacked inside its fresh temporary folder: a fixed name, never one taken from the upload.
_UNPACKED = "upload"
DEFAULT_SEED = 0
#: The ProtoNet meta-trained in-process when no checkpoint is shipped: 5-way 1-shot tasks with 5 queries,
#: meta-batch 2, Adam 1e-3.
STAND_IN = StandIn(
    "protonet", "ProtoNet", steps=FALLBACK_STEPS, meta_batch_size=2, n_way=N_WAY, k_shot=1, n_query=5, val_tasks=20
)


def _domain(images_per_class: int = IMAGES_PER_CLASS) -> DrivingDomain:
    return DrivingDomain(images_per_class=images_per_class)


# ---------------------------------------------------------------------------- models
def load_protonet(
    path: str | Path | None = None, cache_dir: str | Path | None = None, steps: int = FALLBACK_STEPS
) -> tuple[MetaLearner, dict[str, Any]]:
    """Load the driving ProtoNet -> ``(learner, meta)``; ``meta`` is the checkpoint's JSON.

    ``path``: a run folder or ``.safetensors`` file (one that does not exist raises
    :class:`~metasuite.core.errors.CheckpointError`). Default: :data:`DEFAULT_CHECKPOINT`, or when it is
    missing the :data:`STAND_IN` ProtoNet meta-trained for ``steps`` steps, once, and cached under
    ``cache_dir`` (default: the app's cache; :func:`metasuite.apps.logic.models.shipped_or_stand_in`).
    ``meta["source"]`` is ``"checkpoint"`` or ``"quick-train"``.
    """
    stand_in = replace(STAND_IN, steps=steps)
    return shipped_or_stand_in(_domain(), DEFAULT_CHECKPOINT, stand_in, path=path, cache=cache_dir)


def load_protonet_ensemble(cache_dir: str | Path | None = None) -> tuple[list[MetaLearner], dict[str, Any]]:
    """The shipped ProtoNets of :data:`ENSEMBLE_CHECKPOINTS` that exist -> ``(learners, meta)``; ``meta`` is the
    first's checkpoint JSON. Without the shipped seed-0 model: ``[the stand-in]`` (:func:`load_protonet`)."""
    first, meta = load_protonet(cache_dir=cache_dir)
    if meta.get("source") != "checkpoint":
        return [first], meta
    others = [load_protonet(c)[0] for c in ENSEMBLE_CHECKPOINTS[1:] if (c / "best.json").is_file()]
    return [first, *others], meta


def load_pooled_model(
    cache_dir: str | Path | None = None,
    steps: int = PRETRAIN_STEPS,
    batch_size: int = PRETRAIN_BATCH,
    images_per_class: int = IMAGES_PER_CLASS,
    seed: int = 0,
) -> nn.Module:
    """The supervised model pre-trained on pooled meta-train frames (global logits over all scene classes).

    Pre-trained once for ``steps`` steps of ``batch_size`` frames and cached under ``cache_dir`` (default:
    the app's cache), keyed by the budget and the data (:func:`metasuite.apps.logic.models.pooled_model`).
    Returned in eval mode (its norm layers use batch statistics either way).
    """
    return pooled_model(_domain(images_per_class), steps, batch_size, seed, cache=cache_dir)


# ---------------------------------------------------------------------------- data
def unseen_environments() -> list[str]:
    """Names of the meta-test (unseen) environments of the renderer, e.g. ``"foggy|night|japan"``."""
    return list(DrivingDomain().splits()["test"])


_REGION_LABELS = {
    "north_america": "North American-style roads",
    "europe": "European-style roads",
    "japan": "Japan-style roads",
}
_TIME_LABELS = {"dawn/dusk": "dawn or dusk"}


def environment_label(environment: str) -> str:
    """A readable name for an environment key: ``"clear|daytime|japan"`` -> ``"clear, daytime, Japan-style roads"``.

    Keys are ``weather|time of day|region`` (the renderer), ``weather|timeofday`` (BDD100K) or a folder's name
    (an upload's label, returned as it is). Keys stay the values widgets and pools use; this is for display only.
    """
    parts = environment.split("|")
    if len(parts) == 1:
        return environment
    parts[1] = _TIME_LABELS.get(parts[1], parts[1])
    if len(parts) == 3:
        parts[2] = _REGION_LABELS.get(parts[2], parts[2])
    return ", ".join(p.replace("_", " ") for p in parts)


def default_environment(environments: list[str]) -> str:
    """The first environment that is not at night (frames are easier to read), else the first one."""
    if not environments:
        raise ValueError("no environments to choose from")
    return next((e for e in environments if "night" not in e), environments[0])


def environment_pool(
    environment: str, n_per_class: int = POOL_PER_CLASS, size: int = 48, seed: int = POOL_SEED
) -> ImagePool:
    """Render (once, cached on disk) ``n_per_class`` frames of every scene class in one environment."""

    arr = cached_pool(Environment.from_name(environment), n_per_class=n_per_class, size=size, seed=seed)
    return {environment: {c: arr[i] for i, c in enumerate(SCENE_CLASSES)}}


def upload_label(name: str) -> str:
    """The display name of an uploaded file: its base name without ``.zip``, kept to letters, digits, blanks and
    ``-_.``, at most 64 characters, never starting with a dot; ``"upload"`` when nothing is left.

    Only a label (a dict key, a caption): an upload's name never becomes a path.
    """
    base = re.split(r"[/\\]", name)[-1]
    base = re.sub(r"\.zip$", "", base, flags=re.IGNORECASE)
    label = "".join(ch if ch.isalnum() or ch in " -_." else "_" for ch in base)
    label = re.sub(r"_{2,}", "_", label).strip(" ._-")[:64].strip(" ._-")
    return label or _UNPACKED


def load_uploaded_zip(
    data: bytes,
    name: str = "upload",
    size: int = 48,
    max_per_class: int = 50,
    max_entries: int = MAX_UPLOAD_ENTRIES,
    max_decoded_bytes: int = MAX_DECODED_BYTES,
    max_pixels: int = MAX_IMAGE_PIXELS,
) -> ImagePool:
    """Read a ``.zip`` of ``<class>/<images>`` (optionally inside one top folder) into an image pool.

    The archive is unpacked into a folder of fixed name inside a fresh temporary folder, removed afterwards;
    ``name`` (the uploaded file's name) is only a label: the environment is :func:`upload_label` of it, or the
    top folder's name (sanitised the same way) when the class folders sit inside one
    (:func:`~metasuite.domains.driving.data.load_image_folder` detects that). At most ``max_per_class`` frames per
    class are kept.

    Before anything is written the zip may hold at most ``max_entries`` entries and :data:`MAX_UPLOAD_BYTES`
    unpacked, and no entry may point outside it (an absolute path, a drive or a ``..``); before any image is
    decoded, each one is checked against ``max_pixels`` and the kept ones against ``max_decoded_bytes`` in all,
    from their headers. Raises :class:`~metasuite.core.errors.DataError` with a message for the user when the
    bytes are not a zip, a cap is exceeded or the layout is wrong.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise DataError(f"{name!r} is not a readable .zip file ({exc})") from exc
    with archive:
        entries = archive.infolist()
        if len(entries) > max_entries:
            raise DataError(
                f"{name!r} holds {len(entries)} entries, more than the {max_entries} this page reads; upload one "
                "environment of <scene>/<images> folders with fewer files"
            )
        unpacked = sum(info.file_size for info in entries)
        if unpacked > MAX_UPLOAD_BYTES:
            raise DataError(
                f"{name!r} unpacks to {unpacked / 2**20:.0f} MiB, more than the {MAX_UPLOAD_BYTES // 2**20} MiB "
                "this page reads; upload fewer or smaller images"
            )
        members = [(info, _member_parts(info.filename, name)) for info in entries]
        with tempfile.TemporaryDirectory(prefix="metasuite-upload-") as tmp:
            root = Path(tmp) / _UNPACKED
            root.mkdir()
            try:
                _extract(archive, members, root)
                pool = load_image_folder(
                    root,
                    size=size,
                    max_per_class=max_per_class,
                    max_pixels=max_pixels,
                    max_decoded_bytes=max_decoded_bytes,
                )
            except DataError as exc:  # name the upload, not the temporary folder
                raise DataError(str(exc).replace(str(root), upload_label(name))) from exc
            except (OSError, zipfile.BadZipFile, RuntimeError, EOFError) as exc:
                raise DataError(f"could not extract {name!r}: {exc}") from exc
    if len(pool) != 1:
        raise DataError(
            f"{name!r} holds {len(pool)} environments ({', '.join(sorted(pool))}); upload one environment "
            "laid out as <class>/<images>"
        )
    ((env, classes),) = pool.items()
    if len(classes) < 2:
        raise DataError(
            f"{name!r} has {len(classes)} class folder(s) ({', '.join(sorted(classes))}); a task needs at least "
            "2 scenes"
        )
    # the class folders sat directly in the archive (the environment is the unpacking folder), or in a top folder
    return {upload_label(name) if env == _UNPACKED else upload_label(env): classes}


def _member_parts(filename: str, name: str) -> tuple[str, ...]:
    """The path components of zip entry ``filename`` (``/`` or ``\\`` separated, ``.`` dropped); refuses an
    entry that is absolute, names a drive or climbs with ``..``."""
    parts = PurePosixPath(filename.replace("\\", "/")).parts
    if filename.startswith(("/", "\\")) or any(p == ".." or re.fullmatch(r"[A-Za-z]:", p) for p in parts):
        raise DataError(
            f"{name!r} has an entry {filename!r} that points outside the archive (an absolute path, a drive or "
            "'..'); such archives are refused: zip the <scene> folders themselves"
        )
    return tuple(p for p in parts if p not in ("", "."))


def _extract(archive: zipfile.ZipFile, members: list[tuple[zipfile.ZipInfo, tuple[str, ...]]], root: Path) -> None:
    """Write every entry under ``root`` at its checked path (folders as folders; never a link, never outside)."""
    for info, parts in members:
        if not parts:
            continue
        target = root.joinpath(*parts)
        if info.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with archive.open(info) as source, open(target, "wb") as sink:
            shutil.copyfileobj(source, sink)  # ZipExtFile stops at the declared size and checks the CRC


def sample_task(pool: ImagePool, k_shot: int, seed: int, n_way: int = N_WAY, n_query: int = N_QUERY) -> Task:
    """Draw the 5-way ``k_shot`` task number ``seed`` from ``pool``.

    ``n_query`` is lowered to what the pool holds (at least 1) so small uploads still give a task.
    ``metadata["class_names"]`` names the task's classes; ``metadata["classes"]`` indexes the sorted
    class names of the pool.
    """
    classes = sorted({c for by_class in pool.values() for c in by_class})
    room = max(
        (sorted((len(a) for a in by_class.values()), reverse=True) + [0] * n_way)[n_way - 1]
        for by_class in pool.values()
    )
    if room < k_shot + 1:
        raise DataError(
            f"a {n_way}-way {k_shot}-shot task needs {n_way} classes with at least {k_shot + 1} images each "
            f"(K support + 1 query); the largest {n_way} classes here have {room} at the smallest"
        )
    sampler = DrivingSampler(pool, classes, n_way, k_shot, min(n_query, room - k_shot), "test")
    return sampler.sample(generator(seed, "app-driving"))


def frames(x: Tensor) -> np.ndarray:
    """Undo :func:`metasuite.domains.driving.domain.pool_to_tensor`: ``(n, 3, H, W)`` -> uint8 ``(n, H, W, 3)``."""
    rgb = (x * _STD + _MEAN).mul(255.0).round().clamp(0, 255).to(torch.uint8)
    return rgb.permute(0, 2, 3, 1).numpy()


def upscale(images: np.ndarray, factor: int = 3) -> np.ndarray:
    """Nearest-neighbour enlargement of uint8 ``(n, H, W, 3)`` frames by an integer ``factor``."""
    return images.repeat(factor, axis=1).repeat(factor, axis=2)


# ---------------------------------------------------------------------------- adaptation
@dataclass(frozen=True)
class AdaptResult:
    """What the page shows after "Adapt".

    Attributes
    ----------
    predictions : np.ndarray, shape (n_query,)
        Adapted ProtoNet's predicted local label of each query frame.
    accuracy : float
        Its query accuracy in [0, 1].
    before_predictions : np.ndarray of shape (n_query,), or None
        The pooled model's argmax over the task's classes; None when a class is not one of the
        global classes it was trained on (an uploaded folder with other names).
    before_accuracy : float or None
        Accuracy of ``before_predictions``.
    confusion : np.ndarray, shape (n_way, n_way)
        Counts of the adapted model: row = true class, column = predicted class.
    """

    predictions: np.ndarray
    accuracy: float
    before_predictions: np.ndarray | None
    before_accuracy: float | None
    confusion: np.ndarray


def pooled_logits(model: nn.Module, task: Task, global_classes: list[str]) -> Tensor | None:
    """The pooled model's logits on the query frames restricted to the task's classes, ``(n_query, n_way)``.

    Column ``i`` is the global logit of ``metadata["class_names"][i]``; None if a name is not in
    ``global_classes``.
    """
    names = task.metadata["class_names"]
    if any(n not in global_classes for n in names):
        return None
    with torch.no_grad():
        logits = model(task.query_x)
    return logits[:, [global_classes.index(n) for n in names]]


def adaptation_delta(after: float, before: float) -> str:
    """The accuracy change from adapting, in percentage points: ``"+20 points from adapting"`` for 0.66 vs 0.46.

    (Not "+20%": that would read as a relative change.)
    """
    points = round(100 * (after - before))
    return f"{points:+d} point{'' if abs(points) == 1 else 's'} from adapting"


def confusion_matrix(true: np.ndarray, pred: np.ndarray, n_way: int) -> np.ndarray:
    """Counts ``(n_way, n_way)``: row = true label, column = predicted label."""
    out = np.zeros((n_way, n_way), dtype=np.int64)
    np.add.at(out, (np.asarray(true), np.asarray(pred)), 1)
    return out


#: The page's P>M>F option for uploaded frames: Adam steps and learning rate of fine-tuning on the support. The rate
#: is what ``eval --finetune-select`` chose on the day/night photos' validation split for every shipped ProtoNet seed
#: (README, driving); on frames like the renders it chose no fine-tuning, so the page offers it for uploads only.
PAGE_FINETUNE = {"steps": 20, "lr": 1e-3}


def adapt_and_score(
    learner: MetaLearner | Sequence[MetaLearner], pooled: nn.Module | None, task: Task, finetune: bool = False
) -> AdaptResult:
    """Adapt ``learner`` on the support set and score it and the pooled model on the query set.

    Several learners (the shipped ensemble) each adapt on their own; their class probabilities are averaged
    (the log of the mean is scored as logits). ``finetune``: each model first fine-tunes a copy of itself on
    augmented pseudo-episodes of the support (P>M>F, :data:`PAGE_FINETUNE`; seeded by the support, reproducible)."""
    n_way = len(task.metadata["class_names"])
    steps = PAGE_FINETUNE["steps"] if finetune else 0
    domain = DrivingDomain()
    methods = [
        MetaMethod(m, finetune_steps=steps, finetune_lr=PAGE_FINETUNE["lr"], augment=domain.augment)
        for m in ensemble_members(learner)
    ]
    outs = [method.adapt(task)(task.query_x).detach() for method in methods]
    logits = log_mean_probability(outs)
    before = None if pooled is None else pooled_logits(pooled, task, domain.classes)
    pred = logits.argmax(-1).numpy()
    return AdaptResult(
        predictions=pred,
        accuracy=float(task_metric(logits, task.query_y, "classification")),
        before_predictions=None if before is None else before.argmax(-1).numpy(),
        before_accuracy=None if before is None else float(task_metric(before, task.query_y, "classification")),
        confusion=confusion_matrix(task.query_y.numpy(), pred, n_way),
    )


# ---------------------------------------------------------------------------- figures and eval
def confusion_figure(confusion: np.ndarray, class_names: list[str]) -> go.Figure:
    """Plotly heatmap of a confusion matrix (rows true, columns predicted), tick labels fitted to the names."""
    return fit_confusion_labels(confusion_heatmap(confusion, class_names, "frames"), class_names)


def load_eval_results(path: str | Path = EVAL_JSON) -> pd.DataFrame | None:
    """The eval JSON as a table (method, kind, split, k_shot, accuracy, ci95); None if the file is absent.

    Rows take their setting from ``results[i]["setting"]`` (multi-setting reports) or the report's.
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        report = json.loads(path.read_text())
        rows = []
        for r in report["results"]:
            setting = r.get("setting") or report.get("setting") or {}
            acc = r["metrics"]["accuracy"]
            rows.append(
                {
                    "method": r["method"],
                    "kind": r.get("kind", ""),
                    "split": setting.get("split", "test"),
                    "k_shot": setting.get("k_shot"),
                    "accuracy": float(acc["mean"]),
                    "ci95": float("nan") if acc["ci95"] is None else float(acc["ci95"]),  # one task: no interval
                }
            )
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{path} is not a metasuite eval JSON with accuracy results ({exc})") from exc
    return pd.DataFrame(rows, columns=["method", "kind", "split", "k_shot", "accuracy", "ci95"])


def comparison_figure(table: pd.DataFrame) -> go.Figure:
    """Grouped bar chart: accuracy per setting (split, K) for each method, with 95% CI error bars."""
    import plotly.graph_objects as go

    setting = table["split"].astype(str) + ", K=" + table["k_shot"].astype(str)
    fig = go.Figure()
    for method, rows in table.assign(setting=setting).groupby("method", sort=False):
        fig.add_bar(
            x=rows["setting"], y=rows["accuracy"], name=str(method), error_y={"type": "data", "array": rows["ci95"]}
        )
    return chart_layout(fig, 380, y="query accuracy", legend_y=-0.2, barmode="group", yaxis_range=[0, 1])
