"""``metasuite bench fewshot [--data-dir DIR]``: the learners on a standard few-shot image set, the papers' table.

Trains each learner (ProtoNet, Meta-Baseline, R2D2, MetaOptNet; MAML with ``--option maml=true``) on the
background classes -- the user's Omniglot-layout folder given with ``--data-dir``, else the built-in glyph set --
and evaluates them on the evaluation classes: 5-way 1-shot, 5-way 5-shot and 20-way 1-shot, 600 fixed test tasks
each (``--quick``: a toy size, a smoke test), accuracy mean ± 95% CI, with the validation metric and training time.
Ratios: each learner's 5-way 1-shot accuracy over ProtoNet's (the reference these heads are meant to beat).
Metric and closed-form learners are trained 20-way (the standard "higher way in training" recipe; fewer when
the set has fewer than 20 training or validation classes) and evaluated at every N; MAML's head is N-way, so it
is trained and evaluated 5-way only.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from metasuite.core.evaluation import EvalRequest
from metasuite.core.runs import TrainRequest, eval_run, train_run
from metasuite.domains.fewshot.domain import FewShotDomain

__all__ = ["LEARNERS", "bench_fewshot"]

LEARNERS = ("protonet", "metabaseline", "r2d2", "metaoptnet")


def bench_fewshot(
    quick: bool = False,
    data_dir: str | None = None,
    maml: bool = False,
    steps: int | None = None,
    n_tasks: int | None = None,
    hidden: int | None = None,
) -> dict[str, Any]:
    """Train and evaluate every learner; ``{"results": {learner: {...}}, "ratios": {...}}``.

    ``quick``: the same code path at a toy size (Conv-4-32, 20 steps of 2 tasks with 5 queries per class, 20 test
    tasks) -- a smoke test, not the table; the defaults are the domain's (Conv-4-64, 2,000 steps of
    8 tasks, 600 test tasks with 15 queries).
    """
    options: dict[str, Any] = {} if data_dir is None else {"data_dir": str(data_dir)}
    if hidden or quick:
        options["hidden"] = hidden or 32
    steps = steps or (20 if quick else 2000)
    n_tasks = n_tasks or (20 if quick else 600)
    n_query = 5 if quick else None
    learners = (*LEARNERS, *(("maml",) if maml else ()))
    classes = FewShotDomain.from_options(options).classes()
    train_way = min(20, len(classes["train"]), len(classes["val"]))  # a small set validates at fewer ways
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="metasuite-bench-fewshot-") as tmp:
        for algo in learners:
            any_way = algo != "maml"
            config = {"steps": steps, "val_every": max(1, steps // 4), "val_tasks": 20 if quick else 100}
            if quick:
                config["meta_batch_size"] = 2
            t0 = time.perf_counter()
            trained = train_run(
                TrainRequest(
                    "fewshot", algo, Path(tmp) / algo, options=options, n_way=train_way if any_way else 5,
                    n_query=n_query, config=config, pretrain_steps=20 if quick and algo == "metabaseline" else None,
                    progress=False,
                )
            )  # fmt: skip
            seconds = time.perf_counter() - t0
            request = EvalRequest("fewshot", checkpoints=[Path(tmp) / algo], n_tasks=n_tasks, progress=False)
            if not any_way:
                request.n_way, request.k_shot = 5, 1
            report, _ = eval_run(request)
            rows = report.data["results"]
            if "plan" in report.data["setting"]:
                table = {f"{r['setting']['n_way']}w{r['setting']['k_shot']}s": r["metrics"]["accuracy"] for r in rows}
            else:
                table = {"5w1s": rows[0]["metrics"]["accuracy"]}
            results[algo] = {
                "accuracy": table,
                "best_val": trained.summary["best_val"],
                "train_seconds": round(seconds, 1),
            }
    reference = results["protonet"]["accuracy"]["5w1s"]["mean"]
    ratios = {f"{a}_5w1s_vs_protonet": round(r["accuracy"]["5w1s"]["mean"] / reference, 3) for a, r in results.items()}
    return {
        "data": data_dir or "built-in glyph set (domains/fewshot/data.py)",
        "quick": quick,
        "steps": steps,
        "n_tasks": n_tasks,
        "results": results,
        "ratios": ratios,
    }
