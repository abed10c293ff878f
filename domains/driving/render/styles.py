"""What a frame depicts and how its world looks: scene classes, environments, region styles and lighting.

Colours are 8-bit RGB triples as floats (``RGB``); lengths are metres. Nothing here draws: a region
:class:`Style` says which side traffic keeps to and how roads, signs, signals, buildings, plants and cars
look there; a :class:`Look` is the sky, ambient light, fog and sensor noise of one weather and time of day.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

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


def check_name(kind: str, value: str, valid: Sequence[str]) -> None:
    """Raise ``ValueError`` naming the valid values when ``value`` (a ``kind`` of name) is not one of them."""
    if value not in valid:
        raise ValueError(f"unknown {kind} {value!r}; choose one of: {', '.join(repr(v) for v in valid)}")


@dataclass(frozen=True)
class Environment:
    """A road environment: weather x time of day x region style; ``name`` is ``"rainy|night|europe"``."""

    weather: str
    time_of_day: str
    region: str

    def __post_init__(self) -> None:
        check_name("weather", self.weather, WEATHERS)
        check_name("time of day", self.time_of_day, TIMES_OF_DAY)
        check_name("region", self.region, REGIONS)

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
class Style:
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


WHITE, SILVER, BLACK, GREY = (235, 235, 232), (175, 178, 182), (30, 30, 34), (110, 112, 116)
STYLES: dict[str, Style] = {
    "north_america": Style(
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
        car_colours=(WHITE, SILVER, BLACK, GREY, (150, 25, 25), (30, 55, 120), (200, 190, 170), (40, 70, 50)),
        stripes=((215, 30, 30), (240, 240, 240)),
        cone=((245, 105, 20), (245, 245, 245)),
        crossbuck=((240, 240, 240), (20, 20, 20)),
    ),
    "europe": Style(
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
        car_colours=(WHITE, SILVER, BLACK, GREY, (130, 20, 30), (25, 45, 100), (60, 90, 130)),
        stripes=((210, 25, 30), (245, 245, 245)),
        cone=((235, 80, 20), (245, 245, 245)),
        crossbuck=((245, 245, 245), (205, 25, 30)),
    ),
    "japan": Style(
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
        car_colours=(WHITE, WHITE, SILVER, BLACK, GREY, (40, 60, 110), (190, 180, 160)),
        stripes=((235, 200, 20), (25, 25, 25)),
        cone=((220, 40, 30), (245, 245, 245)),
        crossbuck=((245, 205, 20), (20, 20, 20)),
    ),
}

# width, length, height in metres
CAR_DIMS = {
    "sedan": (1.8, 4.6, 1.45),
    "hatch": (1.75, 4.1, 1.5),
    "suv": (1.95, 4.8, 1.78),
    "pickup": (2.0, 5.6, 1.85),
    "van": (1.95, 5.0, 2.1),
    "kei": (1.48, 3.4, 1.75),
    "truck": (2.5, 11.0, 3.7),
    "bus": (2.55, 12.0, 3.2),
}

SNOW: RGB = (228, 232, 238)
GLASS: RGB = (45, 52, 62)  # windows and windscreens
DARK: RGB = (28, 28, 30)  # tyres, undercarriage, sign glyphs
#: Shop fronts, shirts, signboards and brands.
BRIGHT: tuple[RGB, ...] = ((200, 40, 40), (40, 90, 180), (240, 190, 40), (40, 150, 80), (230, 120, 30), (150, 60, 150))


# -------------------------------------------------------------------------------------------- lighting
@dataclass(frozen=True)
class Look:
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


def mix(a: Sequence[float], b: Sequence[float], t: float) -> RGB:
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t)


def scale(a: Sequence[float], k: float) -> RGB:
    return (a[0] * k, a[1] * k, a[2] * k)


def look_for(env: Environment, rng: np.random.Generator) -> Look:
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
        amb = scale(mix(amb, (mean, mean, mean), 0.5), dim)
    vis = {"clear": 1600.0, "overcast": 700.0, "rainy": 260.0, "snowy": 200.0, "foggy": 45.0}[w]
    contrast = {"clear": 1.0, "overcast": 0.84, "rainy": 0.82, "snowy": 0.74, "foggy": 0.8}[w]
    return Look(
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
