"""Any domain: the support and query sets of a test task, test-time adaptation, and a method comparison.

For every registered domain, including those without a page of their own (Home links here with
``?domain=NAME``). Layout only; every number comes from :mod:`metasuite.apps.logic.generic`.
"""

from __future__ import annotations

import math
from typing import Any

import streamlit as st

from metasuite.apps.logic import display_path, list_domains, next_task, user_path
from metasuite.apps.logic.generic import (
    ALGORITHM_NAMES,
    COMPARISON_SEED,
    DEFAULT_SEED,
    N_COMPARISON_TASKS,
    DomainModel,
    adapt,
    changed_options,
    compare_methods,
    comparison_table,
    curve_figure,
    default_domain,
    display_table,
    examples_table,
    format_number,
    image_gallery,
    is_rl_domain,
    key_value_text,
    label_names,
    load_model,
    lower_is_better,
    metrics_table,
    option_fields,
    option_specs,
    pooled_plan,
    recorded_options,
    sample_task,
    shipped_curves,
    shipped_runs,
    task_caption,
    task_view,
    vector_figure,
)
from metasuite.apps.logic.models import checkpoint_version
from metasuite.core.errors import MetasuiteError

st.set_page_config(page_title="Any domain · metasuite", page_icon=":material/category:", layout="wide")

UNTRAINED = "Untrained learner"
OTHER = "Another run folder…"
MAX_METRIC_CARDS = 4


# `options`: the changed domain options as sorted (name, value) pairs; () builds the domain as it always was.
@st.cache_resource(show_spinner="Loading the domain and its meta-learner…", max_entries=8)
def _model(domain_name: str, checkpoint: str | None, algorithm: str, stamp: int, options: tuple) -> DomainModel:
    return load_model(domain_name, checkpoint, algorithm, options=dict(options))


@st.cache_data(show_spinner=f"Comparing methods on {N_COMPARISON_TASKS} fixed test tasks…", max_entries=8)
def _comparison(domain_name: str, checkpoint: str | None, algorithm: str, stamp: int, options: tuple) -> dict[str, Any]:
    return compare_methods(_model(domain_name, checkpoint, algorithm, stamp, options))


@st.cache_data(max_entries=16)
def _recorded(checkpoint: str | None, stamp: int) -> dict[str, Any]:
    return recorded_options(checkpoint)


def _option_widget(field: dict[str, Any], key: str) -> Any:
    """One widget for one typed option (:func:`metasuite.apps.logic.generic.option_fields`)."""
    name, value, help_text = field["name"], field["value"], field["help"] or None
    if field["widget"] == "select":
        choices = field["choices"]
        index = choices.index(value) if value in choices else None
        return st.selectbox(name, choices, index=index, help=help_text, key=key)
    if field["widget"] == "checkbox":
        return st.checkbox(name, value=value, help=help_text, key=key)
    if field["widget"] == "number":
        return st.number_input(name, value=value, step=1 if field["type"] == "int" else None, help=help_text, key=key)
    return st.text_input(name, value=value, help=help_text, key=key, placeholder=f"not set ({field['type']})")


st.title("Any domain")
st.markdown(
    "Every domain gives the core the same things: a sampler of tasks (a small labelled **support set** and a "
    "**query set**), a backbone and its metrics. This page needs nothing else: it draws a test task, lets the "
    "meta-learner **adapt** on its support set, scores the query set **before and after** adaptation, and "
    "compares the meta-learner with the **scratch** baseline on fixed test tasks."
)

rows = list_domains()
names = [r["name"] for r in rows if r["error"] is None]
if not names:
    st.info("No domain loads: register one under the entry-point group `metasuite.domains` (see Home).")
    st.stop()
asked = st.query_params.get("domain")
start = asked if asked in names else default_domain(rows)
if asked is not None and asked not in names:
    st.warning(f"No loadable domain named `{asked}`; showing `{start}`.", icon=":material/info:")
by_name = {r["name"]: r for r in rows}
domain_name = st.selectbox(
    "Domain",
    names,
    index=names.index(start),
    format_func=lambda n: f"{by_name[n]['title']} ({n})" + ("" if by_name[n]["has_page"] else " · no own page"),
    key="domain",
)
st.query_params["domain"] = domain_name
row = by_name[domain_name]
own_page = " It also has a page of its own (see Home)." if row["has_page"] else ""
st.subheader(row["title"])
st.caption(f"`{domain_name}` · {row['kind']} · {row['description']}{own_page}")
if is_rl_domain(domain_name):  # tasks that are environments: no support/query sets to show
    st.info(
        f"`{domain_name}` is a reinforcement-learning domain: a task is an environment, adapted to from rollouts. "
        f"Train and evaluate it from the command line: `metasuite train {domain_name} --algo maml-rl --out DIR`, "
        f"`metasuite eval {domain_name} --checkpoint DIR --json OUT.json` (adaptation curves with 95% CIs).",
        icon=":material/info:",
    )
    for curve in shipped_curves(domain_name):
        st.image(str(curve), caption=f"shipped evaluation: {curve.name}")
    st.stop()

# ---------------------------------------------------------------------------- the meta-learner
shipped = shipped_runs(domain_name)
choices = [display_path(p) for p in shipped] + [UNTRAINED, OTHER]
ckpt_col, detail_col = st.columns([2, 3], vertical_alignment="bottom")
with ckpt_col:
    choice = st.selectbox(
        "Meta-learner",
        choices,
        key=f"checkpoint-{domain_name}",
        help="Shipped checkpoints are the run folders under data/checkpoints/<domain>/.",
    )
checkpoint: str | None = None
algorithm = "maml"
with detail_col:
    if choice == UNTRAINED:
        algorithm = st.selectbox("Algorithm", ALGORITHM_NAMES, index=ALGORITHM_NAMES.index("maml"), key="algo")
    elif choice == OTHER:
        typed = st.text_input("Run folder or .safetensors file (relative to the repository root)", key="run_folder")
        if not typed.strip():
            st.info("Type a run folder (e.g. `runs/mine`), or pick a shipped checkpoint or an untrained learner.")
            st.stop()
        checkpoint = str(user_path(typed))
    else:
        checkpoint = str(shipped[choices.index(choice)])

try:
    checkpoint_file, stamp = checkpoint_version(checkpoint) if checkpoint is not None else (None, 0)
    recorded = _recorded(checkpoint, stamp)
except MetasuiteError as exc:
    st.error(str(exc), icon=":material/error:")
    st.stop()

# ---------------------------------------------------------------------------- the domain's typed options
fields = option_fields(option_specs(domain_name), recorded)
chosen: dict[str, Any] = {}
if fields:
    with st.expander("Domain options"):
        st.caption(
            "The options the domain declares (its command-line flags). "
            + ("They start at the values the checkpoint was trained with. " if recorded else "")
            + "A changed value rebuilds the domain with it; text is read by the option's type."
        )
        values: dict[str, Any] = {}
        columns = st.columns(3)
        for i, f in enumerate(fields):
            with columns[i % 3]:
                key = f"option-{domain_name}-{checkpoint or 'untrained'}-{f['name']}"
                values[f["name"]] = _option_widget(f, key)
    chosen = changed_options(fields, values)
options = tuple(sorted(chosen.items()))

try:
    model = _model(domain_name, checkpoint, algorithm, stamp, options)
except MetasuiteError as exc:
    st.error(str(exc), icon=":material/error:")
    st.stop()
learner = model.learner
if chosen:
    st.caption(f"Domain rebuilt with the changed options: {key_value_text(chosen, '; ')}")
if model.source == "untrained":
    st.warning(
        f"**Untrained**: a {learner.name.upper()} learner with a random initialisation (backbone seed 0), not "
        f"meta-trained. Its adaptation starts from nothing learned; `metasuite train {domain_name} --algo "
        f"{learner.name} --out data/checkpoints/{domain_name}/{learner.name}` makes a checkpoint this page lists.",
        icon=":material/warning:",
    )
else:
    st.caption(
        f"{learner.name.upper()} checkpoint `{display_path(checkpoint_file)}`"
        + (f" · trained with the domain options ({key_value_text(recorded, '; ')})" if recorded else "")
        + f" · task shape ({key_value_text(model.setting, ', ')})"
    )

# ---------------------------------------------------------------------------- one test task
st.header("One test task")
st.session_state.setdefault("seed", DEFAULT_SEED)
seed_col, button_col, steps_col = st.columns([2, 1, 3], vertical_alignment="bottom")
with seed_col:
    seed = st.number_input("Task seed", min_value=0, max_value=10**9, step=1, key="seed")
with button_col:
    st.button("New task", on_click=next_task, args=(st.session_state,), icon=":material/casino:", width="stretch")
with steps_col:
    steps = st.slider(
        "Inner steps at test time",
        min_value=0,
        max_value=max(20, 2 * learner.test_inner_steps),
        value=learner.test_inner_steps,
        key=f"steps-{domain_name}-{choice}",
        help=f"The learner's own test-time setting is {learner.test_inner_steps} step(s) at lr {learner.inner_lr:g}.",
    )

try:
    task = sample_task(model, int(seed))
    adaptation = adapt(model, task, int(steps))
except MetasuiteError as exc:
    st.error(str(exc), icon=":material/error:")
    st.stop()
if task.metadata:
    st.caption("Task: " + task_caption(task.metadata))

st.subheader("Query metrics before and after adaptation")
st.caption(
    f"Before: the learner with 0 inner steps (its meta-learned starting point). After: {adaptation.steps} inner "
    "step(s) on this task's support set. Metrics are the domain's own, on the query set."
)
headline = list(adaptation.after_metrics.items())[:MAX_METRIC_CARDS]  # the first metric is the domain's headline
for col, (name, after) in zip(st.columns(len(headline)), headline, strict=True):
    before = adaptation.before_metrics.get(name, float("nan"))
    undefined = math.isnan(after) or math.isnan(before)
    col.metric(
        f"{name} after adaptation",
        format_number(after),
        delta=None if undefined else f"{format_number(after - before, signed=True)} vs before",
        delta_color="inverse" if lower_is_better(name) else "normal",
    )
st.dataframe(display_table(metrics_table(adaptation)))
if (adaptation.before_pred == adaptation.after_pred).all():
    st.caption("Adaptation does not change this learner's predictions with these steps (e.g. ProtoNet or 0 steps).")

view = task_view(task, model.domain.kind)
classes = label_names(task, model.setting["n_way"])
support_col, query_col = st.columns(2)
if view == "curve":
    st.plotly_chart(curve_figure(task, adaptation), key="curve_chart")
elif view == "image":
    with support_col:
        st.subheader(f"Support set ({int(task.n_support)} examples)")
        images, captions = image_gallery(task.support_x, task.support_y, task.support_mask, classes)
        st.image(images, caption=captions, width=96)
    with query_col:
        st.subheader(f"Query set ({int(task.n_query)} examples): true → predicted after adaptation")
        images, captions = image_gallery(task.query_x, task.query_y, task.query_mask, classes, adaptation.after_pred)
        st.image(images, caption=captions, width=96)
else:
    st.plotly_chart(vector_figure(task, classes), key="vector_chart")
    st.caption("The first two input dimensions; support examples are circles, query examples crosses.")
if view != "image":
    with support_col:
        st.subheader("Support set")
        st.dataframe(
            display_table(examples_table(task.support_x, task.support_y, task.support_mask, classes)), height=300
        )
    with query_col:
        st.subheader("Query set, with the adapted prediction")
        query = examples_table(task.query_x, task.query_y, task.query_mask, classes, adaptation.after_pred)
        st.dataframe(display_table(query), height=300)

# ---------------------------------------------------------------------------- method comparison
st.header("Method comparison")
include_pooled, reason = pooled_plan(model.domain)
st.caption(
    f"{N_COMPARISON_TASKS} fixed test tasks (seed {COMPARISON_SEED}), the same for every method; mean ± 95% CI "
    "(1.96·sd/√n) over tasks. Scratch trains the domain's backbone from a fresh initialisation on each support "
    "set with the domain's baseline budget."
)
if include_pooled:
    st.caption(f"Pooled pre-training baselines included: {reason}.")
else:
    st.info(f"Pooled pre-training baselines skipped: {reason}.", icon=":material/info:")
try:
    report = _comparison(domain_name, checkpoint, algorithm, stamp, options)
except MetasuiteError as exc:
    st.error(str(exc), icon=":material/error:")
    st.stop()
st.dataframe(comparison_table(report), key="comparison_table")
