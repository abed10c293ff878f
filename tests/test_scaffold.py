"""`metasuite new-domain`: the generated package installs as an external package, passes its own tests,
is listed, trains and evaluates, and gets the app's generic page -- without editing this repository."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from metasuite.apps.cli import main
from metasuite.core.errors import MetasuiteError
from metasuite.core.registry import available_domains
from metasuite.core.scaffold import KINDS, new_domain

REPO = Path(__file__).resolve().parents[1]


def _install(pkg: Path, site: Path) -> None:
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index"]
    pip += ["--disable-pip-version-check", "--target", str(site), str(pkg)]
    done = subprocess.run(pip, capture_output=True, text=True, timeout=300, cwd=pkg.parent)
    assert done.returncode == 0, done.stderr


def _run(cmd: list[str], site: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, cwd=cwd)


@pytest.mark.slow
def test_a_scaffolded_domain_installs_trains_evaluates_and_renders(tmp_path: Path) -> None:
    site = tmp_path / "site"
    roots = {kind: new_domain(f"my-{kind}", kind, tmp_path) for kind in KINDS}
    for root in roots.values():
        _install(root, site)
    assert "my-classification" not in available_domains()  # nothing changed in this process or repository

    # each generated package passes its own tests as generated
    for kind, root in roots.items():
        done = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root / "tests")], site, root)
        assert done.returncode == 0, f"{kind}: {done.stdout[-2000:]}{done.stderr[-2000:]}"

    cli = [sys.executable, "-m", "metasuite.apps.cli"]
    done = _run([*cli, "domains", "--json"], site, tmp_path)
    assert done.returncode == 0, done.stderr
    listed = {d["name"]: d for d in json.loads(done.stdout)}
    assert {f"my-{k}" for k in KINDS} <= set(listed) and "trading" in listed
    assert listed["my-regression"]["kind"] == "regression"

    run = tmp_path / "run"
    train = [*cli, "train", "my-classification", "--algo", "maml", "--steps", "10", "--meta-batch-size", "2"]
    done = _run([*train, "--val-every", "5", "--val-tasks", "4", "--out", str(run), "--quiet"], site, tmp_path)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "eval.json"
    evaluate = [*cli, "eval", "my-classification", "--checkpoint", str(run), "--tasks", "5", "--baselines"]
    done = _run([*evaluate, "--json", str(out), "--quiet"], site, tmp_path)
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


def test_bad_requests_are_refused_without_touching_anything(tmp_path: Path) -> None:
    with pytest.raises(MetasuiteError, match="lowercase"):
        new_domain("My Domain", "classification", tmp_path)
    with pytest.raises(MetasuiteError, match="unknown kind"):
        new_domain("ok-name", "clustering", tmp_path)
    with pytest.raises(MetasuiteError, match="already installed"):
        new_domain("sinusoid", "regression", tmp_path)
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    with pytest.raises(MetasuiteError, match="already exists"):
        new_domain("taken", "regression", tmp_path)
    assert (tmp_path / "taken" / "keep.txt").read_text() == "mine"
    assert main(["new-domain", "class", "--dest", str(tmp_path)]) == 2  # a Python keyword


def test_the_cli_writes_the_package_and_says_what_to_do_next(tmp_path: Path, capsys) -> None:
    assert main(["new-domain", "wind-turbines", "--kind", "fixed-label", "--dest", str(tmp_path)]) == 0
    said = capsys.readouterr().out
    assert "pip install -e" in said and "metasuite train wind-turbines" in said
    root = tmp_path / "wind-turbines"
    assert (root / "wind_turbines_domain" / "domain.py").exists()
    assert 'wind-turbines = "wind_turbines_domain:WindTurbinesDomain"' in (root / "pyproject.toml").read_text()
    compile((root / "wind_turbines_domain" / "domain.py").read_text(), "domain.py", "exec")
