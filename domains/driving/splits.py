"""Novel-class splits of a real image folder: meta-test on scene classes meta-training never saw.

:func:`split_by_class` is the few-shot literature's protocol (Vinyals et al. 2016; Ravi & Larochelle 2017): the
*classes* of a folder are partitioned into training, validation and test classes, so a test task asks a model to
tell apart scenes it has never been trained on, from K labelled frames each. (The driving domain's other real-folder
rules split by environment, or by image within each class: test tasks there are new frames of known classes.)

The rule, fixed for a folder whatever else it holds: the class names in the order of the SHA-256 of their UTF-8
bytes; the first ``round(0.2 n)`` (at least 2) are test classes, the next ``round(0.2 n)`` (at least 2) validation
classes, the rest (at least 2) training classes. Every image of a class goes with it; each environment ``E`` becomes
``E [train]``, ``E [val]`` and ``E [test]`` holding its images of those classes.
"""

from __future__ import annotations

import hashlib

from metasuite.core.errors import DataError
from metasuite.domains.driving.data import ImagePool

__all__ = ["CLASS_SPLIT", "MIN_CLASSES_PER_SPLIT", "class_split", "split_by_class"]

#: Shares of a folder's classes in train / val / test.
CLASS_SPLIT = (0.6, 0.2, 0.2)
#: Each split needs this many classes (a 2-way task at least).
MIN_CLASSES_PER_SPLIT = 2


def class_split(classes: list[str]) -> dict[str, list[str]]:
    """Train / val / test class names (each sorted) by the rule of the module docstring.

    Raises :class:`DataError` when there are fewer than ``3 * MIN_CLASSES_PER_SPLIT`` classes.
    """
    names = sorted(set(classes))
    need = 3 * MIN_CLASSES_PER_SPLIT
    if len(names) < need:
        raise DataError(
            f"a novel-class split needs at least {need} scene classes ({MIN_CLASSES_PER_SPLIT} each for training, "
            f"validation and test), the folder has {len(names)}: {', '.join(names)}; add classes or split by image "
            "(--option split_by=image)"
        )
    order = sorted(names, key=lambda c: hashlib.sha256(c.encode()).hexdigest())
    n_test = max(MIN_CLASSES_PER_SPLIT, round(CLASS_SPLIT[2] * len(order)))
    n_val = max(MIN_CLASSES_PER_SPLIT, round(CLASS_SPLIT[1] * len(order)))
    n_val = min(n_val, len(order) - n_test - MIN_CLASSES_PER_SPLIT)
    return {
        "test": sorted(order[:n_test]),
        "val": sorted(order[n_test : n_test + n_val]),
        "train": sorted(order[n_test + n_val :]),
    }


def split_by_class(pool: ImagePool) -> tuple[ImagePool, dict[str, list[str]]]:
    """``(pool, splits)``: every environment ``E`` cut into ``E [train]`` / ``E [val]`` / ``E [test]`` by class.

    ``splits`` maps ``train`` / ``val`` / ``test`` to those environment names (an environment without images of a
    split's classes is left out of it) and ``seen`` to none: no test frame is of a training class.
    """
    parts = class_split([c for by_class in pool.values() for c in by_class])
    merged: ImagePool = {}
    splits: dict[str, list[str]] = {"train": [], "val": [], "test": [], "seen": []}
    for env, by_class in sorted(pool.items()):
        for split, names in parts.items():
            kept = {c: by_class[c] for c in names if c in by_class}
            if kept:
                merged[f"{env} [{split}]"] = kept
                splits[split].append(f"{env} [{split}]")
    return merged, splits
