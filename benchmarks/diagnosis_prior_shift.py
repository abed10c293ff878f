"""Diagnosis: choose the support-prior shift's weight ``tau`` on validation patients only.

Methods fitted with a class-balanced loss (the meta-learners, pretrain+finetune, scratch, the global model) read a
patient as if N, S, V and F were equally likely and over-call S; ``metasuite eval --prior-shift TAU`` adds
``TAU x log`` of the class frequencies of the patient's own support to their logits
(:class:`metasuite.core.evaluate.PriorShift`). This script adapts every method once per *validation* patient of each
DS1 fold (each fold's ``val`` split: all 22 DS1 patients once over the five folds; the test patients are not read),
keeps the query logits, and scores every ``tau`` of a grid on them with the same ``PriorShift`` arithmetic and the
domain's own metrics. The rule, fixed before the numbers were seen: the ``tau`` that maximises the meta-learner's
gross S F1 + gross V F1 (the issue's two gross figures) on the validation patients, ties to the smaller ``tau``;
that one value then goes once to the test folds with ``eval --prior-shift``. For comparison the JSON also holds
``eval --calibrate``'s pooled offsets judged leave-one-validation-patient-out (``loo_calibrated``).

``collect --inner-steps N`` scores the meta-learner with N test-time inner steps instead of its own (a separate
cache per N; the baselines are the same).

Two steps (the first is slow: ~3 min per fold with the baselines' pre-training; run folds side by side)::

    python benchmarks/diagnosis_prior_shift.py collect --data-dir DS1_DIR --fold K --checkpoint runs/msgd$K \\
        --cache runs/prior-shift                     # K = 0..4
    python benchmarks/diagnosis_prior_shift.py score --cache runs/prior-shift \\
        --json data/eval/diagnosis/ds1-val-prior-shift.json   # and the PNG beside it

Run from the repository root.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib
import torch

from metasuite.core.baselines import BaselineConfig, build_baselines
from metasuite.core.checkpoint import load_checkpoint
from metasuite.core.evaluate import MetaMethod, eval_tasks, fit_logit_offsets, support_log_prior, trained_balanced
from metasuite.core.evaluation import recorded_options
from metasuite.core.learners import load_learner
from metasuite.core.progress import progress
from metasuite.core.registry import get_domain_class
from metasuite.core.runs import build_domain
from metasuite.domains.diagnosis.metrics import AAMI_CLASSES, beat_metrics, gross_metrics

matplotlib.use("Agg")
import matplotlib.pyplot as plt

TAUS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0)
N_CLASSES = len(AAMI_CLASSES)


def collect(args: argparse.Namespace) -> None:
    """Adapt every method once per validation patient of one fold; save query logits, labels and support priors."""
    torch.set_num_threads(args.threads)
    meta = load_checkpoint(args.checkpoint)[1]
    options, _ = recorded_options(get_domain_class("diagnosis"), [meta], {"data_dir": args.data_dir, "fold": args.fold})
    domain = build_domain("diagnosis", options)
    learner = load_learner(args.checkpoint, domain)[0]
    setting = {**domain.default_setting(), **(meta.get("setting") or {})}
    (entry,) = domain.eval_plan({k: setting[k] for k in ("n_way", "k_shot", "n_query")}, "val", True)
    tasks = eval_tasks(domain, entry, 600, 0)
    methods = [MetaMethod(learner, steps=args.inner_steps, seed=0)]
    config = BaselineConfig(**{**domain.default_baselines(), "seed": 0})
    methods += build_baselines(domain, entry["n_way"], config, None)
    torch.set_grad_enabled(True)
    rows = []
    for task in progress(tasks, desc=f"fold {args.fold} validation patients", unit="patient"):
        keep = slice(None) if task.query_mask is None else task.query_mask
        row = {
            "patient": task.metadata.get("task_id"),
            "y": task.query_y[keep].clone(),
            "log_prior": support_log_prior(task, N_CLASSES),
            "logits": {},
        }
        for m in methods:
            predict = m.adapt(task)
            with torch.no_grad():
                row["logits"][m.name] = predict(task.query_x)[keep].clone()
        rows.append(row)
    out = Path(args.cache)
    out.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "fold": args.fold,
            "checkpoint": str(args.checkpoint),
            "inner_steps": args.inner_steps if args.inner_steps is not None else learner.test_inner_steps,
            "balanced": {m.name: trained_balanced(m) for m in methods},
            "kind": {m.name: m.kind for m in methods},
            "rows": rows,
        },
        out / f"fold{args.fold}.pt",
    )


def loo_calibrated(data: list[dict], name: str) -> dict[str, float]:
    """Gross % of method ``name`` with ``eval --calibrate``'s offsets judged without leakage: each validation
    patient scored with offsets fitted on the *other* validation patients of its fold."""
    pairs = []
    for fold in data:
        rows = fold["rows"]
        for i, r in enumerate(rows):
            others = [o for j, o in enumerate(rows) if j != i]
            z = torch.cat([o["logits"][name].double() for o in others])
            b = fit_logit_offsets(z, torch.cat([o["y"] for o in others]))
            pairs.append((r["y"].numpy(), (r["logits"][name].double() + b).argmax(-1).numpy()))
    g = gross_metrics(pairs)
    return {k: 100 * float(g[k]) for k in ("accuracy", "V_Se", "V_+P", "V_F1", "S_Se", "S_+P", "S_F1")}


def score(args: argparse.Namespace) -> None:
    """Score every tau on the cached validation logits; pick tau by the fixed rule; write JSON + PNG."""
    folds = sorted(Path(args.cache).glob("fold*.pt"))
    if not folds:
        raise SystemExit(f"no fold*.pt in {args.cache}: run the collect step first")
    data = [torch.load(f, weights_only=False) for f in folds]
    balanced, kinds = data[0]["balanced"], data[0]["kind"]
    rows = [r for d in data for r in d["rows"]]
    table: dict[str, dict[str, dict]] = {}
    for name in balanced:
        table[name] = {}
        for tau in TAUS if balanced[name] else (0.0,):
            pairs, macro = [], []
            for r in rows:
                logits = r["logits"][name] + tau * r["log_prior"]
                pred = logits.argmax(-1)
                pairs.append((r["y"].numpy(), pred.numpy()))
                macro.append(float(beat_metrics(r["y"].numpy(), pred.numpy())["macro_f1"]))
            g = gross_metrics(pairs)
            table[name][f"{tau:g}"] = {
                **{k: 100 * float(g[k]) for k in ("accuracy", "V_Se", "V_+P", "V_F1", "S_Se", "S_+P", "S_F1")},
                "patient_macro_F1": sum(macro) / len(macro),
            }
    meta_name = next(n for n, k in kinds.items() if k == "meta")
    loo = {n: loo_calibrated(data, n) for n in balanced if balanced[n]}

    def best_tau(name: str) -> float:
        by_tau = table[name]
        return max((float(t) for t in by_tau), key=lambda t: (by_tau[f"{t:g}"]["S_F1"] + by_tau[f"{t:g}"]["V_F1"], -t))

    chosen = best_tau(meta_name)
    best_own = {n: best_tau(n) for n in table if balanced[n]}
    out = {
        "what": "gross % over every query beat of the validation patients of the DS1 folds (each patient once), "
        "for each weight tau of the support-prior shift; methods without a class-balanced loss are unshifted",
        "folds": [d["fold"] for d in data],
        "checkpoints": [d["checkpoint"] for d in data],
        "meta_inner_steps": sorted({d.get("inner_steps") or "the checkpoint's own" for d in data}, key=str),
        "n_patients": len(rows),
        "n_beats": int(sum(len(r["y"]) for r in rows)),
        "rule": "tau maximising the meta-learner's gross S F1 + V F1 on validation patients, ties to the smaller",
        "chosen_tau": chosen,
        "each_method_best_tau": best_own,
        "results": table,
        "loo_calibrated": loo,
    }
    Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharex=True)
    for ax, key in zip(axes, ("S_F1", "V_F1"), strict=True):
        tops = {n: max(m[key] for m in by_tau.values()) for n, by_tau in table.items()}
        off = [n for n, v in tops.items() if v < 0.5 * max(tops.values())]  # e.g. the unadapted model's V F1 ~ 40
        for name, by_tau in table.items():
            if name in off:
                continue
            taus = [float(t) for t in by_tau]
            vals = [by_tau[t][key] for t in by_tau]
            if len(taus) == 1:
                ax.axhline(vals[0], ls="--", lw=1, color="grey", label=f"{name} (no shift)")
            else:
                ax.plot(taus, vals, marker="o", label=name)
        ax.axvline(chosen, color="k", lw=0.6, ls=":", label=f"chosen tau = {chosen:g}")
        title = f"gross {key.replace('_', ' ')}, {len(rows)} validation patients"
        if off:
            title += f"\n(not drawn, far below: {', '.join(f'{n} {tops[n]:.0f}' for n in off)})"
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("prior-shift weight tau")
        ax.grid(alpha=0.3)
    steps = ", ".join(map(str, out["meta_inner_steps"]))
    title = f"support-prior shift on validation patients; {meta_name} with {steps} test-time inner steps"
    fig.suptitle(title, fontsize=10)
    axes[0].set_ylabel("%")
    axes[1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(Path(args.json).with_suffix(".png"), dpi=120)
    print(json.dumps({k: v for k, v in out.items() if k != "results"}, indent=2))
    for name, by_tau in table.items():
        for t, m in by_tau.items():
            print(
                f"{name:32s} tau={t:5s} S F1 {m['S_F1']:5.1f} (Se {m['S_Se']:5.1f} +P {m['S_+P']:5.1f})  "
                f"V F1 {m['V_F1']:5.1f} (Se {m['V_Se']:5.1f} +P {m['V_+P']:5.1f})  macro {m['patient_macro_F1']:.3f}"
            )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="step", required=True)
    c = sub.add_parser("collect")
    c.add_argument("--data-dir", required=True)
    c.add_argument("--fold", type=int, required=True)
    c.add_argument("--checkpoint", required=True)
    c.add_argument("--cache", required=True)
    c.add_argument("--threads", type=int, default=1)
    c.add_argument("--inner-steps", type=int, default=None, help="the meta-learner's test-time inner steps (its own)")
    s = sub.add_parser("score")
    s.add_argument("--cache", required=True)
    s.add_argument("--json", required=True)
    args = p.parse_args()
    collect(args) if args.step == "collect" else score(args)


if __name__ == "__main__":
    main()
