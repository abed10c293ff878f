"""The few-shot image domain: N-way K-shot episodes over classes never seen in training (Omniglot-style).

A task draws ``n_way`` classes of one split, ``k_shot`` support and ``n_query`` query images of each, labelled
``0 .. n_way-1`` in draw order (``metadata["classes"]`` holds their global ids, ``class_names`` their names).
Splits are disjoint by class: background classes train (a hashed share validates), evaluation classes test
(:mod:`.data`). Backbone: Conv-4 (64 filters, the papers' 28 px greyscale for characters). The evaluation plan
is the literature's table: 5-way 1-shot, 5-way 5-shot and 20-way 1-shot on the test classes.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from metasuite.core.domain import Domain
from metasuite.core.errors import DataError, TaskError
from metasuite.core.options import Option
from metasuite.core.tasks import Task
from metasuite.domains.fewshot.data import ClassImages, glyph_classes, load_class_folders

__all__ = ["PLAN", "FewShotDomain", "FewShotSampler"]

#: (n_way, k_shot) of the evaluation plan: the settings few-shot papers report.
PLAN = ((5, 1), (5, 5), (20, 1))


class FewShotSampler:
    """N-way K-shot episodes over the classes of one split (images ``(channels, size, size)`` in [0, 1])."""

    def __init__(self, classes: dict[str, np.ndarray], offset: int, split: str, n_way: int, k_shot: int, n_query: int):
        self.names = sorted(classes)
        self.data = [torch.from_numpy(classes[n]) for n in self.names]
        self.offset, self.split, self.n_way, self.k_shot, self.n_query = offset, split, n_way, k_shot, n_query
        if n_way < 2 or k_shot < 1 or n_query < 1:
            raise TaskError(f"need n_way >= 2, k_shot >= 1 and n_query >= 1, got {n_way}, {k_shot}, {n_query}")
        if len(self.names) < n_way:
            raise DataError(f"the {split} split has {len(self.names)} classes, fewer than n_way={n_way}")
        small = [n for n, x in zip(self.names, self.data, strict=True) if len(x) < k_shot + n_query]
        if small:
            raise DataError(
                f"{len(small)} {split} class(es) have fewer than k_shot + n_query = {k_shot + n_query} images "
                f"(e.g. {small[:3]}); lower --shots / --queries"
            )

    def sample(self, generator: torch.Generator) -> Task:
        picked = torch.randperm(len(self.names), generator=generator)[: self.n_way].tolist()
        sx, qx = [], []
        for c in picked:
            order = torch.randperm(len(self.data[c]), generator=generator)
            sx.append(self.data[c][order[: self.k_shot]])
            qx.append(self.data[c][order[self.k_shot : self.k_shot + self.n_query]])
        labels = torch.arange(self.n_way)
        return Task(
            torch.cat(sx),
            labels.repeat_interleave(self.k_shot),
            torch.cat(qx),
            labels.repeat_interleave(self.n_query),
            metadata={
                "classes": [self.offset + c for c in picked],
                "class_names": [self.names[c] for c in picked],
                "split": self.split,
            },
        )


class FewShotDomain(Domain):
    """Few-shot image classification over unseen classes (Omniglot layout, or plain class folders)."""

    name = "fewshot"
    title = "Few-shot image classification"
    description = (
        "N-way K-shot classification of image classes never seen in training: Omniglot-style folders "
        "(images_background / images_evaluation) or any class folders; a built-in glyph set offline."
    )
    kind = "classification"
    option_specs = (
        Option("data_dir", Path, None, "images_background/ + images_evaluation/ (Omniglot) or <class>/ folders"),
        Option("image_size", int, 28, "side of the square images in pixels (28 for characters, 84 for photos)"),
        Option("channels", int, 1, "1 greyscale or 3 RGB", choices=(1, 3)),
        Option("hidden", int, 64, "filters of each Conv-4 block"),
        Option("val_fraction", float, 0.15, "share of the background classes held out for validation", flag=False),
        Option("seed", int, 0, "seed of the built-in glyph set", flag=False),
    )
    _OFFSETS = {"train": 0, "val": 100_000, "test": 200_000}  # noqa: RUF012 (global class ids disjoint by split)

    def __init__(
        self,
        data_dir: str | Path | None = None,
        image_size: int = 28,
        channels: int = 1,
        hidden: int = 64,
        val_fraction: float = 0.15,
        seed: int = 0,
    ):
        given = {"data_dir": data_dir, "image_size": image_size, "channels": channels, "hidden": hidden}
        super().__init__(**{k: v for k, v in given.items() if v is not None}, **({"seed": seed} if seed else {}))
        if not 0 < val_fraction < 1:
            raise DataError(f"val_fraction must be between 0 and 1, got {val_fraction}")
        self.data_dir = None if data_dir is None else Path(data_dir)
        self.image_size, self.channels, self.hidden = int(image_size), int(channels), int(hidden)
        self.val_fraction, self.seed = float(val_fraction), int(seed)
        self._classes: ClassImages | None = None

    def classes(self) -> ClassImages:
        """split -> class name -> images, loaded (or drawn) once."""
        if self._classes is None:
            if self.data_dir is None:
                self._classes = glyph_classes(self.image_size, self.channels, seed=self.seed)
            else:
                self._classes = load_class_folders(self.data_dir, self.image_size, self.channels, self.val_fraction)
        return self._classes

    def sampler(self, split: str, *, n_way: int | None = 5, k_shot: int = 1, n_query: int = 15) -> FewShotSampler:
        if split not in self._OFFSETS:
            raise TaskError(f"unknown split {split!r}; choose train, val or test")
        return FewShotSampler(self.classes()[split], self._OFFSETS[split], split, n_way or 5, k_shot, n_query)

    def backbone_spec(self, algorithm: str, n_way: int | None) -> tuple[str, dict[str, Any]]:
        return "conv4", {
            "in_channels": self.channels,
            "image_size": self.image_size,
            "hidden": self.hidden,
            "norm": "batch",
            "out_features": n_way,
        }

    def default_setting(self) -> dict[str, Any]:
        return {"n_way": 5, "k_shot": 1, "n_query": 15}

    def default_hparams(self, algorithm: str) -> dict[str, Any]:
        if algorithm in ("maml", "fomaml", "metasgd"):  # Finn et al. 2017, Omniglot: one step of 0.4, three at test
            return {"inner_lr": 0.4, "inner_steps": 1, "test_inner_steps": 3}
        if algorithm in ("anil", "reptile"):
            return {"inner_lr": 0.1, "inner_steps": 5, "test_inner_steps": 10}
        return {}

    def default_train_config(self, algorithm: str) -> dict[str, Any]:
        return {"steps": 2000, "meta_batch_size": 8, "outer_lr": 1e-3, "val_every": 250, "val_tasks": 100}

    def default_baselines(self) -> dict[str, Any]:
        return {"scratch_steps": 50, "pretrain_steps": 1000, "pretrain_batch_size": 64, "finetune_steps": 20}

    def n_classes_total(self) -> int:
        return len(self.classes()["train"])

    def pooled_batch(
        self, split: str, batch_size: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Images of the split's classes at random, labelled by their index in the split (pre-training)."""
        names = sorted(self.classes()[split])
        data = [torch.from_numpy(self.classes()[split][n]) for n in names]
        which = torch.randint(len(names), (batch_size,), generator=generator)
        x = torch.stack([data[int(c)][int(torch.randint(len(data[int(c)]), (1,), generator=generator))] for c in which])
        return x, which

    def eval_plan(self, setting: dict[str, Any], split: str | None, explicit: bool) -> list[dict[str, Any]]:
        """5-way 1-shot, 5-way 5-shot and 20-way 1-shot on the test classes, unless the user chose a shape."""
        if explicit:
            return [{**setting, "split": split or "test"}]
        return [{**setting, "n_way": n, "k_shot": k, "split": split or "test"} for n, k in PLAN]

    def augment(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Images shifted by up to 2 pixels (characters are not mirror-symmetric: no flips)."""
        n = x.shape[0]
        padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
        dy, dx = torch.randint(0, 5, (n,), generator=generator), torch.randint(0, 5, (n,), generator=generator)
        h, w = x.shape[-2:]
        return torch.stack([padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(n)])

    def fingerprint(self) -> str:
        if self.data_dir is None:
            blob = {"glyphs": 1, "size": self.image_size, "channels": self.channels, "seed": self.seed}
        else:
            files = sorted(
                (str(p.relative_to(self.data_dir)), p.stat().st_size) for p in self.data_dir.rglob("*") if p.is_file()
            )
            blob = {"files": files, "size": self.image_size, "channels": self.channels, "val": self.val_fraction}
        return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()[:16]
