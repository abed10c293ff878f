"""The dashcam and the display list: world-space primitives projected to canvas pixels, shaded and fogged.

World axes: ``x`` metres to the right of the camera axis *in right-hand traffic*, ``y`` metres above the
road, ``z`` metres ahead. Every primitive multiplies ``x`` by the region's ``mirror`` (+1 keep right,
-1 keep left), so scene code is written once for both drive sides. The canvas is square, ``2 * size``
pixels on a side (drawn at twice the output size, then box-downsampled); ``u`` is the pixel column and
``v`` the pixel row.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import NamedTuple

import numpy as np

from metasuite.domains.driving.render.styles import RGB, Look, scale

NEAR = 0.5  # near clipping plane, metres
FAR = 3000.0  # primitives wholly beyond this are dropped, metres

Point = tuple[float, float, float]  # world or camera-space (x, y, z), metres
Pixel = tuple[float, float]  # canvas (u, v)


def clip_near(pts: list[Point]) -> list[Point]:
    """Sutherland-Hodgman clip of a 3-D polygon against the plane ``z = NEAR``."""
    out = []
    n = len(pts)
    for i in range(n):
        a, b = pts[i], pts[(i + 1) % n]
        ina, inb = a[2] >= NEAR, b[2] >= NEAR
        if ina:
            out.append(a)
        if ina != inb:
            t = (NEAR - a[2]) / (b[2] - a[2])
            out.append((a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, NEAR))
    return out


def zsteps(z0: float, z1: float, ratio: float = 1.5) -> list[float]:
    """Break ``[z0, z1]`` into pieces that grow geometrically (for fog shading and road curvature)."""
    zs = [z0]
    z = max(z0, 1.0)
    while z * ratio < z1:
        z *= ratio
        if z > zs[-1]:
            zs.append(z)
    zs.append(z1)
    return zs


@dataclass
class Camera:
    """A pinhole dashcam: focal length and principal point in canvas pixels, height in metres, a roll.

    ``curve`` bends the world sideways by ``curve * z**2`` metres (a road curving away); scenes set it.
    """

    size: int  # canvas side, pixels (twice the output size)
    f: float  # focal length, canvas pixels
    cx: float  # principal point column, canvas pixels
    horizon: float  # principal point row (the horizon at zero roll), canvas pixels
    cos_roll: float
    sin_roll: float
    height: float  # above the road, metres
    curve: float = 0.0

    @classmethod
    def from_rng(cls, rng: np.random.Generator, size: int) -> Camera:
        """A camera for ``size``-pixel output with focal length, principal point, roll and height drawn from ``rng``."""
        s = 2 * size
        f = s * float(rng.uniform(0.78, 0.98))
        cx = s * (0.5 + float(rng.uniform(-0.05, 0.05)))
        horizon = s * (0.44 + float(rng.uniform(-0.06, 0.05)))
        roll = math.radians(float(rng.uniform(-2.5, 2.5)))
        return cls(s, f, cx, horizon, math.cos(roll), math.sin(roll), float(rng.uniform(1.2, 1.7)))

    def uv(self, x: float, y: float, z: float) -> Pixel:
        """Camera-space point (already mirrored) -> canvas pixel."""
        a = self.f * (x + self.curve * z * z) / z
        b = self.f * (self.height - y) / z
        return self.cx + a * self.cos_roll - b * self.sin_roll, self.horizon + a * self.sin_roll + b * self.cos_roll

    def project(self, pts: list[Point]) -> list[Pixel]:
        """:meth:`uv` of each camera-space point (inlined: this loop dominates the run time)."""
        f, cx, hy, cr, sr, ch, k = self.f, self.cx, self.horizon, self.cos_roll, self.sin_roll, self.height, self.curve
        uv = []
        for x, y, z in pts:
            a = f * (x + k * z * z) / z
            b = f * (ch - y) / z
            uv.append((cx + a * cr - b * sr, hy + a * sr + b * cr))
        return uv


class Item(NamedTuple):
    """One primitive on the display list, ready for PIL; display order is ``(layer, depth, order)``."""

    layer: int  # 0 road surface, 1 standing up, 2 on the windscreen
    depth: float  # minus the painter key in metres: the farthest is drawn first
    order: int  # insertion order, breaks ties
    kind: str  # "poly" | "ellipse" | "line"
    geometry: tuple | list  # poly: pixels; ellipse: bounding box; line: (pixel, pixel, width_px)
    rgb: tuple[int, int, int]


@dataclass
class Canvas:
    """The display list of one frame and the light it is shaded under.

    Layer 0 (road surface and markings) is drawn in insertion order and fogged per pixel; layer 1
    (everything standing up) is sorted by ``key`` (metres, drawn largest first) and fogged per
    primitive; layer 2 (things on or inside the windscreen) is drawn last, unfogged. Colours are shaded
    when a primitive is added, under the ``amb``/``fog``/``vis`` of that moment (a tunnel changes them
    once it has drawn the world outside).
    """

    camera: Camera
    mirror: int  # +1 keep right, -1 keep left: multiplies every world x
    amb: RGB  # multiplies every lit surface colour
    fog: RGB  # colour distance fades towards
    vis: float  # metres at which 63 % of an object's colour is fog
    wet: bool  # lamps are reflected in a wet road
    indoor: bool = False  # inside a tunnel: no rain, snow or wet reflections
    items: list[Item] = field(default_factory=list)
    glows: list[tuple[float, float, float, float, RGB]] = field(default_factory=list)  # u, v, rx, ry (px), rgb
    beams: list[tuple[list[Pixel], float]] = field(default_factory=list)  # lit ground areas (px), strength
    palette: Callable[[Sequence[float]], RGB] | None = None  # domain randomisation: re-colours lit surfaces

    @classmethod
    def under(cls, look: Look, camera: Camera, mirror: int) -> Canvas:
        """An empty canvas lit by ``look``."""
        return cls(camera, mirror, look.ambient, look.fog, look.visibility, look.wet)

    def shade(self, rgb: Sequence[float], z: float | None, emissive: bool = False) -> tuple[int, int, int]:
        """Surface colour under the ambient light, faded into the fog at distance ``z`` metres."""
        if emissive:
            r, g, b = rgb
        else:
            if self.palette is not None:
                rgb = self.palette(rgb)
            r, g, b = rgb[0] * self.amb[0], rgb[1] * self.amb[1], rgb[2] * self.amb[2]
        if z is not None:
            t = 1.0 - math.exp(-z / self.vis)
            fr, fg, fb = self.fog
            r, g, b = r + (fr - r) * t, g + (fg - g) * t, b + (fb - b) * t
        return int(min(r, 255)), int(min(g, 255)), int(min(b, 255))

    def _add(self, cam: list[Point], rgb: Sequence[float], key: float | None, layer: int, emissive: bool) -> None:
        """Clip, project, cull and shade a camera-space polygon onto the display list."""
        zmin = min([p[2] for p in cam])
        if zmin < NEAR:
            cam = clip_near(cam)
            if len(cam) < 3:
                return
            zmin = NEAR
        elif zmin > FAR:
            return
        uv = self.camera.project(cam)
        us = [p[0] for p in uv]
        vs = [p[1] for p in uv]
        s = self.camera.size
        if max(us) < 0 or min(us) > s or max(vs) < 0 or min(vs) > s:
            return
        col = self.shade(rgb, zmin if layer == 1 else None, emissive)
        self.items.append(Item(layer, -(zmin if key is None else key), len(self.items), "poly", uv, col))

    def poly(
        self,
        pts: Sequence[Point],
        rgb: Sequence[float],
        key: float | None = None,
        layer: int = 1,
        emissive: bool = False,
    ) -> None:
        """A polygon of world points ``(x, y, z)``; ``key`` overrides its painter depth."""
        m = self.mirror
        self._add([(x * m, y, z) for x, y, z in pts], rgb, key, layer, emissive)

    def ground_quad(self, x0: float, x1: float, z0: float, z1: float, rgb, x0f=None, x1f=None, layer=0) -> None:
        """Road-plane band between ``x0..x1`` at ``z0`` and ``x0f..x1f`` at ``z1``, split where the road bends."""
        x0f = x0 if x0f is None else x0f
        x1f = x1 if x1f is None else x1f
        zs = zsteps(z0, z1, 1.6) if self.camera.curve else [z0, z1]
        for za, zb in pairwise(zs):
            ta, tb = (za - z0) / (z1 - z0), (zb - z0) / (z1 - z0)
            xa0, xa1 = x0 + (x0f - x0) * ta, x1 + (x1f - x1) * ta
            xb0, xb1 = x0 + (x0f - x0) * tb, x1 + (x1f - x1) * tb
            self.poly([(xa0, 0, za), (xa1, 0, za), (xb1, 0, zb), (xb0, 0, zb)], rgb, layer=layer, key=za)

    def line_mark(self, x: float, w: float, z0: float, z1: float, rgb) -> None:
        """A solid road marking ``w`` metres wide centred on ``x``, from ``z0`` to ``z1``."""
        self.ground_quad(x - w / 2, x + w / 2, z0, z1, rgb)

    def disc(self, x: float, z: float, r: float, rgb, layer: int = 0, n: int = 28) -> None:
        """Circle lying on the road plane (roundabout island, ring)."""
        pts = [(x + r * math.cos(a), 0.0, z + r * math.sin(a)) for a in np.linspace(0, 2 * math.pi, n + 1)[:-1]]
        self.poly(pts, rgb, layer=layer, key=z - r)

    def block(self, x0, x1, y0, y1, z0, z1, rgb, side=None, top=None, emissive=False, key=None) -> None:
        """Axis-aligned box; draws the faces the camera can see (front at ``z0``, one side, maybe the top)."""
        m = self.mirror
        a, b = (x0 * m, x1 * m) if m > 0 else (x1 * m, x0 * m)
        side = scale(rgb, 0.72) if side is None else side
        far = z1 if key is None else key + (z1 - z0)
        near = z0 if key is None else key
        if a > 0:
            self._add([(a, y0, z0), (a, y1, z0), (a, y1, z1), (a, y0, z1)], side, far, 1, emissive)
        elif b < 0:
            self._add([(b, y0, z0), (b, y1, z0), (b, y1, z1), (b, y0, z1)], side, far, 1, emissive)
        if y1 < self.camera.height:
            top = scale(rgb, 1.12) if top is None else top
            self._add([(a, y1, z0), (b, y1, z0), (b, y1, z1), (a, y1, z1)], top, far, 1, emissive)
        elif y0 > self.camera.height:
            self._add([(a, y0, z0), (b, y0, z0), (b, y0, z1), (a, y0, z1)], scale(rgb, 0.55), far, 1, emissive)
        self._add([(a, y0, z0), (b, y0, z0), (b, y1, z0), (a, y1, z0)], rgb, near, 1, emissive)

    def long_block(self, x0, x1, y0, y1, z0, z1, rgb, side=None) -> None:
        """A box running along the road (wall, barrier, facade): split so distance fog grades along it."""
        zs = zsteps(z0, z1, 1.7)
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
        """Ellipse facing the camera centred at ``(x, y, z)`` with radii ``rx, ry`` metres."""
        if z < NEAR:
            return
        cam = self.camera
        u, v = cam.uv(x * self.mirror, y, z)
        pu, pv = cam.f * rx / z, cam.f * ry / z
        col = self.shade(rgb, z, emissive)
        self.items.append(
            Item(1, -(z if key is None else key), len(self.items), "ellipse", (u - pu, v - pv, u + pu, v + pv), col)
        )

    def line(self, p0: Point, p1: Point, width_m: float, rgb, key=None, layer=1) -> None:
        """Straight line between two world points, ``width_m`` metres wide at the nearer end."""
        m, cam = self.mirror, self.camera
        (x0, y0, z0), (x1, y1, z1) = p0, p1
        if min(z0, z1) < NEAR:
            return
        z = min(z0, z1)
        wpx = max(1, round(cam.f * width_m / z))
        col = self.shade(rgb, z if layer == 1 else None)
        self.items.append(
            Item(
                layer,
                -(z if key is None else key),
                len(self.items),
                "line",
                (cam.uv(x0 * m, y0, z0), cam.uv(x1 * m, y1, z1), wpx),
                col,
            )
        )

    def glow(self, x, y, z, radius_m, rgb, strength=1.0, reflect=True) -> None:
        """Additive halo of a lamp (drawn after downsampling); on a wet road also its streaked reflection."""
        if z < NEAR:
            return
        cam = self.camera
        t = math.exp(-z / self.vis)
        spread = 1.0 + 1.5 * (1.0 - math.exp(-z / (self.vis * 0.5)))  # haze widens the halo
        u, v = cam.uv(x * self.mirror, y, z)
        r = cam.f * radius_m / z * spread
        k = strength * (0.35 + 0.65 * t)
        self.glows.append((u, v, r, r, scale(rgb, k)))
        if reflect and self.wet and not self.indoor and y > 0.2:
            u2, v2 = cam.uv(x * self.mirror, -y, z)
            self.glows.append((u2, v2 - (v2 - v) * 0.25, r * 0.5, abs(v2 - v) * 0.3 + r, scale(rgb, k * 0.3)))

    def pool(self, x: float, z: float, r: float, strength: float) -> None:
        """A lit patch of road under a lamp or in the ego headlights (applied as extra light)."""
        pts = [
            (x * self.mirror + r * math.cos(a), 0.0, z + r * math.sin(a)) for a in np.linspace(0, 2 * math.pi, 10)[:-1]
        ]
        pts = [p for p in pts if p[2] > NEAR]
        if len(pts) >= 3:
            self.beams.append(([self.camera.uv(*p) for p in pts], strength))

    def screen_poly(self, uv_frac: Sequence[tuple[float, float]], rgb, emissive: bool = False) -> None:
        """Layer-2 polygon in fractions of the frame (hood, wiper, pillar)."""
        s = self.camera.size
        col = self.shade(rgb, None, emissive)
        self.items.append(Item(2, 0.0, len(self.items), "poly", [(u * s, v * s) for u, v in uv_frac], col))
