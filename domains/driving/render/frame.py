"""The state of one frame being built, and the random draws that build it.

Everything random in a frame comes from one ``numpy.random.Generator``, consumed in a fixed order: the
look, the camera, the traffic density, then the scene code's draws. :meth:`Frame.u`, :meth:`Frame.pick`,
:meth:`Frame.jitter` and :meth:`Frame.chance` share a buffer of uniforms drawn 256 at a time; scene code
also calls ``rng`` directly (``integers``, ``random``), so the order of all these calls is part of the
output: reordering them changes the pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from metasuite.domains.driving.render.canvas import Camera, Canvas
from metasuite.domains.driving.render.styles import RGB, STYLES, Environment, look_for

if TYPE_CHECKING:
    from metasuite.domains.driving.render.randomise import Randomiser


class Frame:
    """One frame being built: environment, region style, lighting, dashcam, display list and random draws.

    Scene code may change ``look`` (a tunnel's lamps), ``ground`` (the terrain colour wherever nothing else
    is drawn), ``exposure`` (the gain the finish applies), ``density`` (traffic, 0..1) and, through
    ``camera`` and ``canvas``, the road's curvature and the light primitives are shaded under.

    A ``randomiser`` (domain randomisation, :mod:`.randomise`) re-colours the region style, the sky and every lit
    surface; it draws from its own generator, so ``rng``'s draws -- the scene -- are those of a plain frame.
    """

    def __init__(self, env: Environment, rng: np.random.Generator, size: int, randomiser: Randomiser | None = None):
        self.env, self.rng, self.randomiser = env, rng, randomiser
        self.style = STYLES[env.region]
        self.look = look_for(env, rng)
        if randomiser is not None:
            self.style, self.look = randomiser.style(self.style), randomiser.look(self.look)
        self.camera = Camera.from_rng(rng, size)
        self.canvas = Canvas.under(self.look, self.camera, self.style.mirror)
        if randomiser is not None:
            self.canvas.palette = randomiser.colour
        self.ground: RGB = (104, 116, 76)
        # dashcams raise their gain in the dark: brighter, noisier frames
        self.exposure = {"daytime": 1.0, "dawn/dusk": 1.15, "night": 1.5}[env.time_of_day]
        self.density = 0.5  # traffic density, drawn per frame
        self._rand: list[float] = []
        self._ri = 0

    def _r(self) -> float:
        """Next uniform [0, 1) number from the frame's generator (drawn in blocks: per-call numpy overhead adds up)."""
        if self._ri >= len(self._rand):
            self._rand, self._ri = self.rng.random(256).tolist(), 0
        self._ri += 1
        return self._rand[self._ri - 1]

    def pick(self, options: Sequence[Any]) -> Any:
        """One of ``options``, uniformly."""
        return options[int(self._r() * len(options))]

    def jitter(self, rgb: Sequence[float], amount: float = 0.1) -> RGB:
        """``rgb`` scaled by a uniform factor in ``1 +- amount``."""
        k = 1.0 + amount * (2.0 * self._r() - 1.0)
        return (rgb[0] * k, rgb[1] * k, rgb[2] * k)

    def u(self, a: float, b: float) -> float:
        """Uniform in ``[a, b)``."""
        return a + (b - a) * self._r()

    def chance(self, p: float) -> bool:
        """True with probability ``p``."""
        return self._r() < p
