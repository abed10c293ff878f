"""Real photos with more than two classes: the day/night webcam photos regrouped by webcam (issue 17's dev check).

``../shared/data/driving-day-night`` holds street-webcam photos of about a dozen cameras, labelled only day / night.
A frame's pixel size nearly identifies its camera (each webcam publishes one size; contact sheets of the 13 sizes
with 10 or more photos show one scene each for 11 of them, while 640x469 and 640x471 are each shared by two cameras,
so those two classes carry label noise, for every method alike). Grouped by size, the photos make a multi-class
real scene-recognition set: *which of these street scenes is this frame from*, by day or by night, from K labelled
frames per scene -- place recognition rather than road type, but real photos. For the render-trained checkpoints
every class is new (the renderer's classes are road types, not places), so this is the closest this project can
come, on data it has, to the issue's "novel classes, 5-way, real photos".

The rule, fixed before any model was scored on it: classes are the frame sizes with at least :data:`MIN_IMAGES`
photos (day and night, training and test folders of the source pooled); each class's photos are put in the order of
the SHA-256 of their path relative to the source folder and cut into test (the first 40 %, rounded), val (the next
20 %) and train (the rest), written as ``OUT/{train,val,test}/<W>x<H>/<day|night>-<file>`` (the named split folders
are the driving loader's own environment split). Nothing is tuned on these photos.

Usage (from the repository root; OUT must not exist yet)::

    python benchmarks/driving_webcam_classes.py build ../shared/data/driving-day-night OUT
    metasuite eval driving --data-dir OUT --checkpoint ... --ways 5 --shots 1 --queries 5 --tasks 200
    python benchmarks/driving_webcam_classes.py summarise   # the README table's JSON + PNG from webcams-*.json

``--plain`` writes ``OUT/<W>x<H>/*`` instead (every photo of a class in one folder), for the novel-class protocol in
which the *classes* are split (``--option split_by=class``: 7 training, 3 validation and 3 test cameras).

``--by-time`` makes each camera's day and night photos two classes (``<W>x<H>-day``, ``<W>x<H>-night``: *which
street, at which time of day*), the only way these photos give enough classes for a **5-way** novel-class test.
With ``--plain --by-time --min-images 6`` (1 shot + 5 queries) the 400 photos give 25 classes, which
``split_by=class`` cuts into 15 training, 5 validation and 5 test classes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from collections import defaultdict
from pathlib import Path

import matplotlib
from PIL import Image

from metasuite.core.plots import save_figure
from metasuite.core.stats import paired_difference

matplotlib.use("Agg")
import matplotlib.pyplot as plt

#: A frame size needs this many photos to be a class (5-way 5-shot test tasks need 10 per class with 5 queries).
MIN_IMAGES = 10
#: Shares of each class's photos: test, val (train is the rest).
TEST_SHARE, VAL_SHARE = 0.4, 0.2
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


def group_by_size(source: Path, by_time: bool = False, min_images: int = MIN_IMAGES) -> dict[str, list[Path]]:
    """``{"WxH": [photo paths, in SHA-256 order of their path relative to source]}`` for every frame size with at
    least ``min_images`` photos; ``by_time``: ``{"WxH-day": ..., "WxH-night": ...}``, the photo's source folder
    (day / night) added to its class. A file that is not a readable image, or whose bytes repeat a photo met before
    (in path order), is skipped and named on stderr: a copy in two splits would be a test photo seen in training."""
    groups: dict[str, list[Path]] = defaultdict(list)
    seen: dict[str, Path] = {}  # content hash -> first path: the source holds one photo in both training/ and test/
    for path in sorted(p for p in source.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest in seen:
            print(f"skipped {path}: the same bytes as {seen[digest]}", file=sys.stderr)
            continue
        seen[digest] = path
        try:
            with Image.open(path) as im:  # reads the header only: a huge frame costs nothing here
                width, height = im.size
        except (OSError, Image.DecompressionBombError) as exc:
            print(f"skipped {path}: not a readable image ({exc})", file=sys.stderr)
            continue
        groups[f"{width}x{height}" + (f"-{path.parent.name}" if by_time else "")].append(path)
    key = lambda p: hashlib.sha256(p.relative_to(source).as_posix().encode()).hexdigest()
    return {size: sorted(paths, key=key) for size, paths in sorted(groups.items()) if len(paths) >= min_images}


def split_class(paths: list[Path]) -> dict[str, list[Path]]:
    """``paths`` (in their fixed order) cut into test / val / train by :data:`TEST_SHARE` / :data:`VAL_SHARE`."""
    n_test, n_val = round(TEST_SHARE * len(paths)), round(VAL_SHARE * len(paths))
    return {"test": paths[:n_test], "val": paths[n_test : n_test + n_val], "train": paths[n_test + n_val :]}


def build(
    source: Path, out: Path, plain: bool = False, by_time: bool = False, min_images: int = MIN_IMAGES
) -> dict[str, dict[str, int]]:
    """Write the regrouped folder; returns ``{class: {split: number of photos}}``. ``plain``: one folder per class,
    no split folders (``OUT/<W>x<H>/*``), for the novel-class protocol (``--option split_by=class``); ``by_time`` and
    ``min_images``: as in :func:`group_by_size`."""
    if not source.is_dir():
        raise SystemExit(f"no such folder: {source} (the day/night photos: ../shared/data/driving-day-night)")
    if out.exists():
        raise SystemExit(f"{out} exists already: give a new folder (nothing was written)")
    if min_images < 2:
        raise SystemExit(f"--min-images must be 2 or more (1 shot + 1 query), not {min_images}")
    groups = group_by_size(source, by_time, min_images)
    if len(groups) < 2:
        raise SystemExit(f"{source}: fewer than 2 classes with {min_images}+ photos, nothing to regroup")
    counts: dict[str, dict[str, int]] = {}
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    for size, paths in groups.items():
        for split, part in split_class(paths).items():
            folder = tmp / size if plain else tmp / split / size
            folder.mkdir(parents=True, exist_ok=True)
            for path in part:  # the label of the source folder keeps names unique: day-x.jpg, night-x.jpg
                target = folder / f"{path.parent.name}-{path.name}"
                if target.exists():  # two different photos named alike in training/ and test/: keep both
                    target = folder / f"{path.parent.parent.name}-{path.parent.name}-{path.name}"
                shutil.copy2(path, target)
            counts.setdefault(size, {})[split] = len(part)
    tmp.rename(out)
    return counts


#: The eval JSONs of the README table (``data/eval/driving/webcams-<name>.json``): protocol, shots, rows kept.
TABLE = {
    "5-way, classes new to the render-trained models": {
        1: ["pn-1", "pn-1-ft", "mb-1", "mb-1-ft"],
        5: ["pn-5", "pn-5-ft", "mb-5", "mb-5-ft"],
    },
    "3-way, novel classes for every method (split_by=class)": {
        1: ["nc-shipped-1", "nc-shipped-1-ft", "nc-1", "nc-1-ft"],
        5: ["nc-shipped-5", "nc-shipped-5-ft", "nc-5", "nc-5-ft"],
    },
    "5-way, novel camera x time classes for every method (--by-time, split_by=class)": {
        1: ["bt-shipped-1", "bt-folder-1", "bt-folder-1-ft"],
        5: ["bt-shipped-5", "bt-folder-5", "bt-folder-5-ft"],
    },
}
#: Rows renamed in the summary, by run (its name less shots and ``-ft``): the ProtoNets meta-trained on the folder
#: (``nc-K``, ``bt-folder-K``) are not the shipped ones (``nc-shipped-K``, ``bt-shipped-K``).
FOLDER_TRAINED = {
    "protonet": "protonet trained on the folder (--init)",
    "protonet (ensemble of 3)": "protonet ensemble trained on the folder (--init)",
}
RENAME = {"nc": FOLDER_TRAINED, "bt-folder": FOLDER_TRAINED}


def summarise(folder: Path, out: Path) -> dict:
    """Every method's mean accuracy ± 95 % CI and its paired difference (``vs_reference``) to the first listed run's
    ensemble -- the render-trained ProtoNet ensemble, plain -- per protocol and shot, from the eval JSONs in
    ``folder``; written as ``out`` (JSON) and a PNG beside."""
    summary: dict = {"source": "benchmarks/driving_webcam_classes.py", "protocols": {}}
    fig, axes = plt.subplots(len(TABLE), 1, figsize=(10, 4.75 * len(TABLE)))
    for ax, (protocol, by_shot) in zip(axes, TABLE.items(), strict=True):
        rows: dict = {}
        for shots, names in by_shot.items():
            runs = {
                n: json.loads((folder / f"webcams-{n}.json").read_text())
                for n in names
                if (folder / f"webcams-{n}.json").exists()
            }
            if not runs:
                continue
            first = next(iter(runs.values()))["results"]  # the reference: the first run's ensemble (else first row)
            reference = next((r for r in first if "ensemble" in r["method"]), first[0])["per_task"]["accuracy"]
            for name, run in runs.items():
                tuned = name.endswith("-ft")
                for r in run["results"]:
                    if "seed" in r["method"] and "ensemble" not in r["method"]:
                        continue  # the members: in the eval JSONs
                    method = RENAME.get(name.removesuffix("-ft").rsplit("-", 1)[0], {}).get(r["method"])
                    label = (method or r["method"]) + (" + fine-tune" if tuned else "")
                    values = r["per_task"]["accuracy"]
                    acc = r["metrics"]["accuracy"]
                    row = rows.setdefault(label, {"kind": r.get("kind", "meta")})
                    row[str(shots)] = {
                        "mean": acc["mean"],
                        "ci95": acc["ci95"],
                        "vs_reference": paired_difference(values, reference),
                    }
        rows = dict(sorted(rows.items(), key=lambda item: item[1]["kind"] != "meta"))  # meta-learners first
        summary["protocols"][protocol] = rows
        labels = list(rows)
        width = 0.38
        for i, shots in enumerate(by_shot):
            means = [rows[lab].get(str(shots), {}).get("mean", float("nan")) for lab in labels]
            errs = [rows[lab].get(str(shots), {}).get("ci95") or 0.0 for lab in labels]
            ax.barh([y + i * width for y in range(len(labels))], means, width, xerr=errs, label=f"{shots}-shot")
        ax.set_yticks([y + width / 2 for y in range(len(labels))], labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_xlabel("accuracy (200 fixed tasks, mean ± 95% CI; + fine-tune: rate chosen on the val split)")
        ax.set_title(protocol, fontsize=10)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle("Real webcam photos grouped by camera: render-trained meta-learners and baselines", fontsize=11)
    fig.tight_layout()
    out.write_text(json.dumps(summary, indent=1))
    save_figure(fig, out.with_suffix(".png"))
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="write the regrouped folder")
    b.add_argument("source", type=Path, help="the day/night folder (../shared/data/driving-day-night)")
    b.add_argument("out", type=Path, help="a new folder for the regrouped photos")
    b.add_argument("--plain", action="store_true", help="OUT/<class>/* without train/val/test folders")
    b.add_argument("--by-time", action="store_true", help="a camera's day and night photos are two classes")
    b.add_argument("--min-images", type=int, default=MIN_IMAGES, help=f"photos a class needs (default {MIN_IMAGES})")
    s = sub.add_parser("summarise", help="the README table and PNG from the eval JSONs")
    s.add_argument("--dir", type=Path, default=Path("data/eval/driving"), help="folder of webcams-*.json")
    s.add_argument("--json", type=Path, default=Path("data/eval/driving/webcams-summary.json"))
    args = parser.parse_args(argv)
    if args.command == "summarise":
        summarise(args.dir, args.json)
        print(f"wrote {args.json} and {args.json.with_suffix('.png')}")
        return 0
    counts = build(args.source, args.out, args.plain, args.by_time, args.min_images)
    for size, by_split in counts.items():
        print(f"{size:>10}: " + ", ".join(f"{split} {n}" for split, n in by_split.items()))
    print(f"{len(counts)} classes written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
