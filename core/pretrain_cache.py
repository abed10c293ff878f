"""A per-user cache of the pre-trained baselines' networks, so that evaluating again costs no pre-training.

``metasuite eval --baselines`` pre-trains one backbone per baseline seed (1-2 minutes each on a laptop CPU for the
driving Conv-4) before any task is drawn; evaluating the same data again -- the other shot count, with fine-tuning,
on the validation split -- used to repeat exactly that work. Pre-training is deterministic on one machine (its
batches come from seeded generators), so its result is cached under :func:`~metasuite.core.paths.cache_dir`
``/pretrained`` and reused when *everything* that could change it is the same:

* the domain (name, options, :meth:`~metasuite.core.domain.Domain.fingerprint`) and, for a domain with a
  ``data_dir``, every file below it by relative path, size and modification time (a photo replaced under the
  same name is a new key, which the fingerprint alone would miss);
* the pre-training budget (seed, steps, learning rate, batch size, class balancing) and the backbone's spec;
* the code: every ``.py`` file of ``metasuite.core`` and of the folder holding the domain's class;
* the machine's arithmetic: torch version, its CPU kernel level (AVX2, AVX512, ...), thread count, processor.

A hit therefore returns the very weights a fresh run would compute (tested). An entry that fails to load
(truncated, corrupted) is recomputed and overwritten. ``METASUITE_PRETRAIN_CACHE=0`` turns the cache off.
Entries are a few hundred kilobytes; the cache keeps the :data:`KEEP` most recently used.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import nn

from metasuite.core.bench import machine_info
from metasuite.core.checkpoint import load_checkpoint, save_checkpoint
from metasuite.core.errors import CheckpointError
from metasuite.core.paths import cache_dir

if TYPE_CHECKING:
    from metasuite.core.domain import Domain

__all__ = ["CACHE_SWITCH", "KEEP", "enabled", "entry_path", "load", "pretrain_key", "store"]

#: Environment variable: ``0`` turns the cache off.
CACHE_SWITCH = "METASUITE_PRETRAIN_CACHE"
#: Entries kept (the least recently used beyond these are deleted when a new one is written).
KEEP = 64
#: The :class:`~metasuite.core.baselines.BaselineConfig` fields that pre-training reads.
PRETRAIN_FIELDS = ("seed", "pretrain_steps", "pretrain_lr", "pretrain_batch_size", "balanced")


def enabled() -> bool:
    """False when ``$METASUITE_PRETRAIN_CACHE`` is ``0`` (or ``false`` / ``no`` / ``off``)."""
    return os.environ.get(CACHE_SWITCH, "1").strip().lower() not in ("0", "false", "no", "off")


@functools.lru_cache(maxsize=32)
def _code_digest(folder: str) -> str:
    """SHA-256 over the relative paths and bytes of every ``.py`` file below ``folder`` (once per process)."""
    h = hashlib.sha256()
    root = Path(folder)
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _data_stamp(data_dir: Any) -> list[Any] | None:
    """``[relative path, size, mtime_ns]`` of every file below ``data_dir`` (or of the file itself); None without."""
    if data_dir is None:
        return None
    root = Path(data_dir)
    if root.is_file():
        st = root.stat()
        return [[root.name, st.st_size, st.st_mtime_ns]]
    rows = []
    for folder, _, files in os.walk(root):
        for name in files:
            path = Path(folder) / name
            st = path.stat()
            rows.append([path.relative_to(root).as_posix(), st.st_size, st.st_mtime_ns])
    return sorted(rows)


def pretrain_key(domain: Domain, config: Any, backbone: tuple[str, dict[str, Any]]) -> str | None:
    """The cache key of pre-training ``domain`` with ``config`` (a ``BaselineConfig``) into ``backbone``; None (do
    not cache) for a domain whose code has no file to hash, e.g. one defined in a notebook."""
    try:
        domain_code = _code_digest(str(Path(inspect.getfile(type(domain))).parent))
    except (TypeError, OSError):
        return None
    blob = {
        "domain": domain.name,
        "options": domain.options,
        "fingerprint": domain.fingerprint(),
        "data": _data_stamp(getattr(domain, "data_dir", None)),
        "config": {f: getattr(config, f) for f in PRETRAIN_FIELDS},
        "backbone": backbone,
        "code": [_code_digest(str(Path(__file__).parent)), domain_code],
        "machine": machine_info(),  # torch version and threads, CPU model and kernel level, platform
    }
    return hashlib.sha256(json.dumps(blob, sort_keys=True, default=str).encode()).hexdigest()


def entry_path(key: str) -> Path:
    """Where the entry of ``key`` lives (``<cache>/pretrained/<key>.safetensors``)."""
    return cache_dir("pretrained", f"{key[:40]}.safetensors")


def load(key: str, model: nn.Module) -> Path | None:
    """Load the cached weights of ``key`` into ``model``; the entry's path on a hit, None on a miss. An entry that
    does not load (corrupted, truncated, another shape) is deleted and counts as a miss."""
    path = entry_path(key)
    if not path.exists():
        return None
    try:
        tensors, meta = load_checkpoint(path)
        if meta.get("pretrain_key") != key:
            raise CheckpointError(f"{path} holds another key")
        model.load_state_dict(tensors, strict=True)
    except (CheckpointError, RuntimeError, OSError):
        for stale in (path, path.with_suffix(".json")):
            stale.unlink(missing_ok=True)
        return None
    os.utime(path)  # most recently used
    return path


def store(key: str, model: nn.Module) -> Path | None:
    """Write ``model``'s weights as the entry of ``key`` (atomically) and drop the least recently used entries
    beyond :data:`KEEP`; the entry's path, or None when the cache cannot be written (a read-only or full disk:
    said on stderr, the evaluation goes on with the network it has)."""
    try:
        path = save_checkpoint(entry_path(key), model.state_dict(), {"pretrain_key": key})
        entries = sorted(path.parent.glob("*.safetensors"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
        for old in entries[KEEP:]:
            for stale in (old, old.with_suffix(".json")):
                stale.unlink(missing_ok=True)
    except OSError as exc:
        print(f"pre-training cache not written ({exc}); set {CACHE_SWITCH}=0 to skip it", file=sys.stderr)
        return None
    return path
