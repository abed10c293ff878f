"""``metasuite bench NAME``: find a benchmark (core's own or one a domain offers), run it, save JSON.

A benchmark is a function ``fn(quick: bool) -> dict``. The dict must contain ``"ratios"`` (the
headline comparisons, measured side by side in one run); the runner adds ``name``, machine
information and timing, and writes the JSON.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from metasuite.core.errors import UnknownNameError

__all__ = ["available_benchmarks", "machine_info", "repeat_timings", "run_benchmark", "timing_summary"]


def repeat_timings(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> list[float]:
    """Seconds of each of ``repeats`` calls of ``fn`` after ``warmup`` untimed calls (``perf_counter``)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def timing_summary(fn: Callable[[], Any], repeats: int, warmup: int = 1, digits: int = 4) -> dict[str, Any]:
    """``{"median_s", "min_s", "repeats"}`` of :func:`repeat_timings` (seconds rounded to ``digits``)."""
    import statistics

    times = repeat_timings(fn, repeats, warmup)
    return {"median_s": round(statistics.median(times), digits), "min_s": round(min(times), digits), "repeats": repeats}


def machine_info() -> dict[str, Any]:
    """Where a benchmark ran: CPU count, platform, torch version and threads."""
    import torch

    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def available_benchmarks() -> dict[str, Callable[..., dict[str, Any]]]:
    """Benchmark name -> function, from the core and from every registered domain."""
    from metasuite.core.bench_core import bench_core
    from metasuite.core.bench_distributed import bench_distributed
    from metasuite.core.registry import available_domains, get_domain

    found: dict[str, Callable[..., dict[str, Any]]] = {"core": bench_core, "distributed": bench_distributed}
    for name in available_domains():
        try:
            found.update(get_domain(name).benchmarks())
        except Exception:
            continue
    return found


def run_benchmark(name: str, quick: bool = False, json_path: str | Path | None = None) -> dict[str, Any]:
    """Run benchmark ``name``; write its JSON to ``json_path``; return the report."""
    benches = available_benchmarks()
    if name not in benches:
        raise UnknownNameError(f"unknown benchmark {name!r}; available: {', '.join(sorted(benches))}")
    t0 = time.perf_counter()
    result = benches[name](quick=quick)
    if "ratios" not in result:
        raise ValueError(f"benchmark {name!r} returned no 'ratios' object")
    report = {
        "name": name,
        "quick": quick,
        "machine": machine_info(),
        **result,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    if json_path is not None:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(json.dumps(report, indent=2) + "\n")
    return report
