"""The driving domain: environment splits are disjoint, tasks are well-formed N-way K-shot episodes."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from metasuite.apps.cli import main
from metasuite.core import runs
from metasuite.core.errors import TaskError
from metasuite.core.options import OptionError
from metasuite.core.tasks import fixed_tasks, generator
from metasuite.domains.driving.domain import (
    TEST_COMBOS,
    VAL_COMBOS,
    DrivingDomain,
    DrivingSampler,
    split_by_image,
    synthetic_splits,
)
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


# ------------------------------------------------------------- a plain root/<class>/* folder: split by image
REAL_PHOTOS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "driving-day-night" / "training"


def _plain_folder(root: Path, counts: dict[str, int]) -> Path:
    """``root/<class>/<i>.png``: every image a distinct flat colour, so images can be told apart after loading."""
    for c, (cls, n) in enumerate(counts.items()):
        (root / cls).mkdir(parents=True)
        for i in range(n):
            Image.new("RGB", (20, 20), (10 * i % 256, 40 * c, 200)).save(root / cls / f"{i:03d}.png")
    return root


def _keys(images: np.ndarray) -> set[tuple[int, ...]]:
    return {tuple(int(v) for v in img[0, 0]) for img in images}


@pytest.mark.parametrize("split_by", ["auto", "class"])
def test_a_real_folder_split_by_image_or_class_draws_the_same_tasks_in_an_evaluation_worker(
    tmp_path: Path, split_by: str
) -> None:
    """`eval --workers N` pickles the domain into worker processes, which reload the images: a folder split by image
    (or by class) names environments such as "root [val]" that only the split pool holds, so the worker must split
    again (it used to keep the split's names, reload the unsplit folder and fail with a KeyError)."""
    counts = {f"scene{i}": 9 for i in range(6)}
    domain = DrivingDomain(data_dir=str(_plain_folder(tmp_path / "photos", counts)), image_size=16, split_by=split_by)
    shape = {"n_way": 2, "k_shot": 1, "n_query": 1}
    here = {s: fixed_tasks(domain.sampler(s, **shape), 3, seed=5) for s in ("train", "val", "test")}
    worker = pickle.loads(pickle.dumps(domain))
    assert worker._pools == {}  # the images are not shipped to the worker
    for split, tasks in here.items():
        again = fixed_tasks(worker.sampler(split, **shape), 3, seed=5)
        assert all(
            torch.equal(a.support_x, b.support_x) and torch.equal(a.query_y, b.query_y)
            for a, b in zip(tasks, again, strict=True)
        )


def test_a_plain_class_folder_is_split_by_image_stratified_and_disjoint(tmp_path: Path) -> None:
    """The loader used to refuse root/<class>/* ("need at least 3 environments"); now each class's images are cut
    60/20/20 into train/val/test environments, disjoint, each class in each split, the same cut on every load."""
    root = _plain_folder(tmp_path / "photos", {"dirt": 20, "forest": 10, "snow": 3, "tiny": 2})
    domain = DrivingDomain(data_dir=str(root), image_size=16)
    splits = domain.splits()
    assert splits == {"train": ["photos [train]"], "val": ["photos [val]"], "test": ["photos [test]"], "seen": []}
    by_split = {s: domain.pool(s)[splits[s][0]] for s in ("train", "val", "test")}
    assert {c: len(by_split["test"][c]) for c in by_split["test"]} == {"dirt": 4, "forest": 2, "snow": 1}
    assert {c: len(by_split["val"][c]) for c in by_split["val"]} == {"dirt": 4, "forest": 2, "snow": 1}
    assert {c: len(by_split["train"][c]) for c in by_split["train"]} == {"dirt": 12, "forest": 6, "snow": 1, "tiny": 2}
    for cls in ("dirt", "forest", "snow"):
        keys = [_keys(by_split[s][cls]) for s in ("train", "val", "test")]
        assert not (keys[0] & keys[1]) and not (keys[0] & keys[2]) and not (keys[1] & keys[2])
    again = DrivingDomain(data_dir=str(root), image_size=16)
    assert all(np.array_equal(again.pool("test")["photos [test]"][c], by_split["test"][c]) for c in by_split["test"])
    # adding a class does not move another class's images between splits (the order is seeded per class)
    (root / "zz").mkdir()
    for i in range(5):
        Image.new("RGB", (20, 20), (i, 1, 2)).save(root / "zz" / f"{i}.png")
    more = DrivingDomain(data_dir=str(root), image_size=16)
    assert np.array_equal(more.pool("test")["photos [test]"]["dirt"], by_split["test"]["dirt"])
    task = domain.sampler("test", n_way=2, k_shot=1, n_query=1).sample(generator(0))
    assert task.n_support == 2 and task.n_query == 2
    with pytest.raises(TaskError, match="no test environment has 3 classes"):
        domain.sampler("test", n_way=3, k_shot=1, n_query=1)  # snow has 1 test image: only 2 classes qualify


def test_split_by_image_keeps_every_image_once() -> None:
    rng = np.random.default_rng(0)
    pool = {"cam": {"a": rng.integers(0, 255, (7, 4, 4, 3), dtype=np.uint8), "b": np.zeros((1, 4, 4, 3), np.uint8)}}
    merged, splits = split_by_image(pool)
    total = sum(len(merged[e]["a"]) for e in merged if "a" in merged[e])
    assert total == 7 and len(merged["cam [train]"]["b"]) == 1 and splits["seen"] == []


def test_real_photos_in_the_plain_layout_give_day_night_tasks() -> None:
    if not REAL_PHOTOS.is_dir():
        pytest.skip(f"real driving photos not found at {REAL_PHOTOS} (shared data folder absent)")
    domain = DrivingDomain(data_dir=str(REAL_PHOTOS), image_size=32)
    assert domain.classes == ["day", "night"]
    assert {c: len(a) for c, a in domain.pool("test")["training [test]"].items()} == {"day": 24, "night": 24}
    tasks = fixed_tasks(domain.sampler("test", n_way=2, k_shot=5, n_query=10), 3, 0)
    assert all(t.n_support == 10 and t.n_query == 20 for t in tasks)
    # two classes: the default tasks (and the baselines' pooled pre-training batches) are 2-way, not 5-way
    assert domain.default_setting()["n_way"] == 2
    x, y = domain.pooled_batch("train", 40, generator(0))
    assert x.shape == (40, 3, 32, 32) and set(y.tolist()) == {0, 1}


def test_named_train_and_test_folders_without_val_get_a_validation_split_by_image() -> None:
    """Meta-training on a user's folder needs validation tasks: 20% of each training class's images (seeded)."""
    root = REAL_PHOTOS.parent
    if not root.is_dir():
        pytest.skip(f"real driving photos not found at {root} (shared data folder absent)")
    domain = DrivingDomain(data_dir=str(root), image_size=32)
    assert domain.splits() == {
        "train": ["training [train]"],
        "val": ["training [val]"],
        "test": ["test"],
        "seen": ["training [train]"],
    }
    train, val = domain.pool("train")["training [train]"], domain.pool("val")["training [val]"]
    assert {c: (len(train[c]), len(val[c])) for c in train} == {"day": (96, 24), "night": (96, 24)}
    for cls in ("day", "night"):  # disjoint: no photo in both
        seen = {img.tobytes() for img in train[cls]}
        assert not any(img.tobytes() in seen for img in val[cls])
    assert {c: len(a) for c, a in domain.pool("test")["test"].items()} == {"day": 80, "night": 80}


# ------------------------------------------------------------- condition tasks (option condition_tasks)
def _environment_folder(root: Path, n_env: int = 6, classes: tuple[str, ...] = ("a", "b"), n_img: int = 4) -> Path:
    """``root/env<e>/<class>/<i>.png``, flat colours: red = 30 * environment, green = 100 * class, blue = image."""
    for e in range(n_env):
        for c, cls in enumerate(classes):
            (root / f"env{e}" / cls).mkdir(parents=True)
            for i in range(n_img):
                Image.new("RGB", (20, 20), (30 * e, 100 * c, 40 * i)).save(root / f"env{e}" / cls / f"{i}.png")
    return root


def _pixel(x: torch.Tensor) -> tuple[int, int, int]:
    """The flat colour of one normalised frame (inverse of ``pool_to_tensor``)."""
    rgb = (x[:, 0, 0] * 0.25 + 0.45) * 255.0
    return tuple(round(float(v)) for v in rgb)


def test_condition_tasks_classify_environments_and_draw_every_frame_from_its_own(tmp_path: Path) -> None:
    domain = DrivingDomain(data_dir=str(_environment_folder(tmp_path / "f")), condition_tasks=1.0)
    train_envs = domain.splits()["train"]
    sampler = domain.meta_train_sampler(n_way=2, k_shot=2, n_query=2)
    for i in range(20):
        task = sampler.sample(generator(i))
        assert task.metadata["task"] == "condition" and set(task.metadata["class_names"]) <= set(train_envs)
        for part_x, part_y in ((task.support_x, task.support_y), (task.query_x, task.query_y)):
            for x, y in zip(part_x, part_y, strict=True):
                env = task.metadata["class_names"][int(y)]
                assert _pixel(x)[0] == 30 * int(env.removeprefix("env"))  # the frame comes from its class's environment
    again = sampler.sample(generator(3))
    assert torch.equal(again.query_x, sampler.sample(generator(3)).query_x)


def test_condition_tasks_are_meta_training_only(tmp_path: Path) -> None:
    root = _environment_folder(tmp_path / "f")
    half = DrivingDomain(data_dir=str(root), condition_tasks=0.5)
    mixed = half.meta_train_sampler(n_way=2, k_shot=1, n_query=2)
    kinds = [mixed.sample(generator(i)).metadata.get("task") for i in range(200)]
    assert 60 < kinds.count("condition") < 140 and kinds.count(None) == 200 - kinds.count("condition")
    only = DrivingDomain(data_dir=str(root), condition_tasks=1.0)
    for split in ("train", "val", "test"):  # evaluation on any split, validation: scene tasks
        assert isinstance(only.sampler(split, n_way=2, k_shot=1, n_query=2), DrivingSampler)
    # pooled pre-training batches keep the global scene labels: green encodes the class
    x, y = only.pooled_batch("train", 64, generator(0))
    assert [_pixel(f)[1] for f in x] == [100 * int(label) for label in y]
    # without the option meta-training draws the plain scene tasks, exactly as before
    plain = DrivingDomain(data_dir=str(root))
    assert isinstance(plain.meta_train_sampler(n_way=2, k_shot=1, n_query=2), DrivingSampler)
    assert "condition_tasks" not in plain.options and only.options["condition_tasks"] == 1.0
    assert only.fingerprint() == plain.fingerprint()  # the same data: checkpoints evaluate with either


def test_condition_tasks_are_refused_where_they_cannot_be_drawn(tmp_path: Path) -> None:
    for bad in (-0.1, 1.5):
        with pytest.raises(OptionError, match="condition_tasks"):
            DrivingDomain(condition_tasks=bad)
    plain = _plain_folder(tmp_path / "plain", {"a": 6, "b": 6})  # split by image: one training environment
    domain = DrivingDomain(data_dir=str(plain), condition_tasks=0.5)
    with pytest.raises(TaskError, match=r"condition tasks need 2 train environments.*set it to 0"):
        domain.meta_train_sampler(n_way=2, k_shot=1, n_query=1)
    assert isinstance(domain.sampler("train", n_way=2, k_shot=1, n_query=1), DrivingSampler)  # evaluation still works


def test_train_refuses_condition_tasks_a_folder_cannot_fill_before_any_pretraining(tmp_path: Path, monkeypatch) -> None:
    def no_pretraining(*args, **kwargs):
        raise AssertionError("pre-training started before the task samplers were checked")

    monkeypatch.setattr(runs, "pretrained_init", no_pretraining)
    plain = _plain_folder(tmp_path / "plain", {"a": 6, "b": 6})
    out = tmp_path / "run"
    argv = ["train", "driving", "--data-dir", str(plain), "--algo", "metabaseline", "--option", "condition_tasks=0.5"]
    assert main([*argv, "--steps", "2", "--out", str(out)]) == 2
    assert not out.exists()
