"""Driving page: recognise the driving scene in a road environment never seen in training, from K frames.

Layout only; every number comes from :mod:`metasuite.apps.logic.driving`.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import streamlit as st
from torch import nn

from metasuite.apps.logic import display_path
from metasuite.apps.logic.byo import (
    FINE_TUNE_STEPS,
    FineTuneJob,
    FineTuneJobs,
    compare_on_upload,
    fine_tune_folder,
    fine_tune_request,
    kept_step,
    sample_grid,
    write_upload_folder,
)
from metasuite.apps.logic.driving import (
    DEFAULT_CHECKPOINT,
    DEFAULT_SEED,
    ENSEMBLE_CHECKPOINTS,
    EVAL_COMMAND,
    EVAL_JSON,
    K_SHOTS,
    N_WAY,
    PAGE_FINETUNE,
    PRETRAIN_STEPS,
    ImagePool,
    MetaLearner,
    adapt_and_score,
    adaptation_delta,
    comparison_figure,
    confusion_figure,
    default_environment,
    environment_label,
    environment_pool,
    frames,
    load_eval_results,
    load_pooled_model,
    load_protonet_ensemble,
    load_uploaded_zip,
    sample_task,
    unseen_environments,
    upscale,
)
from metasuite.apps.logic.models import stand_in_notice
from metasuite.core.errors import DataError, TaskError

st.set_page_config(page_title="Driving · metasuite", page_icon=":material/directions_car:", layout="wide")

UPLOAD = "Upload a .zip"


@st.cache_resource(show_spinner="Loading the meta-learned ProtoNets…", max_entries=1)
def _protonets() -> tuple[list[MetaLearner], dict[str, Any]]:
    return load_protonet_ensemble()


@st.cache_resource(
    show_spinner=f"Pre-training the pooled supervised model ({PRETRAIN_STEPS} steps, once)…", max_entries=1
)
def _pooled() -> nn.Module:
    return load_pooled_model()


@st.cache_resource(show_spinner="Rendering the environment's frames…", max_entries=24)
def _environment_pool(environment: str) -> ImagePool:
    return environment_pool(environment)


@st.cache_resource(show_spinner="Reading the uploaded images…", max_entries=2)
def _uploaded_pool(data: bytes, name: str) -> ImagePool:
    return load_uploaded_zip(data, name)


def _show_grid(images: list, captions: list[str], per_row: int, width: int) -> None:
    for start in range(0, len(images), per_row):
        st.image(images[start : start + per_row], caption=captions[start : start + per_row], width=width)


st.title("Driving-scene classification")
learners, meta = _protonets()
ensemble_note = f", ensemble of {len(learners)}" if len(learners) > 1 else ""
st.markdown(
    f"Each task is **{N_WAY}-way K-shot**: {N_WAY} driving scenes (highway, tunnel, roundabout, …) in one road "
    "environment (weather × time of day × region) that **meta-training never saw**, known only from **K labelled "
    "frames per scene**. The **ProtoNet** embeds the support frames, averages them into one prototype per scene and "
    "labels each query frame by its nearest prototype (the shipped three ProtoNets, trained with seeds 0, 1 and 2, "
    "each adapt on their own and their class probabilities are averaged). **Before adaptation** is a supervised "
    "model trained on all "
    "meta-train frames pooled together; it never sees the support set, and scores the query frames with its "
    "logits over the task's scenes."
)
if notice := stand_in_notice(meta):
    st.warning(notice, icon=":material/info:")

environments = unseen_environments()
env_col, k_col, seed_col = st.columns([3, 1, 1], vertical_alignment="bottom")
with env_col:
    source = st.selectbox(
        "Unseen environment (meta-test split)",
        [*environments, UPLOAD],
        index=environments.index(default_environment(environments)),
        format_func=environment_label,
        key="environment",
        help="Weather, time of day and the region whose road style is drawn. The last option takes your own frames.",
    )
with k_col:
    k_shot = st.segmented_control("K (frames per scene)", K_SHOTS, default=K_SHOTS[0], key="k_shot") or K_SHOTS[0]
with seed_col:
    seed = st.number_input("Task seed", min_value=0, max_value=10**9, value=DEFAULT_SEED, step=1, key="seed")

if source == UPLOAD:
    upload = st.file_uploader(
        "A .zip of `<scene>/<images>` folders (at least 2 scenes, K + 1 frames each; 10+ to fine-tune)",
        type=["zip"],
        key="upload",
    )
    if upload is None:
        st.info("Upload a .zip to draw a task from your own frames.", icon=":material/upload:")
        st.stop()
    try:
        pool = _uploaded_pool(upload.getvalue(), upload.name)
    except DataError as exc:
        st.error(f"Could not use this upload: {exc}", icon=":material/error:")
        st.stop()
else:
    pool = _environment_pool(source)

# an upload of 2-4 scenes gives tasks of as many ways; the renders always have 5 scenes
n_way = min(N_WAY, max(2, len({c for by_class in pool.values() for c in by_class})))
try:
    task = sample_task(pool, int(k_shot), int(seed), n_way=n_way)
except (DataError, TaskError) as exc:
    st.error(f"Could not draw a task: {exc}", icon=":material/error:")
    st.stop()
names = task.metadata["class_names"]
finetune = source == UPLOAD and st.toggle(
    "Fine-tune on the support first (P>M>F)",
    key="finetune",
    help=f"Each shipped model fine-tunes a copy of itself for {PAGE_FINETUNE['steps']} steps at learning rate "
    f"{PAGE_FINETUNE['lr']:g} on flipped / cropped copies of the support frames before it adapts (about 0.6 s per "
    "model). On real photos unlike the renders it helps (day/night photos, 2-way 1-shot: 0.70 → 0.89); on frames "
    "like the renders it hurts. To choose for a whole folder: `metasuite eval driving --data-dir DIR --finetune-steps "
    "20 --finetune-select 50`.",
)
task_key = (source, int(k_shot), int(seed), tuple(names), bool(finetune))

st.subheader(f"Support set: {environment_label(task.metadata['environment'])}")
st.caption(f"{int(k_shot)} frame(s) of each of {n_way} scenes; {task.query_x.shape[0]} query frames to label.")
support = upscale(frames(task.support_x))
_show_grid(list(support), [names[int(y)] for y in task.support_y], per_row=max(n_way, int(k_shot)), width=144)

if st.button("Adapt", type="primary", icon=":material/bolt:"):
    st.session_state.adapted = task_key

if st.session_state.get("adapted") == task_key:
    with st.spinner("Fine-tuning on the support…") if finetune else contextlib.nullcontext():
        result = adapt_and_score(learners, _pooled(), task, finetune=finetune)
    after_col, before_col = st.columns(2)
    tuned_note = ", fine-tuned" if finetune else ""
    after_col.metric(f"Accuracy after adaptation (ProtoNet{ensemble_note}{tuned_note})", f"{result.accuracy:.0%}")
    if result.before_accuracy is None:
        before_col.metric("Accuracy before adaptation (pooled)", "—")
        before_col.caption("The uploaded scene names are not classes the pooled model was trained on.")
    else:
        before_col.metric(
            "Accuracy before adaptation (pooled)",
            f"{result.before_accuracy:.0%}",
            delta=adaptation_delta(result.accuracy, result.before_accuracy),
            delta_color="off",
        )
    grid_col, matrix_col = st.columns([3, 2])
    with grid_col:
        st.subheader("Query frames: predicted / true")
        captions = [
            f"{'✓' if p == t else '✗'} {names[p]} / {names[t]}"
            for p, t in zip(result.predictions.tolist(), task.query_y.tolist(), strict=True)
        ]
        _show_grid(list(upscale(frames(task.query_x))), captions, per_row=n_way, width=112)
    with matrix_col:
        st.subheader("Confusion matrix (adapted)")
        st.plotly_chart(confusion_figure(result.confusion, names), key="confusion_chart")
else:
    st.caption("Press **Adapt** to build the prototypes from the support frames and label the query frames.")

if source == UPLOAD:
    st.header("Bring your own frames: fine-tune on this upload")
    grid = sample_grid(pool)
    st.caption(
        f"Your {len(grid)} scene classes ({sum(n for _, n, _ in grid)} frames). Fine-tuning splits each class's frames "
        "60 / 20 / 20 into training, validation and held-out test frames (seeded by the class name), meta-trains the "
        "shipped ProtoNet further on tasks of the training frames (`metasuite train driving --data-dir DIR --init "
        "CHECKPOINT`), keeps the step with the best validation accuracy (the shipped weights themselves included: "
        "fine-tuning cannot leave a model that validates worse), and compares it with the shipped model on the same "
        "tasks of the held-out frames."
    )
    for cls, n, sample in grid:
        st.image(list(upscale(sample, 2)), caption=[f"{cls} ({n})"] + [""] * (len(sample) - 1), width=96)
    steps_col, go_col = st.columns([2, 1], vertical_alignment="bottom")
    steps = steps_col.select_slider(
        "Meta-training steps", options=sorted(FINE_TUNE_STEPS), value=FINE_TUNE_STEPS[0], key="byo_steps",
        help="About 0.3 s per step on one core here (5-way 1-shot, 48 px frames).",
    )  # fmt: skip
    shipped_seeds = [c for c in ENSEMBLE_CHECKPOINTS if (c / "best.json").is_file()]
    as_ensemble = len(shipped_seeds) > 1 and st.toggle(
        f"Fine-tune all {len(shipped_seeds)} shipped seeds",
        key="byo_ensemble",
        help=f"Fine-tunes each of the {len(shipped_seeds)} shipped ProtoNets (one after another: {len(shipped_seeds)}x "
        "the time) and compares the two ensembles, as the Adapt section above uses them. Off: the seed-0 model only.",
    )
    inits = shipped_seeds if as_ensemble else [DEFAULT_CHECKPOINT]
    if go_col.button("Fine-tune on my frames", icon=":material/model_training:", key="byo_go"):
        try:
            folder = write_upload_folder(pool)
        except DataError as exc:
            st.error(f"Cannot fine-tune on this upload: {exc}", icon=":material/error:")
            st.stop()
        outs = [fine_tune_folder(folder, init, int(steps)) for init in inits]
        runner = FineTuneJobs(
            [
                FineTuneJob(fine_tune_request(folder, init, int(steps), out, n_way, seed=i), out)
                for i, (init, out) in enumerate(zip(inits, outs, strict=True))
            ]
        ).start()
        what = f"{len(inits)} models" if len(inits) > 1 else "the model"
        bar = st.progress(0.0, text="Fine-tuning…")
        while runner.running:
            bar.progress(
                runner.progress(), text=f"Fine-tuning {what}: {runner.progress():.0%} of {int(steps)} steps each"
            )
            time.sleep(0.5)
        bar.empty()
        if runner.error is not None:
            st.error(f"Fine-tuning stopped: {runner.error}", icon=":material/error:")
            st.stop()
        with st.spinner("Scoring both on the held-out frames…"):
            st.session_state.byo = (
                upload.name,
                int(steps),
                len(inits),
                [kept_step(out) for out in outs],
                *compare_on_upload(folder, inits, outs, n_way=n_way),
            )
    byo = st.session_state.get("byo")
    if byo is not None and byo[:3] == (upload.name, int(steps), len(inits)):
        _, _, _, kept, table, paired = byo
        if not any(kept):
            st.info(
                "No meta-training step beat the shipped weights on your validation frames, so the shipped "
                f"{'models were' if len(kept) > 1 else 'model was'} kept: the rows below are the same. Try more "
                "frames per scene or more steps.",
                icon=":material/info:",
            )
        else:
            said = [f"step {k}" if k else "the shipped weights" for k in kept]
            st.caption(
                "Kept (best validation accuracy): "
                + (said[0] if len(said) == 1 else ", ".join(f"seed {i}: {w}" for i, w in enumerate(said)))
                + f", of {int(steps)} steps."
            )
        st.dataframe(
            table,
            hide_index=True,
            column_config={
                "accuracy": st.column_config.NumberColumn(format="%.3f"),
                "± 95% CI": st.column_config.NumberColumn(format="%.3f"),
            },
        )
        for p in paired:
            st.markdown(
                f"**K = {p['k_shot']}**: fine-tuned − shipped = {p['diff']:+.3f} [{p['lo']:+.3f}, {p['hi']:+.3f}] "
                f"over {p['n']} held-out tasks (paired bootstrap 95% CI)."
            )

st.header("Method comparison")
try:
    table = load_eval_results(EVAL_JSON)
except DataError as exc:
    st.error(str(exc), icon=":material/error:")
    table = None
if table is None:
    st.info(f"No evaluation yet at `{display_path(EVAL_JSON)}`. Produce it with\n\n`{EVAL_COMMAND}`")
else:
    st.caption("Mean query accuracy over evaluation tasks, with 95% confidence intervals.")
    st.plotly_chart(comparison_figure(table), key="comparison_chart")
