"""``metasuite bench core``: one measurement, the gradient cross-check, and the report's shape.

Tiny configurations keep this file fast; no test asserts on a timing (the machine is shared).
"""

from __future__ import annotations

import dataclasses
import sys

import pytest
import torch

import metasuite.core.bench_core as bc
from metasuite.core.algorithms.maml import MAML
from metasuite.core.backbones import build_backbone

TINY_MLP = dataclasses.replace(
    bc.CONFIGS[0],
    name="tiny-mlp",
    backbone_kwargs={"in_features": 1, "hidden": (8, 8), "out_features": 1},
    meta_batch=3,
    k_shot=4,
    n_query=4,
)
TINY_CONV = dataclasses.replace(
    bc.CONFIGS[2],
    name="tiny-conv4",
    ratio_prefix="conv4_",
    backbone_kwargs={"in_channels": 1, "out_features": 5, "hidden": 4, "image_size": 16, "norm": "batch"},
    meta_batch=2,
    n_query=1,
    quick_cpu_meta_batch=1,
)
TINY_OPTIONAL = dataclasses.replace(TINY_CONV, name="tiny-conv4-optional", ratio_prefix="opt_", optional=True)
TINY_PLAN = bc.StepPlan(min_warmup=1, max_warmup=1, warmup_budget_s=0.0, min_timed=2, max_timed=2, timed_budget_s=0.0)


def _check_measurement(res: dict) -> None:
    assert "error" not in res, res
    assert res["ms_per_step"] > 0 and res["ms_min"] > 0
    assert res["ms_min"] <= res["ms_per_step"]
    assert res["timed_steps"] == 2 and res["warmup_steps"] == 1
    if sys.platform.startswith("linux"):
        assert isinstance(res["peak_mib"], float) and res["peak_mib"] >= 0


def test_isolated_measurement_runs_in_a_fresh_single_thread_process():
    res = bc.run_isolated(TINY_MLP, "vmap", TINY_PLAN)
    _check_measurement(res)
    assert res["threads"] == 1


@pytest.mark.parametrize("implementation", ["loop", "higher"])
def test_measure_in_process(implementation):
    if implementation == "higher":
        pytest.importorskip("higher")
    _check_measurement(bc.measure(TINY_CONV, implementation, TINY_PLAN))


def test_measure_rejects_unknown_implementation():
    with pytest.raises(ValueError, match="unknown implementation 'jax'"):
        bc.measure(TINY_MLP, "jax", TINY_PLAN)


def test_make_batch_is_a_valid_five_way_one_shot_batch():
    batch = bc.make_batch(bc.CONFIGS[2], torch.Generator().manual_seed(0))
    assert batch.support_x.shape == (16, 5, 1, 28, 28) and batch.query_x.shape == (16, 75, 1, 28, 28)
    assert (batch.query_y.flatten().bincount(minlength=5) == 16 * 15).all()
    learner = MAML(build_backbone("conv4", **bc.CONFIGS[2].backbone_kwargs), kind="classification")
    learner.check_task(batch)  # every class in every support set, labels in range


def test_vmap_meta_gradient_matches_higher_on_sinusoid():
    pytest.importorskip("higher")
    assert bc.grad_diff_vs_higher(bc.CONFIGS[0]) <= bc.GRAD_RTOL


def test_grad_cross_check_detects_a_first_order_gradient(monkeypatch):
    pytest.importorskip("higher")
    build = bc._build_learner

    def first_order(*args, **kwargs):
        learner = build(*args, **kwargs)
        learner.first_order = True
        return learner

    monkeypatch.setattr(bc, "_build_learner", first_order)
    assert bc.grad_diff_vs_higher(bc.CONFIGS[0]) > 1e-3


def test_default_execution_picks_the_faster_path():
    def entry(backbone, vmap_ms, loop_ms):
        return {"backbone": backbone, "results": {"vmap": {"ms_per_step": vmap_ms}, "loop": {"ms_per_step": loop_ms}}}

    configs = [entry("mlp", 1.0, 5.0), entry("conv4", 8.0, 3.0), entry("cnn1d", 1.0, None)]
    assert bc._default_execution(configs) == {"mlp": "vmap", "conv4": "loop", "cnn1d": None}


def _tiny_report(monkeypatch, quick: bool) -> dict:
    monkeypatch.setattr(bc, "CONFIGS", (TINY_MLP, TINY_CONV, TINY_OPTIONAL))
    monkeypatch.setattr(bc, "QUICK_PLAN", TINY_PLAN)
    monkeypatch.setattr(bc, "FULL_PLAN", TINY_PLAN)
    # In-process instead of spawned: the report's assembly is under test here, not isolation.
    monkeypatch.setattr(bc, "run_isolated", lambda config, impl, plan: bc.measure(config, impl, plan))
    return bc.bench_core(quick=quick)


def test_bench_core_report_has_required_keys(monkeypatch):
    pytest.importorskip("higher")
    report = _tiny_report(monkeypatch, quick=True)
    names = [c["name"] for c in report["configs"]]
    assert names == ["tiny-mlp", "tiny-conv4"]  # the optional configuration is skipped in quick mode
    assert report["configs"][1]["meta_batch"] == (2 if torch.cuda.is_available() else 1)
    for c in report["configs"]:
        assert {"backbone", "meta_batch", "inner_steps", "inner_lr", "k_shot", "n_query"} <= c.keys()
        assert set(c["results"]) == set(bc.IMPLEMENTATIONS)
        for res in c["results"].values():
            _check_measurement(res)
    ratios = report["ratios"]
    assert {"vmap_vs_higher", "vmap_vs_loop", "conv4_vmap_vs_loop", "conv4_vmap_vs_higher"} <= ratios.keys()
    assert all(isinstance(r, float) and r > 0 for r in ratios.values())
    assert set(report["default_execution"]) == {"mlp", "conv4"}
    assert set(report["default_execution"].values()) <= {"vmap", "loop"}
    assert report["max_rel_grad_diff_vs_higher"] <= bc.GRAD_RTOL and report["grad_check"]["passed"] is True
    assert report["notes"]
    fmt = report["conv4_memory_format"]
    assert fmt["max_rel_diff"] < 1e-4 and fmt["train_step_speedup"] > 0 and fmt["forward_speedup"] > 0


def test_conv4_gives_the_same_outputs_and_gradients_in_both_memory_formats():
    """Channels-last is an implementation detail on CPU: outputs and weight gradients match NCHW to float rounding,
    and switching it off on one instance leaves the class default alone."""
    torch.manual_seed(0)
    net = build_backbone("conv4", in_channels=3, out_features=5, hidden=8, image_size=32, norm="batch")
    x = torch.randn(6, 3, 32, 32)
    results = []
    for flag in (False, True):
        net.channels_last_on_cpu = flag
        net.zero_grad(set_to_none=True)
        out = net(x)
        out.square().sum().backward()
        results.append((out.detach(), [p.grad.clone() for p in net.parameters()]))
    (a, ga), (b, gb) = results
    torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)
    for g1, g2 in zip(ga, gb, strict=True):
        torch.testing.assert_close(g2, g1, rtol=1e-4, atol=1e-4)
    assert type(net).channels_last_on_cpu is True


def test_bench_core_without_higher_still_reports_our_paths(monkeypatch):
    monkeypatch.setitem(sys.modules, "higher", None)  # makes `import higher` raise ImportError
    report = _tiny_report(monkeypatch, quick=False)
    assert [(c["name"], c["meta_batch"]) for c in report["configs"]] == [
        ("tiny-mlp", 3),
        ("tiny-conv4", 2),
        ("tiny-conv4-optional", 2),
    ]
    for c in report["configs"]:
        assert "error" in c["results"]["higher"]
        _check_measurement(c["results"]["vmap"])
        _check_measurement(c["results"]["loop"])
    assert report["ratios"]["vmap_vs_higher"] is None and report["ratios"]["vmap_vs_loop"] is not None
    assert report["max_rel_grad_diff_vs_higher"] is None and report["grad_check"]["passed"] is None
