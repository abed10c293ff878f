"""Domain randomisation: a random appearance per frame for the same scene (Tobin et al. 2017; Tremblay et al. 2018).

Tobin et al., "Domain randomization for transferring deep neural networks from simulation to the real world"
(IROS 2017), and Tremblay et al., "Training deep networks with synthetic data: bridging the reality gap by domain
randomization" (CVPR workshops 2018): render each training image with random colours, textures, lighting and
camera, so that the real world looks like one more variation to a network trained on the renders.

At level ``L > 0`` a :class:`Randomiser` changes, per frame,

* **palettes**: the region style's material colours (road, sidewalk, walls, roofs, vegetation, cars, sign panels)
  each get their own hue / saturation / value jitter; the sky and fog their own; and every other lit (not
  emissive) surface colour goes through a random hue-sector remap (:meth:`Randomiser.colour`: hues rotated,
  saturations and values scaled per sector of the hue circle, greys tinted per brightness band);
* **textures**: surfaces of one colour share a random screen-space texture -- plain, stripes (sine or square
  wave, any angle and period) or value noise (fine or coarse) -- multiplying their brightness
  (:func:`texture`; polygons are flat fills, so a texture is painted through a label image drawn with them);
* **camera and photometry** on the finished frame (:meth:`Randomiser.camera`): random crop and scale, barrel or
  pincushion lens distortion and rolling-shutter skew (one resampling, :func:`warp`), defocus or motion blur,
  exposure, white balance, contrast, saturation and gamma (:func:`photometric`), vignetting with a random centre,
  shot and read noise, and JPEG re-compression at a random quality.

The scene itself is untouched: the randomiser draws from its own generator, seeded by ``(seed, stream)``, so the
frame's own draws -- layout, traffic, camera pose, weather -- and with them every primitive's geometry are those
of level 0. Magnitudes scale linearly with ``L`` (1 is the standard strength, at most :data:`MAX_LEVEL`); which
effects fire does not depend on ``L``. Level 0 builds no randomiser at all and leaves every pixel as it was.
"""

from __future__ import annotations

import colorsys
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from functools import lru_cache

import numpy as np
from PIL import Image

from metasuite.domains.driving.render.styles import RGB, Look, Style

#: Keys the disk cache and the fingerprint of randomised renders: bump when randomised pixels change.
RANDOMISATION_VERSION = "driving-dr-v1"
MAX_LEVEL = 2.0
_STREAM = 0xD0_4A_17  # second word of the randomiser's seed: its draws never overlap the frame's own

#: Region-style colours re-drawn per frame, with the largest hue shift (fraction of the circle) at level 1.
#: Safety colours (warning signs, cones, stripes, crossbucks, centre lines) only go through the milder remap.
MATERIALS: dict[str, float] = {
    "road": 0.1,
    "sidewalk": 0.15,
    "walls": 0.5,
    "house_walls": 0.5,
    "roofs": 0.5,
    "greens": 0.12,
    "car_colours": 0.5,
    "guide": 0.15,
    "signal_housing": 0.5,
}
_SECTORS = 12  # hue sectors of the colour remap
_BANDS = 4  # brightness bands of the grey tint
_GREY = 0.12  # saturation below which a colour counts as grey (and is tinted, not rotated)
#: Texture kinds and their probabilities per surface colour: plain, stripes, value noise.
TEXTURE_P = (0.4, 0.3, 0.3)
#: Blur kinds and their probabilities per frame: none, defocus (Gaussian), motion (linear).
BLUR_P = (0.5, 0.25, 0.25)
ROLLING_SHUTTER_P = 0.5
JPEG_P = 0.7


def check_level(level: float) -> float:
    """``level`` as a float; ``ValueError`` unless ``0 <= level <= MAX_LEVEL``."""
    value = float(level)
    if not (0.0 <= value <= MAX_LEVEL):  # also refuses NaN
        raise ValueError(f"randomise level must be between 0 (off) and {MAX_LEVEL:g}, got {level!r}")
    return value


# ------------------------------------------------------------------------------------------------ colours
def hsv_jitter(rgb: Sequence[float], hue_shift: float, sat_gain: float, val_gain: float) -> RGB:
    """``rgb`` (0..255) with its hue rotated by ``hue_shift`` (fraction of the circle) and its saturation and
    value multiplied by the gains (each capped at 1)."""
    h, s, v = colorsys.rgb_to_hsv(rgb[0] / 255.0, rgb[1] / 255.0, rgb[2] / 255.0)
    r, g, b = colorsys.hsv_to_rgb((h + hue_shift) % 1.0, min(s * sat_gain, 1.0), min(v * val_gain, 1.0))
    return (r * 255.0, g * 255.0, b * 255.0)


def _tint(rgb: Sequence[float], hue: float, sat: float) -> RGB:
    """A grey ``rgb`` given hue ``hue`` at saturation ``sat``, keeping its value."""
    v = max(rgb) / 255.0
    r, g, b = colorsys.hsv_to_rgb(hue % 1.0, min(sat, 1.0), v)
    return (r * 255.0, g * 255.0, b * 255.0)


# ------------------------------------------------------------------------------------------------ textures
@lru_cache(maxsize=4)
def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre columns ``(1, w)`` and rows ``(h, 1)``, float32."""
    return np.arange(w, dtype=np.float32)[None, :] + 0.5, np.arange(h, dtype=np.float32)[:, None] + 0.5


def value_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Smooth noise ``(size, size)`` float32 in ``[-1, 1]``: a ``(cells + 1)``-square Gaussian grid upsampled
    bilinearly and scaled to unit peak."""
    coarse = rng.standard_normal((cells + 1, cells + 1)).astype(np.float32)
    field = np.asarray(Image.fromarray(coarse, mode="F").resize((size, size), Image.Resampling.BILINEAR))
    return field / max(float(np.abs(field).max()), 1e-6)


def texture(
    image: np.ndarray,
    labels: np.ndarray,
    kind: np.ndarray,
    amplitude: np.ndarray,
    period: np.ndarray,
    angle: np.ndarray,
    phase: np.ndarray,
    square: np.ndarray,
    noise: Sequence[np.ndarray],
    noise_pick: np.ndarray,
) -> np.ndarray:
    """Multiply each labelled surface's brightness by ``1 + amplitude * pattern``.

    Parameters
    ----------
    image : ndarray
        float32 RGB ``(H, W, 3)``, 0..255.
    labels : ndarray
        int ``(H, W)``: the surface each pixel shows, ``0 .. n - 1``.
    kind : ndarray
        int ``(n,)`` per surface: 0 plain, 1 stripes, 2 value noise.
    amplitude, period, angle, phase : ndarray
        float ``(n,)``: pattern strength (fraction of brightness), stripe period in pixels, stripe direction and
        phase in radians.
    square : ndarray
        bool ``(n,)``: square-wave stripes (painted bands) instead of sine waves.
    noise : sequence of ndarray
        Noise fields ``(H, W)`` in ``[-1, 1]``; ``noise_pick`` (int ``(n,)``) says which one each surface shows.

    Returns
    -------
    ndarray
        float32 ``(H, W, 3)``; surfaces of kind 0 are unchanged.
    """
    h, w = labels.shape
    u, v = _grid(h, w)
    a = angle[labels]
    wave = np.sin(2.0 * np.pi * (u * np.cos(a) + v * np.sin(a)) / period[labels] + phase[labels])
    wave = np.where(square[labels], np.sign(wave), wave)
    fields_ = np.stack(noise)
    speckle = np.take_along_axis(fields_, noise_pick[labels][None], axis=0)[0]
    k = kind[labels]
    pattern = np.where(k == 1, wave, np.where(k == 2, speckle, 0.0))
    return (image * (1.0 + amplitude[labels] * pattern)[..., None]).astype(np.float32)


# ------------------------------------------------------------------------------------------ camera effects
def _sample(image: np.ndarray, sx: np.ndarray, sy: np.ndarray) -> np.ndarray:
    """Bilinear sample of ``image`` ``(H, W, C)`` at pixel coordinates ``(sx, sy)`` (pixel centres at ``i + 0.5``),
    clamped to the border."""
    h, w = image.shape[:2]
    x = np.clip(sx - 0.5, 0.0, w - 1.0)
    y = np.clip(sy - 0.5, 0.0, h - 1.0)
    x0, y0 = (
        np.minimum(x.astype(np.int64), w - 2 if w > 1 else 0),
        np.minimum(y.astype(np.int64), h - 2 if h > 1 else 0),
    )
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    top = image[y0, x0] * (1 - fx) + image[y0, x1] * fx
    bottom = image[y1, x0] * (1 - fx) + image[y1, x1] * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32)


def warp(
    image: np.ndarray,
    crop_scale: float = 1.0,
    crop_centre: tuple[float, float] = (0.0, 0.0),
    lens_k: float = 0.0,
    skew: float = 0.0,
) -> np.ndarray:
    """Random crop and scale, lens distortion and rolling-shutter skew, in one bilinear resampling.

    Coordinates are normalised to ``[-1, 1]`` across the frame. An output pixel at ``p`` shows the sensor point
    ``crop_centre + crop_scale * p`` (a crop of side ``crop_scale`` scaled back to the full frame); the sensor row
    ``y`` was read out while the camera panned, so it shows the lens image at ``x + skew * y``; the lens images
    the scene point ``q * (1 + lens_k * |q|^2) / (1 + lens_k)`` at ``q`` -- barrel distortion for ``lens_k > 0``
    (the frame's edges squeezed, straight lines bowed outwards), pincushion for ``lens_k < 0``; the midpoints of
    the frame's edges stay put.

    Parameters
    ----------
    image : ndarray
        float32 ``(H, W, 3)``.
    crop_scale : float
        Side of the crop as a fraction of the frame, in ``(0, 1]``.
    crop_centre : (float, float)
        Crop centre ``(x, y)`` in normalised coordinates; the crop must lie inside the frame.
    lens_k : float
        Radial distortion coefficient.
    skew : float
        Horizontal shift per unit of height (normalised units), the rolling shutter.

    Returns
    -------
    ndarray
        float32 ``(H, W, 3)``; the identity (bit for bit) at the defaults.
    """
    if crop_scale == 1.0 and crop_centre == (0.0, 0.0) and lens_k == 0.0 and skew == 0.0:
        return image
    h, w = image.shape[:2]
    u, v = _grid(h, w)
    x = (u / w * 2.0 - 1.0) * crop_scale + crop_centre[0]
    y = (v / h * 2.0 - 1.0) * crop_scale + crop_centre[1]
    x = x + skew * y
    x, y = np.broadcast_arrays(x, y)
    radial = (1.0 + lens_k * (x * x + y * y)) / (1.0 + lens_k)
    x, y = x * radial, y * radial
    return _sample(image, (x + 1.0) * w / 2.0, (y + 1.0) * h / 2.0)


def defocus(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of ``image`` ``(H, W, C)`` float32 with standard deviation ``sigma`` pixels (separable,
    reflected borders); the identity for ``sigma <= 0``."""
    if sigma <= 0:
        return image
    r = max(1, math.ceil(3 * sigma))
    t = np.arange(-r, r + 1, dtype=np.float32)
    k = np.exp(-0.5 * (t / sigma) ** 2)
    k /= k.sum()
    out = np.pad(image, ((r, r), (r, r), (0, 0)), mode="reflect")
    h, w = image.shape[:2]
    out = sum(k[i] * out[:, i : i + w] for i in range(2 * r + 1))
    out = sum(k[i] * out[i : i + h] for i in range(2 * r + 1))
    return np.asarray(out, dtype=np.float32)


def motion_blur(image: np.ndarray, length: float, angle: float) -> np.ndarray:
    """Linear motion blur: the mean of ``image`` shifted along direction ``angle`` (radians, 0 = horizontal) over a
    path ``length`` pixels long (borders clamped); the identity for ``length < 1``."""
    if length < 1:
        return image
    h, w = image.shape[:2]
    u, v = _grid(h, w)
    u, v = np.broadcast_arrays(u, v)
    steps = np.linspace(-length / 2, length / 2, max(2, math.ceil(length) + 1))
    dx, dy = math.cos(angle), math.sin(angle)
    return np.mean([_sample(image, u + t * dx, v + t * dy) for t in steps], axis=0).astype(np.float32)


_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def photometric(
    image: np.ndarray,
    exposure: float = 1.0,
    white_balance: Sequence[float] = (1.0, 1.0, 1.0),
    contrast: float = 1.0,
    saturation: float = 1.0,
    gamma: float = 1.0,
) -> np.ndarray:
    """Exposure gain, per-channel white-balance gains, contrast about the mean luminance, saturation about each
    pixel's luminance, then gamma (``out = in ** gamma`` on ``0..1``).

    ``image`` is float32 ``(H, W, 3)`` on 0..255; returns the same shape clipped to 0..255.
    """
    x = image / 255.0 * exposure * np.asarray(white_balance, dtype=np.float32)
    luma = x @ _LUMA
    mean = float(luma.mean())
    x = mean + (x - mean) * contrast
    luma = (x @ _LUMA)[..., None]
    x = luma + (x - luma) * saturation
    return (255.0 * np.power(np.clip(x, 0.0, 1.0), gamma)).astype(np.float32)


def vignette(image: np.ndarray, strength: float, centre: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Darken ``image`` ``(H, W, 3)`` away from ``centre`` (normalised ``[-1, 1]`` coordinates): gain
    ``1 - strength * r^2 / 2`` at normalised radius ``r`` (at least 0)."""
    h, w = image.shape[:2]
    u, v = _grid(h, w)
    r2 = (u / w * 2.0 - 1.0 - centre[0]) ** 2 + (v / h * 2.0 - 1.0 - centre[1]) ** 2
    return (image * np.clip(1.0 - strength * r2 / 2.0, 0.0, 1.0)[..., None]).astype(np.float32)


def sensor_noise(image: np.ndarray, shot: float, read: float, rng: np.random.Generator) -> np.ndarray:
    """Shot noise (standard deviation ``shot * sqrt(signal)``, signal on 0..1) and read noise (``read``) added per
    pixel and channel, in units of full scale; ``image`` float32 ``(H, W, 3)`` on 0..255."""
    x = image / 255.0
    sd = shot * np.sqrt(np.clip(x, 0.0, 1.0)) + read
    return (255.0 * (x + sd * rng.standard_normal(x.shape, dtype=np.float32))).astype(np.float32)


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """``image`` (uint8 ``(H, W, 3)``) encoded as a JPEG at ``quality`` (1..95) with PIL and decoded again."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("RGB"), dtype=np.uint8)


@dataclass(frozen=True)
class CameraDraws:
    """One frame's camera and photometric draws (see :meth:`Randomiser.camera`); 0 / 1 / None mean "off"."""

    crop_scale: float
    crop_centre: tuple[float, float]
    lens_k: float
    skew: float
    blur: str  # "none" | "defocus" | "motion"
    blur_size: float  # defocus sigma or motion length, output pixels at 48 px (scaled with the frame)
    blur_angle: float
    exposure: float
    white_balance: tuple[float, float, float]
    contrast: float
    saturation: float
    gamma: float
    vignette: float
    vignette_centre: tuple[float, float]
    shot_noise: float
    read_noise: float
    jpeg_quality: int | None


# ------------------------------------------------------------------------------------------------ the randomiser
class Randomiser:
    """A frame's random appearance at ``level``, drawn from ``numpy.random.default_rng([seed, stream])``.

    The palette, sky and camera draws are made here, in a fixed order; the texture draws when the frame is
    composed (their number depends on its surfaces), the noise last.

    Parameters
    ----------
    seed : int
        The frame's seed (non-negative), the one its scene is drawn from.
    level : float
        Strength, ``0 < level <= MAX_LEVEL`` (1: the standard strength).
    """

    def __init__(self, seed: int, level: float):
        self.level = check_level(level)
        if self.level == 0.0:
            raise ValueError("a Randomiser needs level > 0; level 0 renders without one")
        rng = self.rng = np.random.default_rng([int(seed), _STREAM])
        lv = self.level
        # per-sector hue shift (±0.06 of the circle) and saturation / value gains; grey tint per brightness band
        self.sector_hue = rng.uniform(-0.06, 0.06, _SECTORS) * lv
        self.sector_sat = np.exp(rng.uniform(-0.35, 0.35, _SECTORS) * lv)
        self.sector_val = np.exp(rng.uniform(-0.2, 0.2, _SECTORS) * lv)
        self.grey_hue = rng.uniform(0.0, 1.0, _BANDS)
        self.grey_sat = rng.uniform(0.0, 0.12, _BANDS) * min(lv, 1.5)
        self._materials = {
            name: rng.uniform(-1.0, 1.0, (8, 3)) for name in MATERIALS
        }  # (hue, sat, val) draws per palette entry (no region has more than 8)
        self._sky = rng.uniform(-1.0, 1.0, 4)
        self.draws = self._draw_camera(rng, lv)

    @staticmethod
    def _draw_camera(rng: np.random.Generator, lv: float) -> CameraDraws:
        crop = 1.0 - rng.uniform(0.0, 0.2) * lv
        crop = max(crop, 0.5)
        room = 1.0 - crop
        centre = (float(rng.uniform(-room, room)), float(rng.uniform(-room, room)))
        lens_k = float(rng.uniform(-0.2, 0.2)) * lv
        skew_on, skew = rng.random() < ROLLING_SHUTTER_P, float(rng.uniform(-0.12, 0.12)) * lv
        blur = ("none", "defocus", "motion")[int(rng.choice(3, p=BLUR_P))]
        blur_size = float(rng.uniform(0.2, 0.6)) * lv * (1.0 if blur == "defocus" else 3.5)
        blur_angle = float(rng.uniform(0.0, math.pi))
        wb = np.exp(rng.uniform(-0.12, 0.12, 3) * lv)
        jpeg_on, quality = rng.random() < JPEG_P, float(rng.uniform(0.0, 1.0))
        return CameraDraws(
            crop_scale=float(crop),
            crop_centre=centre,
            lens_k=lens_k,
            skew=skew if skew_on else 0.0,
            blur=blur,
            blur_size=blur_size if blur != "none" else 0.0,
            blur_angle=blur_angle,
            exposure=float(math.exp(rng.uniform(-0.45, 0.45) * lv)),
            white_balance=tuple(float(g) for g in wb / wb.mean()),  # type: ignore[arg-type]
            contrast=float(math.exp(rng.uniform(-0.3, 0.3) * lv)),
            saturation=float(math.exp(rng.uniform(-0.5, 0.5) * lv)),
            gamma=float(math.exp(rng.uniform(-0.25, 0.25) * lv)),
            vignette=float(min(rng.uniform(0.0, 0.5) * lv, 0.9)),
            vignette_centre=(float(rng.uniform(-0.3, 0.3)), float(rng.uniform(-0.3, 0.3))),
            shot_noise=float(rng.uniform(0.0, 0.03)) * lv,
            read_noise=float(rng.uniform(0.0, 0.015)) * lv,
            # quality 95 down to 95 - 80 * level (at least 5)
            jpeg_quality=round(95 - quality * min(80.0 * lv, 90.0)) if jpeg_on else None,
        )

    # -- palettes (applied while the frame is built)
    def style(self, style: Style) -> Style:
        """``style`` with each :data:`MATERIALS` colour jittered on its own: hue by up to the material's shift times
        the level, saturation and value by ``exp(±0.35 L)`` and ``exp(±0.25 L)``; greys get a random tint."""
        changes = {}
        for f in fields(style):
            if f.name not in MATERIALS:
                continue
            value = getattr(style, f.name)
            many = isinstance(value[0], tuple)
            colours = value if many else (value,)
            draws = self._materials[f.name]
            out = tuple(self._jitter(c, draws[i % len(draws)], MATERIALS[f.name]) for i, c in enumerate(colours))
            changes[f.name] = out if many else out[0]
        return replace(style, **changes)

    def _jitter(self, rgb: Sequence[float], d: np.ndarray, hue_range: float) -> RGB:
        lv = self.level
        out = hsv_jitter(rgb, d[0] * hue_range * lv, math.exp(d[1] * 0.35 * lv), math.exp(d[2] * 0.25 * lv))
        if colorsys.rgb_to_hsv(*(c / 255.0 for c in rgb))[1] < _GREY:
            out = _tint(out, d[0] * 0.5 + 0.5, abs(d[1]) * 0.15 * min(lv, 1.5))
        return out

    def look(self, look: Look) -> Look:
        """``look`` with the sky (top, horizon and the fog, which matches the horizon) shifted in hue by up to
        ``±0.08 L``, saturation ``exp(±0.4 L)`` and value ``exp(±0.2 L)``, and visibility scaled by ``exp(±0.5 L)``."""
        lv, d = self.level, self._sky
        hue, sat, val = d[0] * 0.08 * lv, math.exp(d[1] * 0.4 * lv), math.exp(d[2] * 0.2 * lv)
        return replace(
            look,
            sky_top=hsv_jitter(look.sky_top, hue, sat, val),
            sky_horizon=hsv_jitter(look.sky_horizon, hue, sat, val),
            fog=hsv_jitter(look.fog, hue, sat, val),
            visibility=look.visibility * math.exp(d[3] * 0.5 * lv),
        )

    def colour(self, rgb: Sequence[float]) -> RGB:
        """The hue-sector remap of a lit surface colour (``Canvas.shade`` calls it before shading).

        Each of 12 hue sectors has its own hue shift, saturation gain and value gain, interpolated linearly between
        sector centres, so one material keeps one colour within the frame while different materials move
        differently; a grey (saturation < 0.12) is tinted with its brightness band's random hue instead.
        """
        h, s, v = colorsys.rgb_to_hsv(rgb[0] / 255.0, rgb[1] / 255.0, rgb[2] / 255.0)
        k = h * _SECTORS
        i = int(k) % _SECTORS
        j, f = (i + 1) % _SECTORS, k - int(k)
        dh = self.sector_hue[i] * (1 - f) + self.sector_hue[j] * f
        sg = self.sector_sat[i] * (1 - f) + self.sector_sat[j] * f
        vg = self.sector_val[i] * (1 - f) + self.sector_val[j] * f
        if s < _GREY:
            band = min(int(v * _BANDS), _BANDS - 1)
            h, s = self.grey_hue[band], s + self.grey_sat[band] * (1.0 - s / _GREY)
        r, g, b = colorsys.hsv_to_rgb((h + dh) % 1.0, min(s * sg, 1.0), min(v * vg, 1.0))
        return (r * 255.0, g * 255.0, b * 255.0)

    # -- textures (applied to the composed canvas)
    def textures(self, image: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """:func:`texture` with random parameters per surface label (``labels.max() + 1`` of them), drawn now.

        ``image`` float32 ``(S, S, 3)`` is the composed canvas, ``labels`` int ``(S, S)``; stripe periods are
        3-14 pixels at a 96-pixel canvas, scaled with it; amplitude up to ``0.2 L`` of the brightness (at most 0.4);
        the sky (label 0) is never striped.
        """
        rng, lv, n, size = self.rng, self.level, int(labels.max()) + 1, labels.shape[0]
        kind = rng.choice(3, size=n, p=TEXTURE_P)
        amplitude = np.minimum(rng.uniform(0.03, 0.2, n) * lv, 0.4).astype(np.float32)
        if kind[0] == 1:  # no stripes across the sky: clouds instead
            kind[0] = 2
        period = (rng.uniform(3.0, 14.0, n) * size / 96.0).astype(np.float32)
        angle = rng.uniform(0.0, math.pi, n).astype(np.float32)
        phase = rng.uniform(0.0, 2 * math.pi, n).astype(np.float32)
        square = rng.random(n) < 0.5
        noise_pick = rng.integers(0, 2, n)
        noise = [value_noise(rng, size, max(2, size // cell)) for cell in (4, 24)]
        return texture(image, labels, kind, amplitude, period, angle, phase, square, noise, noise_pick)

    # -- the camera (applied to the finished frame)
    def camera(self, frame: np.ndarray) -> np.ndarray:
        """The finished frame (uint8 ``(H, W, 3)``) through :attr:`draws`: warp, blur, photometry, vignette,
        noise, JPEG. Returns uint8 ``(H, W, 3)``."""
        d = self.draws
        x = warp(frame.astype(np.float32), d.crop_scale, d.crop_centre, d.lens_k, d.skew)
        px = frame.shape[0] / 48.0  # blur sizes are drawn for 48-pixel frames
        if d.blur == "defocus":
            x = defocus(x, d.blur_size * px)
        elif d.blur == "motion":
            x = motion_blur(x, d.blur_size * px, d.blur_angle)
        x = photometric(x, d.exposure, d.white_balance, d.contrast, d.saturation, d.gamma)
        x = vignette(x, d.vignette, d.vignette_centre)
        x = sensor_noise(x, d.shot_noise, d.read_noise, self.rng)
        out = np.clip(x + 0.5, 0, 255).astype(np.uint8)
        return out if d.jpeg_quality is None else jpeg(out, d.jpeg_quality)
