"""Things that stand in a scene: vehicles, people, trees, lamps, signs, signals, buildings, road-works gear.

Each prop is a function of the frame being built and a position in world metres (``x`` across, ``z``
ahead; mirrored for left-hand traffic by the canvas), drawing onto ``sc.canvas`` and drawing its random
details from ``sc`` in a fixed order.
"""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np

from metasuite.domains.driving.render.frame import Frame
from metasuite.domains.driving.render.styles import (
    BLACK,
    BRIGHT,
    CAR_DIMS,
    DARK,
    GLASS,
    GREY,
    RGB,
    SNOW,
    WHITE,
    mix,
    scale,
)

#: Sign outlines, unit half-height, centred on the origin.
SHAPES: dict[str, list[tuple[float, float]]] = {
    "rect": [(-1, -1), (1, -1), (1, 1), (-1, 1)],
    "diamond": [(0, -1), (1, 0), (0, 1), (-1, 0)],
    "triangle": [(-1, -0.8), (1, -0.8), (0, 0.95)],
    "inv_triangle": [(-1, 0.8), (1, 0.8), (0, -0.95)],
    "octagon": [(math.cos(a), math.sin(a)) for a in np.linspace(math.pi / 8, 2 * math.pi + math.pi / 8, 9)[:-1]],
    "circle": [(math.cos(a), math.sin(a)) for a in np.linspace(0, 2 * math.pi, 17)[:-1]],
}


# ----------------------------------------------------------------------------------- vehicles and people
def car(sc: Frame, x: float, z: float, kind: str | None = None, rgb=None, toward: bool = False, parked=False) -> None:
    """A vehicle in its lane, rear face at ``z`` (front face if ``toward``: oncoming)."""
    cv = sc.canvas
    kind = kind or sc.pick(sc.style.car_kinds)
    rgb = rgb or sc.jitter(sc.pick(sc.style.car_colours), 0.06)
    w, length, h = CAR_DIMS[kind]
    x0, x1 = x - w / 2, x + w / 2
    cv.block(x0 + 0.15, x1 - 0.15, 0.0, 0.42, z + 0.3, z + length - 0.3, DARK, key=z + 0.3)
    if kind in ("truck", "bus"):
        body = rgb if kind == "bus" else sc.pick(((225, 225, 220), (196, 198, 195), (150, 32, 30), (45, 75, 130)))
        cv.block(x0, x1, 0.45, h, z, z + length, body, key=z)
        if kind == "bus" or toward:
            cv.face(x0 + 0.15, x1 - 0.15, 1.5 if toward else 1.9, h - 0.3, z - 0.01, GLASS, key=z - 0.01)
        else:
            cv.face(x - 0.02, x + 0.02, 0.6, h - 0.1, z - 0.01, scale(body, 0.6), key=z - 0.01)
        hb = 0.95
    else:
        hb = 1.05 if kind in ("van", "pickup", "suv", "kei") else 0.92
        cv.block(x0, x1, 0.3, hb, z, z + length, rgb, key=z)
        if kind in ("van", "kei"):
            c0, c1 = z + 0.25, z + length - 0.9
        elif kind == "pickup":
            c0, c1 = (z + length * 0.5, z + length * 0.8) if not toward else (z + length * 0.3, z + length * 0.55)
        else:
            c0, c1 = z + length * (0.3 if toward else 0.22), z + length * (0.72 if toward else 0.68)
        cv.block(x0 + 0.1, x1 - 0.1, hb, h, c0, c1, rgb, key=c0)
        cv.face(x0 + 0.2, x1 - 0.2, hb + 0.06, h - 0.07, c0 - 0.01, GLASS, key=c0 - 0.01)
    y = hb - 0.25
    on = not parked and (sc.look.lights > 0.3 or (sc.look.lights > 0 and sc.chance(0.7)))
    for s in (-1, 1):
        xc = x + s * (w / 2 - 0.25)
        if toward:
            col = (255, 250, 225) if on else (215, 215, 205)
            cv.face(xc - 0.18, xc + 0.18, y, y + 0.14, z - 0.02, col, emissive=on, key=z - 0.02)
            if on:
                cv.glow(xc, y, z, 0.4, (255, 245, 215), 0.9 * sc.look.lights + 0.2)
        else:
            col = (255, 45, 35) if on else (150, 25, 25)
            cv.face(xc - 0.16, xc + 0.16, y, y + 0.15, z - 0.02, col, emissive=on, key=z - 0.02)
            if on:
                cv.glow(xc, y, z, 0.32, (255, 40, 25), 0.7 * sc.look.lights)


def car_side(
    sc: Frame, x: float, z: float, kind: str | None = None, rgb=None, heading: int = 1, parked: bool = False
) -> None:
    """A vehicle crossing the view (seen from the side), centred at ``x``, near side at depth ``z``."""
    cv = sc.canvas
    kind = kind or sc.pick(sc.style.car_kinds)
    rgb = rgb or sc.jitter(sc.pick(sc.style.car_colours), 0.06)
    w, length, h = CAR_DIMS[kind]
    hb = 1.0 if kind in ("van", "pickup", "suv", "kei") else 0.9
    if kind in ("truck", "bus"):
        cv.block(x - length / 2, x + length / 2, 0.45, h, z, z + w, rgb)
        cv.face(x - length / 2 + 0.6, x + length / 2 - 0.6, 1.9, h - 0.4, z - 0.01, GLASS, key=z - 0.01)
    else:
        cv.block(x - length / 2, x + length / 2, 0.3, hb, z, z + w, rgb)
        c = x + heading * length * 0.05
        half = length * (0.42 if kind in ("van", "kei") else 0.27)
        cv.block(c - half, c + half, hb, h, z + 0.1, z + w - 0.1, rgb, key=z + 0.1)
        cv.face(c - half + 0.2, c + half - 0.2, hb + 0.07, h - 0.08, z + 0.09, GLASS, key=z + 0.09)
    for s in (-1, 1):
        cv.ellipse(x + s * length * 0.33, 0.33, z - 0.02, 0.33, 0.33, DARK, key=z - 0.02)
    if not parked and sc.look.lights > 0.3:
        cv.glow(x + heading * length / 2, 0.7, z + w / 2, 0.5, (255, 245, 215), 0.8)
        cv.glow(x - heading * length / 2, 0.8, z + w / 2, 0.3, (255, 40, 25), 0.5)


def person(sc: Frame, x: float, z: float) -> None:
    """A pedestrian standing at ``(x, z)``, facing the camera."""
    cv = sc.canvas
    shirt = sc.jitter(sc.pick((*BRIGHT, BLACK, WHITE, GREY)), 0.1)
    cv.face(x - 0.17, x + 0.17, 0, 0.85, z, (45, 45, 55))
    cv.face(x - 0.24, x + 0.24, 0.85, 1.5, z, shirt, key=z - 0.01)
    cv.ellipse(x, 1.63, z, 0.12, 0.14, (196, 156, 126), key=z - 0.02)


# -------------------------------------------------------------------------------- trees, lamps and poles
def tree(sc: Frame, x: float, z: float, h: float | None = None, conifer: bool | None = None) -> None:
    """A tree standing at ``(x, z)``, ``h`` metres tall (drawn if None); a conifer or a broadleaf (snowy in snow)."""
    cv = sc.canvas
    h = sc.u(5.0, 11.0) if h is None else h
    conifer = sc.chance(sc.style.conifer) if conifer is None else conifer
    green = sc.jitter(sc.pick(sc.style.greens), 0.15)
    cv.face(x - 0.14 - h * 0.01, x + 0.14 + h * 0.01, 0, h * 0.5, z, (80, 62, 45))
    if conifer:
        if sc.look.snow:
            green = mix(green, SNOW, 0.4)
        w = h * 0.23
        cv.poly([(x - w, h * 0.18, z), (x + w, h * 0.18, z), (x, h, z)], green, key=z - 0.01)
        cv.poly(
            [(x - w * 0.7, h * 0.5, z), (x + w * 0.7, h * 0.5, z), (x, h * 1.02, z)],
            scale(green, 1.15),
            key=z - 0.02,
        )
    else:
        if sc.look.snow:
            green = mix((100, 92, 84), SNOW, 0.35)
        cv.ellipse(x, h * 0.64, z, h * 0.3, h * 0.34, green, key=z - 0.01)
        cv.ellipse(x - h * 0.06, h * 0.72, z, h * 0.18, h * 0.2, scale(green, 1.18), key=z - 0.02)


def lamp(sc: Frame, x: float, z: float, h: float = 8.0, arm: float = 1.8) -> None:
    """Street lamp at ``x``; the arm reaches towards the road centre (``x = 0``)."""
    cv = sc.canvas
    pole = (100, 102, 104)
    d = -1.0 if x > 0 else 1.0
    xa = x + d * arm
    cv.face(x - 0.09, x + 0.09, 0, h, z, pole)
    cv.line((x, h, z), (xa, h, z), 0.12, pole, key=z - 0.01)
    on = sc.look.lights > 0 and sc.chance(0.9 * sc.look.lights)  # always at night, often at dusk, never by day
    head = (255, 205, 130) if on else (80, 80, 82)
    cv.face(xa - 0.35, xa + 0.35, h - 0.22, h, z - 0.02, head, emissive=on, key=z - 0.02)
    if on:
        cv.glow(xa, h - 0.2, z, 0.8, (255, 190, 110), 0.9 * sc.look.lights)
        cv.pool(xa, z, 7.0, 0.6)


def utility_poles(sc: Frame, x: float, z0: float, z1: float, spacing: float | None = None) -> None:
    """Wooden / concrete poles with overhead wires along the road at ``x``."""
    cv = sc.canvas
    spacing = spacing or sc.u(28, 40)
    col = (120, 96, 70) if sc.style.mirror > 0 else (150, 150, 146)
    z = z0 + sc.u(0, spacing)
    tops = []
    while z < z1:
        cv.face(x - 0.13, x + 0.13, 0, 9.0, z, col)
        cv.face(x - 0.9, x + 0.9, 8.2, 8.35, z - 0.01, col, key=z - 0.01)
        tops.append(z)
        z += spacing
    for za, zb in pairwise(tops):
        for dx in (-0.8, 0.0, 0.8):
            cv.line((x + dx, 8.4, za), (x + dx, 8.4, zb), 0.025, (40, 40, 42), key=zb)


# ------------------------------------------------------------------------------------- signs and signals
def sign(sc: Frame, x, z, y, shape, size, face, border=None, pole=True, aspect=1.0, glyph=None) -> None:
    """Road sign centred at height ``y``; ``size`` is the half-height in metres."""
    cv = sc.canvas
    if pole:
        cv.face(x - 0.05, x + 0.05, 0, y, z + 0.01, (120, 122, 125), key=z + 0.01)
    pts = SHAPES[shape]
    if border is not None:
        cv.poly([(x + px * size * aspect, y + py * size, z) for px, py in pts], border, key=z)
        k = 0.74
    else:
        k = 1.0
    cv.poly([(x + px * size * aspect * k, y + py * size * k, z) for px, py in pts], face, key=z - 0.001)
    if glyph is not None:
        g = size * 0.28
        cv.face(x - g * aspect, x + g * aspect, y - g, y + g * 0.6, z, glyph, key=z - 0.002)


def warning_sign(sc: Frame, x: float, z: float, face=None) -> None:
    """The region's warning sign (diamond or triangle) by the road at ``(x, z)``; ``face`` overrides its colour."""
    st = sc.style
    sign(sc, x, z, 2.2, st.warning_shape, 0.55, face or st.warning_face, st.warning_border, glyph=BLACK)


def signal_head(sc: Frame, x, y, z, state: str) -> None:
    """A signal head centred at ``(x, y, z)`` showing ``state`` ("red" | "amber" | "green")."""
    cv = sc.canvas
    st = sc.style
    horiz = st.signal_horizontal
    hw, hh = (0.6, 0.22) if horiz else (0.22, 0.6)
    cv.face(x - hw, x + hw, y - hh, y + hh, z, st.signal_housing)
    on_col = {"red": (255, 40, 30), "amber": (255, 180, 20), "green": (40, 230, 150)}[state]
    for i, s in enumerate(("green", "amber", "red") if not horiz else ("red", "amber", "green")):
        dx, dy = ((i - 1) * 0.38, 0.0) if horiz else (0.0, (i - 1) * 0.38)
        lit = s == state
        col = on_col if lit else (40, 40, 40)
        cv.ellipse(x + dx, y + dy, z - 0.01, 0.14, 0.14, col, key=z - 0.01, emissive=lit)
        if lit:
            cv.glow(x + dx, y + dy, z, 0.35, on_col, 0.3 + 0.9 * sc.look.lights)


def signal(sc: Frame, x_kerb: float, z: float, x_lane: float, state: str | None = None) -> None:
    """Traffic signal at the kerb ``x_kerb`` controlling the lane at ``x_lane``, in the region's mounting."""
    cv = sc.canvas
    state = state or sc.pick(("red", "red", "amber", "green", "green"))
    st = sc.style
    pole = (70, 72, 74) if st.signal_mount != "overhead" else (150, 152, 150)
    if st.signal_mount == "pole":
        cv.face(x_kerb - 0.07, x_kerb + 0.07, 0, 3.4, z + 0.02, pole, key=z + 0.02)
        signal_head(sc, x_kerb, 3.6, z, state)
    else:
        cv.face(x_kerb - 0.12, x_kerb + 0.12, 0, 6.2, z + 0.02, pole, key=z + 0.02)
        d = 1.0 if x_kerb > x_lane else -1.0
        cv.line((x_kerb, 6.0, z + 0.02), (x_lane - 1.5 * d, 6.0, z + 0.02), 0.15, pole, key=z + 0.02)
        yh = 5.3 if st.signal_mount == "mast" else 5.8
        signal_head(sc, x_lane, yh, z, state)
        signal_head(sc, x_lane + 3.5 * d, yh, z, state)


def crossbuck(sc: Frame, x: float, z: float) -> None:
    """Railway-crossing sign: an X of two boards on a post with a pair of red lamps."""
    cv = sc.canvas
    face, border = sc.style.crossbuck
    post = border if sc.style.mirror < 0 else (200, 200, 200)
    cv.face(x - 0.08, x + 0.08, 0, 4.0, z + 0.02, post, key=z + 0.02)
    if sc.style.mirror < 0:  # yellow-black banded post
        for y in np.arange(0.3, 2.2, 0.6):
            cv.face(x - 0.09, x + 0.09, float(y), float(y) + 0.3, z + 0.01, face, key=z + 0.01)
    for sgn in (-1, 1):
        c, s = math.cos(sgn * math.pi / 4.6), math.sin(sgn * math.pi / 4.6)
        for half_l, half_w, col, dk in ((0.78, 0.14, border, 0.0), (0.74, 0.1, face, 0.001)):
            pts = [
                (x + c * i * half_l - s * j * half_w, 3.4 + s * i * half_l + c * j * half_w, z)
                for i, j in ((-1, -1), (1, -1), (1, 1), (-1, 1))
            ]
            cv.poly(pts, col, key=z - dk - (0.002 if sgn > 0 else 0))
    cv.face(x - 0.55, x + 0.55, 2.35, 2.45, z - 0.003, DARK, key=z - 0.003)
    flash = sc.chance(0.5)
    for i, dx in enumerate((-0.4, 0.4)):
        on = flash and i == int(sc.rng.integers(2))
        cv.ellipse(
            x + dx, 2.4, z - 0.004, 0.16, 0.16, (255, 40, 30) if on else (70, 20, 20), key=z - 0.004, emissive=on
        )
        if on:
            cv.glow(x + dx, 2.4, z, 0.4, (255, 40, 30), 0.5 + 0.6 * sc.look.lights)


# --------------------------------------------------------------------------------------------- buildings
def tower(
    sc: Frame, side: int, xf: float, z0: float, z1: float, h: float, wall, shop: bool = True, hidden: float = 0.0
) -> None:
    """City building whose facade runs along the road at ``|x| = xf`` on ``side`` (+1 right, -1 left).

    ``hidden``: height in metres of the nearer building in front of its front face (no windows drawn there).
    """
    cv = sc.canvas
    depth = sc.u(12, 25)
    x0, x1 = (xf, xf + depth) if side > 0 else (-xf - depth, -xf)
    xs = side * xf
    cv.block(x0, x1, 0, h, z0, z1, wall)
    floors = min(int((h - 4.0) / 3.2), 14)
    glass = mix(GLASS, sc.look.sky_horizon, 0.25)
    far = z0 > 100.0  # level of detail: piers, front windows and awnings are sub-pixel there
    n = 1 if far else max(2, min(int((z1 - z0) / 4), 6))
    step = (z1 - z0) / n
    top = 4.2 + floors * 3.2
    if h > 40 and sc.chance(0.3):  # curtain wall
        cv.side_quad(xs, 4.2, top, z0 + 0.5, z1 - 0.5, glass, key=z1)
    else:  # one glass band per floor, then piers over all floors
        for k in range(floors):
            y = 4.2 + k * 3.2
            cv.side_quad(xs, y + 0.8, y + 2.3, z0 + 0.6, z1 - 0.6, glass, key=z1)
    for j in range(1, n):
        zz = z0 + j * step
        cv.side_quad(xs, 4.2, top, zz - 0.3, zz + 0.3, wall, key=z1)
    if sc.look.lights > 0.3:
        for _ in range(int(sc.rng.integers(0, min(floors * n // 3, 10) + 1))):
            y = 4.2 + int(sc.rng.integers(floors)) * 3.2
            za = z0 + int(sc.rng.integers(n)) * step + 0.5
            cv.side_quad(xs, y + 0.85, y + 2.25, za, za + step - 1.0, (255, 214, 150), emissive=True, key=z1)
    for k in range(0 if far else min(floors, 8)):
        y = 4.2 + k * 3.2
        if y + 2.3 < hidden:
            continue
        cv.face(x0 + 0.8, x1 - 0.8, y + 0.8, y + 2.3, z0 - 0.01, glass, key=z0 - 0.01)
    if shop:
        lit = sc.look.lights > 0.2
        cv.side_quad(
            xs, 0.3, 3.2, z0 + 1.0, z1 - 1.0, (255, 225, 170) if lit else scale(GLASS, 0.8), emissive=lit, key=z1
        )
        cv.side_quad(xs - side * 0.02, 3.3, 4.0, z0 + 0.5, z1 - 0.5, sc.jitter(sc.pick(BRIGHT)), key=z1)
        if sc.style.mirror < 0 and not far and sc.chance(0.8):  # vertical signboards sticking out of the facade
            for _ in range(int(sc.rng.integers(1, 4))):
                zs = sc.u(z0 + 1, z1 - 1)
                xo = xs - side * 0.2
                x_in = xo - side * 0.9
                ya = sc.u(4.5, min(h - 2, 16))
                col = sc.pick(BRIGHT)
                cv.poly(
                    [(xo, ya, zs), (x_in, ya, zs), (x_in, ya + 4, zs), (xo, ya + 4, zs)],
                    col,
                    key=zs,
                    emissive=sc.look.lights > 0.3,
                )


def house(sc: Frame, side: int, xf: float, z0: float, z1: float, walls: tuple[RGB, ...] | None = None) -> None:
    """Small house at ``|x| >= xf`` on ``side``, long side along the road, pitched roof.

    ``walls``: the wall colours to pick from (default: the region's ``house_walls``).
    """
    cv = sc.canvas
    st = sc.style
    depth = sc.u(7, 11)
    wall_h = sc.u(2.8, 3.2) * (2 if sc.chance(0.6) else 1)
    roof_h = depth * sc.u(0.25, 0.45)
    wall = sc.jitter(sc.pick(st.house_walls if walls is None else walls), 0.06)
    roof = SNOW if sc.look.snow else sc.jitter(sc.pick(st.roofs), 0.1)
    hip = sc.chance(st.hip_roof)
    xi, xo, xr = side * xf, side * (xf + depth), side * (xf + depth / 2)
    x0, x1 = min(xi, xo), max(xi, xo)
    cv.block(x0, x1, 0, wall_h, z0, z1, wall)
    e = side * 0.5
    top = wall_h + roof_h
    inset = depth / 2 if hip else 0.0
    cv.poly(
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
        cv.poly(
            [(xi - e, wall_h - 0.1, z0 - 0.4), (xo + e, wall_h - 0.1, z0 - 0.4), (xr, top, z0 - 0.4 + inset)],
            scale(roof, 0.85),
            key=z0 - 0.4,
        )
    else:
        cv.poly([(xi, wall_h, z0), (xo, wall_h, z0), (xr, top, z0)], wall, key=z0 - 0.01)
        cv.line((xi - e, wall_h - 0.1, z0 - 0.4), (xr, top + 0.1, z0 - 0.4), 0.25, roof, key=z0 - 0.4)
        cv.line((xo + e, wall_h - 0.1, z0 - 0.4), (xr, top + 0.1, z0 - 0.4), 0.25, roof, key=z0 - 0.4)
    lit = sc.look.lights > 0.3
    n = max(1, int((z1 - z0) / 3.5))
    for k in range(n):
        zc = z0 + (k + 0.5) * (z1 - z0) / n
        for y in (1.0, 4.0) if wall_h > 4 else (1.0,):
            on = lit and sc.chance(0.4)
            cv.side_quad(
                xi, y, y + 1.3, zc - 0.6, zc + 0.6, (255, 210, 140) if on else GLASS, emissive=on, key=z1 + 0.4
            )
    cv.face(x0 + depth * 0.3, x1 - depth * 0.3, 1.0, 2.2, z0 - 0.01, GLASS, key=z0 - 0.02)


# -------------------------------------------------------------------------------------------- road works
def cone(sc: Frame, x: float, z: float) -> None:
    """A traffic cone at ``(x, z)`` in the region's colours."""
    cv = sc.canvas
    body, band = sc.style.cone
    cv.face(x - 0.3, x + 0.3, 0, 0.06, z, DARK)
    cv.poly([(x - 0.22, 0.05, z), (x + 0.22, 0.05, z), (x, 0.95, z)], body, key=z - 0.001)
    cv.poly([(x - 0.135, 0.4, z), (x + 0.135, 0.4, z), (x + 0.09, 0.6, z), (x - 0.09, 0.6, z)], band, key=z - 0.002)


def barrel(sc: Frame, x: float, z: float) -> None:
    """A road-works barrel at ``(x, z)``, with a warning lamp that glows after dark."""
    cv = sc.canvas
    body, band = sc.style.cone
    cv.block(x - 0.3, x + 0.3, 0, 1.0, z, z + 0.6, body)
    for y in (0.25, 0.6):
        cv.face(x - 0.3, x + 0.3, y, y + 0.15, z - 0.01, band, key=z - 0.01)
    if sc.look.lights > 0.3:
        cv.glow(x, 1.05, z, 0.25, (255, 170, 30), 0.7)


def stripe_board(sc: Frame, x0: float, x1: float, y0: float, y1: float, z: float, n: int = 6) -> None:
    """Striped barrier board (construction barricade, level-crossing arm) facing the camera."""
    cv = sc.canvas
    a, b = sc.style.stripes
    step = (x1 - x0) / n
    for i in range(n):
        xa = x0 + i * step
        cv.poly(
            [(xa, y0, z), (xa + step, y0, z), (xa + step, y1, z), (xa, y1, z)],
            a if i % 2 == 0 else b,
            key=z - 0.001 * i,
        )
