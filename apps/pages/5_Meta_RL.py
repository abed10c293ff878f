"""Meta-RL page: a meta-learned policy meets a held-out task, before and after a few adaptation steps.

Layout only; every number and figure comes from :mod:`metasuite.apps.logic.rl`.
"""

from __future__ import annotations

import streamlit as st

from metasuite.apps.logic import RL_PAGE_DOMAINS, card_table, display_path, next_task
from metasuite.apps.logic.models import stand_in_notice
from metasuite.apps.logic.rl import (
    DEFAULT_SEED,
    DEFAULT_STEPS,
    MAX_STEPS,
    PATHS_SHOWN,
    RLModel,
    StageRollouts,
    adaptation_note,
    adaptation_rollouts,
    domain_title,
    evaluation_figure,
    evaluation_table,
    load_rl_model,
    model_card,
    page_checkpoints,
    path_view,
    return_figure,
    sample_task,
    shipped_evaluation,
    stage_labels,
    stage_table,
    task_goal,
    task_text,
    trajectory_figure,
)
from metasuite.core.errors import MetasuiteError

st.set_page_config(page_title="Meta-RL · metasuite", page_icon=":material/route:", layout="wide")


@st.cache_resource(show_spinner="Loading the meta-RL policy…", max_entries=4)
def _model(domain_name: str, checkpoint: str | None) -> RLModel:
    return load_rl_model(domain_name, checkpoint)


@st.cache_data(show_spinner="Rolling the policy out…", max_entries=64)
def _rollouts(domain_name: str, checkpoint: str | None, seed: int, steps: int) -> StageRollouts:
    model = _model(domain_name, checkpoint)
    task = sample_task(model.family, seed)
    return adaptation_rollouts(model.learner, model.family, task, steps, model.n_rollouts, seed)


st.session_state.setdefault("rl_seed", DEFAULT_SEED)

st.title("Meta-RL: adapting a policy to a new task")
st.markdown(
    "Here a task is an **environment**: the point robot's goal, or the goal of a Meta-World arm, hidden from "
    "the policy, which sees only where it is and the rewards it gets. The **meta-learned** policy was trained "
    "over many training tasks to adapt fast. It meets a **held-out** task (the test split, disjoint from "
    "training): it is rolled out as it is, then adapted with its own rule and rolled out again, up to N times. "
    "For **MAML-RL** each adaptation step is one policy-gradient step on the previous stage's rollouts (Finn et "
    "al. 2017, §5.3); for **RL²** the policy adapts in its recurrent state over the episodes of one trial."
)

if not RL_PAGE_DOMAINS:
    st.info("No meta-RL domain is installed (`navigation` comes with metasuite).", icon=":material/info:")
    st.stop()
asked = st.query_params.get("domain")
domain_name = st.selectbox(
    "Domain",
    RL_PAGE_DOMAINS,
    index=RL_PAGE_DOMAINS.index(asked) if asked in RL_PAGE_DOMAINS else 0,
    format_func=lambda name: f"{domain_title(name)} ({name})",
    key="rl_domain",
    disabled=len(RL_PAGE_DOMAINS) == 1,
)
st.query_params["domain"] = domain_name
runs = [display_path(run) for run in page_checkpoints(domain_name)]
checkpoint = st.selectbox("Policy", runs, key=f"rl_checkpoint-{domain_name}") if len(runs) > 1 else None
checkpoint = checkpoint or (runs[0] if runs else None)
try:
    model = _model(domain_name, checkpoint)
except MetasuiteError as exc:
    st.info(str(exc), icon=":material/info:")
    st.stop()
if notice := stand_in_notice(model.meta):
    st.warning(notice, icon=":material/info:")

seed_col, button_col, steps_col, paths_col = st.columns([2, 2, 3, 3], vertical_alignment="bottom")
with seed_col:
    seed = st.number_input("Task seed", min_value=0, max_value=10**9, step=1, key="rl_seed")
with button_col:
    st.button(
        "New task", on_click=next_task, args=(st.session_state, "rl_seed"), icon=":material/casino:", width="stretch"
    )
with steps_col:
    steps = st.slider("Adaptation steps N", min_value=1, max_value=MAX_STEPS, value=DEFAULT_STEPS, key="rl_steps")
with paths_col:
    n_shown = st.slider(
        "Rollouts drawn per stage",
        min_value=1,
        max_value=model.n_rollouts,
        value=min(PATHS_SHOWN, model.n_rollouts),
        key="rl_paths",
        help=f"Every stage is scored on {model.n_rollouts} rollouts; this many are drawn.",
    )

task = sample_task(model.family, int(seed))
rollouts = _rollouts(domain_name, checkpoint, int(seed), int(steps))
labels = stage_labels(model.learner, int(steps))
view = path_view(domain_name, model.family.obs_dim)
table = stage_table(rollouts, labels)

st.markdown(f"**Held-out task** (seed {seed}): {task_text(task, view, model.family)}")
before_col, after_col, success_col = st.columns(3)
before, after = table["return"].iloc[0], table["return"].iloc[-1]
before_col.metric(f"Return: {labels[0]}", f"{before:.1f}")
after_col.metric(f"Return: {labels[-1]}", f"{after:.1f}", delta=f"{after - before:+.1f} vs {labels[0]}")
success_col.metric(f"Success: {labels[-1]}", f"{100 * table['success'].iloc[-1]:.0f}%")

path_col, return_col = st.columns([3, 2])
with path_col:
    st.subheader("Paths")
    st.caption(
        f"{view.what.capitalize()} over {model.family.horizon} steps, coloured by stage: the mean over the stage's "
        f"{model.n_rollouts} rollouts (thick, a dot where it ends) and {n_shown} of them (thin; the policy samples "
        "its actions). Click a legend entry to hide a stage."
    )
    goal = task_goal(task, view, model.family)
    st.plotly_chart(trajectory_figure(rollouts, labels, view, goal, int(n_shown)), key="trajectory_chart")
with return_col:
    st.subheader("Return on this task")
    st.caption(
        f"Every rollout's return (dots) and their mean, at each stage; {model.n_rollouts} rollouts per stage. "
        + adaptation_note(model.learner)
    )
    st.plotly_chart(return_figure(rollouts, labels), key="return_chart")
    st.dataframe(table.style.format({"success": "{:.0%}"}, precision=1))

eval_col, card_col = st.columns([3, 2])
with eval_col:
    st.subheader("Test-set evaluation (shipped)")
    shipped = shipped_evaluation(domain_name, model.meta)
    if shipped is None:
        st.caption(
            "No shipped evaluation for this policy: `metasuite eval "
            f"{domain_name} --checkpoint DIR --baselines --json OUT.json` writes one."
        )
    else:
        eval_path, report = shipped
        s = report["setting"]
        st.caption(
            f"Not computed here: read from `{display_path(eval_path)}`. Mean over {s['n_tasks']} held-out "
            f"{s['split']} tasks (seed {s['seed']}), {s['rollouts_per_step']} fresh rollouts per column, each "
            "adaptation step learning from the previous column's rollouts; baselines trained by PPO "
            "(multi-task policy, the same fine-tuned, PPO from scratch). ± is the 95% CI over tasks."
        )
        st.plotly_chart(evaluation_figure(report), key="evaluation_chart")
        with st.expander("Evaluation table"):
            st.dataframe(evaluation_table(report))
with card_col:
    st.subheader("Model card")
    st.table(card_table(model_card(model.meta)))
