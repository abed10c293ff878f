"""Novel-class splits of real folders (issue 17): test classes are never training or validation classes."""

from __future__ import annotations

import numpy as np
import pytest

from metasuite.core.errors import DataError
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
