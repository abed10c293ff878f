"""Everything the app pages compute, as plain functions that tests call directly.

Nothing under ``metasuite.apps.logic`` imports Streamlit: page scripts call these functions (wrapping the
slow ones in ``st.cache_resource``) and only decide the layout.

This module holds what the Home page needs; each domain page has its own module
(:mod:`metasuite.apps.logic.sinusoid`, ...), imported explicitly so Home stays light.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from metasuite.core.runs import describe_domains

__all__ = [
    "APPS_DIR",
    "DOMAIN_PAGES",
    "GENERIC_PAGE",
    "REPO_ROOT",
    "confusion_heatmap",
    "list_domains",
    "train_run_atomically",
]

#: The ``apps`` folder (where ``Home.py`` lives); domain ``page`` paths are relative to it.
APPS_DIR = Path(__file__).resolve().parents[1]
#: The repository root (holds ``data/``), for a source checkout or an editable install.
REPO_ROOT = APPS_DIR.parent
#: The page (relative to ``apps/``) that shows any domain without a page of its own, given ``?domain=NAME``.
GENERIC_PAGE = "pages/9_Any_domain.py"
#: The domains with a page of their own (the app knows its pages; a domain knows nothing of the app).
DOMAIN_PAGES = {
    "sinusoid": "pages/1_Sinusoid.py",
    "driving": "pages/2_Driving.py",
    "diagnosis": "pages/3_Diagnosis.py",
    "trading": "pages/4_Trading.py",
}


def list_domains() -> list[dict[str, Any]]:
    """Every registered domain as plain data for the Home page, sorted by name.

    Returns
    -------
    list of dict
        One dict per domain with ``name``, ``title``, ``kind``, ``description``, ``page`` (the
        domain's page path relative to ``apps/``, or None), ``has_page`` (True when that file
        exists) and ``error`` (None, or why the domain failed to import; a broken third-party
        domain is listed with its error instead of hiding the others).
    """
    rows = []
    for row in describe_domains():
        page = DOMAIN_PAGES.get(row["name"]) if row["error"] is None else None
        rows.append({**row, "page": page, "has_page": page is not None and (APPS_DIR / page).is_file()})
    return rows


def train_run_atomically(out: Path, learner: Any, domain: Any, setting: dict[str, Any], cfg: Any) -> Path:
    """Meta-train ``learner`` on ``domain`` into run folder ``out`` without ever exposing a half-written run.

    Training happens in a temporary sibling folder that is renamed into place when done, so
    concurrent callers (two app sessions, parallel tests) never see a partial run; if another
    process finished first, its (identical, seeded) run is kept. ``setting`` is the task shape
    ``{"n_way", "k_shot", "n_query"}``; ``cfg`` a :class:`metasuite.core.trainer.TrainConfig`.
    """
    import shutil
    import tempfile

    from metasuite.core.trainer import train

    run_meta = {"domain": domain.name, "setting": setting, "data_fingerprint": domain.fingerprint()}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        train(
            learner,
            domain.sampler("train", **setting),
            domain.sampler("val", **setting),
            cfg,
            tmp,
            run_meta=run_meta,
            progress=False,
        )
        try:
            tmp.rename(out)
        except OSError:
            if not (out / "best.safetensors").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


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
    fig.update_layout(
        title=title,
        xaxis_title="predicted",
        yaxis_title="true",
        yaxis_autorange="reversed",
        height=height,
        margin={"l": 40, "r": 20, "t": 50 if title else 30, "b": 40},
    )
    return fig
