"""Hardening of the Driving page's zip upload (issue rows 1 and 2) and of the pages' Streamlit caches.

Row 1: an upload's name never becomes a path. Names such as ``...zip`` or ``..zip`` once made the
environment folder ``..``: the archive unpacked into the parent of the temporary folder, overwrote
same-named files there and left them behind. Every test points :mod:`tempfile` at a folder of its own and
lists it before and after.

Row 2: three 12000x12000 PNGs in a 315 KB zip were decoded (9 s, 1.2 GB). The pixels of every image, the
number of zip entries and the total decoded bytes are capped before anything is decoded.
"""

from __future__ import annotations

import ast
import io
import struct
import tempfile
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from metasuite.apps.logic import APPS_DIR
from metasuite.apps.logic.driving import (
    MAX_DECODED_BYTES,
    MAX_UPLOAD_ENTRIES,
    N_WAY,
    load_uploaded_zip,
    upload_label,
)
from metasuite.core.errors import DataError
from metasuite.domains.driving.data import MAX_IMAGE_PIXELS

SIZE = 16


def _png(seed: int, shape: tuple[int, int] = (20, 24)) -> bytes:
    from PIL import Image

    arr = np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def huge_png(width: int, height: int) -> bytes:
    """A valid, black RGB PNG of ``width`` x ``height`` pixels, compressed row by row (12000 x 12000: ~420 KB)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    compressor = zlib.compressobj(9)
    row = bytes(1 + 3 * width)  # filter byte + pixels
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return huge_png(12000, 12000)


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _scenes(prefix: str = "", n_classes: int = N_WAY, per_class: int = 2) -> dict[str, bytes]:
    return {f"{prefix}scene{c}/img{i}.png": _png(10 * c + i) for c in range(n_classes) for i in range(per_class)}


def _tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture
def temp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``tmp_path/tmp`` is the temporary folder of this test; ``tmp_path`` holds a bystander file next to it."""
    root = tmp_path / "tmp"
    root.mkdir()
    (root / "scene0").mkdir()  # a folder the bad name would unpack into
    (root / "scene0" / "img0.png").write_bytes(b"someone else's file")
    (tmp_path / "bystander.txt").write_text("keep me")
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


# ---------------------------------------------------------------------------- row 1: names never become paths
@pytest.mark.parametrize("name", ["...zip", "..zip", ".zip", "/abs.zip", "../../up.zip", "a/../../b.zip"])
def test_upload_names_never_become_paths(name: str, temp_root: Path) -> None:
    before, outside = _tree(temp_root), _tree(temp_root.parent)
    pool = load_uploaded_zip(_zip(_scenes()), name, size=SIZE)
    assert _tree(temp_root) == before, "nothing written next to the temporary folder, nothing left behind"
    assert _tree(temp_root.parent) == outside
    assert (temp_root / "scene0" / "img0.png").read_bytes() == b"someone else's file"
    (env,) = pool
    assert sorted(pool[env]) == [f"scene{c}" for c in range(N_WAY)], "only the upload's own folders are read"
    assert "/" not in env and "\\" not in env and ".." not in env and not env.startswith(".")


def test_upload_labels_are_sanitised_display_names() -> None:
    assert upload_label("mycam.zip") == "mycam"
    assert upload_label("...zip") == upload_label("..zip") == upload_label(".zip") == upload_label("") == "upload"
    assert upload_label("/abs.zip") == "abs"
    assert upload_label("C:\\Users\\me\\cam 3.ZIP") == "cam 3"
    odd = upload_label("we|rd <na>me;\n\x00$(rm -rf ~)%2e%2e.zip")
    assert odd and all(ch.isalnum() or ch in " -_." for ch in odd) and not odd.startswith(".")
    assert len(upload_label("x" * 500 + ".zip")) <= 64


def test_odd_upload_name_is_a_label_only(temp_root: Path) -> None:
    before = _tree(temp_root.parent)
    pool = load_uploaded_zip(_zip(_scenes()), "we|rd <na>me;$(touch pwned).zip", size=SIZE)
    assert list(pool) == [upload_label("we|rd <na>me;$(touch pwned).zip")]
    assert _tree(temp_root.parent) == before


@pytest.mark.parametrize(
    "entry",
    ["../x.png", "../../bystander.txt", "/etc/abs.png", "scene0/../../../y.png", "..\\..\\z.png", "C:\\evil.png"],
)
def test_archive_entries_that_point_outside_are_refused_before_extraction(entry: str, temp_root: Path) -> None:
    before, outside = _tree(temp_root), _tree(temp_root.parent)
    with pytest.raises(DataError, match="outside") as info:
        load_uploaded_zip(_zip({**_scenes(), entry: _png(1)}), "cam.zip", size=SIZE)
    assert repr(entry) in str(info.value)
    assert _tree(temp_root) == before and _tree(temp_root.parent) == outside
    assert (temp_root.parent / "bystander.txt").read_text() == "keep me"


def test_backslash_and_dot_entries_inside_the_archive_are_read(temp_root: Path) -> None:
    files = {f"cam\\scene{c}\\img{i}.png": _png(10 * c + i) for c in range(N_WAY) for i in range(2)}
    files["cam/./scene0/img9.png"] = _png(9)
    pool = load_uploaded_zip(_zip(files), "x.zip", size=SIZE)
    assert sorted(pool["cam"]) == [f"scene{c}" for c in range(N_WAY)] and len(pool["cam"]["scene0"]) == 3


def test_top_folder_names_the_environment_and_errors_name_the_upload_not_the_temp_folder(temp_root: Path) -> None:
    pool = load_uploaded_zip(_zip(_scenes("my cam/")), "whatever.zip", size=SIZE)
    assert list(pool) == ["my cam"]
    with pytest.raises(DataError) as info:
        load_uploaded_zip(_zip({**_scenes(), "scene9/notes.txt": b"x"}), "cam.zip", size=SIZE)
    assert str(temp_root) not in str(info.value) and "cam" in str(info.value)
    assert _tree(temp_root) == ["scene0", "scene0/img0.png"]


# ---------------------------------------------------------------------------- row 2: caps before decoding
def test_three_huge_pngs_are_refused_before_decoding(bomb: bytes, temp_root: Path) -> None:
    files = {**_scenes(), **{f"scene0/huge{i}.png": bomb for i in range(3)}}
    data = _zip(files)
    assert len(data) < 2_000_000  # the attack is small on the wire
    start = time.perf_counter()
    with pytest.raises(DataError) as info:
        load_uploaded_zip(data, "bomb.zip", size=SIZE)
    elapsed = time.perf_counter() - start
    message = str(info.value)
    assert "12000x12000" in message and "huge0.png" in message
    assert f"{MAX_IMAGE_PIXELS / 1e6:g} MP" in message
    assert elapsed < 1.5, f"refused after {elapsed:.1f} s: the image was decoded"
    assert _tree(temp_root) == ["scene0", "scene0/img0.png"]


def test_too_many_zip_entries_are_refused_before_extraction(temp_root: Path) -> None:
    files = {**_scenes(), **{f"scene0/extra{i}.txt": b"" for i in range(MAX_UPLOAD_ENTRIES)}}
    with pytest.raises(DataError, match=rf"{len(files)} entries.*{MAX_UPLOAD_ENTRIES}"):
        load_uploaded_zip(_zip(files), "many.zip", size=SIZE)
    assert _tree(temp_root) == ["scene0", "scene0/img0.png"]
    with pytest.raises(DataError, match="11 entries, more than the 10"):
        load_uploaded_zip(_zip(_scenes(per_class=2) | {"x.txt": b""}), "few.zip", size=SIZE, max_entries=10)


def test_total_decoded_bytes_are_capped_before_decoding(temp_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = _scenes(per_class=2)
    files["scene3/big.png"] = _png(99, (200, 300))  # 180 000 bytes decoded: the largest
    decoded = 10 * 20 * 24 * 3 + 200 * 300 * 3
    import metasuite.domains.driving.data as data

    calls: list[Path] = []
    monkeypatch.setattr(data, "load_image", lambda path, *a, **k: calls.append(path))  # decoding must not start
    with pytest.raises(DataError) as info:
        load_uploaded_zip(_zip(files), "cam.zip", size=SIZE, max_decoded_bytes=decoded - 1)
    message = str(info.value)
    assert f"{decoded:,} bytes" in message and f"{decoded - 1:,}" in message and "big.png" in message
    assert calls == []
    monkeypatch.undo()
    pool = load_uploaded_zip(_zip(files), "cam.zip", size=SIZE, max_decoded_bytes=decoded)
    assert len(pool["cam"]["scene3"]) == 3


def test_page_caps_are_named_constants() -> None:
    assert MAX_IMAGE_PIXELS <= 50_000_000 < 12000 * 12000
    assert 0 < MAX_DECODED_BYTES <= 2**30
    assert 0 < MAX_UPLOAD_ENTRIES <= 10_000


# ---------------------------------------------------------------------------- bounded Streamlit caches
PAGES = ["1_Sinusoid.py", "2_Driving.py", "3_Diagnosis.py", "9_Any_domain.py"]


@pytest.mark.parametrize("page", PAGES)
def test_every_streamlit_cache_on_a_page_is_bounded(page: str) -> None:
    tree = ast.parse((APPS_DIR / "pages" / page).read_text())
    caches = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            for deco in node.decorator_list:
                call = deco if isinstance(deco, ast.Call) else None
                target = call.func if call else deco
                if isinstance(target, ast.Attribute) and target.attr in ("cache_resource", "cache_data"):
                    keywords = {k.arg: k.value for k in call.keywords} if call else {}
                    bound = keywords.get("max_entries")
                    caches.append(node.name)
                    assert isinstance(bound, ast.Constant) and isinstance(bound.value, int) and bound.value >= 1, (
                        f"{page}: {node.name} is cached without max_entries"
                    )
    assert caches, f"{page} caches nothing?"
