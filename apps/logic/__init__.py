"""Everything the app pages compute, as plain functions that tests call directly.

Nothing under ``metasuite.apps.logic`` imports Streamlit: page scripts call these functions (wrapping the
slow ones in ``st.cache_resource``) and only decide the layout.

This module holds what the Home page needs and the small helpers every page shares (paths typed or
shown on a page, model-card tables); each domain page has its own module
(:mod:`metasuite.apps.logic.sinusoid`, ...), imported explicitly so Home stays light, and every page
obtains its models through :mod:`metasuite.apps.logic.models`.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from metasuite.core import registry
from metasuite.core.runs import describe_domains

__all__ = [
    "APPS_DIR",
    "DOMAIN_PAGES",
    "GENERIC_PAGE",
    "REPO_ROOT",
    "RL_PAGE",
    "RL_PAGE_DOMAINS",
    "card_table",
    "chart_layout",
    "confusion_heatmap",
    "display_path",
    "list_domains",
    "next_task",
    "user_path",
]

#: The ``apps`` folder (where ``Home.py`` lives); domain ``page`` paths are relative to it.
APPS_DIR = Path(__file__).resolve().parents[1]
#: The repository root of a source checkout or an editable install: where relative paths typed on a page start,
#: and what shown paths are shortened against. Shipped files come from :mod:`metasuite.data`, caches from
#: :func:`metasuite.core.paths.cache_dir`; nothing is read or written here by its location.
REPO_ROOT = APPS_DIR.parent
#: The page (relative to ``apps/``) that shows any domain without a page of its own, given ``?domain=NAME``.
GENERIC_PAGE = "pages/9_Any_domain.py"
#: The page that shows the meta-RL domains (tasks that are environments), one at a time.
RL_PAGE = "pages/5_Meta_RL.py"
#: The domains the meta-RL page shows, those of them that are installed (Meta-World is optional).
RL_PAGE_DOMAINS = tuple(name for name in ("navigation", "metaworld") if name in registry.available_domains())
#: The domains with a page of their own (the app knows its pages; a domain knows nothing of the app).
DOMAIN_PAGES = {
    "sinusoid": "pages/1_Sinusoid.py",
    "driving": "pages/2_Driving.py",
    "diagnosis": "pages/3_Diagnosis.py",
    "trading": "pages/4_Trading.py",
    **dict.fromkeys(RL_PAGE_DOMAINS, RL_PAGE),
}


def list_domains() -> list[dict[str, Any]]:
    """Every registered domain as plain data for the Home page, sorted by name.

    Returns
    -------
    list of dict
        One dict per domain with ``name``, ``title``, ``kind``, ``description``, ``page`` (the
        domain's page path relative to ``apps/``, or None), ``has_page`` (True when that file
        exists), ``builtin`` (registered by metasuite itself) and ``error`` (None, or why the domain failed
        to import; a broken third-party domain is listed with its error instead of hiding the others).
    """
    entry_points = registry.available_domains()
    rows = []
    for row in describe_domains():
        page = DOMAIN_PAGES.get(row["name"]) if row["error"] is None else None
        builtin = entry_points[row["name"]].value.startswith("metasuite.") if row["name"] in entry_points else False
        rows.append(
            {**row, "page": page, "has_page": page is not None and (APPS_DIR / page).is_file(), "builtin": builtin}
        )
    return rows


def display_path(path: str | Path) -> str:
    """``path`` relative to the repository root when it lies inside it (shorter on screen), else as given."""
    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def user_path(text: str) -> Path:
    """A path typed on a page: surrounding blanks dropped, ``~`` expanded, a relative path taken from the
    repository root (where the commands in the docs run)."""
    path = Path(text.strip()).expanduser()
    return path if path.is_absolute() else REPO_ROOT / path


def next_task(state: MutableMapping[str, Any], key: str = "seed") -> None:
    """The "New task" button: advance the task seed ``state[key]`` (a page's session state) by one."""
    state[key] = int(state[key]) + 1


def card_table(card: dict[str, Any]) -> dict[str, list[str]]:
    """A model card as the two columns a page shows: the names and the values as text (floats to 4
    significant digits, ``—`` where missing)."""
    values = ["—" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v) for v in card.values()]
    return {"": list(card), "value": values}


def confusion_heatmap(
    counts: Any, class_names: list[str], unit: str, title: str | None = None, height: int = 380
) -> Any:
    """Plotly heatmap of a confusion matrix ``(n, n)`` (rows true, columns predicted) with its counts."""
    import plotly.graph_objects as go

    fig = go.Figure(
        go.Heatmap(
            z=counts,
            x=class_names,
            y=class_names,
            colorscale="Blues",
            text=counts,
            texttemplate="%{text}",
            hovertemplate=f"true %{{y}}<br>predicted %{{x}}<br>%{{z}} {unit}<extra></extra>",
            showscale=False,
        )
    )
    return chart_layout(fig, height, x="predicted", y="true", title=title, yaxis_autorange="reversed")


def chart_layout(
    fig: Any,
    height: int,
    *,
    x: str | None = None,
    y: str | None = None,
    title: str | None = None,
    legend_y: float | None = None,
    **layout: Any,
) -> Any:
    """Give plotly figure ``fig`` the pages' chart style and return it.

    ``height`` in px; axis titles ``x`` and ``y``; margins with room for the axis titles and for ``title``
    when there is one; a horizontal legend at ``legend_y`` (paper units: below the plot when negative) when
    given. ``layout`` goes to ``fig.update_layout`` as it is (``yaxis_range=[0, 1]`` ...).
    """
    style: dict[str, Any] = {"height": height, "margin": {"l": 40, "r": 20, "t": 50 if title else 30, "b": 40}}
    if title is not None:
        style["title"] = title
    if x is not None:
        style["xaxis_title"] = x
    if y is not None:
        style["yaxis_title"] = y
    if legend_y is not None:
        style["legend"] = {"orientation": "h", "y": legend_y}
    fig.update_layout(**style, **layout)
    return fig
