"""Domain discovery: built-in domains, clear errors, and a third-party package adding a domain."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import tomllib
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from metasuite.apps.cli import main
from metasuite.core import registry
from metasuite.core.domain import Domain
from metasuite.core.errors import UnknownNameError
from metasuite.core.registry import (
    BENCHMARK_GROUP,
    ENTRY_POINT_GROUP,
    available_benchmarks,
    available_domains,
    get_domain,
    get_domain_class,
)
from metasuite.domains.sinusoid import SinusoidDomain

REPO = Path(__file__).resolve().parents[1]


def test_sinusoid_is_registered() -> None:
    domains = available_domains()
    assert "sinusoid" in domains
    assert list(domains) == sorted(domains)
    assert get_domain_class("sinusoid") is SinusoidDomain
    domain = get_domain("sinusoid")
    assert isinstance(domain, Domain) and domain.name == "sinusoid"


def test_unknown_domain_lists_the_installed_ones() -> None:
    with pytest.raises(UnknownNameError) as info:
        get_domain("no-such-domain")
    msg = str(info.value)
    assert "'no-such-domain'" in msg
    assert all(name in msg for name in available_domains())
    assert ENTRY_POINT_GROUP in msg


def _register(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    installed = registry.available_domains
    extra = EntryPoint(name=name, value=value, group=ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry, "available_domains", lambda: dict(sorted({**installed(), name: extra}.items())))


def test_the_registry_is_what_pyproject_declares() -> None:
    """The installed entry points are exactly this project's declarations (no hidden built-in list)."""
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"]
    for group, found in ((ENTRY_POINT_GROUP, available_domains()), (BENCHMARK_GROUP, available_benchmarks())):
        ours = {n: ep.value for n, ep in found.items() if ep.value.startswith("metasuite.")}
        assert ours == declared[group]
    assert set(available_domains()) >= {"sinusoid", "driving", "diagnosis", "trading"}


def test_an_entry_point_that_is_not_a_domain_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    _register(monkeypatch, "bogus", "json:dumps")
    with pytest.raises(TypeError, match=r"'json:dumps' for domain 'bogus' is not a metasuite\.core\.domain\.Domain"):
        get_domain_class("bogus")


def test_a_broken_domain_does_not_hide_the_others(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _register(monkeypatch, "broken", "no_such_module_xyz:Thing")
    assert main(["domains", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["sinusoid"]["kind"] == "regression" and rows["sinusoid"]["error"] is None
    assert rows["broken"]["kind"] == "?" and "ModuleNotFoundError" in rows["broken"]["error"]
    assert main(["domains"]) == 0
    assert "no_such_module_xyz" in capsys.readouterr().out


_PYPROJECT = """
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "metasuite-toy-line"
version = "0.0.1"

[project.entry-points."metasuite.domains"]
toy-line = "toy_line_domain:ToyLineDomain"

[tool.setuptools]
py-modules = ["toy_line_domain"]
"""

_MODULE = '''
"""A third-party metasuite domain: fit y = a x + b from a few points."""

import torch

from metasuite.core.domain import Domain
from metasuite.core.tasks import Task


class LineSampler:
    def __init__(self, split, k_shot, n_query):
        self.offset = {"train": 0.0, "val": 10.0, "test": 20.0}[split]
        self.k_shot, self.n_query = k_shot, n_query

    def sample(self, generator):
        a, b = torch.rand(2, generator=generator) + self.offset
        x = torch.rand(self.k_shot + self.n_query, 1, generator=generator) * 2 - 1
        y = a * x + b
        k = self.k_shot
        return Task(x[:k], y[:k], x[k:], y[k:], metadata={"a": float(a), "b": float(b)})


class ToyLineDomain(Domain):
    name = "toy-line"
    title = "Toy lines"
    description = "An external test domain."
    kind = "regression"

    def sampler(self, split, *, n_way=None, k_shot=5, n_query=5):
        return LineSampler(split, k_shot, n_query)

    def backbone_spec(self, algorithm, n_way):
        return "mlp", {"in_features": 1, "hidden": [8], "out_features": 1}

    def default_setting(self):
        return {"n_way": None, "k_shot": 5, "n_query": 5}
'''

_CLI_SCRIPT = """
import sys
from metasuite.apps.cli import main
rc = main(["domains"])
print("---")
rc = rc or main(["train", "toy-line", "--algo", "maml", "--steps", "5", "--meta-batch-size", "2",
                 "--val-every", "5", "--val-tasks", "2", "--out", sys.argv[1], "--quiet"])
sys.exit(rc)
"""


def test_an_external_package_adds_a_domain_without_editing_this_repo(tmp_path: Path) -> None:
    pkg, site = tmp_path / "pkg", tmp_path / "site"
    pkg.mkdir()
    (pkg / "pyproject.toml").write_text(textwrap.dedent(_PYPROJECT))
    (pkg / "toy_line_domain.py").write_text(textwrap.dedent(_MODULE))
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index"]
    pip += ["--disable-pip-version-check", "--target", str(site), str(pkg)]
    done = subprocess.run(pip, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "toy-line" not in available_domains()  # not visible to this process: nothing was edited here

    env = {**os.environ, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1"}
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-c", _CLI_SCRIPT, str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    listing, summary = done.stdout.split("---\n")
    lines = {ln.split()[0]: ln for ln in listing.splitlines()}
    assert "toy-line" in lines and "sinusoid" in lines
    assert "regression" in lines["toy-line"] and "Toy lines: An external test domain." in lines["toy-line"]
    assert json.loads(summary)["steps_done"] == 5
    assert (out / "best.safetensors").exists() and (out / "last.safetensors").exists()
    assert json.loads((out / "last.json").read_text())["domain"] == "toy-line"
