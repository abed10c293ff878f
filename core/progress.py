"""Progress of long jobs: a tqdm bar with ETA on a terminal, plain periodic lines anywhere else.

A bar redraws itself with carriage returns; written to a log file or a CI console that becomes thousands of
fragments. :func:`progress` therefore returns a real ``tqdm`` bar only when stderr is a terminal, and otherwise a
:class:`LineProgress` that prints one readable line now and then (every 10 % of the total or every
``METASUITE_PROGRESS_SECONDS`` seconds, default 30, whichever comes first) and one at the end::

    meta-train maml: 400/1000 steps (40%), 52 s elapsed, ETA 78 s, val=0.712

Both offer the same small interface: iteration, ``update(n)``, ``set_postfix(**values)``, ``close()`` and
use as a context manager.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

__all__ = ["LineProgress", "progress"]


def progress(
    iterable: Iterable[Any] | None = None,
    *,
    total: int | None = None,
    desc: str = "",
    unit: str = "it",
    disable: bool = False,
    initial: int = 0,
    leave: bool = True,
) -> Any:
    """A progress reporter over ``iterable`` (or counting to ``total``): tqdm on a terminal, lines otherwise."""
    if total is None and iterable is not None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    if not disable and sys.stderr.isatty():
        from tqdm.auto import tqdm

        return tqdm(iterable, total=total, desc=desc, unit=unit, initial=initial, leave=leave)
    return LineProgress(iterable, total=total, desc=desc, unit=unit, disable=disable, initial=initial)


class LineProgress:
    """Plain-text progress: one line per 10 % (or per ``every_s`` seconds) and one at the end, on ``stream``."""

    def __init__(
        self,
        iterable: Iterable[Any] | None = None,
        *,
        total: int | None = None,
        desc: str = "",
        unit: str = "it",
        disable: bool = False,
        initial: int = 0,
        every_s: float | None = None,
        stream: TextIO | None = None,
    ):
        self.iterable, self.total, self.desc, self.unit = iterable, total, desc, unit
        self.disable, self.n, self._start_n = disable, initial, initial
        self.every_s = float(os.environ.get("METASUITE_PROGRESS_SECONDS", 30)) if every_s is None else every_s
        self.stream = stream
        self.postfix: dict[str, Any] = {}
        self._t0 = self._last_t = time.monotonic()
        self._last_n = initial
        self._closed = False

    def __iter__(self) -> Iterator[Any]:
        for item in self.iterable or ():
            yield item
            self.update(1)
        self.close()

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def set_postfix(self, **values: Any) -> None:
        self.postfix = values

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.disable:
            return
        now = time.monotonic()
        step = max(1, (self.total or 0) // 10)
        if now - self._last_t >= self.every_s or (self.total and self.n - self._last_n >= step):
            self._emit(now)

    def close(self) -> None:
        if not self._closed and not self.disable and self.n != self._last_n:
            self._emit(time.monotonic())
        self._closed = True

    def line(self, now: float | None = None) -> str:
        """The line that would be printed now."""
        elapsed = (time.monotonic() if now is None else now) - self._t0
        done = self.n - self._start_n
        parts = [f"{self.desc}: {self.n}" + (f"/{self.total}" if self.total else "") + f" {self.unit}s"]
        if self.total:
            parts[0] += f" ({100 * self.n / self.total:.0f}%)"
        parts.append(f"{elapsed:.0f} s elapsed")
        if self.total and done > 0 and self.n < self.total:
            parts.append(f"ETA {elapsed / done * (self.total - self.n):.0f} s")
        parts += [f"{k}={v}" for k, v in self.postfix.items()]
        return ", ".join(parts)

    def _emit(self, now: float) -> None:
        print(self.line(now), file=self.stream or sys.stderr, flush=True)
        self._last_t, self._last_n = now, self.n
