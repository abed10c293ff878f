"""Real driving images: image folders and BDD100K attribute labels, loaded into one in-memory pool.

Every loader returns an :data:`ImagePool`, the format the driving task sampler consumes::

    pool[environment][class_name] -> np.ndarray, shape (n_images, size, size, 3), dtype uint8, RGB

An *environment* is the unit that meta-train / meta-val / meta-test splits are disjoint by (a road
environment, a webcam, a weather and time-of-day condition); a *class* is the driving scene to
recognise. Each image is turned upright (EXIF orientation), converted to RGB, its shorter side
resized to ``size`` and the centre square kept (Lanczos resampling).

Sources:

* :func:`load_image_folder` -- ``root/<class>/<image>`` (one environment, named after ``root``) or
  ``root/<environment>/<class>/<image>`` (many environments); the layout is detected.
* :func:`load_bdd100k` -- the official BDD100K label JSON (Yu et al., "BDD100K: A Diverse Driving
  Dataset for Heterogeneous Multitask Learning", CVPR 2020): environment ``"<weather>|<timeofday>"``,
  class = ``scene``.

:func:`save_pool` / :func:`load_pool` cache a pool as one ``.npz`` file (no pickle), and
:func:`pool_summary` tabulates the image counts. PIL and pandas are imported lazily.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

from metasuite.core.errors import DataError
from metasuite.core.progress import progress as progress_bar

if TYPE_CHECKING:
    import pandas

__all__ = [
    "BDD100K_ATTRIBUTES",
    "IMAGE_EXTENSIONS",
    "KEY_SEPARATOR",
    "MAX_IMAGE_PIXELS",
    "ImagePool",
    "load_bdd100k",
    "load_image",
    "load_image_folder",
    "load_pool",
    "pool_summary",
    "save_pool",
]

ImagePool: TypeAlias = dict[str, dict[str, np.ndarray]]
"""environment name -> class name -> uint8 array of shape (n_images, size, size, 3), RGB."""

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")

#: Largest image (width x height, read from the file's header) a loader decodes: 50 MP admits the photos of a
#: 50-megapixel phone (8160 x 6120) and refuses a 12000 x 12000 PNG, which zlib squeezes into 420 KB but which
#: takes 432 MB and seconds to decode (PIL's own decompression-bomb error starts at 179 MP).
MAX_IMAGE_PIXELS = 50_000_000

# Joins environment and class names in .npz keys; an ASCII control character cannot occur in a folder name
# or a BDD100K attribute that anyone typed, and save_pool refuses names that contain it.
KEY_SEPARATOR = "\x1f"

BDD100K_ATTRIBUTES = ("weather", "scene", "timeofday")

# Folders that archive tools add next to the data (macOS zip resource forks); never a class or environment.
_IGNORED_DIRS = frozenset({"__MACOSX"})

# What PIL raises for a file that is missing, truncated, not an image or too large to decode safely.
_PIL_READ_ERRORS: tuple[type[BaseException], ...] = (OSError, SyntaxError, ValueError, EOFError)


# --------------------------------------------------------------------------------------------- one image


def load_image(path: Path, size: int, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Read one image file as a ``(size, size, 3)`` uint8 RGB array.

    The image is turned upright according to its EXIF orientation, converted to RGB (greyscale is
    replicated, alpha is dropped, palettes are expanded, 16-bit greyscale keeps its high byte), its
    shorter side is resized to ``size`` and the centre square is kept; Lanczos resampling.

    Raises
    ------
    DataError
        The file is missing, unreadable, truncated or not an image, or its header declares more than
        ``max_pixels`` pixels (checked before any pixel is decoded); the message names the file.
    """
    from PIL import Image, ImageOps

    _check_size(size)
    path = Path(path)
    with _opened(path, size, max_pixels) as img:
        img.load()
        img = ImageOps.exif_transpose(img)
        img = _to_rgb(img)
        width, height = img.size
        side = min(width, height)
        left, top = (width - side) / 2, (height - side) / 2
        img = img.resize((size, size), Image.Resampling.LANCZOS, box=(left, top, left + side, top + side))
        return np.array(img, dtype=np.uint8)  # a writeable copy, detached from PIL's buffer


def _decoded_bytes(path: Path, size: int, max_pixels: int) -> tuple[int, tuple[int, int]]:
    """``(width * height * 3, (width, height))`` of what :func:`load_image` decodes, from the header alone.

    A JPEG decodes at the reduced scale :func:`load_image` asks for, so its size is the draft size.
    """
    with _opened(path, size, max_pixels) as img:
        width, height = img.size
    return width * height * 3, (width, height)


@contextmanager
def _opened(path: Path, size: int, max_pixels: int) -> Iterator[Any]:
    """The image at ``path`` opened lazily (header only), refused above ``max_pixels``, with JPEG draft mode set.

    PIL's read errors, inside the block too, become a :class:`DataError` naming the file.
    """
    from PIL import Image

    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int | np.integer) or max_pixels < 1:
        raise ValueError(f"max_pixels must be a positive int (width x height), got {max_pixels!r}")
    errors = (*_PIL_READ_ERRORS, Image.DecompressionBombError)
    try:
        with warnings.catch_warnings():  # max_pixels is the check here (PIL only warns from 89 MP)
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            opened = Image.open(path)
    except errors as exc:
        raise _unreadable(path, exc) from exc
    with opened as img:
        width, height = img.size
        if width * height > max_pixels:
            raise DataError(
                f"image {path} is {width}x{height} pixels ({_megapixels(width * height)}), more than the "
                f"{_megapixels(max_pixels)} allowed (max_pixels={max_pixels:,}), so it is not decoded; downscale "
                "it, e.g. to 2048 pixels on its longer side"
            )
        try:
            # JPEG only: decode at the smallest power-of-two scale whose both sides stay >= size (much faster for
            # photos; the final Lanczos resize is unchanged in quality). A no-op for other formats.
            img.draft(None, (size, size))
            yield img
        except errors as exc:
            raise _unreadable(path, exc) from exc


def _unreadable(path: Path, exc: BaseException) -> DataError:
    return DataError(
        f"cannot read image {path}: {exc}; delete or replace the file, or skip such files with a warning: "
        "--option skip_unreadable=true (skip_unreadable=True in Python)"
    )


def _megapixels(n: int) -> str:
    return f"{n / 1e6:.3g} MP"


def _to_rgb(img: Any) -> Any:
    from PIL import Image

    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        # PIL's own conversion clips 16-bit values at 255 (a white image); keep the high byte instead.
        return Image.fromarray((np.asarray(img).astype(np.uint16) >> 8).astype(np.uint8), mode="L").convert("RGB")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")  # PIL warns when a palette image with transparency is converted directly
    return img.convert("RGB") if img.mode != "RGB" else img


def _check_size(size: int) -> None:
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 1:
        raise ValueError(f"size must be a positive int (pixels), got {size!r}")


def _check_counts(min_per_class: int, max_per_class: int | None) -> None:
    if min_per_class < 1:
        raise ValueError(f"min_per_class must be >= 1, got {min_per_class}")
    if max_per_class is not None and max_per_class < min_per_class:
        raise ValueError(f"max_per_class={max_per_class} is below min_per_class={min_per_class}; raise max_per_class")


def _is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".") and path.is_file()


def _visible_dirs(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.iterdir() if not p.name.startswith(".") and p.name not in _IGNORED_DIRS and p.is_dir()
    )


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if _is_image_file(p))


def _subsample(items: list[Any], max_per_class: int | None, seed: int, env: str, cls: str) -> list[Any]:
    """Keep ``max_per_class`` of ``items`` (in their original order), chosen by a generator seeded from
    ``(seed, env, cls)`` so that one class's subsample does not depend on which other classes exist."""
    if max_per_class is None or len(items) <= max_per_class:
        return items
    rng = np.random.default_rng([seed, zlib.crc32(env.encode()), zlib.crc32(cls.encode())])
    keep = np.sort(rng.choice(len(items), size=max_per_class, replace=False))
    return [items[i] for i in keep]


def _load_many(
    jobs: list[tuple[str, str, list[Path]]],
    size: int,
    skip_unreadable: bool,
    progress: bool,
    desc: str,
    max_pixels: int = MAX_IMAGE_PIXELS,
) -> ImagePool:
    """Load every ``(env, cls, paths)`` job; a class whose files are all skipped gets a ``(0, size, size, 3)`` array."""
    pool: ImagePool = {}
    bar = progress_bar(total=sum(len(paths) for _, _, paths in jobs), desc=desc, unit="img", disable=not progress)
    try:
        for env, cls, paths in jobs:
            images = []
            for path in paths:
                try:
                    images.append(load_image(path, size, max_pixels))
                except DataError as exc:
                    if not skip_unreadable:
                        raise
                    reason = exc.__cause__ if exc.__cause__ is not None else exc
                    warnings.warn(f"skipping unreadable image: {reason}: {path}", stacklevel=3)
                finally:
                    bar.update(1)
            stacked = np.stack(images) if images else np.zeros((0, size, size, 3), dtype=np.uint8)
            pool.setdefault(env, {})[cls] = stacked
    finally:
        bar.close()
    return pool


def _check_decoded_bytes(
    jobs: list[tuple[str, str, list[Path]]],
    size: int,
    max_pixels: int,
    max_decoded_bytes: int,
    skip_unreadable: bool,
    where: Path,
) -> None:
    """Refuse ``jobs`` whose images decode to more than ``max_decoded_bytes`` (width x height x 3, summed).

    Reads image headers only. An image over ``max_pixels`` or unreadable raises here already, before any image is
    decoded (with ``skip_unreadable``, it is left out of the sum: it will be skipped).
    """
    total = count = 0
    largest: tuple[int, Path, tuple[int, int]] | None = None
    for _, _, paths in jobs:
        for path in paths:
            try:
                n_bytes, shape = _decoded_bytes(path, size, max_pixels)
            except DataError:
                if skip_unreadable:
                    continue
                raise
            total, count = total + n_bytes, count + 1
            if largest is None or n_bytes > largest[0]:
                largest = (n_bytes, path, shape)
    if total > max_decoded_bytes and largest is not None:
        _, path, (width, height) = largest
        raise DataError(
            f"the {count} images to load from {where} decode to {total:,} bytes (width x height x 3, summed), "
            f"more than the {max_decoded_bytes:,} allowed (max_decoded_bytes); the largest is {path} "
            f"({width}x{height}); use fewer or smaller images"
        )


# --------------------------------------------------------------------------------------------- image folders


def load_image_folder(
    root: Path,
    size: int = 84,
    min_per_class: int = 1,
    max_per_class: int | None = None,
    seed: int = 0,
    progress: bool = False,
    skip_unreadable: bool = False,
    max_pixels: int = MAX_IMAGE_PIXELS,
    max_decoded_bytes: int | None = None,
) -> ImagePool:
    """Load an image folder tree into an :data:`ImagePool` of ``(n, size, size, 3)`` uint8 arrays.

    Two layouts are recognised from the tree itself:

    * ``root/<class>/<image>`` -- one environment, named after ``root`` (e.g. one webcam);
    * ``root/<environment>/<class>/<image>`` -- many environments.

    Files and folders whose name starts with ``.`` are ignored, as are files whose extension is not
    in :data:`IMAGE_EXTENSIONS` (case-insensitive). Environments, classes and images are sorted by name.

    Parameters
    ----------
    root : folder to read.
    size : output side length in pixels.
    min_per_class : each class must end up with at least this many readable images.
    max_per_class : keep at most this many images per class, a subsample chosen by
        ``numpy.random.default_rng`` seeded from ``(seed, environment, class)`` (kept in file-name order).
    seed : seed of that subsample.
    progress : show progress (a bar on a terminal, periodic lines otherwise).
    skip_unreadable : skip (with a warning) instead of raising on a corrupt or unreadable image file, or on
        one larger than ``max_pixels``.
    max_pixels : largest image (width x height, read from its header before decoding) that is decoded.
    max_decoded_bytes : when given, the images to load (after the ``max_per_class`` subsample) may decode to at
        most this many bytes in all (width x height x 3 each, JPEGs at their reduced decoding scale); checked
        from the headers before any image is decoded.

    Raises
    ------
    DataError
        ``root`` is missing or has no class folders; a class folder has no readable images or fewer
        than ``min_per_class``; the two layouts are mixed; an image is unreadable or larger than
        ``max_pixels`` (unless skipped); the images decode to more than ``max_decoded_bytes``.
    """
    _check_size(size)
    _check_counts(min_per_class, max_per_class)
    root = Path(root)
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "does not exist"
        raise DataError(
            f"image folder {root} {what}; pass a folder laid out as <root>/<class>/<image> "
            f"or <root>/<environment>/<class>/<image>"
        )
    class_dirs = _find_class_dirs(root)

    jobs: list[tuple[str, str, list[Path]]] = []
    for env, cls, folder in class_dirs:
        files = _image_files(folder)
        _check_class_count(folder, len(files), min_per_class)
        jobs.append((env, cls, _subsample(files, max_per_class, seed, env, cls)))

    if max_decoded_bytes is not None:
        _check_decoded_bytes(jobs, size, max_pixels, max_decoded_bytes, skip_unreadable, root)
    pool = _load_many(jobs, size, skip_unreadable, progress, f"loading {root.name or root}", max_pixels)
    for env, cls, folder in class_dirs:
        _check_class_count(folder, len(pool[env][cls]), min_per_class, after_skipping=True)
    return pool


def _find_class_dirs(root: Path) -> list[tuple[str, str, Path]]:
    """Detect the layout under ``root``; returns ``(environment, class, folder)`` for every class folder."""
    top = _visible_dirs(root)
    if not top:
        raise DataError(
            f"image folder {root} has no class folders; put images in <root>/<class>/<image> "
            f"or <root>/<environment>/<class>/<image>"
        )
    with_images = [d for d in top if _image_files(d)]
    with_dirs = [d for d in top if _visible_dirs(d)]
    if with_images and with_dirs:
        example_img, example_dir = with_images[0], with_dirs[0]
        raise DataError(
            f"image folder {root} mixes two layouts: {example_img} holds images (a class folder) but {example_dir} "
            f"holds sub-folders (an environment folder); use either <root>/<class>/<image> everywhere "
            f"or <root>/<environment>/<class>/<image> everywhere"
        )
    if not with_dirs:  # root/<class>/<image>; folders with neither images nor sub-folders are empty classes
        env = root.resolve().name or str(root)
        return [(env, d.name, d) for d in top]

    found: list[tuple[str, str, Path]] = []
    for env_dir in top:
        classes = _visible_dirs(env_dir)
        if not classes:
            raise DataError(
                f"environment folder {env_dir} has no class folders, but {with_dirs[0]} does "
                f"(layout <root>/<environment>/<class>/<image>); add class folders to it or remove it"
            )
        stray = _image_files(env_dir)
        if stray:
            raise DataError(
                f"image folder {root} mixes two layouts: environment folder {env_dir} holds images such as "
                f"{stray[0].name} next to its class folders; move them into a class folder"
            )
        found.extend((env_dir.name, cls_dir.name, cls_dir) for cls_dir in classes)
    return found


def _check_class_count(folder: Path, n: int, min_per_class: int, after_skipping: bool = False) -> None:
    if n == 0:
        nested = ""
        if folder.is_dir() and _visible_dirs(folder):
            nested = " (it holds only sub-folders; images must sit directly in the class folder)"
        readable = "readable " if after_skipping else ""
        raise DataError(
            f"empty class: folder {folder} has no {readable}images ({', '.join(IMAGE_EXTENSIONS)}){nested}; "
            f"add images or remove the folder"
        )
    if n < min_per_class:
        skipped = " readable after skipping unreadable files" if after_skipping else ""
        raise DataError(
            f"class folder {folder} has {n} image(s){skipped}, fewer than min_per_class={min_per_class}; "
            f"add images, remove the folder, or lower min_per_class"
        )


# --------------------------------------------------------------------------------------------- BDD100K


def load_bdd100k(
    labels_json: Path,
    images_dir: Path,
    size: int = 84,
    split_name: str | None = None,
    max_per_class: int | None = None,
    min_per_class: int = 1,
    seed: int = 0,
    progress: bool = False,
    skip_unreadable: bool = False,
) -> ImagePool:
    """Load BDD100K frames grouped by environment ``"<weather>|<timeofday>"`` and class ``scene``.

    ``labels_json`` is an official BDD100K label file (e.g. ``bdd100k_labels_images_train.json`` or
    ``det_20/det_train.json``): a JSON list of frames ``{"name": "xxx.jpg", "attributes": {"weather":
    ..., "scene": ..., "timeofday": ...}, "labels": [...]}`` (a Scalabel ``{"frames": [...]}`` object is
    accepted too). Frames with any ``"undefined"`` attribute are dropped. Environments are e.g.
    ``"rainy|night"``; classes are ``"city street"``, ``"highway"``, ``"residential"``, ``"parking lot"``,
    ``"tunnel"``, ``"gas station"``.

    Parameters
    ----------
    labels_json : the label file.
    images_dir : folder holding the frames, looked up by ``name`` (e.g. ``bdd100k/images/100k``).
    size : output side length in pixels.
    split_name : if given, frames are read from ``images_dir / split_name`` (e.g. ``"train"``, ``"val"``),
        matching the official ``images/100k/<split>/`` layout.
    max_per_class : keep at most this many frames per (environment, class), a subsample chosen by
        ``numpy.random.default_rng`` seeded from ``(seed, environment, class)``.
    min_per_class : classes with fewer frames in an environment are dropped from it (with one summary
        warning); environments left with fewer than 2 classes are dropped.
    seed : seed of the subsample.
    progress : show progress (a bar on a terminal, periodic lines otherwise).
    skip_unreadable : skip (with a warning) instead of raising on a corrupt image file.

    Frames whose image file is missing are skipped with a warning giving their count.

    Raises
    ------
    DataError
        The label file is missing, not JSON, or has an entry without ``name`` / ``attributes``
        (the message names the file and the first bad entry's index); every image is missing
        (the message names ``images_dir``); no environment keeps 2 classes.
    """
    _check_size(size)
    _check_counts(min_per_class, max_per_class)
    labels_json, images_dir = Path(labels_json), Path(images_dir)
    if split_name is not None:
        images_dir = images_dir / split_name
    if not images_dir.is_dir():
        raise DataError(
            f"BDD100K images folder {images_dir} does not exist; pass the folder that holds the .jpg frames"
        )

    frames = _read_bdd_frames(labels_json)
    groups: dict[tuple[str, str], list[Path]] = {}
    n_defined = n_missing = 0
    first_missing: Path | None = None
    for frame in frames:
        attrs = frame["attributes"]
        if any(attrs[key] == "undefined" for key in BDD100K_ATTRIBUTES):
            continue
        n_defined += 1
        path = images_dir / frame["name"]
        if not path.is_file():
            n_missing += 1
            first_missing = first_missing or path
            continue
        groups.setdefault((f"{attrs['weather']}|{attrs['timeofday']}", attrs["scene"]), []).append(path)

    if n_defined == 0:
        raise DataError(
            f"{labels_json} has no frame whose weather, scene and timeofday are all defined; "
            f"use a BDD100K attribute label file"
        )
    if n_missing == n_defined:
        raise DataError(
            f"none of the {n_defined} labelled frames in {labels_json} was found in images folder {images_dir} "
            f"(e.g. {first_missing}); point images_dir at the folder holding the frames"
            + ("" if split_name else " (or pass split_name='train'/'val' for the images/100k/<split>/ layout)")
        )
    if n_missing:
        warnings.warn(
            f"{n_missing} of {n_defined} labelled frames in {labels_json} have no image in {images_dir} "
            f"(e.g. {first_missing}); skipping them",
            stacklevel=2,
        )

    dropped: list[str] = []
    counts = {key: len(paths) for key, paths in groups.items()}
    kept = _keep_big_enough(counts, min_per_class, dropped)
    jobs = [(env, cls, _subsample(groups[env, cls], max_per_class, seed, env, cls)) for env, cls in sorted(kept)]
    loaded = _load_many(jobs, size, skip_unreadable, progress, desc=f"loading {labels_json.name}")

    if skip_unreadable:  # skipping may have pushed a class below min_per_class
        counts = {(env, cls): len(arr) for env, classes in loaded.items() for cls, arr in classes.items()}
        kept = _keep_big_enough(counts, min_per_class, dropped)
    if dropped:
        warnings.warn(
            f"dropped from {labels_json.name} (min_per_class={min_per_class}, at least 2 classes per environment): "
            + "; ".join(dropped),
            stacklevel=2,
        )
    pool: ImagePool = {}
    for env, classes in loaded.items():
        for cls, arr in classes.items():
            if (env, cls) in kept:
                pool.setdefault(env, {})[cls] = arr
    if not pool:
        raise DataError(
            f"no environment in {labels_json} has 2 scene classes with at least min_per_class={min_per_class} "
            f"images in {images_dir}; lower min_per_class or add frames"
        )
    return pool


def _keep_big_enough(
    counts: dict[tuple[str, str], int], min_per_class: int, dropped: list[str]
) -> set[tuple[str, str]]:
    """Classes with >= min_per_class images, in environments that keep >= 2 such classes; reasons go to ``dropped``."""
    by_env: dict[str, list[str]] = {}
    for (env, cls), n in sorted(counts.items()):
        if n >= min_per_class:
            by_env.setdefault(env, []).append(cls)
        else:
            dropped.append(f"class '{cls}' in '{env}' ({n} image(s))")
    kept: set[tuple[str, str]] = set()
    for env, classes in by_env.items():
        if len(classes) < 2:
            dropped.append(f"environment '{env}' (only class {classes[0]!r} left)")
        else:
            kept.update((env, cls) for cls in classes)
    return kept


def _read_bdd_frames(labels_json: Path) -> list[dict[str, Any]]:
    """Parse and validate the label file; every returned frame has a str ``name`` and str attributes."""
    if not labels_json.is_file():
        raise DataError(f"BDD100K label file {labels_json} does not exist; pass the path of the label .json file")
    try:
        with labels_json.open(encoding="utf-8") as f:
            data = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"BDD100K label file {labels_json} is not valid JSON ({exc}); re-download it") from exc
    if isinstance(data, dict) and isinstance(data.get("frames"), list):
        data = data["frames"]
    if not isinstance(data, list):
        raise DataError(
            f"BDD100K label file {labels_json} holds a JSON {type(data).__name__}, expected a list of frames "
            f'{{"name": ..., "attributes": {{...}}}}; use an image-level attribute label file'
        )
    for index, frame in enumerate(data):
        problem = _bdd_frame_problem(frame)
        if problem:
            raise DataError(
                f"BDD100K label file {labels_json}: entry {index} {problem}; every frame needs "
                f'"name" and "attributes" with {", ".join(BDD100K_ATTRIBUTES)} (use "undefined" when unknown)'
            )
    return data


def _bdd_frame_problem(frame: Any) -> str | None:
    if not isinstance(frame, dict):
        return f"is a {type(frame).__name__}, not an object"
    name = frame.get("name")
    if not isinstance(name, str) or not name or Path(name).is_absolute() or ".." in Path(name).parts:
        return f"has no usable relative image 'name' (got {name!r})"
    attrs = frame.get("attributes")
    if not isinstance(attrs, dict):
        return f"({name}) has no 'attributes' object"
    for key in BDD100K_ATTRIBUTES:
        value = attrs.get(key)
        if not isinstance(value, str) or not value:
            return f"({name}) has no string attribute {key!r} (got {value!r})"
        if KEY_SEPARATOR in value:
            return f"({name}) has a control character in attribute {key!r}"
    return None


# --------------------------------------------------------------------------------------------- pools


def pool_summary(pool: ImagePool) -> pandas.DataFrame:
    """Image counts: one row per environment, one column per class (sorted), 0 where a class is absent."""
    import pandas

    classes = sorted({cls for env_classes in pool.values() for cls in env_classes})
    table = pandas.DataFrame(
        [[len(pool[env].get(cls, ())) for cls in classes] for env in pool],
        index=pandas.Index(list(pool), name="environment"),
        columns=pandas.Index(classes, name="class"),
        dtype="int64",
    )
    return table


def _iter_pool(pool: ImagePool) -> Iterator[tuple[str, str, np.ndarray]]:
    for env, classes in pool.items():
        for cls, arr in classes.items():
            yield env, cls, arr


def _check_pool_entry(env: Any, cls: Any, arr: Any, where: str) -> None:
    for kind, name in (("environment", env), ("class", cls)):
        if not isinstance(name, str) or not name or KEY_SEPARATOR in name:
            raise DataError(f"{where}: {kind} name {name!r} must be a non-empty str without {KEY_SEPARATOR!r}")
    if not isinstance(arr, np.ndarray) or arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[-1] != 3:
        desc = f"{arr.dtype} array of shape {arr.shape}" if isinstance(arr, np.ndarray) else type(arr).__name__
        raise DataError(
            f"{where}: images of class {cls!r} in environment {env!r} are a {desc}; "
            f"expected uint8 of shape (n_images, size, size, 3)"
        )


def save_pool(pool: ImagePool, path: Path) -> Path:
    """Write ``pool`` to the ``.npz`` file ``path`` atomically (temp file + ``os.replace``); returns ``path``.

    Keys are ``f"{environment}{KEY_SEPARATOR}{class}"``; arrays are stored uncompressed, without pickle.
    """
    path = Path(path)
    arrays: dict[str, np.ndarray] = {}
    for env, cls, arr in _iter_pool(pool):
        _check_pool_entry(env, cls, arr, where=f"cannot save pool to {path}")
        arrays[f"{env}{KEY_SEPARATOR}{cls}"] = arr
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_pool(path: Path) -> ImagePool:
    """Read a pool written by :func:`save_pool` (never unpickles); environment and class order are kept."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"image pool file {path} does not exist; create it with save_pool")
    pool: ImagePool = {}
    try:
        with path.open("rb") as f, np.load(f, allow_pickle=False) as npz:  # np.load(path) leaks the handle on a bad zip
            for key in npz.files:
                env, sep, cls = key.partition(KEY_SEPARATOR)
                arr = npz[key]
                if not sep:
                    raise DataError(f"{path} is not an image pool (key {key!r} has no environment/class separator)")
                _check_pool_entry(env, cls, arr, where=f"image pool {path}")
                pool.setdefault(env, {})[cls] = arr
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(
            f"image pool file {path} is unreadable ({exc}); delete it and rebuild it with save_pool"
        ) from exc
    return pool
