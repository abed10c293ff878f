"""Rendering frames and pools of frames, the on-disk pool cache, and the renderer's fingerprint."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import warnings
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from metasuite.core import paths
from metasuite.domains.driving.render import hazards, open_road, town
from metasuite.domains.driving.render.finish import compose, develop, windscreen
from metasuite.domains.driving.render.frame import Frame
from metasuite.domains.driving.render.randomise import RANDOMISATION_VERSION, Randomiser, check_level
from metasuite.domains.driving.render.styles import ALL_ENVIRONMENTS, SCENE_CLASSES, Environment, check_name

RENDERER_VERSION = "driving-render-v1"

#: How each of :data:`SCENE_CLASSES` is laid out.
SCENES: dict[str, Callable[[Frame], None]] = {
    "city street": town.city_street,
    "highway": open_road.highway,
    "tunnel": open_road.tunnel,
    "residential": town.residential,
    "parking lot": town.parking_lot,
    "gas station": town.gas_station,
    "intersection": town.intersection,
    "roundabout": town.roundabout,
    "bridge": open_road.bridge,
    "rural road": open_road.rural_road,
    "construction zone": hazards.construction_zone,
    "railway crossing": hazards.railway_crossing,
}


def render_scene(scene: str, env: Environment, seed: int, size: int = 84, randomise: float = 0.0) -> np.ndarray:
    """One dashcam frame of ``scene`` in ``env``: uint8 RGB ``(size, size, 3)``, a pure function of its arguments.

    ``randomise`` > 0 is the domain-randomisation level (:mod:`.randomise`): the same scene (layout, traffic,
    camera pose, weather) with random palettes, textures, photometry and camera effects drawn from ``seed``;
    0 renders the plain frame.
    """
    sc = build_frame(scene, env, seed, size, randomise)
    frame = develop(sc, compose(sc), size)
    return frame if sc.randomiser is None else sc.randomiser.camera(frame)


def build_frame(scene: str, env: Environment, seed: int, size: int = 84, randomise: float = 0.0) -> Frame:
    """The frame :func:`render_scene` draws, built but not rasterised: its display list, lights and look."""
    check_name("scene class", scene, SCENE_CLASSES)
    randomise = check_level(randomise)
    if not isinstance(env, Environment):
        raise TypeError(f"env must be an Environment (e.g. Environment.from_name('rainy|night|europe')), got {env!r}")
    if size < 16:
        raise ValueError(f"size must be at least 16 pixels, got {size}")
    rng = np.random.default_rng(seed)
    sc = Frame(env, rng, size, Randomiser(seed, randomise) if randomise else None)
    sc.density = float(rng.uniform(0.0, 1.0)) ** 0.8  # traffic density nuisance
    SCENES[scene](sc)
    if (sc.look.lights > 0 and scene != "tunnel") or sc.look.lights > 0.5:
        for z, r in ((8.0, 4.5), (18.0, 7.0)):  # ego headlights on the road ahead
            sc.canvas.pool(0.0, z, r, 0.8)
    if sc.env.time_of_day == "dawn/dusk" and sc.env.weather == "clear" and sc.chance(0.6) and scene != "tunnel":
        u, v = sc.camera.uv(sc.u(-1, 1) * 400, sc.u(5, 40), 1000.0)  # a low sun
        s = sc.camera.size
        sc.canvas.glows.append((u, v, s * 0.12, s * 0.1, (255, 190, 110)))
        sc.canvas.glows.append((u, v, s * 0.02, s * 0.02, (255, 250, 220)))
    windscreen(sc)
    return sc


def _image_seed(seed: int, env: Environment, scene: str, index: int) -> int:
    digest = hashlib.blake2b(f"{seed}|{env.name}|{scene}|{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def render_pool(
    env: Environment,
    n_per_class: int,
    size: int = 84,
    seed: int = 0,
    classes: Sequence[str] = SCENE_CLASSES,
    randomise: float = 0.0,
) -> np.ndarray:
    """Frames of every class in ``env``: uint8 ``(len(classes), n_per_class, size, size, 3)``.

    Image ``j`` of class ``c`` is rendered with a seed derived from ``(seed, env.name, c, j)``, so a
    class's frames do not depend on which other classes or how many frames are asked for; ``randomise``
    is :func:`render_scene`'s domain-randomisation level.
    """
    randomise = check_level(randomise)
    for c in classes:
        check_name("scene class", c, SCENE_CLASSES)
    if n_per_class < 1:
        raise ValueError(f"n_per_class must be at least 1, got {n_per_class}")
    out = np.empty((len(classes), n_per_class, size, size, 3), dtype=np.uint8)
    for i, c in enumerate(classes):
        for j in range(n_per_class):
            out[i, j] = render_scene(c, env, _image_seed(seed, env, c, j), size, randomise)
    return out


def _cache_path(cache_dir: Path, env: Environment, n_per_class: int, size: int, seed: int, randomise: float) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", env.name)
    version = f"{RENDERER_VERSION}+{RANDOMISATION_VERSION}-L{randomise:g}" if randomise else RENDERER_VERSION
    return cache_dir / f"{version}_{safe}_n{n_per_class}_s{size}_seed{seed}.npy"


def cached_pool(
    env: Environment,
    n_per_class: int,
    size: int = 84,
    seed: int = 0,
    cache_dir: Path | None = None,
    randomise: float = 0.0,
) -> np.ndarray:
    """:func:`render_pool` of all :data:`SCENE_CLASSES`, stored once as ``.npy`` under ``cache_dir``.

    The default ``cache_dir`` is ``metasuite.core.paths.cache_dir("driving")``: ``$METASUITE_CACHE/driving``
    when that variable is set, else ``driving`` in the user cache folder. Files are keyed by
    :data:`RENDERER_VERSION`, environment, ``n_per_class``, ``size`` and ``seed`` -- and, for ``randomise`` > 0,
    by the randomisation level and :data:`~.randomise.RANDOMISATION_VERSION` -- and written atomically
    (temporary file + ``os.replace``); an unreadable or wrong-shaped file is re-rendered and replaced
    (with a warning).
    """
    cache_dir = paths.cache_dir("driving") if cache_dir is None else Path(cache_dir)
    randomise = check_level(randomise)
    path = _cache_path(cache_dir, env, n_per_class, size, seed, randomise)
    shape = (len(SCENE_CLASSES), n_per_class, size, size, 3)
    if path.exists():
        try:
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            warnings.warn(f"driving cache {path} is unreadable ({exc}); re-rendering it", stacklevel=2)
        else:
            if arr.shape == shape and arr.dtype == np.uint8:
                return arr
            warnings.warn(
                f"driving cache {path} holds {arr.dtype}{arr.shape}, expected uint8{shape}; re-rendering", stacklevel=2
            )
    arr = render_pool(env, n_per_class, size, seed, randomise=randomise)
    cache_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, arr, allow_pickle=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return arr


@lru_cache(maxsize=4)
def renderer_fingerprint(randomise: float = 0.0) -> str:
    """First 16 hex digits of the SHA-256 of :data:`RENDERER_VERSION` and a few fixed rendered frames.

    For ``randomise`` > 0 the hash also covers :data:`~.randomise.RANDOMISATION_VERSION` and the level, and the
    frames are rendered at that level; level 0 gives the plain renderer's fingerprint.
    """
    randomise = check_level(randomise)
    h = hashlib.sha256(RENDERER_VERSION.encode())
    if randomise:
        h.update(f"|{RANDOMISATION_VERSION}|{randomise:g}".encode())
    for i, (scene, env) in enumerate(zip(SCENE_CLASSES, ALL_ENVIRONMENTS[::4])):
        h.update(render_scene(scene, env, seed=1000 + i, size=32, randomise=randomise).tobytes())
    return h.hexdigest()[:16]
