"""What every benchmark shares: timing loops and a description of the machine.

A benchmark is a function ``fn(quick: bool) -> dict`` registered under the ``metasuite.benchmarks``
entry points; its dict holds ``"ratios"`` (the headline comparisons, measured side by side in one run).
:func:`metasuite.core.runs.bench_run` runs it, adds ``name``, machine information and timing, and writes
the JSON.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["machine_info", "repeat_timings", "timing_summary"]


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
    """Where a benchmark ran: CPU count and model, the CPU kernels torch uses (AVX2, AVX512, ...: floating-point
    results differ between them), platform, torch version and threads."""
    import torch

    return {
        "cpus": os.cpu_count(),
        "processor": _processor(),
        "cpu_kernels": torch.backends.cpu.get_cpu_capability(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def _processor() -> str:
    """The CPU model name (``/proc/cpuinfo`` where it exists, else ``platform.processor()``)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()
