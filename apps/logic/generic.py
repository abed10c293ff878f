"""Computation behind the generic "Any domain" page: any registered domain, without a page of its own.

The page shows what every domain offers through :class:`metasuite.core.domain.Domain` alone:

* one **test task** (support and query sets) in a view chosen from the shape of its inputs: images
  ``(C, H, W)`` as a labelled grid, 1-D regression as an x-y scatter with the adapted curve, anything
  else as vectors (a table of the first columns and a scatter of the first two dimensions);
* the meta-learner's **test-time adaptation** on that support set, scored by ``domain.metrics`` before
  (0 inner steps: the meta-learned initialisation) and after adaptation;
* a **method comparison** on :data:`N_COMPARISON_TASKS` fixed test tasks: the meta-learner against the
  scratch baseline, plus the baselines built on pooled pre-training when the domain's pre-training budget
  is small (:data:`POOLED_MAX_PRETRAIN_STEPS`), as mean ± 95% CI (:func:`metasuite.core.evaluate.evaluate`).

The meta-learner is a shipped checkpoint (``<metasuite.data.CHECKPOINTS>/<domain>/<run>/best.safetensors``),
any run folder, or an untrained learner of a chosen algorithm (the comparison then says "untrained"). The
pooled pre-trained model is cached across sessions (:func:`metasuite.apps.logic.models.pooled_model`).

The domain's declared options (``Domain.option_specs``) become widgets (:func:`option_fields`); the values a
user changes rebuild the domain through :func:`metasuite.core.runs.build_domain` (:func:`load_model`).
Numbers and mappings are shown as text for people (:func:`format_number`, :func:`key_value_text`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from metasuite.apps.logic import chart_layout, user_path
from metasuite.apps.logic.models import (
    ALGORITHM_NAMES,
    checkpoint_meta,
    load_recorded,
    pooled_model,
    shipped_runs,
)
from metasuite.core.algorithms import AdaptedModel, MetaLearner
from metasuite.core.baselines import BaselineConfig, ScratchBaseline, build_baselines
from metasuite.core.evaluate import MetaMethod, evaluate, format_mean_ci
from metasuite.core.learners import make_learner
from metasuite.core.options import Option, OptionError
from metasuite.core.registry import get_domain, get_domain_class
from metasuite.core.rl.domain import RLDomain
from metasuite.core.runs import build_domain
from metasuite.core.tasks import Task, TaskSampler, fixed_tasks, generator
from metasuite.data import EVAL

if TYPE_CHECKING:
    import plotly.graph_objects as go
    from pandas.io.formats.style import Styler

    from metasuite.core.domain import Domain

__all__ = [
    "ALGORITHM_NAMES",
    "COMPARISON_SEED",
    "DEFAULT_SEED",
    "MAX_IMAGES",
    "MAX_TABLE_COLUMNS",
    "N_COMPARISON_TASKS",
    "POOLED_MAX_PRETRAIN_STEPS",
    "Adaptation",
    "DomainModel",
    "adapt",
    "changed_options",
    "compare_methods",
    "comparison_methods",
    "comparison_table",
    "curve_figure",
    "default_domain",
    "display_table",
    "examples_table",
    "fit_confusion_labels",
    "format_number",
    "format_value",
    "image_gallery",
    "is_rl_domain",
    "key_value_text",
    "label_names",
    "load_model",
    "lower_is_better",
    "metrics_table",
    "option_fields",
    "option_specs",
    "pooled_plan",
    "recorded_options",
    "sample_task",
    "shipped_curves",
    "shipped_runs",
    "task_caption",
    "task_view",
    "untrained_model",
    "vector_figure",
]

DEFAULT_SEED = 0
#: Fixed test tasks of the method comparison, and the seed that draws them (``fixed_tasks``).
N_COMPARISON_TASKS = 20
COMPARISON_SEED = 0
#: The baselines that pre-train on pooled meta-train data join the comparison only when
#: ``default_baselines()["pretrain_steps"]`` is at most this (every shipped domain needs 1000+ steps:
#: minutes on a CPU, too slow for a page).
POOLED_MAX_PRETRAIN_STEPS = 300
#: At most this many examples per set in the image grid, and input columns in the example tables.
MAX_IMAGES = 40
MAX_TABLE_COLUMNS = 8
GRID_POINTS = 200

_TASK_SHAPE = ("n_way", "k_shot", "n_query")
#: Metric names whose smaller values are better (everything else: larger is better).
_LOWER_IS_BETTER = ("mse", "mae", "rmse", "loss", "error", "nll")


# ---------------------------------------------------------------------------- domains and models
#: Opened when every domain has its own page: the lightest built-in one (a first render in seconds; the
#: diagnosis domain's comparison trains 1-D CNNs from scratch and takes minutes on a 2-core CPU).
FALLBACK_DOMAIN = "sinusoid"


def default_domain(rows: list[dict[str, Any]]) -> str | None:
    """The domain the page opens on: the first loadable user-installed domain without a page of its own (what
    this page is for), else :data:`FALLBACK_DOMAIN` when installed (the lightest: a first render in seconds;
    metasuite's own page-less domains -- few-shot images, navigation -- take longer), else the first loadable.

    ``rows`` is :func:`metasuite.apps.logic.list_domains`'s output; None when no domain loads.
    """
    usable = [r for r in rows if r["error"] is None]
    for row in usable:
        if not row["has_page"] and not row.get("builtin", False):
            return row["name"]
    if any(r["name"] == FALLBACK_DOMAIN for r in usable):
        return FALLBACK_DOMAIN
    return usable[0]["name"] if usable else None


@dataclass
class DomainModel:
    """A domain with the meta-learner the page adapts.

    Attributes
    ----------
    domain : Domain
        Built with the checkpoint's ``domain_options`` (defaults for an untrained learner).
    learner : MetaLearner
    setting : dict
        Task shape ``{"n_way", "k_shot", "n_query"}`` of the test tasks (the checkpoint's, else the domain's).
    source : str
        ``"checkpoint"`` or ``"untrained"``.
    meta : dict
        The checkpoint's JSON (``{"algorithm": ...}`` for an untrained learner).
    """

    domain: Domain
    learner: MetaLearner
    setting: dict[str, Any]
    source: str
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """Short name of the model: the run folder's name, or ``"untrained"``."""
        if self.source == "untrained":
            return "untrained"
        return Path(self.meta["path"]).parent.name

    @property
    def method_name(self) -> str:
        """Its name in the comparison table, e.g. ``"maml (maml-indices)"`` or ``"maml (untrained)"``."""
        return f"{self.learner.name} ({self.label})"

    @cached_property
    def test_sampler(self) -> TaskSampler:
        """The domain's test-split sampler for :attr:`setting` (built once: some domains load data here)."""
        return self.domain.sampler("test", **self.setting)


def _setting(domain: Domain, stored: dict[str, Any] | None = None) -> dict[str, Any]:
    shape = {**domain.default_setting(), **(stored or {})}
    return {k: shape.get(k) for k in _TASK_SHAPE}


def untrained_model(domain: Domain, algorithm: str, seed: int = 0) -> DomainModel:
    """A freshly initialised ``algorithm`` learner (backbone seed ``seed``) with the domain's defaults."""
    setting = _setting(domain)
    learner = make_learner(domain, algorithm, n_way=setting["n_way"], seed=seed)
    return DomainModel(domain, learner, setting, "untrained", {"algorithm": learner.name})


def load_model(
    domain_name: str,
    checkpoint: str | Path | None = None,
    algorithm: str = "maml",
    seed: int = 0,
    options: Mapping[str, Any] | None = None,
) -> DomainModel:
    """The registered domain ``domain_name`` with a checkpoint's learner, or an untrained ``algorithm`` learner.

    A checkpoint (run folder or ``.safetensors`` file) rebuilds the domain from its recorded
    ``domain_options`` (:func:`metasuite.apps.logic.models.load_recorded`). ``options`` (typed option values, text
    parsed by type) override those, or the defaults, and rebuild the domain through
    :func:`metasuite.core.runs.build_domain`; without them the domain is built exactly as before.

    Raises :class:`~metasuite.core.errors.CheckpointError` when the checkpoint is missing, unreadable or trained on
    another domain; :class:`~metasuite.core.options.OptionError` for an option value of the wrong type, or options
    that need another network than the checkpoint holds; whatever the domain raises for values it refuses.
    """
    if checkpoint is None:
        domain = build_domain(domain_name, dict(options)) if options else get_domain(domain_name)
        return untrained_model(domain, algorithm, seed)
    domain, learner, meta = load_recorded(domain_name, checkpoint)
    setting = _setting(domain, meta.get("setting"))
    if options:
        domain = build_domain(domain_name, {**(meta.get("domain_options") or {}), **options})
        _check_same_network(domain, meta, setting["n_way"], options)
    return DomainModel(domain, learner, setting, "checkpoint", meta)


def _check_same_network(domain: Domain, meta: dict[str, Any], n_way: int | None, options: Mapping[str, Any]) -> None:
    """Refuse options under which the domain builds another network than the checkpoint holds."""
    name, kwargs = domain.backbone_spec(meta["algorithm"], n_way)
    wanted = json.loads(json.dumps({"name": name, "kwargs": kwargs}, default=str))
    stored = meta["backbone"]
    if wanted != {"name": stored["name"], "kwargs": stored["kwargs"]}:
        held, needed = key_value_text(stored["kwargs"], "; "), key_value_text(wanted["kwargs"], "; ")
        raise OptionError(
            f"checkpoint {meta['path']} holds a {stored['name']} network ({held}); with "
            f"{key_value_text(options, '; ')} the domain needs ({needed}): keep the options the checkpoint was "
            "trained with, or pick 'Untrained learner' (or a checkpoint trained with these options)"
        )


# ---------------------------------------------------------------------------- typed domain options
def option_specs(domain_name: str) -> tuple[Option, ...]:
    """The typed options domain ``domain_name`` declares (``Domain.option_specs``)."""
    return tuple(get_domain_class(domain_name).option_specs)


def recorded_options(checkpoint: str | Path | None) -> dict[str, Any]:
    """The ``domain_options`` checkpoint ``checkpoint`` was trained with (``{}`` for None or none recorded).

    Raises :class:`~metasuite.core.errors.CheckpointError` when the checkpoint is missing or unreadable.
    """
    if checkpoint is None:
        return {}
    return dict(checkpoint_meta(checkpoint).get("domain_options") or {})


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Mapping):
        return json.dumps(dict(value))
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def option_fields(specs: Iterable[Option], base: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """One widget description per option offered on the command line (``flag=True``), in declaration order.

    Keys: ``name``, ``help``, ``widget`` (``"select"`` for options with choices, ``"checkbox"`` for bool,
    ``"number"`` for int and float with a default, ``"text"`` otherwise: str, Path, list as ``A,B``, dict as
    JSON, and numbers without a default), ``value`` (the widget's initial value: ``base[name]`` when given, e.g.
    a checkpoint's recorded options, else the declared default; ``""`` for an unset text), ``choices`` (list or
    None) and ``type`` (the option's type name).
    """
    base = base or {}
    fields = []
    for spec in specs:
        if not spec.flag:
            continue
        value = base.get(spec.name, spec.default)
        if spec.choices is not None:
            widget = "select"
        elif spec.type is bool:
            widget, value = "checkbox", bool(value)
        elif spec.type in (int, float) and value is not None:
            widget, value = "number", spec.type(value)
        else:
            widget, value = "text", _as_text(value)
        fields.append(
            {
                "name": spec.name,
                "help": spec.help,
                "widget": widget,
                "value": value,
                "choices": None if spec.choices is None else list(spec.choices),
                "type": spec.type.__name__,
            }
        )
    return fields


def changed_options(fields: list[dict[str, Any]], values: Mapping[str, Any]) -> dict[str, Any]:
    """The options whose widget value differs from its initial value (:func:`option_fields`) -> ``{name: value}``.

    Texts are stripped, and an emptied text means "not set" (left out); text values stay text, parsed and
    checked by their option's type when the domain is built (:func:`metasuite.core.runs.build_domain`). A
    changed relative ``Path`` starts at the repository root, like every path typed on a page
    (:func:`metasuite.apps.logic.user_path`).
    """
    out: dict[str, Any] = {}
    for f in fields:
        value = values.get(f["name"], f["value"])
        if f["widget"] == "text":
            value = str(value).strip()
            if not value:
                continue
        if value != f["value"]:
            out[f["name"]] = str(user_path(value)) if f["type"] == "Path" else value
    return out


# ---------------------------------------------------------------------------- text for people
def format_number(x: float, signed: bool = False) -> str:
    """``x`` with 3 significant digits (``0.512``, ``-0.00538``), thousands whole with separators (``12,346``),
    ``—`` for NaN; ``signed`` writes ``+`` before a positive number."""
    x = float(x)
    if math.isnan(x):
        return "—"
    sign = "+" if signed else ""
    return f"{x:{sign},.0f}" if abs(x) >= 1000 else f"{x:{sign}.3g}"


def format_value(value: Any) -> str:
    """Any metadata or option value as text: numbers by :func:`format_number`, ``true``/``false``, lists as
    ``a, b``, mappings as ``key: value; key: value``, ``—`` for None."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float | np.floating) or (isinstance(value, Tensor) and value.numel() == 1):
        return format_number(float(value))
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {format_value(v)}" for k, v in value.items())
    if isinstance(value, list | tuple | np.ndarray):
        return ", ".join(format_value(v) for v in value)
    return str(value)


def key_value_text(mapping: Mapping[str, Any], sep: str = " · ") -> str:
    """``key: value`` pairs joined by ``sep`` (values by :func:`format_value`); None values (unset) are left out."""
    return sep.join(f"{k}: {format_value(v)}" for k, v in mapping.items() if v is not None)


def task_caption(metadata: Mapping[str, Any], max_items: int = 8) -> str:
    """The task's metadata as one line (``amplitude: 1.68 · phase: 1.42 · split: test``); lists and mappings
    longer than ``max_items`` are left out."""
    shown = {k: v for k, v in metadata.items() if not isinstance(v, list | tuple | dict) or len(v) <= max_items}
    return key_value_text(shown)


def display_table(table: pd.DataFrame) -> Styler:
    """``table`` for ``st.dataframe``: its float columns written by :func:`format_number`, the numbers untouched."""
    floats = [c for c in table.columns if pd.api.types.is_float_dtype(table[c])]
    return table.style.format(format_number, subset=floats)


#: Confusion-matrix tick labels: an estimate of a 12 px label's width per character, the longest label shown
#: (longer class names are cut with "…"; hover keeps them whole), the widest label that stays horizontal under a
#: column of the narrowest matrix the pages draw, and the height of one row.
_CHAR_PX = 7
_MAX_TICK_CHARS = 16
_HORIZONTAL_PX = 60
_ROW_PX = 56


def fit_confusion_labels(fig: go.Figure, class_names: list[str]) -> go.Figure:
    """Give a confusion heatmap (:func:`metasuite.apps.logic.confusion_heatmap`) tick labels that never overlap.

    Names longer than 16 characters are abbreviated on the axes; x labels are turned 45 degrees when the longest
    would not fit under its column; the margins and the height are computed from the number and the length of
    the labels (``_ROW_PX`` per row), and plotly may widen the margins further (``automargin``).
    """
    shown = [n if len(n) <= _MAX_TICK_CHARS else n[: _MAX_TICK_CHARS - 1] + "…" for n in class_names]
    longest = max(len(n) for n in shown) * _CHAR_PX
    angle = 0 if longest <= _HORIZONTAL_PX else -45
    below = longest * math.sin(math.radians(-angle)) if angle else 14  # rotated labels, or one line of text
    top = fig.layout.margin.t if fig.layout.margin.t is not None else 30
    margin = {"l": math.ceil(longest) + 40, "r": 20, "t": top, "b": math.ceil(below) + 40}  # + the axis titles
    ticks = {"tickmode": "array", "tickvals": list(class_names), "ticktext": shown, "automargin": True}
    fig.update_layout(
        height=margin["t"] + margin["b"] + _ROW_PX * len(class_names),
        margin=margin,
        xaxis={**ticks, "tickangle": angle},
        yaxis=ticks,
    )
    return fig


# ---------------------------------------------------------------------------- one task
def sample_task(model: DomainModel, seed: int) -> Task:
    """Test task number ``seed`` of the model's domain and task shape (same seed, same task)."""
    return model.test_sampler.sample(generator(seed, "app"))


def task_view(task: Task, kind: str) -> str:
    """How to draw ``task``'s examples: ``"image"``, ``"curve"`` or ``"vector"``.

    ``"image"``: inputs ``(n, C, H, W)``; ``"curve"``: regression with one input and one target per
    example; ``"vector"``: anything else (inputs flattened to ``(n, d)``).
    """
    if task.support_x.dim() == 4:
        return "image"
    one_input = tuple(task.support_x.shape[1:]) == (1,)
    one_target = task.support_y[0].numel() == 1
    if kind == "regression" and one_input and one_target:
        return "curve"
    return "vector"


def label_names(task: Task, n_way: int | None) -> list[str] | None:
    """Name of each local class label ``0 .. n_way-1`` (``metadata["class_names"]``, else the global ids
    in ``metadata["classes"]``, else the labels themselves); None when ``n_way`` is None (regression)."""
    if n_way is None:
        return None
    names = task.metadata.get("class_names") or [f"class {c}" for c in task.metadata.get("classes", [])]
    return [str(names[i]) if i < len(names) else str(i) for i in range(n_way)]


def _real(x: Tensor, y: Tensor, mask: Tensor | None, *extra: Tensor | None) -> tuple[Tensor | None, ...]:
    """Drop padded examples (``mask`` False) from ``x``, ``y`` and any ``extra`` per-example tensors."""
    if mask is None:
        return (x, y, *extra)
    return (x[mask], y[mask], *(None if e is None else e[mask] for e in extra))


def _label_text(y: Tensor, names: list[str] | None) -> list[str]:
    if names is None:  # regression: the first target value
        return [f"{v:.3g}" for v in y.reshape(len(y), -1)[:, 0].tolist()]
    return [names[int(v)] if 0 <= int(v) < len(names) else str(int(v)) for v in y.tolist()]


def examples_table(
    x: Tensor,
    y: Tensor,
    mask: Tensor | None = None,
    names: list[str] | None = None,
    pred: Tensor | None = None,
    max_columns: int = MAX_TABLE_COLUMNS,
) -> pd.DataFrame:
    """One row per real example: its label (or target), the prediction when given, its first input values.

    ``x`` is ``(n, *feature_shape)`` (flattened to ``(n, d)``; columns ``x[0] .. x[max_columns-1]``),
    ``y`` ``(n,)`` class labels (named by ``names``) or ``(n, ...)`` regression targets (first value
    shown), ``pred`` the model's ``(n, n_way)`` logits or ``(n, ...)`` outputs.
    """
    x, y, pred = _real(x, y, mask, pred)
    flat = x.reshape(len(x), -1)[:, :max_columns].numpy()
    table = pd.DataFrame({"label" if names is not None else "y": _label_text(y, names)})
    if pred is not None:
        column = "predicted" if names is not None else "prediction"
        table[column] = _label_text(pred.argmax(-1) if names is not None else pred, names)
    for j in range(flat.shape[1]):
        table[f"x[{j}]"] = flat[:, j]
    return table


def image_gallery(
    x: Tensor,
    y: Tensor,
    mask: Tensor | None = None,
    names: list[str] | None = None,
    pred: Tensor | None = None,
    max_images: int = MAX_IMAGES,
) -> tuple[list[np.ndarray], list[str]]:
    """Images ``(n, C, H, W)`` as displayable arrays with captions -> ``(images, captions)``.

    Each image is rescaled to ``[0, 1]`` on its own (inputs are usually normalised): ``(H, W)`` for one
    channel, ``(H, W, 3)`` for three (other channel counts show the first channel). Captions are the
    label, or ``"label → predicted"`` when ``pred`` (logits ``(n, n_way)``) is given. At most
    ``max_images`` real examples.
    """
    x, y, pred = _real(x, y, mask, pred)
    x, y = x[:max_images], y[:max_images]
    arrays = x.permute(0, 2, 3, 1).numpy() if x.shape[1] == 3 else x[:, 0].numpy()
    low = arrays.reshape(len(arrays), -1).min(1).reshape((-1,) + (1,) * (arrays.ndim - 1))
    high = arrays.reshape(len(arrays), -1).max(1).reshape((-1,) + (1,) * (arrays.ndim - 1))
    images = (arrays - low) / np.where(high > low, high - low, 1.0)
    captions = _label_text(y, names)
    if pred is not None:
        predicted = _label_text(pred[:max_images].argmax(-1), names)
        captions = [f"{t} → {p}" for t, p in zip(captions, predicted, strict=True)]
    return [np.clip(im, 0.0, 1.0).astype(np.float32) for im in images], captions


_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22")


def vector_figure(task: Task, names: list[str] | None, height: int = 420) -> go.Figure:
    """Plotly scatter of the first two input dimensions (one dimension: against the example index).

    Support examples are circles, query examples crosses; classes are coloured by ``names`` (one colour
    per class), regression targets on a continuous scale. Padded examples are left out.
    """
    import plotly.graph_objects as go

    fig = go.Figure()
    parts = {
        "support": _real(task.support_x, task.support_y, task.support_mask),
        "query": _real(task.query_x, task.query_y, task.query_mask),
    }
    symbols = {"support": "circle", "query": "x"}
    two_d = task.support_x[0].numel() >= 2
    for part, (x, y) in parts.items():
        flat = x.reshape(len(x), -1).numpy()
        px, py = (flat[:, 0], flat[:, 1]) if two_d else (flat[:, 0], np.arange(len(flat)))
        if names is None:
            fig.add_scatter(
                x=px,
                y=py,
                mode="markers",
                name=part,
                marker={
                    "symbol": symbols[part],
                    "size": 10 if part == "support" else 7,
                    "color": y.reshape(len(y), -1)[:, 0].numpy(),
                    "colorscale": "Viridis",
                    "showscale": part == "support",
                    "colorbar": {"title": {"text": "y"}},
                },
            )
            continue
        labels = y.numpy()
        for c, name in enumerate(names):
            rows = labels == c
            if not rows.any():
                continue
            fig.add_scatter(
                x=px[rows],
                y=py[rows],
                mode="markers",
                name=f"{name} ({part})",
                legendgroup=name,
                marker={
                    "symbol": symbols[part],
                    "size": 10 if part == "support" else 7,
                    "color": _PALETTE[c % len(_PALETTE)],
                },
            )
    return chart_layout(fig, height, x="x[0]", y="x[1]" if two_d else "example")


# ---------------------------------------------------------------------------- adaptation
@dataclass(frozen=True)
class Adaptation:
    """The learner before (0 inner steps) and after ``steps`` steps of test-time adaptation on one task.

    ``before`` / ``after`` are the adapted models; ``before_pred`` / ``after_pred`` their query
    predictions ``(n_query, n_way)`` or ``(n_query, ...)``; ``before_metrics`` / ``after_metrics`` the
    domain's metrics of those predictions.
    """

    steps: int
    before: AdaptedModel
    after: AdaptedModel
    before_pred: Tensor
    after_pred: Tensor
    before_metrics: dict[str, float]
    after_metrics: dict[str, float]


def adapt(model: DomainModel, task: Task, steps: int | None = None) -> Adaptation:
    """Adapt the learner on ``task``'s support set with 0 and with ``steps`` inner steps; score the query.

    ``steps`` defaults to the learner's ``test_inner_steps`` (what the evaluator uses). Metrics are
    ``model.domain.metrics`` (padded query examples excluded).
    """
    n_steps = model.learner.test_inner_steps if steps is None else int(steps)
    if n_steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    learner, domain = model.learner, model.domain
    before = learner.adapt(task.support_x, task.support_y, task.support_mask, steps=0)
    after = learner.adapt(task.support_x, task.support_y, task.support_mask, steps=n_steps)
    before_pred, after_pred = before.predict(task.query_x), after.predict(task.query_x)
    return Adaptation(
        steps=n_steps,
        before=before,
        after=after,
        before_pred=before_pred,
        after_pred=after_pred,
        before_metrics=domain.metrics(before_pred, task.query_y, task.query_mask),
        after_metrics=domain.metrics(after_pred, task.query_y, task.query_mask),
    )


def lower_is_better(metric: str) -> bool:
    """True for error-like metric names (MSE, loss, ...), whose decrease is an improvement."""
    return any(token in metric.lower() for token in _LOWER_IS_BETTER)


def metrics_table(adaptation: Adaptation) -> pd.DataFrame:
    """Query metrics before and after adaptation: index ``metric``, columns ``before (0 steps)``,
    ``after (N steps)`` and ``change`` (after - before)."""
    names = list(dict.fromkeys([*adaptation.before_metrics, *adaptation.after_metrics]))
    before = [adaptation.before_metrics.get(n, float("nan")) for n in names]
    after = [adaptation.after_metrics.get(n, float("nan")) for n in names]
    steps = adaptation.steps
    return pd.DataFrame(
        {
            "before (0 steps)": before,
            f"after ({steps} step{'s' if steps != 1 else ''})": after,
            "change": np.array(after) - np.array(before),
        },
        index=pd.Index(names, name="metric"),
    )


def curve_figure(task: Task, adaptation: Adaptation, n_grid: int = GRID_POINTS) -> go.Figure:
    """1-D regression: support and query points, and the model before / after adaptation on a grid.

    The grid spans the task's inputs (support and query) plus 5% on each side.
    """
    import plotly.graph_objects as go

    sx, sy = _real(task.support_x, task.support_y, task.support_mask)
    qx, qy = _real(task.query_x, task.query_y, task.query_mask)
    xs = torch.cat([sx, qx]).flatten()
    low, high = float(xs.min()), float(xs.max())
    pad = 0.05 * (high - low) or 1.0
    grid = torch.linspace(low - pad, high + pad, n_grid).unsqueeze(1).to(sx.dtype)
    g = grid.squeeze(1).numpy()
    fig = go.Figure()
    fig.add_scatter(
        x=g,
        y=adaptation.before.predict(grid).reshape(n_grid, -1)[:, 0].numpy(),
        name="before adaptation (0 steps)",
        line={"color": "#999999", "dash": "dash"},
    )
    fig.add_scatter(
        x=g,
        y=adaptation.after.predict(grid).reshape(n_grid, -1)[:, 0].numpy(),
        name=f"after adaptation ({adaptation.steps} steps)",
        line={"color": "#1f77b4", "width": 3},
    )
    fig.add_scatter(
        x=qx.flatten().numpy(),
        y=qy.reshape(len(qy), -1)[:, 0].numpy(),
        mode="markers",
        name=f"{len(qx)} query points",
        marker={"color": "#444444", "size": 7, "symbol": "x"},
    )
    fig.add_scatter(
        x=sx.flatten().numpy(),
        y=sy.reshape(len(sy), -1)[:, 0].numpy(),
        mode="markers",
        name=f"{len(sx)} support points",
        marker={"color": "#d62728", "size": 10},
    )
    return chart_layout(fig, 440, x="x", y="y", legend_y=-0.15)


# ---------------------------------------------------------------------------- method comparison
def _baseline_config(domain: Domain) -> BaselineConfig:
    return BaselineConfig(**domain.default_baselines())


def pooled_plan(domain: Domain) -> tuple[bool, str]:
    """Whether the pooled pre-training baselines join the comparison -> ``(include, reason)``.

    They do when the domain's pre-training budget (``default_baselines()["pretrain_steps"]``) is at
    most :data:`POOLED_MAX_PRETRAIN_STEPS` and, for classification, ``n_classes_total()`` is known.
    """
    config = _baseline_config(domain)
    if domain.kind == "classification" and domain.n_classes_total() is None:
        return False, "the domain does not say how many global classes it has (n_classes_total), so nothing pre-trains"
    if config.pretrain_steps > POOLED_MAX_PRETRAIN_STEPS:
        return False, (
            f"pre-training on pooled meta-train data takes {config.pretrain_steps} steps of "
            f"{config.pretrain_batch_size} examples here (the page runs it only up to {POOLED_MAX_PRETRAIN_STEPS}); "
            f"`metasuite eval {domain.name}` reports it"
        )
    return True, f"pre-trained for {config.pretrain_steps} steps on pooled meta-train data"


def comparison_methods(model: DomainModel, include_pooled: bool | None = None) -> list[Any]:
    """The methods compared: the meta-learner (:class:`~metasuite.core.evaluate.MetaMethod`) and the scratch
    baseline, plus the pooled pre-training baselines (:func:`metasuite.core.baselines.build_baselines`) when
    ``include_pooled`` (default: :func:`pooled_plan`). Baseline budgets: ``domain.default_baselines()``."""
    domain, n_way = model.domain, model.setting["n_way"]
    config = _baseline_config(domain)
    if include_pooled is None:
        include_pooled = pooled_plan(domain)[0]
    methods: list[Any] = [MetaMethod(model.learner, name=model.method_name)]
    if include_pooled:
        pretrained = pooled_model(domain, config.pretrain_steps, config.pretrain_batch_size, config.seed)
        methods += build_baselines(domain, n_way, config, pretrained)
    else:
        methods.append(ScratchBaseline(domain, n_way, config))
    return methods


def compare_methods(
    model: DomainModel,
    n_tasks: int = N_COMPARISON_TASKS,
    seed: int = COMPARISON_SEED,
    include_pooled: bool | None = None,
) -> dict[str, Any]:
    """Every :func:`comparison_methods` method on the same ``n_tasks`` fixed test tasks.

    Returns :func:`metasuite.core.evaluate.evaluate`'s report (``setting`` gains ``n_tasks``, ``seed``, ``split``).
    """
    if n_tasks < 1:
        raise ValueError(f"n_tasks must be >= 1, got {n_tasks}")
    tasks = fixed_tasks(model.test_sampler, n_tasks, seed)
    setting = {**model.setting, "split": "test", "n_tasks": len(tasks), "seed": seed}
    return evaluate(model.domain, comparison_methods(model, include_pooled), tasks, setting, progress=False)


def comparison_table(report: dict[str, Any], digits: int = 3) -> pd.DataFrame:
    """The report as a table: index ``method``, a ``kind`` column, one ``mean ± ci95`` column per metric
    (``—`` where a metric is undefined on every task), and ``tasks`` (how many counted)."""
    names = list(dict.fromkeys(n for r in report["results"] for n in r["metrics"]))
    rows = []
    for r in report["results"]:
        row: dict[str, Any] = {"method": r["method"], "kind": r["kind"]}
        for n in names:
            m = r["metrics"].get(n)
            row[n] = "—" if m is None or m["mean"] is None else format_mean_ci(m, digits)
        row["tasks"] = r["n_tasks"]
        rows.append(row)
    return pd.DataFrame(rows).set_index("method")


def is_rl_domain(domain_name: str) -> bool:
    """True for a domain whose tasks are environments (:class:`~metasuite.core.rl.domain.RLDomain`)."""
    return issubclass(get_domain_class(domain_name), RLDomain)


def shipped_curves(domain_name: str) -> list[Path]:
    """The adaptation-curve figures of the domain's shipped evaluations (``data/eval/<domain>/*curve*.png``)."""
    return sorted((EVAL / domain_name).glob("*curve*.png"))
