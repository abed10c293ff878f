"""Packaging: one importable package, ``metasuite``; nothing named core / domains / apps in site-packages."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FOLDERS = {"core": "metasuite.core", "domains": "metasuite.domains", "apps": "metasuite.apps", "data": "metasuite.data"}


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def test_every_package_folder_is_listed_in_pyproject() -> None:
    """A sub-package missing from the list would silently be left out of the wheel."""
    cfg = _pyproject()["tool"]["setuptools"]
    assert cfg["package-dir"] == {v: k for k, v in FOLDERS.items()}
    found = set()
    for folder, package in FOLDERS.items():
        for init in (REPO / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / folder)
            found.add(".".join([package, *rel.parts]))
    assert set(cfg["packages"]) == found


def test_entry_points_name_metasuite_modules() -> None:
    project = _pyproject()["project"]
    assert project["scripts"]["metasuite"].startswith("metasuite.")
    for group in project["entry-points"].values():
        assert all(v.startswith("metasuite.") for v in group.values()), group


@pytest.mark.slow
def test_the_wheel_installs_into_a_fresh_venv_as_the_metasuite_namespace(tmp_path: Path) -> None:
    # build from a copy, so the source tree gets no build/ folder
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "cache", "*.egg-info")
    for folder in FOLDERS:
        shutil.copytree(REPO / folder, src / folder, ignore=ignore)
    wheels = tmp_path / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    done = subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(wheels), str(src)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (wheel,) = wheels.glob("metasuite-*.whl")
    tops = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert tops == {"metasuite", wheel.name.split("-py")[0] + ".dist-info"}, tops

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    site = Path(
        subprocess.check_output(
            [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
        ).strip()
    )
    # the dependencies (torch, numpy ...) come from this project's venv; its editable finder does not (.pth
    # files of a directory added this way are not processed)
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    done = subprocess.run(
        [*pip, "install", "--no-deps", "--no-index", "--target", str(site), str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert not {"core", "domains", "apps"} & {p.name for p in site.iterdir()}

    script = (
        "import importlib.util, metasuite.core, metasuite.data\n"
        "from metasuite.core.registry import available_domains\n"
        "assert importlib.util.find_spec('core') is None and importlib.util.find_spec('domains') is None\n"
        f"assert metasuite.core.__file__.startswith({str(site)!r}), metasuite.core.__file__\n"
        "assert (metasuite.data.CHECKPOINTS / 'sinusoid' / 'maml' / 'best.safetensors').is_file()\n"
        "assert {'sinusoid', 'driving', 'diagnosis', 'trading'} <= set(available_domains())\n"
        "import metasuite.apps, pathlib\n"
        "assert (pathlib.Path(metasuite.apps.__file__).parent / 'pages').is_dir()\n"
        "print('ok')\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    done = subprocess.run([py, "-c", script], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr[-3000:]
