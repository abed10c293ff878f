"""Scenes in built-up areas: city street, residential street, parking lot, gas station, intersection, roundabout.

Each scene is a function of the :class:`~metasuite.domains.driving.render.frame.Frame` being built (see
:mod:`~metasuite.domains.driving.render.open_road`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from metasuite.domains.driving.render.frame import Frame
from metasuite.domains.driving.render.layout import Road, nature, road_colour, terrain, traffic, two_way_road
from metasuite.domains.driving.render.props import (
    car,
    car_side,
    house,
    lamp,
    person,
    sign,
    signal,
    tower,
    tree,
    utility_poles,
)
from metasuite.domains.driving.render.styles import BRIGHT, DARK, GLASS, RGB, SNOW, mix, scale


def city_street(sc: Frame) -> None:
    """Downtown street: towers along both kerbs, shops, lamps, signals, crossings, parked cars, pedestrians."""
    cv = sc.canvas
    st = sc.style
    n = int(sc.rng.integers(1, 3))
    lw = 3.3
    terrain(sc, "urban")
    sc.ground = sc.jitter(st.sidewalk, 0.05) if not sc.look.snow else mix(st.sidewalk, SNOW, 0.6)
    road = two_way_road(sc, n, n, lw, z1=400)
    park = 2.3 if sc.chance(0.5) else 0.0
    kr, kl = road.right + park, road.left - park
    cv.ground_quad(kl, road.left, 0.5, 400, road_colour(sc))
    cv.ground_quad(road.right, kr, 0.5, 400, road_colour(sc))
    kerb = scale(st.sidewalk, 1.12)
    cv.line_mark(kl - 0.1, 0.2, 0.5, 400, kerb)
    cv.line_mark(kr + 0.1, 0.2, 0.5, 400, kerb)
    zc = sc.u(12, 45)
    if sc.chance(0.5):  # zebra crossing with a stop line before it
        x = kl + 0.3
        while x < kr - 0.3:
            cv.ground_quad(x, x + 0.5, zc, zc + 3.5, (232, 232, 228))
            x += 1.0
        cv.ground_quad(road.centre, road.right, zc - 1.5, zc - 1.1, (232, 232, 228))
    if sc.chance(0.7):
        signal(sc, kr + 0.6, zc + 4.0, road.ego_x(n - 1))
        signal(sc, kl - 0.6, zc + 4.0 + sc.u(0, 8), road.opp_x(n - 1))
    sw = sc.u(3.0, 5.5)
    tall = 15.0 if st.mirror > 0 and st.stop_shape == "octagon" and st.signal_mount == "pole" else 45.0
    for side in (-1, 1):
        xf = (kr if side > 0 else -kl) + sw
        z = sc.u(-8, 0)
        prev_h = 0.0
        while z < 300:
            length = sc.u(10, 32)
            h = sc.u(10, 20 + tall)
            tower(sc, side, xf + sc.u(-0.5, 0.5), z, z + length, h, sc.jitter(sc.pick(st.walls), 0.08), hidden=prev_h)
            alley = sc.chance(0.15)
            prev_h = 0.0 if alley else h  # an alley exposes the next front face
            z += length + (sc.u(3, 6) if alley else sc.u(0, 0.5))
        xk = (kr if side > 0 else -kl) + 0.6
        z = sc.u(5, 25)
        while z < 200:
            lamp(sc, side * xk, z, 8.0, 1.5)
            z += sc.u(22, 35)
        if sc.chance(0.35):
            for z in np.arange(sc.u(3, 12), 150, sc.u(10, 15)):
                tree(sc, side * (xk + 0.8), float(z), sc.u(5, 8))
        if sc.chance(st.utility_poles * 0.7):
            utility_poles(sc, side * (xk + 0.3), 3.0, 250)
        for _ in range(int(sc.rng.integers(0, 6))):
            person(sc, side * sc.u(xk + 0.5, xf - 0.5), sc.u(5, 80))
        if park:
            z = sc.u(3, 10)
            while z < 120:
                if sc.chance(0.75):
                    car(sc, side * (xk - 0.6 - 1.15 - 0.3), z, toward=side < 0, parked=True)
                z += sc.u(5.5, 8)
    kinds = ("bus", *st.car_kinds) if sc.chance(0.4) else None
    traffic(sc, road, z1=180, kinds=kinds)


def residential(sc: Frame) -> None:
    """A quiet street of houses with gardens, trees, hedges or block walls, parked cars, little traffic."""
    cv = sc.canvas
    st = sc.style
    terrain(sc, "grass")
    sc.camera.curve = sc.u(-1, 1) * 4e-4
    lw = sc.u(2.7, 3.1)
    road = two_way_road(sc, 1, 1, lw, z1=300, centre_line=sc.chance(0.35), edges=False)
    lawn = sc.ground
    for side in (-1, 1):
        xk = road.right if side > 0 else -road.left
        if st.mirror > 0 and st.signal_mount == "mast":  # grass verge, then a sidewalk
            cv.ground_quad(side * (xk + 1.6), side * (xk + 3.0), 0.5, 300, mix(st.sidewalk, lawn, 0.3 * sc.look.snow))
            setback = sc.u(9, 15)
        elif st.mirror > 0:
            cv.ground_quad(side * xk, side * (xk + 2.0), 0.5, 300, st.sidewalk)
            setback = sc.u(4, 8)
        else:
            setback = sc.u(2.5, 4.5)
        z = sc.u(-6, 4)
        while z < 220:
            length = sc.u(8, 13)
            house(sc, side, xk + setback + sc.u(-1, 1), z, z + length)
            gap = sc.u(4, 10)
            if sc.chance(0.7):
                tree(sc, side * sc.u(xk + 2.5, xk + setback + 3), z + length + gap / 2, sc.u(5, 10))
            if st.mirror > 0 and sc.chance(0.4):
                cv.ground_quad(
                    side * xk, side * (xk + setback), z + length + 0.5, z + length + 3.5, scale(st.sidewalk, 0.9)
                )
            z += length + gap
        if st.mirror < 0 or sc.chance(0.3):  # block wall or hedge along the plots
            col = (150, 150, 145) if st.mirror < 0 else scale(sc.pick(st.greens), 0.8)
            cv.long_block(side * (xk + 0.6), side * (xk + 0.9), 0, sc.u(1.0, 1.5), 0.5, 220, col)
        if sc.chance(st.utility_poles):
            utility_poles(sc, side * (xk + 0.4), 2.0, 220)
        if sc.look.lights > 0 and sc.chance(0.6):
            for zl in np.arange(sc.u(8, 30), 150, 35.0):
                lamp(sc, side * (xk + 0.5), float(zl), 6.5, 1.0)
        z = sc.u(4, 15)
        while z < 90:
            if sc.chance(0.35):
                car(sc, side * (xk - 1.0), z, toward=side < 0, parked=True)
            z += sc.u(7, 14)
    nature(sc, hills=True, trees=True)
    sc.density *= 0.35
    traffic(sc, road, z1=120)


def parking_lot(sc: Frame) -> None:
    """Driving down the aisle of a parking lot: marked bays with parked cars, lamps, a store at the far end."""
    cv = sc.canvas
    tarmac = sc.jitter((92, 92, 95), 0.08)
    if sc.look.wet:
        tarmac = scale(tarmac, 0.65)
    sc.ground = mix(tarmac, SNOW, 0.6) if sc.look.snow else tarmac
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
                    cv.ground_quad(side * xa, side * (xa + bay_l), z, z + 0.14, paint)
                    if z < z_cars and sc.chance(0.75 if row == 0 else 0.5):
                        cx = side * (xa + bay_l / 2 + (0.3 if facing > 0 else -0.3))
                        car_side(sc, cx, z + (bay_w - 1.9) / 2, heading=-side * facing, parked=True)
                    z += bay_w
            if row == 0:
                cv.ground_quad(side * (x0 + bay_l - 0.07), side * (x0 + bay_l + 0.07), 1.0, z_store - 6, paint)
    for zl in np.arange(sc.u(6, 25), z_store - 5, sc.u(22, 35)):
        for x in (-(aisle + 2 * bay_l + aisle), aisle + 2 * bay_l + aisle):
            lamp(sc, x + sc.u(-0.2, 0.2), float(zl), 10.0, 0.01)
    # store building across the far end
    wall = sc.jitter(sc.pick(((200, 195, 185), (170, 160, 150), (215, 210, 200), (150, 140, 130))), 0.05)
    xl, xr = -sc.u(40, 90), sc.u(40, 90)
    h = sc.u(6, 10)
    cv.block(xl, xr, 0, h, z_store, z_store + 60, wall)
    lit = sc.look.lights > 0.2
    cv.face(-6, 6, 0, 3.2, z_store - 0.01, (255, 236, 190) if lit else GLASS, emissive=lit, key=z_store - 0.01)
    brand = sc.pick(BRIGHT)
    cv.face(-8, 8, h - 2.2, h - 0.6, z_store - 0.02, brand, emissive=lit, key=z_store - 0.02)
    if sc.chance(0.5):
        cv.face(xl + 3, -9, 3.5, h - 1.5, z_store - 0.01, scale(wall, 0.85), key=z_store - 0.01)
    if sc.chance(sc.density):
        car(sc, sc.u(-0.5, 0.5), sc.u(12, 30), toward=sc.chance(0.5))
    for _ in range(int(sc.rng.integers(0, 4))):
        person(sc, sc.u(-aisle, aisle), sc.u(8, 40))
    nature(sc, hills=True, trees=True)


def gas_station(sc: Frame) -> None:
    """A filling station's canopy, pumps, price sign and kiosk, beside the road or driving into the forecourt."""
    cv = sc.canvas
    terrain(sc, sc.pick(("grass", "urban")))
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
    road = two_way_road(sc, 1, 1, sc.u(3.1, 3.5), z1=400)
    if enter:
        x0, z0 = sc.u(-9, -4), sc.u(9, 16)
    else:
        x0, z0 = road.right + sc.u(3, 6), sc.u(14, 35)
    width, depth = sc.u(14, 24), sc.u(10, 16)
    apron = (158, 156, 150) if not sc.look.snow else mix((158, 156, 150), SNOW, 0.4)
    cv.ground_quad(x0 - 3, x0 + width + 8, max(0.5, z0 - 8), z0 + depth + 8, road_colour(sc) if sc.look.wet else apron)
    lit = sc.look.lights > 0.2
    y0, y1 = 4.6, sc.u(5.3, 5.8)
    under = (255, 252, 240) if lit else (205, 205, 200)
    cv.poly(
        [(x0, y0, z0), (x0 + width, y0, z0), (x0 + width, y0, z0 + depth), (x0, y0, z0 + depth)],
        under,
        key=z0 + depth,
        emissive=lit,
    )
    islands = max(2, int(width / 7))
    for i in range(islands):
        xc = x0 + (i + 0.5) * width / islands
        for zp in (z0 + depth * 0.3, z0 + depth * 0.7):
            cv.block(xc - 0.2, xc + 0.2, 0, 4.6, zp, zp + 0.4, (225, 225, 222))
        for zp in (z0 + depth * 0.38, z0 + depth * 0.58):
            cv.block(xc - 0.45, xc + 0.45, 0, 1.8, zp, zp + 0.5, (235, 235, 232))
            cv.face(xc - 0.45, xc + 0.45, 1.5, 1.8, zp - 0.01, brand, key=zp - 0.01)
            cv.face(xc - 0.25, xc + 0.25, 1.0, 1.35, zp - 0.02, DARK, key=zp - 0.02)
        if sc.chance(0.5):
            car(sc, xc + sc.pick((-1.6, 1.6)), z0 + depth * sc.u(0.2, 0.5))
    cv.block(x0, x0 + width, y0, y1, z0, z0 + depth, brand, key=z0)
    cv.face(x0, x0 + width, y0 + (y1 - y0) * 0.35, y0 + (y1 - y0) * 0.6, z0 - 0.01, band, key=z0 - 0.01)
    if lit:
        for i in range(islands):
            xc = x0 + (i + 0.5) * width / islands
            cv.glow(xc, y0, z0 + depth * 0.5, 2.5, (255, 250, 235), 0.6)
        cv.pool(x0 + width / 2, z0 + depth / 2, width * 0.6, 1.0)
    xs = (road.right + 1.8) if not enter else x0 - 2.5
    _price_sign(sc, xs, max(z0 - sc.u(3, 8), 6.0), brand, band, lit)
    # kiosk behind the canopy
    xb = x0 + width + sc.u(3, 8) if not enter else x0 + sc.u(0, 6)
    zb = z0 + depth + sc.u(2, 8)
    cv.block(xb - 6, xb + 6, 0, sc.u(3.5, 4.5), zb, zb + 10, sc.jitter((220, 218, 210), 0.05))
    cv.face(xb - 5, xb + 2, 0.3, 2.8, zb - 0.01, (255, 236, 190) if lit else GLASS, emissive=lit, key=zb - 0.01)
    cv.face(xb - 6, xb + 6, 3.0, 3.6, zb - 0.02, brand, key=zb - 0.02)
    nature(sc)
    if not enter:
        traffic(sc, road, z1=140)


def _price_sign(sc: Frame, xs: float, zs: float, brand: RGB, band: RGB, lit: bool) -> None:
    """The filling station's tall price sign by the road at ``(xs, zs)``: brand panel, logo, three LED prices."""
    cv = sc.canvas
    sh = sc.u(7, 11)
    cv.face(xs - 0.15, xs + 0.15, 0, sh - 3, zs + 0.02, (120, 120, 122), key=zs + 0.02)
    cv.face(xs - 1.1, xs + 1.1, sh - 4.2, sh, zs, brand, key=zs)
    cv.ellipse(xs, sh - 0.8, zs - 0.01, 0.6, 0.55, band, key=zs - 0.01)
    led = (255, 70, 40) if sc.style.mirror > 0 else (90, 255, 120)
    for j in range(3):
        y = sh - 2.0 - j * 0.7
        cv.face(xs - 0.95, xs + 0.95, y - 0.28, y + 0.28, zs - 0.01, DARK, key=zs - 0.01)
        price = led if lit else (200, 200, 200)
        cv.face(xs - 0.1, xs + 0.85, y - 0.18, y + 0.18, zs - 0.02, price, emissive=lit, key=zs - 0.02)


def intersection(sc: Frame) -> None:
    """Approaching a junction: stop line, crossings, a stop sign or signals, cross traffic, kerbside buildings."""
    st = sc.style
    urban = sc.chance(0.6)
    terrain(sc, "urban" if urban else "grass")
    n = int(sc.rng.integers(1, 3))
    lw = 3.3
    zi = sc.u(8, 28)  # where the cross road begins
    wc = sc.u(8, 16)  # its width
    road = two_way_road(sc, n, n, lw, z1=400)
    sc.canvas.ground_quad(-400, 400, zi, zi + wc, road_colour(sc))
    if not (sc.look.snow and sc.chance(0.5)):  # else the markings are buried under snow
        _junction_markings(sc, road, zi, wc)
    if sc.chance(0.3):  # stop sign
        red, white = (200, 25, 30), (240, 240, 240)
        sign(sc, road.right + 1.0, zi - 2.5, 2.2, st.stop_shape, 0.45, red, white, glyph=white)
    else:
        signal(sc, road.right + 0.8, zi - 1.0, road.ego_x(n - 1))
        signal(sc, road.left - 0.8, zi + wc + 1.0, road.ego_x(0) - 3.5)
        if sc.chance(0.5):
            signal(sc, road.right + 0.8, zi + wc + 1.0, road.ego_x(n - 1))
    for side in (-1, 1):
        _kerbside(sc, road, side, zi, wc, urban)
    for _ in range(int(sc.rng.integers(0, 4)) + sc.chance(0.6)):  # cross traffic
        lane = sc.pick((0.25, 0.75))
        heading = 1 if lane > 0.5 else -1
        car_side(sc, sc.u(-25, 25), zi + wc * lane - 0.9, heading=heading * st.mirror)
    traffic(sc, road, z0=zi + wc + 2, z1=180)
    sc.density *= 0.6  # queues before the junction are short
    traffic(sc, road, z0=5, z1=zi - 6)
    nature(sc, hills=not urban, trees=not urban)


def _junction_markings(sc: Frame, road: Road, zi: float, wc: float) -> None:
    """Stop line, maybe zebra crossings either side of the cross road, its centre line, maybe a lane arrow."""
    cv, st = sc.canvas, sc.style
    white = (230, 230, 226)
    cv.ground_quad(road.centre, road.right, zi - 3.0, zi - 2.6, white)  # stop line
    if sc.chance(0.6):  # zebra crossings on both sides of the junction
        for z in (zi - 2.2, zi + wc + 0.6):
            x = road.left + 0.2
            while x < road.right - 0.2:
                cv.ground_quad(x, x + 0.5, z, z + 3.0, white)
                x += 1.0
    for x in (-400.0, 60.0):
        cv.ground_quad(x, x + 340, zi + wc / 2 - 0.07, zi + wc / 2 + 0.07, st.centre_line)
    if sc.chance(0.5):  # lane arrow before the stop line
        x = road.ego_x(0)
        z = zi - sc.u(8, 12)
        cv.poly(
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


def _kerbside(sc: Frame, road: Road, side: int, zi: float, wc: float, urban: bool) -> None:
    """Sidewalks on ``side`` before and after the cross road, lined with towers (``urban``) or houses and trees."""
    cv, st = sc.canvas, sc.style
    xk = (road.right if side > 0 else -road.left) + 0.3
    for za, zb in ((-5.0, zi - 1.0), (zi + wc + 1.0, 250.0)):
        cv.ground_quad(side * xk, side * (xk + 3.5), max(za, 0.5), zb, st.sidewalk)
        if urban:
            z = za
            while z < zb - 6:
                length = min(sc.u(12, 30), zb - z)
                tower(sc, side, xk + 4.0, z, z + length, sc.u(8, 35), sc.jitter(sc.pick(st.walls), 0.08))
                z += length + sc.u(0, 1)
        else:
            z = za
            while z < zb - 8:
                if sc.chance(0.6):
                    house(sc, side, xk + sc.u(6, 10), z, z + sc.u(8, 12))
                else:
                    tree(sc, side * (xk + sc.u(4, 12)), z + 4)
                z += sc.u(12, 18)
    lamp(sc, side * xk, zi - sc.u(2, 6), 8.0, 1.6)
    if sc.chance(st.utility_poles * 0.5):
        utility_poles(sc, side * (xk + 0.5), zi + wc + 2, 250)


_KERB: RGB = (200, 200, 195)


@dataclass(frozen=True)
class _Ring:
    """A roundabout: centre ``(xc, zc)``, island radius ``ri``, outer radius ``ro`` (metres), island colour."""

    xc: float
    zc: float
    ri: float
    ro: float
    grass: RGB


def roundabout(sc: Frame) -> None:
    """Approaching a roundabout: give-way line, splitter island, signs, a planted island, traffic on the ring."""
    terrain(sc, sc.pick(("grass", "urban", "dry")))
    road = two_way_road(sc, 1, 1, sc.u(3.2, 3.6), z1=30, edges=False)
    ring = _ring(sc, road)
    xc, zc, ri, ro = ring.xc, ring.zc, ring.ri, ring.ro
    zy = zc - ro - 0.8  # the give-way line
    _approach(sc, road, ring, zy)
    _island(sc, ring)
    _roundabout_sign(sc, road, zy - sc.u(4, 10))
    for _ in range(int(sc.rng.integers(0, 4))):  # traffic on the ring
        a = sc.u(0.15, math.pi - 0.15) * sc.pick((1, -1))
        r = (ri + ro) / 2
        x, z = xc + r * math.cos(a), zc + r * math.sin(a)
        if z > 4:
            car_side(sc, x, z - 0.9, heading=(1 if math.sin(a) < 0 else -1) * sc.style.mirror)
    for side in (-1, 1):
        for _ in range(int(sc.rng.integers(1, 4))):
            tree(sc, side * sc.u(ro + 5, ro + 40), zc + sc.u(-ro, 60))
        if sc.chance(0.5):
            z0 = zc + sc.u(-10, 30)
            house(sc, side, abs(xc) + ro + sc.u(6, 15), z0, z0 + sc.u(8, 14))
    for a in (0.4, 2.7):
        lamp(sc, xc + (ro + 1.5) * math.cos(a), zc - (ro + 1.5) * math.sin(a), 8.0, 1.5)
    nature(sc)


def _ring(sc: Frame, road: Road) -> _Ring:
    """The ring road with its exits, and the raised central island with a striped kerb."""
    cv, st = sc.canvas, sc.style
    ri = sc.u(6, 14)
    ro = ri + sc.u(7, 9)
    xc = road.centre + sc.u(-2, 2)
    zc = ro + sc.u(3, 12)
    road_rgb = road_colour(sc)
    cv.disc(xc, zc, ro, road_rgb)
    for a in (0.0, math.pi / 2, math.pi):  # exits to the sides and straight on
        dx, dz = math.cos(a), math.sin(a)
        px, pz = -dz * 3.5, dx * 3.5
        x1, z1 = xc + dx * 300, zc + dz * 300
        cv.poly(
            [(xc + px, 0, zc + pz), (xc - px, 0, zc - pz), (x1 - px, 0, z1 - pz), (x1 + px, 0, z1 + pz)],
            road_rgb,
            layer=0,
        )
    grass = SNOW if sc.look.snow else sc.jitter((85, 125, 60), 0.1)
    if sc.chance(0.4):  # cobbled truck apron
        cv.disc(xc, zc, ri + 1.6, (140, 120, 100))
    cv.disc(xc, zc, ri + 0.3, _KERB)
    cv.disc(xc, zc, ri, grass)
    # raised dome of the island (front half on the ground up to its profile), hiding the far side of the ring
    mound = sc.u(0.8, 2.5)
    front = [(xc + ri * math.cos(a), 0.0, zc + ri * math.sin(a)) for a in np.linspace(math.pi, 2 * math.pi, 9)]
    profile = [(xc + ri * math.cos(b), mound * math.sin(b) ** 0.5, zc) for b in np.linspace(0, math.pi, 9)]
    cv.poly([*front, *profile], scale(grass, 0.92), key=zc - ri)
    stripe = st.stripes[0] if sc.chance(0.5) else DARK
    for k, (p, q) in enumerate(pairwise(front)):  # kerb band along the front of the island
        (xa, _, za), (xb, _, zb) = p, q
        ka, kb = (ri + 0.3) / ri, (ri + 0.3) / ri
        pa = (xc + (xa - xc) * ka, zc + (za - zc) * ka)
        pb = (xc + (xb - xc) * kb, zc + (zb - zc) * kb)
        cv.poly(
            [(pa[0], 0.0, pa[1]), (pb[0], 0.0, pb[1]), (pb[0], 0.3, pb[1]), (pa[0], 0.3, pa[1])],
            (235, 235, 232) if k % 2 else stripe,
            key=min(pa[1], pb[1]) - 0.05,
        )
    return _Ring(xc, zc, ri, ro, grass)


def _approach(sc: Frame, road: Road, ring: _Ring, zy: float) -> None:
    """Give-way marking at ``zy`` (shark teeth in Europe), the splitter island and its keep-right sign."""
    cv, st = sc.canvas, sc.style
    white = (232, 232, 228)
    if not sc.look.snow:
        if st.warning_shape == "triangle":  # shark teeth
            x = road.centre
            while x < road.right:
                cv.poly([(x, 0, zy - 0.6), (x + 0.5, 0, zy - 0.6), (x + 0.25, 0, zy + 0.3)], white, layer=0)
                x += 0.75
        else:
            cv.ground_quad(road.centre, road.right, zy - 0.4, zy, white)
    island = ring.grass if sc.ground[1] > sc.ground[0] * 1.1 or sc.look.snow else scale(_KERB, 0.75)
    cv.poly([(road.centre - 0.8, 0, zy), (road.centre + 0.8, 0, zy), (road.centre, 0, zy - 6)], island, layer=0)
    sign(sc, road.centre, zy - 0.5, 1.4, "circle", 0.32, (30, 80, 170), (240, 240, 240), glyph=(240, 240, 240))


def _island(sc: Frame, ring: _Ring) -> None:
    """Island planting and a chevron board facing the approach."""
    cv, st = sc.canvas, sc.style
    xc, zc, ri = ring.xc, ring.zc, ring.ri
    if sc.chance(0.6):
        tree(sc, xc + sc.u(-2, 2), zc + sc.u(-2, 2), sc.u(5, 9))
    for _ in range(int(sc.rng.integers(1, 5))):
        a = sc.u(0, 2 * math.pi)
        r = sc.u(0, ri * 0.7)
        bush = mix(sc.pick(st.greens), SNOW, 0.4 * sc.look.snow)
        cv.ellipse(xc + r * math.cos(a), 0.5, zc + r * math.sin(a), sc.u(0.8, 2.0), sc.u(0.5, 1.0), bush)
    zb = zc - ri + 0.3
    for i in range(4):
        xa = xc - 2.0 + i * 1.0
        cv.face(xa, xa + 1.0, 0.4, 1.3, zb, (240, 240, 240) if i % 2 else (st.stripes[0]), key=zb)
        cv.poly([(xa + 0.2, 0.55, zb), (xa + 0.55, 0.85, zb), (xa + 0.2, 1.15, zb)], DARK, key=zb - 0.001)


def _roundabout_sign(sc: Frame, road: Road, zs: float) -> None:
    """The roundabout sign at ``zs`` (a blue mandatory disc, or a warning diamond in North America), with arrows."""
    st = sc.style
    shape, face, border = (
        ("circle", (30, 80, 170), None)
        if st.warning_shape == "triangle" or st.mirror < 0
        else ("diamond", st.warning_face, st.warning_border)
    )
    sign(sc, road.right + 1.2, zs, 2.3, shape, 0.5, face, border)
    for k in range(3):  # circular arrows on the sign
        a = k * 2 * math.pi / 3 + 0.5
        cxs, cys = road.right + 1.2 + 0.22 * math.cos(a), 2.3 + 0.22 * math.sin(a)
        arrow = (240, 240, 240) if shape == "circle" else DARK
        sc.canvas.ellipse(cxs, cys, zs - 0.01, 0.09, 0.09, arrow, key=zs - 0.01)
