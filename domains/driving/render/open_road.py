"""Scenes between towns: highway, tunnel, bridge, rural road.

Each scene is a function of the :class:`~metasuite.domains.driving.render.frame.Frame` being built: it
sets the ground and road, then draws far-to-near props onto ``sc.canvas``. The camera rides in the ego
lane at ``x = 0`` looking down ``+z``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from itertools import pairwise

import numpy as np

from metasuite.domains.driving.render.canvas import Canvas, zsteps
from metasuite.domains.driving.render.frame import Frame
from metasuite.domains.driving.render.layout import (
    Road,
    dashes,
    far_band,
    nature,
    road_colour,
    terrain,
    traffic,
    two_way_road,
)
from metasuite.domains.driving.render.props import (
    house,
    lamp,
    tower,
    tree,
    utility_poles,
    warning_sign,
)
from metasuite.domains.driving.render.styles import RGB, SNOW, mix, scale


def highway(sc: Frame) -> None:
    """A divided motorway: 2-4 lanes each way, median barrier, guard rails, maybe gantry signs and lamps."""
    cv = sc.canvas
    st = sc.style
    n = int(sc.rng.integers(2, 5))
    lw = 3.7
    sc.camera.curve = sc.u(-1, 1) * 5e-4
    terrain(sc, sc.pick(("grass", "grass", "dry")))
    ego = int(sc.rng.integers(n))
    inner = -(ego + 0.5) * lw  # median-side edge of the ego carriageway
    outer = inner + n * lw
    sh, med = sc.u(2.5, 3.6), sc.u(1.5, 7.0)
    road_rgb = road_colour(sc)
    oi = inner - med
    oo = oi - n * lw
    cv.ground_quad(inner - 1.0, outer + sh, 0.5, 600, road_rgb)
    cv.ground_quad(oo - sh, oi + 1.0, 0.5, 600, road_rgb)
    if med < 4.0:
        cv.ground_quad(oi + 1.0, inner - 1.0, 0.5, 600, scale(road_rgb, 1.15))
    white = (228, 228, 224)
    cv.line_mark(inner + 0.25, 0.15, 0.5, 600, st.centre_line if st.mirror > 0 and st.centre_double else white)
    cv.line_mark(outer + 0.2, 0.15, 0.5, 600, white)
    cv.line_mark(oi - 0.25, 0.15, 0.5, 600, white)
    cv.line_mark(oo - 0.2, 0.15, 0.5, 600, white)
    for k in range(1, n):
        dashes(sc, inner + k * lw, 0.15, 0.5, 220, 4.0, 10.0, white)
        dashes(sc, oi - k * lw, 0.15, 0.5, 220, 4.0, 10.0, white)
    xm = inner - med / 2
    if sc.chance(0.6):  # concrete median barrier
        cv.long_block(xm - 0.3, xm + 0.3, 0, 0.9, 1.0, 400, (182, 180, 172))
    else:  # steel guard rails
        cv.long_block(xm - 0.15, xm + 0.15, 0.45, 0.8, 1.0, 400, (170, 175, 180))
    xr = outer + sh + 0.4
    cv.long_block(xr, xr + 0.15, 0.45, 0.8, 1.0, 400, (170, 175, 180))
    for z in np.arange(sc.u(1, 4), 60, 4.0):
        cv.face(xr, xr + 0.12, 0, 0.6, float(z), (130, 130, 130))
    if sc.chance(0.5):
        for z in np.arange(sc.u(5, 40), 400, 40.0):
            lamp(sc, xm, float(z), 10.0, 2.2)
    if sc.chance(0.55):  # overhead gantry with direction signs
        zg = sc.u(35, 110)
        for x in (xm, xr + 1.0):
            cv.face(x - 0.25, x + 0.25, 0, 7.2, zg + 0.05, (150, 152, 155), key=zg + 0.05)
        cv.face(xm, xr + 1.0, 6.6, 7.0, zg + 0.04, (140, 142, 145), key=zg + 0.04)
        k = int(sc.rng.integers(1, min(n, 3) + 1))
        for i in range(k):
            xc = outer - (i + 0.5) * (n * lw / k)
            cv.face(xc - 1.6, xc + 1.6, 4.8, 7.4, zg, (240, 240, 240), key=zg)
            cv.face(xc - 1.5, xc + 1.5, 4.9, 7.3, zg - 0.01, st.guide, key=zg - 0.01)
            for j in range(3):
                y = 5.3 + j * 0.6
                cv.face(xc - 1.1, xc + sc.u(0, 1.1), y, y + 0.25, zg - 0.02, (240, 240, 240), key=zg - 0.02)
    elif sc.chance(0.5):  # roadside exit sign
        zs = sc.u(30, 80)
        cv.face(xr + 1.5, xr + 1.6, 0, 2.5, zs + 0.1, (120, 120, 120))
        cv.face(xr + 0.3, xr + 2.8, 2.5, 4.0, zs, st.guide)
    if sc.chance(0.3):  # noise barrier
        cv.long_block(xr + 2.0, xr + 2.3, 0, 4.5, 3.0, 300, sc.jitter((150, 160, 150), 0.1))
    elif sc.chance(0.5):
        for _ in range(int(sc.rng.integers(2, 7))):
            side = sc.pick((-1, 1))
            tree(sc, side * sc.u(xr + 6, xr + 30), sc.u(20, 200))
    if sc.chance(0.25):  # warehouses far off
        for _ in range(int(sc.rng.integers(1, 3))):
            side = sc.pick((-1, 1))
            xf, z0 = sc.u(40, 120), sc.u(120, 350)
            tower(sc, side, xf, z0, z0 + sc.u(30, 80), sc.u(8, 15), sc.jitter((180, 178, 170), 0.1), shop=False)
    nature(sc)
    kinds = ("truck", "truck", *sc.style.car_kinds)
    road = Road(inner, lw, n, 0)
    traffic(sc, road, kinds=kinds)
    traffic(sc, Road(oi, lw, 0, n), kinds=kinds)


@dataclass(frozen=True)
class _Tube:
    """A tunnel's cross-section and materials; ``x`` is measured from the tunnel axis at ``axis``."""

    road: Road
    axis: float  # x of the tunnel axis, metres
    half: float  # half-width, metres
    wall_h: float  # height of the vertical walls, metres
    rise: float  # height of the vault above the walls, metres
    section: list[tuple[float, float]]  # (x, y) around the tube from the left foot to the right foot
    amb_in: RGB  # ambient light inside
    lamp_rgb: RGB
    road_rgb: RGB
    tile: RGB  # lower walls
    concrete: RGB  # upper walls and vault

    @property
    def two_way(self) -> bool:
        return self.road.n_opp > 0


def _tube(sc: Frame) -> _Tube:
    """Draw a tunnel's layout, size, lighting and materials (and the terrain and curvature outside)."""
    st = sc.style
    lw = 3.6
    two_way = sc.chance(0.4)
    n_ego, n_opp = (1, 1) if two_way else (2, 0)
    ego = 0 if two_way else int(sc.rng.integers(2))
    terrain(sc, sc.pick(("grass", "dry")))
    sc.camera.curve = sc.u(-1, 1) * 3e-4
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
    return _Tube(
        road=Road(centre, lw, n_ego, n_opp),
        axis=xt,
        half=half,
        wall_h=wall_h,
        rise=rise,
        section=section,
        amb_in=scale(light, level),
        lamp_rgb=(255, 170, 70) if sodium else (235, 242, 255),
        road_rgb=sc.jitter(st.road, 0.08),
        tile=sc.jitter((205, 202, 190), 0.06),
        concrete=sc.jitter((125, 122, 116), 0.1),
    )


def tunnel(sc: Frame) -> None:
    """Inside a road tunnel (lit tube, lamp rows, a bright exit), or approaching its portal from outside."""
    tube = _tube(sc)
    sc.look = replace(sc.look, lights=max(sc.look.lights, 0.8))
    nature(sc)
    if sc.chance(0.3):
        _tunnel_portal(sc, tube)
    else:
        _tunnel_inside(sc, tube)


def _tunnel_portal(sc: Frame, tube: _Tube) -> None:
    """Approaching the portal from outside: hillside, portal face, dark mouth with lamp rows."""
    cv, st = sc.canvas, sc.style
    xt, half, road = tube.axis, tube.half, tube.road
    zp = sc.u(25, 60)
    cv.ground_quad(xt - half, xt + half, 0.5, zp, road_colour(sc))
    cv.line_mark(road.centre, 0.14, 0.5, zp, st.centre_line if tube.two_way else (225, 225, 222))
    hill = SNOW if sc.look.snow else sc.jitter(sc.pick(st.greens), 0.15)
    pts = (
        [(-80.0, -2.0, zp + 2)] + [(x, sc.u(10, 30), zp + 2) for x in np.linspace(-80, 80, 9)] + [(80.0, -2.0, zp + 2)]
    )
    cv.poly([(xt + x, y, z) for x, y, z in pts], hill, key=zp + 2)
    top = tube.wall_h + tube.rise
    cv.face(xt - half - 2.5, xt + half + 2.5, 0, top + 2.0, zp, sc.jitter((165, 162, 155), 0.08), key=zp + 1)
    mouth = scale(tube.amb_in, 40)
    cv.poly([(xt + x, y, zp) for x, y in tube.section], mouth, key=zp + 0.9, emissive=True)
    for k, z in enumerate(np.arange(zp + 4, zp + 200, 9.0)):
        y = tube.wall_h + tube.rise * 0.8
        cv.poly(
            [(xt - 0.3, y, z), (xt + 0.3, y, z), (xt + 0.3, y + 0.15, z), (xt - 0.3, y + 0.15, z)],
            tube.lamp_rgb,
            key=zp + 0.8 - k * 1e-3,
            emissive=True,
        )
    cv.face(xt - 2.0, xt + 2.0, top + 0.4, top + 1.4, zp - 0.01, st.guide, key=zp - 0.01)
    traffic(sc, road, z1=zp - 6)


def _tunnel_inside(sc: Frame, tube: _Tube) -> None:
    """Inside the tube, under its own light, up to an exit ``z_exit`` metres ahead."""
    cv = sc.canvas
    xt, half, wall_h, rise = tube.axis, tube.half, tube.wall_h, tube.rise
    z_exit = sc.u(90, 260)
    cv.amb = tube.amb_in
    cv.fog = scale(tube.amb_in, 60)
    cv.vis = sc.u(150, 400)
    sc.exposure = 1.15
    cv.indoor = True
    spacing = sc.u(6, 12)
    _tube_shell(cv, tube, z_exit)
    _tube_markings(sc, tube, z_exit)
    two_rows = sc.chance(0.5)
    y_top = wall_h + rise * (0.55 if two_rows else 0.97)
    xs = (xt - half * 0.55, xt + half * 0.55) if two_rows else (xt,)
    z = sc.u(2, spacing)
    while z < z_exit:
        for x in xs:
            cv.poly(
                [
                    (x - 0.35, y_top - 0.12, z),
                    (x + 0.35, y_top - 0.12, z),
                    (x + 0.35, y_top, z + 1.2),
                    (x - 0.35, y_top, z + 1.2),
                ],
                tube.lamp_rgb,
                emissive=True,
                key=z - 0.01,
            )
            cv.glow(x, y_top - 0.1, z, 0.35, tube.lamp_rgb, 0.4)
        z += spacing
    for z in np.arange(sc.u(10, 40), z_exit, 50.0):  # emergency exit signs
        cv.side_quad(xt + half, 1.8, 2.4, float(z), float(z) + 0.8, (40, 200, 90), emissive=True, key=float(z) + 0.8)
    if sc.chance(0.5):  # jet fans under the vault
        zf = sc.u(15, 60)
        for x in (xt - 1.3, xt + 1.3):
            cv.ellipse(x, wall_h + rise * 0.6 - 0.5, zf, 0.5, 0.5, (70, 70, 72), key=zf - 0.1)
    if sc.look.lights < 0.95:  # daylight blooming through the exit
        u, v = sc.camera.uv(xt * sc.style.mirror, wall_h * 0.5, z_exit)
        r = sc.camera.f * half / z_exit
        cv.glows.append((u, v, r * 1.2, r * 0.9, scale((255, 250, 240), 0.8 * (1 - sc.look.lights))))
    traffic(sc, tube.road, z1=min(z_exit - 10, 150))


def _tube_shell(cv: Canvas, tube: _Tube, z_exit: float) -> None:
    """Floor, tiled walls and concrete vault in rings that grow with distance (alternately lighter and darker)."""
    xt, half, tile_top = tube.axis, tube.half, tube.wall_h * 0.6
    for i, (za, zb) in enumerate(pairwise(zsteps(0.5, z_exit, 1.25))):
        cv.poly([(xt - half, 0, za), (xt + half, 0, za), (xt + half, 0, zb), (xt - half, 0, zb)], tube.road_rgb, key=zb)
        for (xa, ya), (xb, yb) in pairwise(tube.section):
            rgb = tube.tile if max(ya, yb) <= tile_top else tube.concrete
            if ya <= tile_top < yb:
                cv.poly(
                    [(xt + xa, ya, za), (xt + xa, tile_top, za), (xt + xa, tile_top, zb), (xt + xa, ya, zb)],
                    tube.tile,
                    key=zb,
                )
                ya = tile_top
            k = 1.0 + 0.08 * ((i % 2) * 2 - 1)
            cv.poly([(xt + xa, ya, za), (xt + xb, yb, za), (xt + xb, yb, zb), (xt + xa, ya, zb)], scale(rgb, k), key=zb)


def _tube_markings(sc: Frame, tube: _Tube, z_exit: float) -> None:
    """Lane and edge lines drawn over the tube floor: keyed at their near end."""
    cv, st, road = sc.canvas, sc.style, tube.road
    white = (228, 228, 224)
    z = sc.u(0, 9)
    while z < min(z_exit, 200):
        x = road.centre if tube.two_way else road.centre + road.lw
        cv.poly(
            [(x - 0.07, 0, z), (x + 0.07, 0, z), (x + 0.07, 0, z + 3), (x - 0.07, 0, z + 3)],
            st.centre_line if tube.two_way else white,
            key=z - 0.01,
        )
        z += 3.0 if tube.two_way and st.centre_double else 9.0
    for x in (tube.axis - tube.half + 0.8, tube.axis + tube.half - 0.8):
        cv.poly([(x - 0.07, 0, 1), (x + 0.07, 0, 1), (x + 0.07, 0, z_exit), (x - 0.07, 0, z_exit)], white, key=0.99)


def bridge(sc: Frame) -> None:
    """Crossing water on a bridge deck: parapets or railings, a truss, cable stays, an arch or a plain girder."""
    cv, st = sc.canvas, sc.style
    z_end = _water(sc)
    n = int(sc.rng.integers(1, 3))
    lw = 3.5
    road = two_way_road(sc, n, n, lw, z1=z_end + 100)
    walk = 1.6 if sc.chance(0.6) else 0.4
    xl, xr = road.left - walk, road.right + walk
    cv.ground_quad(xl, road.left, 0.5, z_end, scale(st.sidewalk, 0.95))
    cv.ground_quad(road.right, xr, 0.5, z_end, scale(st.sidewalk, 0.95))
    steel = sc.jitter(sc.pick(((70, 110, 90), (150, 150, 155), (160, 60, 45), (70, 90, 130), (225, 225, 220))), 0.06)
    for x in (xl, xr):
        if sc.chance(0.5):  # concrete parapet
            cv.long_block(x - 0.15, x + 0.15, 0, 1.0, 0.5, z_end, (175, 173, 168))
        else:  # steel railing: top rail and balusters
            cv.long_block(x - 0.06, x + 0.06, 0.95, 1.1, 0.5, z_end, steel)
            cv.long_block(x - 0.04, x + 0.04, 0.45, 0.52, 0.5, z_end, steel)
            for z in np.arange(sc.u(0.5, 2), 40, 2.0):
                cv.face(x - 0.04, x + 0.04, 0, 1.0, float(z), steel)
    kind = sc.pick(("truss", "cable", "arch", "girder"))
    if kind != "girder":  # a girder bridge has nothing above its deck
        _SUPERSTRUCTURES[kind](sc, xl, xr, z_end, steel)
    for z in np.arange(sc.u(10, 30), z_end, 30.0):
        lamp(sc, xr + 0.1, float(z), 8.0, 1.5)
        if sc.chance(0.5):
            lamp(sc, xl - 0.1, float(z) + 15, 8.0, 1.5)
    _far_shore(sc, z_end)
    nature(sc, trees=False)
    traffic(sc, road, z1=160)


def _water(sc: Frame) -> float:
    """Water as the ground, ripples reflecting the sky, land beyond; returns where the land begins (metres)."""
    water = sc.jitter((62, 92, 112), 0.12)
    if sc.look.snow:
        water = mix(water, (180, 185, 190), 0.3)
    sc.ground = water
    z_end = sc.u(120, 450)
    for _ in range(int(sc.rng.integers(8, 20))):
        z = sc.u(5, z_end)
        x = sc.u(-1.2, 1.2) * z
        w = sc.u(2, 10) * z / 20
        sc.canvas.poly(
            [(x - w, -15.0, z), (x + w, -15.0, z), (x + w, -15.0, z + z * 0.03), (x - w, -15.0, z + z * 0.03)],
            mix(water, sc.look.sky_horizon, 0.4),
            layer=0,
        )
    land = SNOW if sc.look.snow else sc.jitter((90, 110, 70), 0.15)
    sc.canvas.ground_quad(-3000, 3000, z_end, 3000, land)
    return z_end


def _truss(sc: Frame, xl: float, xr: float, z_end: float, steel: RGB) -> None:
    """Through truss: top chords over both kerbs, verticals and diagonals, cross beams overhead."""
    cv = sc.canvas
    top = sc.u(6, 8)
    for x in (xl - 0.3, xr + 0.3):
        cv.long_block(x - 0.25, x + 0.25, top - 0.5, top, 0.5, z_end * 0.9, steel)
        zs = np.arange(sc.u(1, 6), z_end * 0.9, 7.0)
        for za, zb in pairwise(zs):
            cv.face(x - 0.2, x + 0.2, 0, top, float(za), steel)
            cv.line((x, 0.3, float(za)), (x, top - 0.3, float(zb)), 0.25, steel, key=float(zb))
    for z in np.arange(sc.u(4, 10), z_end * 0.9, 14.0):
        cv.line((xl - 0.3, top - 0.2, float(z)), (xr + 0.3, top - 0.2, float(z)), 0.3, steel)


def _cable_stayed(sc: Frame, xl: float, xr: float, z_end: float, steel: RGB) -> None:
    """A pair of pylons with fans of stay cables and a cross beam (``steel`` is unused: pylons are concrete)."""
    cv = sc.canvas
    zt = sc.u(40, min(130.0, z_end * 0.6))
    ht = sc.u(35, 70)
    for x in (xl - 0.5, xr + 0.5):
        cv.block(x - 0.9, x + 0.9, 0, ht, zt, zt + 2.5, (200, 200, 196))
        for k in range(1, 9):
            for d in (-1, 1):
                zk = zt + d * k * zt / 9
                if zk > 1:
                    cv.line((x, ht - 2 - k * 0.8, zt + 1.2), (x, 0.8, zk), 0.06, (220, 220, 220), key=max(zk, zt))
    cv.face(xl - 1.0, xr + 1.0, ht - 6, ht - 4, zt - 0.01, (200, 200, 196), key=zt - 0.01)


def _arch(sc: Frame, xl: float, xr: float, z_end: float, steel: RGB) -> None:
    """An arch over each kerb with hangers down to the deck."""
    cv = sc.canvas
    za, zb = sc.u(5, 20), sc.u(90, min(200.0, z_end))
    rise = sc.u(15, 30)
    zs = np.linspace(za, zb, 13)
    for x in (xl - 0.3, xr + 0.3):
        ys = [rise * math.sin(math.pi * (z - za) / (zb - za)) for z in zs]
        for k in range(12):
            cv.line((x, ys[k], float(zs[k])), (x, ys[k + 1], float(zs[k + 1])), 0.8, steel, key=float(zs[k + 1]))
            if k > 0:
                cv.line((x, 1.0, float(zs[k])), (x, ys[k], float(zs[k])), 0.08, steel, key=float(zs[k]))


_SUPERSTRUCTURES: dict[str, Callable[[Frame, float, float, float, RGB], None]] = {
    "truss": _truss,
    "cable": _cable_stayed,
    "arch": _arch,
}


def _far_shore(sc: Frame, z_end: float) -> None:
    """A skyline or a tree line on the far shore."""
    if sc.chance(0.5):
        z = z_end + 40
        for x in np.arange(-z, z, sc.u(15, 40)):
            if sc.chance(0.6):
                h = sc.u(10, 60)
                sc.canvas.face(
                    float(x), float(x) + sc.u(10, 25), 0, h, z + sc.u(0, 80), sc.jitter(sc.pick(sc.style.walls), 0.1)
                )
    else:
        green = mix(sc.pick(sc.style.greens), SNOW, 0.35 * sc.look.snow)
        far_band(sc, z_end + 30, 3.0, sc.u(8, 18), green, n=30)


def rural_road(sc: Frame) -> None:
    """A narrow curving country road between fields (rice paddies in Japan), fences, trees, maybe a farm."""
    cv = sc.canvas
    st = sc.style
    terrain(sc, sc.pick(("grass", "grass", "dry")))
    sc.camera.curve = sc.u(-1, 1) * 1.2e-3
    road = two_way_road(sc, 1, 1, sc.u(2.8, 3.3), z1=500, centre_line=sc.chance(0.6), edges=sc.chance(0.5))
    gravel = mix((130, 118, 100), SNOW, 0.8 * sc.look.snow)
    cv.ground_quad(road.left - 1.2, road.left, 0.5, 500, gravel)
    cv.ground_quad(road.right, road.right + 1.2, 0.5, 500, gravel)
    crops = [(105, 145, 60), (205, 185, 95), (125, 98, 72), (150, 160, 80)]
    if st.mirror < 0:
        crops += [mix((150, 172, 185), sc.look.sky_horizon, 0.5), (90, 150, 70)]  # flooded and green rice paddies
    for side in (-1, 1):
        x0 = (road.right if side > 0 else -road.left) + 1.2
        z = sc.u(-5, 10)
        while z < 500:
            length = sc.u(30, 120)
            col = sc.jitter(sc.pick(crops), 0.08)
            if sc.look.snow:
                col = SNOW
            x1 = x0 + sc.u(80, 300)
            cv.ground_quad(side * (x0 + 2), side * x1, max(z, 0.5), z + length, col)
            if z < 120 and sc.chance(0.6) and not sc.look.snow:  # furrows run towards the horizon
                furrow = scale(col, 0.82)
                for x in np.arange(x0 + 3, x0 + 45, sc.u(2.0, 3.5)):
                    cv.ground_quad(side * float(x), side * (float(x) + 0.35), max(z, 0.5), z + length, furrow)
            z += length + sc.u(0, 5)
        if sc.chance(0.6):  # fence: posts and wires
            xf = x0 + 1.2
            zs = np.arange(sc.u(1, 3), 70, 3.0)
            for zp in zs:
                cv.face(side * xf - 0.06, side * xf + 0.06, 0, 1.2, float(zp), (110, 90, 70))
            for y in (0.7, 1.1):
                cv.line((side * xf, y, float(zs[0])), (side * xf, y, 150.0), 0.03, (80, 80, 80), key=150.0)
        for _ in range(int(sc.rng.integers(0, 6))):
            tree(sc, side * sc.u(x0 + 3, x0 + 60), sc.u(10, 250))
    if sc.chance(0.55):  # farm: barn and silo
        side = sc.pick((-1, 1))
        xf, zf = sc.u(25, 70), sc.u(50, 160)
        barn_wall = (150, 45, 35) if st.mirror > 0 and st.centre_double else sc.jitter((120, 100, 80), 0.15)
        house(sc, side, xf, zf, zf + sc.u(12, 20), walls=(barn_wall,))
        if sc.chance(0.6):
            xs = side * (xf + sc.u(12, 18))
            hs = sc.u(10, 18)
            cv.face(xs - 2.5, xs + 2.5, 0, hs, zf + 2, (190, 192, 195))
            cv.ellipse(xs, hs, zf + 1.99, 2.5, 1.2, (160, 162, 165), key=zf + 1.99)
    if sc.chance(st.utility_poles + 0.2):
        utility_poles(sc, road.right + 2.0, 2.0, 300, spacing=sc.u(40, 55))
    if sc.chance(0.4):
        warning_sign(sc, road.right + 1.3, sc.u(15, 50))
    nature(sc)
    sc.density *= 0.4
    traffic(sc, road, z1=200)
