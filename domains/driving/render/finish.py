"""From display list to pixels: windscreen occluders, rasterising, ground fog and light, then the sensor.

:func:`compose` rasterises the canvas at twice the output size with PIL (sky, ground, the three layers,
per-pixel fog and lit patches); :func:`develop` box-downsamples it and applies what the camera adds:
lamp halos, rain streaks or snowflakes, lens blur, contrast, exposure, gamma, vignette and sensor noise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from metasuite.domains.driving.render.canvas import Item
from metasuite.domains.driving.render.frame import Frame
from metasuite.domains.driving.render.styles import mix


def windscreen(sc: Frame) -> None:
    """Per-image occluders: ego hood, wiper blade, A-pillar, a pole passing close."""
    cv = sc.canvas
    if sc.chance(0.6):
        h = sc.u(0.03, 0.13)
        col = sc.jitter(sc.pick(sc.style.car_colours), 0.05)
        pts = [(-0.05, 1.02)] + [(u, 1.0 - h * (1 - ((u - 0.5) / 0.7) ** 2)) for u in np.linspace(-0.05, 1.05, 9)]
        cv.screen_poly([*pts, (1.05, 1.02)], col)
        cv.screen_poly(
            [(u, v + 0.004) for u, v in pts[2:-2]] + [(u, v + 0.02) for u, v in pts[-3:1:-1]],
            mix(col, sc.look.sky_horizon, 0.5),
        )
    wet = sc.look.wet or sc.look.snow
    if sc.chance(0.45 if wet else 0.1):
        u0, a = sc.u(0.1, 0.6), sc.u(0.35, 0.75)
        cv.screen_poly(
            [(u0, 1.02), (u0 + 0.02, 1.02), (u0 + a + 0.01, 1.02 - a * 0.9), (u0 + a, 1.02 - a * 0.9)],
            (20, 20, 22),
            emissive=True,
        )
    if sc.chance(0.1):
        left = sc.chance(0.5)
        w = sc.u(0.04, 0.1)
        pts = [(0, 0), (w, 0), (w * 0.3, 1), (0, 1)] if left else [(1, 0), (1 - w, 0), (1 - w * 0.3, 1), (1, 1)]
        cv.screen_poly(pts, (25, 25, 28), emissive=True)
    if sc.chance(0.08):
        u0, w = sc.u(0.0, 0.9), sc.u(0.03, 0.07)
        cv.screen_poly([(u0, -0.02), (u0 + w, -0.02), (u0 + w * 1.1, 1.02), (u0 - w * 0.1, 1.02)], (90, 92, 95))


@lru_cache(maxsize=8)
def _grid(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre columns ``(1, n)`` and rows ``(n, 1)``, float32."""
    c = np.arange(n, dtype=np.float32) + 0.5
    return c[None, :], c[:, None]


@lru_cache(maxsize=8)
def _vignette(n: int) -> np.ndarray:
    """Radial fall-off ``(n, n, 1)`` float32: 1 at the centre, 0.65 in the corners."""
    u, v = _grid(n)
    r2 = ((u - n / 2) ** 2 + (v - n / 2) ** 2) / (n * n / 2)
    return (1.0 - 0.35 * r2)[..., None].astype(np.float32)


def _draw(draw: ImageDraw.ImageDraw, items: list[Item], fills: Sequence[int] | None = None) -> None:
    """Rasterise ``items`` in order, in their colours or, into a label image, in ``fills`` (one per item)."""
    for i, (_, _, _, kind, geo, rgb) in enumerate(items):
        col = rgb if fills is None else fills[i]
        if kind == "poly":
            draw.polygon(geo, fill=col)
        elif kind == "ellipse":
            draw.ellipse(geo, fill=col)
        else:
            draw.line([geo[0], geo[1]], fill=col, width=geo[2])


def _splat(arr: np.ndarray, u: float, v: float, rx: float, ry: float, rgb: Sequence[float]) -> None:
    """Add a Gaussian light blob centred at pixel ``(u, v)`` with radii ``rx, ry`` pixels."""
    rx, ry = max(rx, 0.6), max(ry, 0.6)
    n = arr.shape[0]
    x0, x1 = max(0, int(u - 3 * rx)), min(n, int(u + 3 * rx) + 1)
    y0, y1 = max(0, int(v - 3 * ry)), min(n, int(v + 3 * ry) + 1)
    if x0 >= x1 or y0 >= y1:
        return
    xs = (np.arange(x0, x1, dtype=np.float32) + 0.5 - u) / rx
    ys = (np.arange(y0, y1, dtype=np.float32) + 0.5 - v) / ry
    w = np.exp(-0.5 * (ys[:, None] ** 2 + xs[None, :] ** 2))
    arr[y0:y1, x0:x1] += w[..., None] * np.asarray(rgb, dtype=np.float32)


def compose(sc: Frame) -> Image.Image:
    """Sky and terrain, then the three layers; ground fog and lit patches applied per pixel.

    Returns the RGB canvas, ``2 * size`` pixels square. The smooth fields (sky gradient, fog along the
    ground, light pools) are computed on a half- or quarter-resolution grid and upsampled bilinearly.
    With domain randomisation (``sc.randomiser``) a label image is drawn alongside -- 0 sky, 1 terrain, then
    one label per distinct primitive colour -- and each label's random texture is applied to the canvas.
    """
    cam, cv, lk = sc.camera, sc.canvas, sc.look
    s = cam.size
    gu, gv = _grid(s // 2)
    # pixels below the (rolled) horizon, in canvas units, at the half-resolution sample points
    below = (gv * 2.0 - cam.horizon) * cam.cos_roll - (gu * 2.0 - cam.cx) * cam.sin_roll
    t = np.sqrt(np.clip(-below / (0.6 * s), 0.0, 1.0))
    hor, top = np.asarray(lk.sky_horizon, np.float32), np.asarray(lk.sky_top, np.float32)
    sky = hor + (top - hor) * t[..., None]
    ground = np.asarray(cv.shade(sc.ground, None), np.float32)
    img = np.where((below < 0)[..., None], sky, ground)
    picture = Image.fromarray(img.astype(np.uint8)).resize((s, s), Image.Resampling.BILINEAR)
    cv.items.sort(key=lambda it: it[:3])
    split1 = next((i for i, it in enumerate(cv.items) if it[0] >= 1), len(cv.items))
    _draw(ImageDraw.Draw(picture), cv.items[:split1])
    labels = None if sc.randomiser is None else _labels(cv.items, below < 0, s)
    arr = np.asarray(picture, dtype=np.float32)
    if cv.beams:
        q = s // 4
        mask = Image.new("L", (q, q))
        md = ImageDraw.Draw(mask)
        for pts, strength in cv.beams:
            md.polygon([(u / 4, v / 4) for u, v in pts], fill=int(255 * min(strength, 1.0)))
        mask = mask.filter(ImageFilter.BoxBlur(1)).resize((s, s), Image.Resampling.BILINEAR)
        gain = (0.7 / max(sum(cv.amb) / 3, 0.05) - 1.0) * lk.lights / 255.0
        arr = arr * (1.0 + gain * np.asarray(mask, dtype=np.float32)[..., None])
    # the road surface fogs per pixel, by the distance at which its row meets the ground plane
    z = cam.f * cam.height / np.maximum(below, 1e-3)
    tf = np.where(below > 0, 1.0 - np.exp(-z / cv.vis), 0.0).astype(np.float32)
    tf = np.asarray(Image.fromarray(tf, mode="F").resize((s, s), Image.Resampling.BILINEAR))[..., None]
    arr = arr + (np.asarray(cv.fog, np.float32) - arr) * tf
    picture = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    _draw(ImageDraw.Draw(picture), cv.items[split1:])
    if sc.randomiser is None:
        return picture
    textured = sc.randomiser.textures(np.asarray(picture, dtype=np.float32), labels)
    return Image.fromarray(np.clip(textured + 0.5, 0, 255).astype(np.uint8))


def _labels(items: list[Item], sky: np.ndarray, s: int) -> np.ndarray:
    """Surface labels ``(s, s)`` int32 of the canvas: 0 where the sky shows (``sky`` is the half-resolution mask),
    1 the terrain, ``2 + k`` the ``k``-th distinct colour among ``items`` (drawn in display order, so occlusion
    matches the picture): faces of one material share a label, hence a texture."""
    ids: dict[tuple[int, int, int], int] = {}
    fills = [ids.setdefault(it.rgb, 2 + len(ids)) for it in items]
    image = Image.fromarray(np.where(sky, 0, 1).astype(np.int32), mode="I").resize((s, s), Image.Resampling.NEAREST)
    _draw(ImageDraw.Draw(image), items, fills)
    return np.asarray(image, dtype=np.int32)


def develop(sc: Frame, picture: Image.Image, size: int) -> np.ndarray:
    """Downsample, then lights, rain / snow, blur, contrast, exposure, gamma, vignette and sensor noise.

    ``picture`` is :func:`compose`'s canvas; returns uint8 RGB ``(size, size, 3)``.
    """
    rng, lk = sc.rng, sc.look
    small = picture.reduce(2)
    blur = sc.u(0.0, 0.6) + (0.3 if lk.wet or sc.env.weather == "foggy" else 0.0)
    if blur > 0.25:
        small = small.filter(ImageFilter.GaussianBlur(blur))
    arr = np.asarray(small, dtype=np.float32).copy()
    for u, v, rx, ry, rgb in sc.canvas.glows:
        _splat(arr, u / 2, v / 2, rx / 2, ry / 2, rgb)
    if (lk.wet or lk.snow) and not sc.canvas.indoor:
        arr = _precipitation(sc, arr)
    if lk.veil and not sc.canvas.indoor:
        arr = arr + (np.asarray(lk.fog, np.float32) - arr) * lk.veil
    mean = arr.mean(axis=(0, 1), keepdims=True)
    arr = mean + (arr - mean) * lk.contrast
    exposure = sc.exposure * math.exp(sc.u(-0.25, 0.25))
    gamma = sc.u(0.85, 1.15)
    arr = 255.0 * np.power(np.clip(arr * (exposure / 255.0), 0.0, 1.0), gamma)
    arr *= 1.0 - (1.0 - _vignette(size)) * sc.u(0.0, 1.0)
    sigma = lk.noise
    arr += rng.standard_normal((size, size, 1), dtype=np.float32) * sigma
    arr += rng.standard_normal((size, size, 3), dtype=np.float32) * (sigma * 0.35)
    return np.clip(arr + 0.5, 0, 255).astype(np.uint8)


def _precipitation(sc: Frame, arr: np.ndarray) -> np.ndarray:
    """Rain streaks or snowflakes drawn at canvas resolution, downsampled and blended over ``arr`` (float32)."""
    rng, lk, s = sc.rng, sc.look, sc.camera.size
    mask = Image.new("L", (s, s))
    md = ImageDraw.Draw(mask)
    if lk.wet:
        slant = sc.u(-0.25, 0.25)
        for _ in range(int(rng.integers(50, 140))):
            u, v, ln = sc.u(0, s), sc.u(-10, s), sc.u(6, 22)
            md.line([(u, v), (u + slant * ln, v + ln)], fill=int(rng.integers(90, 200)), width=1)
        col, alpha = np.float32(200 * max(sum(lk.ambient) / 3, 0.3)), 0.45
    else:
        for _ in range(int(rng.integers(60, 220))):
            u, v, r = sc.u(0, s), sc.u(0, s), sc.u(0.6, 1.7) ** 2
            md.ellipse((u - r, v - r, u + r, v + r), fill=int(rng.integers(150, 256)))
        col, alpha = np.float32(240 * max(sum(lk.ambient) / 3, 0.45)), 0.9
    a = np.asarray(mask.reduce(2), dtype=np.float32)[..., None] * (alpha / 255.0)
    return arr * (1.0 - a) + col * a
