"""The cross-section of a many-ticker walk-forward: does a method beat each baseline ticker by ticker?

For every meta-learner and every other method, over the tickers where both have a defined Sharpe ratio:

* ``sharpe_diff``: the mean per-ticker Sharpe difference (meta - baseline) with a percentile bootstrap 95% CI
  over tickers (:func:`metasuite.core.stats.paired_difference`, 10,000 resamples, seeded) and its median;
* ``share_improved``: the fraction of tickers whose Sharpe is higher with the meta-learner;
* ``drawdown_reduction``: the mean per-ticker max-drawdown difference (meta - baseline; max drawdowns are <= 0,
  so a positive value is a shallower drawdown) with its CI, and the fraction of tickers with a shallower one.

Tickers are not independent (they share the market), so the CI over tickers is narrower than one over periods
would be: it says how consistent the difference is across these tickers in this period, not that it will
persist. The equal-weight portfolio of each method (the report's ``portfolio`` entries) is the other half of
the picture. :func:`save_tickers_png` draws the distributions. Not investment advice.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from metasuite.core.plots import save_figure
from metasuite.core.stats import paired_difference

__all__ = ["CROSS_SECTION_BASELINES", "POOLED", "cross_section", "headline", "pooled_rows", "save_tickers_png"]

#: The baselines a histogram panel is drawn for, in this order, when the report has them.
POOLED = "pooled (no adaptation)"
CROSS_SECTION_BASELINES = ("buy & hold", "jump model", "HMM 2-state", POOLED, "vol targeting")


def _per_ticker(methods: dict[str, Any], name: str, key: str, tickers: list[str]) -> np.ndarray:
    per = methods[name]["per_ticker"]
    return np.array([np.nan if per.get(t, {}).get(key) is None else float(per[t][key]) for t in tickers])


def cross_section(methods: dict[str, Any], tickers: list[str], *, seed: int = 0) -> dict[str, Any] | None:
    """The cross-sectional comparison (module docstring) of every ``"meta"`` method of a report's ``methods``
    against every other method, over ``tickers``; None with fewer than 2 tickers or no meta-learner."""
    metas = [n for n, e in methods.items() if e["kind"] == "meta"]
    if len(tickers) < 2 or not metas:
        return None
    out: dict[str, Any] = {"n_tickers": len(tickers), "methods": {}}
    for meta in metas:
        sharpe = _per_ticker(methods, meta, "sharpe", tickers)
        mdd = _per_ticker(methods, meta, "max_drawdown", tickers)
        vs = {}
        for other in methods:
            if other == meta:
                continue
            o_sharpe = _per_ticker(methods, other, "sharpe", tickers)
            o_mdd = _per_ticker(methods, other, "max_drawdown", tickers)
            both = np.isfinite(sharpe) & np.isfinite(o_sharpe)
            diffs = sharpe[both] - o_sharpe[both]
            dd_both = np.isfinite(mdd) & np.isfinite(o_mdd)
            vs[other] = {
                "sharpe_diff": paired_difference(sharpe, o_sharpe, seed=seed),
                "median_sharpe_diff": float(np.median(diffs)) if diffs.size else None,
                "share_improved": float((diffs > 0).mean()) if diffs.size else None,
                "drawdown_reduction": paired_difference(mdd, o_mdd, seed=seed),
                "share_shallower_drawdown": float((mdd[dd_both] > o_mdd[dd_both]).mean()) if dd_both.any() else None,
            }
        out["methods"][meta] = vs
    return out


def format_cross_section(section: dict[str, Any]) -> list[str]:
    """Lines of the printed report: one per (meta-learner, baseline)."""
    lines = [
        f"cross-section over {section['n_tickers']} tickers (per-ticker differences, bootstrap 95% CI of the mean):"
    ]
    for meta, vs in section["methods"].items():
        for other, v in vs.items():
            d, dd = v["sharpe_diff"], v["drawdown_reduction"]
            if d["diff"] is None:
                continue
            lines.append(
                f"  {meta} - {other}: Sharpe {d['diff']:+.2f} [{_num(d['lo'])}, {_num(d['hi'])}], "
                f"{100 * v['share_improved']:.0f}% of tickers improved; max drawdown "
                f"{_pct(dd['diff'])} [{_pct(dd['lo'])}, {_pct(dd['hi'])}] shallower"
            )
    return lines


def _num(x: float | None) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{x:+.2f}"


def _pct(x: float | None) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{100 * x:+.1f}pp"


def headline(section: dict[str, Any]) -> tuple[str, list[str]]:
    """``(meta-learner, baselines)`` a figure of ``section`` shows: the checkpoints' ensemble when there is one (else
    the first meta-learner) against the :data:`CROSS_SECTION_BASELINES` it was compared with, the pooled model's
    ensemble over seeds standing in for the pooled model."""
    metas = list(section["methods"])
    meta = next((m for m in metas if "(ensemble of" in m), metas[0])
    vs = section["methods"][meta]
    others = [o for b in CROSS_SECTION_BASELINES for o in (pooled_rows(vs) if b == POOLED else [b] if b in vs else [])]
    return meta, others or list(vs)[:4]


def pooled_rows(names: Iterable[str]) -> list[str]:
    """The pooled model's row among method ``names``: the single pooled model, or else its ensemble over seeds
    (``eval trading --ensemble --baseline-seeds``), which then stands in for it in every comparison."""
    names = list(names)
    return [POOLED] if POOLED in names else [n for n in names if n.startswith(f"{POOLED} (ensemble")]


def save_tickers_png(report: dict[str, Any], path: str | Path, disclaimer: str) -> Path | None:
    """Histograms of the headline meta-learner's per-ticker Sharpe differences (the ensemble of the checkpoints when
    there is one, else the first) against the baselines of :data:`CROSS_SECTION_BASELINES` (the pooled model's
    ensemble over seeds standing in for it); mean and its CI marked. None when the report has no cross-section."""
    section = report.get("cross_section")
    if not section or not section.get("methods"):
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    meta, others = headline(section)
    vs = section["methods"][meta]
    tickers = report["data"]["tickers"]
    fig, axes = plt.subplots(1, len(others), figsize=(3.6 * len(others), 3.4), squeeze=False)
    sharpe = _per_ticker(report["methods"], meta, "sharpe", tickers)
    for ax, other in zip(axes[0], others):
        d = sharpe - _per_ticker(report["methods"], other, "sharpe", tickers)
        d = d[np.isfinite(d)]
        v = vs[other]
        ax.hist(d, bins=min(30, max(5, d.size // 3)), color="#1e88e5", alpha=0.75)
        ax.axvline(0.0, color="0.3", lw=1)
        if v["sharpe_diff"]["diff"] is not None:
            ax.axvline(v["sharpe_diff"]["diff"], color="#e53935", lw=2)
            if v["sharpe_diff"]["lo"] is not None:
                ax.axvspan(v["sharpe_diff"]["lo"], v["sharpe_diff"]["hi"], color="#e53935", alpha=0.15)
        ax.set_title(
            f"vs {other}\nmean {_num(v['sharpe_diff']['diff'])}, {100 * (v['share_improved'] or 0):.0f}% improved",
            fontsize=9,
        )
        ax.set_xlabel("Sharpe difference per ticker", fontsize=8)
    axes[0][0].set_ylabel("tickers")
    fig.suptitle(
        f"{meta} - each baseline: {report['data']['source']}, {section['n_tickers']} tickers, "
        f"{' .. '.join(report['data']['test_period'])}",
        fontsize=10,
    )
    fig.text(0.01, 0.005, disclaimer, fontsize=7, color="0.4")
    return save_figure(fig, path)
