"""`metasuite new-domain`: the generated package installs as an external package, passes its own tests,
is listed, trains and evaluates (an image-folder domain included: 20-way training on an Omniglot-layout folder,
5-way evaluation with the data folder taken from the checkpoint) and gets the app's generic page -- without
editing this repository. Every kind x input combination is ruff-clean and reads the data layout it documents."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

from metasuite.apps.cli import main
from metasuite.core.backbones import build_backbone
from metasuite.core.domain import Domain
from metasuite.core.errors import DataError, MetasuiteError
from metasuite.core.registry import available_domains
from metasuite.core.scaffold import INPUTS, KINDS, new_domain

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "metasuite.apps.cli"]
COMBINATIONS = [(k, i) for k in KINDS for i in INPUTS if (k, i) != ("regression", "images")]
SPLITS = ("train", "val", "test")


def _install(packages: list[Path], site: Path) -> None:
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index"]
    pip += ["--disable-pip-version-check", "--target", str(site), *map(str, packages)]
    done = subprocess.run(pip, capture_output=True, text=True, timeout=300, cwd=site.parent)
    assert done.returncode == 0, done.stderr


def _run(cmd: list[str], site: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, cwd=cwd)


def _domain_class(root: Path) -> type[Domain]:
    """The Domain subclass of a generated package, imported from its folder (not installed)."""
    path = next(root.glob("*_domain/domain.py"))
    spec = importlib.util.spec_from_file_location(f"scaffolded_{path.parent.name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return next(v for v in vars(module).values() if isinstance(v, type) and issubclass(v, Domain) and v is not Domain)


def _glyph_png(path: Path, strokes: np.ndarray, rng: np.random.Generator) -> None:
    """A 28 x 28 greyscale PNG of ``strokes`` (rows x0, y0, x1, y1 in pixels), jittered: black ink on white."""
    from PIL import Image, ImageDraw

    image = Image.new("L", (28, 28), 255)
    draw = ImageDraw.Draw(image)
    for x0, y0, x1, y1 in strokes + rng.normal(0.0, 0.8, strokes.shape):
        draw.line((float(x0), float(y0), float(x1), float(y1)), fill=0, width=2)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def _omniglot_layout(root: Path, alphabets: int = 2, background: int = 50, evaluation: int = 10) -> Path:
    """Omniglot's layout: ``images_background/<alphabet>/<character>/*.png`` (2 x 50 characters: 80 train and
    20 validation classes at the default val_fraction=0.2, enough for 20-way) and ``images_evaluation/...``
    (2 x 10 characters), 6 drawings of 3 random strokes per character."""
    rng = np.random.default_rng(0)
    for part, n_characters in (("images_background", background), ("images_evaluation", evaluation)):
        for a in range(alphabets):
            for c in range(n_characters):
                strokes = rng.uniform(4, 24, (3, 4))
                for i in range(6):
                    name = f"{part}/{part[7:]}_alphabet_{a}/character{c + 1:02d}/{c:04d}_{i + 1:02d}.png"
                    _glyph_png(root / name, strokes, rng)
    return root


def _small_data(kind: str, input: str, folder: Path) -> dict[str, Any]:
    """60 units of data in the layout the generated module documents; the options that read it (as text, as
    typed on a command line)."""
    rng = np.random.default_rng(1)
    if input == "images":
        from PIL import Image

        def image(path: Path) -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)).save(path)

        for u in range(60):
            if kind == "classification":  # plain class folders, split by a hash of the class name
                for i in range(3):
                    image(folder / f"class{u:02d}" / f"{i}.png")
            else:  # <group>/<class>/*: the class names are shared by the groups
                for c in ("cat", "dog"):
                    for i in range(2):
                        image(folder / f"site{u:02d}" / c / f"{i}.jpg")
        return {"data_dir": str(folder), "channels": "3", "image_size": "16"}
    folder.mkdir()
    width = 32 if input == "signals" else 5
    for u in range(60):
        x = rng.normal(size=(6, width))
        rows = {"classification": x, "regression": np.column_stack([x, x.sum(1)])}.get(kind)
        rows = np.column_stack([x, np.arange(6) % 3]) if rows is None else rows
        if input == "signals":
            np.save(folder / f"unit{u:02d}.npy", rows)
        else:
            header = ",".join(f"c{j}" for j in range(rows.shape[1]))
            np.savetxt(folder / f"unit{u:02d}.csv", rows, delimiter=",", header=header, comments="")
    return {"data_dir": str(folder), **({"channels": "2"} if input == "signals" else {})}


# ---------------------------------------------------------------------------- installed, through the CLI
@pytest.fixture(scope="module")
def scaffolded(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """The three vector kinds, an image-folder and a signal domain, scaffolded and installed (one pip call) into a
    --target site folder that only the subprocesses see."""
    tmp = tmp_path_factory.mktemp("scaffold")
    roots = {f"my-{kind}": new_domain(f"my-{kind}", kind, tmp) for kind in KINDS}
    assert main(["new-domain", "my-letters", "--input", "images", "--dest", str(tmp)]) == 0
    roots["my-letters"] = tmp / "my-letters"
    roots["my-signals"] = new_domain("my-signals", "classification", tmp, input="signals")
    site = tmp / "site"
    _install(list(roots.values()), site)
    return SimpleNamespace(tmp=tmp, site=site, roots=roots)


@pytest.mark.slow
def test_the_scaffolded_packages_install_and_pass_their_own_tests(scaffolded: SimpleNamespace) -> None:
    assert "my-classification" not in available_domains()  # nothing changed in this process or repository

    # every generated package passes its own tests as generated (one process: each imports torch once)
    tests = [str(root / "tests") for root in scaffolded.roots.values()]
    pytest_cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--import-mode=importlib", *tests]
    done = _run(pytest_cmd, scaffolded.site, scaffolded.tmp)
    assert done.returncode == 0, f"{done.stdout[-4000:]}{done.stderr[-2000:]}"

    done = _run([*CLI, "domains", "--json"], scaffolded.site, scaffolded.tmp)
    assert done.returncode == 0, done.stderr
    listed = {d["name"]: d for d in json.loads(done.stdout)}
    assert set(scaffolded.roots) <= set(listed) and "trading" in listed
    assert listed["my-regression"]["kind"] == "regression" and "images" in listed["my-letters"]["description"]


@pytest.mark.slow
def test_a_vectors_domain_trains_evaluates_with_baselines_and_renders(scaffolded: SimpleNamespace) -> None:
    site, tmp = scaffolded.site, scaffolded.tmp
    run = tmp / "run"
    train = [*CLI, "train", "my-classification", "--algo", "maml", "--steps", "10", "--meta-batch-size", "2"]
    done = _run([*train, "--val-every", "5", "--val-tasks", "4", "--out", str(run), "--quiet"], site, tmp)
    assert done.returncode == 0, done.stderr
    out = tmp / "eval.json"
    evaluate = [*CLI, "eval", "my-classification", "--checkpoint", str(run), "--tasks", "5", "--baselines"]
    done = _run([*evaluate, "--json", str(out), "--quiet"], site, tmp)
    assert done.returncode == 0, done.stderr
    methods = {r["method"] for r in json.loads(out.read_text())["results"]}
    assert {"maml", "scratch", "pretrain+finetune"} <= methods

    page = REPO / "apps" / "pages" / "9_Any_domain.py"
    script = (
        "import sys\n"
        "from streamlit.testing.v1 import AppTest\n"
        f"at = AppTest.from_file({str(page)!r}, default_timeout=300)\n"
        "at.query_params['domain'] = 'my-fixed-label'\n"
        "at.run()\n"
        "assert not at.exception, [e.value for e in at.exception]\n"
        "text = ' '.join(str(m.value) for m in [*at.markdown, *at.caption, *at.title, *at.header, *at.subheader])\n"
        "assert 'My fixed label' in text, text[:500]\n"
        "print('rendered')\n"
    )
    done = _run([sys.executable, "-c", script], site, REPO)
    assert done.returncode == 0 and "rendered" in done.stdout, done.stdout[-2000:] + done.stderr[-3000:]


@pytest.mark.slow
def test_an_image_folder_domain_trains_20_way_and_evaluates_5_way_with_the_data_dir_of_its_checkpoint(
    scaffolded: SimpleNamespace, tmp_path: Path
) -> None:
    data = _omniglot_layout(tmp_path / "omniglot")
    run = tmp_path / "proto"
    train = [*CLI, "train", "my-letters", "--algo", "protonet", "--ways", "20", "--shots", "1", "--queries", "2"]
    train += ["--data-dir", str(data), "--steps", "4", "--meta-batch-size", "2", "--val-every", "2", "--val-tasks", "4"]
    done = _run([*train, "--out", str(run), "--quiet"], scaffolded.site, tmp_path)
    assert done.returncode == 0, done.stderr

    meta = json.loads((run / "best.json").read_text())
    assert meta["domain_options"]["data_dir"] == str(data.resolve())
    assert meta["domain_options"]["image_size"] == 28 and meta["setting"]["n_way"] == 20
    train_ids, val_ids = meta["split_ids"]["train"], meta["split_ids"]["val"]
    assert (len(train_ids), len(val_ids)) == (80, 20) and not set(train_ids) & set(val_ids)
    assert all(n.startswith("images_background/") for n in train_ids + val_ids)

    # evaluated 5-way from another folder, without --data-dir: it comes from the checkpoint
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = elsewhere / "eval.json"
    evaluate = [*CLI, "eval", "my-letters", "--checkpoint", str(run), "--ways", "5", "--tasks", "6"]
    done = _run([*evaluate, "--json", str(out), "--quiet"], scaffolded.site, elsewhere)
    assert done.returncode == 0, done.stderr
    assert "overrides" not in done.stderr and "other data" not in done.stderr, done.stderr
    report = json.loads(out.read_text())
    assert report["setting"]["n_way"] == 5 and report["setting"]["k_shot"] == 1 and report["setting"]["split"] == "test"
    [result] = report["results"]
    assert result["method"] == "protonet" and result["n_tasks"] == 6
    assert 0.0 <= result["metrics"]["accuracy"]["mean"] <= 1.0
    assert report["data_source"]["fingerprint"] == meta["data_fingerprint"]  # the same 20 evaluation characters
    assert "warnings" not in report


# ---------------------------------------------------------------------------- every combination, in this process
def test_every_generated_package_is_ruff_clean(tmp_path: Path) -> None:
    pytest.importorskip("ruff")
    roots = [new_domain(f"{k}-{i}", k, tmp_path, input=i) for k, i in COMBINATIONS]
    roots.append(new_domain("a" + "b" * 40, "fixed-label", tmp_path, input="signals"))  # the longest name
    for command in (["check", "--no-cache"], ["format", "--no-cache", "--check"]):
        done = subprocess.run([sys.executable, "-m", "ruff", *command, *roots], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


@pytest.mark.parametrize(("kind", "input"), COMBINATIONS)
def test_each_combination_reads_the_layout_it_documents(kind: str, input: str, tmp_path: Path) -> None:
    cls = _domain_class(new_domain("my-data", kind, tmp_path, input=input))
    assert {"data_dir", "seed"} <= {o.name for o in cls.option_specs}
    options = _small_data(kind, input, tmp_path / "data")
    domain = cls.from_options(options)  # text values, as the command line passes them
    assert Path(domain.options["data_dir"]) == (tmp_path / "data").resolve()
    n_way = 2 if kind == "classification" else domain.default_setting()["n_way"]
    name, kwargs = domain.backbone_spec("maml", n_way)
    backbone = build_backbone(name, **kwargs)
    for split in SPLITS:
        task = domain.sampler(split, n_way=n_way, k_shot=1, n_query=1).sample(torch.Generator().manual_seed(0))
        assert tuple(task.support_x.shape[1:]) == tuple(backbone.input_shape)
        assert backbone(task.query_x).shape == (len(task.query_x), 1 if kind == "regression" else n_way)
    expected = {
        "images": (3, 16, 16),
        "signals": (32,),  # two channels of 16 samples, channel-major
        "vectors": (5,),
    }[input]
    assert tuple(task.query_x.shape[1:]) == expected


def test_image_folders_are_refused_with_messages_a_user_can_act_on(tmp_path: Path) -> None:
    cls = _domain_class(new_domain("my-images", "classification", tmp_path, input="images"))
    data = tmp_path / "data"
    _glyph_png(data / "images_background" / "latin" / "a" / "1.png", np.full((1, 4), 10.0), np.random.default_rng())
    with pytest.raises(DataError, match="images_background but no images_evaluation"):
        cls(data_dir=data)
    _glyph_png(data / "images_evaluation" / "greek" / "alpha" / "1.png", np.full((1, 4), 9.0), np.random.default_rng())
    with pytest.raises(DataError, match=r"fewer than 2 images: images_background/latin/a \(1\)"):
        cls(data_dir=data)
    with pytest.raises(DataError, match=r"no folder under .* holds images"):
        cls(data_dir=tmp_path / "my-images")  # the package folder: Python files, no image
    with pytest.raises(MetasuiteError, match="image_size=8 is too small"):
        cls(image_size=8)


# ---------------------------------------------------------------------------- refusals and the command line
def test_bad_requests_are_refused_without_touching_anything(tmp_path: Path) -> None:
    with pytest.raises(MetasuiteError, match="lowercase"):
        new_domain("My Domain", "classification", tmp_path)
    with pytest.raises(MetasuiteError, match="unknown kind"):
        new_domain("ok-name", "clustering", tmp_path)
    with pytest.raises(MetasuiteError, match="unknown input"):
        new_domain("ok-name", "classification", tmp_path, input="video")
    with pytest.raises(MetasuiteError, match="not offered for --kind regression"):
        new_domain("ok-name", "regression", tmp_path, input="images")
    with pytest.raises(MetasuiteError, match=r"already installed.*--force"):
        new_domain("sinusoid", "regression", tmp_path)
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    with pytest.raises(MetasuiteError, match="already exists"):
        new_domain("taken", "regression", tmp_path)
    assert (tmp_path / "taken" / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]
    assert main(["new-domain", "class", "--dest", str(tmp_path)]) == 2  # a Python keyword


def test_force_scaffolds_an_installed_name_into_a_new_folder_and_never_overwrites(tmp_path: Path, capsys) -> None:
    with pytest.warns(UserWarning, match="already installed"):
        root = new_domain("driving", "classification", tmp_path, input="images", force=True)
    assert root == tmp_path / "driving"
    assert 'driving = "driving_domain:DrivingDomain"' in (root / "pyproject.toml").read_text()
    (root / "driving_domain" / "domain.py").write_text("# my edits")
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    with pytest.raises(MetasuiteError, match="already exists"):
        new_domain("driving", "classification", tmp_path, input="images", force=True)
    assert main(["new-domain", "driving", "--input", "images", "--force", "--dest", str(tmp_path)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before
    with pytest.warns(UserWarning, match="already installed"):
        assert main(["new-domain", "driving", "--force", "--dest", str(tmp_path / "compare")]) == 0
    assert (tmp_path / "compare" / "driving" / "driving_domain" / "domain.py").exists()


def test_the_cli_writes_the_package_and_says_what_to_do_next(tmp_path: Path, capsys) -> None:
    assert main(["new-domain", "wind-turbines", "--kind", "fixed-label", "--dest", str(tmp_path)]) == 0
    said = capsys.readouterr().out
    assert "pip install -e" in said and "metasuite train wind-turbines" in said
    root = tmp_path / "wind-turbines"
    assert (root / "wind_turbines_domain" / "domain.py").exists()
    assert 'wind-turbines = "wind_turbines_domain:WindTurbinesDomain"' in (root / "pyproject.toml").read_text()
    compile((root / "wind_turbines_domain" / "domain.py").read_text(), "domain.py", "exec")

    assert main(["new-domain", "letters", "--input", "images", "--dest", str(tmp_path)]) == 0
    said = capsys.readouterr().out
    assert "--algo protonet --ways 20" in said and "--ways 5 --shots 1" in said
    assert '"pillow"' in (tmp_path / "letters" / "pyproject.toml").read_text()
