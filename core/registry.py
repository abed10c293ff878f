"""Discovery through entry points: domains (``metasuite.domains``) and benchmarks (``metasuite.benchmarks``).

Any installed package adds a domain or a benchmark by declaring, in its ``pyproject.toml``::

    [project.entry-points."metasuite.domains"]
    mydomain = "my_package.domain:MyDomain"

    [project.entry-points."metasuite.benchmarks"]
    mybench = "my_package.bench:bench_mine"      # fn(quick: bool) -> dict with "ratios"

The command line and the app list domains with :func:`available_domains` and build them with
:func:`get_domain`; nothing in this repository has to be edited. metasuite's own domains and benchmarks are
registered the same way, in this project's ``pyproject.toml``.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from typing import Any

from metasuite.core.domain import Domain
from metasuite.core.errors import UnknownNameError

__all__ = [
    "BENCHMARK_GROUP",
    "ENTRY_POINT_GROUP",
    "available_benchmarks",
    "available_domains",
    "get_domain",
    "get_domain_class",
]

ENTRY_POINT_GROUP = "metasuite.domains"
BENCHMARK_GROUP = "metasuite.benchmarks"


def _group(name: str) -> dict[str, EntryPoint]:
    """Entry points of group ``name`` by name, sorted (one per name even when a distribution is seen twice)."""
    return dict(sorted({ep.name: ep for ep in entry_points(group=name)}.items()))


def available_domains() -> dict[str, EntryPoint]:
    """Every registered domain name -> its entry point (not yet imported), sorted by name."""
    return _group(ENTRY_POINT_GROUP)


def available_benchmarks() -> dict[str, EntryPoint]:
    """Every registered benchmark name -> its entry point (``load()`` gives ``fn(quick) -> dict``)."""
    return _group(BENCHMARK_GROUP)


def get_domain_class(name: str) -> type[Domain]:
    """Import and return the domain class registered as ``name``."""
    domains = available_domains()
    if name not in domains:
        raise UnknownNameError(
            f"unknown domain {name!r}; installed domains: {', '.join(domains) or 'none'} "
            f"(a package adds one through the entry-point group '{ENTRY_POINT_GROUP}')"
        )
    cls = domains[name].load()
    if not (isinstance(cls, type) and issubclass(cls, Domain)):
        raise TypeError(
            f"entry point {domains[name].value!r} for domain {name!r} is not a metasuite.core.domain.Domain subclass"
        )
    return cls


def get_domain(name: str, **options: Any) -> Domain:
    """Build domain ``name`` with ``options`` (checked against its declared option specs)."""
    return get_domain_class(name).from_options(options)
