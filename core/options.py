"""Typed options: what a domain (or its evaluation) can be configured with, declared once.

A domain lists its constructor options as :class:`Option` values (name, type, default, help). From that
one declaration the command line builds its flags (``--support-minutes 5``, or ``--option
support_minutes=5``), the app builds its widgets, and values typed as text are converted and checked
before any work starts. Domains never see argparse.

Example::

    class MyDomain(Domain):
        options = (
            Option("data_dir", Path, None, "folder with one <class>.csv per class"),
            Option("image_size", int, 48, "frame side in pixels", choices=(48, 84)),
        )
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from metasuite.core.errors import MetasuiteError

__all__ = ["Option", "OptionError", "coerce_options", "parse_assignments"]

_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")
_TYPES = (int, float, str, bool, Path, list, dict)


class OptionError(MetasuiteError, ValueError):
    """An option value of the wrong type, outside its choices, or an option nobody declared."""


@dataclass(frozen=True)
class Option:
    """One typed option.

    Attributes
    ----------
    name : str
        Python identifier, the keyword the domain's constructor takes (``support_minutes``); the command
        line flag is ``--support-minutes``.
    type : type
        ``int``, ``float``, ``str``, ``bool``, ``Path``, ``list`` (of strings: ``A,B,C`` or a JSON list)
        or ``dict`` (JSON object).
    default : Any
        The value used when the option is not given (None: "not set", the domain decides).
    help : str
        One line for ``--help`` and the app.
    choices : tuple, optional
        The allowed values.
    flag : bool
        Offer ``--name`` on the command line (else only ``--option name=value``); off for options that
        are rarely set or that collide with a core flag.
    """

    name: str
    type: type
    default: Any = None
    help: str = ""
    choices: tuple[Any, ...] | None = None
    flag: bool = True

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"option name {self.name!r} is not a Python identifier")
        if self.type not in _TYPES:
            raise ValueError(f"option {self.name!r}: type must be one of {[t.__name__ for t in _TYPES]}")

    @property
    def cli_flag(self) -> str:
        """``--support-minutes`` for ``support_minutes``."""
        return "--" + self.name.replace("_", "-")

    def parse(self, text: str) -> Any:
        """The value of ``text`` as typed on a command line or in a text box; :class:`OptionError` if invalid."""
        raw = text.strip()
        try:
            if self.type is bool:
                if raw.lower() in _TRUE:
                    value: Any = True
                elif raw.lower() in _FALSE:
                    value = False
                else:
                    raise ValueError(f"expected true or false, got {text!r}")
            elif self.type is list:
                value = json.loads(raw) if raw.startswith("[") else [p.strip() for p in raw.split(",") if p.strip()]
            elif self.type is dict:
                value = json.loads(raw)
                if not isinstance(value, dict):
                    raise ValueError(f"expected a JSON object, got {text!r}")
            elif self.type is Path:
                value = Path(raw).expanduser()
            else:
                value = self.type(raw)
        except (ValueError, json.JSONDecodeError) as exc:
            raise OptionError(f"option {self.name}: cannot read {text!r} as {self.type.__name__} ({exc})") from exc
        return self.check(value)

    def check(self, value: Any) -> Any:
        """``value`` converted to this option's type (text is parsed); :class:`OptionError` if it does not fit."""
        if value is None:
            return None
        if isinstance(value, str) and self.type is not str:
            return self.parse(value)
        ok = {
            bool: lambda v: isinstance(v, bool),
            int: lambda v: isinstance(v, int) and not isinstance(v, bool),
            float: lambda v: isinstance(v, int | float) and not isinstance(v, bool),
            str: lambda v: isinstance(v, str),
            Path: lambda v: isinstance(v, str | Path),
            list: lambda v: isinstance(v, list | tuple),
            dict: lambda v: isinstance(v, Mapping),
        }[self.type](value)
        if not ok:
            raise OptionError(f"option {self.name} takes {self.type.__name__}, got {type(value).__name__} {value!r}")
        if self.type is float:
            value = float(value)
        if self.choices is not None and value not in self.choices:
            raise OptionError(f"option {self.name} must be one of {list(self.choices)}, got {value!r}")
        return value


def coerce_options(declared: Iterable[Option], values: Mapping[str, Any], owner: str) -> dict[str, Any]:
    """``values`` checked against the ``declared`` options of ``owner`` (a domain or evaluation name).

    Text values are parsed by their option's type; None values are dropped (not given). An undeclared
    name raises :class:`OptionError` listing the declared ones.
    """
    by_name = {o.name: o for o in declared}
    out: dict[str, Any] = {}
    for key, value in values.items():
        if value is None:
            continue
        if key not in by_name:
            known = ", ".join(sorted(by_name)) or "none"
            raise OptionError(f"{owner} has no option {key!r}; its options: {known}")
        out[key] = by_name[key].check(value)
    return out


def parse_assignments(items: Iterable[str] | None) -> dict[str, str]:
    """``KEY=VALUE`` strings (``--option``) as a dict of text values; dashes in keys become underscores."""
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise OptionError(f"--option expects KEY=VALUE, got {item!r}")
        out[key.strip().replace("-", "_")] = value
    return out
