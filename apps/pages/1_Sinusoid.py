"""Sinusoid page: watch a meta-learned model adapt to a new sine from K points, next to scratch.

Layout only; every number comes from :mod:`metasuite.apps.logic.sinusoid`.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from metasuite.apps.logic import card_table, next_task
from metasuite.apps.logic.models import MetaLearner, stand_in_notice
from metasuite.apps.logic.sinusoid import (
    DEFAULT_SEED,
    K_SHOTS,
    MAX_STEPS,
    adaptation_curves,
    adaptation_figure,
    load_sinusoid_model,
    model_card,
    mse_figure,
    mse_table,
    sample_task,
)

st.set_page_config(page_title="Sinusoid · metasuite", page_icon=":material/ssid_chart:", layout="wide")


@st.cache_resource(show_spinner="Loading the meta-learned sinusoid model…", max_entries=1)
def _model() -> tuple[MetaLearner, dict[str, Any]]:
    return load_sinusoid_model()


st.session_state.setdefault("seed", DEFAULT_SEED)

st.title("Sinusoid regression")
learner, meta = _model()
st.markdown(
    "Every task is a sine wave $y = A \\sin(x - \\varphi)$ with amplitude $A \\in [0.1, 5]$ and phase "
    "$\\varphi \\in [0, \\pi]$, seen only through **K support points**. The **meta-learned** MLP (1-40-40-1) "
    f"starts from an initialisation learned by {meta['algorithm'].upper()} over thousands of such tasks; the "
    "**scratch** MLP has the same architecture and a fresh random initialisation. Both then take the same "
    f"optimiser steps on the K points: full-batch **plain SGD at the inner-loop learning rate "
    f"{learner.inner_lr:g}**. Step 0 is each model before it has seen them."
)
if notice := stand_in_notice(meta):
    st.warning(notice, icon=":material/info:")

seed_col, button_col, k_col = st.columns([2, 1, 3], vertical_alignment="bottom")
with seed_col:
    seed = st.number_input("Task seed", min_value=0, max_value=10**9, step=1, key="seed")
with button_col:
    st.button("New task", on_click=next_task, args=(st.session_state,), icon=":material/casino:", width="stretch")
with k_col:
    k_shot = st.select_slider("K (support points)", options=K_SHOTS, value=10, key="k_shot")

task = sample_task(int(seed), int(k_shot))
curves = adaptation_curves(learner, task, MAX_STEPS)
step = st.slider(
    "Inner steps taken on the support points",
    min_value=0,
    max_value=MAX_STEPS,
    value=learner.test_inner_steps,
    key="step",
    help=f"The checkpoint was meta-trained with {learner.inner_steps} inner step(s) at lr {learner.inner_lr:g}.",
)

amp_col, phase_col, meta_col, scratch_col = st.columns(4)
amp_col.metric("Amplitude A", f"{task.amplitude:.2f}")
phase_col.metric("Phase φ (rad)", f"{task.phase:.2f}")
meta_mse, scratch_mse = curves.mse["meta-learned"], curves.mse["scratch"]
meta_col.metric(
    "Meta-learned MSE",
    f"{meta_mse[step]:.3f}",
    delta=f"{meta_mse[step] - meta_mse[0]:+.3f} vs step 0",
    delta_color="inverse",
)
scratch_col.metric(
    "Scratch MSE",
    f"{scratch_mse[step]:.3f}",
    delta=f"{scratch_mse[step] - scratch_mse[0]:+.3f} vs step 0",
    delta_color="inverse",
)

st.plotly_chart(adaptation_figure(task, curves, step), key="adaptation_chart")

chart_col, card_col = st.columns([3, 2])
with chart_col:
    st.subheader("MSE vs inner steps")
    st.caption(f"Mean squared error against the true curve on {task.grid_x.shape[0]} evenly spaced query points.")
    st.plotly_chart(mse_figure(curves, step), key="mse_chart")
    with st.expander("MSE table"):
        st.dataframe(mse_table(curves).style.format("{:.4f}"))
with card_col:
    st.subheader("Model card")
    st.table(card_table(model_card(meta)))
