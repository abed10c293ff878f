"""Shipped artefacts: pre-trained checkpoints with model cards (``checkpoints/<domain>/<run>/``) and the
evaluation results quoted in the README (``eval/<domain>/``). Importable as ``metasuite.data`` so that an
installed copy finds them next to its code; nothing here is written at run time (caches live in the
per-user cache directory, :func:`metasuite.core.paths.cache_dir`)."""

from pathlib import Path

__all__ = ["CHECKPOINTS", "DATA_DIR", "EVAL"]

DATA_DIR = Path(__file__).resolve().parent
CHECKPOINTS = DATA_DIR / "checkpoints"
EVAL = DATA_DIR / "eval"
