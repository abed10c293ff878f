"""Strict JSON: every JSON file metasuite writes parses in any JSON reader.

Python's ``json`` writes ``NaN`` and ``Infinity`` by default, which are not JSON. Here non-finite floats
become ``null`` (readers of our files treat ``null`` as "undefined or not finite": e.g. the sensitivity of a
class a patient does not have, or a metric of a diverged model), numpy scalars and 0-d tensors become Python
numbers, paths become strings; anything else unknown is an error, never silently ``str()``-ed.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["NULL_MEANS", "atomic_write_text", "dumps", "strict", "write_json"]

#: What ``null`` stands for in metasuite's JSON files (stored next to values that can be null).
NULL_MEANS = "undefined or not finite (e.g. a class absent from the task, or a diverged model); left out of means"
_FILE_MODE = 0o644  # mkstemp creates 0600 files; results are meant to be shared


def strict(obj: Any) -> Any:
    """``obj`` with non-finite floats as None, numpy/torch scalars as numbers, tuples as lists, paths as text."""
    if isinstance(obj, dict):
        return {str(k): strict(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [strict(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", 0) == 0:  # numpy / torch scalars
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def dumps(obj: Any, **kwargs: Any) -> str:
    """``json.dumps`` of :func:`strict` ``(obj)``, refusing NaN / infinity (``allow_nan=False``)."""
    return json.dumps(strict(obj), allow_nan=False, **kwargs)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (temp file in the same folder + ``os.replace``); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, _FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path: str | Path, data: Any) -> Path:
    """Write ``data`` as indented strict JSON to ``path`` atomically (parent folders created); returns the path."""
    return atomic_write_text(path, dumps(data, indent=2) + "\n")
