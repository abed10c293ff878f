"""The procedural dashcam renderer: API contract, determinism, the disk cache, and image statistics."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from metasuite.domains.driving.render import (
    ALL_ENVIRONMENTS,
    REGIONS,
    RENDERER_VERSION,
    SCENE_CLASSES,
    TIMES_OF_DAY,
    WEATHERS,
    Environment,
    cached_pool,
    render_pool,
    render_scene,
    renderer_fingerprint,
)

SIZE = 48  # small frames keep the suite fast; the drawing code is the same at 84 px
CLEAR_DAY = Environment("clear", "daytime", "north_america")


def _brightness(images: np.ndarray) -> float:
    return float(images.astype(np.float64).mean())


def _contrast(images: np.ndarray) -> float:
    """Mean per-image standard deviation of the grey level."""
    grey = images.astype(np.float64).mean(axis=-1)
    return float(grey.reshape(len(grey), -1).std(axis=1).mean())


def test_constants_cover_the_bdd100k_scenes_and_the_full_environment_product() -> None:
    bdd = {"city street", "highway", "residential", "parking lot", "tunnel", "gas station"}
    assert bdd <= set(SCENE_CLASSES) and len(SCENE_CLASSES) >= 12 and len(set(SCENE_CLASSES)) == len(SCENE_CLASSES)
    assert WEATHERS == ("clear", "overcast", "rainy", "snowy", "foggy")
    assert TIMES_OF_DAY == ("daytime", "dawn/dusk", "night")
    assert len(REGIONS) == 3
    assert len(ALL_ENVIRONMENTS) == 45 == len({e.name for e in ALL_ENVIRONMENTS})
    assert set(itertools.product(WEATHERS, TIMES_OF_DAY, REGIONS)) == {
        (e.weather, e.time_of_day, e.region) for e in ALL_ENVIRONMENTS
    }
    assert RENDERER_VERSION


def test_environment_name_round_trips_for_all_45() -> None:
    for env in ALL_ENVIRONMENTS:
        assert env.name.count("|") == 2
        assert Environment.from_name(env.name) == env


@pytest.mark.parametrize(
    ("make", "valid"),
    [
        (lambda: Environment("hail", "daytime", "europe"), "foggy"),
        (lambda: Environment("clear", "noon", "europe"), "dawn/dusk"),
        (lambda: Environment("clear", "daytime", "mars"), "japan"),
        (lambda: Environment.from_name("clear|daytime"), "weather|time_of_day|region"),
        (lambda: render_scene("motorway", CLEAR_DAY, 0, SIZE), "railway crossing"),
        (lambda: render_pool(CLEAR_DAY, 1, SIZE, classes=("highway", "beach")), "gas station"),
    ],
)
def test_bad_names_raise_value_errors_that_list_the_valid_values(make, valid: str) -> None:
    with pytest.raises(ValueError, match=valid):
        make()


def test_every_class_renders_in_contrasting_environments_with_shape_dtype_and_detail() -> None:
    envs = [
        CLEAR_DAY,
        Environment("rainy", "night", "europe"),
        Environment("snowy", "dawn/dusk", "japan"),
        Environment("foggy", "daytime", "japan"),
    ]
    for scene, env in itertools.product(SCENE_CLASSES, envs):
        img = render_scene(scene, env, seed=3, size=SIZE)
        assert img.shape == (SIZE, SIZE, 3) and img.dtype == np.uint8, (scene, env.name)
        assert img.astype(np.float64).std() > 4.0, f"{scene} in {env.name} is nearly flat"


def test_default_size_is_84() -> None:
    assert render_scene("tunnel", CLEAR_DAY, 0).shape == (84, 84, 3)


def test_same_seed_same_bytes_different_seed_different_image() -> None:
    env = Environment("overcast", "dawn/dusk", "europe")
    for scene in ("highway", "roundabout"):
        a = render_scene(scene, env, 7, SIZE)
        assert a.tobytes() == render_scene(scene, env, 7, SIZE).tobytes()
        assert np.abs(a.astype(int) - render_scene(scene, env, 8, SIZE).astype(int)).mean() > 2.0


def test_render_pool_shape_and_per_image_seeds_do_not_depend_on_the_class_list() -> None:
    env = Environment("clear", "night", "japan")
    pool = render_pool(env, 2, SIZE, seed=5, classes=("tunnel", "bridge"))
    assert pool.shape == (2, 2, SIZE, SIZE, 3) and pool.dtype == np.uint8
    alone = render_pool(env, 2, SIZE, seed=5, classes=("bridge",))
    np.testing.assert_array_equal(pool[1], alone[0])
    assert not np.array_equal(pool[1, 0], pool[1, 1])
    other_seed = render_pool(env, 2, SIZE, seed=6, classes=("bridge",))
    assert not np.array_equal(alone, other_seed)


def test_cached_pool_round_trip_then_replaces_a_corrupted_file(tmp_path: Path) -> None:
    env = Environment("rainy", "dawn/dusk", "europe")
    first = cached_pool(env, 1, 24, seed=2, cache_dir=tmp_path)
    assert first.shape == (len(SCENE_CLASSES), 1, 24, 24, 3)
    files = list(tmp_path.glob("*.npy"))
    assert len(files) == 1 and RENDERER_VERSION in files[0].name
    assert "|" not in files[0].name and "/" not in files[0].name
    stamp = files[0].stat().st_mtime_ns
    second = cached_pool(env, 1, 24, seed=2, cache_dir=tmp_path)
    np.testing.assert_array_equal(first, second)
    assert files[0].stat().st_mtime_ns == stamp, "second call should load the file, not rewrite it"
    assert not list(tmp_path.glob("*.tmp")), "atomic write left a temporary file behind"

    files[0].write_bytes(b"not a numpy file")
    with pytest.warns(UserWarning, match="re-rendering"):
        third = cached_pool(env, 1, 24, seed=2, cache_dir=tmp_path)
    np.testing.assert_array_equal(first, third)
    np.testing.assert_array_equal(np.load(files[0]), first)

    np.save(files[0], first[:, :, :12])  # readable but the wrong shape
    with pytest.warns(UserWarning, match="expected"):
        fourth = cached_pool(env, 1, 24, seed=2, cache_dir=tmp_path)
    np.testing.assert_array_equal(first, fourth)


def test_cache_files_are_keyed_by_environment_size_count_and_seed(tmp_path: Path) -> None:
    env = Environment("foggy", "night", "north_america")
    cached_pool(env, 1, 16, seed=0, cache_dir=tmp_path)
    cached_pool(env, 1, 16, seed=1, cache_dir=tmp_path)
    cached_pool(Environment("foggy", "night", "europe"), 1, 16, seed=0, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.npy"))) == 3


def test_renderer_fingerprint_is_stable_16_hex_digits() -> None:
    fp = renderer_fingerprint()
    assert len(fp) == 16 and int(fp, 16) >= 0
    renderer_fingerprint.cache_clear()
    assert renderer_fingerprint() == fp


def test_every_pair_of_classes_has_a_different_mean_image() -> None:
    env = Environment("overcast", "daytime", "europe")
    pool = render_pool(env, 8, 32, seed=11).astype(np.float64)
    means = {c: pool[i].mean(axis=0) for i, c in enumerate(SCENE_CLASSES)}
    for a, b in itertools.combinations(SCENE_CLASSES, 2):
        assert np.abs(means[a] - means[b]).mean() > 3.0, f"{a!r} and {b!r} look alike on average"


def test_night_is_darker_than_day_and_fog_flattens_contrast() -> None:
    def frames(weather: str, time: str) -> np.ndarray:
        env = Environment(weather, time, "europe")
        return render_pool(env, 2, 32, seed=4).reshape(-1, 32, 32, 3)

    assert _brightness(frames("clear", "night")) < 0.7 * _brightness(frames("clear", "daytime"))
    assert _brightness(frames("rainy", "night")) < 0.85 * _brightness(frames("rainy", "daytime"))
    assert _contrast(frames("foggy", "daytime")) < 0.85 * _contrast(frames("clear", "daytime"))


def test_region_styles_change_the_picture() -> None:
    """The same seed in another region draws another scene (drive side, palettes, signs)."""
    for scene in ("residential", "city street"):
        imgs = [render_scene(scene, Environment("clear", "daytime", r), 21, SIZE).astype(int) for r in REGIONS]
        for a, b in itertools.combinations(imgs, 2):
            assert np.abs(a - b).mean() > 5.0
