"""Scenes with an obstruction across the road: road works closing a lane, a railway level crossing.

Each scene is a function of the :class:`~metasuite.domains.driving.render.frame.Frame` being built (see
:mod:`~metasuite.domains.driving.render.open_road`).
"""

from __future__ import annotations

import numpy as np

from metasuite.domains.driving.render.frame import Frame
from metasuite.domains.driving.render.layout import Road, nature, road_colour, terrain, traffic, two_way_road
from metasuite.domains.driving.render.props import (
    barrel,
    cone,
    crossbuck,
    house,
    sign,
    stripe_board,
    tree,
    utility_poles,
    warning_sign,
)
from metasuite.domains.driving.render.styles import DARK, GLASS, SNOW, mix, scale


def construction_zone(sc: Frame) -> None:
    """Road works closing the outer ego lane: a taper of cones or barrels, boards, signs, machinery, workers."""
    cv = sc.canvas
    st = sc.style
    terrain(sc, sc.pick(("grass", "dry", "urban")))
    n = int(sc.rng.integers(1, 3))
    road = two_way_road(sc, n + 1, n, sc.u(3.3, 3.7), z1=500, ego_lane=int(sc.rng.integers(n)))
    lw = road.lw
    closed = road.ego_x(n)  # outermost ego-direction lane is closed
    za = sc.u(5, 18)
    taper = sc.u(20, 40)
    barrels = st.mirror > 0 and st.signal_mount == "mast"  # North America: drums, not cones
    # cones (or barrels) taper from the lane line into the closed lane, then line it
    z = za
    while z < 160:
        t = min(1.0, (z - za) / taper)
        x = closed + lw / 2 - t * lw
        if barrels and z < 90:
            barrel(sc, x, z)
        else:
            cone(sc, x, z)
        z += sc.u(4, 7) if t < 1 else sc.u(8, 12)
    patch = scale(road_colour(sc), sc.u(0.8, 1.25))
    cv.ground_quad(closed - lw / 2 + 0.3, closed + lw / 2 + 0.5, za + taper, 400, patch)
    if st.warning_shape == "triangle":  # yellow temporary markings shifting the lanes
        cv.ground_quad(closed - lw / 2 - 0.1, closed - lw / 2 + 0.05, za + taper, 300, (235, 200, 30))
    board_z = za + taper + sc.u(5, 20)
    for i in range(int(sc.rng.integers(2, 5))):
        zb = board_z + i * sc.u(15, 30)
        cv.face(closed - 1.0, closed - 0.9, 0, 1.0, zb + 0.01, DARK)
        cv.face(closed + 0.9, closed + 1.0, 0, 1.0, zb + 0.01, DARK)
        stripe_board(sc, closed - 1.2, closed + 1.2, 0.7, 1.05, zb, 6)
        if sc.look.lights > 0.2:
            cv.glow(closed - 1.0, 1.15, zb, 0.25, (255, 170, 30), 0.9)
    if sc.chance(0.5):  # concrete barriers along the work area
        cv.long_block(closed - lw / 2 + 0.2, closed - lw / 2 + 0.7, 0, 0.8, za + taper + 2, 250, (200, 200, 195))
    sign_face = (245, 130, 20) if st.warning_shape == "diamond" and st.mirror > 0 else None
    for zs in (za - sc.u(8, 20), za - sc.u(25, 45)):
        if zs > 4:
            warning_sign(sc, road.right + 1.4, zs, face=sign_face)
    if barrels or sc.chance(0.4):  # arrow board trailer
        zt = za + sc.u(2, 8)
        cv.face(closed - 1.0, closed + 1.0, 1.5, 2.6, zt, DARK)
        cv.face(closed - 0.05, closed + 0.05, 0, 1.5, zt + 0.02, (90, 90, 90), key=zt + 0.02)
        for i in range(5):
            xa = closed - 0.7 + i * 0.32
            cv.ellipse(
                xa, 2.05 + (0.15 if i == 4 else 0), zt - 0.01, 0.08, 0.08, (255, 190, 40), key=zt - 0.01, emissive=True
            )
        cv.glow(closed, 2.05, zt, 0.9, (255, 180, 40), 0.4 + 0.6 * sc.look.lights)
    if sc.chance(0.6):  # machinery in the closed lane
        zm = za + taper + sc.u(10, 50)
        yellow = (235, 175, 25)
        cv.block(closed - 1.3, closed + 1.3, 0.0, 0.8, zm, zm + 4, DARK)
        cv.block(closed - 1.3, closed + 1.3, 0.8, 2.2, zm, zm + 4, yellow)
        cv.block(closed - 1.2, closed - 0.1, 2.2, 3.4, zm + 0.4, zm + 2, yellow)
        cv.face(closed - 1.1, closed - 0.2, 2.4, 3.2, zm + 0.39, GLASS, key=zm + 0.39)
        cv.line((closed + 0.6, 2.2, zm), (closed + 0.8, 4.8, zm - 2.5), 0.35, yellow, key=zm - 2.6)
        cv.line((closed + 0.8, 4.8, zm - 2.5), (closed + 0.5, 0.8, zm - 4.5), 0.3, yellow, key=zm - 4.6)
    if sc.chance(0.5):  # dirt pile
        zp = za + taper + sc.u(5, 60)
        cv.poly([(closed - 1.5, 0, zp), (closed + 1.8, 0, zp), (closed + 0.2, sc.u(1, 2.5), zp + 2)], (130, 100, 70))
    for _ in range(int(sc.rng.integers(0, 4))):
        x, z = closed + sc.u(-1, 1), sc.u(za + taper, 90)
        cv.face(x - 0.17, x + 0.17, 0, 0.85, z, (45, 45, 55))
        cv.face(x - 0.24, x + 0.24, 0.85, 1.5, z, (250, 140, 20) if st.mirror > 0 else (230, 240, 40), key=z - 0.01)
        cv.ellipse(x, 1.66, z, 0.14, 0.14, (245, 245, 245), key=z - 0.02)
    for side in (-1, 1):
        for _ in range(int(sc.rng.integers(0, 5))):
            tree(sc, side * sc.u(abs(road.right) + 8, 60), sc.u(10, 200))
    nature(sc)
    traffic(sc, Road(road.centre, lw, n, n), z1=150)


def railway_crossing(sc: Frame) -> None:
    """A level crossing: tracks across the road, crossbucks, barrier arms up or down, maybe a train passing."""
    cv, st = sc.canvas, sc.style
    terrain(sc, sc.pick(("grass", "dry", "urban")))
    road = two_way_road(sc, 1, 1, sc.u(3.0, 3.5), z1=400)
    zr = sc.u(10, 30)
    tracks = 2 if sc.chance(0.4) else 1
    _tracks(sc, road, zr, tracks)
    zc = zr - sc.u(3.5, 5.0)
    down = sc.chance(0.4)
    _crossing_gear(sc, road, zr, zc, tracks, down)
    if down and sc.chance(0.5):  # a train passing
        body = sc.jitter(sc.pick(((200, 200, 195), (60, 110, 170), (150, 40, 40), (90, 120, 80))), 0.05)
        zt = zr + 4.5 * int(sc.rng.integers(tracks)) - 1.5
        x0 = sc.u(-60, -5)
        cv.block(x0, x0 + sc.u(40, 120), 0.9, 4.0, zt, zt + 3.0, body)
        for xw in np.arange(x0 + 1, x0 + 40, 2.5):
            cv.face(float(xw), float(xw) + 1.4, 2.2, 3.1, zt - 0.01, GLASS, key=zt - 0.01)
    if (st.mirror < 0 or st.warning_shape == "triangle") and sc.chance(0.6):  # catenary
        for x in (-8.0, 8.0):
            cv.face(x - 0.12, x + 0.12, 0, 6.5, zr + 2.5, (120, 122, 125))
        cv.line((-200, 6.0, zr), (200, 6.0, zr), 0.03, (60, 60, 60))
        cv.line((-8, 6.4, zr + 2.5), (8, 6.4, zr + 2.5), 0.12, (120, 122, 125))
    if sc.chance(0.5):
        z = zc - sc.u(20, 40)
        sign(sc, road.right + 1.3, z, 2.2, st.warning_shape, 0.5, st.warning_face, st.warning_border, glyph=DARK)
    for side in (-1, 1):
        for _ in range(int(sc.rng.integers(0, 5))):
            tree(sc, side * sc.u(abs(road.right) + 6, 60), sc.u(5, 200))
        if sc.chance(0.4):
            z0 = sc.u(zr + 10, 80)
            house(sc, side, sc.u(10, 25), z0, z0 + sc.u(8, 12))
    if sc.chance(st.utility_poles):
        utility_poles(sc, road.right + 1.8, 2.0, 250)
    nature(sc)
    sc.density *= 0.5
    traffic(sc, road, z0=zr + 6, z1=150)
    traffic(sc, road, z0=4, z1=zc - 3, skip_ego=True)


def _tracks(sc: Frame, road: Road, zr: float, tracks: int) -> None:
    """Ballast, crossing panels and rails of ``tracks`` tracks from ``zr`` metres; stop line and road markings."""
    cv, st = sc.canvas, sc.style
    ballast = mix((125, 115, 102), SNOW, 0.6 * sc.look.snow)
    panel = (150, 148, 140)
    rail = (185, 185, 190)
    cv.ground_quad(-400, 400, zr - 2.0, zr + 2.0 + 4.5 * (tracks - 1), ballast)
    for k in range(tracks):
        zt = zr + 4.5 * k
        cv.ground_quad(road.left - 0.5, road.right + 0.5, zt - 1.2, zt + 1.2, panel)
        for d in (-0.72, 0.72):
            cv.poly([(-400, 0, zt + d), (400, 0, zt + d), (400, 0.16, zt + d), (-400, 0.16, zt + d)], rail, key=zt + d)
            cv.ground_quad(-400, 400, zt + d, zt + d + 0.1, scale(rail, 0.5))
    white = (232, 232, 228)
    if not sc.look.snow:
        cv.ground_quad(road.centre, road.right, zr - 5.0, zr - 4.6, white)
        if st.mirror > 0 and st.signal_mount == "mast":  # painted RXR before the crossing
            x, z = road.ego_x(0), zr - sc.u(15, 22)
            for d in (-1, 1):
                cv.poly(
                    [
                        (x - 1.2 * d - 0.2, 0, z),
                        (x - 1.2 * d + 0.2, 0, z),
                        (x + 1.2 * d + 0.2, 0, z + 5),
                        (x + 1.2 * d - 0.2, 0, z + 5),
                    ],
                    white,
                    layer=0,
                )


def _crossing_gear(sc: Frame, road: Road, zr: float, zc: float, tracks: int, down: bool) -> None:
    """A crossbuck and a barrier (arm ``down`` across the lane or raised) each side: before the tracks on the
    right at ``zc``, after them on the left."""
    cv, st = sc.canvas, sc.style
    for side, x in ((1, road.right + 1.0), (-1, road.left - 1.0)):
        z = zc if side > 0 else zr + 4.5 * (tracks - 1) + sc.u(3.5, 5)
        crossbuck(sc, x, z)
        if st.warning_shape == "diamond" and st.mirror > 0:
            cv.face(x - 0.4, x + 0.4, 1.6, 1.9, z - 0.002, (240, 240, 240), key=z - 0.002)
        # barrier arm: pivot box by the post, arm down across the lane or raised
        xp = x + 0.5 * side
        cv.block(xp - 0.25, xp + 0.25, 0, 1.1, z + 0.3, z + 0.8, (200, 200, 200))
        arm = road.lw * 1.0
        if down:
            x0, x1 = sorted((xp, xp - side * arm))
            stripe_board(sc, x0, x1, 0.95, 1.12, z + 0.25, 8)
        else:
            a, b = st.stripes
            for i in range(6):
                cv.face(
                    xp - 0.07,
                    xp + 0.07,
                    1.1 + i * 0.6,
                    1.7 + i * 0.6,
                    z + 0.25,
                    a if i % 2 else b,
                    key=z + 0.25 - 0.001 * i,
                )
