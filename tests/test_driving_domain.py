"""The driving domain: environment splits are disjoint, tasks are well-formed N-way K-shot episodes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from metasuite.core.errors import TaskError
from metasuite.core.tasks import fixed_tasks, generator
from metasuite.domains.driving.domain import TEST_COMBOS, VAL_COMBOS, DrivingDomain, DrivingSampler, synthetic_splits
from metasuite.domains.driving.render import ALL_ENVIRONMENTS, REGIONS, SCENE_CLASSES, Environment


def test_environment_splits_are_disjoint_and_cover_every_environment() -> None:
    splits = synthetic_splits()
    train, val, test = set(splits["train"]), set(splits["val"]), set(splits["test"])
    assert not (train & val) and not (train & test) and not (val & test)
    assert train | val | test == {e.name for e in ALL_ENVIRONMENTS}
    assert splits["seen"] == splits["train"]


def test_meta_test_holds_a_whole_unseen_region_and_unseen_weather_time_combinations() -> None:
    splits = synthetic_splits()
    held = REGIONS[-1]
    envs = {name: Environment.from_name(name) for name in splits["test"]}
    assert {e.name for e in ALL_ENVIRONMENTS if e.region == held} <= set(envs)
    assert not any(Environment.from_name(n).region == held for n in splits["train"] + splits["val"])
    seen_region_test = [e for e in envs.values() if e.region != held]
    assert seen_region_test and all((e.weather, e.time_of_day) in TEST_COMBOS for e in seen_region_test)
    train_combos = {(Environment.from_name(n).weather, Environment.from_name(n).time_of_day) for n in splits["train"]}
    assert not train_combos & set(TEST_COMBOS) and not train_combos & set(VAL_COMBOS)


def _toy_pool(n_env: int = 3, n_cls: int = 6, n_img: int = 8, size: int = 16) -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    return {
        f"env{e}": {f"c{c}": rng.integers(0, 255, (n_img, size, size, 3), dtype=np.uint8) for c in range(n_cls)}
        for e in range(n_env)
    }


def test_sampler_draws_n_way_k_shot_tasks_from_one_environment() -> None:
    pool = _toy_pool()
    classes = [f"c{c}" for c in range(6)]
    sampler = DrivingSampler(pool, classes, n_way=5, k_shot=2, n_query=3, split="train")
    task = sampler.sample(generator(1))
    assert task.support_x.shape == (10, 3, 16, 16) and task.query_x.shape == (15, 3, 16, 16)
    assert torch.equal(torch.bincount(task.support_y), torch.full((5,), 2))
    assert torch.equal(torch.bincount(task.query_y), torch.full((5,), 3))
    meta = task.metadata
    assert meta["environment"] in pool and len(set(meta["class_names"])) == 5
    assert [classes[i] for i in meta["classes"]] == meta["class_names"]
    # support and query frames are different images of the same environment and class
    env = pool[meta["environment"]]
    for label, name in enumerate(meta["class_names"]):
        sup = task.support_x[task.support_y == label]
        qry = task.query_x[task.query_y == label]
        assert not any(torch.equal(s, q) for s in sup for q in qry)
        assert sup.shape[0] == 2 and qry.shape[0] == 3 and env[name].shape[0] == 8
    again = sampler.sample(generator(1))
    assert torch.equal(again.support_x, task.support_x) and again.metadata == task.metadata


def test_sampler_refuses_settings_no_environment_can_fill() -> None:
    with pytest.raises(TaskError, match="k_shot \\+ n_query = 9"):
        DrivingSampler(_toy_pool(n_img=8), [f"c{c}" for c in range(6)], n_way=5, k_shot=5, n_query=4, split="test")
    with pytest.raises(TaskError, match="no test environment has 7 classes"):
        DrivingSampler(_toy_pool(), [f"c{c}" for c in range(6)], n_way=7, k_shot=1, n_query=1, split="test")


@pytest.mark.slow
def test_rendered_domain_gives_tasks_and_seen_frames_differ_from_training_frames(tmp_path: Path) -> None:
    domain = DrivingDomain(images_per_class=4, image_size=32, cache_dir=str(tmp_path))
    task = fixed_tasks(domain.sampler("test", n_way=5, k_shot=1, n_query=3), 1, seed=0)[0]
    assert task.support_x.shape == (5, 3, 32, 32) and domain.n_classes_total() == len(SCENE_CLASSES)
    env = domain.splits()["train"][0]
    train_frames, seen_frames = domain.pool("train")[env], domain.pool("seen")[env]
    assert not np.array_equal(train_frames[SCENE_CLASSES[0]], seen_frames[SCENE_CLASSES[0]])
    assert domain.fingerprint() == DrivingDomain(images_per_class=4, image_size=32).fingerprint()


def test_bench_driving_quick_reports_every_measurement(tmp_path) -> None:
    from metasuite.domains.driving.bench import TARGETS, bench_driving

    report = bench_driving(quick=True, out_root=str(tmp_path))
    assert report["sampling"]["median_ms"] > 0
    for algo in ("protonet", "maml"):
        lat = report["latency"][algo]
        assert 0 < lat["adapt"]["median_ms"] <= lat["adapt_and_predict_75"]["median_ms"] * 1.5
    assert report["latency"]["maml"]["inner_steps"] == 10
    trained = {t["algorithm"]: t for t in report["training"]}
    assert set(trained) == {"protonet", "maml"}
    for t in trained.values():
        assert t["steps"] == 20 and t["train_seconds"] > 0 and 0.0 <= t["best_val"] <= 1.0
        assert (tmp_path / t["algorithm"] / "best.safetensors").is_file()
    # ratios are measured / target, one per target
    assert report["ratios"]["maml_adapt_vs_target"] == round(
        report["latency"]["maml"]["adapt"]["median_ms"] / TARGETS["maml_adapt_ms"], 3
    )
