"""The generic "Any domain" page: its logic (views, adaptation, comparison) and the page through AppTest.

Logic tests use the sinusoid domain (1-D regression: the curve view), the tiny Gaussian-cluster
classification domain of ``conftest.py`` (vectors, and images from the same sampler) and the trading
domain (vectors, fixed label space). The page runs for ``sinusoid`` and ``trading`` with their shipped
checkpoints, and for a page-less domain registered on the fly, which Home links to the page.
"""

from __future__ import annotations

import json
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import IMAGE_SHAPE, VECTOR_DIM, GaussianClassSampler, TinyClassificationDomain, gen
from streamlit.testing.v1 import AppTest

from metasuite.apps.logic import APPS_DIR, GENERIC_PAGE, list_domains
from metasuite.apps.logic.generic import (
    POOLED_MAX_PRETRAIN_STEPS,
    DomainModel,
    adapt,
    compare_methods,
    comparison_table,
    curve_figure,
    default_domain,
    examples_table,
    image_gallery,
    label_names,
    load_model,
    lower_is_better,
    metrics_table,
    pooled_plan,
    sample_task,
    shipped_runs,
    task_view,
    untrained_model,
    vector_figure,
)
from metasuite.core import registry
from metasuite.core.errors import CheckpointError
from metasuite.core.tasks import Task, fixed_tasks

PAGE = str(APPS_DIR / GENERIC_PAGE)
HOME = str(APPS_DIR / "Home.py")


class CheapPretrainDomain(TinyClassificationDomain):
    """The tiny domain with a pre-training budget small enough for the page's pooled baselines."""

    name = "tiny-cheap"

    def default_baselines(self) -> dict[str, Any]:
        return {"pretrain_steps": 20, "pretrain_batch_size": 32, "scratch_steps": 20, "finetune_steps": 5}


def _shipped(domain: str) -> Path:
    runs = shipped_runs(domain)
    if not runs:
        pytest.skip(f"no shipped checkpoint under data/checkpoints/{domain}/")
    return runs[0]


@pytest.fixture(scope="module")
def sinusoid() -> DomainModel:
    return load_model("sinusoid", _shipped("sinusoid"))


@pytest.fixture(scope="module")
def tiny() -> DomainModel:
    return untrained_model(TinyClassificationDomain(), "maml", seed=0)


# ---------------------------------------------------------------------------- choosing domains and models
def _row(name: str, has_page: bool, error: str | None = None) -> dict[str, Any]:
    return {"name": name, "has_page": has_page, "error": error}


def test_default_domain_is_the_first_loadable_one_without_a_page() -> None:
    rows = [_row("a", True), _row("b", False, error="ImportError: x"), _row("c", False), _row("d", False)]
    assert default_domain(rows) == "c"
    assert default_domain([_row("a", True), _row("b", True)]) == "a"
    assert default_domain([_row("a", True), _row("sinusoid", True)]) == "sinusoid"  # the light fallback
    assert default_domain([_row("a", False, error="boom")]) is None
    # metasuite's own page-less domains (few-shot images, navigation) are slower than the light fallback
    builtin = {**_row("fewshot", False), "builtin": True}
    assert default_domain([builtin, _row("sinusoid", True)]) == "sinusoid"
    assert default_domain([builtin, _row("sinusoid", True), _row("mine", False)]) == "mine"


def test_shipped_runs_are_run_folders_holding_best_safetensors(tmp_path: Path) -> None:
    for run in ("maml", "anil"):
        (tmp_path / "dom" / run).mkdir(parents=True)
        (tmp_path / "dom" / run / "best.safetensors").write_bytes(b"")
    (tmp_path / "dom" / "half-written").mkdir()
    (tmp_path / "dom" / "half-written" / "last.safetensors").write_bytes(b"")
    assert shipped_runs("dom", tmp_path) == [tmp_path / "dom" / "anil", tmp_path / "dom" / "maml"]
    assert shipped_runs("other", tmp_path) == []


def test_a_checkpoint_of_another_domain_or_a_missing_one_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="trained on domain 'sinusoid'"):
        load_model("trading", _shipped("sinusoid"))
    with pytest.raises(CheckpointError, match=r"no checkpoint 'best\.safetensors'"):
        load_model("sinusoid", tmp_path)


def test_untrained_model_is_labelled_untrained_in_the_comparison(tiny: DomainModel) -> None:
    assert tiny.source == "untrained" and tiny.label == "untrained"
    assert tiny.method_name == "maml (untrained)"
    assert tiny.setting == {"n_way": 3, "k_shot": 2, "n_query": 3}


# ---------------------------------------------------------------------------- views
def test_views_follow_the_shape_of_the_inputs(sinusoid: DomainModel, tiny: DomainModel) -> None:
    assert task_view(sample_task(sinusoid, 0), "regression") == "curve"
    assert task_view(sample_task(tiny, 0), "classification") == "vector"
    images = GaussianClassSampler(IMAGE_SHAPE).sample(gen(0))
    assert task_view(images, "classification") == "image"
    # several inputs per example is not a 1-D curve, even for regression
    multi = Task(torch.randn(4, 3), torch.randn(4, 1), torch.randn(2, 3), torch.randn(2, 1))
    assert task_view(multi, "regression") == "vector"


def test_same_seed_same_task(tiny: DomainModel) -> None:
    a, b, c = sample_task(tiny, 5), sample_task(tiny, 5), sample_task(tiny, 6)
    assert torch.equal(a.support_x, b.support_x)
    assert not torch.equal(a.support_x, c.support_x)


def test_label_names_come_from_class_names_or_global_ids() -> None:
    task = Task(torch.zeros(2, 1), torch.tensor([0, 1]), torch.zeros(1, 1), torch.tensor([0]))
    assert label_names(task, 2) == ["0", "1"]
    task.metadata["classes"] = [24, 30]
    assert label_names(task, 2) == ["class 24", "class 30"]
    task.metadata["class_names"] = ["down", "up"]
    assert label_names(task, 2) == ["down", "up"]
    assert label_names(task, None) is None


def test_examples_table_drops_padded_examples_and_names_labels() -> None:
    x = torch.arange(4 * 12, dtype=torch.float32).reshape(4, 12)
    y = torch.tensor([0, 1, 1, 0])
    mask = torch.tensor([True, True, False, True])
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [5.0, 0.0], [0.0, 3.0]])
    table = examples_table(x, y, mask, ["down", "up"], logits, max_columns=8)
    assert list(table.columns) == ["label", "predicted", *[f"x[{j}]" for j in range(8)]]
    assert table["label"].tolist() == ["down", "up", "down"]
    assert table["predicted"].tolist() == ["down", "up", "up"]
    assert table["x[0]"].tolist() == [0.0, 12.0, 36.0]  # the masked third example is gone
    regression = examples_table(torch.tensor([[0.5], [1.5]]), torch.tensor([[1.0], [-2.0]]), pred=torch.ones(2, 1))
    assert list(regression.columns) == ["y", "prediction", "x[0]"]


def test_vector_figure_has_a_trace_per_class_and_set(tiny: DomainModel) -> None:
    task = sample_task(tiny, 0)
    names = label_names(task, 3)
    fig = vector_figure(task, names)
    assert [t.name for t in fig.data] == [f"{n} ({part})" for part in ("support", "query") for n in names]
    assert {t.marker.symbol for t in fig.data[:3]} == {"circle"} and {t.marker.symbol for t in fig.data[3:]} == {"x"}
    support = fig.data[0]
    np.testing.assert_allclose(support.x, task.support_x[task.support_y == 0, 0].numpy())
    np.testing.assert_allclose(support.y, task.support_x[task.support_y == 0, 1].numpy())
    assert fig.layout.xaxis.title.text == "x[0]" and VECTOR_DIM >= 2


@pytest.mark.parametrize("channels", [1, 3])
def test_image_gallery_rescales_each_image_and_captions_it(channels: int) -> None:
    task = GaussianClassSampler((channels, 8, 8), n_way=3, k_shot=5).sample(gen(1))
    logits = torch.nn.functional.one_hot(torch.tensor([2] * task.n_support), 3).float()
    images, captions = image_gallery(task.support_x, task.support_y, None, ["a", "b", "c"], logits, max_images=7)
    assert len(images) == len(captions) == 7
    assert images[0].shape == ((8, 8) if channels == 1 else (8, 8, 3))
    assert all(im.min() == 0.0 and im.max() == 1.0 for im in images)
    assert captions[0] == "a → c" and captions[-1] == "b → c"


# ---------------------------------------------------------------------------- adaptation
def test_before_is_zero_steps_and_after_is_the_test_time_adaptation(sinusoid: DomainModel) -> None:
    task = sample_task(sinusoid, 3)
    result = adapt(sinusoid, task)
    learner = sinusoid.learner
    assert result.steps == learner.test_inner_steps
    zero = learner.adapt(task.support_x, task.support_y, steps=0).predict(task.query_x)
    torch.testing.assert_close(result.before_pred, zero)
    assert result.after_metrics == sinusoid.domain.metrics(result.after_pred, task.query_y, task.query_mask)
    table = metrics_table(result)
    steps = learner.test_inner_steps
    assert list(table.columns) == ["before (0 steps)", f"after ({steps} step{'s' if steps != 1 else ''})", "change"]
    assert table.loc["mse", "change"] == pytest.approx(result.after_metrics["mse"] - result.before_metrics["mse"])
    with pytest.raises(ValueError, match="steps must be >= 0"):
        adapt(sinusoid, task, -1)


def test_the_meta_learned_model_improves_with_adaptation(sinusoid: DomainModel) -> None:
    before, after = [], []
    for seed in range(8):
        result = adapt(sinusoid, sample_task(sinusoid, seed), steps=5)
        before.append(result.before_metrics["mse"])
        after.append(result.after_metrics["mse"])
    assert np.mean(after) < np.mean(before)


def test_curve_figure_draws_points_and_the_adapted_curve(sinusoid: DomainModel) -> None:
    task = sample_task(sinusoid, 0)
    result = adapt(sinusoid, task, steps=2)
    fig = curve_figure(task, result, n_grid=50)
    names = [t.name for t in fig.data]
    assert names == [
        "before adaptation (0 steps)",
        "after adaptation (2 steps)",
        f"{task.n_query} query points",
        f"{task.n_support} support points",
    ]
    grid = torch.tensor(fig.data[1].x, dtype=torch.float32).unsqueeze(1)
    np.testing.assert_allclose(fig.data[1].y, result.after.predict(grid).squeeze(1).numpy(), rtol=1e-5, atol=1e-6)
    assert min(fig.data[1].x) < float(task.support_x.min()) and max(fig.data[1].x) > float(task.support_x.max())


# ---------------------------------------------------------------------------- comparison
def test_comparison_scores_the_page_s_adaptation_on_fixed_tasks(sinusoid: DomainModel) -> None:
    report = compare_methods(sinusoid, n_tasks=4, seed=0)
    assert [r["method"] for r in report["results"]] == [sinusoid.method_name, "scratch"]
    assert report["setting"]["n_tasks"] == 4 and report["setting"]["split"] == "test"
    tasks = fixed_tasks(sinusoid.test_sampler, 4, 0)
    expected = [adapt(sinusoid, t).after_metrics["mse"] for t in tasks]
    np.testing.assert_allclose(report["results"][0]["per_task"]["mse"], expected, rtol=1e-5)


def test_pooled_baselines_only_when_pre_training_is_cheap() -> None:
    include, reason = pooled_plan(TinyClassificationDomain())
    assert not include and "2000 steps" in reason and str(POOLED_MAX_PRETRAIN_STEPS) in reason
    include, _ = pooled_plan(CheapPretrainDomain())
    assert include
    report = compare_methods(untrained_model(CheapPretrainDomain(), "protonet"), n_tasks=3)
    methods = [r["method"] for r in report["results"]]
    assert methods == ["protonet (untrained)", "scratch", "pretrain+finetune", "pretrain+logreg"]
    skipped = compare_methods(untrained_model(CheapPretrainDomain(), "protonet"), n_tasks=3, include_pooled=False)
    assert [r["method"] for r in skipped["results"]] == ["protonet (untrained)", "scratch"]


def test_comparison_table_shows_mean_and_ci_per_metric() -> None:
    report = {
        "results": [
            {"method": "maml", "kind": "meta", "n_tasks": 20, "metrics": {"acc": {"mean": 0.51234, "ci95": 0.0321}}},
            {
                "method": "scratch",
                "kind": "baseline",
                "n_tasks": 20,
                "metrics": {"acc": {"mean": 0.4, "ci95": 0.05}, "sens": {"mean": None, "ci95": None, "n": 0}},
            },
        ]
    }
    table = comparison_table(report)
    assert table.index.tolist() == ["maml", "scratch"]
    assert table.loc["maml", "acc"] == "0.512 ± 0.032"
    assert table.loc["maml", "sens"] == "—" and table.loc["scratch", "sens"] == "—"
    assert table.loc["scratch", "tasks"] == 20


def test_metric_direction() -> None:
    assert lower_is_better("mse") and lower_is_better("loss") and lower_is_better("error_rate")
    assert not lower_is_better("accuracy") and not lower_is_better("balanced_accuracy")


def test_trading_tasks_are_vectors_with_named_global_classes() -> None:
    model = load_model("trading", _shipped("trading"))
    assert model.domain.options.get("source") == model.meta["domain_options"]["source"]
    task = sample_task(model, 0)
    assert task_view(task, model.domain.kind) == "vector"
    assert label_names(task, model.setting["n_way"]) == ["down", "up"]
    assert set(adapt(model, task).after_metrics) == {"accuracy", "balanced_accuracy"}


# ---------------------------------------------------------------------------- the page
def _page(domain: str | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    if domain is not None:
        at.query_params["domain"] = domain
    return at.run()


def _frames(at: AppTest) -> list[pd.DataFrame]:
    return [d.value for d in at.dataframe]


def test_page_renders_sinusoid_with_its_checkpoint() -> None:
    _shipped("sinusoid")
    at = _page("sinusoid")
    assert not at.exception
    assert at.selectbox(key="domain").value == "sinusoid"
    assert at.selectbox(key="checkpoint-sinusoid").value == "data/checkpoints/sinusoid/maml"
    assert [m.label for m in at.metric] == ["mse after adaptation", "loss after adaptation"]
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert chart["data"][1]["name"].startswith("after adaptation")
    frames = _frames(at)
    assert "before (0 steps)" in frames[0].columns
    comparison = frames[-1]
    assert {"maml (maml)", "scratch"} <= set(comparison.index) and "mse" in comparison.columns
    assert any("skipped" in i.value for i in at.info)
    at.button[0].click().run()
    assert not at.exception and at.number_input(key="seed").value == 1


def test_page_renders_trading_vectors_and_comparison() -> None:
    _shipped("trading")
    at = _page("trading")
    assert not at.exception
    assert at.selectbox(key="domain").value == "trading"
    assert [m.label for m in at.metric] == ["accuracy after adaptation", "balanced_accuracy after adaptation"]
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert {t["name"] for t in chart["data"]} <= {"down (support)", "up (support)", "down (query)", "up (query)"}
    frames = _frames(at)
    assert frames[0].index.tolist() == ["accuracy", "balanced_accuracy"]
    assert set(frames[2].columns[:2]) == {"label", "predicted"}  # the query table
    comparison = frames[-1]
    assert "scratch" in comparison.index and comparison["tasks"].tolist() == [20, 20]
    assert all("±" in v for v in comparison["accuracy"])


@pytest.fixture
def pageless_domain(monkeypatch: pytest.MonkeyPatch) -> str:
    """Register the tiny classification domain (no page) next to the installed ones."""
    installed = registry.available_domains

    def with_tiny() -> dict[str, EntryPoint]:
        tiny = EntryPoint(
            name=TinyClassificationDomain.name,
            value="conftest:TinyClassificationDomain",
            group=registry.ENTRY_POINT_GROUP,
        )
        return dict(sorted({**installed(), tiny.name: tiny}.items()))

    monkeypatch.setattr(registry, "available_domains", with_tiny)
    return TinyClassificationDomain.name


def test_home_links_a_domain_without_page_to_the_generic_page(pageless_domain: str) -> None:
    at = AppTest.from_file(HOME, default_timeout=60).run()
    assert not at.exception
    links = [link for link in at.page_link if link.proto.page == "Any_domain"]  # the page's name, from its file
    linked = {link.proto.query_string.removeprefix("domain=") for link in links}
    with_page = {r["name"] for r in list_domains() if r["has_page"]}
    assert pageless_domain in linked, "a domain without a page of its own links to the generic page"
    assert not linked & with_page, "a domain with its own page links there, not to the generic page"


def test_page_opens_on_the_domain_without_page_untrained(pageless_domain: str) -> None:
    opened = _page().selectbox(key="domain").value  # by default: the first loadable domain without its own page
    assert not next(r for r in list_domains() if r["name"] == opened)["has_page"]
    at = _page(pageless_domain)
    assert not at.exception
    assert at.selectbox(key="domain").value == pageless_domain
    assert at.selectbox(key=f"checkpoint-{pageless_domain}").value == "Untrained learner"
    assert any("Untrained" in w.value for w in at.warning)
    comparison = _frames(at)[-1]
    assert comparison.index.tolist() == ["maml (untrained)", "scratch"]


def test_an_rl_domain_gets_its_commands_and_shipped_curve_instead_of_support_sets() -> None:
    at = AppTest.from_file(str(PAGE), default_timeout=120)
    at.query_params["domain"] = "navigation"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("reinforcement-learning domain" in i.value for i in at.info)
    assert len(at.get("image")) >= 1  # the shipped adaptation curve
