"""The app's computations (apps.logic), called directly without Streamlit."""

from __future__ import annotations

from dataclasses import replace
from importlib.metadata import EntryPoint
from pathlib import Path

import numpy as np
import pytest
import torch

from metasuite.apps.logic import APPS_DIR, list_domains
from metasuite.apps.logic.models import quick_train
from metasuite.apps.logic.sinusoid import (
    GRID_POINTS,
    MAX_STEPS,
    STAND_IN,
    adaptation_curves,
    adaptation_figure,
    load_sinusoid_model,
    model_card,
    mse_figure,
    mse_table,
    sample_task,
    sine,
)
from metasuite.core.algorithms import MetaLearner
from metasuite.core.backbones import build_backbone
from metasuite.core.errors import CheckpointError
from metasuite.core.tasks import derive_seed
from metasuite.domains.sinusoid import SinusoidDomain
from metasuite.domains.sinusoid.domain import AMPLITUDE, PHASE, X_RANGE


@pytest.fixture(scope="module")
def model() -> tuple[MetaLearner, dict]:
    """The page's model: the shipped checkpoint, or the quick MAML it falls back to (cached)."""
    return load_sinusoid_model()


# ---------------------------------------------------------------------------- Home
def test_list_domains_has_sinusoid_with_its_page() -> None:
    rows = {row["name"]: row for row in list_domains()}
    sinusoid = rows["sinusoid"]
    assert sinusoid["kind"] == "regression"
    assert sinusoid["error"] is None
    assert sinusoid["has_page"] and (APPS_DIR / sinusoid["page"]).is_file()


def test_list_domains_shows_a_broken_domain_without_hiding_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    from metasuite.core import registry

    real = registry.available_domains()
    broken = EntryPoint(name="broken", value="no_such_module_xyz:Domain", group=registry.ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry, "available_domains", lambda: {**real, "broken": broken})
    rows = {row["name"]: row for row in list_domains()}
    assert "ModuleNotFoundError" in rows["broken"]["error"]
    assert not rows["broken"]["has_page"]
    assert rows["sinusoid"]["error"] is None


# ---------------------------------------------------------------------------- tasks
@pytest.mark.parametrize("k_shot", [5, 10, 20])
def test_sample_task_shapes_and_ground_truth(k_shot: int) -> None:
    task = sample_task(3, k_shot)
    assert task.support_x.shape == task.support_y.shape == (k_shot, 1)
    assert task.grid_x.shape == task.grid_y.shape == (GRID_POINTS, 1)
    assert AMPLITUDE[0] <= task.amplitude <= AMPLITUDE[1] and PHASE[0] <= task.phase <= PHASE[1]
    torch.testing.assert_close(task.support_y, sine(task.support_x, task.amplitude, task.phase))
    torch.testing.assert_close(task.grid_y, sine(task.grid_x, task.amplitude, task.phase))
    assert float(task.grid_x.min()) == X_RANGE[0] and float(task.grid_x.max()) == X_RANGE[1]


def test_sample_task_is_deterministic_per_seed() -> None:
    a, b, c = sample_task(7, 10), sample_task(7, 10), sample_task(8, 10)
    torch.testing.assert_close(a.support_x, b.support_x)
    assert (a.amplitude, a.phase) == (b.amplitude, b.phase)
    assert (a.amplitude, a.phase) != (c.amplitude, c.phase)
    # changing K keeps the curve, so the page's K slider shows the same sine with more points
    assert (sample_task(7, 20).amplitude, sample_task(7, 20).phase) == (a.amplitude, a.phase)


def test_sample_task_rejects_empty_support() -> None:
    with pytest.raises(ValueError, match="k_shot must be >= 1"):
        sample_task(0, 0)


# ---------------------------------------------------------------------------- adaptation
def test_curves_shapes_and_mse_match_predictions(model: tuple[MetaLearner, dict]) -> None:
    learner, _ = model
    task = sample_task(1, 5)
    curves = adaptation_curves(learner, task, max_steps=4)
    assert list(curves.steps) == [0, 1, 2, 3, 4]
    for name in ("meta-learned", "scratch"):
        assert curves.predictions[name].shape == (5, GRID_POINTS)
        expected = ((curves.predictions[name] - task.grid_y.squeeze(-1).numpy()[None]) ** 2).mean(axis=1)
        np.testing.assert_allclose(curves.mse[name], expected, rtol=1e-5)
    table = mse_table(curves)
    assert table.index.name == "step" and list(table.columns) == ["meta-learned", "scratch"]
    assert table.shape == (5, 2)


def test_step_zero_is_the_unadapted_model(model: tuple[MetaLearner, dict]) -> None:
    learner, _ = model
    task = sample_task(2, 10)
    curves = adaptation_curves(learner, task)
    with torch.no_grad():
        unadapted = learner.backbone(task.grid_x).squeeze(-1).numpy()
    np.testing.assert_allclose(curves.predictions["meta-learned"][0], unadapted, rtol=1e-6, atol=1e-6)
    assert not np.allclose(curves.predictions["meta-learned"][1], unadapted)


def test_scratch_is_plain_sgd_at_the_inner_lr_from_a_seeded_init(model: tuple[MetaLearner, dict]) -> None:
    """The page's claim: scratch takes the inner loop's own optimiser (full-batch SGD, same lr)."""
    learner, _ = model
    task = sample_task(4, 10)
    steps = 3
    curves = adaptation_curves(learner, task, max_steps=steps, scratch_seed=5)
    spec = learner.backbone_spec
    net = build_backbone(spec["name"], seed=derive_seed(5, "scratch"), **spec["kwargs"])
    opt = torch.optim.SGD(net.parameters(), lr=learner.inner_lr)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.mse_loss(net(task.support_x), task.support_y).backward()
        opt.step()
    with torch.no_grad():
        reference = net(task.grid_x).squeeze(-1).numpy()
    np.testing.assert_allclose(curves.predictions["scratch"][steps], reference, rtol=1e-5, atol=1e-6)


def test_adaptation_is_deterministic(model: tuple[MetaLearner, dict]) -> None:
    learner, _ = model
    a = adaptation_curves(learner, sample_task(9, 10), max_steps=3)
    b = adaptation_curves(learner, sample_task(9, 10), max_steps=3)
    for name in ("meta-learned", "scratch"):
        np.testing.assert_array_equal(a.predictions[name], b.predictions[name])


def test_meta_learned_beats_scratch_on_average(model: tuple[MetaLearner, dict]) -> None:
    learner, _ = model
    finals = {"meta-learned": [], "scratch": [], "meta-learned at 0": []}
    for seed in range(10):
        curves = adaptation_curves(learner, sample_task(seed, 10))
        finals["meta-learned"].append(curves.mse["meta-learned"][MAX_STEPS])
        finals["meta-learned at 0"].append(curves.mse["meta-learned"][0])
        finals["scratch"].append(curves.mse["scratch"][MAX_STEPS])
    mean = {k: float(np.mean(v)) for k, v in finals.items()}
    assert mean["meta-learned"] < 0.5 * mean["scratch"], mean
    assert mean["meta-learned"] < 0.5 * mean["meta-learned at 0"], mean  # adaptation itself helps


# ---------------------------------------------------------------------------- checkpoints
def test_explicit_checkpoint_round_trip_and_model_card(tmp_path: Path) -> None:
    run = quick_train(SinusoidDomain(), replace(STAND_IN, steps=3), tmp_path / "run")
    learner, meta = load_sinusoid_model(run)
    again, _ = load_sinusoid_model(run / "best.safetensors")
    assert meta["source"] == "checkpoint"
    for name, value in learner.state_dict().items():
        torch.testing.assert_close(value, again.state_dict()[name])
    card = model_card(meta)
    assert card["algorithm"] == "maml"
    assert card["training steps"] == 3 and card["best step"] == 3
    assert isinstance(card["val MSE"], float) and card["train K"] == 10
    assert card["file"].endswith("best.safetensors")
    stamp = (run / "best.safetensors").stat().st_mtime_ns
    assert quick_train(SinusoidDomain(), replace(STAND_IN, steps=3), run) == run
    assert (run / "best.safetensors").stat().st_mtime_ns == stamp  # a finished run is reused, not retrained


def test_missing_explicit_checkpoint_raises(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"no checkpoint 'best\.safetensors'"):
        load_sinusoid_model(tmp_path)


def test_default_model_has_a_model_card(model: tuple[MetaLearner, dict]) -> None:
    learner, meta = model
    assert meta["source"] in ("checkpoint", "quick-train")
    card = model_card(meta)
    assert card["algorithm"] == learner.name
    assert card["training steps"] and card["val MSE"] is not None


# ---------------------------------------------------------------------------- figures
def test_figures_show_every_series(model: tuple[MetaLearner, dict]) -> None:
    learner, _ = model
    task = sample_task(0, 5)
    curves = adaptation_curves(learner, task, max_steps=2)
    fig = adaptation_figure(task, curves, step=2)
    names = [trace.name for trace in fig.data]
    assert names[0] == "true curve" and names[-1] == "5 support points"
    assert any(n.startswith("meta-learned") for n in names) and any(n.startswith("scratch") for n in names)
    np.testing.assert_allclose(fig.data[1].y, curves.predictions["meta-learned"][2])
    assert len(mse_figure(curves, step=1).data) == 2
    with pytest.raises(ValueError, match="step must lie in"):
        adaptation_figure(task, curves, step=3)
