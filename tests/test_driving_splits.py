"""Novel-class splits of real folders (issue 17): test classes are never training or validation classes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from metasuite.apps.cli import main
from metasuite.core.baselines import baseline_keys
from metasuite.core.errors import DataError
from metasuite.core.options import OptionError
from metasuite.core.tasks import generator
from metasuite.domains.driving import DrivingDomain
from metasuite.domains.driving.domain import pool_to_tensor
from metasuite.domains.driving.splits import class_split, split_by_class


def _pool(classes: list[str], envs: tuple[str, ...] = ("cam",), n: int = 3) -> dict:
    return {e: {c: np.full((n, 4, 4, 3), i, np.uint8) for i, c in enumerate(classes)} for e in envs}


def test_classes_are_partitioned_60_20_20_by_a_fixed_rule() -> None:
    classes = [f"scene{i:02d}" for i in range(20)]
    parts = class_split(classes)
    assert [len(parts[s]) for s in ("train", "val", "test")] == [12, 4, 4]
    assert sorted(c for names in parts.values() for c in names) == classes  # every class once
    assert class_split(list(reversed(classes))) == parts  # the listing order does not matter
    # the order is by name hash: two more classes shift the cuts by at most two places, never test into training
    more = class_split([*classes, "zz-new-1", "zz-new-2"])
    assert not set(parts["test"]) & set(more["train"])


def test_small_folders_keep_two_classes_per_split_or_are_refused() -> None:
    parts = class_split([f"c{i}" for i in range(6)])
    assert [len(parts[s]) for s in ("train", "val", "test")] == [2, 2, 2]
    with pytest.raises(DataError, match=r"at least 6 scene classes.*split_by=image"):
        class_split([f"c{i}" for i in range(5)])


def test_every_image_goes_with_its_class_and_environments_are_kept_apart() -> None:
    classes = [f"scene{i}" for i in range(8)]
    pool = _pool(classes, envs=("day", "night"))
    merged, splits = split_by_class(pool)
    assert splits["seen"] == [] and splits["test"] == ["day [test]", "night [test]"]
    for split in ("train", "val", "test"):
        names = {c for env in splits[split] for c in merged[env]}
        assert names == set(class_split(classes)[split])
    for env in merged:
        source = env.split(" [")[0]
        for c, arr in merged[env].items():
            assert arr is pool[source][c]  # all of the class's images, untouched


def _folder(root: Path, n_classes: int = 8, per_class: int = 16) -> Path:
    rng = np.random.default_rng(0)
    for c in range(n_classes):
        (root / f"scene{c}").mkdir(parents=True)
        colour = rng.integers(0, 256, 3)
        for i in range(per_class):
            img = np.clip(colour + rng.normal(0, 25, (24, 24, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(root / f"scene{c}" / f"{i}.png")
    return root


def test_the_driving_domain_splits_a_real_folder_by_class_on_request(tmp_path: Path) -> None:
    folder = _folder(tmp_path / "roads")
    domain = DrivingDomain(data_dir=str(folder), image_size=16, split_by="class")
    parts = class_split([f"scene{c}" for c in range(8)])
    for split in ("train", "val", "test"):
        task = domain.sampler(split, n_way=2, k_shot=1, n_query=2).sample(generator(0))
        names = set(task.metadata["class_names"])
        assert names <= set(parts[split])  # a test task only ever holds test classes
    assert domain.fingerprint() != DrivingDomain(data_dir=str(folder), image_size=16).fingerprint()
    # the pooled model has no trained logits for test classes it never saw: no "pooled (no adaptation)" row
    assert "pooled" not in baseline_keys(domain) and "pooled" in baseline_keys(DrivingDomain(data_dir=str(folder)))
    assert domain.options["split_by"] == "class" and "split_by" not in DrivingDomain(data_dir=str(folder)).options
    with pytest.raises(OptionError, match="applies to a real folder"):
        DrivingDomain(split_by="class")
    with pytest.raises(OptionError, match="choose one of"):
        DrivingDomain(data_dir=str(folder), split_by="classes")
    with pytest.raises(DataError, match="at least 3 environments"):
        DrivingDomain(data_dir=str(folder), split_by="environment").splits()


@pytest.mark.slow
def test_train_and_eval_on_novel_classes_through_the_cli(tmp_path: Path) -> None:
    folder = _folder(tmp_path / "roads")
    opts = ["--data-dir", str(folder), "--option", "image_size=16", "--option", "split_by=class"]
    argv = ["train", "driving", *opts, "--algo", "protonet", "--ways", "2", "--shots", "1", "--queries", "2"]
    assert main([*argv, "--steps", "3", "--val-every", "3", "--val-tasks", "2", "--out", str(tmp_path / "run")]) == 0
    out = tmp_path / "eval.json"
    argv = ["eval", "driving", *opts, "--checkpoint", str(tmp_path / "run"), "--baselines", "--ways", "2"]
    assert main([*argv, "--shots", "1", "--queries", "2", "--tasks", "4", "--json", str(out), "--quiet"]) == 0
    report = json.loads(out.read_text())
    assert {r["method"] for r in report["results"]} >= {"protonet", "pretrain+logreg"}


def test_a_small_folder_still_gives_the_baselines_pooled_training_frames_of_its_training_split(tmp_path: Path) -> None:
    """Too few training images per class for a default pre-training task (1 + 15): frames are drawn directly, all
    classes, only from the training split (never a validation or test image)."""
    folder = _folder(tmp_path / "cams", n_classes=5, per_class=10)
    domain = DrivingDomain(data_dir=str(folder), image_size=16, split_by="image")
    x, y = domain.pooled_batch("train", 200, generator(0))
    assert x.shape == (200, 3, 16, 16) and set(y.tolist()) == set(range(5))
    (train,) = domain.pool("train").values()
    held_out = [
        a for split in ("val", "test") for pool in [domain.pool(split)] for env in pool.values() for a in env.values()
    ]
    train_frames = {c: {t.tobytes() for t in pool_to_tensor(train[c]).numpy()} for c in train}
    held_frames = {t.tobytes() for arr in held_out for t in pool_to_tensor(arr).numpy()}
    for frame, label in zip(x.numpy(), y.tolist(), strict=True):
        assert frame.tobytes() in train_frames[domain.classes[label]] and frame.tobytes() not in held_frames
    again, _ = domain.pooled_batch("train", 200, generator(0))
    assert torch.equal(again, x)  # seeded
