"""The Driving page's logic (tiny budgets) and the page itself through Streamlit's AppTest."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest
from torch import nn

from metasuite.apps.logic import APPS_DIR
from metasuite.apps.logic.driving import (
    DEFAULT_CHECKPOINT,
    ENSEMBLE_CHECKPOINTS,
    N_WAY,
    adapt_and_score,
    comparison_figure,
    confusion_matrix,
    default_environment,
    frames,
    load_eval_results,
    load_pooled_model,
    load_protonet,
    load_protonet_ensemble,
    load_uploaded_zip,
    pooled_logits,
    sample_task,
    unseen_environments,
)
from metasuite.core.errors import DataError
from metasuite.core.learners import make_learner
from metasuite.domains.driving import DrivingDomain
from metasuite.domains.driving.render import SCENE_CLASSES

DRIVING = str(APPS_DIR / "pages" / "2_Driving.py")
SIZE = 16  # tiny frames keep the logic tests fast; the page uses the domain's 48 px


def _pool(n_classes: int = 6, n_per_class: int = 7, size: int = SIZE, names: list[str] | None = None) -> dict:
    """A random image pool with one environment (frames are uint8 noise, one mean colour per class)."""
    rng = np.random.default_rng(0)
    names = names or list(SCENE_CLASSES[:n_classes])
    by_class = {c: rng.integers(0, 256, (n_per_class, size, size, 3), dtype=np.uint8) for c in names}
    return {"env": by_class}


def _learner(seed: int = 0) -> nn.Module:
    domain = DrivingDomain(image_size=SIZE, hidden=8)
    return make_learner(domain, "protonet", n_way=N_WAY, seed=seed)


class _GlobalLogits(nn.Module):
    """A stand-in pooled model whose logits favour one fixed global class for every frame."""

    def __init__(self, favourite: int, n_classes: int = len(SCENE_CLASSES)):
        super().__init__()
        self.favourite, self.n_classes = favourite, n_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(x.shape[0], self.n_classes)
        out[:, self.favourite] = 10.0
        return out


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _png(seed: int) -> bytes:
    from PIL import Image

    arr = np.random.default_rng(seed).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


# ---------------------------------------------------------------------------- data
def test_test_environments_are_the_meta_test_split_and_the_default_is_not_night() -> None:
    envs = unseen_environments()
    assert set(envs) == set(DrivingDomain().splits()["test"])
    assert set(envs).isdisjoint(DrivingDomain().splits()["train"])
    assert "night" not in default_environment(envs)
    assert default_environment(["foggy|night|japan"]) == "foggy|night|japan"


@pytest.mark.parametrize("k_shot", [1, 5])
def test_sample_task_shapes_and_metadata(k_shot: int) -> None:
    task = sample_task(_pool(n_per_class=16), k_shot, seed=3, n_query=10)
    assert task.support_x.shape == (N_WAY * k_shot, 3, SIZE, SIZE)
    assert task.query_x.shape == (N_WAY * 10, 3, SIZE, SIZE)
    assert sorted(task.support_y.tolist()) == sorted(list(range(N_WAY)) * k_shot)
    assert len(set(task.metadata["class_names"])) == N_WAY
    assert task.metadata["environment"] == "env"
    again = sample_task(_pool(n_per_class=16), k_shot, seed=3, n_query=10)
    assert torch.equal(task.query_x, again.query_x)  # the seed fixes the task


def test_sample_task_lowers_queries_to_fit_and_refuses_too_few_images() -> None:
    task = sample_task(_pool(n_per_class=4), 1, seed=0, n_query=10)
    assert task.query_x.shape[0] == N_WAY * 3
    with pytest.raises(DataError, match="at least 6 images"):
        sample_task(_pool(n_per_class=4), 5, seed=0)


def test_frames_inverts_the_domain_normalisation() -> None:
    from metasuite.domains.driving.domain import pool_to_tensor

    images = _pool()["env"]["highway"]
    assert np.array_equal(frames(pool_to_tensor(images)), images)


def test_uploaded_zip_is_read_as_one_environment() -> None:
    files = {f"mycam/scene{c}/img{i}.png": _png(10 * c + i) for c in range(5) for i in range(3)}
    pool = load_uploaded_zip(_zip(files), "mycam.zip", size=SIZE)
    assert list(pool) == ["mycam"]
    assert sorted(pool["mycam"]) == [f"scene{c}" for c in range(5)]
    assert pool["mycam"]["scene0"].shape == (3, SIZE, SIZE, 3)
    flat = {f"scene{c}/img{i}.png": _png(i) for c in range(5) for i in range(2)}  # no top folder
    assert sorted(load_uploaded_zip(_zip(flat), "flat.zip", size=SIZE)["flat"]) == [f"scene{c}" for c in range(5)]
    task = sample_task(pool, 1, seed=0)
    assert task.query_x.shape[0] == N_WAY * 2


def test_bad_uploads_raise_data_errors_a_user_can_act_on() -> None:
    with pytest.raises(DataError, match=r"not a readable \.zip"):
        load_uploaded_zip(b"definitely not a zip", "bad.zip")
    with pytest.raises(DataError, match="at least 2 scenes"):
        load_uploaded_zip(_zip({"c0/a.png": _png(0), "c0/b.png": _png(1)}), "one.zip", size=SIZE)
    three = load_uploaded_zip(
        _zip({f"c{c}/a{i}.png": _png(c + i) for c in range(3) for i in range(2)}), "3.zip", size=SIZE
    )
    assert sample_task(three, 1, seed=0, n_way=3).support_x.shape[0] == 3  # fewer scenes: a task of as many ways
    with pytest.raises(DataError):
        load_uploaded_zip(_zip({"readme.txt": b"no images here"}), "empty.zip", size=SIZE)


# ---------------------------------------------------------------------------- adaptation
def test_adapt_and_score_accuracies_and_confusion() -> None:
    task = sample_task(_pool(), 1, seed=1, n_query=6)
    favourite = SCENE_CLASSES.index(task.metadata["class_names"][2])
    result = adapt_and_score(_learner(), _GlobalLogits(favourite), task)
    assert isinstance(result.accuracy, float) and 0.0 <= result.accuracy <= 1.0
    assert result.confusion.shape == (N_WAY, N_WAY)
    assert result.confusion.sum() == task.query_x.shape[0]
    assert np.array_equal(result.confusion.sum(axis=1), np.bincount(task.query_y.numpy(), minlength=N_WAY))
    assert result.accuracy == pytest.approx(np.trace(result.confusion) / result.confusion.sum())
    # the pooled model always says local class 2: accuracy is exactly that class's share of the queries
    assert (result.before_predictions == 2).all()
    assert result.before_accuracy == pytest.approx(1 / N_WAY)


def test_an_ensemble_scores_the_mean_of_its_members_probabilities() -> None:
    task = sample_task(_pool(), 1, seed=1, n_query=6)
    members = [_learner(), _learner(seed=1)]
    both = adapt_and_score(members, None, task)
    with torch.no_grad():
        probs = [m.adapt(task.support_x, task.support_y).predict(task.query_x).softmax(-1) for m in members]
    assert not torch.allclose(probs[0], probs[1])  # two different members
    assert np.array_equal(both.predictions, ((probs[0] + probs[1]) / 2).argmax(-1).numpy())
    assert both.confusion.sum() == task.query_x.shape[0] and both.before_accuracy is None
    assert adapt_and_score([members[0]], None, task).accuracy == adapt_and_score(members[0], None, task).accuracy
    with pytest.raises(ValueError, match="at least one"):
        adapt_and_score([], None, task)


def test_finetuning_on_the_support_first_is_reproducible_and_leaves_the_shipped_models_alone() -> None:
    task = sample_task(_pool(), 1, seed=1, n_query=6)
    members = [_learner(), _learner(seed=1)]
    before = [{k: v.clone() for k, v in m.state_dict().items()} for m in members]
    tuned, again = adapt_and_score(members, None, task, finetune=True), adapt_and_score(members, None, task, True)
    plain = adapt_and_score(members, None, task)
    assert np.array_equal(tuned.predictions, again.predictions) and tuned.accuracy == again.accuracy
    assert tuned.confusion.sum() == task.query_x.shape[0]
    for m, b in zip(members, before, strict=True):  # each model fine-tuned a copy of itself
        assert all(torch.equal(b[k], v) for k, v in m.state_dict().items())
    assert np.array_equal(adapt_and_score(members, None, task).predictions, plain.predictions)


def test_the_page_loads_every_shipped_ensemble_member() -> None:
    learners, meta = load_protonet_ensemble()
    shipped = [c for c in ENSEMBLE_CHECKPOINTS if (c / "best.json").is_file()]
    assert meta["source"] == "checkpoint" and len(learners) == len(shipped) == 3
    assert len({id(m) for m in learners}) == 3


def test_pooled_predictions_only_range_over_the_task_classes() -> None:
    task = sample_task(_pool(n_classes=12), 1, seed=2, n_query=3)
    outside = next(i for i, c in enumerate(SCENE_CLASSES) if c not in task.metadata["class_names"])
    logits = pooled_logits(_GlobalLogits(outside), task, list(SCENE_CLASSES))
    assert logits is not None and logits.shape == (task.query_x.shape[0], N_WAY)
    # the favourite global class is not in the task, so it cannot be predicted
    assert (logits.max(dim=-1).values == 0).all()
    renamed = sample_task(_pool(names=["a", "b", "c", "d", "e"]), 1, seed=0, n_query=2)
    assert pooled_logits(_GlobalLogits(0), renamed, list(SCENE_CLASSES)) is None


def test_confusion_matrix_counts_rows_true_columns_predicted() -> None:
    m = confusion_matrix(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 1]), 3)
    assert m.tolist() == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]


def test_pooled_model_is_cached_and_reloads_identically(tmp_path: Path) -> None:
    first = load_pooled_model(tmp_path, steps=1, batch_size=4)
    assert list(tmp_path.glob("*.safetensors"))
    second = load_pooled_model(tmp_path, steps=1, batch_size=4)
    x = torch.randn(6, 3, 48, 48)
    with torch.no_grad():
        assert torch.allclose(first(x), second(x))
    assert first(x).shape == (6, len(SCENE_CLASSES))


# ---------------------------------------------------------------------------- eval JSON
def test_eval_results_table_and_figure(tmp_path: Path) -> None:
    assert load_eval_results(tmp_path / "missing.json") is None
    report = {
        "domain": "driving",
        "setting": {"n_tasks": 10},
        "results": [
            {
                "method": m,
                "kind": "meta" if m == "protonet" else "baseline",
                "metrics": {"accuracy": {"mean": acc, "ci95": 0.02}},
                "setting": {"split": "test", "k_shot": k},
            }
            for m, acc in (("protonet", 0.6), ("scratch", 0.3))
            for k in (1, 5)
        ],
    }
    path = tmp_path / "eval.json"
    path.write_text(json.dumps(report))
    table = load_eval_results(path)
    assert table is not None and len(table) == 4
    assert set(table["k_shot"]) == {1, 5}
    fig = comparison_figure(table)
    assert [bar.name for bar in fig.data] == ["protonet", "scratch"]
    path.write_text(json.dumps({"results": [{"method": "x"}]}))
    with pytest.raises(DataError, match="eval JSON"):
        load_eval_results(path)


# ---------------------------------------------------------------------------- the page
@pytest.fixture(scope="module")
def _models_ready() -> None:
    """Load (or train and cache) both models outside AppTest's per-run timeout."""
    load_protonet()
    load_pooled_model()


@pytest.mark.usefixtures("_models_ready")
def test_driving_page_renders_support_set_and_adapts() -> None:
    at = AppTest.from_file(DRIVING, default_timeout=120).run()
    assert not at.exception
    assert at.title[0].value == "Driving-scene classification"
    env = at.selectbox(key="environment").value
    assert "night" not in env and env in unseen_environments()
    support = at.get("image")
    assert support and sum(len(block.value) for block in support) == N_WAY  # K = 1 by default
    assert sorted(c for block in support for c in block.captions) == sorted(
        c for c in SCENE_CLASSES if c in support[0].captions
    )
    shipped = (DEFAULT_CHECKPOINT / "best.safetensors").exists()
    assert bool(at.warning) != shipped  # the stand-in warning shows exactly when no checkpoint is shipped
    assert not at.metric
    at.button[0].click().run()
    assert not at.exception
    labels = [m.label for m in at.metric]
    after = "Accuracy after adaptation (ProtoNet, ensemble of 3)" if shipped else "Accuracy after adaptation (ProtoNet)"
    assert labels == [after, "Accuracy before adaptation (pooled)"]
    assert at.metric[0].value.endswith("%")
    assert at.get("plotly_chart")  # the confusion matrix
    query = at.get("image")[1:]
    assert all(c.startswith(("✓", "✗")) and " / " in c for block in query for c in block.captions)


@pytest.mark.usefixtures("_models_ready")
def test_driving_page_k5_shows_five_frames_per_scene() -> None:
    at = AppTest.from_file(DRIVING, default_timeout=120).run()
    at.button_group(key="k_shot").set_value(5).run()
    assert not at.exception
    assert sum(len(block.value) for block in at.get("image")) == N_WAY * 5
