"""The folder tells the architecture: core knows no domain or app, a domain knows no other domain nor the app.

Checked on the source (every ``import`` and ``from ... import`` anywhere in a module, function bodies
included), so an upward import fails here before it can hide behind a lazy import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = {"core": "metasuite.core", "domains": "metasuite.domains", "apps": "metasuite.apps"}


def _imports(path: Path) -> list[tuple[int, str, bool]]:
    """``(line, imported module, at module level)`` of every import in ``path`` (relative ones resolved)."""
    tree = ast.parse(path.read_text(), str(path))
    rel = path.relative_to(REPO).with_suffix("")
    parts = [PACKAGES[rel.parts[0]], *rel.parts[1:]] if rel.parts[0] in PACKAGES else list(rel.parts)
    package = ".".join(parts if path.name == "__init__.py" else parts[:-1]).removesuffix(".__init__")
    top_level = {id(node) for node in tree.body}
    for node in tree.body:  # imports under `if TYPE_CHECKING:` / try at module level count as module level
        if isinstance(node, ast.If | ast.Try):
            top_level |= {id(n) for n in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name, id(node) in top_level) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.append((node.lineno, module, id(node) in top_level))
    return found


def _modules(folder: str) -> list[Path]:
    return sorted(p for p in (REPO / folder).rglob("*.py") if "__pycache__" not in p.parts)


def _violations(folder: str, forbidden) -> list[str]:  # type: ignore[no-untyped-def]
    out = []
    for path in _modules(folder):
        for line, module, _ in _imports(path):
            reason = forbidden(path, module)
            if reason:
                out.append(f"{path.relative_to(REPO)}:{line} imports {module} ({reason})")
    return out


def test_core_imports_no_domain_and_no_app() -> None:
    def rule(path: Path, module: str) -> str | None:
        if module.startswith(("metasuite.domains", "metasuite.apps", "streamlit")):
            return "core is domain-agnostic and knows no front end"
        return None

    assert _violations("core", rule) == []


def test_a_domain_imports_no_other_domain_and_no_app() -> None:
    def rule(path: Path, module: str) -> str | None:
        own = f"metasuite.domains.{path.relative_to(REPO / 'domains').parts[0]}"
        if module.startswith("metasuite.domains.") and not module.startswith(own):
            return "domains are independent"
        if module.startswith(("metasuite.apps", "streamlit")):
            return "a domain knows nothing of the app"
        return None

    assert _violations("domains", rule) == []


@pytest.mark.parametrize("folder", ["core", "domains", "apps", "tests", "data"])
def test_nothing_imports_the_repository_folders_by_their_bare_names(folder: str) -> None:
    """``import core`` would load a second copy of every module next to ``metasuite.core`` (two Domain classes)."""

    def rule(path: Path, module: str) -> str | None:
        bare = module.split(".")[0] in ("core", "domains", "apps", "data")
        return "use the metasuite namespace" if bare else None

    assert _violations(folder, rule) == []


def test_pages_hold_layout_only() -> None:
    """A page imports its logic module, never an algorithm, trainer or evaluator directly."""

    def rule(path: Path, module: str) -> str | None:
        if path.parent.name == "pages" and module.startswith(("metasuite.core.algorithms", "metasuite.core.trainer")):
            return "pages call apps.logic, which calls the core"
        return None

    assert _violations("apps", rule) == []


def test_project_modules_are_imported_at_the_top() -> None:
    """A function-local import of a project module hides an import cycle from tools and readers; heavy
    third-party packages (torch extras, sklearn, streamlit, PIL ...) may stay lazy."""

    def local_project_imports(folder: str) -> list[str]:
        return [
            f"{path.relative_to(REPO)}:{line} imports {module} inside a function"
            for path in _modules(folder)
            for line, module, top in _imports(path)
            if not top and module.startswith("metasuite")
        ]

    assert [v for folder in ("core", "domains", "apps") for v in local_project_imports(folder)] == []
