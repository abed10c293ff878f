"""Procedural dashcam frames: 12 driving-scene classes in 45 road environments (numpy + PIL, no downloads).

A frame is drawn in world units (metres) through a pinhole dashcam whose height, pitch, yaw, roll and
focal length are drawn per image, at twice the output size with PIL ``ImageDraw``, then box-downsampled.
Far-to-near painter's ordering; distance fog per object and per ground pixel; lights, rain, snow, blur,
exposure, gamma and sensor noise are applied on the output grid.

World axes: ``x`` metres to the right of the camera axis *in right-hand traffic*, ``y`` metres above
the road, ``z`` metres ahead. Left-hand regions mirror ``x`` (the ego lane, the oncoming traffic and
the roadside furniture swap sides), so scene code is written once.

Everything random comes from one ``numpy.random.default_rng(seed)``: the same arguments always give
the same bytes. Bump :data:`RENDERER_VERSION` whenever output pixels change (it keys the disk cache).
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from itertools import pairwise
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

__all__ = [
    "ALL_ENVIRONMENTS",
    "REGIONS",
    "RENDERER_VERSION",
    "SCENE_CLASSES",
    "TIMES_OF_DAY",
    "WEATHERS",
    "Environment",
    "cached_pool",
    "render_pool",
    "render_scene",
    "renderer_fingerprint",
]

RENDERER_VERSION = "driving-render-v1"
#: BDD100K's six ``scene`` values (spelled as in its labels) first, then six more road scenes.
SCENE_CLASSES: tuple[str, ...] = (
    "city street",
    "highway",
    "residential",
    "parking lot",
    "tunnel",
    "gas station",
    "intersection",
    "roundabout",
    "bridge",
    "rural road",
    "construction zone",
    "railway crossing",
)
WEATHERS: tuple[str, ...] = ("clear", "overcast", "rainy", "snowy", "foggy")
TIMES_OF_DAY: tuple[str, ...] = ("daytime", "dawn/dusk", "night")
#: Region styles: drive side, road markings, signs, signals, buildings, vegetation and cars.
REGIONS: tuple[str, ...] = ("north_america", "europe", "japan")

_DEFAULT_CACHE = Path(__file__).resolve().parents[2] / "data" / "cache" / "driving"


def _check(kind: str, value: str, valid: Sequence[str]) -> None:
    if value not in valid:
        raise ValueError(f"unknown {kind} {value!r}; choose one of: {', '.join(repr(v) for v in valid)}")


@dataclass(frozen=True)
class Environment:
    """A road environment: weather x time of day x region style; ``name`` is ``"rainy|night|europe"``."""

    weather: str
    time_of_day: str
    region: str

    def __post_init__(self) -> None:
        _check("weather", self.weather, WEATHERS)
        _check("time of day", self.time_of_day, TIMES_OF_DAY)
        _check("region", self.region, REGIONS)

    @property
    def name(self) -> str:
        return f"{self.weather}|{self.time_of_day}|{self.region}"

    @classmethod
    def from_name(cls, name: str) -> Environment:
        """Inverse of :attr:`name`; raises ``ValueError`` naming the valid values."""
        parts = name.split("|")
        if len(parts) != 3:
            raise ValueError(
                f"environment name {name!r} is not 'weather|time_of_day|region', e.g. 'rainy|night|europe'"
            )
        return cls(*parts)


ALL_ENVIRONMENTS: tuple[Environment, ...] = tuple(
    Environment(w, t, r) for w in WEATHERS for t in TIMES_OF_DAY for r in REGIONS
)

RGB = tuple[float, float, float]


# ----------------------------------------------------------------------------------------- region styles
@dataclass(frozen=True)
class _Style:
    mirror: int  # +1 keep right (oncoming traffic on the left), -1 keep left
    centre_line: RGB
    centre_double: float  # probability the centre line is a double solid line
    road: RGB
    sidewalk: RGB
    warning_shape: str  # "diamond" | "triangle"
    warning_face: RGB
    warning_border: RGB
    guide: RGB  # direction-sign panels
    stop_shape: str  # "octagon" | "inv_triangle"
    signal_mount: str  # "mast": heads hang over the road; "pole": at the kerb; "overhead": arm over the road
    signal_housing: RGB
    signal_horizontal: bool
    walls: tuple[RGB, ...]  # city buildings
    house_walls: tuple[RGB, ...]
    roofs: tuple[RGB, ...]
    hip_roof: float  # probability a house roof is hipped rather than gabled
    greens: tuple[RGB, ...]
    conifer: float  # probability a tree is a conifer
    utility_poles: float  # probability of poles and overhead wires along ordinary roads
    car_kinds: tuple[str, ...]  # drawn uniformly, so repeats weight a kind
    car_colours: tuple[RGB, ...]
    stripes: tuple[RGB, RGB]  # barrier arms, construction barriers
    cone: tuple[RGB, RGB]
    crossbuck: tuple[RGB, RGB]  # railway crossing sign: face, border


_WHITE, _SILVER, _BLACK, _GREY = (235, 235, 232), (175, 178, 182), (30, 30, 34), (110, 112, 116)
_STYLES: dict[str, _Style] = {
    "north_america": _Style(
        mirror=1,
        centre_line=(235, 185, 35),
        centre_double=0.7,
        road=(84, 84, 88),
        sidewalk=(170, 167, 158),
        warning_shape="diamond",
        warning_face=(245, 200, 30),
        warning_border=(20, 20, 20),
        guide=(20, 110, 60),
        stop_shape="octagon",
        signal_mount="mast",
        signal_housing=(215, 175, 40),
        signal_horizontal=False,
        walls=((150, 78, 58), (196, 178, 150), (120, 120, 124), (88, 118, 148), (170, 160, 150)),
        house_walls=((232, 230, 222), (170, 195, 215), (214, 200, 165), (235, 225, 170), (150, 155, 150)),
        roofs=((70, 70, 74), (95, 80, 70), (55, 58, 65)),
        hip_roof=0.15,
        greens=((60, 110, 48), (78, 122, 52), (50, 95, 45)),
        conifer=0.25,
        utility_poles=0.45,
        car_kinds=("sedan", "suv", "suv", "pickup", "pickup", "van", "sedan"),
        car_colours=(_WHITE, _SILVER, _BLACK, _GREY, (150, 25, 25), (30, 55, 120), (200, 190, 170), (40, 70, 50)),
        stripes=((215, 30, 30), (240, 240, 240)),
        cone=((245, 105, 20), (245, 245, 245)),
        crossbuck=((240, 240, 240), (20, 20, 20)),
    ),
    "europe": _Style(
        mirror=1,
        centre_line=(235, 235, 235),
        centre_double=0.1,
        road=(92, 92, 97),
        sidewalk=(150, 145, 138),
        warning_shape="triangle",
        warning_face=(245, 245, 245),
        warning_border=(200, 25, 30),
        guide=(25, 65, 160),
        stop_shape="octagon",
        signal_mount="pole",
        signal_housing=(35, 35, 38),
        signal_horizontal=False,
        walls=((222, 205, 170), (200, 158, 100), (226, 222, 210), (215, 175, 165), (160, 158, 150)),
        house_walls=((236, 226, 200), (230, 210, 160), (240, 238, 230), (215, 190, 170), (185, 180, 170)),
        roofs=((170, 78, 50), (150, 65, 45), (120, 60, 50), (80, 80, 88)),
        hip_roof=0.45,
        greens=((70, 115, 55), (60, 100, 50), (90, 125, 60)),
        conifer=0.2,
        utility_poles=0.05,
        car_kinds=("hatch", "hatch", "sedan", "sedan", "suv", "van"),
        car_colours=(_WHITE, _SILVER, _BLACK, _GREY, (130, 20, 30), (25, 45, 100), (60, 90, 130)),
        stripes=((210, 25, 30), (245, 245, 245)),
        cone=((235, 80, 20), (245, 245, 245)),
        crossbuck=((245, 245, 245), (205, 25, 30)),
    ),
    "japan": _Style(
        mirror=-1,
        centre_line=(240, 240, 240),
        centre_double=0.0,
        road=(78, 80, 86),
        sidewalk=(160, 160, 156),
        warning_shape="diamond",
        warning_face=(245, 205, 20),
        warning_border=(20, 20, 20),
        guide=(25, 120, 75),
        stop_shape="inv_triangle",
        signal_mount="overhead",
        signal_horizontal=True,
        signal_housing=(140, 142, 140),
        walls=((200, 200, 196), (226, 224, 214), (150, 150, 148), (205, 190, 165), (175, 180, 185)),
        house_walls=((232, 232, 226), (205, 195, 175), (170, 170, 168), (220, 215, 200)),
        roofs=((60, 66, 82), (45, 52, 75), (85, 85, 90), (110, 60, 45)),
        hip_roof=0.7,
        greens=((40, 90, 50), (55, 100, 50), (35, 80, 45)),
        conifer=0.45,
        utility_poles=0.9,
        car_kinds=("kei", "kei", "kei", "hatch", "sedan", "van"),
        car_colours=(_WHITE, _WHITE, _SILVER, _BLACK, _GREY, (40, 60, 110), (190, 180, 160)),
        stripes=((235, 200, 20), (25, 25, 25)),
        cone=((220, 40, 30), (245, 245, 245)),
        crossbuck=((245, 205, 20), (20, 20, 20)),
    ),
}

# width, length, height in metres
_CAR_DIMS = {
    "sedan": (1.8, 4.6, 1.45),
    "hatch": (1.75, 4.1, 1.5),
    "suv": (1.95, 4.8, 1.78),
    "pickup": (2.0, 5.6, 1.85),
    "van": (1.95, 5.0, 2.1),
    "kei": (1.48, 3.4, 1.75),
    "truck": (2.5, 11.0, 3.7),
    "bus": (2.55, 12.0, 3.2),
}


# -------------------------------------------------------------------------------------------- lighting
@dataclass(frozen=True)
class _Look:
    sky_top: RGB
    sky_horizon: RGB
    ambient: RGB  # multiplies every lit surface colour
    fog: RGB  # colour distance fades towards
    visibility: float  # metres at which 63 % of an object's colour is fog
    contrast: float  # < 1 flattens the frame (overcast, snow, fog)
    lights: float  # 0 daytime .. 1 night: how strongly lamps, headlights, windows glow
    noise: float  # sensor noise std in 8-bit units
    veil: float  # airlight added to every pixel, even close by (fraction of the fog colour)
    wet: bool
    snow: bool


def _mix(a: Sequence[float], b: Sequence[float], t: float) -> RGB:
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t)


def _scale(a: Sequence[float], k: float) -> RGB:
    return (a[0] * k, a[1] * k, a[2] * k)


def _look(env: Environment, rng: np.random.Generator) -> _Look:
    w, t = env.weather, env.time_of_day
    if t == "daytime":
        top, hor, amb, lights, noise = (78, 138, 212), (184, 208, 234), (1.0, 1.0, 1.0), 0.0, 2.0
    elif t == "dawn/dusk":
        top, hor, amb, lights, noise = (68, 72, 130), (242, 158, 96), (0.74, 0.58, 0.5), 0.65, 4.0
    else:
        top, hor, amb, lights, noise = (4, 6, 16), (22, 26, 44), (0.18, 0.19, 0.25), 1.0, 7.0
    if w != "clear":
        grey = {"overcast": 172.0, "rainy": 140.0, "snowy": 205.0, "foggy": 192.0}[w]
        tint = {"daytime": (1.0, 1.0, 1.02), "dawn/dusk": (0.68, 0.58, 0.54), "night": (0.13, 0.12, 0.13)}[t]
        top = (grey * tint[0] * 0.9, grey * tint[1] * 0.9, grey * tint[2] * 0.92)
        hor = (grey * tint[0] * 1.04, grey * tint[1] * 1.04, grey * tint[2] * 1.05)
        dim = {"overcast": 0.8, "rainy": 0.7, "snowy": 0.92, "foggy": 0.85}[w]
        mean = sum(amb) / 3
        amb = _scale(_mix(amb, (mean, mean, mean), 0.5), dim)
    vis = {"clear": 1600.0, "overcast": 700.0, "rainy": 260.0, "snowy": 200.0, "foggy": 45.0}[w]
    contrast = {"clear": 1.0, "overcast": 0.84, "rainy": 0.82, "snowy": 0.74, "foggy": 0.8}[w]
    return _Look(
        sky_top=top,
        sky_horizon=hor,
        ambient=amb,
        fog=hor,
        visibility=vis * float(rng.uniform(0.7, 1.4)),
        contrast=contrast,
        lights=lights,
        noise=noise * float(rng.uniform(0.7, 1.3)),
        veil={"clear": 0.0, "overcast": 0.03, "rainy": 0.08, "snowy": 0.1, "foggy": 0.25}[w]
        * float(rng.uniform(0.7, 1.3)),
        wet=w == "rainy",
        snow=w == "snowy",
    )


# -------------------------------------------------------------------------------------------- drawing
_NEAR = 0.5  # near clipping plane, metres
_FAR = 3000.0
_SNOW = (228, 232, 238)
_GLASS = (45, 52, 62)
_DARK = (28, 28, 30)


def _clip_near(pts: list[tuple[float, float, float]]) -> list[tuple[float, float, float]]:
    """Sutherland-Hodgman clip of a 3-D polygon against the plane ``z = _NEAR``."""
    out = []
    n = len(pts)
    for i in range(n):
        a, b = pts[i], pts[(i + 1) % n]
        ina, inb = a[2] >= _NEAR, b[2] >= _NEAR
        if ina:
            out.append(a)
        if ina != inb:
            t = (_NEAR - a[2]) / (b[2] - a[2])
            out.append((a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, _NEAR))
    return out


def _zsteps(z0: float, z1: float, ratio: float = 1.5) -> list[float]:
    """Break ``[z0, z1]`` into pieces that grow geometrically (for fog shading and road curvature)."""
    zs = [z0]
    z = max(z0, 1.0)
    while z * ratio < z1:
        z *= ratio
        if z > zs[-1]:
            zs.append(z)
    zs.append(z1)
    return zs


class _Scene:
    """One frame being built: dashcam, lighting, and a list of primitives drawn far to near.

    Layer 0 (road surface and markings) is drawn in insertion order and fogged per pixel; layer 1
    (everything standing up) is sorted by ``key`` (metres, drawn largest first) and fogged per
    primitive; layer 2 (things on or inside the windscreen) is drawn last, unfogged.
    """

    def __init__(self, env: Environment, rng: np.random.Generator, size: int):
        self.env, self.rng = env, rng
        self.style = _STYLES[env.region]
        self.look = _look(env, rng)
        self.m = self.style.mirror
        self.S = s = 2 * size
        self.f = s * float(rng.uniform(0.78, 0.98))
        self.cx = s * (0.5 + float(rng.uniform(-0.05, 0.05)))
        self.hy = s * (0.44 + float(rng.uniform(-0.06, 0.05)))
        roll = math.radians(float(rng.uniform(-2.5, 2.5)))
        self.cr, self.sr = math.cos(roll), math.sin(roll)
        self.cam_h = float(rng.uniform(1.2, 1.7))
        self.curve = 0.0  # the world bends sideways by curve * z**2 metres: a road curving away
        self.ground: RGB = (104, 116, 76)  # terrain wherever nothing else is drawn
        self.ground_fog = True
        self.indoor = False  # inside a tunnel: no rain, snow or wet reflections
        self.amb = self.look.ambient
        self.fog = self.look.fog
        self.vis = self.look.visibility
        # dashcams raise their gain in the dark: brighter, noisier frames
        self.exposure = {"daytime": 1.0, "dawn/dusk": 1.15, "night": 1.5}[env.time_of_day]
        self.items: list[tuple] = []
        self.glows: list[tuple[float, float, float, float, RGB]] = []  # u, v, rx, ry (canvas px), rgb
        self.beams: list[tuple[list[tuple[float, float]], float]] = []  # lit ground areas (canvas px), strength
        self.density = 0.5  # traffic density, drawn per frame
        self._rand: list[float] = []
        self._ri = 0

    # ------------------------------------------------------------------ geometry
    def uv(self, x: float, y: float, z: float) -> tuple[float, float]:
        """Camera-space point (already mirrored) -> canvas pixel."""
        a = self.f * (x + self.curve * z * z) / z
        b = self.f * (self.cam_h - y) / z
        return self.cx + a * self.cr - b * self.sr, self.hy + a * self.sr + b * self.cr

    def shade(self, rgb: Sequence[float], z: float | None, emissive: bool = False) -> tuple[int, int, int]:
        """Surface colour under the ambient light, faded into the fog at distance ``z`` metres."""
        if emissive:
            r, g, b = rgb
        else:
            r, g, b = rgb[0] * self.amb[0], rgb[1] * self.amb[1], rgb[2] * self.amb[2]
        if z is not None:
            t = 1.0 - math.exp(-z / self.vis)
            fr, fg, fb = self.fog
            r, g, b = r + (fr - r) * t, g + (fg - g) * t, b + (fb - b) * t
        return int(min(r, 255)), int(min(g, 255)), int(min(b, 255))

    def _add(self, cam: list[tuple[float, float, float]], rgb, key, layer, emissive) -> None:
        zmin = min([p[2] for p in cam])
        if zmin < _NEAR:
            cam = _clip_near(cam)
            if len(cam) < 3:
                return
            zmin = _NEAR
        elif zmin > _FAR:
            return
        f, cx, hy, cr, sr, ch, k = self.f, self.cx, self.hy, self.cr, self.sr, self.cam_h, self.curve
        uv = []
        for x, y, z in cam:  # inlined self.uv: this loop dominates the run time
            a = f * (x + k * z * z) / z
            b = f * (ch - y) / z
            uv.append((cx + a * cr - b * sr, hy + a * sr + b * cr))
        us = [p[0] for p in uv]
        vs = [p[1] for p in uv]
        s = self.S
        if max(us) < 0 or min(us) > s or max(vs) < 0 or min(vs) > s:
            return
        col = self.shade(rgb, zmin if layer == 1 else None, emissive)
        self.items.append((layer, -(zmin if key is None else key), len(self.items), "poly", uv, col))

    def poly(self, pts, rgb, key: float | None = None, layer: int = 1, emissive: bool = False) -> None:
        """A polygon of world points ``(x, y, z)``; ``key`` overrides its painter depth."""
        m = self.m
        self._add([(x * m, y, z) for x, y, z in pts], rgb, key, layer, emissive)

    def ground_quad(self, x0: float, x1: float, z0: float, z1: float, rgb, x0f=None, x1f=None, layer=0) -> None:
        """Road-plane band between ``x0..x1`` at ``z0`` and ``x0f..x1f`` at ``z1``, split where the road bends."""
        x0f = x0 if x0f is None else x0f
        x1f = x1 if x1f is None else x1f
        zs = _zsteps(z0, z1, 1.6) if self.curve else [z0, z1]
        for za, zb in pairwise(zs):
            ta, tb = (za - z0) / (z1 - z0), (zb - z0) / (z1 - z0)
            xa0, xa1 = x0 + (x0f - x0) * ta, x1 + (x1f - x1) * ta
            xb0, xb1 = x0 + (x0f - x0) * tb, x1 + (x1f - x1) * tb
            self.poly([(xa0, 0, za), (xa1, 0, za), (xb1, 0, zb), (xb0, 0, zb)], rgb, layer=layer, key=za)

    def dashes(self, x: float, w: float, z0: float, z1: float, dash: float, gap: float, rgb) -> None:
        z = z0 - float(self.rng.uniform(0, dash + gap))
        while z < z1:
            if z + dash > 1.0:
                self.poly(
                    [
                        (x - w / 2, 0, max(z, 1.0)),
                        (x + w / 2, 0, max(z, 1.0)),
                        (x + w / 2, 0, z + dash),
                        (x - w / 2, 0, z + dash),
                    ],
                    rgb,
                    layer=0,
                )
            z += dash + gap

    def line_mark(self, x: float, w: float, z0: float, z1: float, rgb) -> None:
        self.ground_quad(x - w / 2, x + w / 2, z0, z1, rgb)

    def block(self, x0, x1, y0, y1, z0, z1, rgb, side=None, top=None, emissive=False, key=None) -> None:
        """Axis-aligned box; draws the faces the camera can see (front at ``z0``, one side, maybe the top)."""
        m = self.m
        a, b = (x0 * m, x1 * m) if m > 0 else (x1 * m, x0 * m)
        side = _scale(rgb, 0.72) if side is None else side
        far = z1 if key is None else key + (z1 - z0)
        near = z0 if key is None else key
        if a > 0:
            self._add([(a, y0, z0), (a, y1, z0), (a, y1, z1), (a, y0, z1)], side, far, 1, emissive)
        elif b < 0:
            self._add([(b, y0, z0), (b, y1, z0), (b, y1, z1), (b, y0, z1)], side, far, 1, emissive)
        if y1 < self.cam_h:
            top = _scale(rgb, 1.12) if top is None else top
            self._add([(a, y1, z0), (b, y1, z0), (b, y1, z1), (a, y1, z1)], top, far, 1, emissive)
        elif y0 > self.cam_h:
            self._add([(a, y0, z0), (b, y0, z0), (b, y0, z1), (a, y0, z1)], _scale(rgb, 0.55), far, 1, emissive)
        self._add([(a, y0, z0), (b, y0, z0), (b, y1, z0), (a, y1, z0)], rgb, near, 1, emissive)

    def long_block(self, x0, x1, y0, y1, z0, z1, rgb, side=None) -> None:
        """A box running along the road (wall, barrier, facade): split so distance fog grades along it."""
        zs = _zsteps(z0, z1, 1.7)
        for za, zb in pairwise(zs):
            self.block(x0, x1, y0, y1, za, zb, rgb, side=side)

    def face(self, x0, x1, y0, y1, z, rgb, emissive=False, key=None) -> None:
        """Rectangle facing the camera at depth ``z``."""
        self.poly([(x0, y0, z), (x1, y0, z), (x1, y1, z), (x0, y1, z)], rgb, key=key, emissive=emissive)

    def side_quad(self, x, y0, y1, z0, z1, rgb, emissive=False, key=None) -> None:
        """Rectangle in the plane ``x = const`` (windows, doors, bands on a facade along the road)."""
        self.poly(
            [(x, y0, z0), (x, y1, z0), (x, y1, z1), (x, y0, z1)], rgb, key=z1 if key is None else key, emissive=emissive
        )

    def ellipse(self, x, y, z, rx, ry, rgb, key=None, emissive=False) -> None:
        if z < _NEAR:
            return
        u, v = self.uv(x * self.m, y, z)
        pu, pv = self.f * rx / z, self.f * ry / z
        col = self.shade(rgb, z, emissive)
        self.items.append(
            (1, -(z if key is None else key), len(self.items), "ellipse", (u - pu, v - pv, u + pu, v + pv), col)
        )

    def line(self, p0, p1, width_m, rgb, key=None, layer=1) -> None:
        m = self.m
        (x0, y0, z0), (x1, y1, z1) = p0, p1
        if min(z0, z1) < _NEAR:
            return
        z = min(z0, z1)
        wpx = max(1, round(self.f * width_m / z))
        col = self.shade(rgb, z if layer == 1 else None)
        self.items.append(
            (
                layer,
                -(z if key is None else key),
                len(self.items),
                "line",
                (self.uv(x0 * m, y0, z0), self.uv(x1 * m, y1, z1), wpx),
                col,
            )
        )

    def glow(self, x, y, z, radius_m, rgb, strength=1.0, reflect=True) -> None:
        """Additive halo of a lamp (drawn after downsampling); on a wet road also its streaked reflection."""
        if z < _NEAR:
            return
        t = math.exp(-z / self.vis)
        spread = 1.0 + 1.5 * (1.0 - math.exp(-z / (self.vis * 0.5)))  # haze widens the halo
        u, v = self.uv(x * self.m, y, z)
        r = self.f * radius_m / z * spread
        k = strength * (0.35 + 0.65 * t)
        self.glows.append((u, v, r, r, _scale(rgb, k)))
        if reflect and self.look.wet and not self.indoor and y > 0.2:
            u2, v2 = self.uv(x * self.m, -y, z)
            self.glows.append((u2, v2 - (v2 - v) * 0.25, r * 0.5, abs(v2 - v) * 0.3 + r, _scale(rgb, k * 0.3)))

    def screen_poly(self, uv_frac, rgb, emissive=False) -> None:
        """Layer-2 polygon in fractions of the frame (hood, wiper, pillar)."""
        s = self.S
        col = self.shade(rgb, None, emissive)
        self.items.append((2, 0.0, len(self.items), "poly", [(u * s, v * s) for u, v in uv_frac], col))

    # ------------------------------------------------------------------ helpers
    def _r(self) -> float:
        """Next uniform [0, 1) number from the frame's generator (drawn in blocks: per-call numpy overhead adds up)."""
        if self._ri >= len(self._rand):
            self._rand, self._ri = self.rng.random(256).tolist(), 0
        self._ri += 1
        return self._rand[self._ri - 1]

    def pick(self, options: Sequence):
        return options[int(self._r() * len(options))]

    def jitter(self, rgb: Sequence[float], amount: float = 0.1) -> RGB:
        k = 1.0 + amount * (2.0 * self._r() - 1.0)
        return (rgb[0] * k, rgb[1] * k, rgb[2] * k)

    def u(self, a: float, b: float) -> float:
        return a + (b - a) * self._r()

    def chance(self, p: float) -> bool:
        return self._r() < p

    # ------------------------------------------------------------------ props
    def lit(self, p: float = 1.0) -> bool:
        """Whether a lamp is switched on: always at night, often at dusk, never by day."""
        return self.look.lights > 0 and self.chance(p * self.look.lights)

    def car(self, x: float, z: float, kind: str | None = None, rgb=None, toward: bool = False, parked=False) -> None:
        """A vehicle in its lane, rear face at ``z`` (front face if ``toward``: oncoming)."""
        kind = kind or self.pick(self.style.car_kinds)
        rgb = rgb or self.jitter(self.pick(self.style.car_colours), 0.06)
        w, length, h = _CAR_DIMS[kind]
        x0, x1 = x - w / 2, x + w / 2
        self.block(x0 + 0.15, x1 - 0.15, 0.0, 0.42, z + 0.3, z + length - 0.3, _DARK, key=z + 0.3)
        hb = 1.0
        if kind in ("truck", "bus"):
            body = rgb if kind == "bus" else self.pick(((225, 225, 220), (196, 198, 195), (150, 32, 30), (45, 75, 130)))
            self.block(x0, x1, 0.45, h, z, z + length, body, key=z)
            if kind == "bus" or toward:
                self.face(x0 + 0.15, x1 - 0.15, 1.5 if toward else 1.9, h - 0.3, z - 0.01, _GLASS, key=z - 0.01)
            else:
                self.face(x - 0.02, x + 0.02, 0.6, h - 0.1, z - 0.01, _scale(body, 0.6), key=z - 0.01)
            hb = 0.95
        else:
            hb = 1.05 if kind in ("van", "pickup", "suv", "kei") else 0.92
            self.block(x0, x1, 0.3, hb, z, z + length, rgb, key=z)
            if kind in ("van", "kei"):
                c0, c1 = z + 0.25, z + length - 0.9
            elif kind == "pickup":
                c0, c1 = (z + length * 0.5, z + length * 0.8) if not toward else (z + length * 0.3, z + length * 0.55)
            else:
                c0, c1 = z + length * (0.3 if toward else 0.22), z + length * (0.72 if toward else 0.68)
            self.block(x0 + 0.1, x1 - 0.1, hb, h, c0, c1, rgb, key=c0)
            self.face(x0 + 0.2, x1 - 0.2, hb + 0.06, h - 0.07, c0 - 0.01, _GLASS, key=c0 - 0.01)
        y = hb - 0.25
        on = not parked and (self.look.lights > 0.3 or (self.look.lights > 0 and self.chance(0.7)))
        for s in (-1, 1):
            xc = x + s * (w / 2 - 0.25)
            if toward:
                col = (255, 250, 225) if on else (215, 215, 205)
                self.face(xc - 0.18, xc + 0.18, y, y + 0.14, z - 0.02, col, emissive=on, key=z - 0.02)
                if on:
                    self.glow(xc, y, z, 0.4, (255, 245, 215), 0.9 * self.look.lights + 0.2)
            else:
                col = (255, 45, 35) if on else (150, 25, 25)
                self.face(xc - 0.16, xc + 0.16, y, y + 0.15, z - 0.02, col, emissive=on, key=z - 0.02)
                if on:
                    self.glow(xc, y, z, 0.32, (255, 40, 25), 0.7 * self.look.lights)

    def tree(self, x: float, z: float, h: float | None = None, conifer: bool | None = None) -> None:
        h = self.u(5.0, 11.0) if h is None else h
        conifer = self.chance(self.style.conifer) if conifer is None else conifer
        green = self.jitter(self.pick(self.style.greens), 0.15)
        self.face(x - 0.14 - h * 0.01, x + 0.14 + h * 0.01, 0, h * 0.5, z, (80, 62, 45))
        if conifer:
            if self.look.snow:
                green = _mix(green, _SNOW, 0.4)
            w = h * 0.23
            self.poly([(x - w, h * 0.18, z), (x + w, h * 0.18, z), (x, h, z)], green, key=z - 0.01)
            self.poly(
                [(x - w * 0.7, h * 0.5, z), (x + w * 0.7, h * 0.5, z), (x, h * 1.02, z)],
                _scale(green, 1.15),
                key=z - 0.02,
            )
        else:
            if self.look.snow:
                green = _mix((100, 92, 84), _SNOW, 0.35)
            self.ellipse(x, h * 0.64, z, h * 0.3, h * 0.34, green, key=z - 0.01)
            self.ellipse(x - h * 0.06, h * 0.72, z, h * 0.18, h * 0.2, _scale(green, 1.18), key=z - 0.02)

    def lamp(self, x: float, z: float, h: float = 8.0, arm: float = 1.8) -> None:
        """Street lamp at ``x``; the arm reaches towards the road centre (``x = 0``)."""
        pole = (100, 102, 104)
        d = -1.0 if x > 0 else 1.0
        xa = x + d * arm
        self.face(x - 0.09, x + 0.09, 0, h, z, pole)
        self.line((x, h, z), (xa, h, z), 0.12, pole, key=z - 0.01)
        on = self.lit(0.9)
        head = (255, 205, 130) if on else (80, 80, 82)
        self.face(xa - 0.35, xa + 0.35, h - 0.22, h, z - 0.02, head, emissive=on, key=z - 0.02)
        if on:
            self.glow(xa, h - 0.2, z, 0.8, (255, 190, 110), 0.9 * self.look.lights)
            self.pool(xa, z, 7.0, 0.6)

    def pool(self, x: float, z: float, r: float, strength: float) -> None:
        """A lit patch of road under a lamp or in the ego headlights (applied as extra light)."""
        pts = [(x * self.m + r * math.cos(a), 0.0, z + r * math.sin(a)) for a in np.linspace(0, 2 * math.pi, 10)[:-1]]
        pts = [p for p in pts if p[2] > _NEAR]
        if len(pts) >= 3:
            self.beams.append(([self.uv(*p) for p in pts], strength))

    def sign(self, x, z, y, shape, size, face, border=None, pole=True, aspect=1.0, glyph=None) -> None:
        """Road sign centred at height ``y``; ``size`` is the half-height in metres."""
        if pole:
            self.face(x - 0.05, x + 0.05, 0, y, z + 0.01, (120, 122, 125), key=z + 0.01)
        pts = _SHAPES[shape]
        if border is not None:
            self.poly([(x + px * size * aspect, y + py * size, z) for px, py in pts], border, key=z)
            k = 0.74
        else:
            k = 1.0
        self.poly([(x + px * size * aspect * k, y + py * size * k, z) for px, py in pts], face, key=z - 0.001)
        if glyph is not None:
            g = size * 0.28
            self.face(x - g * aspect, x + g * aspect, y - g, y + g * 0.6, z, glyph, key=z - 0.002)

    def warning_sign(self, x: float, z: float, face=None) -> None:
        st = self.style
        self.sign(x, z, 2.2, st.warning_shape, 0.55, face or st.warning_face, st.warning_border, glyph=_BLACK)

    def signal_head(self, x, y, z, state: str) -> None:
        st = self.style
        horiz = st.signal_horizontal
        hw, hh = (0.6, 0.22) if horiz else (0.22, 0.6)
        self.face(x - hw, x + hw, y - hh, y + hh, z, st.signal_housing)
        on_col = {"red": (255, 40, 30), "amber": (255, 180, 20), "green": (40, 230, 150)}[state]
        for i, s in enumerate(("green", "amber", "red") if not horiz else ("red", "amber", "green")):
            dx, dy = ((i - 1) * 0.38, 0.0) if horiz else (0.0, (i - 1) * 0.38)
            lit = s == state
            col = on_col if lit else (40, 40, 40)
            self.ellipse(x + dx, y + dy, z - 0.01, 0.14, 0.14, col, key=z - 0.01, emissive=lit)
            if lit:
                self.glow(x + dx, y + dy, z, 0.35, on_col, 0.3 + 0.9 * self.look.lights)

    def signal(self, x_kerb: float, z: float, x_lane: float, state: str | None = None) -> None:
        """Traffic signal at the kerb ``x_kerb`` controlling the lane at ``x_lane``, in the region's mounting."""
        state = state or self.pick(("red", "red", "amber", "green", "green"))
        st = self.style
        pole = (70, 72, 74) if st.signal_mount != "overhead" else (150, 152, 150)
        if st.signal_mount == "pole":
            self.face(x_kerb - 0.07, x_kerb + 0.07, 0, 3.4, z + 0.02, pole, key=z + 0.02)
            self.signal_head(x_kerb, 3.6, z, state)
        else:
            self.face(x_kerb - 0.12, x_kerb + 0.12, 0, 6.2, z + 0.02, pole, key=z + 0.02)
            d = 1.0 if x_kerb > x_lane else -1.0
            self.line((x_kerb, 6.0, z + 0.02), (x_lane - 1.5 * d, 6.0, z + 0.02), 0.15, pole, key=z + 0.02)
            yh = 5.3 if st.signal_mount == "mast" else 5.8
            self.signal_head(x_lane, yh, z, state)
            self.signal_head(x_lane + 3.5 * d, yh, z, state)

    def tower(
        self, side: int, xf: float, z0: float, z1: float, h: float, wall, shop: bool = True, hidden: float = 0.0
    ) -> None:
        """City building whose facade runs along the road at ``|x| = xf`` on ``side`` (+1 right, -1 left).

        ``hidden``: height in metres of the nearer building in front of its front face (no windows drawn there).
        """
        depth = self.u(12, 25)
        x0, x1 = (xf, xf + depth) if side > 0 else (-xf - depth, -xf)
        xs = side * xf
        self.block(x0, x1, 0, h, z0, z1, wall)
        floors = min(int((h - 4.0) / 3.2), 14)
        glass = _mix(_GLASS, self.look.sky_horizon, 0.25)
        far = z0 > 100.0  # level of detail: piers, front windows and awnings are sub-pixel there
        n = 1 if far else max(2, min(int((z1 - z0) / 4), 6))
        step = (z1 - z0) / n
        top = 4.2 + floors * 3.2
        if h > 40 and self.chance(0.3):  # curtain wall
            self.side_quad(xs, 4.2, top, z0 + 0.5, z1 - 0.5, glass, key=z1)
        else:  # one glass band per floor, then piers over all floors
            for k in range(floors):
                y = 4.2 + k * 3.2
                self.side_quad(xs, y + 0.8, y + 2.3, z0 + 0.6, z1 - 0.6, glass, key=z1)
        for j in range(1, n):
            zz = z0 + j * step
            self.side_quad(xs, 4.2, top, zz - 0.3, zz + 0.3, wall, key=z1)
        if self.look.lights > 0.3:
            for _ in range(int(self.rng.integers(0, min(floors * n // 3, 10) + 1))):
                y = 4.2 + int(self.rng.integers(floors)) * 3.2
                za = z0 + int(self.rng.integers(n)) * step + 0.5
                self.side_quad(xs, y + 0.85, y + 2.25, za, za + step - 1.0, (255, 214, 150), emissive=True, key=z1)
        for k in range(0 if far else min(floors, 8)):
            y = 4.2 + k * 3.2
            if y + 2.3 < hidden:
                continue
            self.face(x0 + 0.8, x1 - 0.8, y + 0.8, y + 2.3, z0 - 0.01, glass, key=z0 - 0.01)
        if shop:
            lit = self.look.lights > 0.2
            self.side_quad(
                xs, 0.3, 3.2, z0 + 1.0, z1 - 1.0, (255, 225, 170) if lit else _scale(_GLASS, 0.8), emissive=lit, key=z1
            )
            self.side_quad(xs - side * 0.02, 3.3, 4.0, z0 + 0.5, z1 - 0.5, self.jitter(self.pick(_BRIGHT)), key=z1)
            if self.m < 0 and not far and self.chance(0.8):  # vertical signboards sticking out of the facade
                for _ in range(int(self.rng.integers(1, 4))):
                    zs = self.u(z0 + 1, z1 - 1)
                    xo = xs - side * 0.2
                    x_in = xo - side * 0.9
                    ya = self.u(4.5, min(h - 2, 16))
                    col = self.pick(_BRIGHT)
                    self.poly(
                        [(xo, ya, zs), (x_in, ya, zs), (x_in, ya + 4, zs), (xo, ya + 4, zs)],
                        col,
                        key=zs,
                        emissive=self.look.lights > 0.3,
                    )

    def house(self, side: int, xf: float, z0: float, z1: float) -> None:
        """Small house at ``|x| >= xf`` on ``side``, long side along the road, pitched roof."""
        st = self.style
        depth = self.u(7, 11)
        wall_h = self.u(2.8, 3.2) * (2 if self.chance(0.6) else 1)
        roof_h = depth * self.u(0.25, 0.45)
        wall = self.jitter(self.pick(st.house_walls), 0.06)
        roof = _SNOW if self.look.snow else self.jitter(self.pick(st.roofs), 0.1)
        hip = self.chance(st.hip_roof)
        xi, xo, xr = side * xf, side * (xf + depth), side * (xf + depth / 2)
        x0, x1 = min(xi, xo), max(xi, xo)
        self.block(x0, x1, 0, wall_h, z0, z1, wall)
        e = side * 0.5
        top = wall_h + roof_h
        inset = depth / 2 if hip else 0.0
        self.poly(
            [
                (xi - e, wall_h - 0.1, z0 - 0.4),
                (xr, top, z0 - 0.4 + inset),
                (xr, top, z1 + 0.4 - inset),
                (xi - e, wall_h - 0.1, z1 + 0.4),
            ],
            roof,
            key=z1 + 0.4,
        )
        if hip:
            self.poly(
                [(xi - e, wall_h - 0.1, z0 - 0.4), (xo + e, wall_h - 0.1, z0 - 0.4), (xr, top, z0 - 0.4 + inset)],
                _scale(roof, 0.85),
                key=z0 - 0.4,
            )
        else:
            self.poly([(xi, wall_h, z0), (xo, wall_h, z0), (xr, top, z0)], wall, key=z0 - 0.01)
            self.line((xi - e, wall_h - 0.1, z0 - 0.4), (xr, top + 0.1, z0 - 0.4), 0.25, roof, key=z0 - 0.4)
            self.line((xo + e, wall_h - 0.1, z0 - 0.4), (xr, top + 0.1, z0 - 0.4), 0.25, roof, key=z0 - 0.4)
        lit = self.look.lights > 0.3
        n = max(1, int((z1 - z0) / 3.5))
        for k in range(n):
            zc = z0 + (k + 0.5) * (z1 - z0) / n
            for y in (1.0, 4.0) if wall_h > 4 else (1.0,):
                on = lit and self.chance(0.4)
                self.side_quad(
                    xi, y, y + 1.3, zc - 0.6, zc + 0.6, (255, 210, 140) if on else _GLASS, emissive=on, key=z1 + 0.4
                )
        self.face(x0 + depth * 0.3, x1 - depth * 0.3, 1.0, 2.2, z0 - 0.01, _GLASS, key=z0 - 0.02)

    def utility_poles(self, x: float, z0: float, z1: float, spacing: float | None = None) -> None:
        """Wooden / concrete poles with overhead wires along the road at ``x``."""
        spacing = spacing or self.u(28, 40)
        col = (120, 96, 70) if self.m > 0 else (150, 150, 146)
        z = z0 + self.u(0, spacing)
        tops = []
        while z < z1:
            self.face(x - 0.13, x + 0.13, 0, 9.0, z, col)
            self.face(x - 0.9, x + 0.9, 8.2, 8.35, z - 0.01, col, key=z - 0.01)
            tops.append(z)
            z += spacing
        for za, zb in pairwise(tops):
            for dx in (-0.8, 0.0, 0.8):
                self.line((x + dx, 8.4, za), (x + dx, 8.4, zb), 0.025, (40, 40, 42), key=zb)

    def person(self, x: float, z: float) -> None:
        shirt = self.jitter(self.pick((*_BRIGHT, _BLACK, _WHITE, _GREY)), 0.1)
        self.face(x - 0.17, x + 0.17, 0, 0.85, z, (45, 45, 55))
        self.face(x - 0.24, x + 0.24, 0.85, 1.5, z, shirt, key=z - 0.01)
        self.ellipse(x, 1.63, z, 0.12, 0.14, (196, 156, 126), key=z - 0.02)

    def car_side(
        self, x: float, z: float, kind: str | None = None, rgb=None, heading: int = 1, parked: bool = False
    ) -> None:
        """A vehicle crossing the view (seen from the side), centred at ``x``, near side at depth ``z``."""
        kind = kind or self.pick(self.style.car_kinds)
        rgb = rgb or self.jitter(self.pick(self.style.car_colours), 0.06)
        w, length, h = _CAR_DIMS[kind]
        hb = 1.0 if kind in ("van", "pickup", "suv", "kei") else 0.9
        if kind in ("truck", "bus"):
            self.block(x - length / 2, x + length / 2, 0.45, h, z, z + w, rgb)
            self.face(x - length / 2 + 0.6, x + length / 2 - 0.6, 1.9, h - 0.4, z - 0.01, _GLASS, key=z - 0.01)
        else:
            self.block(x - length / 2, x + length / 2, 0.3, hb, z, z + w, rgb)
            c = x + heading * length * 0.05
            half = length * (0.42 if kind in ("van", "kei") else 0.27)
            self.block(c - half, c + half, hb, h, z + 0.1, z + w - 0.1, rgb, key=z + 0.1)
            self.face(c - half + 0.2, c + half - 0.2, hb + 0.07, h - 0.08, z + 0.09, _GLASS, key=z + 0.09)
        for s in (-1, 1):
            self.ellipse(x + s * length * 0.33, 0.33, z - 0.02, 0.33, 0.33, _DARK, key=z - 0.02)
        if not parked and self.look.lights > 0.3:
            self.glow(x + heading * length / 2, 0.7, z + w / 2, 0.5, (255, 245, 215), 0.8)
            self.glow(x - heading * length / 2, 0.8, z + w / 2, 0.3, (255, 40, 25), 0.5)

    def cone(self, x: float, z: float) -> None:
        body, band = self.style.cone
        self.face(x - 0.3, x + 0.3, 0, 0.06, z, _DARK)
        self.poly([(x - 0.22, 0.05, z), (x + 0.22, 0.05, z), (x, 0.95, z)], body, key=z - 0.001)
        self.poly(
            [(x - 0.135, 0.4, z), (x + 0.135, 0.4, z), (x + 0.09, 0.6, z), (x - 0.09, 0.6, z)], band, key=z - 0.002
        )

    def barrel(self, x: float, z: float) -> None:
        body, band = self.style.cone
        self.block(x - 0.3, x + 0.3, 0, 1.0, z, z + 0.6, body)
        for y in (0.25, 0.6):
            self.face(x - 0.3, x + 0.3, y, y + 0.15, z - 0.01, band, key=z - 0.01)
        if self.look.lights > 0.3:
            self.glow(x, 1.05, z, 0.25, (255, 170, 30), 0.7)

    def stripe_board(self, x0: float, x1: float, y0: float, y1: float, z: float, n: int = 6) -> None:
        """Striped barrier board (construction barricade, level-crossing arm) facing the camera."""
        a, b = self.style.stripes
        step = (x1 - x0) / n
        for i in range(n):
            xa = x0 + i * step
            self.poly(
                [(xa, y0, z), (xa + step, y0, z), (xa + step, y1, z), (xa, y1, z)],
                a if i % 2 == 0 else b,
                key=z - 0.001 * i,
            )

    def crossbuck(self, x: float, z: float) -> None:
        """Railway-crossing sign: an X of two boards on a post with a pair of red lamps."""
        face, border = self.style.crossbuck
        post = border if self.m < 0 else (200, 200, 200)
        self.face(x - 0.08, x + 0.08, 0, 4.0, z + 0.02, post, key=z + 0.02)
        if self.m < 0:  # yellow-black banded post
            for y in np.arange(0.3, 2.2, 0.6):
                self.face(x - 0.09, x + 0.09, float(y), float(y) + 0.3, z + 0.01, face, key=z + 0.01)
        for sgn in (-1, 1):
            c, s = math.cos(sgn * math.pi / 4.6), math.sin(sgn * math.pi / 4.6)
            for half_l, half_w, col, dk in ((0.78, 0.14, border, 0.0), (0.74, 0.1, face, 0.001)):
                pts = [
                    (x + c * i * half_l - s * j * half_w, 3.4 + s * i * half_l + c * j * half_w, z)
                    for i, j in ((-1, -1), (1, -1), (1, 1), (-1, 1))
                ]
                self.poly(pts, col, key=z - dk - (0.002 if sgn > 0 else 0))
        self.face(x - 0.55, x + 0.55, 2.35, 2.45, z - 0.003, _DARK, key=z - 0.003)
        flash = self.chance(0.5)
        for i, dx in enumerate((-0.4, 0.4)):
            on = flash and i == int(self.rng.integers(2))
            self.ellipse(
                x + dx, 2.4, z - 0.004, 0.16, 0.16, (255, 40, 30) if on else (70, 20, 20), key=z - 0.004, emissive=on
            )
            if on:
                self.glow(x + dx, 2.4, z, 0.4, (255, 40, 30), 0.5 + 0.6 * self.look.lights)

    def disc(self, x: float, z: float, r: float, rgb, layer: int = 0, n: int = 28) -> None:
        """Circle lying on the road plane (roundabout island, ring)."""
        pts = [(x + r * math.cos(a), 0.0, z + r * math.sin(a)) for a in np.linspace(0, 2 * math.pi, n + 1)[:-1]]
        self.poly(pts, rgb, layer=layer, key=z - r)

    def far_band(self, z: float, y_lo: float, y_hi: float, rgb, n: int = 16, smooth: bool = True) -> None:
        """Silhouette along the horizon at distance ``z``: tree line, hills, skyline."""
        half = z * 1.3
        xs = np.linspace(-half, half, n)
        if smooth:
            ys = y_lo + (y_hi - y_lo) * self.rng.random(n)
            pts = [(float(x), float(y), z) for x, y in zip(xs, ys)]
        else:  # boxy skyline
            pts = []
            for xa, xb in pairwise(xs):
                y = self.u(y_lo, y_hi)
                pts += [(float(xa), y, z), (float(xb), y, z)]
        self.poly([(-half, -5.0, z), *pts, (half, -5.0, z)], rgb, key=z)


_SHAPES: dict[str, list[tuple[float, float]]] = {
    "rect": [(-1, -1), (1, -1), (1, 1), (-1, 1)],
    "diamond": [(0, -1), (1, 0), (0, 1), (-1, 0)],
    "triangle": [(-1, -0.8), (1, -0.8), (0, 0.95)],
    "inv_triangle": [(-1, 0.8), (1, 0.8), (0, -0.95)],
    "octagon": [(math.cos(a), math.sin(a)) for a in np.linspace(math.pi / 8, 2 * math.pi + math.pi / 8, 9)[:-1]],
    "circle": [(math.cos(a), math.sin(a)) for a in np.linspace(0, 2 * math.pi, 17)[:-1]],
}
_BRIGHT: tuple[RGB, ...] = ((200, 40, 40), (40, 90, 180), (240, 190, 40), (40, 150, 80), (230, 120, 30), (150, 60, 150))


# ----------------------------------------------------------------------------------------- road layout
@dataclass(frozen=True)
class _Road:
    """A two-way road: lanes of ``lw`` metres each side of the centre line at ``centre``."""

    centre: float
    lw: float
    n_ego: int
    n_opp: int

    @property
    def right(self) -> float:
        return self.centre + self.n_ego * self.lw

    @property
    def left(self) -> float:
        return self.centre - self.n_opp * self.lw

    def ego_x(self, i: int) -> float:
        return self.centre + (i + 0.5) * self.lw

    def opp_x(self, i: int) -> float:
        return self.centre - (i + 0.5) * self.lw


def _road_rgb(sc: _Scene) -> RGB:
    rgb = sc.jitter(sc.style.road, 0.08)
    if sc.look.wet:
        rgb = _scale(rgb, 0.62)
    if sc.look.snow:
        rgb = _mix(rgb, _SNOW, 0.3)
    return rgb


def _two_way(
    sc: _Scene,
    n_ego: int,
    n_opp: int,
    lw: float,
    z1: float = 500.0,
    shoulder: float = 0.5,
    centre_line: bool = True,
    edges: bool = True,
    ego_lane: int | None = None,
) -> _Road:
    """Road surface and markings; the camera rides in ego lane ``ego_lane`` (0 = next to the centre line)."""
    ego = int(sc.rng.integers(n_ego)) if ego_lane is None else ego_lane
    road = _Road(-(ego + 0.5) * lw + sc.u(-0.3, 0.3), lw, n_ego, n_opp)
    sc.ground_quad(road.left - shoulder, road.right + shoulder, 0.5, z1, _road_rgb(sc))
    if sc.look.snow:  # snow left on the shoulders and between the wheel tracks
        for x in (road.left - shoulder, road.right + shoulder):
            sc.line_mark(x, sc.u(1.0, 2.5), 0.5, z1, _SNOW)
    white = (225, 225, 222)
    paint = sc.look.snow and sc.chance(0.5)  # markings buried under snow
    if centre_line and n_opp and not paint:
        col = sc.style.centre_line
        if sc.chance(sc.style.centre_double):
            sc.line_mark(road.centre - 0.12, 0.11, 0.5, z1, col)
            sc.line_mark(road.centre + 0.12, 0.11, 0.5, z1, col)
        elif sc.chance(0.5):
            sc.line_mark(road.centre, 0.14, 0.5, z1, col)
        else:
            sc.dashes(road.centre, 0.14, 0.5, 250, 3.0, 6.0, col)
    if not paint:
        for k in range(1, n_ego):
            sc.dashes(road.centre + k * lw, 0.13, 0.5, 200, 3.0, 9.0, white)
        for k in range(1, n_opp):
            sc.dashes(road.centre - k * lw, 0.13, 0.5, 200, 3.0, 9.0, white)
        if edges:
            sc.line_mark(road.right - 0.15, 0.13, 0.5, z1, white)
            if n_opp:
                sc.line_mark(road.left + 0.15, 0.13, 0.5, z1, white)
    return road


def _traffic(
    sc: _Scene,
    road: _Road,
    z0: float = 6.0,
    z1: float = 160.0,
    kinds: Sequence[str] | None = None,
    skip_ego: bool = False,
) -> None:
    """Moving cars in the ego-direction lanes (rear view) and oncoming lanes (front view)."""
    lanes = [(road.ego_x(i), False) for i in range(road.n_ego)] + [(road.opp_x(i), True) for i in range(road.n_opp)]
    for x, toward in lanes:
        if skip_ego and not toward and abs(x) < road.lw / 2:
            continue
        z = (z0 + 3 if abs(x) < road.lw / 2 else z0) + sc.u(0, 25)
        while z < z1:
            if sc.chance(sc.density):
                kind = sc.pick(kinds) if kinds else None
                sc.car(x + sc.u(-0.25, 0.25), z, kind, toward=toward)
            z += sc.u(12, 45)


def _nature(sc: _Scene, hills: bool = True, trees: bool = True) -> None:
    """Far tree line and hills on the horizon."""
    if hills and sc.chance(0.7):
        rock = _SNOW if sc.look.snow else sc.jitter((95, 110, 95), 0.15)
        sc.far_band(1500.0, 20.0, sc.u(60, 220), rock, n=int(sc.rng.integers(5, 12)))
    if trees:
        green = _mix(sc.pick(sc.style.greens), _SNOW, 0.35) if sc.look.snow else sc.pick(sc.style.greens)
        sc.far_band(sc.u(250, 450), 4.0, sc.u(10, 22), _scale(green, 0.85), n=int(sc.rng.integers(18, 40)))


def _terrain(sc: _Scene, kind: str = "grass") -> None:
    colours = {"grass": (92, 118, 62), "dry": (150, 140, 96), "urban": (120, 118, 112), "tarmac": (88, 88, 90)}
    rgb = sc.jitter(colours[kind], 0.1)
    if sc.look.snow and kind != "tarmac":
        rgb = _SNOW
    sc.ground = rgb


# ------------------------------------------------------------------------------------------ the scenes
def _highway(sc: _Scene) -> None:
    st = sc.style
    n = int(sc.rng.integers(2, 5))
    lw = 3.7
    sc.curve = sc.u(-1, 1) * 5e-4
    _terrain(sc, sc.pick(("grass", "grass", "dry")))
    ego = int(sc.rng.integers(n))
    inner = -(ego + 0.5) * lw  # median-side edge of the ego carriageway
    outer = inner + n * lw
    sh, med = sc.u(2.5, 3.6), sc.u(1.5, 7.0)
    road_rgb = _road_rgb(sc)
    oi = inner - med
    oo = oi - n * lw
    sc.ground_quad(inner - 1.0, outer + sh, 0.5, 600, road_rgb)
    sc.ground_quad(oo - sh, oi + 1.0, 0.5, 600, road_rgb)
    if med < 4.0:
        sc.ground_quad(oi + 1.0, inner - 1.0, 0.5, 600, _scale(road_rgb, 1.15))
    white = (228, 228, 224)
    sc.line_mark(inner + 0.25, 0.15, 0.5, 600, st.centre_line if st.mirror > 0 and st.centre_double else white)
    sc.line_mark(outer + 0.2, 0.15, 0.5, 600, white)
    sc.line_mark(oi - 0.25, 0.15, 0.5, 600, white)
    sc.line_mark(oo - 0.2, 0.15, 0.5, 600, white)
    for k in range(1, n):
        sc.dashes(inner + k * lw, 0.15, 0.5, 220, 4.0, 10.0, white)
        sc.dashes(oi - k * lw, 0.15, 0.5, 220, 4.0, 10.0, white)
    xm = inner - med / 2
    if sc.chance(0.6):  # concrete median barrier
        sc.long_block(xm - 0.3, xm + 0.3, 0, 0.9, 1.0, 400, (182, 180, 172))
    else:  # steel guard rails
        sc.long_block(xm - 0.15, xm + 0.15, 0.45, 0.8, 1.0, 400, (170, 175, 180))
    xr = outer + sh + 0.4
    sc.long_block(xr, xr + 0.15, 0.45, 0.8, 1.0, 400, (170, 175, 180))
    for z in np.arange(sc.u(1, 4), 60, 4.0):
        sc.face(xr, xr + 0.12, 0, 0.6, float(z), (130, 130, 130))
    if sc.chance(0.5):
        for z in np.arange(sc.u(5, 40), 400, 40.0):
            sc.lamp(xm, float(z), 10.0, 2.2)
    if sc.chance(0.55):  # overhead gantry with direction signs
        zg = sc.u(35, 110)
        for x in (xm, xr + 1.0):
            sc.face(x - 0.25, x + 0.25, 0, 7.2, zg + 0.05, (150, 152, 155), key=zg + 0.05)
        sc.face(xm, xr + 1.0, 6.6, 7.0, zg + 0.04, (140, 142, 145), key=zg + 0.04)
        k = int(sc.rng.integers(1, min(n, 3) + 1))
        for i in range(k):
            xc = outer - (i + 0.5) * (n * lw / k)
            sc.face(xc - 1.6, xc + 1.6, 4.8, 7.4, zg, (240, 240, 240), key=zg)
            sc.face(xc - 1.5, xc + 1.5, 4.9, 7.3, zg - 0.01, st.guide, key=zg - 0.01)
            for j in range(3):
                y = 5.3 + j * 0.6
                sc.face(xc - 1.1, xc + sc.u(0, 1.1), y, y + 0.25, zg - 0.02, (240, 240, 240), key=zg - 0.02)
    elif sc.chance(0.5):  # roadside exit sign
        zs = sc.u(30, 80)
        sc.face(xr + 1.5, xr + 1.6, 0, 2.5, zs + 0.1, (120, 120, 120))
        sc.face(xr + 0.3, xr + 2.8, 2.5, 4.0, zs, st.guide)
    if sc.chance(0.3):  # noise barrier
        sc.long_block(xr + 2.0, xr + 2.3, 0, 4.5, 3.0, 300, sc.jitter((150, 160, 150), 0.1))
    elif sc.chance(0.5):
        for _ in range(int(sc.rng.integers(2, 7))):
            side = sc.pick((-1, 1))
            sc.tree(side * sc.u(xr + 6, xr + 30), sc.u(20, 200))
    if sc.chance(0.25):  # warehouses far off
        for _ in range(int(sc.rng.integers(1, 3))):
            side = sc.pick((-1, 1))
            xf, z0 = sc.u(40, 120), sc.u(120, 350)
            sc.tower(side, xf, z0, z0 + sc.u(30, 80), sc.u(8, 15), sc.jitter((180, 178, 170), 0.1), shop=False)
    _nature(sc)
    kinds = ("truck", "truck", *sc.style.car_kinds)
    road = _Road(inner, lw, n, 0)
    _traffic(sc, road, kinds=kinds)
    _traffic(sc, _Road(oi, lw, 0, n), kinds=kinds)


def _city_street(sc: _Scene) -> None:
    st = sc.style
    n = int(sc.rng.integers(1, 3))
    lw = 3.3
    _terrain(sc, "urban")
    sc.ground = sc.jitter(st.sidewalk, 0.05) if not sc.look.snow else _mix(st.sidewalk, _SNOW, 0.6)
    road = _two_way(sc, n, n, lw, z1=400)
    park = 2.3 if sc.chance(0.5) else 0.0
    kr, kl = road.right + park, road.left - park
    sc.ground_quad(kl, road.left, 0.5, 400, _road_rgb(sc))
    sc.ground_quad(road.right, kr, 0.5, 400, _road_rgb(sc))
    kerb = _scale(st.sidewalk, 1.12)
    sc.line_mark(kl - 0.1, 0.2, 0.5, 400, kerb)
    sc.line_mark(kr + 0.1, 0.2, 0.5, 400, kerb)
    zc = sc.u(12, 45)
    if sc.chance(0.5):  # zebra crossing with a stop line before it
        x = kl + 0.3
        while x < kr - 0.3:
            sc.ground_quad(x, x + 0.5, zc, zc + 3.5, (232, 232, 228))
            x += 1.0
        sc.ground_quad(road.centre, road.right, zc - 1.5, zc - 1.1, (232, 232, 228))
    if sc.chance(0.7):
        sc.signal(kr + 0.6, zc + 4.0, road.ego_x(n - 1))
        sc.signal(kl - 0.6, zc + 4.0 + sc.u(0, 8), road.opp_x(n - 1))
    sw = sc.u(3.0, 5.5)
    tall = 15.0 if st.mirror > 0 and st.stop_shape == "octagon" and st.signal_mount == "pole" else 45.0
    for side in (-1, 1):
        xf = (kr if side > 0 else -kl) + sw
        z = sc.u(-8, 0)
        prev_h = 0.0
        while z < 300:
            length = sc.u(10, 32)
            h = sc.u(10, 20 + tall)
            sc.tower(side, xf + sc.u(-0.5, 0.5), z, z + length, h, sc.jitter(sc.pick(st.walls), 0.08), hidden=prev_h)
            alley = sc.chance(0.15)
            prev_h = 0.0 if alley else h  # an alley exposes the next front face
            z += length + (sc.u(3, 6) if alley else sc.u(0, 0.5))
        xk = (kr if side > 0 else -kl) + 0.6
        z = sc.u(5, 25)
        while z < 200:
            sc.lamp(side * xk, z, 8.0, 1.5)
            z += sc.u(22, 35)
        if sc.chance(0.35):
            for z in np.arange(sc.u(3, 12), 150, sc.u(10, 15)):
                sc.tree(side * (xk + 0.8), float(z), sc.u(5, 8))
        if sc.chance(st.utility_poles * 0.7):
            sc.utility_poles(side * (xk + 0.3), 3.0, 250)
        for _ in range(int(sc.rng.integers(0, 6))):
            sc.person(side * sc.u(xk + 0.5, xf - 0.5), sc.u(5, 80))
        if park:
            z = sc.u(3, 10)
            while z < 120:
                if sc.chance(0.75):
                    sc.car(side * (xk - 0.6 - 1.15 - 0.3), z, toward=side < 0, parked=True)
                z += sc.u(5.5, 8)
    kinds = ("bus", *st.car_kinds) if sc.chance(0.4) else None
    _traffic(sc, road, z1=180, kinds=kinds)


def _tunnel(sc: _Scene) -> None:
    st = sc.style
    lw = 3.6
    two_way = sc.chance(0.4)
    n_ego, n_opp = (1, 1) if two_way else (2, 0)
    ego = 0 if two_way else int(sc.rng.integers(2))
    _terrain(sc, sc.pick(("grass", "dry")))
    sc.curve = sc.u(-1, 1) * 3e-4
    centre = -(ego + 0.5) * lw
    xt = centre if two_way else centre + lw  # tunnel axis
    half = (n_ego + n_opp) * lw / 2 + sc.u(1.0, 1.8)
    wall_h, rise = sc.u(3.8, 4.8), sc.u(1.2, 2.6)
    section = [(-half, 0.0), (-half, wall_h)]
    section += [(-half * math.cos(a), wall_h + rise * math.sin(a)) for a in np.linspace(0.25, math.pi - 0.25, 7)]
    section += [(half, wall_h), (half, 0.0)]
    sodium = sc.chance(0.5)
    light = (1.0, 0.72, 0.42) if sodium else (0.82, 0.86, 0.92)
    level = sc.u(0.45, 0.75)
    amb_in = _scale(light, level)
    lamp_rgb = (255, 170, 70) if sodium else (235, 242, 255)
    road_rgb = sc.jitter(st.road, 0.08)
    tile = sc.jitter((205, 202, 190), 0.06)
    concrete = sc.jitter((125, 122, 116), 0.1)
    sc.look = replace(sc.look, lights=max(sc.look.lights, 0.8))
    _nature(sc)
    portal = sc.chance(0.3)
    if portal:  # approaching the portal from outside: hillside, portal face, dark mouth with lamp rows
        zp = sc.u(25, 60)
        sc.ground_quad(xt - half, xt + half, 0.5, zp, _road_rgb(sc))
        sc.line_mark(centre, 0.14, 0.5, zp, st.centre_line if two_way else (225, 225, 222))
        hill = _SNOW if sc.look.snow else sc.jitter(sc.pick(st.greens), 0.15)
        pts = (
            [(-80.0, -2.0, zp + 2)]
            + [(x, sc.u(10, 30), zp + 2) for x in np.linspace(-80, 80, 9)]
            + [(80.0, -2.0, zp + 2)]
        )
        sc.poly([(xt + x, y, z) for x, y, z in pts], hill, key=zp + 2)
        top = wall_h + rise
        sc.face(xt - half - 2.5, xt + half + 2.5, 0, top + 2.0, zp, sc.jitter((165, 162, 155), 0.08), key=zp + 1)
        mouth = _scale(amb_in, 40)
        sc.poly([(xt + x, y, zp) for x, y in section], mouth, key=zp + 0.9, emissive=True)
        for k, z in enumerate(np.arange(zp + 4, zp + 200, 9.0)):
            y = wall_h + rise * 0.8
            sc.poly(
                [(xt - 0.3, y, z), (xt + 0.3, y, z), (xt + 0.3, y + 0.15, z), (xt - 0.3, y + 0.15, z)],
                lamp_rgb,
                key=zp + 0.8 - k * 1e-3,
                emissive=True,
            )
        sc.face(xt - 2.0, xt + 2.0, top + 0.4, top + 1.4, zp - 0.01, st.guide, key=zp - 0.01)
        road = _Road(centre, lw, n_ego, n_opp)
        _traffic(sc, road, z1=zp - 6)
        return
    z_exit = sc.u(90, 260)
    sc.amb = amb_in
    sc.fog = _scale(amb_in, 60)
    sc.vis = sc.u(150, 400)
    sc.exposure = 1.15
    sc.indoor = True
    zs = _zsteps(0.5, z_exit, 1.25)
    spacing = sc.u(6, 12)
    for i, (za, zb) in enumerate(pairwise(zs)):
        sc.poly([(xt - half, 0, za), (xt + half, 0, za), (xt + half, 0, zb), (xt - half, 0, zb)], road_rgb, key=zb)
        for (xa, ya), (xb, yb) in pairwise(section):
            rgb = tile if max(ya, yb) <= wall_h * 0.6 else concrete
            if ya <= wall_h * 0.6 < yb:
                sc.poly(
                    [(xt + xa, ya, za), (xt + xa, wall_h * 0.6, za), (xt + xa, wall_h * 0.6, zb), (xt + xa, ya, zb)],
                    tile,
                    key=zb,
                )
                ya = wall_h * 0.6
            k = 1.0 + 0.08 * ((i % 2) * 2 - 1)
            sc.poly(
                [(xt + xa, ya, za), (xt + xb, yb, za), (xt + xb, yb, zb), (xt + xa, ya, zb)], _scale(rgb, k), key=zb
            )
    # markings drawn over the tube floor: keyed at their near end
    white = (228, 228, 224)
    z = sc.u(0, 9)
    while z < min(z_exit, 200):
        x = centre if two_way else centre + lw
        sc.poly(
            [(x - 0.07, 0, z), (x + 0.07, 0, z), (x + 0.07, 0, z + 3), (x - 0.07, 0, z + 3)],
            st.centre_line if two_way else white,
            key=z - 0.01,
        )
        z += 3.0 if two_way and st.centre_double else 9.0
    for x in (xt - half + 0.8, xt + half - 0.8):
        sc.poly([(x - 0.07, 0, 1), (x + 0.07, 0, 1), (x + 0.07, 0, z_exit), (x - 0.07, 0, z_exit)], white, key=0.99)
    two_rows = sc.chance(0.5)
    y_top = wall_h + rise * (0.55 if two_rows else 0.97)
    xs = (xt - half * 0.55, xt + half * 0.55) if two_rows else (xt,)
    z = sc.u(2, spacing)
    while z < z_exit:
        for x in xs:
            sc.poly(
                [
                    (x - 0.35, y_top - 0.12, z),
                    (x + 0.35, y_top - 0.12, z),
                    (x + 0.35, y_top, z + 1.2),
                    (x - 0.35, y_top, z + 1.2),
                ],
                lamp_rgb,
                emissive=True,
                key=z - 0.01,
            )
            sc.glow(x, y_top - 0.1, z, 0.35, lamp_rgb, 0.4)
        z += spacing
    for z in np.arange(sc.u(10, 40), z_exit, 50.0):
        sc.side_quad(xt + half, 1.8, 2.4, float(z), float(z) + 0.8, (40, 200, 90), emissive=True, key=float(z) + 0.8)
    if sc.chance(0.5):
        zf = sc.u(15, 60)
        for x in (xt - 1.3, xt + 1.3):
            sc.ellipse(x, wall_h + rise * 0.6 - 0.5, zf, 0.5, 0.5, (70, 70, 72), key=zf - 0.1)
    if sc.look.lights < 0.95:  # daylight blooming through the exit
        u, v = sc.uv(xt * sc.m, wall_h * 0.5, z_exit)
        r = sc.f * half / z_exit
        sc.glows.append((u, v, r * 1.2, r * 0.9, _scale((255, 250, 240), 0.8 * (1 - sc.look.lights))))
    road = _Road(centre, lw, n_ego, n_opp)
    _traffic(sc, road, z1=min(z_exit - 10, 150))


def _residential(sc: _Scene) -> None:
    st = sc.style
    _terrain(sc, "grass")
    sc.curve = sc.u(-1, 1) * 4e-4
    lw = sc.u(2.7, 3.1)
    road = _two_way(sc, 1, 1, lw, z1=300, centre_line=sc.chance(0.35), edges=False)
    lawn = sc.ground
    for side in (-1, 1):
        xk = road.right if side > 0 else -road.left
        if st.mirror > 0 and st.signal_mount == "mast":  # grass verge, then a sidewalk
            sc.ground_quad(side * (xk + 1.6), side * (xk + 3.0), 0.5, 300, _mix(st.sidewalk, lawn, 0.3 * sc.look.snow))
            setback = sc.u(9, 15)
        elif st.mirror > 0:
            sc.ground_quad(side * xk, side * (xk + 2.0), 0.5, 300, st.sidewalk)
            setback = sc.u(4, 8)
        else:
            setback = sc.u(2.5, 4.5)
        z = sc.u(-6, 4)
        while z < 220:
            length = sc.u(8, 13)
            sc.house(side, xk + setback + sc.u(-1, 1), z, z + length)
            gap = sc.u(4, 10)
            if sc.chance(0.7):
                sc.tree(side * sc.u(xk + 2.5, xk + setback + 3), z + length + gap / 2, sc.u(5, 10))
            if st.mirror > 0 and sc.chance(0.4):
                sc.ground_quad(
                    side * xk, side * (xk + setback), z + length + 0.5, z + length + 3.5, _scale(st.sidewalk, 0.9)
                )
            z += length + gap
        if st.mirror < 0 or sc.chance(0.3):  # block wall or hedge along the plots
            col = (150, 150, 145) if st.mirror < 0 else _scale(sc.pick(st.greens), 0.8)
            sc.long_block(side * (xk + 0.6), side * (xk + 0.9), 0, sc.u(1.0, 1.5), 0.5, 220, col)
        if sc.chance(st.utility_poles):
            sc.utility_poles(side * (xk + 0.4), 2.0, 220)
        if sc.look.lights > 0 and sc.chance(0.6):
            for zl in np.arange(sc.u(8, 30), 150, 35.0):
                sc.lamp(side * (xk + 0.5), float(zl), 6.5, 1.0)
        z = sc.u(4, 15)
        while z < 90:
            if sc.chance(0.35):
                sc.car(side * (xk - 1.0), z, toward=side < 0, parked=True)
            z += sc.u(7, 14)
    _nature(sc, hills=True, trees=True)
    sc.density *= 0.35
    _traffic(sc, road, z1=120)


def _parking_lot(sc: _Scene) -> None:
    tarmac = sc.jitter((92, 92, 95), 0.08)
    if sc.look.wet:
        tarmac = _scale(tarmac, 0.65)
    sc.ground = _mix(tarmac, _SNOW, 0.6) if sc.look.snow else tarmac
    paint = (230, 230, 225) if not sc.look.snow else (200, 200, 200)
    z_store = sc.u(45, 110)
    aisle = sc.u(3.0, 3.8)
    bay_w, bay_l = sc.u(2.5, 2.8), 5.2
    for side in (-1, 1):
        for row in range(2):
            x0 = aisle + row * (2 * bay_l + 2 * aisle)
            z_lines, z_cars = (z_store - 6, 50.0) if row == 0 else (min(45.0, z_store - 6), 30.0)
            for xa, facing in ((x0, 1), (x0 + bay_l, -1)):
                z = sc.u(-1, 1) + 1.0
                while z < z_lines:  # painted bay lines; beyond ~50 m they merge into the tarmac anyway
                    sc.ground_quad(side * xa, side * (xa + bay_l), z, z + 0.14, paint)
                    if z < z_cars and sc.chance(0.75 if row == 0 else 0.5):
                        cx = side * (xa + bay_l / 2 + (0.3 if facing > 0 else -0.3))
                        sc.car_side(cx, z + (bay_w - 1.9) / 2, heading=-side * facing, parked=True)
                    z += bay_w
            if row == 0:
                sc.ground_quad(side * (x0 + bay_l - 0.07), side * (x0 + bay_l + 0.07), 1.0, z_store - 6, paint)
    for zl in np.arange(sc.u(6, 25), z_store - 5, sc.u(22, 35)):
        for x in (-(aisle + 2 * bay_l + aisle), aisle + 2 * bay_l + aisle):
            sc.lamp(x + sc.u(-0.2, 0.2), float(zl), 10.0, 0.01)
    # store building across the far end
    wall = sc.jitter(sc.pick(((200, 195, 185), (170, 160, 150), (215, 210, 200), (150, 140, 130))), 0.05)
    xl, xr = -sc.u(40, 90), sc.u(40, 90)
    h = sc.u(6, 10)
    sc.block(xl, xr, 0, h, z_store, z_store + 60, wall)
    lit = sc.look.lights > 0.2
    sc.face(-6, 6, 0, 3.2, z_store - 0.01, (255, 236, 190) if lit else _GLASS, emissive=lit, key=z_store - 0.01)
    brand = sc.pick(_BRIGHT)
    sc.face(-8, 8, h - 2.2, h - 0.6, z_store - 0.02, brand, emissive=lit, key=z_store - 0.02)
    if sc.chance(0.5):
        sc.face(xl + 3, -9, 3.5, h - 1.5, z_store - 0.01, _scale(wall, 0.85), key=z_store - 0.01)
    if sc.chance(sc.density):
        sc.car(sc.u(-0.5, 0.5), sc.u(12, 30), toward=sc.chance(0.5))
    for _ in range(int(sc.rng.integers(0, 4))):
        sc.person(sc.u(-aisle, aisle), sc.u(8, 40))
    _nature(sc, hills=True, trees=True)


def _gas_station(sc: _Scene) -> None:
    st = sc.style
    _terrain(sc, sc.pick(("grass", "urban")))
    brand, band = sc.pick(
        (
            ((200, 30, 30), (245, 245, 245)),
            ((30, 130, 60), (245, 205, 30)),
            ((25, 70, 160), (245, 245, 245)),
            ((240, 130, 20), (245, 245, 245)),
            ((245, 205, 30), (200, 30, 30)),
        )
    )
    enter = sc.chance(0.45)  # driving into the forecourt: the canopy fills the view
    road = _two_way(sc, 1, 1, sc.u(3.1, 3.5), z1=400)
    if enter:
        x0, z0 = sc.u(-9, -4), sc.u(9, 16)
    else:
        x0, z0 = road.right + sc.u(3, 6), sc.u(14, 35)
    width, depth = sc.u(14, 24), sc.u(10, 16)
    apron = (158, 156, 150) if not sc.look.snow else _mix((158, 156, 150), _SNOW, 0.4)
    sc.ground_quad(x0 - 3, x0 + width + 8, max(0.5, z0 - 8), z0 + depth + 8, _road_rgb(sc) if sc.look.wet else apron)
    lit = sc.look.lights > 0.2
    y0, y1 = 4.6, sc.u(5.3, 5.8)
    under = (255, 252, 240) if lit else (205, 205, 200)
    sc.poly(
        [(x0, y0, z0), (x0 + width, y0, z0), (x0 + width, y0, z0 + depth), (x0, y0, z0 + depth)],
        under,
        key=z0 + depth,
        emissive=lit,
    )
    islands = max(2, int(width / 7))
    for i in range(islands):
        xc = x0 + (i + 0.5) * width / islands
        for zp in (z0 + depth * 0.3, z0 + depth * 0.7):
            sc.block(xc - 0.2, xc + 0.2, 0, 4.6, zp, zp + 0.4, (225, 225, 222))
        for zp in (z0 + depth * 0.38, z0 + depth * 0.58):
            sc.block(xc - 0.45, xc + 0.45, 0, 1.8, zp, zp + 0.5, (235, 235, 232))
            sc.face(xc - 0.45, xc + 0.45, 1.5, 1.8, zp - 0.01, brand, key=zp - 0.01)
            sc.face(xc - 0.25, xc + 0.25, 1.0, 1.35, zp - 0.02, _DARK, key=zp - 0.02)
        if sc.chance(0.5):
            sc.car(xc + sc.pick((-1.6, 1.6)), z0 + depth * sc.u(0.2, 0.5))
    sc.block(x0, x0 + width, y0, y1, z0, z0 + depth, brand, key=z0)
    sc.face(x0, x0 + width, y0 + (y1 - y0) * 0.35, y0 + (y1 - y0) * 0.6, z0 - 0.01, band, key=z0 - 0.01)
    if lit:
        for i in range(islands):
            xc = x0 + (i + 0.5) * width / islands
            sc.glow(xc, y0, z0 + depth * 0.5, 2.5, (255, 250, 235), 0.6)
        sc.pool(x0 + width / 2, z0 + depth / 2, width * 0.6, 1.0)
    # tall price sign by the road
    xs = (road.right + 1.8) if not enter else x0 - 2.5
    zs = max(z0 - sc.u(3, 8), 6.0)
    sh = sc.u(7, 11)
    sc.face(xs - 0.15, xs + 0.15, 0, sh - 3, zs + 0.02, (120, 120, 122), key=zs + 0.02)
    sc.face(xs - 1.1, xs + 1.1, sh - 4.2, sh, zs, brand, key=zs)
    sc.ellipse(xs, sh - 0.8, zs - 0.01, 0.6, 0.55, band, key=zs - 0.01)
    led = (255, 70, 40) if st.mirror > 0 else (90, 255, 120)
    for j in range(3):
        y = sh - 2.0 - j * 0.7
        sc.face(xs - 0.95, xs + 0.95, y - 0.28, y + 0.28, zs - 0.01, _DARK, key=zs - 0.01)
        sc.face(
            xs - 0.1,
            xs + 0.85,
            y - 0.18,
            y + 0.18,
            zs - 0.02,
            led if lit else (200, 200, 200),
            emissive=lit,
            key=zs - 0.02,
        )
    # kiosk behind the canopy
    xb = x0 + width + sc.u(3, 8) if not enter else x0 + sc.u(0, 6)
    zb = z0 + depth + sc.u(2, 8)
    sc.block(xb - 6, xb + 6, 0, sc.u(3.5, 4.5), zb, zb + 10, sc.jitter((220, 218, 210), 0.05))
    sc.face(xb - 5, xb + 2, 0.3, 2.8, zb - 0.01, (255, 236, 190) if lit else _GLASS, emissive=lit, key=zb - 0.01)
    sc.face(xb - 6, xb + 6, 3.0, 3.6, zb - 0.02, brand, key=zb - 0.02)
    _nature(sc)
    if not enter:
        _traffic(sc, road, z1=140)


def _intersection(sc: _Scene) -> None:
    st = sc.style
    urban = sc.chance(0.6)
    _terrain(sc, "urban" if urban else "grass")
    n = int(sc.rng.integers(1, 3))
    lw = 3.3
    zi = sc.u(8, 28)
    wc = sc.u(8, 16)
    road = _two_way(sc, n, n, lw, z1=400)
    road_rgb = _road_rgb(sc)
    sc.ground_quad(-400, 400, zi, zi + wc, road_rgb)
    white = (230, 230, 226)
    paint = not (sc.look.snow and sc.chance(0.5))
    if paint:
        sc.ground_quad(road.centre, road.right, zi - 3.0, zi - 2.6, white)  # stop line
        if sc.chance(0.6):  # zebra crossings on both sides of the junction
            for z in (zi - 2.2, zi + wc + 0.6):
                x = road.left + 0.2
                while x < road.right - 0.2:
                    sc.ground_quad(x, x + 0.5, z, z + 3.0, white)
                    x += 1.0
        for x in (-400.0, 60.0):
            sc.ground_quad(x, x + 340, zi + wc / 2 - 0.07, zi + wc / 2 + 0.07, st.centre_line)
        if sc.chance(0.5):  # lane arrow before the stop line
            x = road.ego_x(0)
            z = zi - sc.u(8, 12)
            sc.poly(
                [
                    (x - 0.12, 0, z),
                    (x + 0.12, 0, z),
                    (x + 0.12, 0, z + 3),
                    (x + 0.4, 0, z + 3),
                    (x, 0, z + 4.5),
                    (x - 0.4, 0, z + 3),
                    (x - 0.12, 0, z + 3),
                ],
                white,
                layer=0,
            )
    stop_sign = sc.chance(0.3)
    if stop_sign:
        sc.sign(
            road.right + 1.0, zi - 2.5, 2.2, st.stop_shape, 0.45, (200, 25, 30), (240, 240, 240), glyph=(240, 240, 240)
        )
    else:
        sc.signal(road.right + 0.8, zi - 1.0, road.ego_x(n - 1))
        sc.signal(road.left - 0.8, zi + wc + 1.0, road.ego_x(0) - 3.5)
        if sc.chance(0.5):
            sc.signal(road.right + 0.8, zi + wc + 1.0, road.ego_x(n - 1))
    for side in (-1, 1):
        xk = (road.right if side > 0 else -road.left) + 0.3
        for za, zb in ((-5.0, zi - 1.0), (zi + wc + 1.0, 250.0)):
            sc.ground_quad(side * xk, side * (xk + 3.5), max(za, 0.5), zb, st.sidewalk)
            if urban:
                z = za
                while z < zb - 6:
                    length = min(sc.u(12, 30), zb - z)
                    sc.tower(side, xk + 4.0, z, z + length, sc.u(8, 35), sc.jitter(sc.pick(st.walls), 0.08))
                    z += length + sc.u(0, 1)
            else:
                z = za
                while z < zb - 8:
                    if sc.chance(0.6):
                        sc.house(side, xk + sc.u(6, 10), z, z + sc.u(8, 12))
                    else:
                        sc.tree(side * (xk + sc.u(4, 12)), z + 4)
                    z += sc.u(12, 18)
        sc.lamp(side * xk, zi - sc.u(2, 6), 8.0, 1.6)
        if sc.chance(st.utility_poles * 0.5):
            sc.utility_poles(side * (xk + 0.5), zi + wc + 2, 250)
    for _ in range(int(sc.rng.integers(0, 4)) + sc.chance(0.6)):  # cross traffic
        lane = sc.pick((0.25, 0.75))
        heading = 1 if lane > 0.5 else -1
        sc.car_side(sc.u(-25, 25), zi + wc * lane - 0.9, heading=heading * sc.m)
    _traffic(sc, road, z0=zi + wc + 2, z1=180)
    sc.density *= 0.6  # queues before the junction are short
    _traffic(sc, road, z0=5, z1=zi - 6)
    _nature(sc, hills=not urban, trees=not urban)


def _roundabout(sc: _Scene) -> None:
    st = sc.style
    _terrain(sc, sc.pick(("grass", "urban", "dry")))
    road = _two_way(sc, 1, 1, sc.u(3.2, 3.6), z1=30, edges=False)
    ri = sc.u(6, 14)
    ro = ri + sc.u(7, 9)
    xc = road.centre + sc.u(-2, 2)
    zc = ro + sc.u(3, 12)
    road_rgb = _road_rgb(sc)
    sc.disc(xc, zc, ro, road_rgb)
    for a in (0.0, math.pi / 2, math.pi):  # exits to the sides and straight on
        dx, dz = math.cos(a), math.sin(a)
        px, pz = -dz * 3.5, dx * 3.5
        x1, z1 = xc + dx * 300, zc + dz * 300
        sc.poly(
            [(xc + px, 0, zc + pz), (xc - px, 0, zc - pz), (x1 - px, 0, z1 - pz), (x1 + px, 0, z1 + pz)],
            road_rgb,
            layer=0,
        )
    kerb = (200, 200, 195)
    grass = _SNOW if sc.look.snow else sc.jitter((85, 125, 60), 0.1)
    if sc.chance(0.4):  # cobbled truck apron
        sc.disc(xc, zc, ri + 1.6, (140, 120, 100))
    sc.disc(xc, zc, ri + 0.3, kerb)
    sc.disc(xc, zc, ri, grass)
    # raised dome of the island (front half on the ground up to its profile), hiding the far side of the ring
    mound = sc.u(0.8, 2.5)
    front = [(xc + ri * math.cos(a), 0.0, zc + ri * math.sin(a)) for a in np.linspace(math.pi, 2 * math.pi, 9)]
    profile = [(xc + ri * math.cos(b), mound * math.sin(b) ** 0.5, zc) for b in np.linspace(0, math.pi, 9)]
    sc.poly([*front, *profile], _scale(grass, 0.92), key=zc - ri)
    stripe = st.stripes[0] if sc.chance(0.5) else _DARK
    for k, (p, q) in enumerate(pairwise(front)):  # kerb band along the front of the island
        (xa, _, za), (xb, _, zb) = p, q
        ka, kb = (ri + 0.3) / ri, (ri + 0.3) / ri
        pa = (xc + (xa - xc) * ka, zc + (za - zc) * ka)
        pb = (xc + (xb - xc) * kb, zc + (zb - zc) * kb)
        sc.poly(
            [(pa[0], 0.0, pa[1]), (pb[0], 0.0, pb[1]), (pb[0], 0.3, pb[1]), (pa[0], 0.3, pa[1])],
            (235, 235, 232) if k % 2 else stripe,
            key=min(pa[1], pb[1]) - 0.05,
        )
    zy = zc - ro - 0.8
    white = (232, 232, 228)
    if not sc.look.snow:
        if st.warning_shape == "triangle":  # shark teeth
            x = road.centre
            while x < road.right:
                sc.poly([(x, 0, zy - 0.6), (x + 0.5, 0, zy - 0.6), (x + 0.25, 0, zy + 0.3)], white, layer=0)
                x += 0.75
        else:
            sc.ground_quad(road.centre, road.right, zy - 0.4, zy, white)
    # splitter island between the approach lanes
    island = grass if sc.ground[1] > sc.ground[0] * 1.1 or sc.look.snow else _scale(kerb, 0.75)
    sc.poly([(road.centre - 0.8, 0, zy), (road.centre + 0.8, 0, zy), (road.centre, 0, zy - 6)], island, layer=0)
    sc.sign(road.centre, zy - 0.5, 1.4, "circle", 0.32, (30, 80, 170), (240, 240, 240), glyph=(240, 240, 240))
    # island planting and a chevron board facing the approach
    if sc.chance(0.6):
        sc.tree(xc + sc.u(-2, 2), zc + sc.u(-2, 2), sc.u(5, 9))
    for _ in range(int(sc.rng.integers(1, 5))):
        a = sc.u(0, 2 * math.pi)
        r = sc.u(0, ri * 0.7)
        bush = _mix(sc.pick(st.greens), _SNOW, 0.4 * sc.look.snow)
        sc.ellipse(xc + r * math.cos(a), 0.5, zc + r * math.sin(a), sc.u(0.8, 2.0), sc.u(0.5, 1.0), bush)
    zb = zc - ri + 0.3
    for i in range(4):
        xa = xc - 2.0 + i * 1.0
        sc.face(xa, xa + 1.0, 0.4, 1.3, zb, (240, 240, 240) if i % 2 else (st.stripes[0]), key=zb)
        sc.poly([(xa + 0.2, 0.55, zb), (xa + 0.55, 0.85, zb), (xa + 0.2, 1.15, zb)], _DARK, key=zb - 0.001)
    sign = (
        ("circle", (30, 80, 170), None)
        if st.warning_shape == "triangle" or st.mirror < 0
        else ("diamond", st.warning_face, st.warning_border)
    )
    zs = zy - sc.u(4, 10)
    sc.sign(road.right + 1.2, zs, 2.3, sign[0], 0.5, sign[1], sign[2])
    for k in range(3):  # circular arrows on the sign
        a = k * 2 * math.pi / 3 + 0.5
        cxs, cys = road.right + 1.2 + 0.22 * math.cos(a), 2.3 + 0.22 * math.sin(a)
        sc.ellipse(cxs, cys, zs - 0.01, 0.09, 0.09, (240, 240, 240) if sign[0] == "circle" else _DARK, key=zs - 0.01)
    for _ in range(int(sc.rng.integers(0, 4))):  # traffic on the ring
        a = sc.u(0.15, math.pi - 0.15) * sc.pick((1, -1))
        r = (ri + ro) / 2
        x, z = xc + r * math.cos(a), zc + r * math.sin(a)
        if z > 4:
            sc.car_side(x, z - 0.9, heading=(1 if math.sin(a) < 0 else -1) * sc.m)
    for side in (-1, 1):
        for _ in range(int(sc.rng.integers(1, 4))):
            sc.tree(side * sc.u(ro + 5, ro + 40), zc + sc.u(-ro, 60))
        if sc.chance(0.5):
            z0 = zc + sc.u(-10, 30)
            sc.house(side, abs(xc) + ro + sc.u(6, 15), z0, z0 + sc.u(8, 14))
    for a in (0.4, 2.7):
        sc.lamp(xc + (ro + 1.5) * math.cos(a), zc - (ro + 1.5) * math.sin(a), 8.0, 1.5)
    _nature(sc)


def _bridge(sc: _Scene) -> None:
    st = sc.style
    water = sc.jitter((62, 92, 112), 0.12)
    if sc.look.snow:
        water = _mix(water, (180, 185, 190), 0.3)
    sc.ground = water
    z_end = sc.u(120, 450)
    for _ in range(int(sc.rng.integers(8, 20))):  # ripples reflecting the sky
        z = sc.u(5, z_end)
        x = sc.u(-1.2, 1.2) * z
        w = sc.u(2, 10) * z / 20
        sc.poly(
            [(x - w, -15.0, z), (x + w, -15.0, z), (x + w, -15.0, z + z * 0.03), (x - w, -15.0, z + z * 0.03)],
            _mix(water, sc.look.sky_horizon, 0.4),
            layer=0,
        )
    land = _SNOW if sc.look.snow else sc.jitter((90, 110, 70), 0.15)
    sc.ground_quad(-3000, 3000, z_end, 3000, land)
    n = int(sc.rng.integers(1, 3))
    lw = 3.5
    road = _two_way(sc, n, n, lw, z1=z_end + 100)
    walk = 1.6 if sc.chance(0.6) else 0.4
    xl, xr = road.left - walk, road.right + walk
    sc.ground_quad(xl, road.left, 0.5, z_end, _scale(st.sidewalk, 0.95))
    sc.ground_quad(road.right, xr, 0.5, z_end, _scale(st.sidewalk, 0.95))
    steel = sc.jitter(sc.pick(((70, 110, 90), (150, 150, 155), (160, 60, 45), (70, 90, 130), (225, 225, 220))), 0.06)
    for x in (xl, xr):
        if sc.chance(0.5):  # concrete parapet
            sc.long_block(x - 0.15, x + 0.15, 0, 1.0, 0.5, z_end, (175, 173, 168))
        else:  # steel railing: top rail and balusters
            sc.long_block(x - 0.06, x + 0.06, 0.95, 1.1, 0.5, z_end, steel)
            sc.long_block(x - 0.04, x + 0.04, 0.45, 0.52, 0.5, z_end, steel)
            for z in np.arange(sc.u(0.5, 2), 40, 2.0):
                sc.face(x - 0.04, x + 0.04, 0, 1.0, float(z), steel)
    kind = sc.pick(("truss", "cable", "arch", "girder"))
    if kind == "truss":
        top = sc.u(6, 8)
        for x in (xl - 0.3, xr + 0.3):
            sc.long_block(x - 0.25, x + 0.25, top - 0.5, top, 0.5, z_end * 0.9, steel)
            zs = np.arange(sc.u(1, 6), z_end * 0.9, 7.0)
            for za, zb in pairwise(zs):
                sc.face(x - 0.2, x + 0.2, 0, top, float(za), steel)
                sc.line((x, 0.3, float(za)), (x, top - 0.3, float(zb)), 0.25, steel, key=float(zb))
        for z in np.arange(sc.u(4, 10), z_end * 0.9, 14.0):
            sc.line((xl - 0.3, top - 0.2, float(z)), (xr + 0.3, top - 0.2, float(z)), 0.3, steel)
    elif kind == "cable":
        zt = sc.u(40, min(130.0, z_end * 0.6))
        ht = sc.u(35, 70)
        for x in (xl - 0.5, xr + 0.5):
            sc.block(x - 0.9, x + 0.9, 0, ht, zt, zt + 2.5, (200, 200, 196))
            for k in range(1, 9):
                for d in (-1, 1):
                    zk = zt + d * k * zt / 9
                    if zk > 1:
                        sc.line((x, ht - 2 - k * 0.8, zt + 1.2), (x, 0.8, zk), 0.06, (220, 220, 220), key=max(zk, zt))
        sc.face(xl - 1.0, xr + 1.0, ht - 6, ht - 4, zt - 0.01, (200, 200, 196), key=zt - 0.01)
    elif kind == "arch":
        za, zb = sc.u(5, 20), sc.u(90, min(200.0, z_end))
        rise = sc.u(15, 30)
        zs = np.linspace(za, zb, 13)
        for x in (xl - 0.3, xr + 0.3):
            ys = [rise * math.sin(math.pi * (z - za) / (zb - za)) for z in zs]
            for k in range(12):
                sc.line((x, ys[k], float(zs[k])), (x, ys[k + 1], float(zs[k + 1])), 0.8, steel, key=float(zs[k + 1]))
                if k > 0:
                    sc.line((x, 1.0, float(zs[k])), (x, ys[k], float(zs[k])), 0.08, steel, key=float(zs[k]))
    for z in np.arange(sc.u(10, 30), z_end, 30.0):
        sc.lamp(xr + 0.1, float(z), 8.0, 1.5)
        if sc.chance(0.5):
            sc.lamp(xl - 0.1, float(z) + 15, 8.0, 1.5)
    # far shore
    if sc.chance(0.5):
        z = z_end + 40
        for x in np.arange(-z, z, sc.u(15, 40)):
            if sc.chance(0.6):
                h = sc.u(10, 60)
                sc.face(float(x), float(x) + sc.u(10, 25), 0, h, z + sc.u(0, 80), sc.jitter(sc.pick(st.walls), 0.1))
    else:
        green = _mix(sc.pick(st.greens), _SNOW, 0.35 * sc.look.snow)
        sc.far_band(z_end + 30, 3.0, sc.u(8, 18), green, n=30)
    _nature(sc, trees=False)
    _traffic(sc, road, z1=160)


def _rural_road(sc: _Scene) -> None:
    st = sc.style
    _terrain(sc, sc.pick(("grass", "grass", "dry")))
    sc.curve = sc.u(-1, 1) * 1.2e-3
    road = _two_way(sc, 1, 1, sc.u(2.8, 3.3), z1=500, centre_line=sc.chance(0.6), edges=sc.chance(0.5))
    gravel = _mix((130, 118, 100), _SNOW, 0.8 * sc.look.snow)
    sc.ground_quad(road.left - 1.2, road.left, 0.5, 500, gravel)
    sc.ground_quad(road.right, road.right + 1.2, 0.5, 500, gravel)
    crops = [(105, 145, 60), (205, 185, 95), (125, 98, 72), (150, 160, 80)]
    if st.mirror < 0:
        crops += [_mix((150, 172, 185), sc.look.sky_horizon, 0.5), (90, 150, 70)]  # flooded and green rice paddies
    for side in (-1, 1):
        x0 = (road.right if side > 0 else -road.left) + 1.2
        z = sc.u(-5, 10)
        while z < 500:
            length = sc.u(30, 120)
            col = sc.jitter(sc.pick(crops), 0.08)
            if sc.look.snow:
                col = _SNOW
            x1 = x0 + sc.u(80, 300)
            sc.ground_quad(side * (x0 + 2), side * x1, max(z, 0.5), z + length, col)
            if z < 120 and sc.chance(0.6) and not sc.look.snow:  # furrows run towards the horizon
                furrow = _scale(col, 0.82)
                for x in np.arange(x0 + 3, x0 + 45, sc.u(2.0, 3.5)):
                    sc.ground_quad(side * float(x), side * (float(x) + 0.35), max(z, 0.5), z + length, furrow)
            z += length + sc.u(0, 5)
        if sc.chance(0.6):  # fence: posts and wires
            xf = x0 + 1.2
            zs = np.arange(sc.u(1, 3), 70, 3.0)
            for zp in zs:
                sc.face(side * xf - 0.06, side * xf + 0.06, 0, 1.2, float(zp), (110, 90, 70))
            for y in (0.7, 1.1):
                sc.line((side * xf, y, float(zs[0])), (side * xf, y, 150.0), 0.03, (80, 80, 80), key=150.0)
        for _ in range(int(sc.rng.integers(0, 6))):
            sc.tree(side * sc.u(x0 + 3, x0 + 60), sc.u(10, 250))
    if sc.chance(0.55):  # farm: barn and silo
        side = sc.pick((-1, 1))
        xf, zf = sc.u(25, 70), sc.u(50, 160)
        barn_wall = (150, 45, 35) if st.mirror > 0 and st.centre_double else sc.jitter((120, 100, 80), 0.15)
        saved = st.house_walls
        sc.style = replace(st, house_walls=(barn_wall,))
        sc.house(side, xf, zf, zf + sc.u(12, 20))
        sc.style = replace(sc.style, house_walls=saved)
        if sc.chance(0.6):
            xs = side * (xf + sc.u(12, 18))
            hs = sc.u(10, 18)
            sc.face(xs - 2.5, xs + 2.5, 0, hs, zf + 2, (190, 192, 195))
            sc.ellipse(xs, hs, zf + 1.99, 2.5, 1.2, (160, 162, 165), key=zf + 1.99)
    if sc.chance(st.utility_poles + 0.2):
        sc.utility_poles(road.right + 2.0, 2.0, 300, spacing=sc.u(40, 55))
    if sc.chance(0.4):
        sc.warning_sign(road.right + 1.3, sc.u(15, 50))
    _nature(sc)
    sc.density *= 0.4
    _traffic(sc, road, z1=200)


def _construction_zone(sc: _Scene) -> None:
    st = sc.style
    _terrain(sc, sc.pick(("grass", "dry", "urban")))
    n = int(sc.rng.integers(1, 3))
    road = _two_way(sc, n + 1, n, sc.u(3.3, 3.7), z1=500, ego_lane=int(sc.rng.integers(n)))
    lw = road.lw
    closed = road.ego_x(n)  # outermost ego-direction lane is closed
    za = sc.u(5, 18)
    taper = sc.u(20, 40)
    barrel = st.mirror > 0 and st.signal_mount == "mast"
    # cones (or barrels) taper from the lane line into the closed lane, then line it
    k = 0
    z = za
    while z < 160:
        t = min(1.0, (z - za) / taper)
        x = closed + lw / 2 - t * lw
        if barrel and z < 90:
            sc.barrel(x, z)
        else:
            sc.cone(x, z)
        z += sc.u(4, 7) if t < 1 else sc.u(8, 12)
        k += 1
    patch = _scale(_road_rgb(sc), sc.u(0.8, 1.25))
    sc.ground_quad(closed - lw / 2 + 0.3, closed + lw / 2 + 0.5, za + taper, 400, patch)
    if st.warning_shape == "triangle":  # yellow temporary markings shifting the lanes
        sc.ground_quad(closed - lw / 2 - 0.1, closed - lw / 2 + 0.05, za + taper, 300, (235, 200, 30))
    board_z = za + taper + sc.u(5, 20)
    for i in range(int(sc.rng.integers(2, 5))):
        zb = board_z + i * sc.u(15, 30)
        sc.face(closed - 1.0, closed - 0.9, 0, 1.0, zb + 0.01, _DARK)
        sc.face(closed + 0.9, closed + 1.0, 0, 1.0, zb + 0.01, _DARK)
        sc.stripe_board(closed - 1.2, closed + 1.2, 0.7, 1.05, zb, 6)
        if sc.look.lights > 0.2:
            sc.glow(closed - 1.0, 1.15, zb, 0.25, (255, 170, 30), 0.9)
    if sc.chance(0.5):  # concrete barriers along the work area
        sc.long_block(closed - lw / 2 + 0.2, closed - lw / 2 + 0.7, 0, 0.8, za + taper + 2, 250, (200, 200, 195))
    sign_face = (245, 130, 20) if st.warning_shape == "diamond" and st.mirror > 0 else None
    for zs in (za - sc.u(8, 20), za - sc.u(25, 45)):
        if zs > 4:
            sc.warning_sign(road.right + 1.4, zs, face=sign_face)
    if barrel or sc.chance(0.4):  # arrow board trailer
        zt = za + sc.u(2, 8)
        sc.face(closed - 1.0, closed + 1.0, 1.5, 2.6, zt, _DARK)
        sc.face(closed - 0.05, closed + 0.05, 0, 1.5, zt + 0.02, (90, 90, 90), key=zt + 0.02)
        for i in range(5):
            xa = closed - 0.7 + i * 0.32
            sc.ellipse(
                xa, 2.05 + (0.15 if i == 4 else 0), zt - 0.01, 0.08, 0.08, (255, 190, 40), key=zt - 0.01, emissive=True
            )
        sc.glow(closed, 2.05, zt, 0.9, (255, 180, 40), 0.4 + 0.6 * sc.look.lights)
    if sc.chance(0.6):  # machinery in the closed lane
        zm = za + taper + sc.u(10, 50)
        yellow = (235, 175, 25)
        sc.block(closed - 1.3, closed + 1.3, 0.0, 0.8, zm, zm + 4, _DARK)
        sc.block(closed - 1.3, closed + 1.3, 0.8, 2.2, zm, zm + 4, yellow)
        sc.block(closed - 1.2, closed - 0.1, 2.2, 3.4, zm + 0.4, zm + 2, yellow)
        sc.face(closed - 1.1, closed - 0.2, 2.4, 3.2, zm + 0.39, _GLASS, key=zm + 0.39)
        sc.line((closed + 0.6, 2.2, zm), (closed + 0.8, 4.8, zm - 2.5), 0.35, yellow, key=zm - 2.6)
        sc.line((closed + 0.8, 4.8, zm - 2.5), (closed + 0.5, 0.8, zm - 4.5), 0.3, yellow, key=zm - 4.6)
    if sc.chance(0.5):  # dirt pile
        zp = za + taper + sc.u(5, 60)
        sc.poly([(closed - 1.5, 0, zp), (closed + 1.8, 0, zp), (closed + 0.2, sc.u(1, 2.5), zp + 2)], (130, 100, 70))
    for _ in range(int(sc.rng.integers(0, 4))):
        x, z = closed + sc.u(-1, 1), sc.u(za + taper, 90)
        sc.face(x - 0.17, x + 0.17, 0, 0.85, z, (45, 45, 55))
        sc.face(x - 0.24, x + 0.24, 0.85, 1.5, z, (250, 140, 20) if st.mirror > 0 else (230, 240, 40), key=z - 0.01)
        sc.ellipse(x, 1.66, z, 0.14, 0.14, (245, 245, 245), key=z - 0.02)
    for side in (-1, 1):
        for _ in range(int(sc.rng.integers(0, 5))):
            sc.tree(side * sc.u(abs(road.right) + 8, 60), sc.u(10, 200))
    _nature(sc)
    _traffic(sc, _Road(road.centre, lw, n, n), z1=150)


def _railway_crossing(sc: _Scene) -> None:
    st = sc.style
    _terrain(sc, sc.pick(("grass", "dry", "urban")))
    road = _two_way(sc, 1, 1, sc.u(3.0, 3.5), z1=400)
    zr = sc.u(10, 30)
    tracks = 2 if sc.chance(0.4) else 1
    ballast = _mix((125, 115, 102), _SNOW, 0.6 * sc.look.snow)
    panel = (150, 148, 140)
    rail = (185, 185, 190)
    sc.ground_quad(-400, 400, zr - 2.0, zr + 2.0 + 4.5 * (tracks - 1), ballast)
    for k in range(tracks):
        zt = zr + 4.5 * k
        sc.ground_quad(road.left - 0.5, road.right + 0.5, zt - 1.2, zt + 1.2, panel)
        for d in (-0.72, 0.72):
            sc.poly([(-400, 0, zt + d), (400, 0, zt + d), (400, 0.16, zt + d), (-400, 0.16, zt + d)], rail, key=zt + d)
            sc.ground_quad(-400, 400, zt + d, zt + d + 0.1, _scale(rail, 0.5))
    white = (232, 232, 228)
    if not sc.look.snow:
        sc.ground_quad(road.centre, road.right, zr - 5.0, zr - 4.6, white)
        if st.mirror > 0 and st.signal_mount == "mast":  # painted RXR before the crossing
            x, z = road.ego_x(0), zr - sc.u(15, 22)
            for d in (-1, 1):
                sc.poly(
                    [
                        (x - 1.2 * d - 0.2, 0, z),
                        (x - 1.2 * d + 0.2, 0, z),
                        (x + 1.2 * d + 0.2, 0, z + 5),
                        (x + 1.2 * d - 0.2, 0, z + 5),
                    ],
                    white,
                    layer=0,
                )
    zc = zr - sc.u(3.5, 5.0)
    down = sc.chance(0.4)
    for side, x in ((1, road.right + 1.0), (-1, road.left - 1.0)):
        z = zc if side > 0 else zr + 4.5 * (tracks - 1) + sc.u(3.5, 5)
        sc.crossbuck(x, z)
        if st.warning_shape == "diamond" and st.mirror > 0:
            sc.face(x - 0.4, x + 0.4, 1.6, 1.9, z - 0.002, (240, 240, 240), key=z - 0.002)
        # barrier arm: pivot box by the post, arm down across the lane or raised
        xp = x + 0.5 * side
        sc.block(xp - 0.25, xp + 0.25, 0, 1.1, z + 0.3, z + 0.8, (200, 200, 200))
        arm = road.lw * 1.0
        if down:
            x0, x1 = sorted((xp, xp - side * arm))
            sc.stripe_board(x0, x1, 0.95, 1.12, z + 0.25, 8)
        else:
            a, b = st.stripes
            for i in range(6):
                sc.face(
                    xp - 0.07,
                    xp + 0.07,
                    1.1 + i * 0.6,
                    1.7 + i * 0.6,
                    z + 0.25,
                    a if i % 2 else b,
                    key=z + 0.25 - 0.001 * i,
                )
    if down and sc.chance(0.5):  # a train passing
        body = sc.jitter(sc.pick(((200, 200, 195), (60, 110, 170), (150, 40, 40), (90, 120, 80))), 0.05)
        zt = zr + 4.5 * int(sc.rng.integers(tracks)) - 1.5
        x0 = sc.u(-60, -5)
        sc.block(x0, x0 + sc.u(40, 120), 0.9, 4.0, zt, zt + 3.0, body)
        for xw in np.arange(x0 + 1, x0 + 40, 2.5):
            sc.face(float(xw), float(xw) + 1.4, 2.2, 3.1, zt - 0.01, _GLASS, key=zt - 0.01)
    if (st.mirror < 0 or st.warning_shape == "triangle") and sc.chance(0.6):  # catenary
        for x in (-8.0, 8.0):
            sc.face(x - 0.12, x + 0.12, 0, 6.5, zr + 2.5, (120, 122, 125))
        sc.line((-200, 6.0, zr), (200, 6.0, zr), 0.03, (60, 60, 60))
        sc.line((-8, 6.4, zr + 2.5), (8, 6.4, zr + 2.5), 0.12, (120, 122, 125))
    if sc.chance(0.5):
        sc.sign(
            road.right + 1.3,
            zc - sc.u(20, 40),
            2.2,
            st.warning_shape,
            0.5,
            st.warning_face,
            st.warning_border,
            glyph=_DARK,
        )
    for side in (-1, 1):
        for _ in range(int(sc.rng.integers(0, 5))):
            sc.tree(side * sc.u(abs(road.right) + 6, 60), sc.u(5, 200))
        if sc.chance(0.4):
            z0 = sc.u(zr + 10, 80)
            sc.house(side, sc.u(10, 25), z0, z0 + sc.u(8, 12))
    if sc.chance(st.utility_poles):
        sc.utility_poles(road.right + 1.8, 2.0, 250)
    _nature(sc)
    sc.density *= 0.5
    _traffic(sc, road, z0=zr + 6, z1=150)
    _traffic(sc, road, z0=4, z1=zc - 3, skip_ego=True)


_SCENES: dict[str, Callable[[_Scene], None]] = {
    "city street": _city_street,
    "highway": _highway,
    "tunnel": _tunnel,
    "residential": _residential,
    "parking lot": _parking_lot,
    "gas station": _gas_station,
    "intersection": _intersection,
    "roundabout": _roundabout,
    "bridge": _bridge,
    "rural road": _rural_road,
    "construction zone": _construction_zone,
    "railway crossing": _railway_crossing,
}


# ------------------------------------------------------------------------------------------- finishing
def _windscreen(sc: _Scene) -> None:
    """Per-image occluders: ego hood, wiper blade, A-pillar, a pole passing close."""
    if sc.chance(0.6):
        h = sc.u(0.03, 0.13)
        col = sc.jitter(sc.pick(sc.style.car_colours), 0.05)
        pts = [(-0.05, 1.02)] + [(u, 1.0 - h * (1 - ((u - 0.5) / 0.7) ** 2)) for u in np.linspace(-0.05, 1.05, 9)]
        sc.screen_poly([*pts, (1.05, 1.02)], col)
        sc.screen_poly(
            [(u, v + 0.004) for u, v in pts[2:-2]] + [(u, v + 0.02) for u, v in pts[-3:1:-1]],
            _mix(col, sc.look.sky_horizon, 0.5),
        )
    wet = sc.look.wet or sc.look.snow
    if sc.chance(0.45 if wet else 0.1):
        u0, a = sc.u(0.1, 0.6), sc.u(0.35, 0.75)
        sc.screen_poly(
            [(u0, 1.02), (u0 + 0.02, 1.02), (u0 + a + 0.01, 1.02 - a * 0.9), (u0 + a, 1.02 - a * 0.9)],
            (20, 20, 22),
            emissive=True,
        )
    if sc.chance(0.1):
        left = sc.chance(0.5)
        w = sc.u(0.04, 0.1)
        pts = [(0, 0), (w, 0), (w * 0.3, 1), (0, 1)] if left else [(1, 0), (1 - w, 0), (1 - w * 0.3, 1), (1, 1)]
        sc.screen_poly(pts, (25, 25, 28), emissive=True)
    if sc.chance(0.08):
        u0, w = sc.u(0.0, 0.9), sc.u(0.03, 0.07)
        sc.screen_poly([(u0, -0.02), (u0 + w, -0.02), (u0 + w * 1.1, 1.02), (u0 - w * 0.1, 1.02)], (90, 92, 95))


@lru_cache(maxsize=8)
def _grid(n: int) -> tuple[np.ndarray, np.ndarray]:
    c = np.arange(n, dtype=np.float32) + 0.5
    return c[None, :], c[:, None]


@lru_cache(maxsize=8)
def _vignette(n: int) -> np.ndarray:
    u, v = _grid(n)
    r2 = ((u - n / 2) ** 2 + (v - n / 2) ** 2) / (n * n / 2)
    return (1.0 - 0.35 * r2)[..., None].astype(np.float32)


def _draw(draw: ImageDraw.ImageDraw, items: list[tuple]) -> None:
    for _, _, _, kind, geo, col in items:
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


def _compose(sc: _Scene) -> Image.Image:
    """Sky and terrain, then the three layers; ground fog and lit patches applied per pixel.

    The smooth fields (sky gradient, fog along the ground, light pools) are computed on a half- or
    quarter-resolution grid and upsampled bilinearly.
    """
    s, lk = sc.S, sc.look
    h = s // 2
    gu, gv = _grid(h)
    # pixels below the (rolled) horizon, in canvas units, at the half-resolution sample points
    below = (gv * 2.0 - sc.hy) * sc.cr - (gu * 2.0 - sc.cx) * sc.sr
    t = np.sqrt(np.clip(-below / (0.6 * s), 0.0, 1.0))
    hor, top = np.asarray(lk.sky_horizon, np.float32), np.asarray(lk.sky_top, np.float32)
    sky = hor + (top - hor) * t[..., None]
    ground = np.asarray(sc.shade(sc.ground, None), np.float32)
    img = np.where((below < 0)[..., None], sky, ground)
    canvas = Image.fromarray(img.astype(np.uint8)).resize((s, s), Image.Resampling.BILINEAR)
    sc.items.sort(key=lambda it: it[:3])
    split1 = next((i for i, it in enumerate(sc.items) if it[0] >= 1), len(sc.items))
    _draw(ImageDraw.Draw(canvas), sc.items[:split1])
    if sc.ground_fog or sc.beams:
        arr = np.asarray(canvas, dtype=np.float32)
        if sc.beams:
            q = s // 4
            mask = Image.new("L", (q, q))
            md = ImageDraw.Draw(mask)
            for pts, strength in sc.beams:
                md.polygon([(u / 4, v / 4) for u, v in pts], fill=int(255 * min(strength, 1.0)))
            mask = mask.filter(ImageFilter.BoxBlur(1)).resize((s, s), Image.Resampling.BILINEAR)
            gain = (0.7 / max(sum(sc.amb) / 3, 0.05) - 1.0) * lk.lights / 255.0
            arr = arr * (1.0 + gain * np.asarray(mask, dtype=np.float32)[..., None])
        if sc.ground_fog:
            z = sc.f * sc.cam_h / np.maximum(below, 1e-3)
            tf = np.where(below > 0, 1.0 - np.exp(-z / sc.vis), 0.0).astype(np.float32)
            tf = np.asarray(Image.fromarray(tf, mode="F").resize((s, s), Image.Resampling.BILINEAR))[..., None]
            arr = arr + (np.asarray(sc.fog, np.float32) - arr) * tf
        canvas = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    _draw(ImageDraw.Draw(canvas), sc.items[split1:])
    return canvas


def _finish(sc: _Scene, canvas: Image.Image, size: int) -> np.ndarray:
    """Downsample, then lights, rain / snow, blur, contrast, exposure, gamma, vignette and sensor noise."""
    rng, lk = sc.rng, sc.look
    small = canvas.reduce(2)
    blur = sc.u(0.0, 0.6) + (0.3 if lk.wet or sc.env.weather == "foggy" else 0.0)
    if blur > 0.25:
        small = small.filter(ImageFilter.GaussianBlur(blur))
    arr = np.asarray(small, dtype=np.float32).copy()
    for u, v, rx, ry, rgb in sc.glows:
        _splat(arr, u / 2, v / 2, rx / 2, ry / 2, rgb)
    s = sc.S
    if (lk.wet or lk.snow) and not sc.indoor:
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
        arr = arr * (1.0 - a) + col * a
    if lk.veil and not sc.indoor:
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


# ------------------------------------------------------------------------------------------ public API
def render_scene(scene: str, env: Environment, seed: int, size: int = 84) -> np.ndarray:
    """One dashcam frame of ``scene`` in ``env``: uint8 RGB ``(size, size, 3)``, a pure function of its arguments."""
    _check("scene class", scene, SCENE_CLASSES)
    if not isinstance(env, Environment):
        raise TypeError(f"env must be an Environment (e.g. Environment.from_name('rainy|night|europe')), got {env!r}")
    if size < 16:
        raise ValueError(f"size must be at least 16 pixels, got {size}")
    rng = np.random.default_rng(seed)
    sc = _Scene(env, rng, size)
    sc.density = float(rng.uniform(0.0, 1.0)) ** 0.8  # traffic density nuisance
    _SCENES[scene](sc)
    if (sc.look.lights > 0 and scene != "tunnel") or sc.look.lights > 0.5:
        for z, r in ((8.0, 4.5), (18.0, 7.0)):  # ego headlights on the road ahead
            sc.pool(0.0, z, r, 0.8)
    if sc.env.time_of_day == "dawn/dusk" and sc.env.weather == "clear" and sc.chance(0.6) and scene != "tunnel":
        u, v = sc.uv(sc.u(-1, 1) * 400, sc.u(5, 40), 1000.0)
        sc.glows.append((u, v, sc.S * 0.12, sc.S * 0.1, (255, 190, 110)))
        sc.glows.append((u, v, sc.S * 0.02, sc.S * 0.02, (255, 250, 220)))
    _windscreen(sc)
    return _finish(sc, _compose(sc), size)


def _image_seed(seed: int, env: Environment, scene: str, index: int) -> int:
    digest = hashlib.blake2b(f"{seed}|{env.name}|{scene}|{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def render_pool(
    env: Environment, n_per_class: int, size: int = 84, seed: int = 0, classes: Sequence[str] = SCENE_CLASSES
) -> np.ndarray:
    """Frames of every class in ``env``: uint8 ``(len(classes), n_per_class, size, size, 3)``.

    Image ``j`` of class ``c`` is rendered with a seed derived from ``(seed, env.name, c, j)``, so a
    class's frames do not depend on which other classes or how many frames are asked for.
    """
    for c in classes:
        _check("scene class", c, SCENE_CLASSES)
    if n_per_class < 1:
        raise ValueError(f"n_per_class must be at least 1, got {n_per_class}")
    out = np.empty((len(classes), n_per_class, size, size, 3), dtype=np.uint8)
    for i, c in enumerate(classes):
        for j in range(n_per_class):
            out[i, j] = render_scene(c, env, _image_seed(seed, env, c, j), size)
    return out


def _cache_path(cache_dir: Path, env: Environment, n_per_class: int, size: int, seed: int) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", env.name)
    return cache_dir / f"{RENDERER_VERSION}_{safe}_n{n_per_class}_s{size}_seed{seed}.npy"


def cached_pool(
    env: Environment, n_per_class: int, size: int = 84, seed: int = 0, cache_dir: Path | None = None
) -> np.ndarray:
    """:func:`render_pool` of all :data:`SCENE_CLASSES`, stored once as ``.npy`` under ``cache_dir``.

    The default ``cache_dir`` is ``<repo>/data/cache/driving`` (git-ignored). Files are keyed by
    :data:`RENDERER_VERSION`, environment, ``n_per_class``, ``size`` and ``seed`` and written atomically
    (temporary file + ``os.replace``); an unreadable or wrong-shaped file is re-rendered and replaced
    (with a warning).
    """
    cache_dir = _DEFAULT_CACHE if cache_dir is None else Path(cache_dir)
    path = _cache_path(cache_dir, env, n_per_class, size, seed)
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
    arr = render_pool(env, n_per_class, size, seed)
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


@lru_cache(maxsize=1)
def renderer_fingerprint() -> str:
    """First 16 hex digits of the SHA-256 of :data:`RENDERER_VERSION` and a few fixed rendered frames."""
    h = hashlib.sha256(RENDERER_VERSION.encode())
    for i, (scene, env) in enumerate(zip(SCENE_CLASSES, ALL_ENVIRONMENTS[::4])):
        h.update(render_scene(scene, env, seed=1000 + i, size=32).tobytes())
    return h.hexdigest()[:16]
