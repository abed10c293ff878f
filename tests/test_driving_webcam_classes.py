"""benchmarks/driving_webcam_classes.py: real photos regrouped by camera (frame size) into a multi-class folder."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from metasuite.domains.driving import DrivingDomain

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "driving_webcam_classes.py"


@pytest.fixture(scope="module")
def webcams():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("driving_webcam_classes", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _source(root: Path) -> Path:
    """day/night folders as in the shared photos: 12 frames of 40x30, 10 of 36x24, 3 of 20x20 (too few to count)."""
    rng = np.random.default_rng(0)
    for (w, h), n in (((40, 30), 12), ((36, 24), 10), ((20, 20), 3)):
        for i in range(n):
            folder = root / ("training" if i % 3 else "test") / ("day" if i % 2 else "night")
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(folder / f"2015_{w}_{i:02d}.jpg")
    return root


def test_photos_are_grouped_by_frame_size_and_cut_40_20_40_by_a_fixed_rule(webcams, tmp_path: Path) -> None:
    source = _source(tmp_path / "src")
    counts = webcams.build(source, tmp_path / "out")
    assert counts == {"36x24": {"test": 4, "val": 2, "train": 4}, "40x30": {"test": 5, "val": 2, "train": 5}}
    for size, total in (("40x30", 12), ("36x24", 10)):
        files = [p for split in ("train", "val", "test") for p in (tmp_path / "out" / split / size).iterdir()]
        assert len({p.name for p in files}) == total  # every photo once, in one split
        assert all(p.name.split("-")[0] in ("day", "night") for p in files)
        assert {Image.open(p).size for p in files} == {tuple(map(int, size.split("x")))}
    (source / "test" / "day" / "broken.jpg").write_bytes(b"not a jpeg")  # skipped, named, nothing else changes
    assert webcams.build(source, tmp_path / "again") == counts  # the same cut every time
    same = sorted(p.name for p in (tmp_path / "again" / "test" / "40x30").iterdir())
    assert same == sorted(p.name for p in (tmp_path / "out" / "test" / "40x30").iterdir())
    domain = DrivingDomain(data_dir=str(tmp_path / "out"), image_size=16)
    assert domain.classes == ["36x24", "40x30"] and domain.splits()["val"]  # the named folders are the split


def test_an_existing_output_folder_is_refused_untouched_and_the_plain_layout_has_no_split_folders(
    webcams, tmp_path: Path
) -> None:
    source = _source(tmp_path / "src")
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    with pytest.raises(SystemExit, match="exists already"):
        webcams.build(source, out)
    assert [p.name for p in out.iterdir()] == ["mine.txt"]
    webcams.build(source, tmp_path / "plain", plain=True)
    assert sorted(p.name for p in (tmp_path / "plain").iterdir()) == ["36x24", "40x30"]
    assert len(list((tmp_path / "plain" / "40x30").iterdir())) == 12
    with pytest.raises(SystemExit, match="no such folder"):
        webcams.build(tmp_path / "missing", tmp_path / "x")


def test_the_summary_pairs_every_row_with_the_first_runs_ensemble_on_the_same_tasks(webcams, tmp_path: Path) -> None:
    def run(rows: dict[str, list[float]]) -> str:
        results = [
            {
                "method": m,
                "metrics": {"accuracy": {"mean": float(np.mean(v)), "ci95": 0.1}},
                "per_task": {"accuracy": v},
            }
            for m, v in rows.items()
        ]
        return json.dumps({"results": results})

    (tmp_path / "webcams-pn-1.json").write_text(
        run({"protonet (seed 0)": [0.1, 0.2], "scratch": [0.5, 0.9], "protonet (ensemble of 3)": [0.4, 0.6]})
    )
    (tmp_path / "webcams-pn-1-ft.json").write_text(run({"protonet (ensemble of 3)": [0.8, 0.6]}))
    summary = webcams.summarise(tmp_path, tmp_path / "summary.json")
    rows = summary["protocols"]["5-way, classes new to the render-trained models"]
    assert list(rows) == [
        "scratch",
        "protonet (ensemble of 3)",
        "protonet (ensemble of 3) + fine-tune",
    ]  # ensemble members are left to the eval JSONs
    assert rows["scratch"]["1"]["vs_reference"]["diff"] == pytest.approx(0.2)
    assert rows["protonet (ensemble of 3) + fine-tune"]["1"]["vs_reference"]["diff"] == pytest.approx(0.2)
    assert json.loads((tmp_path / "summary.json").read_text()) == summary and (tmp_path / "summary.png").stat().st_size


def test_by_time_splits_each_camera_into_day_and_night_classes_and_a_repeated_photo_counts_once(
    webcams, tmp_path: Path
) -> None:
    source = _source(tmp_path / "src")
    # the shared photos hold one frame twice, in training/ and test/: it must not land in two splits
    repeated = next((source / "training" / "day").glob("2015_40_*.jpg"))
    (source / "test" / "day" / repeated.name).write_bytes(repeated.read_bytes())
    # and two different photos of one name in training/ and test/ must both survive the plain layout
    other = next((source / "training" / "night").glob("2015_40_*.jpg"))
    fresh = np.random.default_rng(1).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    Image.fromarray(fresh).save(source / "test" / "night" / other.name)
    counts = webcams.build(source, tmp_path / "out")
    assert sum(counts["40x30"].values()) == 13  # 12 + the new photo, the copy skipped
    names = [p.name for split in ("train", "val", "test") for p in (tmp_path / "out" / split / "40x30").iterdir()]
    assert names.count(f"day-{repeated.name}") == 1
    counts = webcams.build(source, tmp_path / "plain", plain=True, by_time=True, min_images=5)
    assert sorted(counts) == ["36x24-day", "36x24-night", "40x30-day", "40x30-night"]
    for cls, by_split in counts.items():
        files = list((tmp_path / "plain" / cls).iterdir())
        assert len(files) == sum(by_split.values())  # nothing overwritten
        assert {p.name.split("-")[0] for p in files} <= {"day", "night", "test", "training"}
        assert all(cls.endswith("-day") == ("day-" in p.name) for p in files)
    assert webcams.build(source, tmp_path / "strict", plain=True, by_time=True, min_images=6).keys() == {
        "40x30-day",
        "40x30-night",
    }  # 36x24 has 5 photos per time of day, 40x30 six and seven
    with pytest.raises(SystemExit, match="min-images"):
        webcams.build(source, tmp_path / "x", min_images=1)
