"""Driving, ProtoNet: how much of a difference between two trained models is the training seed?

Summarises runs of the shipped ProtoNet recipe retrained with other seeds and with domain randomisation, each
scored by ``metasuite eval`` together with the shipped checkpoint on the same fixed tasks, into
``data/eval/driving/training-seed-spread.{json,png}``. The runs (README, driving results)::

    metasuite train driving --algo protonet --queries 5 --threads 1 --seed S [--option randomise=L
        [--option mix_plain=true]] --out runs/RUN
    metasuite eval driving --checkpoint data/checkpoints/driving/protonet --checkpoint runs/RUN
        --option randomise=0 [--option mix_plain=false] --split val|test --shots K --queries 5|15 --tasks 600
        --threads 1 --json runs/RUN-{val,unseen}-K.json
    metasuite eval driving --data-dir ../shared/data/driving-day-night --checkpoint data/checkpoints/driving/protonet
        --checkpoint runs/RUN --ways 2 --shots K --queries 15 --tasks 200 --threads 1 --json runs/RUN-dn-K.json

Run from the repository root: ``python benchmarks/driving_seed_spread.py``.
"""

import json
from pathlib import Path

import matplotlib

from metasuite.core.stats import paired_difference

matplotlib.use("Agg")
import matplotlib.pyplot as plt

RUNS = {  # run folder -> (label, randomisation)
    "pn-seed1": ("plain, seed 1", "plain"),
    "pn-seed2": ("plain, seed 2", "plain"),
    "dr25-seed1": ("randomise 0.25, seed 1", "randomise=0.25"),
    "dr25-seed2": ("randomise 0.25, seed 2", "randomise=0.25"),
    "dr-mix-0.5": ("randomise 0.5 + plain frames, seed 0", "randomise=0.5, mix_plain"),
}
SETTINGS = {
    "val-1": "meta-val 5w1s",
    "val-5": "meta-val 5w5s",
    "unseen-1": "unseen 5w1s",
    "unseen-5": "unseen 5w5s",
    "dn-1": "day/night 2w1s",
    "dn-5": "day/night 2w5s",
}
out = {
    "what": "ProtoNet, shipped recipe (1,500 steps), retrained with other seeds / randomisation; every run scored on "
    "the same fixed tasks as the shipped checkpoint (seed 0, plain); paired = run - shipped over those tasks",
    "settings": SETTINGS,
    "runs": {},
}
shipped = {}
for run, (label, dr) in RUNS.items():
    rows = {}
    for key in SETTINGS:
        d = json.loads(Path(f"runs/{run}-{key}.json").read_text())
        base, mine = d["results"]
        a, b = mine["per_task"]["accuracy"], base["per_task"]["accuracy"]
        shipped[key] = base["metrics"]["accuracy"]
        p = paired_difference(a, b)
        rows[key] = {"accuracy": mine["metrics"]["accuracy"], "paired_vs_shipped": p, "n_tasks": len(a)}
    out["runs"][run] = {"label": label, "randomisation": dr, "results": rows}
out["shipped"] = {"label": "plain, seed 0 (shipped data/checkpoints/driving/protonet)", "results": shipped}
Path("data/eval/driving/training-seed-spread.json").write_text(json.dumps(out, indent=1))

fig, ax = plt.subplots(figsize=(9, 4.2))
keys = list(SETTINGS)
colours = {"plain": "tab:blue", "randomise=0.25": "tab:red", "randomise=0.5, mix_plain": "tab:orange"}
series = [("plain, seed 0 (shipped)", "plain", {k: shipped[k]["mean"] for k in keys})]
series += [
    (v["label"], v["randomisation"], {k: v["results"][k]["accuracy"]["mean"] for k in keys})
    for v in out["runs"].values()
]
for i, (label, dr, vals) in enumerate(series):
    x = [j + (i - 2) * 0.1 for j in range(len(keys))]
    ax.plot(x, [vals[k] for k in keys], "o" if dr == "plain" else "s", color=colours[dr], label=label, alpha=0.85)
ax.set_xticks(range(len(keys)), [SETTINGS[k] for k in keys], rotation=15)
ax.set_ylabel("accuracy (mean over fixed tasks)")
ax.set_title("ProtoNet on driving: training seed vs domain randomisation")
ax.grid(axis="y", alpha=0.3)
ax.legend(fontsize=8, loc="lower left")
fig.tight_layout()
fig.savefig("data/eval/driving/training-seed-spread.png", dpi=110)
print(
    json.dumps(
        {r: {k: round(v["results"][k]["accuracy"]["mean"], 3) for k in keys} for r, v in out["runs"].items()}, indent=0
    )
)
