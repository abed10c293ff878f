"""The driving-scene domain: environment splits, the N-way K-shot task sampler, defaults.

A task is one road *environment* (weather × time of day × region for the renderer; a folder or a
BDD100K ``weather|timeofday`` for real data), ``n_way`` scene classes, ``k_shot`` support and
``n_query`` query frames per class from that environment. Splits are disjoint by environment:

* **test** (meta-test) — every environment of one whole region style never seen in training,
  plus weather × time-of-day combinations held out in the seen regions;
* **val** (meta-val) — other held-out combinations of the seen regions;
* **train** (meta-train) — the rest;
* **seen** — the *train* environments rendered with another image seed (frames never used in
  training): evaluating there next to *test* measures the domain gap.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from metasuite.core.domain import Domain
from metasuite.core.errors import DataError, TaskError
from metasuite.core.options import Option, OptionError
from metasuite.core.tasks import Task
from metasuite.domains.driving.data import ImagePool, load_bdd100k, load_image_folder
from metasuite.domains.driving.render import (
    ALL_ENVIRONMENTS,
    REGIONS,
    SCENE_CLASSES,
    Environment,
    cached_pool,
    renderer_fingerprint,
)
from metasuite.domains.driving.render.randomise import check_level
from metasuite.domains.driving.splits import split_by_class

__all__ = [
    "HELD_OUT_REGION",
    "SPLIT_NAMES",
    "TEST_COMBOS",
    "VAL_COMBOS",
    "ConditionSampler",
    "DrivingDomain",
    "DrivingSampler",
    "MixedSampler",
    "pool_to_tensor",
    "synthetic_splits",
]

SPLIT_NAMES = ("train", "val", "test", "seen")
#: Rules for splitting a real folder (option ``split_by``).
SPLIT_RULES = ("auto", "environment", "image", "class")
#: Whole region never seen in meta-training (all its environments are meta-test).
HELD_OUT_REGION = -1  # index into render.REGIONS: the last region style
#: Weather × time-of-day combinations held out of the seen regions for meta-test / meta-val.
TEST_COMBOS = (("foggy", "night"), ("snowy", "dawn/dusk"), ("rainy", "daytime"))
VAL_COMBOS = (("overcast", "night"), ("snowy", "daytime"))
#: Image seeds: training frames and the disjoint "seen" evaluation frames of the same environments.
TRAIN_IMAGE_SEED = 0
SEEN_IMAGE_SEED = 1
_MEAN, _STD = 0.45, 0.25  # fixed input normalisation of uint8 RGB frames


def synthetic_splits() -> dict[str, list[str]]:
    """Environment names of each split of the procedural renderer (disjoint; ``seen`` = ``train``)."""

    held_region = REGIONS[HELD_OUT_REGION]
    splits: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for env in ALL_ENVIRONMENTS:
        combo = (env.weather, env.time_of_day)
        if env.region == held_region or combo in TEST_COMBOS:
            splits["test"].append(env.name)
        elif combo in VAL_COMBOS:
            splits["val"].append(env.name)
        else:
            splits["train"].append(env.name)
    splits["seen"] = list(splits["train"])
    return splits


def pool_to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 frames ``(n, H, W, 3)`` -> normalised float tensor ``(n, 3, H, W)``."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255.0)
    return (x - _MEAN) / _STD


class DrivingSampler:
    """N-way K-shot scene-classification tasks drawn from one split's environments.

    Parameters
    ----------
    pool : ImagePool
        ``pool[environment][class] -> uint8 (n, H, W, 3)`` for this split's environments only.
    classes : sequence of str
        The global class list (``metadata["classes"]`` maps local labels into it).
    """

    def __init__(self, pool: ImagePool, classes: Sequence[str], n_way: int, k_shot: int, n_query: int, split: str):
        if n_way < 2 or k_shot < 1 or n_query < 1:
            raise TaskError(f"need n_way >= 2, k_shot >= 1, n_query >= 1 (got {n_way}, {k_shot}, {n_query})")
        self.classes = list(classes)
        self.n_way, self.k_shot, self.n_query, self.split = n_way, k_shot, n_query, split
        need = k_shot + n_query
        self.eligible: dict[str, list[str]] = {}
        for env, by_class in sorted(pool.items()):
            ok = [c for c in self.classes if c in by_class and len(by_class[c]) >= need]
            if len(ok) >= n_way:
                self.eligible[env] = ok
        if not self.eligible:
            counts = {env: {c: len(a) for c, a in by_class.items()} for env, by_class in pool.items()}
            raise TaskError(
                f"no {split} environment has {n_way} classes with at least k_shot + n_query = {need} images each "
                f"(images per class: {counts}); lower --ways/--shots/--queries or add images"
            )
        self.pool = pool
        self.environments = list(self.eligible)

    def sample(self, generator: torch.Generator) -> Task:
        env = self.environments[int(torch.randint(len(self.environments), (1,), generator=generator))]
        names = self.eligible[env]
        chosen = [names[i] for i in torch.randperm(len(names), generator=generator)[: self.n_way].tolist()]
        metadata = {
            "environment": env,
            "split": self.split,
            "class_names": chosen,
            "classes": [self.classes.index(c) for c in chosen],
        }
        return _episode([self.pool[env][c] for c in chosen], self.k_shot, self.n_query, generator, metadata)


def _episode(
    class_images: list[np.ndarray], k_shot: int, n_query: int, generator: torch.Generator, metadata: dict[str, Any]
) -> Task:
    """A task with one class per entry of ``class_images`` (uint8 frames): ``k_shot`` support and ``n_query`` query
    frames of each, drawn without replacement by ``generator``, class by class."""
    sx, qx = [], []
    for images in class_images:
        idx = torch.randperm(len(images), generator=generator)[: k_shot + n_query].numpy()
        sx.append(images[np.sort(idx[:k_shot])])
        qx.append(images[np.sort(idx[k_shot:])])
    labels = torch.arange(len(class_images))
    return Task(
        support_x=pool_to_tensor(np.concatenate(sx)),
        support_y=labels.repeat_interleave(k_shot),
        query_x=pool_to_tensor(np.concatenate(qx)),
        query_y=labels.repeat_interleave(n_query),
        metadata=metadata,
    )


class ConditionSampler:
    """N-way K-shot tasks whose classes are *environments*: which road condition -- weather × time of day × region
    on the renders, a folder's environment on real data -- a frame was taken in, whatever its scene.

    An auxiliary meta-training task (option ``condition_tasks``): the scene tasks teach features that ignore the
    condition, these teach features that keep it, for real classes that *are* conditions (a rainy or snowy road,
    day or night). Each class's frames are drawn from every scene of its environment.
    """

    def __init__(self, pool: ImagePool, n_way: int, k_shot: int, n_query: int, split: str):
        if n_way < 2 or k_shot < 1 or n_query < 1:
            raise TaskError(f"need n_way >= 2, k_shot >= 1, n_query >= 1 (got {n_way}, {k_shot}, {n_query})")
        self.n_way, self.k_shot, self.n_query, self.split = n_way, k_shot, n_query, split
        need = k_shot + n_query
        frames = {env: np.concatenate([by_class[c] for c in sorted(by_class)]) for env, by_class in pool.items()}
        self.frames = {env: f for env, f in sorted(frames.items()) if len(f) >= need}
        if len(self.frames) < n_way:
            raise TaskError(
                f"condition tasks need {n_way} {split} environments with at least k_shot + n_query = {need} images "
                f"each, found {len(self.frames)} ({sorted(self.frames)}); a folder without environment folders has "
                "one: use condition_tasks on the renders or on a folder of environments, or set it to 0"
            )
        self.environments = list(self.frames)

    def sample(self, generator: torch.Generator) -> Task:
        picks = torch.randperm(len(self.environments), generator=generator)[: self.n_way].tolist()
        chosen = [self.environments[i] for i in picks]
        metadata = {"task": "condition", "split": self.split, "class_names": chosen}
        return _episode([self.frames[env] for env in chosen], self.k_shot, self.n_query, generator, metadata)


class MixedSampler:
    """Draws a :class:`ConditionSampler` task with probability ``share``, else a scene task; both of one shape, so
    a meta-batch stacks either. The choice comes from the task's own generator (a resumed run draws the same)."""

    def __init__(self, scenes: DrivingSampler, conditions: ConditionSampler, share: float):
        self.scenes, self.conditions, self.share = scenes, conditions, float(share)

    def sample(self, generator: torch.Generator) -> Task:
        if float(torch.rand((), generator=generator)) < self.share:
            return self.conditions.sample(generator)
        return self.scenes.sample(generator)


class DrivingDomain(Domain):
    """Driving-scene classification in unseen road environments.

    Options
    -------
    data_dir : str, optional
        Real images: an image folder (``root/<environment>/<class>/*``) or a folder holding a
        BDD100K label JSON (``labels.json``) next to ``images/``. Default: the procedural renderer.
    image_size : int
        Side of the square frames fed to the backbone (default 48, not the literature's 84: on this
        project's 2-core CPU one ProtoNet meta-step (4 tasks of 5-way 1-shot, 15 queries) takes
        10.5 s with Conv-4-64 at 84 px and 0.6 s with Conv-4-32 at 48 px; the renderer draws at
        2-3x and downsamples, so 48 px frames keep the scene cues).
    hidden : int
        Conv-4 filters per layer (default 32, see ``image_size``).
    images_per_class : int
        Rendered frames per class and environment (default 30).
    cache_dir : str, optional
        Where rendered pools are cached (default ``metasuite.core.paths.cache_dir("driving")``).
    randomise : float
        Domain-randomisation level of the rendered frames (default 0: the plain renderer; 1: the standard
        strength; at most 2): random palettes, textures, photometry and camera effects per frame, the scene
        unchanged (``render.randomise``). Every split is rendered this way, so evaluate a model trained with
        randomisation with ``--option randomise=0`` to score it on the plain frames. Enters the cache key and
        the fingerprint when > 0; ignored for real frames (``data_dir``).
    condition_tasks : float
        Share of the *meta-training* tasks (default 0; :meth:`meta_train_sampler`) that ask which environment a
        frame was taken in -- weather × time of day × region on the renders -- instead of which scene it shows
        (:class:`ConditionSampler`), so the features keep the road condition that scene tasks teach them to ignore.
        Evaluation on any split, validation and the baselines' pre-training stay scene tasks. Recorded in the
        checkpoint's options, not in the fingerprint (same data).
    mix_plain : bool
        With ``randomise`` > 0, every environment's pool holds its plain frames *and* their randomised renders
        (twice the frames, half of them plain), so training sees both the renderer's own look and the randomised
        ones (the level-0 scores are what randomisation alone cost). In the fingerprint when set.
    """

    name = "driving"
    title = "Driving-scene classification"
    description = "Recognise the driving scene in a road environment never seen in training, from a few frames."
    kind = "classification"
    shared_classes = True  # every split has the same 12 scene classes; the shift is the environment
    option_specs = (
        Option("data_dir", Path, None, "real frames: an image folder (<environment>/<class>/*) or BDD100K labels"),
        Option("image_size", int, 48, "frame side in pixels"),
        Option("images_per_class", int, 30, "rendered frames per class and environment"),
        Option("hidden", int, 32, "filters per Conv-4 layer"),
        Option("cache_dir", Path, None, "where rendered pools are cached (default: the user cache)", flag=False),
        Option("skip_unreadable", bool, False, "skip unreadable image files with a warning (else refused)", flag=False),
        Option("randomise", float, 0.0, "domain randomisation of rendered frames: 0 off, 1 standard, at most 2"),
        Option("mix_plain", bool, False, "with randomise > 0: pools hold the plain frames too (half plain)"),
        Option("condition_tasks", float, 0.0, "share of meta-training tasks that classify environments, not scenes"),
        Option(
            "split_by",
            str,
            "auto",
            "how a real folder is split: auto, environment, image, or class (novel-class test tasks)",
            choices=SPLIT_RULES,
        ),
    )

    def __init__(
        self,
        data_dir: str | None = None,
        image_size: int = 48,
        images_per_class: int = 30,
        hidden: int = 32,
        cache_dir: str | None = None,
        skip_unreadable: bool = False,
        randomise: float = 0.0,
        split_by: str = "auto",
        mix_plain: bool = False,
        condition_tasks: float = 0.0,
    ):
        if split_by not in SPLIT_RULES:
            raise OptionError(f"option split_by: choose one of {', '.join(SPLIT_RULES)}, got {split_by!r}")
        if split_by != "auto" and data_dir is None:
            raise OptionError("option split_by applies to a real folder (--data-dir); the renders have their own split")
        try:
            randomise = check_level(randomise)
        except ValueError as exc:
            raise OptionError(f"option randomise: {exc}") from exc
        if mix_plain and not randomise:
            raise OptionError(
                "option mix_plain mixes plain frames into randomised ones: set randomise > 0 too (to score a "
                "mix_plain checkpoint on the plain frames alone: --option randomise=0 --option mix_plain=false)"
            )
        if not 0.0 <= condition_tasks <= 1.0:
            raise OptionError(f"option condition_tasks is a share of training tasks, in [0, 1]; got {condition_tasks}")
        super().__init__(
            data_dir=data_dir,
            image_size=image_size,
            images_per_class=images_per_class,
            hidden=hidden,
            **({"skip_unreadable": True} if skip_unreadable else {}),
            **({"randomise": randomise} if randomise else {}),  # level 0 records what it always did
            **({"split_by": split_by} if split_by != "auto" else {}),
            **({"mix_plain": True} if mix_plain else {}),
            **({"condition_tasks": float(condition_tasks)} if condition_tasks else {}),
        )
        self.condition_tasks = float(condition_tasks)
        self.split_by = split_by
        if split_by == "class":  # test classes were never trained on: no pooled model reads their logits
            self.shared_classes = False
        self.mix_plain = bool(mix_plain)
        self.randomise = randomise
        self.skip_unreadable = bool(skip_unreadable)
        self.hidden = int(hidden)
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        self.data_dir = None if data_dir is None else Path(data_dir)
        self.image_size = int(image_size)
        self.images_per_class = int(images_per_class)
        self._pools: dict[str, ImagePool] = {}
        self._frames_by_class: dict[str, dict[str, np.ndarray]] = {}  # pooled_batch's direct draw, per split
        self._classes: list[str] | None = None
        self._splits: dict[str, list[str]] | None = None

    # ------------------------------------------------------------------ data
    @property
    def classes(self) -> list[str]:
        """Global scene class list."""
        if self._classes is None:
            if self.data_dir is None:
                self._classes = list(SCENE_CLASSES)
            else:
                pool = self._real_pool()
                self._classes = sorted({c for by_class in pool.values() for c in by_class})
        return self._classes

    def splits(self) -> dict[str, list[str]]:
        """Environment names per split (``train``/``val``/``test``/``seen``).

        A real folder (``split_by="auto"``) is split by environment (named ``train``/``test`` folders, else 60/20/20
        by a hash of the name) when it has at least 3 environments; a plain ``root/<class>/<image>`` folder (or one
        with 1-2 environments) is split *by image* instead (:func:`split_by_image`). ``split_by`` forces one rule:
        ``environment``, ``image``, or ``class`` (:func:`~metasuite.domains.driving.splits.split_by_class`: test
        tasks are of scene classes never trained on)."""
        if self._splits is None:
            if self.data_dir is None:
                self._splits = synthetic_splits()
            elif self.split_by == "class":
                self._pools["real"], self._splits = split_by_class(self._real_pool())
            elif self.split_by == "image":
                self._pools["real"], self._splits = split_by_image(self._real_pool())
            else:
                envs = sorted(self._real_pool())
                try:
                    self._splits = _real_splits(envs)
                except _TooFewEnvironments:
                    if self.split_by == "environment":
                        raise
                    self._pools["real"], self._splits = split_by_image(self._real_pool())
                if not self._splits["val"]:  # named train/ and test/ folders only
                    self._pools["real"], self._splits = validation_by_image(self._real_pool(), self._splits)
        return self._splits

    def _real_pool(self) -> ImagePool:
        if "real" not in self._pools:
            root = self.data_dir
            assert root is not None
            if not root.exists():
                raise DataError(f"driving data folder {root} does not exist")
            labels = sorted(root.glob("*.json"))
            if labels:
                self._pools["real"] = load_bdd100k(
                    labels[0], root / "images", size=self.image_size, skip_unreadable=self.skip_unreadable
                )
            else:
                self._pools["real"] = load_image_folder(
                    root, size=self.image_size, skip_unreadable=self.skip_unreadable
                )
        return self._pools["real"]

    def pool(self, split: str) -> ImagePool:
        """The images of ``split``'s environments (rendered once, then cached on disk)."""
        if split not in SPLIT_NAMES:
            raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLIT_NAMES)}")
        if split not in self._pools:
            envs = self.splits()[split]
            if self.data_dir is None:
                seed = SEEN_IMAGE_SEED if split == "seen" else TRAIN_IMAGE_SEED
                pool: ImagePool = {}
                levels = (0.0, self.randomise) if self.mix_plain else (self.randomise,)
                for env in envs:
                    arrs = [
                        cached_pool(
                            Environment.from_name(env),
                            self.images_per_class,
                            self.image_size,
                            seed,
                            self.cache_dir,
                            randomise=level,
                        )
                        for level in levels
                    ]
                    # (classes, frames, H, W, 3): plain frames first when mixed; one level is used as loaded
                    arr = arrs[0] if len(arrs) == 1 else np.concatenate(arrs, axis=1)
                    pool[env] = {c: arr[i] for i, c in enumerate(SCENE_CLASSES)}
                self._pools[split] = pool
            else:
                real = self._real_pool()
                if split == "seen":
                    raise DataError(
                        "the 'seen' split needs held-out frames of training environments; "
                        "real image folders have none — evaluate on 'test'"
                    )
                self._pools[split] = {env: real[env] for env in envs}
        return self._pools[split]

    # ------------------------------------------------------------------ Domain interface
    def sampler(self, split: str, *, n_way: int | None = 5, k_shot: int = 1, n_query: int = 15) -> DrivingSampler:
        return DrivingSampler(self.pool(split), self.classes, n_way or 5, k_shot, n_query, split)

    def meta_train_sampler(
        self, *, n_way: int | None = 5, k_shot: int = 1, n_query: int = 15
    ) -> DrivingSampler | MixedSampler:
        """Scene tasks of the training split, with condition tasks mixed in when ``condition_tasks`` > 0."""
        scenes = self.sampler("train", n_way=n_way, k_shot=k_shot, n_query=n_query)
        if not self.condition_tasks:
            return scenes
        conditions = ConditionSampler(self.pool("train"), n_way or 5, k_shot, n_query, "train")
        return MixedSampler(scenes, conditions, self.condition_tasks)

    def backbone_spec(self, algorithm: str, n_way: int | None) -> tuple[str, dict[str, Any]]:
        return "conv4", {
            "in_channels": 3,
            "image_size": self.image_size,
            "hidden": self.hidden,
            "norm": "batch",
            "out_features": None if algorithm == "protonet" else n_way,
        }

    def default_setting(self) -> dict[str, Any]:
        """5-way 1-shot with 15 queries per class; a real folder with fewer than 5 classes: as many ways as it has
        classes (the pre-training baselines draw their pooled batches from tasks of this shape)."""
        if self.data_dir is None:
            n_way = 5
        else:  # a novel-class split trains on its training classes only
            train = {c for env in self.splits()["train"] for c in self.pool("train")[env]}
            n_way = max(2, min(5, len(train if self.split_by == "class" else self.classes)))
        return {"n_way": n_way, "k_shot": 1, "n_query": 15}

    def pooled_batch(
        self, split: str, batch_size: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Pooled frames for the pre-training baselines: from tasks of the default shape (every result in the README),
        or -- a small real folder whose classes have fewer training images than such a task needs -- frames drawn
        directly: a class uniformly, then one of its images in the split."""
        if split not in self._frames_by_class:  # once a split needed the direct draw, it keeps it (no retry per step)
            try:
                return super().pooled_batch(split, batch_size, generator)
            except TaskError:
                parts: dict[str, list[np.ndarray]] = {}
                for by_env_class in self.pool(split).values():
                    for cls, images in by_env_class.items():
                        parts.setdefault(cls, []).append(images)
                self._frames_by_class[split] = {cls: np.concatenate(arrs) for cls, arrs in parts.items()}
        by_class = self._frames_by_class[split]
        names = sorted(by_class)
        if not names:
            raise DataError(f"the {split} split holds no images to pre-train the baselines on")
        picks = torch.randint(len(names), (batch_size,), generator=generator).tolist()
        frames = [
            by_class[names[c]][int(torch.randint(len(by_class[names[c]]), (1,), generator=generator))] for c in picks
        ]
        labels = torch.tensor([self.classes.index(names[c]) for c in picks], dtype=torch.long)
        return pool_to_tensor(np.stack(frames)), labels

    def eval_plan(self, setting: dict[str, Any], split: str | None, explicit: bool) -> list[dict[str, Any]]:
        """5-way 1- and 5-shot on unseen (meta-test) and seen environments, unless the user chose."""
        if explicit:
            return [{**setting, "split": split or "test"}]
        splits = ("test", "seen") if self.data_dir is None else ("test",)
        n_query = self.default_setting()["n_query"]  # training may have used fewer queries for speed
        return [{**setting, "k_shot": k, "n_query": n_query, "split": s} for s in splits for k in (1, 5)]

    def default_hparams(self, algorithm: str) -> dict[str, Any]:
        # Finn et al. 2017 (miniImageNet): inner lr 0.01, 5 steps in training, 10 at test. Second-order
        # MAML and Meta-SGD train with 2 inner steps: 5 cost 0.87 s per meta-step on the 2-core CPU
        # (2: 0.42 s), which would put 1,500 steps far over the 15-minute training budget.
        if algorithm in ("maml", "metasgd"):
            return {"inner_lr": 0.01, "inner_steps": 2, "test_inner_steps": 10}
        if algorithm == "fomaml":
            return {"inner_lr": 0.01, "inner_steps": 5, "test_inner_steps": 10}
        if algorithm == "anil":
            return {"inner_lr": 0.1, "inner_steps": 5, "test_inner_steps": 10}
        if algorithm == "reptile":
            return {"inner_lr": 0.05, "inner_steps": 5, "test_inner_steps": 10}
        return {}

    def default_train_config(self, algorithm: str) -> dict[str, Any]:
        return {
            "steps": 1500,
            "meta_batch_size": 4,
            "outer_lr": 1e-3,
            "val_every": 250,
            "val_tasks": 100,
            "checkpoint_every": 50,
        }

    def default_baselines(self) -> dict[str, Any]:
        return {
            "scratch_steps": 50,
            "scratch_lr": 1e-3,
            "pretrain_steps": 1000,
            "pretrain_batch_size": 64,
            "pretrain_lr": 1e-3,
            "finetune_steps": 20,
            "finetune_lr": 1e-3,
        }

    def n_classes_total(self) -> int:
        return len(self.classes)

    def __getstate__(self) -> dict[str, Any]:
        # pickled for evaluation worker processes: they reload the image pools (renders from the disk cache, a real
        # folder from its files) and split them again by the same fixed rule. The split is dropped with the pools:
        # a folder split by image or class names environments ("<env> [val]") that only the split pool holds.
        return {**self.__dict__, "_pools": {}, "_frames_by_class": {}, "_splits": None, "_classes": None}

    def augment(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Frames ``(n, 3, H, W)`` mirrored left-right at random and shifted by up to 1/8 of their side (reflected
        borders): the same scene class seen from a slightly different camera position. Driving side is a scene
        cue only in a few classes (roundabout direction), so a mirror keeps the label."""
        n, _, h, w = x.shape
        flip = torch.rand(n, generator=generator) < 0.5
        out = torch.where(flip[:, None, None, None], x.flip(-1), x)
        pad = max(1, h // 8)
        padded = torch.nn.functional.pad(out, (pad, pad, pad, pad), mode="reflect")
        dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
        dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
        return torch.stack([padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(n)])

    def bench_workload(self) -> dict[str, Any]:
        """Conv-4 ProtoNet on 5-way 1-shot episodes with 5 queries, meta-batch 8 (``metasuite bench distributed``)."""
        return {
            "name": "protonet_conv4_driving",
            "algo": "protonet",
            "n_query": 5,
            "meta_batch_size": 8,
            "steps": 40,
            "quick_steps": 12,
        }

    def fingerprint(self) -> str:
        if self.data_dir is None:
            blob = f"{renderer_fingerprint(self.randomise)}|{self.image_size}|{self.images_per_class}"
            blob += "|mix_plain" if self.mix_plain else ""
        else:
            files = sorted(str(p.relative_to(self.data_dir)) for p in self.data_dir.rglob("*") if p.is_file())
            blob = "|".join(files) + f"|{self.image_size}" + (f"|{self.split_by}" if self.split_by != "auto" else "")
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


class _TooFewEnvironments(DataError):
    """Fewer than 3 environments and no named train/test folders: split by image instead."""


#: Shares of each (environment, class)'s images in train / val / test when a folder is split by image.
IMAGE_SPLIT = (0.6, 0.2, 0.2)


def split_by_image(pool: ImagePool) -> tuple[ImagePool, dict[str, list[str]]]:
    """Split a folder with too few environments for an environment split by image, stratified by class.

    The rule (documented in the README): the images of each (environment, class) are put in a random order drawn
    from ``numpy.random.default_rng`` seeded by the SHA-256 of ``"environment/class"`` -- fixed for a folder,
    whatever else it holds -- and cut 60 / 20 / 20 % into train / val / test (rounded; each part gets at least
    one image when the class has 3 or more, a class with fewer stays in train). Each environment ``E`` becomes
    ``E [train]``, ``E [val]`` and ``E [test]``; test tasks are then unseen *images* of seen classes (no
    ``seen`` split: there are no held-out frames of other environments).
    """
    parts: dict[str, ImagePool] = {"train": {}, "val": {}, "test": {}}
    for env, by_class in sorted(pool.items()):
        for cls, images in sorted(by_class.items()):
            n = len(images)
            order = _image_order(env, cls, n)
            if n < 3:
                cuts = {"train": order}
            else:
                n_val = max(1, round(IMAGE_SPLIT[1] * n))
                n_test = max(1, round(IMAGE_SPLIT[2] * n))
                cuts = {
                    "test": order[:n_test],
                    "val": order[n_test : n_test + n_val],
                    "train": order[n_test + n_val :],
                }
            for split, idx in cuts.items():
                parts[split].setdefault(f"{env} [{split}]", {})[cls] = images[np.sort(idx)]
    merged = {env: by_class for part in parts.values() for env, by_class in part.items()}
    return merged, {split: sorted(part) for split, part in parts.items()} | {"seen": []}


def _image_order(env: str, cls: str, n: int) -> np.ndarray:
    """A fixed random order of the ``n`` images of ``env``/``cls``: seeded by the SHA-256 of ``"env/cls"``."""
    seed = int.from_bytes(hashlib.sha256(f"{env}/{cls}".encode()).digest()[:8], "little")
    return np.random.default_rng(seed).permutation(n)


def validation_by_image(pool: ImagePool, splits: dict[str, list[str]]) -> tuple[ImagePool, dict[str, list[str]]]:
    """A validation split for a folder with ``train/`` and ``test/`` but no ``val/``: 20% of each training
    class's images (at least one when it has 2 or more; in the :func:`split_by_image` order) become ``E [val]``,
    the rest ``E [train]``; test environments are unchanged."""
    out = {env: by_class for env, by_class in pool.items() if env not in splits["train"]}
    train, val = [], []
    for env in splits["train"]:
        for cls, images in sorted(pool[env].items()):
            order = _image_order(env, cls, len(images))
            n_val = max(1, round(IMAGE_SPLIT[1] * len(images))) if len(images) >= 2 else 0
            out.setdefault(f"{env} [train]", {})[cls] = images[np.sort(order[n_val:])]
            if n_val:
                out.setdefault(f"{env} [val]", {})[cls] = images[np.sort(order[:n_val])]
        train.append(f"{env} [train]")
        if f"{env} [val]" in out:
            val.append(f"{env} [val]")
    return out, {**splits, "train": train, "val": val, "seen": list(train)}


def _real_splits(envs: list[str]) -> dict[str, list[str]]:
    """Deterministic environment split of a real dataset: named folders first, else 60/20/20 by hash."""
    lowered = {e.lower(): e for e in envs}
    named = {
        s: [lowered[k] for k in lowered if k in aliases]
        for s, aliases in (
            ("train", ("train", "training")),
            ("val", ("val", "validation")),
            ("test", ("test", "testing")),
        )
    }
    if named["train"] and named["test"]:
        return {**named, "seen": list(named["train"])}
    if len(envs) < 3:
        raise _TooFewEnvironments(
            f"need at least 3 environments to split by environment, found {envs}; name folders "
            "train/ and test/ to choose the split yourself"
        )
    order = sorted(envs, key=lambda e: hashlib.sha256(e.encode()).hexdigest())
    n_test = max(1, round(0.2 * len(order)))
    n_val = max(1, round(0.2 * len(order)))
    return {
        "test": order[:n_test],
        "val": order[n_test : n_test + n_val],
        "train": order[n_test + n_val :],
        "seen": order[n_test + n_val :],
    }
