"""Shared tiny fixtures: synthetic few-shot tasks and small backbones (everything runs in milliseconds)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from metasuite.core.backbones import build_backbone
from metasuite.core.domain import Domain
from metasuite.core.tasks import Task, TaskBatch, fixed_tasks, sample_batch
from metasuite.domains.sinusoid import SinusoidSampler

# Caches (rendered pools, the app's stand-in models) go to one folder outside the source tree and the user's
# own cache, shared by every test run on this machine (and inherited by the processes tests start).
os.environ.setdefault("METASUITE_CACHE", str(Path(tempfile.gettempdir()) / "metasuite-test-cache"))
# hypothesis keeps its own files in ./.hypothesis unless told otherwise
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", str(Path(tempfile.gettempdir()) / "metasuite-test-hypothesis"))

# The tensors here are tiny: intra-op threads only add overhead (and stall badly on a busy machine).
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _keep_main_module():
    """Put ``sys.modules["__main__"]`` back after each test.

    Streamlit's ``AppTest`` leaves the page script installed as ``__main__``; a later test that starts
    ``spawn`` processes (``evaluate_parallel``) would then make every child re-run that page on start-up
    (the Trading page pre-trains a model: a 7 s test took minutes).
    """
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


# Tiny sizes shared by the tests.
IMAGE_SHAPE = (1, 16, 16)
VECTOR_DIM = 8


class GaussianClassSampler:
    """N-way K-shot tasks over ``n_classes`` Gaussian class clusters.

    Every global class ``c`` has a fixed mean (drawn once from ``seed``); an example of ``c`` is
    ``mean[c] + noise * N(0, 1)``. A task picks ``n_way`` distinct classes with the generator and
    labels them ``0 .. n_way-1`` in that order; ``metadata["classes"]`` maps local -> global ids.

    ``support_x`` is ``(n_way * k_shot, *feature_shape)``, grouped by class; ``query_x`` likewise.
    """

    def __init__(
        self,
        feature_shape: tuple[int, ...] = IMAGE_SHAPE,
        *,
        n_classes: int = 12,
        n_way: int = 3,
        k_shot: int = 2,
        n_query: int = 3,
        noise: float = 0.5,
        seed: int = 0,
        first_class: int = 0,
    ):
        g = torch.Generator().manual_seed(seed)
        self.means = torch.randn((n_classes, *feature_shape), generator=g)
        self.feature_shape = feature_shape
        self.n_classes, self.n_way, self.k_shot, self.n_query = n_classes, n_way, k_shot, n_query
        self.noise = noise
        self.first_class = first_class  # global id offset, so that splits can use disjoint ids

    def _examples(self, classes: Tensor, per_class: int, g: torch.Generator) -> tuple[Tensor, Tensor]:
        labels = torch.arange(len(classes)).repeat_interleave(per_class)
        x = self.means[classes[labels]] + self.noise * torch.randn((len(labels), *self.feature_shape), generator=g)
        return x, labels

    def sample(self, generator: torch.Generator) -> Task:
        classes = torch.randperm(self.n_classes, generator=generator)[: self.n_way]
        sx, sy = self._examples(classes, self.k_shot, generator)
        qx, qy = self._examples(classes, self.n_query, generator)
        return Task(sx, sy, qx, qy, metadata={"classes": [self.first_class + int(c) for c in classes]})


def gen(seed: int = 0) -> torch.Generator:
    """A fresh CPU generator."""
    return torch.Generator().manual_seed(seed)


def grads_of(module: nn.Module) -> dict[str, Tensor]:
    """``{name: grad clone}`` of every parameter (``None`` grads are kept as ``None``)."""
    return {k: None if p.grad is None else p.grad.detach().clone() for k, p in module.named_parameters()}


def flat(tensors: dict[str, Tensor]) -> Tensor:
    """Concatenate a dict of tensors (sorted by name) into one vector."""
    return torch.cat([tensors[k].flatten() for k in sorted(tensors)])


def rel_err(a: Tensor, b: Tensor) -> float:
    """``||a - b|| / ||b||`` (``b`` is the reference)."""
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


def image_backbone(n_way: int | None = 3, norm: str = "group", seed: int = 0, hidden: int = 8) -> nn.Module:
    """Conv-4 with ``hidden`` channels on 1x16x16 images (``n_way=None``: embedding only)."""
    return build_backbone(
        "conv4", seed=seed, in_channels=1, out_features=n_way, hidden=hidden, image_size=16, norm=norm
    )


def vector_backbone(n_way: int | None = 3, seed: int = 0) -> nn.Module:
    """MLP ``VECTOR_DIM -> 16 -> 16 -> n_way`` (``n_way=None``: embedding only)."""
    return build_backbone("mlp", seed=seed, in_features=VECTOR_DIM, hidden=(16, 16), out_features=n_way)


def sine_backbone(seed: int = 0) -> nn.Module:
    """MLP ``1 -> 16 -> 16 -> 1`` for sine regression."""
    return build_backbone("mlp", seed=seed, in_features=1, hidden=(16, 16), out_features=1)


@pytest.fixture
def image_sampler() -> GaussianClassSampler:
    """3-way 2-shot 3-query tasks of 1x16x16 'images'."""
    return GaussianClassSampler(IMAGE_SHAPE)


@pytest.fixture
def vector_sampler() -> GaussianClassSampler:
    """3-way 2-shot 3-query tasks of ``VECTOR_DIM``-dimensional vectors."""
    return GaussianClassSampler((VECTOR_DIM,))


@pytest.fixture
def image_batch(image_sampler: GaussianClassSampler) -> TaskBatch:
    """Four image classification tasks (fixed seed)."""
    return TaskBatch.stack(fixed_tasks(image_sampler, 4, seed=1))


@pytest.fixture
def vector_batch(vector_sampler: GaussianClassSampler) -> TaskBatch:
    """Four vector classification tasks (fixed seed)."""
    return TaskBatch.stack(fixed_tasks(vector_sampler, 4, seed=1))


@pytest.fixture
def ragged_image_batch() -> TaskBatch:
    """Three image tasks with different support/query sizes, stacked with padding and masks."""
    tasks = [
        GaussianClassSampler(IMAGE_SHAPE, k_shot=k, n_query=q).sample(gen(i))
        for i, (k, q) in enumerate([(1, 2), (3, 3), (2, 1)])
    ]
    return TaskBatch.stack(tasks, pad=True)


@pytest.fixture
def sine_sampler() -> SinusoidSampler:
    """Sinusoid meta-train sampler, 5 support and 5 query points."""
    return SinusoidSampler("train", k_shot=5, n_query=5)


@pytest.fixture
def sine_batch(sine_sampler: SinusoidSampler) -> TaskBatch:
    """Four sine tasks (fixed seed)."""
    return sample_batch(sine_sampler, 4, gen(3))


@pytest.fixture
def ragged_sine_batch() -> TaskBatch:
    """Three sine tasks with different support/query sizes, padded with masks."""
    tasks = [SinusoidSampler("train", k, q).sample(gen(10 + i)) for i, (k, q) in enumerate([(2, 3), (5, 5), (3, 1)])]
    return TaskBatch.stack(tasks, pad=True)


class TinyClassificationDomain(Domain):
    """A complete classification domain over Gaussian vector clusters, for baseline/evaluator tests.

    Splits use disjoint global class ids (train 0-11, val 12-23, test 24-35).
    """

    name = "tiny-gauss"
    title = "Tiny Gaussian clusters"
    description = "3-way 2-shot classification of 8-d Gaussian clusters (tests only)."
    kind = "classification"

    _OFFSET: dict[str, int] = {"train": 0, "val": 12, "test": 24}  # noqa: RUF012

    def sampler(self, split: str, *, n_way: int | None = 3, k_shot: int = 2, n_query: int = 3) -> GaussianClassSampler:
        return GaussianClassSampler(
            (VECTOR_DIM,),
            n_classes=12,
            n_way=n_way or 3,
            k_shot=k_shot,
            n_query=n_query,
            seed=100 + self._OFFSET[split],
            first_class=self._OFFSET[split],
        )

    def backbone_spec(self, algorithm: str, n_way: int | None) -> tuple[str, dict[str, Any]]:
        out = None if algorithm == "protonet" else n_way
        return "mlp", {"in_features": VECTOR_DIM, "hidden": [16], "out_features": out}

    def default_setting(self) -> dict[str, Any]:
        return {"n_way": 3, "k_shot": 2, "n_query": 3}

    def n_classes_total(self) -> int | None:
        return 12


@pytest.fixture
def tiny_domain() -> TinyClassificationDomain:
    return TinyClassificationDomain()
