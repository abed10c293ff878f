"""Static plots written next to evaluation JSON (matplotlib, imported lazily, Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["save_confusion_png", "save_figure"]


def save_confusion_png(confusion: dict[str, Any], title: str, path: str | Path) -> Path:
    """Save a row-normalised confusion matrix (``{"labels", "matrix"}``) as a PNG; returns the path.

    Rows are true classes, columns predictions; each cell shows the fraction of the row's query
    examples (the raw counts are in the eval JSON).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    labels = confusion["labels"]
    counts = np.asarray(confusion["matrix"], dtype=float)
    rows = counts.sum(axis=1, keepdims=True)
    frac = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    size = max(4.0, 0.55 * len(labels) + 2.0)
    fig, ax = plt.subplots(figsize=(size + 1.0, size))
    im = ax.imshow(frac, vmin=0.0, vmax=1.0, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for i in range(len(labels)):
        for j in range(len(labels)):
            if frac[i, j] >= 0.005:
                ax.text(
                    j,
                    i,
                    f"{frac[i, j]:.2f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if frac[i, j] > 0.6 else "black",
                )
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of true class")
    return save_figure(fig, path)


def save_figure(fig: Any, path: str | Path, dpi: int = 110) -> Path:
    """Lay out a matplotlib figure, write it to ``path`` (parents created) and close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    return out
