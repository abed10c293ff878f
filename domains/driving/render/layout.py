"""Pieces every scene shares: the road and its markings, traffic, terrain and the horizon.

Positions are world metres (``x`` across, right of the camera axis in right-hand traffic; ``z`` ahead).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from metasuite.domains.driving.render.frame import Frame
from metasuite.domains.driving.render.props import car
from metasuite.domains.driving.render.styles import RGB, SNOW, mix, scale


@dataclass(frozen=True)
class Road:
    """A two-way road: lanes of ``lw`` metres each side of the centre line at ``centre``."""

    centre: float
    lw: float
    n_ego: int
    n_opp: int

    @property
    def right(self) -> float:
        """Outer edge of the ego-direction lanes."""
        return self.centre + self.n_ego * self.lw

    @property
    def left(self) -> float:
        """Outer edge of the oncoming lanes."""
        return self.centre - self.n_opp * self.lw

    def ego_x(self, i: int) -> float:
        """Centre of ego-direction lane ``i`` (0 = next to the centre line)."""
        return self.centre + (i + 0.5) * self.lw

    def opp_x(self, i: int) -> float:
        """Centre of oncoming lane ``i`` (0 = next to the centre line)."""
        return self.centre - (i + 0.5) * self.lw


def road_colour(sc: Frame) -> RGB:
    """The region's asphalt, jittered; darker when wet, greyed under snow."""
    rgb = sc.jitter(sc.style.road, 0.08)
    if sc.look.wet:
        rgb = scale(rgb, 0.62)
    if sc.look.snow:
        rgb = mix(rgb, SNOW, 0.3)
    return rgb


def two_way_road(
    sc: Frame,
    n_ego: int,
    n_opp: int,
    lw: float,
    z1: float = 500.0,
    shoulder: float = 0.5,
    centre_line: bool = True,
    edges: bool = True,
    ego_lane: int | None = None,
) -> Road:
    """Road surface and markings; the camera rides in ego lane ``ego_lane`` (0 = next to the centre line)."""
    cv = sc.canvas
    ego = int(sc.rng.integers(n_ego)) if ego_lane is None else ego_lane
    road = Road(-(ego + 0.5) * lw + sc.u(-0.3, 0.3), lw, n_ego, n_opp)
    cv.ground_quad(road.left - shoulder, road.right + shoulder, 0.5, z1, road_colour(sc))
    if sc.look.snow:  # snow left on the shoulders and between the wheel tracks
        for x in (road.left - shoulder, road.right + shoulder):
            cv.line_mark(x, sc.u(1.0, 2.5), 0.5, z1, SNOW)
    white = (225, 225, 222)
    paint = sc.look.snow and sc.chance(0.5)  # markings buried under snow
    if centre_line and n_opp and not paint:
        col = sc.style.centre_line
        if sc.chance(sc.style.centre_double):
            cv.line_mark(road.centre - 0.12, 0.11, 0.5, z1, col)
            cv.line_mark(road.centre + 0.12, 0.11, 0.5, z1, col)
        elif sc.chance(0.5):
            cv.line_mark(road.centre, 0.14, 0.5, z1, col)
        else:
            dashes(sc, road.centre, 0.14, 0.5, 250, 3.0, 6.0, col)
    if not paint:
        for k in range(1, n_ego):
            dashes(sc, road.centre + k * lw, 0.13, 0.5, 200, 3.0, 9.0, white)
        for k in range(1, n_opp):
            dashes(sc, road.centre - k * lw, 0.13, 0.5, 200, 3.0, 9.0, white)
        if edges:
            cv.line_mark(road.right - 0.15, 0.13, 0.5, z1, white)
            if n_opp:
                cv.line_mark(road.left + 0.15, 0.13, 0.5, z1, white)
    return road


def traffic(
    sc: Frame,
    road: Road,
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
                car(sc, x + sc.u(-0.25, 0.25), z, kind, toward=toward)
            z += sc.u(12, 45)


def nature(sc: Frame, hills: bool = True, trees: bool = True) -> None:
    """Far tree line and hills on the horizon."""
    if hills and sc.chance(0.7):
        rock = SNOW if sc.look.snow else sc.jitter((95, 110, 95), 0.15)
        far_band(sc, 1500.0, 20.0, sc.u(60, 220), rock, n=int(sc.rng.integers(5, 12)))
    if trees:
        green = mix(sc.pick(sc.style.greens), SNOW, 0.35) if sc.look.snow else sc.pick(sc.style.greens)
        far_band(sc, sc.u(250, 450), 4.0, sc.u(10, 22), scale(green, 0.85), n=int(sc.rng.integers(18, 40)))


def terrain(sc: Frame, kind: str = "grass") -> None:
    """Set the ground colour (``"grass"`` | ``"dry"`` | ``"urban"`` | ``"tarmac"``); snow covers all but tarmac."""
    colours = {"grass": (92, 118, 62), "dry": (150, 140, 96), "urban": (120, 118, 112), "tarmac": (88, 88, 90)}
    rgb = sc.jitter(colours[kind], 0.1)
    if sc.look.snow and kind != "tarmac":
        rgb = SNOW
    sc.ground = rgb


def dashes(sc: Frame, x: float, w: float, z0: float, z1: float, dash: float, gap: float, rgb) -> None:
    """A dashed road marking ``w`` metres wide at ``x``: ``dash`` metres painted, ``gap`` metres bare, random phase."""
    z = z0 - float(sc.rng.uniform(0, dash + gap))
    while z < z1:
        if z + dash > 1.0:
            sc.canvas.poly(
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


def far_band(sc: Frame, z: float, y_lo: float, y_hi: float, rgb, n: int = 16) -> None:
    """Silhouette along the horizon at distance ``z``: ``n`` random heights between ``y_lo`` and ``y_hi`` metres."""
    half = z * 1.3
    xs = np.linspace(-half, half, n)
    ys = y_lo + (y_hi - y_lo) * sc.rng.random(n)
    pts = [(float(x), float(y), z) for x, y in zip(xs, ys)]
    sc.canvas.poly([(-half, -5.0, z), *pts, (half, -5.0, z)], rgb, key=z)
