"""Domain randomisation of the driving renderer (``render.randomise``): off at level 0, deterministic, scene-preserving.

Level 0 is the plain renderer byte for byte (``test_driving_render_golden.py`` pins its digests; here: the same
bytes with and without the argument, the same cache file and fingerprint). At level > 0 the same seed gives the same
frame, the scene's geometry is that of level 0, and each effect is checked on a controlled image for the property it
is meant to have.
"""

from __future__ import annotations

import math
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

from metasuite.core.evaluation import recorded_options
from metasuite.core.options import OptionError
from metasuite.domains.driving.domain import DrivingDomain
from metasuite.domains.driving.render import Environment, cached_pool, render_pool, render_scene, renderer_fingerprint
from metasuite.domains.driving.render.api import build_frame
from metasuite.domains.driving.render.randomise import (
    BLUR_P,
    MATERIALS,
    MAX_LEVEL,
    Randomiser,
    defocus,
    hsv_jitter,
    jpeg,
    motion_blur,
    photometric,
    sensor_noise,
    texture,
    value_noise,
    vignette,
    warp,
)
from metasuite.domains.driving.render.styles import STYLES, look_for

ENV = Environment("clear", "daytime", "europe")
NIGHT = Environment("rainy", "night", "japan")
SIZE = 32


# ------------------------------------------------------------------------------------------- the renderer
def test_level_zero_renders_the_plain_frames_with_the_plain_cache_file_and_fingerprint(tmp_path: Path) -> None:
    for scene in ("tunnel", "city street"):
        np.testing.assert_array_equal(render_scene(scene, ENV, 3, SIZE, randomise=0), render_scene(scene, ENV, 3, SIZE))
    assert renderer_fingerprint(0.0) == renderer_fingerprint()
    cached_pool(ENV, 1, 16, seed=2, cache_dir=tmp_path, randomise=0)
    assert [p.name for p in tmp_path.iterdir()] == ["driving-render-v1_clear-daytime-europe_n1_s16_seed2.npy"]


@pytest.mark.parametrize("env", [ENV, NIGHT], ids=lambda e: e.name)
def test_randomised_frames_are_deterministic_per_seed_valid_and_differ_from_level_zero(env: Environment) -> None:
    for scene in ("highway", "tunnel", "construction zone"):
        a = render_scene(scene, env, 11, SIZE, randomise=1.0)
        assert a.shape == (SIZE, SIZE, 3) and a.dtype == np.uint8
        np.testing.assert_array_equal(a, render_scene(scene, env, 11, SIZE, randomise=1.0))
        plain = render_scene(scene, env, 11, SIZE)
        assert np.abs(a.astype(int) - plain.astype(int)).mean() > 2.0
        assert not np.array_equal(a, render_scene(scene, env, 12, SIZE, randomise=1.0))
        assert not np.array_equal(a, render_scene(scene, env, 11, SIZE, randomise=0.5))


def test_randomisation_changes_the_appearance_not_the_scene() -> None:
    """Same seed: every primitive has the same kind, layer, depth and pixel geometry as at level 0, every lamp the
    same position; only colours (and the look's sky, fog and visibility, hence the size of lamp halos) differ."""
    for scene in ("tunnel", "roundabout", "railway crossing", "gas station"):
        plain, dr = build_frame(scene, NIGHT, 5, SIZE), build_frame(scene, NIGHT, 5, SIZE, randomise=1.0)
        assert dr.randomiser is not None and plain.randomiser is None
        assert [it[:5] for it in dr.canvas.items] == [it[:5] for it in plain.canvas.items]
        assert [g[:2] for g in dr.canvas.glows] == [g[:2] for g in plain.canvas.glows]  # (haze sizes them)
        assert dr.canvas.beams == plain.canvas.beams
        assert [it.rgb for it in dr.canvas.items] != [it.rgb for it in plain.canvas.items]
        assert (dr.look.lights, dr.look.wet, dr.look.snow) == (plain.look.lights, plain.look.wet, plain.look.snow)
        assert dr.camera == plain.camera and dr.exposure == plain.exposure


def test_levels_out_of_range_are_refused_with_the_range() -> None:
    for bad in (-0.1, MAX_LEVEL + 0.5, float("nan")):
        with pytest.raises(ValueError, match="between 0"):
            render_scene("highway", ENV, 0, SIZE, randomise=bad)
        with pytest.raises(OptionError, match="randomise"):
            DrivingDomain(randomise=bad)


def test_fingerprint_and_cache_key_differ_by_level(tmp_path: Path) -> None:
    prints = {level: renderer_fingerprint(level) for level in (0.0, 0.5, 1.0)}
    assert len(set(prints.values())) == 3
    pools = {level: cached_pool(ENV, 1, 16, seed=2, cache_dir=tmp_path, randomise=level) for level in (0.0, 0.5, 1.0)}
    names = sorted(p.name for p in tmp_path.glob("*.npy"))
    assert len(names) == 3 and any("driving-dr-v1-L0.5_" in n for n in names) and any("-L1_" in n for n in names)
    assert not np.array_equal(pools[0.0], pools[1.0]) and not np.array_equal(pools[0.5], pools[1.0])
    np.testing.assert_array_equal(cached_pool(ENV, 1, 16, seed=2, cache_dir=tmp_path, randomise=0.5), pools[0.5])
    np.testing.assert_array_equal(pools[1.0], render_pool(ENV, 1, 16, seed=2, randomise=1.0))


def test_the_domain_option_enters_fingerprint_options_and_pools(tmp_path: Path) -> None:
    plain, zero = DrivingDomain(cache_dir=str(tmp_path)), DrivingDomain(cache_dir=str(tmp_path), randomise=0)
    dr = DrivingDomain.from_options({"cache_dir": str(tmp_path), "randomise": "1", "images_per_class": 2})
    assert zero.fingerprint() == plain.fingerprint() and "randomise" not in zero.options
    assert dr.options["randomise"] == 1.0 and dr.fingerprint() != DrivingDomain(images_per_class=2).fingerprint()
    task = dr.sampler("val", n_way=5, k_shot=1, n_query=1).sample(__import__("torch").Generator().manual_seed(0))
    assert task.support_x.shape == (5, 3, 48, 48) and bool(task.support_x.isfinite().all())
    # a checkpoint trained with randomisation is scored on the plain frames when randomise=0 is given
    options, notes = recorded_options(DrivingDomain, [{"path": "ckpt", "domain_options": dr.options}], {"randomise": 0})
    assert options["randomise"] == 0 and any("overrides randomise=1.0" in n for n in notes)
    assert DrivingDomain(**options).fingerprint() == DrivingDomain(images_per_class=2).fingerprint()


def test_checkpoints_recording_the_same_settings_differently_are_not_reported_as_different() -> None:
    older = {"path": "old", "domain_options": {}}  # an older card records only what was set
    newer = {"path": "new", "domain_options": {"data_dir": None, "hidden": 32, "image_size": 48}}
    other = {"path": "other", "domain_options": {"hidden": 64}}
    assert recorded_options(DrivingDomain, [older, newer], {})[1] == []
    _, notes = recorded_options(DrivingDomain, [older, newer, other], {})
    assert len(notes) == 1 and notes[0].startswith("other was trained with other domain options than old")


def test_mix_plain_pools_hold_the_plain_frames_then_the_randomised_ones(tmp_path: Path) -> None:
    common = {"cache_dir": str(tmp_path), "images_per_class": 1}
    plain, dr = DrivingDomain(**common).pool("val"), DrivingDomain(randomise=1, **common).pool("val")
    mixed_domain = DrivingDomain.from_options({**common, "randomise": "1", "mix_plain": "true"})
    mixed = mixed_domain.pool("val")
    assert mixed.keys() == plain.keys()
    for env in mixed:
        for c, frames in mixed[env].items():
            assert frames.shape[0] == 2  # twice the frames
            np.testing.assert_array_equal(frames, np.concatenate([plain[env][c], dr[env][c]]))
    assert mixed_domain.options["mix_plain"] is True
    assert mixed_domain.fingerprint() != DrivingDomain(randomise=1, **common).fingerprint()
    with pytest.raises(OptionError, match=r"mix_plain.*randomise > 0"):
        DrivingDomain(mix_plain=True)


def test_magnitudes_scale_with_the_level_and_every_camera_effect_fires() -> None:
    half, full = Randomiser(7, 0.5).draws, Randomiser(7, 1.0).draws
    assert math.isclose(half.lens_k, full.lens_k / 2) and math.isclose(half.skew, full.skew / 2)
    assert math.isclose(math.log(half.exposure), math.log(full.exposure) / 2)
    assert half.blur == full.blur and (half.jpeg_quality is None) == (full.jpeg_quality is None)
    draws = [Randomiser(seed, 1.0).draws for seed in range(300)]
    blurs = [sum(d.blur == kind for d in draws) / len(draws) for kind in ("none", "defocus", "motion")]
    assert all(abs(f - p) < 0.1 for f, p in zip(blurs, BLUR_P))
    assert 0.35 < np.mean([d.skew != 0 for d in draws]) < 0.65
    assert 0.55 < np.mean([d.jpeg_quality is not None for d in draws]) < 0.85
    assert min(d.lens_k for d in draws) < -0.1 and max(d.lens_k for d in draws) > 0.1  # pincushion and barrel
    assert min(d.crop_scale for d in draws) < 0.85 and all(0.5 <= d.crop_scale <= 1.0 for d in draws)
    qualities = [d.jpeg_quality for d in draws if d.jpeg_quality is not None]
    assert min(qualities) < 30 and max(qualities) <= 95
    with pytest.raises(ValueError, match="level > 0"):
        Randomiser(0, 0.0)


# ------------------------------------------------------------------------------------------- palettes
def test_hsv_jitter_rotates_hue_and_scales_saturation_and_value() -> None:
    assert np.allclose(hsv_jitter((255, 0, 0), 1 / 3, 1.0, 1.0), (0, 255, 0), atol=1e-6)
    assert np.allclose(hsv_jitter((200, 100, 100), 0.0, 0.0, 1.0), (200, 200, 200), atol=1e-6)
    assert np.allclose(hsv_jitter((200, 100, 100), 0.0, 1.0, 0.5), (100, 50, 50), atol=1e-6)


def test_style_jitter_recolours_materials_only() -> None:
    style = STYLES["north_america"]
    new = Randomiser(3, 1.0).style(style)
    for f in fields(style):
        before, after = getattr(style, f.name), getattr(new, f.name)
        if f.name in MATERIALS:
            assert after != before and len(np.ravel(after)) == len(np.ravel(before)), f.name
        else:
            assert after == before, f"{f.name}: safety colours and structure are kept"


def test_sky_and_colour_remap_are_per_frame_consistent_and_tint_greys() -> None:
    look = look_for(ENV, np.random.default_rng(0))
    r = Randomiser(4, 1.0)
    sky = r.look(look)
    assert sky.sky_top != look.sky_top and sky.fog != look.fog and sky.visibility != look.visibility
    assert (sky.lights, sky.noise, sky.wet, sky.contrast) == (look.lights, look.noise, look.wet, look.contrast)
    red = (200.0, 40.0, 40.0)
    assert r.colour(red) == r.colour(red) and r.colour(red) != red
    greys = [r.colour((v, v, v)) for v in (30.0, 90.0, 150.0, 220.0)]
    assert any(max(c) - min(c) > 1.0 for c in greys)  # some band tinted
    # two different hues move differently (per-sector draws), not by one global shift
    shift = [np.subtract(hsv_of(r.colour(c)), hsv_of(c))[0] % 1.0 for c in ((200.0, 40.0, 40.0), (40.0, 40.0, 200.0))]
    assert abs(shift[0] - shift[1]) > 1e-3


def hsv_of(rgb: tuple[float, float, float]) -> tuple[float, float, float]:
    import colorsys

    return colorsys.rgb_to_hsv(*(c / 255.0 for c in rgb))


# ------------------------------------------------------------------------------------------- textures
def test_textures_pattern_their_surface_and_leave_plain_ones_alone() -> None:
    size = 64
    image = np.full((size, size, 3), 120.0, dtype=np.float32)
    labels = np.zeros((size, size), dtype=np.int64)
    labels[:, 20:40] = 1
    labels[:, 40:] = 2
    noise = [value_noise(np.random.default_rng(0), size, 8), np.zeros((size, size), np.float32)]
    out = texture(
        image,
        labels,
        kind=np.array([0, 1, 2]),
        amplitude=np.array([0.3, 0.3, 0.3], np.float32),
        period=np.array([8.0, 8.0, 8.0], np.float32),
        angle=np.array([0.0, 0.0, 0.0], np.float32),
        phase=np.zeros(3, np.float32),
        square=np.array([False, True, False]),
        noise=noise,
        noise_pick=np.array([0, 0, 0]),
    )
    np.testing.assert_array_equal(out[:, :20], image[:, :20])  # plain
    stripes = out[0, 20:40, 0]
    assert set(np.round(stripes).tolist()) == {84.0, 156.0}  # square wave: 120 * (1 +- 0.3)
    np.testing.assert_array_equal(out[:, 20:40], out[:1, 20:40].repeat(size, 0))  # vertical stripes (angle 0)
    assert out[:, 40:, 0].std() > 5.0 and abs(out[:, 40:, 0].mean() - 120) < 20  # noise
    field = value_noise(np.random.default_rng(1), 48, 6)
    assert field.shape == (48, 48) and np.isclose(np.abs(field).max(), 1.0)


def test_randomised_compose_textures_surfaces_of_a_flat_colour() -> None:
    """The road of a highway is one flat colour at level 0; with randomisation its pixels vary more on some frames."""
    from metasuite.domains.driving.render.finish import compose

    spreads = []
    for seed in range(6):
        plain = np.asarray(compose(build_frame("highway", ENV, seed, SIZE)), dtype=np.float32)
        dr = np.asarray(compose(build_frame("highway", ENV, seed, SIZE, randomise=1.0)), dtype=np.float32)
        rows = slice(int(SIZE * 1.7), SIZE * 2 - 4)  # near road, under the hood line
        cols = slice(SIZE - 4, SIZE + 4)
        spreads.append((plain[rows, cols].std(), dr[rows, cols].std()))
    assert any(d > p + 3.0 for p, d in spreads)


# ------------------------------------------------------------------------------------------- camera effects
def _checker(size: int = 32, cell: int = 4) -> np.ndarray:
    u = (np.arange(size) // cell) % 2
    board = (u[None, :] ^ u[:, None]).astype(np.float32) * 200.0 + 20.0
    return np.repeat(board[..., None], 3, axis=2)


def test_warp_is_identity_at_defaults_and_crops_distorts_and_skews() -> None:
    img = _checker()
    assert warp(img) is img
    square = np.zeros((32, 32, 3), np.float32)
    square[12:20, 12:20] = 255.0
    zoomed = warp(square, crop_scale=0.5)
    assert (zoomed[..., 0] > 128).sum() == pytest.approx(4 * (square[..., 0] > 128).sum(), rel=0.15)
    line = np.zeros((33, 33, 3), np.float32)
    line[4] = 255.0  # a straight horizontal line near the top
    rows = {}
    for k in (0.3, -0.3):
        out = warp(line, lens_k=k)[..., 0]
        rows[k] = (out[:, 16].argmax(), out[:, 1].argmax())  # row of the line at the centre and at the edge column
    assert rows[0.3][1] > rows[0.3][0]  # barrel: the line bows outwards (its ends bend towards the centre row)
    assert rows[-0.3][1] < rows[-0.3][0]  # pincushion: the other way
    vertical = np.zeros((32, 32, 3), np.float32)
    vertical[:, 16] = 255.0
    skewed = warp(vertical, skew=0.2)[..., 0]
    assert skewed[2].argmax() - skewed[29].argmax() >= 4  # rolling shutter: the vertical line slants


def test_defocus_and_motion_blur() -> None:
    img = _checker()
    soft = defocus(img, 1.5)
    assert defocus(img, 0.0) is img and soft.std() < 0.5 * img.std() and abs(soft.mean() - img.mean()) < 1.0
    rows = np.zeros((32, 32, 3), np.float32)
    rows[::4] = 255.0  # horizontal lines
    cols = np.transpose(rows, (1, 0, 2)).copy()  # vertical lines
    np.testing.assert_allclose(motion_blur(rows, 6.0, 0.0), rows, atol=1e-3)  # blur along the lines: unchanged
    assert motion_blur(cols, 6.0, 0.0).std() < 0.5 * cols.std()  # across them: smeared
    assert motion_blur(img, 0.5, 0.0) is img


def test_photometric_exposure_white_balance_contrast_saturation_gamma() -> None:
    rng = np.random.default_rng(0)
    img = rng.uniform(40, 200, (16, 16, 3)).astype(np.float32)
    np.testing.assert_allclose(photometric(img), img, atol=1e-3)
    assert photometric(img, exposure=0.5).mean() == pytest.approx(img.mean() / 2, rel=1e-3)
    warm = photometric(img, white_balance=(1.2, 1.0, 0.8))
    assert warm[..., 0].mean() > img[..., 0].mean() and warm[..., 2].mean() < img[..., 2].mean()
    assert photometric(img, contrast=0.5).std() < 0.6 * img.std()
    grey = photometric(img, saturation=0.0)
    np.testing.assert_allclose(grey[..., 0], grey[..., 1], atol=1e-3)
    assert photometric(img, gamma=0.7).mean() > img.mean() > photometric(img, gamma=1.4).mean()


def test_vignette_darkens_away_from_its_centre() -> None:
    img = np.full((33, 33, 3), 200.0, np.float32)
    out = vignette(img, 0.6)
    assert out[16, 16, 0] == pytest.approx(200.0, abs=1.0) and out[0, 0, 0] < 0.5 * 200.0
    shifted = vignette(img, 0.6, centre=(0.5, 0.0))[..., 0]
    assert shifted[16].argmax() > 20


def test_sensor_noise_has_read_and_shot_components() -> None:
    rng = np.random.default_rng(0)
    dark, bright = np.full((64, 64, 3), 10.0, np.float32), np.full((64, 64, 3), 240.0, np.float32)
    assert sensor_noise(dark, 0.0, 0.02, rng).std() == pytest.approx(0.02 * 255, rel=0.1)
    assert sensor_noise(bright, 0.05, 0.0, rng).std() > 2 * sensor_noise(dark, 0.05, 0.0, rng).std()
    assert abs(sensor_noise(bright, 0.05, 0.02, rng).mean() - 240.0) < 1.0


def test_jpeg_recompression_loses_more_at_low_quality() -> None:
    rng = np.random.default_rng(0)
    img = np.clip(defocus(rng.uniform(0, 255, (48, 48, 3)).astype(np.float32), 1.0), 0, 255).astype(np.uint8)
    errors = {q: np.abs(jpeg(img, q).astype(int) - img.astype(int)).mean() for q in (10, 50, 95)}
    assert errors[10] > errors[50] > errors[95] > 0
    assert jpeg(img, 10).shape == img.shape and jpeg(img, 10).dtype == np.uint8


def test_the_camera_applies_its_draws_and_keeps_a_valid_frame() -> None:
    frame = render_scene("bridge", ENV, 9, SIZE)
    seeds = range(8)
    outs = [Randomiser(seed, 1.0).camera(frame) for seed in seeds]
    assert all(o.shape == frame.shape and o.dtype == np.uint8 for o in outs)
    assert all(np.abs(o.astype(int) - frame.astype(int)).mean() > 1.0 for o in outs)
    np.testing.assert_array_equal(Randomiser(0, 1.0).camera(frame), outs[0])
