"""Procedural dashcam frames: 12 driving-scene classes in 45 road environments (numpy + PIL, no downloads).

A frame is drawn in world units (metres) through a pinhole dashcam whose height, pitch, yaw, roll and
focal length are drawn per image, at twice the output size with PIL ``ImageDraw``, then box-downsampled.
Far-to-near painter's ordering; distance fog per object and per ground pixel; lights, rain, snow, blur,
exposure, gamma and sensor noise are applied on the output grid.

World axes: ``x`` metres to the right of the camera axis *in right-hand traffic*, ``y`` metres above
the road, ``z`` metres ahead. Left-hand regions mirror ``x`` (the ego lane, the oncoming traffic and
the roadside furniture swap sides), so scene code is written once.

Everything random comes from one ``numpy.random.default_rng(seed)``: the same arguments always give
the same bytes. Bump :data:`RENDERER_VERSION` whenever output pixels change (it keys the disk cache),
and re-record the digests in ``tests/test_driving_render_golden.py``.

Domain randomisation (Tobin et al. 2017; Tremblay et al. 2018): ``randomise=L`` (:func:`render_scene`,
:func:`render_pool`, :func:`cached_pool`; the driving domain's ``randomise`` option) draws per frame, from
its own generator seeded by the frame's seed, random palettes (region materials, sky, a hue-sector remap of
every lit colour), screen-space stripe / noise textures per surface colour, crop and scale, lens distortion,
rolling-shutter skew, defocus or motion blur, exposure, white balance, contrast, saturation, gamma,
vignetting, sensor noise and JPEG re-compression; the scene -- layout, traffic, camera pose, weather, hence
the label -- is that of level 0. Magnitudes scale with ``L`` (1 standard, at most 2). Level 0 is the plain
renderer, byte for byte; ``L`` > 0 keys the cache and the fingerprint with ``L`` and
:data:`~.randomise.RANDOMISATION_VERSION` (bump that when randomised pixels change). See :mod:`.randomise`.

Modules: :mod:`.styles` (scene classes, environments, region styles, lighting),
:mod:`.frame` (one frame's state and random draws), :mod:`.canvas` (dashcam and display list),
:mod:`.props` (vehicles, people, trees, lamps, signs, signals, buildings), :mod:`.layout` (roads, traffic,
terrain), the scenes in :mod:`.town`, :mod:`.open_road` and :mod:`.hazards`, :mod:`.finish` (rasterising
and the sensor), :mod:`.randomise` (domain randomisation) and :mod:`.api` (rendering frames and pools, the
disk cache, the fingerprint).
"""

from metasuite.domains.driving.render.api import (
    RENDERER_VERSION,
    cached_pool,
    render_pool,
    render_scene,
    renderer_fingerprint,
)
from metasuite.domains.driving.render.styles import (
    ALL_ENVIRONMENTS,
    REGIONS,
    SCENE_CLASSES,
    TIMES_OF_DAY,
    WEATHERS,
    Environment,
)

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
