"""Domain discovery through the ``metasuite.domains`` entry-point group.

Any installed package can add a domain by declaring, in its ``pyproject.toml``::

    [project.entry-points."metasuite.domains"]
    mydomain = "my_package.domain:MyDomain"

The CLI and the app list domains with :func:`available_domains` and build them with
:func:`get_domain`; nothing in this repository has to be edited.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any

from metasuite.core.errors import UnknownNameError

if TYPE_CHECKING:
    from metasuite.core.domain import Domain

__all__ = ["ENTRY_POINT_GROUP", "available_domains", "get_domain", "get_domain_class"]

ENTRY_POINT_GROUP = "metasuite.domains"

# Used only when metasuite runs from a source tree that was never pip-installed (no metadata).
_BUILTIN = {
    "sinusoid": "metasuite.domains.sinusoid:SinusoidDomain",
    "driving": "metasuite.domains.driving:DrivingDomain",
    "diagnosis": "metasuite.domains.diagnosis:DiagnosisDomain",
}


def available_domains() -> dict[str, EntryPoint]:
    """Every registered domain name -> its entry point (not yet imported), sorted by name."""
    found = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    for name, target in _BUILTIN.items():
        found.setdefault(name, EntryPoint(name=name, value=target, group=ENTRY_POINT_GROUP))
    return dict(sorted(found.items()))


def get_domain_class(name: str) -> type[Domain]:
    """Import and return the domain class registered as ``name``."""
    from metasuite.core.domain import Domain

    domains = available_domains()
    if name not in domains:
        raise UnknownNameError(
            f"unknown domain {name!r}; installed domains: {', '.join(domains) or 'none'} "
            f"(a package adds one through the entry-point group '{ENTRY_POINT_GROUP}')"
        )
    cls = domains[name].load()
    if not (isinstance(cls, type) and issubclass(cls, Domain)):
        raise TypeError(f"entry point {domains[name].value!r} for domain {name!r} is not a core.domain.Domain subclass")
    return cls


def get_domain(name: str, **options: Any) -> Domain:
    """Build domain ``name`` with ``options`` (e.g. ``data_dir``)."""
    return get_domain_class(name)(**options)
