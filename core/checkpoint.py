"""Checkpoints: tensors in safetensors, everything else in JSON. Never unpickles.

A checkpoint ``<stem>`` is two files:

* ``<stem>.safetensors`` -- the tensors. Its header metadata holds the JSON description under
  the key ``"metasuite"``, so the pair can never get out of sync: the file is self-describing and
  written with one atomic ``os.replace``.
* ``<stem>.json`` -- the same JSON, pretty-printed for people and tools (written second; it is
  informational, loading reads the copy embedded in the safetensors header).

The JSON records ``format``, ``metasuite_version``, ``tensors_sha256`` (a digest of every tensor's name,
dtype, shape and bytes, checked on load: a flipped bit is refused, not evaluated), ``algorithm``,
``hparams``, ``backbone`` (``name`` + ``kwargs``), ``domain``, ``setting``, ``data_fingerprint``,
``metrics`` and, for training-state checkpoints, ``trainer`` (step, best metric, optimiser param groups).
Loading also refuses non-finite weights. JSON is strict (:mod:`metasuite.core.jsonio`: NaN is stored as null).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from metasuite.core import __version__
from metasuite.core.errors import CheckpointError
from metasuite.core.jsonio import atomic_write_text, dumps

__all__ = [
    "FORMAT",
    "atomic_write_text",
    "load_checkpoint",
    "load_into",
    "resolve_checkpoint",
    "save_checkpoint",
    "tensors_digest",
]

FORMAT = "metasuite-checkpoint/2"
#: Formats this version reads: /1 had no tensor digest (its tensors are still checked for finiteness).
READABLE = ("metasuite-checkpoint/1", FORMAT)
_META_KEY = "metasuite"
_FILE_MODE = 0o644  # mkstemp creates 0600 files; checkpoints are meant to be shared and shipped


def tensors_digest(tensors: Mapping[str, Tensor]) -> str:
    """SHA-256 over every tensor's name, dtype, shape and raw bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _stem(path: str | Path) -> Path:
    p = Path(path)
    return p.with_suffix("") if p.suffix in (".safetensors", ".json") else p


def save_checkpoint(path: str | Path, tensors: Mapping[str, Tensor], meta: Mapping[str, Any]) -> Path:
    """Atomically write ``tensors`` and ``meta`` as ``<path>.safetensors`` + ``<path>.json``.

    ``path`` may be given with or without a suffix. Returns the ``.safetensors`` path.
    """
    from safetensors.torch import save_file

    stem = _stem(path)
    stem.parent.mkdir(parents=True, exist_ok=True)
    flat = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    digest = tensors_digest(flat)
    full_meta = {"metasuite_version": __version__, **dict(meta), "format": FORMAT, "tensors_sha256": digest}
    text = dumps(_plain(full_meta), sort_keys=True)
    target = stem.with_suffix(".safetensors")
    fd, tmp = tempfile.mkstemp(dir=stem.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        os.chmod(tmp, _FILE_MODE)
        save_file(flat, tmp, metadata={_META_KEY: text})
        os.chmod(tmp, _FILE_MODE)  # safetensors re-creates the file with its own (0600) mode
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    atomic_write_text(stem.with_suffix(".json"), dumps(_plain(full_meta), indent=2, sort_keys=True) + "\n")
    return target


def _plain(o: Any) -> Any:
    """JSON-ready metadata: one-element tensors as numbers (the rest is :func:`~metasuite.core.jsonio.strict`)."""
    if isinstance(o, dict):
        return {k: _plain(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_plain(v) for v in o]
    if isinstance(o, torch.Tensor):
        if o.numel() != 1:
            raise TypeError(f"cannot store a tensor of shape {tuple(o.shape)} in checkpoint JSON")
        return o.item()
    return o


def resolve_checkpoint(path: str | Path, name: str = "best") -> Path:
    """Turn a run folder or a checkpoint path into the ``.safetensors`` file to load.

    A folder resolves to ``<folder>/<name>.safetensors``. Raises :class:`CheckpointError` naming
    what was looked for when nothing exists.
    """
    p = Path(path)
    if p.is_dir():
        target = p / f"{name}.safetensors"
        if not target.exists():
            found = sorted(x.name for x in p.glob("*.safetensors"))
            raise CheckpointError(
                f"no checkpoint '{name}.safetensors' in folder {p} (found: {found or 'nothing'}); "
                "train one with `metasuite train ... --out DIR` or point --checkpoint at a .safetensors file"
            )
        return target
    target = _stem(p).with_suffix(".safetensors")
    if not target.exists():
        raise CheckpointError(
            f"no checkpoint at {p}: neither a run folder nor a checkpoint file ({target} does not exist); pass the "
            "--out folder of a `metasuite train` run or its best.safetensors"
        )
    return target


def load_checkpoint(path: str | Path) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Read a checkpoint (file or run folder) -> ``(tensors, meta)`` without unpickling anything.

    Raises :class:`CheckpointError` naming the file when it is missing, truncated, corrupted, or
    was not written by metasuite.
    """
    from safetensors import safe_open

    target = resolve_checkpoint(path)
    try:
        with safe_open(str(target), framework="pt") as f:
            header = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no items())
    except Exception as exc:  # safetensors raises several types for truncated/corrupt files
        size = target.stat().st_size
        raise CheckpointError(
            f"checkpoint {target} is truncated or corrupted ({size} bytes; {type(exc).__name__}: {exc}); "
            "re-train or restore it from a copy"
        ) from exc
    if _META_KEY not in header:
        raise CheckpointError(
            f"{target} is a safetensors file but not a metasuite checkpoint (no '{_META_KEY}' metadata)"
        )
    try:
        meta = json.loads(header[_META_KEY])
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"checkpoint {target} has unreadable metadata: {exc}") from exc
    if meta.get("format") not in READABLE:
        raise CheckpointError(
            f"checkpoint {target} has format {meta.get('format')!r}; this metasuite reads {', '.join(READABLE)}"
        )
    if meta["format"] != READABLE[0] and meta.get("tensors_sha256") != tensors_digest(tensors):
        raise CheckpointError(
            f"checkpoint {target} is corrupted: its tensors do not match the digest recorded when it was written "
            "(a changed byte); re-train or restore it from a copy"
        )
    bad = sorted(k for k, t in tensors.items() if t.is_floating_point() and not bool(torch.isfinite(t).all()))
    if bad:
        raise CheckpointError(
            f"checkpoint {target} holds non-finite values (NaN or infinity) in {bad[:5]}"
            f"{' ...' if len(bad) > 5 else ''}: the run that wrote it diverged; train again with a lower learning rate"
        )
    meta["path"] = str(target)
    return tensors, meta


def load_into(module: nn.Module, tensors: Mapping[str, Tensor], source: str | Path, prefix: str = "") -> None:
    """Copy ``tensors[prefix + name]`` into every parameter/buffer of ``module``, strictly.

    Raises :class:`CheckpointError` naming ``source`` and every missing, unexpected or
    wrongly-shaped tensor.
    """
    own = module.state_dict()
    theirs = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
    missing = sorted(set(own) - set(theirs))
    unexpected = sorted(set(theirs) - set(own))
    shape = [
        f"'{k}' is {tuple(theirs[k].shape)} in the checkpoint but {tuple(own[k].shape)} in the model"
        for k in sorted(set(own) & set(theirs))
        if theirs[k].shape != own[k].shape
    ]
    problems = []
    if missing:
        problems.append(f"missing tensors {missing[:5]}{' ...' if len(missing) > 5 else ''}")
    if unexpected:
        problems.append(f"unexpected tensors {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}")
    problems += shape[:5]
    if problems:
        raise CheckpointError(f"checkpoint {source} does not match the model: " + "; ".join(problems))
    module.load_state_dict({k: theirs[k] for k in own}, strict=True)
