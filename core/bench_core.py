"""``metasuite bench core``: speed and memory of second-order MAML, three implementations side by side.

For each configuration in :data:`CONFIGS` (MAML on sine regression with an MLP 1-40-40-1, and on
5-way 1-shot 28x28 classification with Conv-4) it measures, for

* ``vmap``   -- :meth:`~metasuite.core.algorithms.base.MetaLearner.meta_backward` with ``execution="vmap"``,
* ``loop``   -- the same with ``execution="loop"``,
* ``higher`` -- the ``higher`` library (Grefenstette et al. 2019), one ``innerloop_ctx`` per task,

the wall-clock milliseconds of one meta-step (meta-gradient + Adam step; median of the timed steps
after warm-up) and the peak memory. Every (configuration, implementation) pair runs in a fresh
process (forked from a ``forkserver`` that imported torch once, or ``spawn``-ed where there is no
forkserver) with one intra-op thread, so peak RSS belongs to that measurement alone.

In the same run, the meta-gradient of the vmap path is checked against ``higher``'s on the first
sine configuration (same initial weights, same tasks).

The result's ``ratios`` are speed-up factors ``ms_other / ms_vmap`` (above 1: vmap is faster), and
``default_execution`` names the faster of vmap/loop per backbone as measured here; the numbers
are specific to the machine (CPU vs CUDA changes the answer for Conv-4).

Data are synthetic: sine tasks drawn with the ranges of Finn et al. (2017) and Gaussian-noise
images with balanced labels. Timing does not depend on the values, and generating them here keeps
``core/`` free of any domain import.
"""

from __future__ import annotations

import copy
import math
import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from multiprocessing import get_all_start_methods, get_context
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import Any

import torch
from torch import nn

from metasuite.core.algorithms.maml import MAML
from metasuite.core.backbones import build_backbone
from metasuite.core.bench import repeat_timings
from metasuite.core.losses import task_loss
from metasuite.core.tasks import TaskBatch, generator

__all__ = [
    "CONFIGS",
    "FULL_PLAN",
    "IMPLEMENTATIONS",
    "QUICK_PLAN",
    "BenchConfig",
    "StepPlan",
    "bench_core",
    "grad_diff_vs_higher",
    "make_batch",
    "measure",
    "memory_format_speed",
    "run_isolated",
]

IMPLEMENTATIONS = ("vmap", "loop", "higher")
#: What an incompatible ``higher`` (it monkey-patches modules and optimisers) raises on a new torch.
_HIGHER_FAILURES: tuple[type[Exception], ...] = (ImportError, AttributeError, TypeError, RuntimeError)
#: Tolerance of the gradient cross-check (max over tensors of max|diff| / max|reference|).
GRAD_RTOL = 1e-5


@dataclass(frozen=True)
class BenchConfig:
    """One MAML (second-order) workload.

    ``k_shot`` and ``n_query`` are per task for regression and per class for classification, so a
    classification task has ``n_way * k_shot`` support and ``n_way * n_query`` query examples.
    ``ratio_prefix`` names this configuration's entries in ``ratios`` (``""`` for the headline one).
    Quick mode skips ``optional`` configurations and, on CPU (where Conv-4 costs seconds per
    meta-step), uses ``quick_cpu_meta_batch`` tasks (when set) instead of ``meta_batch``; the report
    records the meta-batch actually used.
    """

    name: str
    ratio_prefix: str
    backbone: str
    backbone_kwargs: dict[str, Any]
    kind: str
    meta_batch: int
    k_shot: int
    n_query: int
    inner_steps: int
    inner_lr: float
    n_way: int | None = None
    outer_lr: float = 1e-3
    optional: bool = False
    quick_cpu_meta_batch: int | None = None


def _sine_config(inner_steps: int, ratio_prefix: str) -> BenchConfig:
    return BenchConfig(
        name=f"maml-sinusoid-{inner_steps}step",
        ratio_prefix=ratio_prefix,
        backbone="mlp",
        backbone_kwargs={"in_features": 1, "hidden": (40, 40), "out_features": 1},
        kind="regression",
        meta_batch=25,
        k_shot=10,
        n_query=10,
        inner_steps=inner_steps,
        inner_lr=0.01,
    )


def _conv4_config(norm: str, ratio_prefix: str, optional: bool) -> BenchConfig:
    return BenchConfig(
        name=f"maml-conv4-{norm}norm-5way1shot",
        ratio_prefix=ratio_prefix,
        backbone="conv4",
        backbone_kwargs={"in_channels": 1, "out_features": 5, "hidden": 64, "image_size": 28, "norm": norm},
        kind="classification",
        meta_batch=16,
        k_shot=1,
        n_query=15,
        inner_steps=1,
        inner_lr=0.01,
        n_way=5,
        optional=optional,
        quick_cpu_meta_batch=4,
    )


CONFIGS: tuple[BenchConfig, ...] = (
    _sine_config(1, ""),
    _sine_config(5, "sinusoid_5step_"),
    _conv4_config("batch", "conv4_", optional=False),
    _conv4_config("group", "conv4_groupnorm_", optional=True),
)


@dataclass(frozen=True)
class StepPlan:
    """How many meta-steps to run: warm-up, then timed steps.

    Each phase runs at least ``min_*`` steps, then keeps going while its elapsed wall time (seconds)
    is below ``*_budget_s``, up to ``max_*`` steps; cheap workloads thus get many timed steps and
    expensive ones (Conv-4 on CPU: seconds per step) only a few.
    """

    min_warmup: int = 1
    max_warmup: int = 5
    warmup_budget_s: float = 1.0
    min_timed: int = 3
    max_timed: int = 50
    timed_budget_s: float = 10.0


FULL_PLAN = StepPlan()
QUICK_PLAN = StepPlan(max_warmup=2, warmup_budget_s=0.5, min_timed=1, max_timed=5, timed_budget_s=1.5)


# --------------------------------------------------------------------------- workloads
def make_batch(config: BenchConfig, gen: torch.Generator) -> TaskBatch:
    """A meta-batch of ``config.meta_batch`` synthetic tasks, on CPU.

    Regression: ``y = A sin(x - phase)``, ``A ~ U(0.1, 5)``, ``phase ~ U(0, pi)``, ``x ~ U(-5, 5)``;
    ``support_x``/``support_y`` are ``(meta_batch, k_shot, 1)``. Classification: standard-normal
    images ``(meta_batch, n_way * k_shot, *input_shape)`` with labels ``0..n_way-1`` repeated.
    """
    n = config.meta_batch
    if config.kind == "regression":
        amp = 0.1 + 4.9 * torch.rand((n, 1, 1), generator=gen)
        phase = math.pi * torch.rand((n, 1, 1), generator=gen)
        x = -5.0 + 10.0 * torch.rand((n, config.k_shot + config.n_query, 1), generator=gen)
        y = amp * torch.sin(x - phase)
        k = config.k_shot
        return TaskBatch(x[:, :k], y[:, :k], x[:, k:], y[:, k:])
    if config.n_way is None:
        raise ValueError(f"config {config.name!r} is a classification workload but has n_way=None")
    kw = config.backbone_kwargs
    input_shape = (kw["in_channels"], kw["image_size"], kw["image_size"])

    def part(per_class: int) -> tuple[torch.Tensor, torch.Tensor]:
        m = config.n_way * per_class
        x = torch.randn((n, m, *input_shape), generator=gen)
        y = torch.arange(config.n_way).repeat_interleave(per_class).expand(n, m).contiguous()
        return x, y

    (sx, sy), (qx, qy) = part(config.k_shot), part(config.n_query)
    return TaskBatch(sx, sy, qx, qy)


def _build_learner(config: BenchConfig, execution: str, seed: int, device: torch.device) -> MAML:
    backbone = build_backbone(config.backbone, seed=seed, **config.backbone_kwargs)
    learner = MAML(
        backbone,
        kind=config.kind,
        n_way=config.n_way,
        inner_lr=config.inner_lr,
        inner_steps=config.inner_steps,
        execution=execution,
    )
    return learner.to(device)


def _higher_meta_backward(
    model: nn.Module, inner_opt: torch.optim.Optimizer, batch: TaskBatch, config: BenchConfig
) -> None:
    """Accumulate MAML's meta-gradient into ``model``'s ``.grad`` with ``higher``, one task at a time.

    The standard ``higher`` recipe; the loss is divided by the meta-batch size so that the
    gradient is that of the mean query loss, as in ``meta_backward``.
    """
    import higher  # a benchmark-only extra (``pip install metasuite[bench]``)

    n = len(batch)
    for i in range(n):
        with higher.innerloop_ctx(model, inner_opt, copy_initial_weights=False) as (fmodel, diffopt):
            for _ in range(config.inner_steps):
                diffopt.step(task_loss(fmodel(batch.support_x[i]), batch.support_y[i], config.kind))
            (task_loss(fmodel(batch.query_x[i]), batch.query_y[i], config.kind) / n).backward()


def _make_step(
    config: BenchConfig, implementation: str, batch: TaskBatch, seed: int, device: torch.device
) -> Callable[[], None]:
    """A closure running one meta-step (zero grads, meta-gradient, Adam step) of ``implementation``."""
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f"unknown implementation {implementation!r}; choose one of {', '.join(IMPLEMENTATIONS)}")
    learner = _build_learner(config, "vmap" if implementation == "vmap" else "loop", seed, device)
    if implementation == "higher":
        model = copy.deepcopy(learner.backbone)  # same initial weights as ours
        inner_opt = torch.optim.SGD(model.parameters(), lr=config.inner_lr)
        outer_opt = torch.optim.Adam(model.parameters(), lr=config.outer_lr)

        def backward() -> None:
            _higher_meta_backward(model, inner_opt, batch, config)

    else:
        outer_opt = torch.optim.Adam(learner.parameters(), lr=config.outer_lr)

        def backward() -> None:
            learner.meta_backward(batch)

    def step() -> None:
        outer_opt.zero_grad(set_to_none=True)
        backward()
        outer_opt.step()

    return step


# --------------------------------------------------------------------------- measuring
def _proc_status_kib(key: str) -> float | None:
    """A ``kB`` field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``) in KiB, or None off Linux."""
    path = Path("/proc/self/status")
    if not path.exists():
        return None
    for line in path.read_text().splitlines():
        if line.startswith(f"{key}:"):
            return float(line.split()[1])
    return None


def _reset_peak_rss() -> bool:
    """Lower this process's ``VmHWM`` to its current RSS (Linux >= 4.0); return whether that worked.

    Where the kernel refuses (gVisor, say), ``VmHWM`` is still this process's own peak since it
    started, which in a fresh process is only imports, model and batch.
    """
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _peak_rss_kib() -> tuple[float, str]:
    """Peak RSS in KiB and where it was read.

    ``VmHWM`` where ``/proc`` has it. ``ru_maxrss`` otherwise (KiB on Linux, bytes on macOS); note that
    it is not reset by :func:`_reset_peak_rss` and, on Linux, a spawned child inherits its parent's value
    across ``execve``, so it overstates a child's peak whenever the parent was bigger.
    """
    hwm = _proc_status_kib("VmHWM")
    if hwm is not None:
        return hwm, "VmHWM"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return (peak / 1024 if sys.platform == "darwin" else float(peak)), "ru_maxrss"


def _run_phase(step: Callable[[], None], sync: Callable[[], None], lo: int, hi: int, budget_s: float) -> list[float]:
    """Run ``step`` at least ``lo`` and at most ``hi`` times, stopping once ``budget_s`` is spent.

    Returns each step's wall time in seconds (synchronised with the device).
    """
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < hi and (len(times) < lo or time.perf_counter() - start < budget_s):
        t0 = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t0)
    return times


def measure(config: BenchConfig, implementation: str, plan: StepPlan = FULL_PLAN, seed: int = 0) -> dict[str, Any]:
    """Time meta-steps of ``implementation`` on ``config`` in this process.

    Runs on CUDA when available. Returns ``ms_per_step`` (median over the timed steps, ms),
    ``ms_min``, ``timed_steps``, ``warmup_steps``, ``peak_mib`` (peak RSS during warm-up and timed
    steps minus RSS just before the first step, MiB; cleanest in a fresh process, see
    :func:`run_isolated`), ``peak_source``, ``threads``, ``device`` and, on CUDA, ``cuda_max_allocated_mib``
    (``torch.cuda.max_memory_allocated`` over the steps, MiB, model and batch included). If
    ``higher`` cannot be imported or fails on this torch, returns ``{"error": message}``.
    """
    if plan.min_warmup < 1:
        raise ValueError("StepPlan.min_warmup must be >= 1: the first step is where a broken `higher` fails")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    cuda = device.type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    batch = make_batch(config, generator(seed, config.name)).to(device)
    caught = _HIGHER_FAILURES if implementation == "higher" else ()
    try:
        if implementation == "higher":
            import higher  # noqa: F401  (fail here, before any timing, if it is missing)
        step = _make_step(config, implementation, batch, seed, device)
        sync()
        rss_before = _proc_status_kib("VmRSS")
        peak_reset = _reset_peak_rss()
        if cuda:
            torch.cuda.reset_peak_memory_stats(device)
        warmup = _run_phase(step, sync, plan.min_warmup, plan.max_warmup, plan.warmup_budget_s)
    except caught as e:
        return {"error": f"higher failed on torch {torch.__version__}: {type(e).__name__}: {e}"}
    timed = _run_phase(step, sync, plan.min_timed, plan.max_timed, plan.timed_budget_s)
    peak_kib, peak_source = _peak_rss_kib()
    result: dict[str, Any] = {
        "ms_per_step": round(statistics.median(timed) * 1e3, 3),
        "ms_min": round(min(timed) * 1e3, 3),
        "timed_steps": len(timed),
        "warmup_steps": len(warmup),
        "peak_mib": None if rss_before is None else round(max(0.0, peak_kib - rss_before) / 1024, 2),
        "peak_source": peak_source + (" (reset)" if peak_reset else ""),
        "threads": torch.get_num_threads(),
        "device": str(device),
    }
    if cuda:
        result["cuda_max_allocated_mib"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 2)
    return result


def _measure_in_child(config: BenchConfig, implementation: str, plan: StepPlan, seed: int) -> dict[str, Any]:
    torch.set_num_threads(1)  # stable numbers on a shared machine; recorded in the result
    return measure(config, implementation, plan, seed)


def _fresh_process_context() -> BaseContext:
    """``forkserver`` (torch imported once by the server, each child a fork of it) or else ``spawn``.

    Either gives every measurement its own address space; the forkserver saves the seconds that
    importing torch costs per spawned child. The server never touches CUDA, so children may.
    """
    if "forkserver" not in get_all_start_methods():
        return get_context("spawn")
    ctx = get_context("forkserver")
    ctx.set_forkserver_preload([__name__])
    return ctx


def run_isolated(config: BenchConfig, implementation: str, plan: StepPlan, seed: int = 0) -> dict[str, Any]:
    """:func:`measure` in a fresh process with one intra-op thread.

    A fresh process makes the peak-RSS reading belong to this measurement alone.
    """
    with ProcessPoolExecutor(max_workers=1, mp_context=_fresh_process_context()) as pool:
        return pool.submit(_measure_in_child, config, implementation, plan, seed).result()


# --------------------------------------------------------------------------- correctness
def grad_diff_vs_higher(config: BenchConfig, seed: int = 0) -> float:
    """Max relative difference between the vmap path's meta-gradient and ``higher``'s, on CPU.

    Both start from the same weights (``higher``'s model is a deep copy of our backbone) and see
    the same tasks. Per parameter tensor: ``max|g_ours - g_higher| / max|g_higher|``; returns the
    maximum over tensors. A tensor whose gradient is analytically zero (a conv bias before
    BatchNorm) holds only rounding noise, so each denominator is floored at ``1e-6`` times the
    largest gradient entry of the whole model. Raises ``ImportError`` if ``higher`` is missing.
    """
    learner = _build_learner(config, "vmap", seed, torch.device("cpu"))
    model = copy.deepcopy(learner.backbone)
    batch = make_batch(config, generator(seed, "grad-check", config.name))
    learner.meta_backward(batch)
    _higher_meta_backward(model, torch.optim.SGD(model.parameters(), lr=config.inner_lr), batch, config)
    ours = {name.removeprefix("backbone."): p.grad for name, p in learner.named_parameters()}
    theirs = {name: p.grad for name, p in model.named_parameters()}
    missing = [name for name in theirs if ours.get(name) is None or theirs[name] is None]
    if missing:
        raise ValueError(f"no meta-gradient for {missing} in one of the two implementations")
    floor = 1e-6 * max(float(g.abs().max()) for g in theirs.values())
    return max(
        float((ours[name] - g).abs().max()) / max(float(g.abs().max()), floor, 1e-30) for name, g in theirs.items()
    )


# --------------------------------------------------------------------------- the benchmark
def _ratio(results: dict[str, dict[str, Any]], other: str) -> float | None:
    """``ms_other / ms_vmap`` rounded to 3 decimals, or None when either measurement is missing."""
    a, b = results.get(other, {}).get("ms_per_step"), results.get("vmap", {}).get("ms_per_step")
    return None if a is None or b is None else round(a / b, 3)


def _default_execution(configs: Sequence[dict[str, Any]]) -> dict[str, str | None]:
    """Per backbone: ``vmap`` if the geometric mean of loop/vmap time ratios is >= 1, else ``loop``."""
    by_backbone: dict[str, list[float]] = {}
    for c in configs:
        r = _ratio(c["results"], "loop")
        by_backbone.setdefault(c["backbone"], [])
        if r is not None:
            by_backbone[c["backbone"]].append(r)
    return {
        name: None if not rs else ("vmap" if statistics.geometric_mean(rs) >= 1.0 else "loop")
        for name, rs in by_backbone.items()
    }


def _progress(msg: str) -> None:
    print(f"[bench core] {msg}", file=sys.stderr, flush=True)


def _summary(res: dict[str, Any]) -> str:
    if "error" in res:
        return f"error: {res['error']}"
    peak = "n/a" if res["peak_mib"] is None else f"{res['peak_mib']:.1f} MiB"
    return f"{res['ms_per_step']:.2f} ms/step ({res['timed_steps']} timed), peak +{peak}"


def memory_format_speed(repeats: int = 20) -> dict[str, Any]:
    """Conv-4 on CPU in NCHW against channels-last (:attr:`~metasuite.core.backbones.Conv4.channels_last_on_cpu`),
    side by side in this process with one thread: the driving domain's backbone (32 filters, 48 px) on one 5-way
    5-shot pseudo-episode of test-time fine-tuning (50 frames), forward + backward, and forward only in eval mode.
    Median milliseconds, the speed-ups (NCHW / channels-last) and the largest relative difference of the outputs."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        net = build_backbone("conv4", in_channels=3, out_features=None, hidden=32, image_size=48, norm="batch")
        x = torch.randn(50, 3, 48, 48, generator=generator(0, "bench-memory-format"))

        def train_step() -> None:
            net.zero_grad(set_to_none=True)
            net(x).sum().backward()

        def forward() -> None:
            with torch.no_grad():
                net(x)

        out: dict[str, Any] = {"workload": "Conv-4 (32 filters, 48 px, batch norm), 50 frames, 1 thread"}
        outputs = {}
        for name, flag in (("nchw", False), ("channels_last", True)):
            net.channels_last_on_cpu = flag
            net.train()
            out[f"{name}_train_step_ms"] = round(statistics.median(repeat_timings(train_step, repeats, 2)) * 1e3, 2)
            net.eval()
            out[f"{name}_forward_ms"] = round(statistics.median(repeat_timings(forward, repeats, 2)) * 1e3, 2)
            with torch.no_grad():
                outputs[name] = net(x)
        ref = outputs["nchw"]
        out["max_rel_diff"] = float((outputs["channels_last"] - ref).abs().max() / ref.abs().max())
        out["train_step_speedup"] = round(out["nchw_train_step_ms"] / out["channels_last_train_step_ms"], 2)
        out["forward_speedup"] = round(out["nchw_forward_ms"] / out["channels_last_forward_ms"], 2)
        return out
    finally:
        torch.set_num_threads(threads)


def bench_core(quick: bool = False) -> dict[str, Any]:
    """Run every configuration x implementation (see the module docstring); return the report.

    ``quick`` uses :data:`QUICK_PLAN` (fewer steps), skips ``optional`` configurations and, on CPU,
    uses ``quick_cpu_meta_batch`` where a configuration sets it.
    """
    plan = QUICK_PLAN if quick else FULL_PLAN
    cuda = torch.cuda.is_available()
    notes: list[str] = [
        f"device: {'cuda' if cuda else 'cpu'}; each measurement in a fresh process, torch.set_num_threads(1)",
        "ms_per_step: median wall time of one meta-step (meta-gradient of the mean query loss + Adam step) "
        "after warm-up; MAML is second order in every configuration",
        "peak_mib: peak RSS (VmHWM, reset before the first step) during warm-up and timed steps minus RSS right "
        "before the first step (MiB); ru_maxrss is not used on Linux: a spawned child inherits its parent's",
        "ratios: ms_other / ms_vmap (above 1 means vmap is faster)",
        "data: synthetic sine tasks and Gaussian-noise 28x28 images (timing does not depend on values)",
    ]
    if cuda:
        notes.append(
            "on CUDA, peak_mib also counts the CUDA libraries loaded lazily during the first step (some 400 MiB); "
            "cuda_max_allocated_mib is the measure of the workload's memory there"
        )
    selected = [c for c in CONFIGS if not (quick and c.optional)]
    notes += [f"{c.name}: optional, skipped in quick mode" for c in CONFIGS if c not in selected]
    if quick and not cuda:
        for i, c in enumerate(selected):
            if c.quick_cpu_meta_batch is not None:
                selected[i] = replace(c, meta_batch=c.quick_cpu_meta_batch)
                notes.append(
                    f"{c.name}: quick mode on CPU uses meta_batch={c.quick_cpu_meta_batch}, not {c.meta_batch}"
                )

    out_configs: list[dict[str, Any]] = []
    total = len(selected) * len(IMPLEMENTATIONS)
    for ci, config in enumerate(selected):
        results: dict[str, dict[str, Any]] = {}
        for ii, impl in enumerate(IMPLEMENTATIONS):
            results[impl] = run_isolated(config, impl, plan)
            _progress(f"{ci * len(IMPLEMENTATIONS) + ii + 1}/{total} {config.name} {impl}: {_summary(results[impl])}")
        hidden = ("ratio_prefix", "optional", "quick_cpu_meta_batch")
        entry = {k: v for k, v in asdict(config).items() if k not in hidden}
        entry["first_order"] = False
        entry["results"] = results
        out_configs.append(entry)
        if "error" in results["higher"]:
            notes.append(f"{config.name}: higher not measured ({results['higher']['error']})")

    ratios: dict[str, float | None] = {}
    for config, entry in zip(selected, out_configs):
        for other in ("higher", "loop"):
            ratios[f"{config.ratio_prefix}vmap_vs_{other}"] = _ratio(entry["results"], other)

    grad_config = CONFIGS[0]
    try:
        diff: float | None = grad_diff_vs_higher(grad_config)
    except _HIGHER_FAILURES as e:
        diff = None
        notes.append(f"gradient cross-check vs higher not run: {type(e).__name__}: {e}")
    grad_ok = None if diff is None else diff <= GRAD_RTOL
    if grad_ok is False:
        notes.append(f"GRADIENT MISMATCH: vmap vs higher differ by {diff:.3g} relative (tolerance {GRAD_RTOL:g})")
    _progress(f"gradient cross-check on {grad_config.name}: max relative difference vs higher = {diff}")

    fmt = memory_format_speed(5 if quick else 20)
    _progress(
        f"Conv-4 channels-last vs NCHW on CPU: train step {fmt['train_step_speedup']}x, forward "
        f"{fmt['forward_speedup']}x faster (outputs within {fmt['max_rel_diff']:.1g} relative)"
    )
    return {
        "configs": out_configs,
        "ratios": ratios,
        "conv4_memory_format": fmt,
        "default_execution": _default_execution(out_configs),
        "max_rel_grad_diff_vs_higher": diff,
        "grad_check": {"config": grad_config.name, "tolerance": GRAD_RTOL, "passed": grad_ok},
        "plan": asdict(plan),
        "measurement_threads": sorted(
            {r["threads"] for c in out_configs for r in c["results"].values() if "threads" in r}
        ),
        "notes": notes,
    }
