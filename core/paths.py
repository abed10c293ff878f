"""Where metasuite writes what it can rebuild: one per-user cache directory, never the source tree.

Rendered image pools, downloaded prices and the app's stand-in models are caches: deleting them costs
time, not results. They live under :func:`cache_dir` -- ``$METASUITE_CACHE`` when set (tests, CI and
read-only installs point it elsewhere), else the platform's user cache folder (``~/.cache/metasuite`` on
Linux, from ``platformdirs``). Shipped artefacts (checkpoints, eval results) are read from
:mod:`metasuite.data` and never written at run time.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

__all__ = ["CACHE_ENV", "cache_dir"]

#: Environment variable that overrides the cache root.
CACHE_ENV = "METASUITE_CACHE"


def cache_dir(*parts: str) -> Path:
    """The cache folder ``<root>/<parts...>`` (not created; writers create what they write).

    ``root`` is ``$METASUITE_CACHE`` (``~`` expanded) when set and non-empty, else
    ``platformdirs.user_cache_dir("metasuite")``.
    """
    root = os.environ.get(CACHE_ENV, "").strip()
    base = Path(root).expanduser() if root else Path(platformdirs.user_cache_dir("metasuite", appauthor=False))
    return base.joinpath(*parts)
