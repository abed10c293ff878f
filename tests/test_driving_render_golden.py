"""Golden frames: the renderer draws byte-identical images, pools and fingerprint as recorded.

The SHA-256 digests below were recorded from renderer version ``driving-render-v1`` (commit fb37421)
before ``domains/driving/render.py`` was split into the ``render`` package: a refactor of the renderer
must leave every one of them unchanged. A deliberate change of the pixels must bump
:data:`~metasuite.domains.driving.render.RENDERER_VERSION` (it keys the disk cache and the shipped
checkpoints' fingerprint) and then re-record these digests, the fingerprint included.

Coverage: every scene class at 48 px in ten environments (every weather, time of day and region;
seeds 0, 1, 2) and at 84 px in five (one per weather; seed 3), a highway seed that draws the noise
barrier, :func:`render_pool` over all classes and over a class subset, :func:`renderer_fingerprint`,
and the file :func:`cached_pool` writes under the default cache folder. Each digest is over the
bytes of one C-contiguous uint8 array (for a scene: its frames stacked as ``(env, seed, H, W, 3)``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from metasuite.domains.driving.render import (
    RENDERER_VERSION,
    SCENE_CLASSES,
    Environment,
    cached_pool,
    render_pool,
    render_scene,
    renderer_fingerprint,
)

RECORDED_VERSION = "driving-render-v1"
RECORDED_FINGERPRINT = "d265aea8e3d57172"

ENVS_48 = tuple(
    Environment.from_name(name)
    for name in (
        "clear|daytime|north_america",
        "clear|dawn/dusk|europe",
        "clear|night|japan",
        "overcast|dawn/dusk|north_america",
        "rainy|night|europe",
        "rainy|daytime|japan",
        "snowy|dawn/dusk|japan",
        "snowy|night|north_america",
        "foggy|daytime|europe",
        "foggy|night|japan",
    )
)
SEEDS_48 = (0, 1, 2)
ENVS_84 = tuple(
    Environment.from_name(name)
    for name in (
        "clear|dawn/dusk|north_america",
        "overcast|night|europe",
        "rainy|dawn/dusk|japan",
        "snowy|daytime|europe",
        "foggy|night|north_america",
    )
)
SEEDS_84 = (3,)
CACHED = "pool 1x16 snowy|night|europe (what cached_pool stores)"

SCENE_DIGESTS: dict[tuple[str, int], str] = {
    ("city street", 48): "1a8f68135ac8dcc054bedfe366c19fd4a127b1b4a390bafd7f86825c09fa071b",
    ("city street", 84): "ccf2644f1ceaf720c628735422daaede8bfcdbbca23972acafba1a198b775cc7",
    ("highway", 48): "ab68b10283636709323198388e24a92001a4630dd94e41349672d5407210c978",
    ("highway", 84): "ca18647cc862e416535fb2bf79ce5bdf02c502c7d08f1b3f43c3519b5c96e577",
    ("residential", 48): "47243545368306402342940d3e32a2d6f5bd566d5b4ebdf280d5a62745f488bc",
    ("residential", 84): "1445e64c0c2227ffb1fbed3a45a3b30fe5ba077d8507338a8f90fe92521fb449",
    ("parking lot", 48): "f5c3207920e8604b631714ae6c3146e436c84287acfc1e9e257c9778ea1a0eb5",
    ("parking lot", 84): "5a8c293d1778b18be48f05b05826e716d6e87623618a67c9fc798224e6f40c92",
    ("tunnel", 48): "c27c1274c3d77dc97042947a67ad31483575fa1e8e9eadfa23e812a63c8931e6",
    ("tunnel", 84): "bd92fe008433e7ba60c5d5606c113484e099a9aa8fc994aed5802891cef41aab",
    ("gas station", 48): "2b4766832e49f9abed7ecf7d79345573dfcaaa1fa1c4b640907bddfa38569f95",
    ("gas station", 84): "96150a6d391ebe012eb3e021680571ba40678c1487f3078a197f324acd729bdd",
    ("intersection", 48): "6c870433983f67a0f3d6d74e3beee05f3b1b9d9eb58b7c527d91a959b82bcdf7",
    ("intersection", 84): "0c3a373975c8d4bfb0febc0fa6d7e45dc2b8dda13c9d538cd8383e0e1d7bcc91",
    ("roundabout", 48): "d9ebb9f80487f85bcbed41d27f0560e56c948d460fe8402c0842dcb5312ddc31",
    ("roundabout", 84): "892c7b5335d6cea54973eb7618a5aebac53937b4a8746d45d6704814e45bf1a2",
    ("bridge", 48): "0e2e49f268624ab7b429b6145c0ee773854523520779fe869522de6a19f668c6",
    ("bridge", 84): "172ce06f047480505519373bb63e7d718533f5855aafe502d25e8c8168bb181e",
    ("rural road", 48): "33ecbe400c582da62cd74aa55f30dd0ee5c14a67bf441098a940324afde1ebd4",
    ("rural road", 84): "bedfff27f103a1947b76580fc85dc7537e294e70563921dbb0151449f561ee57",
    ("construction zone", 48): "e83159238bf1a76fa1b14feddb158ba32de8b04d648ad20178a4c5d59722e9bc",
    ("construction zone", 84): "0a86c25c909d23d4ef63c0aef437fef74bcf3ad83e1a32954806e9fb9ef19b70",
    ("railway crossing", 48): "d9006308b9280aa15faa602ca6f16e5d70bc7bcff1d989de0fd67a98ac1c7db8",
    ("railway crossing", 84): "2dd04dd9256bbd5189bf8c1f87619d59ba14c1b36479d96309d99eefc94e719a",
}
#: render_pool() batches and single frames that take rare branches, by name (see ``_batches``)
BATCH_DIGESTS: dict[str, str] = {
    "pool 2x48 overcast|daytime|europe": "3690ed21cfa6808e7cffd5dbb3f986653b5c2d1742e4dd47f8f590ba2a936c39",
    "pool 2x84 tunnel+bridge clear|night|japan": "49f59f9da13daf31c6a23c17c6e1c427fa00c6185e7489646009bf94ba56de1f",
    "highway with noise barrier": "6ad961540e2328393fe36a89ee80715fcc339985dd9c8822748ddb102c07370e",
    CACHED: "c8d278a99c96aadd65060d9331d1e069963fae5a96dc035fe4a3a522e4ae4d28",
}


def _sha(arr: np.ndarray) -> str:
    assert arr.dtype == np.uint8
    return hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()


def _scene_frames(scene: str, size: int) -> np.ndarray:
    """uint8 ``(n_env, n_seed, size, size, 3)``: ``scene`` in the golden environments and seeds for ``size``."""
    envs, seeds = (ENVS_48, SEEDS_48) if size == 48 else (ENVS_84, SEEDS_84)
    return np.stack([np.stack([render_scene(scene, env, s, size) for s in seeds]) for env in envs])


def _batches() -> dict[str, np.ndarray]:
    return {
        "pool 2x48 overcast|daytime|europe": render_pool(Environment("overcast", "daytime", "europe"), 2, 48, seed=5),
        "pool 2x84 tunnel+bridge clear|night|japan": render_pool(
            Environment("clear", "night", "japan"), 2, 84, seed=7, classes=("tunnel", "bridge")
        ),
        "highway with noise barrier": render_scene("highway", Environment("clear", "daytime", "north_america"), 8, 48),
        CACHED: render_pool(Environment("snowy", "night", "europe"), 1, 16, seed=3),
    }


def test_renderer_version_and_fingerprint_are_as_recorded() -> None:
    assert RENDERER_VERSION == RECORDED_VERSION, "RENDERER_VERSION changed: re-record the golden digests"
    renderer_fingerprint.cache_clear()
    assert renderer_fingerprint() == RECORDED_FINGERPRINT


@pytest.mark.parametrize("size", [48, 84])
@pytest.mark.parametrize("scene", SCENE_CLASSES)
def test_every_scene_class_renders_the_recorded_bytes(scene: str, size: int) -> None:
    assert _sha(_scene_frames(scene, size)) == SCENE_DIGESTS[scene, size]


def test_render_pool_and_rare_branches_render_the_recorded_bytes() -> None:
    assert {name: _sha(arr) for name, arr in _batches().items()} == BATCH_DIGESTS


def test_cached_pool_writes_the_recorded_file_under_the_default_cache_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("METASUITE_CACHE", str(tmp_path))
    env = Environment("snowy", "night", "europe")
    arr = cached_pool(env, 1, 16, seed=3)
    path = tmp_path / "driving" / f"{RECORDED_VERSION}_snowy-night-europe_n1_s16_seed3.npy"
    assert [p.name for p in (tmp_path / "driving").iterdir()] == [path.name]
    np.testing.assert_array_equal(np.load(path), arr)
    assert _sha(arr) == BATCH_DIGESTS[CACHED]
