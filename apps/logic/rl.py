"""Computation behind the Meta-RL page: load a meta-RL policy, draw a held-out task, watch it adapt.

A task is an environment (navigation: a goal the point robot has to reach; Meta-World: one variant of a
manipulation task). The page rolls out the meta-learned policy on that task before adaptation and after each of
``steps`` adaptation steps, with the learner's own evaluation protocol: :func:`adaptation_rollouts` calls the
learner's ``curve(pool, [task], steps, n_rollouts, gen)`` -- what :class:`~metasuite.core.rl.evaluation.RLEvaluation`
scores it with -- through an environment pool (:class:`RecordingPool`) that keeps the episodes it runs. For MAML-RL
stage ``k`` is ``n_rollouts`` fresh rollouts after ``k`` policy-gradient steps, each step learning from the
previous stage's rollouts; for RL^2 it is episode ``k + 1`` of a trial (the policy adapts in its hidden state).
Nothing here re-implements an algorithm.

Paths are drawn from the observations: the point's ``(x, y)`` for navigation, the end effector's ``(x, y, z)``
(``obs[:3]``) for Meta-World, seen from the top and from the side (plots, no rendering). The return and success
of the meta-learner next to the baselines on the whole test set come from the shipped evaluation JSON
(``metasuite eval ... --baselines``): training the multi-task baseline takes minutes, too long for a page.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from metasuite.apps.logic import chart_layout, display_path
from metasuite.apps.logic.models import (
    StandIn,
    load_recorded,
    shipped_checkpoint,
    shipped_eval,
    shipped_or_stand_in,
    shipped_runs,
)
from metasuite.core.errors import CheckpointError
from metasuite.core.evaluate import format_mean_ci
from metasuite.core.registry import get_domain, get_domain_class
from metasuite.core.rl.domain import RLDomain
from metasuite.core.rl.evaluation import DEFAULT_STEPS
from metasuite.core.rl.rl2 import RL2
from metasuite.core.rl.rollouts import EnvPool, Episodes, Policy
from metasuite.core.rl.tasks import EnvTask, TaskFamily
from metasuite.core.tasks import generator

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = [
    "DEFAULT_SEED",
    "DEFAULT_STEPS",
    "MAX_STEPS",
    "PATHS_SHOWN",
    "PATH_VIEWS",
    "STAND_INS",
    "PathView",
    "RLModel",
    "RecordingPool",
    "StageRollouts",
    "adaptation_note",
    "adaptation_rollouts",
    "domain_title",
    "evaluation_figure",
    "evaluation_table",
    "load_rl_model",
    "model_card",
    "page_checkpoints",
    "path_view",
    "return_figure",
    "sample_task",
    "shipped_evaluation",
    "stage_labels",
    "stage_table",
    "task_goal",
    "task_text",
    "trajectory_figure",
]

#: The task the page opens on: a navigation goal far from the origin, where the unadapted policy wanders off and
#: one step of adaptation visibly heads for the goal.
DEFAULT_SEED = 3
#: Adaptation steps the page offers (the evaluation reports DEFAULT_STEPS = 3, as in Finn et al. 2017, Fig. 5).
MAX_STEPS = 5
#: Rollouts drawn per stage (all of them are scored).
PATHS_SHOWN = 5
#: The navigation MAML-RL trained in-process when its checkpoint is not shipped (about 1 min on one thread; it
#: adapts, far less than the shipped one). A domain without a stand-in needs a shipped checkpoint.
STAND_INS = {
    "navigation": StandIn(
        "maml-rl", "MAML-RL", steps=80, meta_batch_size=10, val_tasks=10, threads=1, note=" on 10 goals per step"
    ),
}
#: Line colour of each stage: grey before adaptation, then one hue per step.
STAGE_COLORS = ("#7f7f7f", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b")
GOAL_COLOR = "#d62728"
METHOD_COLORS = ("#1f77b4", "#7f7f7f", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b")


# ---------------------------------------------------------------------------- model
@dataclass(frozen=True)
class RLModel:
    """A meta-RL policy with the domain it was trained for.

    Attributes
    ----------
    domain : RLDomain
        Built with the options the checkpoint recorded.
    family : TaskFamily
        ``domain.task_family()``, built once (a Meta-World family loads its benchmark).
    learner : nn.Module
        The RL meta-learner (:mod:`metasuite.core.rl.maml_rl`, :mod:`metasuite.core.rl.rl2`).
    meta : dict
        The checkpoint's JSON, with ``source`` (``"checkpoint"`` or ``"quick-train"``).
    """

    domain: RLDomain
    family: TaskFamily
    learner: nn.Module
    meta: dict[str, Any]

    @property
    def n_rollouts(self) -> int:
        """Rollouts per adaptation step: the support size the learner was meta-trained with."""
        setting = self.meta.get("setting") or {}
        return int(setting.get("k_shot") or self.domain.default_setting()["k_shot"])


def domain_title(domain_name: str) -> str:
    """The domain's title (``"2-D point navigation (meta-RL)"``), for the domain selector."""
    return get_domain_class(domain_name).title


def page_checkpoints(domain_name: str) -> list[Path]:
    """The shipped run folders of ``domain_name`` (``data/checkpoints/<domain>/*``), MAML-RL first."""
    return sorted(shipped_runs(domain_name), key=lambda run: (run.name != "maml-rl", run.name))


def load_rl_model(domain_name: str, checkpoint: str | Path | None = None) -> RLModel:
    """The policy the page shows for ``domain_name``.

    ``checkpoint`` (a run folder or ``.safetensors`` file) when given; else the first of :func:`page_checkpoints`;
    else the domain's :data:`STAND_INS` entry quick-trained once and cached
    (:func:`metasuite.apps.logic.models.shipped_or_stand_in`). Raises
    :class:`~metasuite.core.errors.CheckpointError` when there is nothing to load, saying how to train one.
    """
    runs = page_checkpoints(domain_name)
    if checkpoint is None and runs:
        checkpoint = runs[0]
    if checkpoint is not None:
        domain, learner, meta = load_recorded(domain_name, checkpoint)
    elif domain_name in STAND_INS:
        stand_in = STAND_INS[domain_name]
        domain = get_domain(domain_name)
        shipped = shipped_checkpoint(domain_name, stand_in.algorithm)
        learner, meta = shipped_or_stand_in(domain, shipped, stand_in)
    else:
        out = display_path(shipped_checkpoint(domain_name, "maml-rl"))
        raise CheckpointError(
            f"No {domain_name} policy is shipped (data/checkpoints/{domain_name}/ holds no run): train one with "
            f"`metasuite train {domain_name} --algo maml-rl --out {out}`"
        )
    if not isinstance(domain, RLDomain):
        raise CheckpointError(f"{domain_name} is not a reinforcement-learning domain; open its own page")
    learner.eval()
    return RLModel(domain, domain.task_family(), learner, meta)


def model_card(meta: dict[str, Any]) -> dict[str, Any]:
    """The facts about an RL checkpoint the page shows, read from its JSON ``meta``.

    Keys: ``algorithm``, ``policy`` (hidden sizes), ``meta-iterations`` (configured), ``best iteration``,
    ``val return`` (mean return after the learner's own adaptation on the validation tasks at that iteration),
    the adaptation hyperparameters the algorithm has (``inner lr`` and ``inner steps``, or ``episodes per trial``),
    ``rollouts per step``, ``tasks per meta-batch``, ``file``. Missing entries are None.
    """
    train_cfg = meta.get("train_config") or {}
    metrics = meta.get("metrics") or {}
    hparams = meta.get("hparams") or {}
    hidden = hparams.get("hidden")
    card: dict[str, Any] = {
        "algorithm": meta.get("algorithm"),
        "policy": None if hidden is None else f"hidden {hidden}",
        "meta-iterations": train_cfg.get("steps"),
        "best iteration": metrics.get("step"),
        "val return": metrics.get("val_metric"),
    }
    if "episodes_per_trial" in hparams:
        card["episodes per trial"] = hparams["episodes_per_trial"]
    else:
        card["inner lr"] = hparams.get("inner_lr")
        card["inner steps"] = hparams.get("inner_steps")
    card["rollouts per step"] = (meta.get("setting") or {}).get("k_shot")
    card["tasks per meta-batch"] = train_cfg.get("meta_batch_size")
    card["file"] = None if meta.get("path") is None else display_path(meta["path"])
    return card


# ---------------------------------------------------------------------------- task and rollouts
def sample_task(family: TaskFamily, seed: int) -> EnvTask:
    """The held-out task number ``seed``: ``family.sample("test", generator(seed, "app"))`` (never a training task)."""
    return family.sample("test", generator(seed, "app"))


class RecordingPool(EnvPool):
    """An :class:`~metasuite.core.rl.rollouts.EnvPool` that keeps every batch of episodes it runs, in order."""

    def __init__(self, family: TaskFamily, mode: str = "native"):
        super().__init__(family, mode)
        self.episodes: list[Episodes] = []

    def run(self, tasks: Sequence[EnvTask], policy: Policy, n_episodes: int = 1, seed: int = 0) -> Episodes:
        episodes = super().run(tasks, policy, n_episodes, seed)
        self.episodes.append(episodes)
        return episodes


@dataclass(frozen=True)
class StageRollouts:
    """The rollouts of one task at every stage of adaptation (stage 0: before; stage ``k``: after ``k`` steps).

    Attributes
    ----------
    obs : np.ndarray, shape (steps + 1, n_rollouts, T, obs_dim)
        The observation each action was taken from (step 0 is the start state).
    mask : np.ndarray of bool, shape (steps + 1, n_rollouts, T)
        True for the steps an episode took.
    returns : np.ndarray, shape (steps + 1, n_rollouts)
        Undiscounted return of every rollout.
    success : np.ndarray of bool, shape (steps + 1, n_rollouts)
        The environment's ``is_success`` at the episode's end.
    """

    obs: np.ndarray
    mask: np.ndarray
    returns: np.ndarray
    success: np.ndarray

    @property
    def steps(self) -> np.ndarray:
        """``0, 1, ..., steps``."""
        return np.arange(self.returns.shape[0])

    def mean_path(self, stage: int) -> np.ndarray:
        """The observation averaged over the stage's rollouts at each step, ``(T, obs_dim)`` (over the rollouts
        still running at that step; NaN where none is): where the policy heads, without its action noise."""
        obs = np.where(self.mask[stage][..., None], self.obs[stage], np.nan)
        alive = self.mask[stage].any(0)
        out = np.full(obs.shape[1:], np.nan)
        out[alive] = np.nanmean(obs[:, alive], axis=0)
        return out


def adaptation_rollouts(
    learner: nn.Module, family: TaskFamily, task: EnvTask, steps: int, n_rollouts: int, seed: int
) -> StageRollouts:
    """Roll ``learner`` out on ``task`` before adaptation and after each of ``steps`` adaptation steps.

    Runs the learner's own ``curve(pool, [task], steps, n_rollouts, generator(seed, "rollouts"))`` (MAML-RL: a
    policy-gradient step on each stage's ``n_rollouts`` rollouts; RL^2: a trial of ``steps + 1`` episodes) and
    keeps the episodes it ran. The same arguments give the same rollouts.
    """
    if steps < 0 or n_rollouts < 1:
        raise ValueError(f"need steps >= 0 and n_rollouts >= 1, got {steps} and {n_rollouts}")
    pool = RecordingPool(family)
    try:
        learner.curve(pool, [task], steps, n_rollouts, generator(seed, "rollouts"))
    finally:
        pool.close()
    # every run is (n_rollouts, episodes, T, ...): one episode per stage (MAML-RL) or one trial of all (RL^2)
    cat = lambda name: torch.cat([getattr(e, name) for e in pool.episodes], dim=1).transpose(0, 1).numpy()
    obs, returns = cat("obs"), torch.cat([e.returns for e in pool.episodes], dim=1).T.numpy()
    if obs.shape[:2] != (steps + 1, n_rollouts):
        raise RuntimeError(
            f"{type(learner).__name__}.curve ran {obs.shape[0]} episodes of {obs.shape[1]} rollouts; the page "
            f"expects {steps + 1} (one per stage) of {n_rollouts}"
        )
    return StageRollouts(obs=obs, mask=cat("mask"), returns=returns, success=cat("success"))


def stage_labels(learner: nn.Module, steps: int) -> list[str]:
    """The name of every stage: ``before adaptation``, ``after 1 step`` ...; for RL^2 ``episode 1`` ..."""
    if isinstance(learner, RL2):
        return ["episode 1 (no experience)"] + [f"episode {k + 1}" for k in range(1, steps + 1)]
    return ["before adaptation"] + [f"after {k} step{'s' if k > 1 else ''}" for k in range(1, steps + 1)]


def adaptation_note(learner: nn.Module) -> str:
    """What one adaptation step of ``learner`` is, and how many it was meta-trained for (one sentence)."""
    if isinstance(learner, RL2):
        return (
            f"RL² adapts in its recurrent state: stage k is episode k + 1 of one trial (meta-trained on trials of "
            f"{learner.episodes_per_trial} episodes)."
        )
    trained = f"{learner.inner_steps} step{'s' if learner.inner_steps > 1 else ''}"
    return (
        f"One step: a policy-gradient step of size {learner.inner_lr:g} on the previous stage's rollouts. Meta-trained "
        f"for {trained}: further steps of the same size go beyond its training and can overshoot the goal."
    )


def stage_table(rollouts: StageRollouts, labels: list[str]) -> pd.DataFrame:
    """Per stage: ``return`` (mean over the rollouts) and its ``sd``, and the ``success`` rate (0-1). Index:
    ``stage``."""
    return pd.DataFrame(
        {
            "return": rollouts.returns.mean(1),
            "sd": rollouts.returns.std(1),
            "success": rollouts.success.mean(1),
        },
        index=pd.Index(labels, name="stage"),
    )


# ---------------------------------------------------------------------------- paths
@dataclass(frozen=True)
class PathView:
    """Which observation entries locate the agent: the first ``len(axes)`` entries, named ``axes``.

    ``what`` says what they are, for the caption.
    """

    axes: tuple[str, ...]
    what: str


#: How the page draws each domain's paths (the app knows its domains; a domain knows nothing of the app).
PATH_VIEWS = {
    "navigation": PathView(("x", "y"), "the point's position"),
    "metaworld": PathView(("hand x", "hand y", "hand z"), "the end effector's position, observation[:3]"),
}


def path_view(domain_name: str, obs_dim: int) -> PathView:
    """The domain's :data:`PATH_VIEWS` entry; for another domain its first two observation entries."""
    if domain_name in PATH_VIEWS:
        return PATH_VIEWS[domain_name]
    if obs_dim < 2:
        raise ValueError(f"{domain_name} observations have {obs_dim} entry: the page draws paths of at least two")
    return PathView(("obs[0]", "obs[1]"), "the first two observation entries")


def task_goal(task: EnvTask, view: PathView, family: TaskFamily | None = None) -> np.ndarray | None:
    """The task's goal in the view's coordinates (``family.goal(task)``, else ``params["goal"]``, with as many
    entries as ``view.axes``), or None when the task names no such goal."""
    goal = family.goal(task) if family is not None else task.params.get("goal")
    if goal is None or len(goal) < len(view.axes):
        return None
    return np.asarray(goal[: len(view.axes)], dtype=float)


def task_text(task: EnvTask, view: PathView, family: TaskFamily | None = None) -> str:
    """One line naming the task: its goal's coordinates when :func:`task_goal` knows them
    (``"(-0.28, -0.37)"``), after its ``params`` as ``key value`` pairs when the goal is not a parameter."""
    goal = task_goal(task, view, family)
    text = "(" + ", ".join(f"{g:.2f}" for g in goal) + ")" if goal is not None else ""
    if "goal" in task.params and goal is not None:
        return text
    named = " · ".join(f"{k} {v}" for k, v in task.params.items())
    return f"{named} · goal {text}" if text else named


def _panels(view: PathView) -> list[tuple[int, int]]:
    """Axis pairs drawn: one plane for 2-D positions, the top (x-y) and side (x-z) views for 3-D ones."""
    return [(0, 1)] if len(view.axes) == 2 else [(0, 1), (0, 2)]


def trajectory_figure(
    rollouts: StageRollouts,
    labels: list[str],
    view: PathView,
    goal: np.ndarray | None = None,
    n_shown: int = PATHS_SHOWN,
    height: int = 520,
) -> go.Figure:
    """Plotly figure of every stage's path, coloured by stage: the mean over its rollouts
    (:meth:`StageRollouts.mean_path`, thick, a dot at its end) and the first ``n_shown`` rollouts (thin), with the
    start (square) and the goal (star, when known); 3-D positions are shown from the top and from the side."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    panels = _panels(view)
    titles = [f"{view.axes[a]} – {view.axes[b]}" for a, b in panels] if len(panels) > 1 else None
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=titles, horizontal_spacing=0.08)
    start = rollouts.obs[0, 0, 0]
    for col, (a, b) in enumerate(panels, start=1):
        for k, label in enumerate(labels):
            color = STAGE_COLORS[k % len(STAGE_COLORS)]
            for i in range(min(n_shown, rollouts.obs.shape[1])):
                path = rollouts.obs[k, i][rollouts.mask[k, i]]
                fig.add_trace(
                    go.Scatter(
                        x=path[:, a],
                        y=path[:, b],
                        mode="lines",
                        line={"color": color, "width": 1},
                        opacity=0.35,
                        name=label,
                        legendgroup=label,
                        showlegend=False,
                        hovertemplate=f"{label}, rollout {i + 1}<br>return {rollouts.returns[k, i]:.1f}<extra></extra>",
                    ),
                    row=1,
                    col=col,
                )
            mean = rollouts.mean_path(k)
            mean = mean[~np.isnan(mean[:, 0])]
            fig.add_trace(
                go.Scatter(
                    x=mean[:, a],
                    y=mean[:, b],
                    mode="lines+markers",
                    line={"color": color, "width": 3.5},
                    marker={"size": [0] * (len(mean) - 1) + [11], "color": color},
                    name=label,
                    legendgroup=label,
                    showlegend=col == 1,
                    hovertemplate=f"{label}: mean of {rollouts.obs.shape[1]} rollouts<extra></extra>",
                ),
                row=1,
                col=col,
            )
        fig.add_trace(
            go.Scatter(
                x=[start[a]],
                y=[start[b]],
                mode="markers",
                marker={"symbol": "square", "size": 11, "color": "#222222"},
                name="start",
                legendgroup="start",
                showlegend=col == 1,
            ),
            row=1,
            col=col,
        )
        if goal is not None:
            fig.add_trace(
                go.Scatter(
                    x=[goal[a]],
                    y=[goal[b]],
                    mode="markers",
                    marker={"symbol": "star", "size": 20, "color": GOAL_COLOR, "line": {"color": "white", "width": 1}},
                    name="goal",
                    legendgroup="goal",
                    showlegend=col == 1,
                ),
                row=1,
                col=col,
            )
        fig.update_xaxes(title_text=view.axes[a], row=1, col=col)
        fig.update_yaxes(title_text=view.axes[b], row=1, col=col)
        if len(panels) == 1:  # a plane: one unit is as long on both axes
            fig.update_yaxes(scaleanchor="x", scaleratio=1, row=1, col=col)
    return chart_layout(fig, height, legend_y=-0.14)


def return_figure(rollouts: StageRollouts, labels: list[str], height: int = 360) -> go.Figure:
    """Plotly chart of the return of every rollout (dots) and their mean (line) at each stage."""
    import plotly.graph_objects as go

    fig = go.Figure()
    n = rollouts.returns.shape[1]
    jitter = np.linspace(-0.15, 0.15, n) if n > 1 else np.zeros(1)
    for k, label in enumerate(labels):
        fig.add_scatter(
            x=k + jitter,
            y=rollouts.returns[k],
            mode="markers",
            marker={"color": STAGE_COLORS[k % len(STAGE_COLORS)], "size": 6, "opacity": 0.6},
            name=label,
            showlegend=False,
            hovertemplate=f"{label}<br>return %{{y:.1f}}<extra></extra>",
        )
    fig.add_scatter(
        x=rollouts.steps,
        y=rollouts.returns.mean(1),
        mode="lines+markers",
        line={"color": "#222222", "width": 2.5},
        marker={"size": 9},
        name=f"mean of {n} rollouts",
    )
    fig.update_xaxes(tickmode="array", tickvals=list(rollouts.steps), ticktext=[_short(lbl) for lbl in labels])
    return chart_layout(fig, height, y="return", legend_y=-0.2)


def _short(label: str) -> str:
    """A stage name short enough for an axis tick: ``before``, ``1 step`` ..., ``episode 1``."""
    return label.replace(" adaptation", "").replace("after ", "").replace(" (no experience)", "")


# ---------------------------------------------------------------------------- the shipped test-set evaluation
def shipped_evaluation(domain_name: str, meta: dict[str, Any]) -> tuple[Path, dict[str, Any]] | None:
    """``(path, report)`` of the shipped test-set evaluation of the checkpoint ``meta`` describes:
    ``data/eval/<domain>/<run folder name>.json`` (written by ``metasuite eval <domain> --checkpoint <run folder>
    --baselines --json ...``). None for a quick-trained stand-in, or when the file is missing, evaluated another
    run folder or holds no adaptation curves."""
    if meta.get("source") != "checkpoint" or meta.get("path") is None:
        return None
    run = Path(meta["path"]).parent.name
    path = shipped_eval(domain_name, f"{run}.json")
    try:
        report = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(report, dict) or not report.get("results"):
        return None
    evaluated = (report.get("data_source") or {}).get("checkpoints") or {}
    if run not in {Path(c).parent.name for c in evaluated}:
        return None
    if not all("return_mean" in (r.get("curve") or {}) for r in report["results"]):
        return None
    return path, report


def evaluation_table(report: dict[str, Any], digits: int = 1) -> pd.DataFrame:
    """Mean return ± 95% CI over the test tasks after each number of steps, one row per method (index
    ``method``), then the success rate (%) after the last step."""
    rows = []
    for r in report["results"]:
        steps = r["curve"]["steps"]
        row: dict[str, Any] = {"method": r["method"]}
        for k in steps:
            row["before" if k == 0 else f"after {k}"] = format_mean_ci(r["metrics"].get(f"return@{k}"), digits)
        row[f"success after {steps[-1]} (%)"] = f"{100 * r['curve']['success_mean'][-1]:.1f}"
        rows.append(row)
    return pd.DataFrame(rows).set_index("method")


def evaluation_figure(report: dict[str, Any], height: int = 380) -> go.Figure:
    """Plotly figure of the shipped evaluation: mean return ± 95% CI (left) and success rate (right) against
    adaptation steps, one line per method (meta-learners solid, baselines dashed)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(
        rows=1, cols=2, subplot_titles=("return (mean ± 95% CI)", "success rate (%)"), horizontal_spacing=0.1
    )
    for i, r in enumerate(report["results"]):
        c, color = r["curve"], METHOD_COLORS[i % len(METHOD_COLORS)]
        line = {"color": color, "dash": "solid" if r["kind"] == "meta" else "dash"}
        name = r["method"] if r["kind"] == "meta" else f"{r['method']} (baseline)"
        fig.add_trace(
            go.Scatter(
                x=c["steps"],
                y=c["return_mean"],
                error_y={"type": "data", "array": c["return_ci95"], "visible": True, "thickness": 1},
                mode="lines+markers",
                line=line,
                name=name,
                legendgroup=name,
            ),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=c["steps"],
                y=[100 * s for s in c["success_mean"]],
                mode="lines+markers",
                line=line,
                name=name,
                legendgroup=name,
                showlegend=False,
            ),
            row=1,
            col=2,
        )
    steps = report["setting"]["steps"]
    fig.update_xaxes(title_text="adaptation steps", tickmode="array", tickvals=list(range(steps + 1)))
    return chart_layout(fig, height, legend_y=-0.28)
