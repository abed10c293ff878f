"""Few-shot image sets as their owners ship them, and a built-in stand-in.

Two folder layouts are read (class folders hold image files; names starting with ``.`` are ignored):

* **background / evaluation** (Omniglot, Lake et al. 2015): ``root/images_background/<alphabet>/<character>/*`` and
  ``root/images_evaluation/<alphabet>/<character>/*``. Background characters are for meta-training (a fixed
  ``val_fraction`` of them, chosen by a hash of the name, for validation), evaluation characters for testing;
* **plain** ``root/<class>/*``: classes split 70 / 15 / 15 by a hash of the class name.

Images are read with PIL, turned to greyscale (``channels=1``) or RGB, the centre square resized to
``image_size`` (Lanczos), scaled to [0, 1]; a file whose header declares more than :data:`MAX_IMAGE_PIXELS` is
refused before decoding. Without a folder, :func:`glyph_classes` draws stroke glyphs: a deterministic stand-in
with the same layout (200 background and 100 evaluation classes of 20 images), so everything runs offline.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from metasuite.core.errors import DataError

__all__ = ["EXTENSIONS", "MAX_IMAGE_PIXELS", "ClassImages", "glyph_classes", "load_class_folders", "split_of"]

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
MAX_IMAGE_PIXELS = 50_000_000
#: split -> class name -> float32 images ``(n, channels, size, size)`` in [0, 1]
ClassImages = dict[str, dict[str, np.ndarray]]


def split_of(name: str, val_fraction: float = 0.15, test_fraction: float = 0.15) -> str:
    """``train`` / ``val`` / ``test`` for a class name, by a fixed hash (independent of the folder listing)."""
    h = int(hashlib.sha256(name.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "test" if h < test_fraction else "val" if h < test_fraction + val_fraction else "train"


def _read(path: Path, size: int, channels: int) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            if img.width * img.height > MAX_IMAGE_PIXELS:
                raise DataError(
                    f"image {path} is {img.width}x{img.height} pixels, more than the {MAX_IMAGE_PIXELS // 10**6} MP "
                    "this loader reads; resize it"
                )
            img = img.convert("L" if channels == 1 else "RGB")
            side = min(img.size)
            left, top = (img.width - side) / 2, (img.height - side) / 2
            img = img.resize((size, size), Image.Resampling.LANCZOS, box=(left, top, left + side, top + side))
            arr = np.asarray(img, dtype=np.float32) / 255.0
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise DataError(f"cannot read image {path}: {exc}; delete or replace the file") from exc
    return arr[None] if channels == 1 else arr.transpose(2, 0, 1)


def _class_dirs(folder: Path) -> dict[str, Path]:
    """``name -> folder`` of every folder below ``folder`` that directly holds image files."""
    found = {}
    for d in sorted(p for p in folder.rglob("*") if p.is_dir() and not any(s.startswith(".") for s in p.parts)):
        if any(f.suffix.lower() in EXTENSIONS for f in d.iterdir() if f.is_file()):
            found[str(d.relative_to(folder))] = d
    return found


def _images(d: Path, size: int, channels: int) -> np.ndarray:
    files = sorted(f for f in d.iterdir() if f.is_file() and f.suffix.lower() in EXTENSIONS and f.name[0] != ".")
    return np.stack([_read(f, size, channels) for f in files])


def load_class_folders(root: str | Path, size: int, channels: int, val_fraction: float = 0.15) -> ClassImages:
    """The classes of ``root`` (either layout) by split; see the module docstring."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"few-shot data folder {root} does not exist; give a folder of class folders")
    background, evaluation = root / "images_background", root / "images_evaluation"
    out: ClassImages = {"train": {}, "val": {}, "test": {}}
    if background.is_dir() or evaluation.is_dir():
        if not (background.is_dir() and evaluation.is_dir()):
            raise DataError(f"{root} needs both images_background/ and images_evaluation/ for that layout")
        for name, d in _class_dirs(background).items():  # names carry their part: characters recur across parts
            split = "val" if split_of(f"background/{name}", val_fraction, 0.0) == "val" else "train"
            out[split][f"background/{name}"] = _images(d, size, channels)
        for name, d in _class_dirs(evaluation).items():
            out["test"][f"evaluation/{name}"] = _images(d, size, channels)
    else:
        for name, d in _class_dirs(root).items():
            out[split_of(name, val_fraction)][name] = _images(d, size, channels)
    empty = [s for s, classes in out.items() if not classes]
    if empty:
        raise DataError(f"{root}: no class folder for the {empty} split(s); give more classes")
    return out


def _glyph(strokes: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """One rendering of a glyph (its strokes jittered, as a new hand draws it): ``(size, size)`` float32."""
    img = np.zeros((size, size), dtype=np.float32)
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1) * 2 - 1
    for (x0, y0), (x1, y1), (x2, y2) in strokes + rng.normal(0, 0.04, strokes.shape):
        for t in np.linspace(0, 1, 24):  # a quadratic Bezier stroke, stamped as soft dots
            px = (1 - t) ** 2 * x0 + 2 * (1 - t) * t * x1 + t**2 * x2
            py = (1 - t) ** 2 * y0 + 2 * (1 - t) * t * y1 + t**2 * y2
            img = np.maximum(img, np.exp(-((xx - px) ** 2 + (yy - py) ** 2) / (2 * 0.06**2)))
    return img


def glyph_classes(size: int = 28, channels: int = 1, per_class: int = 20, seed: int = 0) -> ClassImages:
    """Built-in stand-in: 200 background classes (train / val by hash) and 100 evaluation classes of stroke
    glyphs, ``per_class`` renderings each; deterministic per ``seed``."""
    rng = np.random.default_rng(seed)
    out: ClassImages = {"train": {}, "val": {}, "test": {}}
    for part, n in (("background", 200), ("evaluation", 100)):
        for i in range(n):
            name = f"{part}/glyph{i:03d}"
            strokes = rng.uniform(-0.7, 0.7, (int(rng.integers(2, 5)), 3, 2))
            images = np.stack([_glyph(strokes, size, rng) for _ in range(per_class)])[:, None]
            images = np.repeat(images, channels, axis=1)
            split = "test" if part == "evaluation" else ("val" if split_of(name, 0.15, 0.0) == "val" else "train")
            out[split][name] = images.astype(np.float32)
    return out
