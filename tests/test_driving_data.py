"""Real-data path of the driving domain: image folders, BDD100K labels, pool cache.

Fixtures are tiny images the tests write themselves; the real-photo tests read
``../shared/data/driving-day-night`` (skipped only when that folder is absent).
"""

from __future__ import annotations

import json
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from metasuite.core.errors import DataError
from metasuite.domains.driving.data import (
    IMAGE_EXTENSIONS,
    KEY_SEPARATOR,
    MAX_IMAGE_PIXELS,
    load_bdd100k,
    load_image,
    load_image_folder,
    load_pool,
    pool_summary,
    save_pool,
)

SIZE = 12
RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)
REAL_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "driving-day-night"


def _write(path: Path, color: tuple[int, int, int] = RED, mode: str = "RGB", wh: tuple[int, int] = (40, 30)) -> Path:
    """A ``wh``-sized image of one colour (plus a little per-file noise so files differ), saved in ``mode``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(zlib.crc32(path.name.encode()))
    arr = np.clip(np.array(color, dtype=np.int16) + rng.integers(-20, 21, (wh[1], wh[0], 3)), 0, 255).astype(np.uint8)
    img = Image.fromarray(arr, "RGB")
    if mode == "P":
        img = img.quantize(8)
        img.info["transparency"] = 0
    elif mode != "RGB":
        img = img.convert(mode)
    img.save(path)
    return path


def _green_dominant(img: np.ndarray) -> float:
    g = img[..., 1].astype(int)
    return float(((g > img[..., 0].astype(int) + 100) & (g > img[..., 2].astype(int) + 100)).mean())


# --------------------------------------------------------------------------------------------- load_image


@pytest.mark.parametrize(
    ("name", "mode"),
    [("a.jpg", "RGB"), ("b.png", "L"), ("c.png", "RGBA"), ("d.png", "P"), ("e.bmp", "RGB"), ("f.webp", "RGB")],
)
def test_load_image_any_mode_gives_square_rgb_uint8(tmp_path: Path, name: str, mode: str) -> None:
    out = load_image(_write(tmp_path / name, GREEN, mode), SIZE)
    assert out.shape == (SIZE, SIZE, 3) and out.dtype == np.uint8
    if mode == "L":
        assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])
    else:
        assert _green_dominant(out) > 0.9


def test_load_image_16bit_greyscale_keeps_brightness(tmp_path: Path) -> None:
    path = tmp_path / "depth.png"
    Image.fromarray(np.full((30, 40), 40000, dtype=np.uint16)).save(path)  # PIL mode I;16
    out = load_image(path, SIZE)
    assert out.shape == (SIZE, SIZE, 3) and abs(int(out.mean()) - 40000 // 256) <= 1


@pytest.mark.parametrize("wh", [(90, 30), (30, 90)])
def test_non_square_image_is_centre_cropped(tmp_path: Path, wh: tuple[int, int]) -> None:
    # outer thirds red, middle third green: the centre square of a 3:1 image is exactly the green part
    w, h = wh
    arr = np.zeros((h, w, 3), dtype=np.uint8)
    arr[...] = RED
    if w > h:
        arr[:, w // 3 : 2 * w // 3] = GREEN
    else:
        arr[h // 3 : 2 * h // 3, :] = GREEN
    path = tmp_path / "thirds.png"
    Image.fromarray(arr).save(path)
    out = load_image(path, 16)
    assert out.shape == (16, 16, 3)
    assert _green_dominant(out) > 0.8
    assert _green_dominant(out[3:-3, 3:-3]) == 1.0


def test_exif_orientation_is_respected(tmp_path: Path) -> None:
    # stored 60x20, left half red / right half blue; EXIF 6 = rotate 90 deg clockwise to display,
    # so the upright image is 20x60 with red on top and blue below
    arr = np.zeros((20, 60, 3), dtype=np.uint8)
    arr[:, :30], arr[:, 30:] = RED, BLUE
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    Image.fromarray(arr).save(path, exif=exif, quality=95)
    out = load_image(path, 8).astype(int)
    assert out[1, 6, 0] > 200 and out[1, 6, 2] < 60  # top row red across (unrotated: right side blue)
    assert out[6, 1, 2] > 200 and out[6, 1, 0] < 60  # bottom row blue across


def test_corrupt_image_raises_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 500, dtype=np.uint8).tobytes())
    with pytest.raises(DataError, match=r"broken\.jpg"):
        load_image(bad, SIZE)
    truncated = tmp_path / "truncated.jpg"
    _write(tmp_path / "full.jpg", wh=(200, 150))
    truncated.write_bytes((tmp_path / "full.jpg").read_bytes()[:300])
    with pytest.raises(DataError, match=r"truncated\.jpg"):
        load_image(truncated, SIZE)
    with pytest.raises(DataError, match=r"missing\.png"):
        load_image(tmp_path / "missing.png", SIZE)


def _declared_png(path: Path, width: int, height: int) -> Path:
    """A valid black RGB PNG of ``width`` x ``height`` pixels (zlib squeezes 8000 x 8000 into ~190 KB)."""
    import struct

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    compressor = zlib.compressobj(9)
    row = bytes(1 + 3 * width)
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b""))
    return path


def test_images_over_the_pixel_cap_are_refused_from_the_header(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """64 MP is under PIL's own bomb limit (179 MP) but over MAX_IMAGE_PIXELS: refused before any pixel is decoded."""
    import time

    from PIL import ImageFile

    big = _declared_png(tmp_path / "cam" / "big" / "huge.png", 8000, 8000)
    assert MAX_IMAGE_PIXELS < 8000 * 8000
    decoded: list[object] = []
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(self))
    start = time.perf_counter()
    with pytest.raises(DataError, match=r"huge\.png.*8000x8000.*64 MP.*max_pixels"):
        load_image(big, SIZE)
    assert decoded == [] and time.perf_counter() - start < 1.0
    monkeypatch.undo()
    small = _write(tmp_path / "small.png", wh=(40, 30))
    with pytest.raises(DataError, match=r"small\.png is 40x30 pixels"):
        load_image(small, SIZE, max_pixels=40 * 30 - 1)
    assert load_image(small, SIZE, max_pixels=40 * 30).shape == (SIZE, SIZE, 3)
    with pytest.raises(ValueError, match="max_pixels"):
        load_image(small, SIZE, max_pixels=0)


def test_image_folder_passes_the_pixel_cap_down_and_can_skip_oversized_files(tmp_path: Path) -> None:
    root = tmp_path / "cam"
    for i in range(2):
        _write(root / "day" / f"d{i}.png", wh=(40, 30))
    _write(root / "day" / "wide.png", wh=(80, 30))
    with pytest.raises(DataError, match=r"wide\.png is 80x30 pixels"):
        load_image_folder(root, size=SIZE, max_pixels=2000)
    with pytest.warns(UserWarning, match=r"wide\.png is 80x30 pixels"):
        pool = load_image_folder(root, size=SIZE, max_pixels=2000, skip_unreadable=True)
    assert len(pool["cam"]["day"]) == 2


def test_image_folder_caps_the_total_decoded_bytes_before_decoding(tmp_path: Path) -> None:
    root = tmp_path / "cam"
    for i in range(3):
        _write(root / "day" / f"d{i}.png", wh=(40, 30))
    _write(root / "night" / "n0.png", wh=(100, 50))
    total = 3 * 40 * 30 * 3 + 100 * 50 * 3
    with pytest.raises(DataError, match=rf"4 images .* {total:,} bytes .* {total - 1:,} .*n0\.png \(100x50\)"):
        load_image_folder(root, size=SIZE, max_decoded_bytes=total - 1)
    assert len(load_image_folder(root, size=SIZE, max_decoded_bytes=total)["cam"]["day"]) == 3
    # only the subsample that will be decoded counts
    assert load_image_folder(root, size=SIZE, max_per_class=1, max_decoded_bytes=40 * 30 * 3 + 100 * 50 * 3)


# --------------------------------------------------------------------------------------------- image folders


def test_single_environment_layout(tmp_path: Path) -> None:
    root = tmp_path / "webcam7"
    for i in range(3):
        _write(root / "night" / f"n{i}.png", BLUE, mode="L" if i == 0 else "RGB")
    for i in range(4):
        _write(root / "day" / f"d{i}.jpg", GREEN)
    _write(root / "day" / "UPPER.JPG", GREEN)
    _write(root / "day" / ".hidden.jpg", GREEN)  # ignored: hidden file
    _write(root / ".cache" / "x.jpg")  # ignored: hidden folder
    (root / "day" / "notes.txt").write_text("not an image")
    (root / "day" / "Thumbs.db").write_bytes(b"\x00\x01")

    pool = load_image_folder(root, size=SIZE)
    assert list(pool) == ["webcam7"]
    assert list(pool["webcam7"]) == ["day", "night"]
    assert len(pool["webcam7"]["day"]) == 5 and len(pool["webcam7"]["night"]) == 3
    for arr in pool["webcam7"].values():
        assert arr.dtype == np.uint8 and arr.shape[1:] == (SIZE, SIZE, 3)
    assert _green_dominant(pool["webcam7"]["day"]) > 0.9


def test_many_environments_layout(tmp_path: Path) -> None:
    for env in ("town", "motorway"):
        for cls, color in (("highway", GREEN), ("tunnel", WHITE), ("city street", RED)):
            for i in range(2):
                _write(tmp_path / env / cls / f"{env}{i}.png", color, wh=(30, 20))
    (tmp_path / "README.txt").write_text("ignored")
    pool = load_image_folder(tmp_path, size=SIZE)
    assert list(pool) == ["motorway", "town"]
    assert all(list(classes) == ["city street", "highway", "tunnel"] for classes in pool.values())
    assert all(arr.shape == (2, SIZE, SIZE, 3) for classes in pool.values() for arr in classes.values())


def test_mixed_layouts_raise(tmp_path: Path) -> None:
    _write(tmp_path / "a" / "day" / "1.jpg")
    _write(tmp_path / "night" / "1.jpg")
    with pytest.raises(DataError, match="mixes two layouts"):
        load_image_folder(tmp_path)
    other = tmp_path / "other"
    _write(other / "env" / "day" / "1.jpg")
    _write(other / "env" / "stray.jpg")
    with pytest.raises(DataError, match="mixes two layouts"):
        load_image_folder(other)


def test_empty_class_folder_raises_naming_it(tmp_path: Path) -> None:
    _write(tmp_path / "day" / "1.jpg")
    (tmp_path / "night").mkdir()
    (tmp_path / "night" / "readme.md").write_text("only text here")
    with pytest.raises(DataError, match=r"empty class.*night"):
        load_image_folder(tmp_path)


def test_too_few_images_mentions_min_per_class(tmp_path: Path) -> None:
    for i in range(3):
        _write(tmp_path / "day" / f"{i}.jpg")
    _write(tmp_path / "night" / "0.jpg")
    assert len(load_image_folder(tmp_path, size=SIZE, min_per_class=1)[tmp_path.name]) == 2
    with pytest.raises(DataError, match=r"night.*min_per_class=2"):
        load_image_folder(tmp_path, size=SIZE, min_per_class=2)


def test_missing_root_or_no_class_folders_raise(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_image_folder(tmp_path / "nowhere")
    _write(tmp_path / "loose.jpg")
    with pytest.raises(DataError, match="no class folders"):
        load_image_folder(tmp_path)
    with pytest.raises(DataError, match="not a folder"):
        load_image_folder(tmp_path / "loose.jpg")


def test_corrupt_image_in_folder_raises_or_is_skipped(tmp_path: Path) -> None:
    for i in range(4):
        _write(tmp_path / "day" / f"{i}.jpg")
    for i in range(3):
        _write(tmp_path / "night" / f"{i}.png", BLUE)
    (tmp_path / "night" / "garbage.jpg").write_bytes(np.random.default_rng(1).bytes(256))
    with pytest.raises(DataError, match=r"garbage\.jpg"):
        load_image_folder(tmp_path, size=SIZE)
    with pytest.warns(UserWarning, match=r"garbage\.jpg"):
        pool = load_image_folder(tmp_path, size=SIZE, skip_unreadable=True)
    assert len(pool[tmp_path.name]["night"]) == 3
    with pytest.warns(UserWarning), pytest.raises(DataError, match=r"night.*after skipping.*min_per_class=4"):
        load_image_folder(tmp_path, size=SIZE, skip_unreadable=True, min_per_class=4)


def test_max_per_class_subsample_is_deterministic_per_seed(tmp_path: Path) -> None:
    for i in range(12):
        _write(tmp_path / "day" / f"{i:02d}.png", (i * 20, 100, 50), wh=(8, 8))
    full = load_image_folder(tmp_path, size=8)[tmp_path.name]["day"]

    def pick(seed: int) -> list[int]:
        sub = load_image_folder(tmp_path, size=8, max_per_class=4, seed=seed)[tmp_path.name]["day"]
        assert sub.shape == (4, 8, 8, 3)
        return [next(i for i in range(len(full)) if np.array_equal(full[i], img)) for img in sub]

    first = pick(0)
    assert first == pick(0) == sorted(first)  # reproducible, file order kept
    assert any(pick(seed) != first for seed in (1, 2, 3))
    for i in range(5):  # another class does not change this class's subsample
        _write(tmp_path / "night" / f"{i}.png", BLUE, wh=(8, 8))
    assert pick(0) == first


def test_progress_bar_does_not_change_result(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for i in range(2):
        _write(tmp_path / "day" / f"{i}.jpg")
    quiet = load_image_folder(tmp_path, size=SIZE)
    loud = load_image_folder(tmp_path, size=SIZE, progress=True)
    assert np.array_equal(quiet[tmp_path.name]["day"], loud[tmp_path.name]["day"])
    assert "img" in capsys.readouterr().err


def test_image_extensions_are_lowercase_with_dot() -> None:
    assert all(ext.startswith(".") and ext == ext.lower() for ext in IMAGE_EXTENSIONS)


# --------------------------------------------------------------------------------------------- BDD100K

SCENE_COLORS = {"city street": RED, "highway": GREEN, "residential": BLUE, "tunnel": WHITE}


def _bdd_fixture(tmp_path: Path) -> tuple[Path, Path]:
    """30 frames: clear|daytime (4 city, 4 highway, 3 residential, 1 missing image), rainy|night
    (3 city, 3 highway, 1 tunnel), snowy|dawn/dusk (3 highway only), plus 4 frames with an undefined attribute."""
    images = tmp_path / "images" / "100k" / "train"
    frames = []

    def add(weather: str, timeofday: str, scene: str, n: int, write: bool = True) -> None:
        for _ in range(n):
            name = f"{len(frames):04d}-abcd.jpg"
            frames.append(
                {
                    "name": name,
                    "attributes": {"weather": weather, "scene": scene, "timeofday": timeofday},
                    "timestamp": 10000,
                    "labels": [{"category": "car", "box2d": {"x1": 1.0, "y1": 2.0, "x2": 3.0, "y2": 4.0}}],
                }
            )
            if write:
                _write(images / name, SCENE_COLORS.get(scene, (128, 128, 128)), wh=(32, 18))

    add("clear", "daytime", "city street", 4)
    add("clear", "daytime", "highway", 4)
    add("clear", "daytime", "residential", 3)
    add("clear", "daytime", "residential", 1, write=False)  # image missing
    add("rainy", "night", "city street", 3)
    add("rainy", "night", "highway", 3)
    add("rainy", "night", "tunnel", 1)
    add("snowy", "dawn/dusk", "highway", 3)
    add("undefined", "daytime", "highway", 2)
    add("clear", "daytime", "undefined", 1)
    add("rainy", "undefined", "city street", 1)
    assert len(frames) == 26 and len(list(images.iterdir())) == 25
    labels = tmp_path / "bdd100k_labels_images_train.json"
    labels.write_text(json.dumps(frames))
    return labels, images


def test_bdd100k_environments_classes_and_drops(tmp_path: Path) -> None:
    labels, images = _bdd_fixture(tmp_path)
    with pytest.warns(UserWarning) as record:
        pool = load_bdd100k(labels, images, size=SIZE)
    messages = " ".join(str(w.message) for w in record)
    assert "1 of 22 labelled frames" in messages  # the missing image; the 4 undefined frames are not counted
    assert "snowy|dawn/dusk" in messages  # dropped: a single class left
    assert list(pool) == ["clear|daytime", "rainy|night"]
    assert list(pool["clear|daytime"]) == ["city street", "highway", "residential"]
    assert list(pool["rainy|night"]) == ["city street", "highway", "tunnel"]
    assert [len(a) for a in pool["clear|daytime"].values()] == [4, 4, 3]
    assert pool["rainy|night"]["highway"].shape == (3, SIZE, SIZE, 3)
    assert pool["rainy|night"]["highway"].dtype == np.uint8
    assert _green_dominant(pool["clear|daytime"]["highway"]) > 0.9  # frames land in their own scene class
    assert _green_dominant(pool["rainy|night"]["city street"]) == 0.0
    assert all("undefined" not in env and "undefined" not in cls for env in pool for cls in pool[env])


def test_bdd100k_min_per_class_drops_small_classes(tmp_path: Path) -> None:
    labels, images = _bdd_fixture(tmp_path)
    with pytest.warns(UserWarning) as record:
        pool = load_bdd100k(labels, images, size=SIZE, min_per_class=2)
    assert any("class 'tunnel' in 'rainy|night' (1 image" in str(w.message) for w in record)
    assert list(pool["rainy|night"]) == ["city street", "highway"]
    with pytest.warns(UserWarning), pytest.raises(DataError, match="min_per_class=5"):
        load_bdd100k(labels, images, size=SIZE, min_per_class=5)


def test_bdd100k_split_name_and_max_per_class(tmp_path: Path) -> None:
    labels, images = _bdd_fixture(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pool = load_bdd100k(labels, images.parent, size=SIZE, split_name="train", max_per_class=2, seed=3)
        again = load_bdd100k(labels, images.parent, size=SIZE, split_name="train", max_per_class=2, seed=3)
        full = load_bdd100k(labels, images, size=SIZE)
    assert pool_summary(pool).to_dict() == {
        "city street": {"clear|daytime": 2, "rainy|night": 2},
        "highway": {"clear|daytime": 2, "rainy|night": 2},
        "residential": {"clear|daytime": 2, "rainy|night": 0},
        "tunnel": {"clear|daytime": 0, "rainy|night": 1},
    }
    for env in pool:
        for cls in pool[env]:
            assert np.array_equal(pool[env][cls], again[env][cls])
            assert all(any(np.array_equal(img, ref) for ref in full[env][cls]) for img in pool[env][cls])


def test_bdd100k_all_images_missing_names_images_dir(tmp_path: Path) -> None:
    labels, _ = _bdd_fixture(tmp_path)
    empty = tmp_path / "wrong_folder"
    empty.mkdir()
    with pytest.raises(DataError, match="wrong_folder"):
        load_bdd100k(labels, empty, size=SIZE)


def test_bdd100k_malformed_labels_raise_naming_file_and_entry(tmp_path: Path) -> None:
    labels, images = _bdd_fixture(tmp_path)
    frames = json.loads(labels.read_text())

    broken = tmp_path / "broken.json"
    broken.write_text(labels.read_text()[:-40])
    with pytest.raises(DataError, match=r"broken\.json.*not valid JSON"):
        load_bdd100k(broken, images)

    del frames[7]["attributes"]
    no_attrs = tmp_path / "no_attrs.json"
    no_attrs.write_text(json.dumps(frames))
    with pytest.raises(DataError, match=r"no_attrs\.json: entry 7 .*attributes"):
        load_bdd100k(no_attrs, images)

    frames[7]["attributes"] = {"weather": "clear", "timeofday": "night"}  # no scene
    no_scene = tmp_path / "no_scene.json"
    no_scene.write_text(json.dumps(frames))
    with pytest.raises(DataError, match=r"entry 7 .*'scene'"):
        load_bdd100k(no_scene, images)

    not_list = tmp_path / "dict.json"
    not_list.write_text(json.dumps({"name": "x"}))
    with pytest.raises(DataError, match="expected a list"):
        load_bdd100k(not_list, images)
    with pytest.raises(DataError, match="does not exist"):
        load_bdd100k(tmp_path / "absent.json", images)


def test_bdd100k_corrupt_frame_raises_naming_it(tmp_path: Path) -> None:
    labels, images = _bdd_fixture(tmp_path)
    (images / "0000-abcd.jpg").write_bytes(b"not a jpeg at all")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(DataError, match=r"0000-abcd\.jpg"):
            load_bdd100k(labels, images, size=SIZE)
        pool = load_bdd100k(labels, images, size=SIZE, skip_unreadable=True)
    assert len(pool["clear|daytime"]["city street"]) == 3


# --------------------------------------------------------------------------------------------- pools


def _tiny_pool() -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    return {
        "rainy|night": {
            "city street": rng.integers(0, 256, (3, 4, 4, 3), dtype=np.uint8),
            "tunnel": rng.integers(0, 256, (1, 4, 4, 3), dtype=np.uint8),
        },
        "clear|dawn/dusk": {"highway": rng.integers(0, 256, (2, 4, 4, 3), dtype=np.uint8)},
    }


def test_save_load_pool_round_trip(tmp_path: Path) -> None:
    pool = _tiny_pool()
    path = save_pool(pool, tmp_path / "cache" / "pool.npz")
    loaded = load_pool(path)
    assert list(loaded) == list(pool)
    for env in pool:
        assert list(loaded[env]) == list(pool[env])
        for cls in pool[env]:
            assert loaded[env][cls].dtype == np.uint8 and np.array_equal(loaded[env][cls], pool[env][cls])
    assert sorted(p.name for p in path.parent.iterdir()) == ["pool.npz"]  # no temp file left behind


def test_save_pool_rejects_bad_entries_and_load_pool_bad_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="without"):
        save_pool({f"a{KEY_SEPARATOR}b": {"c": np.zeros((1, 2, 2, 3), np.uint8)}}, tmp_path / "x.npz")
    with pytest.raises(DataError, match="uint8"):
        save_pool({"env": {"c": np.zeros((1, 2, 2, 3), np.float32)}}, tmp_path / "x.npz")
    assert not (tmp_path / "x.npz").exists()
    with pytest.raises(DataError, match="does not exist"):
        load_pool(tmp_path / "x.npz")
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 truncated zip")
    with pytest.raises(DataError, match=r"junk\.npz"):
        load_pool(tmp_path / "junk.npz")


def test_pool_summary_counts(tmp_path: Path) -> None:
    table = pool_summary(_tiny_pool())
    assert list(table.index) == ["rainy|night", "clear|dawn/dusk"]
    assert list(table.columns) == ["city street", "highway", "tunnel"]
    assert table.loc["rainy|night", "city street"] == 3
    assert table.loc["rainy|night", "highway"] == 0
    assert table.loc["clear|dawn/dusk", "highway"] == 2
    assert int(table.to_numpy().sum()) == 6


# --------------------------------------------------------------------------------------------- real photos


@pytest.fixture(scope="module")
def real_pools() -> dict[str, dict[str, dict[str, np.ndarray]]]:
    if not REAL_DATA.is_dir():
        pytest.skip(f"real driving photos not found at {REAL_DATA} (shared data folder absent)")
    return {split: load_image_folder(REAL_DATA / split, size=84) for split in ("training", "test")}


@pytest.mark.parametrize(("split", "n_per_class"), [("training", 120), ("test", 80)])
def test_real_day_night_photos(real_pools: dict, split: str, n_per_class: int) -> None:
    pool = real_pools[split]
    assert list(pool) == [split]
    assert list(pool[split]) == ["day", "night"]
    for images in pool[split].values():
        assert images.shape == (n_per_class, 84, 84, 3) and images.dtype == np.uint8
        assert all(img.std() > 5 for img in images)  # no blank frames
    day, night = pool[split]["day"], pool[split]["night"]
    assert day.mean() > night.mean() + 30  # daylight photos are brighter


def test_real_photos_as_many_environments(real_pools: dict) -> None:
    pool = load_image_folder(REAL_DATA, size=84)
    assert list(pool) == ["test", "training"]
    assert pool_summary(pool).to_dict() == {
        "day": {"test": 80, "training": 120},
        "night": {"test": 80, "training": 120},
    }
    for env in pool:
        for cls in pool[env]:
            assert np.array_equal(pool[env][cls], real_pools[env][env][cls])
