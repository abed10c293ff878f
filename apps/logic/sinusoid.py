"""Computation behind the Sinusoid page: load the model, draw a task, adapt step by step.

The page compares two models on one sine task ``y = A sin(x - phase)``:

* **meta-learned** -- the shipped MAML checkpoint, adapted on the K support points with its own
  inner loop (``learner.adapt(support_x, support_y, steps=s)``);
* **scratch** -- the same MLP 1-40-40-1 from a fresh seeded initialisation, trained on the same
  K points with the *same optimiser as the inner loop*: full-batch plain SGD on the support MSE
  at the learner's ``inner_lr``, for the same number of steps. It is built as a MAML learner
  around the untrained backbone, so both models run literally the same update code.

Both are scored by MSE on a dense grid of query points spanning the input range, against the
true curve. Step 0 is each model before it has seen the support set.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from metasuite.apps.logic import REPO_ROOT, train_run_atomically
from metasuite.core.algorithms import MAML, MetaLearner
from metasuite.core.backbones import build_backbone
from metasuite.core.checkpoint import resolve_checkpoint
from metasuite.core.errors import CheckpointError
from metasuite.core.learners import load_learner, make_learner
from metasuite.core.losses import task_metric
from metasuite.core.tasks import derive_seed, generator
from metasuite.domains.sinusoid import SinusoidDomain
from metasuite.domains.sinusoid.domain import X_RANGE

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = [
    "DEFAULT_CHECKPOINT",
    "DEFAULT_SEED",
    "FALLBACK_CACHE",
    "FALLBACK_STEPS",
    "GRID_POINTS",
    "K_SHOTS",
    "MAX_STEPS",
    "METHODS",
    "AdaptationCurves",
    "SineTask",
    "adaptation_curves",
    "adaptation_figure",
    "load_sinusoid_model",
    "model_card",
    "mse_figure",
    "mse_table",
    "sample_task",
    "scratch_learner",
    "sine",
    "train_quick_maml",
]

#: The shipped checkpoint: a run folder holding ``best.safetensors`` + ``best.json``.
DEFAULT_CHECKPOINT = REPO_ROOT / "data" / "checkpoints" / "sinusoid" / "maml"
#: Where the quick stand-in model is cached when no checkpoint is shipped (git-ignored).
FALLBACK_CACHE = REPO_ROOT / "data" / "cache" / "app-sinusoid"
#: Meta-training steps of the stand-in model (about 12 s on two CPU cores; val MSE ~1.2).
FALLBACK_STEPS = 1500
K_SHOTS = (5, 10, 20)
#: The task the page opens on: its phase is far from the average task's, so the unadapted
#: initialisation is visibly wrong and one inner step visibly fixes it.
DEFAULT_SEED = 2
MAX_STEPS = 10
GRID_POINTS = 200
METHODS = ("meta-learned", "scratch")


# ---------------------------------------------------------------------------- model
@contextmanager
def _one_thread() -> Iterator[None]:
    """Run torch on one intra-op thread, then restore the previous setting.

    The 1-40-40-1 MLP is far too small to gain from threads; on a busy two-core machine extra
    threads only contend (measured: 1500 meta-training steps take ~12 s on one thread, minutes
    on two).
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train_quick_maml(out_dir: str | Path, steps: int = FALLBACK_STEPS, seed: int = 0) -> Path:
    """Meta-train a small MAML on sinusoid tasks into run folder ``out_dir``; return it.

    Uses the domain's defaults (MLP 1-40-40-1, inner_lr 0.01, one inner step, K=10, meta-batch
    25, Adam 1e-3) for ``steps`` steps. Training happens in a temporary sibling folder that is
    renamed into place when done, so concurrent callers (two app sessions, parallel tests) never
    see a half-written run. An existing finished run at ``out_dir`` is reused as is.
    """
    from metasuite.core.trainer import TrainConfig

    out = Path(out_dir)
    if (out / "best.safetensors").exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    domain = SinusoidDomain()
    setting = domain.default_setting()
    learner = make_learner(domain, "maml", n_way=None, seed=seed)
    cfg = TrainConfig(
        steps=steps,
        meta_batch_size=25,
        outer_lr=1e-3,
        val_every=steps,
        val_tasks=100,
        checkpoint_every=steps,
        seed=seed,
    )
    with _one_thread():
        return train_run_atomically(out, learner, domain, setting, cfg)


def load_sinusoid_model(path: str | Path | None = None) -> tuple[MetaLearner, dict[str, Any]]:
    """Load the sinusoid meta-learner -> ``(learner, meta)``; ``meta`` is the checkpoint's JSON.

    Parameters
    ----------
    path : str or Path, optional
        A run folder or ``.safetensors`` file. Default: :data:`DEFAULT_CHECKPOINT`; when that
        does not exist, a MAML is meta-trained for :data:`FALLBACK_STEPS` steps (cached under
        ``data/cache/``) so the page still works. An explicit ``path`` that does not exist
        raises :class:`~metasuite.core.errors.CheckpointError`.

    ``meta["source"]`` says which of the two happened: ``"checkpoint"`` or ``"quick-train"``.
    """
    domain = SinusoidDomain()
    if path is not None:
        learner, meta = load_learner(path, domain)
        return learner, {**meta, "source": "checkpoint"}
    try:
        resolve_checkpoint(DEFAULT_CHECKPOINT)
    except CheckpointError:
        run = train_quick_maml(FALLBACK_CACHE / f"maml-{FALLBACK_STEPS}")
        learner, meta = load_learner(run, domain)
        return learner, {**meta, "source": "quick-train"}
    learner, meta = load_learner(DEFAULT_CHECKPOINT, domain)
    return learner, {**meta, "source": "checkpoint"}


def model_card(meta: dict[str, Any]) -> dict[str, Any]:
    """The facts about a checkpoint the page shows, read from its JSON ``meta``.

    Keys: ``algorithm``, ``training steps`` (configured), ``best step`` (when the kept weights
    were saved), ``val MSE`` (mean query MSE on the validation tasks at that step), ``inner lr``,
    ``inner steps``, ``train K``, ``meta-batch size``, ``file`` (relative to the repository root
    when inside it). Missing entries are None.
    """
    train_cfg = meta.get("train_config") or {}
    metrics = meta.get("metrics") or {}
    hparams = meta.get("hparams") or {}
    return {
        "algorithm": meta.get("algorithm"),
        "training steps": train_cfg.get("steps"),
        "best step": metrics.get("step"),
        "val MSE": metrics.get("val_metric"),
        "inner lr": hparams.get("inner_lr"),
        "inner steps": hparams.get("inner_steps"),
        "train K": (meta.get("setting") or {}).get("k_shot"),
        "meta-batch size": train_cfg.get("meta_batch_size"),
        "file": _display_path(meta.get("path")),
    }


def _display_path(path: str | None) -> str | None:
    """``path`` relative to the repository root when it lies inside it (shorter on screen)."""
    if path is None:
        return None
    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return path


def scratch_learner(learner: MetaLearner, seed: int = 0) -> MetaLearner:
    """An untrained copy of ``learner``'s backbone whose ``adapt`` is plain SGD at its ``inner_lr``.

    The backbone is freshly initialised from ``derive_seed(seed, "scratch")`` (the seed the
    evaluator's scratch baseline uses). Wrapping it in :class:`~metasuite.core.algorithms.MAML` makes
    ``adapt(support_x, support_y, steps=s)`` exactly ``s`` full-batch SGD steps on the support
    MSE, the same update rule as the meta-learned model's inner loop.
    """
    spec = getattr(learner, "backbone_spec", None)
    if spec is None:
        raise ValueError("learner has no backbone_spec; load it with load_sinusoid_model or core.learners")
    backbone = build_backbone(spec["name"], seed=derive_seed(seed, "scratch"), **spec["kwargs"])
    return MAML(backbone, kind=learner.kind, inner_lr=learner.inner_lr, inner_steps=1)


# ---------------------------------------------------------------------------- task
def sine(x: Tensor, amplitude: float, phase: float) -> Tensor:
    """The task function ``amplitude * sin(x - phase)``, elementwise on ``x`` (any shape)."""
    return amplitude * torch.sin(x - phase)


@dataclass(frozen=True)
class SineTask:
    """One sine task as the page shows it.

    Attributes
    ----------
    seed, k_shot : int
        What drew it: ``sample_task(seed, k_shot)`` always returns the same task.
    amplitude, phase : float
        The true curve ``amplitude * sin(x - phase)`` (phase in radians).
    support_x, support_y : Tensor, shape (k_shot, 1)
        The K points both models train on.
    grid_x, grid_y : Tensor, shape (GRID_POINTS, 1)
        Evenly spaced query inputs over ``X_RANGE`` and the true curve there.
    """

    seed: int
    k_shot: int
    amplitude: float
    phase: float
    support_x: Tensor
    support_y: Tensor
    grid_x: Tensor
    grid_y: Tensor


def sample_task(seed: int, k_shot: int, n_grid: int = GRID_POINTS) -> SineTask:
    """Draw the sine task number ``seed`` with ``k_shot`` support points from the test split.

    The amplitude and phase depend only on ``seed``, so changing ``k_shot`` keeps the curve.
    """
    if k_shot < 1:
        raise ValueError(f"k_shot must be >= 1, got {k_shot}")
    sampler = SinusoidDomain().sampler("test", k_shot=k_shot, n_query=1)
    task = sampler.sample(generator(seed, "app"))
    amplitude, phase = task.metadata["amplitude"], task.metadata["phase"]
    grid_x = torch.linspace(*X_RANGE, n_grid).unsqueeze(1)
    return SineTask(
        seed=int(seed),
        k_shot=int(k_shot),
        amplitude=amplitude,
        phase=phase,
        support_x=task.support_x,
        support_y=task.support_y,
        grid_x=grid_x,
        grid_y=sine(grid_x, amplitude, phase),
    )


# ---------------------------------------------------------------------------- adaptation
@dataclass(frozen=True)
class AdaptationCurves:
    """Predictions of both models on the grid after each number of inner steps.

    Attributes
    ----------
    steps : np.ndarray, shape (max_steps + 1,)
        ``0, 1, ..., max_steps``.
    predictions : dict of str -> np.ndarray, shape (max_steps + 1, n_grid)
        ``"meta-learned"`` and ``"scratch"``: row ``s`` is the prediction after ``s`` steps.
    mse : dict of str -> np.ndarray, shape (max_steps + 1,)
        MSE against the true curve on the grid after each number of steps.
    """

    steps: np.ndarray
    predictions: dict[str, np.ndarray]
    mse: dict[str, np.ndarray]


def adaptation_curves(
    learner: MetaLearner, task: SineTask, max_steps: int = MAX_STEPS, scratch_seed: int = 0
) -> AdaptationCurves:
    """Adapt the meta-learned and the scratch model on ``task``'s support set, step by step.

    Row ``s`` is a fresh ``adapt(..., steps=s)`` call (exact, and cheap for a 1-40-40-1 MLP).
    MSE is :func:`metasuite.core.losses.task_metric` on the grid, the metric the evaluator reports.
    """
    if max_steps < 0:
        raise ValueError(f"max_steps must be >= 0, got {max_steps}")
    models = {"meta-learned": learner, "scratch": scratch_learner(learner, scratch_seed)}
    predictions: dict[str, np.ndarray] = {}
    mse: dict[str, np.ndarray] = {}
    for name, model in models.items():
        preds = [
            model.adapt(task.support_x, task.support_y, steps=s).predict(task.grid_x) for s in range(max_steps + 1)
        ]
        predictions[name] = torch.stack([p.squeeze(-1) for p in preds]).numpy()
        mse[name] = np.array([float(task_metric(p, task.grid_y, "regression")) for p in preds])
    return AdaptationCurves(steps=np.arange(max_steps + 1), predictions=predictions, mse=mse)


def mse_table(curves: AdaptationCurves) -> pd.DataFrame:
    """MSE per number of inner steps: index ``step``, one column per model."""
    return pd.DataFrame(curves.mse, index=pd.Index(curves.steps, name="step"))


# ---------------------------------------------------------------------------- figures
COLORS = {"true": "#444444", "support": "#d62728", "meta-learned": "#1f77b4", "scratch": "#ff7f0e"}


def adaptation_figure(task: SineTask, curves: AdaptationCurves, step: int) -> go.Figure:
    """Plotly figure: true curve, support points, and both models' predictions after ``step`` steps."""
    import plotly.graph_objects as go

    if not 0 <= step < len(curves.steps):
        raise ValueError(f"step must lie in [0, {len(curves.steps) - 1}], got {step}")
    x = task.grid_x.squeeze(-1).numpy()
    fig = go.Figure()
    fig.add_scatter(
        x=x, y=task.grid_y.squeeze(-1).numpy(), name="true curve", line={"color": COLORS["true"], "dash": "dot"}
    )
    for name in METHODS:
        fig.add_scatter(
            x=x,
            y=curves.predictions[name][step],
            name=f"{name} (MSE {curves.mse[name][step]:.3f})",
            line={"color": COLORS[name], "width": 3},
        )
    fig.add_scatter(
        x=task.support_x.squeeze(-1).numpy(),
        y=task.support_y.squeeze(-1).numpy(),
        mode="markers",
        name=f"{task.k_shot} support points",
        marker={"color": COLORS["support"], "size": 10, "symbol": "circle"},
    )
    fig.update_layout(
        title=f"After {step} inner step{'s' if step != 1 else ''}",
        xaxis_title="x",
        yaxis_title="y",
        yaxis_range=[-5.5, 5.5],
        height=460,
        margin={"l": 40, "r": 20, "t": 50, "b": 40},
        legend={"orientation": "h", "y": -0.15},
    )
    return fig


def mse_figure(curves: AdaptationCurves, step: int | None = None) -> go.Figure:
    """Plotly line chart of grid MSE vs inner steps for both models; ``step`` is marked."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for name in METHODS:
        fig.add_scatter(
            x=curves.steps, y=curves.mse[name], name=name, mode="lines+markers", line={"color": COLORS[name]}
        )
    if step is not None:
        fig.add_vline(x=step, line={"color": "#888888", "dash": "dash"})
    fig.update_layout(
        xaxis_title="inner steps",
        yaxis_title="MSE on grid",
        height=300,
        margin={"l": 40, "r": 20, "t": 30, "b": 40},
        legend={"orientation": "h", "y": -0.3},
    )
    return fig
