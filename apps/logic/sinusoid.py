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

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from metasuite.apps.logic import chart_layout, display_path
from metasuite.apps.logic.models import StandIn, shipped_checkpoint, shipped_or_stand_in
from metasuite.core.algorithms import MAML, MetaLearner
from metasuite.core.backbones import build_backbone
from metasuite.core.losses import task_metric
from metasuite.core.tasks import derive_seed, generator
from metasuite.domains.sinusoid import SinusoidDomain
from metasuite.domains.sinusoid.domain import X_RANGE

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = [
    "DEFAULT_CHECKPOINT",
    "DEFAULT_SEED",
    "FALLBACK_STEPS",
    "GRID_POINTS",
    "K_SHOTS",
    "MAX_STEPS",
    "METHODS",
    "STAND_IN",
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
]

#: The shipped checkpoint: a run folder holding ``best.safetensors`` + ``best.json``.
DEFAULT_CHECKPOINT = shipped_checkpoint("sinusoid", "maml")
#: Meta-training steps of the stand-in model (about 12 s on one CPU thread; val MSE ~1.2).
FALLBACK_STEPS = 1500
#: The MAML meta-trained in-process when no checkpoint is shipped: the domain's defaults (MLP 1-40-40-1,
#: inner lr 0.01, one inner step, K=10), meta-batch 25, Adam 1e-3, on one thread (the tiny MLP gains
#: nothing from more, and on a busy two-core machine they only contend).
STAND_IN = StandIn("maml", "MAML", steps=FALLBACK_STEPS, meta_batch_size=25, val_tasks=100, threads=1)
K_SHOTS = (5, 10, 20)
#: The task the page opens on: its phase is far from the average task's, so the unadapted
#: initialisation is visibly wrong and one inner step visibly fixes it.
DEFAULT_SEED = 2
MAX_STEPS = 10
GRID_POINTS = 200
METHODS = ("meta-learned", "scratch")


# ---------------------------------------------------------------------------- model
def load_sinusoid_model(path: str | Path | None = None) -> tuple[MetaLearner, dict[str, Any]]:
    """Load the sinusoid meta-learner -> ``(learner, meta)``; ``meta`` is the checkpoint's JSON.

    ``path``: a run folder or ``.safetensors`` file (one that does not exist raises
    :class:`~metasuite.core.errors.CheckpointError`). Default: :data:`DEFAULT_CHECKPOINT`, or when it is
    missing the :data:`STAND_IN` MAML, quick-trained once and cached
    (:func:`metasuite.apps.logic.models.shipped_or_stand_in`); ``meta["source"]`` says which.
    """
    return shipped_or_stand_in(SinusoidDomain(), DEFAULT_CHECKPOINT, STAND_IN, path=path)


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
        "file": None if meta.get("path") is None else display_path(meta["path"]),
    }


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
    title = f"After {step} inner step{'s' if step != 1 else ''}"
    return chart_layout(fig, 460, x="x", y="y", title=title, legend_y=-0.15, yaxis_range=[-5.5, 5.5])


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
    return chart_layout(fig, 300, x="inner steps", y="MSE on grid", legend_y=-0.3)
