"""The sinusoid domain: parameter ranges, exact targets, shapes, seeding and disjoint splits."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from conftest import gen

from metasuite.core.tasks import TaskBatch, fixed_tasks, sample_batch
from metasuite.domains.sinusoid import SinusoidDomain, SinusoidSampler
from metasuite.domains.sinusoid.domain import AMPLITUDE, PHASE, X_RANGE


def test_constants_are_those_of_the_maml_paper() -> None:
    assert AMPLITUDE == (0.1, 5.0) and (0.0, math.pi) == PHASE and X_RANGE == (-5.0, 5.0)


def test_parameters_and_inputs_lie_in_their_ranges() -> None:
    batch = SinusoidSampler("train", k_shot=10, n_query=10).sample_batch(500, gen(0))
    amp = torch.tensor([m["amplitude"] for m in batch.metadata])
    phase = torch.tensor([m["phase"] for m in batch.metadata])
    assert float(amp.min()) >= 0.1 and float(amp.max()) <= 5.0
    assert float(phase.min()) >= 0.0 and float(phase.max()) <= math.pi
    # they cover the ranges (uniform draws, not a constant or a sub-range)
    assert float(amp.min()) < 0.3 and float(amp.max()) > 4.8
    assert float(phase.min()) < 0.2 and float(phase.max()) > math.pi - 0.2
    x = torch.cat([batch.support_x, batch.query_x], dim=1)
    assert float(x.min()) >= -5.0 and float(x.max()) <= 5.0
    assert float(x.min()) < -4.9 and float(x.max()) > 4.9


def test_targets_are_exactly_a_sin_x_minus_phase() -> None:
    sampler = SinusoidSampler("val", k_shot=7, n_query=9)
    for task in fixed_tasks(sampler, 5, seed=3):
        a = torch.tensor(task.metadata["amplitude"], dtype=torch.float32)
        p = torch.tensor(task.metadata["phase"], dtype=torch.float32)
        assert torch.equal(task.support_y, a * torch.sin(task.support_x - p))
        assert torch.equal(task.query_y, a * torch.sin(task.query_x - p))
    batch = sampler.sample_batch(4, gen(1))
    for i, m in enumerate(batch.metadata):
        a = torch.tensor(m["amplitude"], dtype=torch.float32)
        p = torch.tensor(m["phase"], dtype=torch.float32)
        assert torch.equal(batch.query_y[i], a * torch.sin(batch.query_x[i] - p))


def test_shapes_dtypes_and_metadata() -> None:
    sampler = SinusoidSampler("test", k_shot=3, n_query=8)
    task = sampler.sample(gen(0))
    assert task.support_x.shape == (3, 1) and task.support_y.shape == (3, 1)
    assert task.query_x.shape == (8, 1) and task.query_y.shape == (8, 1)
    assert task.support_x.dtype == torch.float32 and task.support_mask is None
    assert set(task.metadata) == {"amplitude", "phase", "split"} and task.metadata["split"] == "test"
    batch = sample_batch(sampler, 6, gen(0))  # uses the vectorised sampler
    assert isinstance(batch, TaskBatch) and len(batch) == 6
    assert batch.support_x.shape == (6, 3, 1) and batch.query_y.shape == (6, 8, 1)
    assert len(batch.metadata) == 6 and all(m["split"] == "test" for m in batch.metadata)
    assert len({m["amplitude"] for m in batch.metadata}) == 6


def test_sample_and_sample_batch_draw_the_same_task() -> None:
    sampler = SinusoidSampler("train", k_shot=5, n_query=5)
    task, batch = sampler.sample(gen(42)), sampler.sample_batch(1, gen(42))
    assert torch.equal(task.support_x, batch.support_x[0]) and torch.equal(task.query_y, batch.query_y[0])
    assert task.metadata == batch.metadata[0]


def test_same_seed_same_tasks_other_seed_other_tasks() -> None:
    sampler = SinusoidSampler("train", k_shot=5, n_query=5)
    a, b, c = sampler.sample_batch(3, gen(7)), sampler.sample_batch(3, gen(7)), sampler.sample_batch(3, gen(8))
    assert torch.equal(a.support_x, b.support_x) and torch.equal(a.query_y, b.query_y) and a.metadata == b.metadata
    assert not torch.equal(a.support_x, c.support_x)
    # a sampler holds no random state of its own: a fresh one draws the same task
    assert torch.equal(SinusoidSampler("train", 5, 5).sample(gen(1)).support_y, sampler.sample(gen(1)).support_y)


def test_splits_are_disjoint_even_with_identically_seeded_generators() -> None:
    params = {}
    for split in ("train", "val", "test"):
        sampler = SinusoidSampler(split, k_shot=5, n_query=5)
        drawn = [sampler.sample(gen(s)) for s in range(100)] + fixed_tasks(sampler, 100, seed=0)
        drawn += [sampler.sample_batch(50, gen(0))[i] for i in range(50)]
        params[split] = {(t.metadata["amplitude"], t.metadata["phase"]) for t in drawn}
        xs = {round(v, 6) for t in drawn for v in t.support_x.flatten().tolist()}
        params[split + "-x"] = xs
    assert not params["train"] & params["val"]
    assert not params["train"] & params["test"]
    assert not params["val"] & params["test"]
    # not even the input points coincide
    assert not params["train-x"] & params["test-x"]


def test_bad_sampler_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        SinusoidSampler("dev", 5, 5)
    with pytest.raises(ValueError, match="k_shot and n_query must be >= 1"):
        SinusoidSampler("train", 0, 5)


def test_domain_defaults_and_fingerprint() -> None:
    domain = SinusoidDomain()
    assert domain.kind == "regression" and domain.name == "sinusoid"
    assert domain.default_setting() == {"n_way": None, "k_shot": 10, "n_query": 10}
    assert domain.backbone_spec("maml", None) == ("mlp", {"in_features": 1, "hidden": [40, 40], "out_features": 1})
    sampler = domain.sampler("val", k_shot=4, n_query=6)
    assert (sampler.split, sampler.k_shot, sampler.n_query) == ("val", 4, 6)
    # stable across instances and runs: a change means the generator changed and checkpoints' cards are stale
    assert SinusoidDomain().fingerprint() == domain.fingerprint() == "19db98844c90c033"


def test_pooled_batch_gives_supervised_examples() -> None:
    x, y = SinusoidDomain().pooled_batch("train", 33, gen(0))
    assert x.shape == (33, 1) and y.shape == (33, 1)
    assert torch.isfinite(y).all() and float(y.abs().max()) <= 5.0


@pytest.mark.slow
def test_bench_sinusoid_quick_reports_one_eval_json_per_k_with_every_method(tmp_path: Path) -> None:
    from metasuite.domains.sinusoid.bench import ALGORITHMS, PUBLISHED, SHOTS, bench_sinusoid

    report = bench_sinusoid(quick=True, out_root=str(tmp_path))
    assert [r["setting"]["k_shot"] for r in report["results"]] == list(SHOTS)
    for rep in report["results"]:
        assert rep["domain"] == "sinusoid" and rep["setting"]["n_tasks"] == 20
        methods = [r["method"] for r in rep["results"]]
        assert methods[: len(ALGORITHMS)] == list(ALGORITHMS) and {"scratch", "pretrain+finetune"} <= set(methods)
        for r in rep["results"]:
            assert r["metrics"]["mse"]["mean"] > 0 and r["metrics"]["mse"]["ci95"] >= 0
    assert set(report["ratios"]) == {f"{a}_k{k}_vs_published" for a in PUBLISHED for k in SHOTS}
