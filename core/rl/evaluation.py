"""The evaluation of an RL domain: adaptation curves on fixed seeded test tasks, mean ± 95% CI over tasks.

For every test task (``fixed_env_tasks(family, "test", n_tasks, seed)``) and every method -- the checkpoints'
meta-learners and, with ``baselines``, the multi-task policy, its fine-tuned version and PPO from scratch
(:mod:`metasuite.core.rl.baselines`) -- the return and success rate before adaptation and after each of
``inner_steps`` updates (default 3), each update fed by ``k_shot`` fresh rollouts (default 20) of the current
policy; for RL^2 column ``k`` is episode ``k + 1`` of a trial. Every method's actions are drawn from the same
seeded stream. Per column: mean ± 1.96 sd / sqrt(n) over tasks (:func:`~metasuite.core.evaluate.mean_ci`),
and each meta-learner against each baseline after one and after the last update, paired over tasks
(:func:`~metasuite.core.stats.paired_difference`, bootstrap 95% CI). The PNG shows return against updates.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from metasuite.core.checkpoint import load_checkpoint
from metasuite.core.errors import MetasuiteError
from metasuite.core.evaluate import format_table, mean_ci
from metasuite.core.evaluation import EvalReport, EvalRequest, Evaluation, recorded_options
from metasuite.core.options import Option
from metasuite.core.plots import save_figure
from metasuite.core.rl.baselines import RLBaselineConfig, build_rl_baselines
from metasuite.core.rl.learners import load_rl_learner
from metasuite.core.rl.rollouts import EnvPool
from metasuite.core.rl.tasks import fixed_env_tasks
from metasuite.core.stats import format_comparison, paired_difference
from metasuite.core.tasks import generator

if TYPE_CHECKING:
    from metasuite.core.domain import Domain

__all__ = ["DEFAULT_STEPS", "RLEvaluation"]

DEFAULT_STEPS = 3  # updates after the first rollouts, as in Finn et al. 2017, Fig. 5


class RLEvaluation(Evaluation):
    """Return and success before and after 1..N adaptation steps on fixed test tasks, every method."""

    name = "adaptation curve"
    uses = frozenset({"split", "k_shot", "inner_steps"})
    option_specs = (
        Option("baseline_steps", int, None, "PPO iterations of the multi-task baseline (default: the domain's budget)"),
    )

    def run(self, domain_cls: type[Domain], request: EvalRequest) -> EvalReport:
        metas = [load_checkpoint(c)[1] for c in request.checkpoints]
        options, notes = recorded_options(domain_cls, metas, request.options)
        domain = domain_cls.from_options(options)
        family = domain.task_family()  # type: ignore[attr-defined]
        setting = {**domain.default_setting(), **next((m["setting"] for m in metas if m.get("setting")), {})}
        n_rollouts = request.k_shot or setting["k_shot"]
        steps = DEFAULT_STEPS if request.inner_steps is None else request.inner_steps
        split = request.split or "test"
        tasks = fixed_env_tasks(family, split, request.n_tasks, request.seed)
        learners = [load_rl_learner(c, domain)[0] for c in request.checkpoints]
        names = [learner.name for learner in learners]
        methods: list[tuple[str, str, Any]] = [  # (name, kind, method with .curve); the folder when names repeat
            (lrn.name if names.count(lrn.name) == 1 else f"{lrn.name} ({Path(ckpt).name})", "meta", lrn)
            for ckpt, lrn in zip(request.checkpoints, learners)
        ]
        pool = EnvPool(family)
        budget = request.settings.get("baseline_steps")
        overrides = {"multitask_steps": budget} if budget is not None else {}
        cfg = RLBaselineConfig(**{**domain.default_baselines(), **overrides, "seed": request.seed})
        if request.baselines:
            methods += [(b.name, b.kind, b) for b in build_rl_baselines(family, pool, cfg, steps, n_rollouts)]
        if not methods:
            raise MetasuiteError("nothing to evaluate: pass --checkpoint DIR and/or --baselines")
        results = []
        for name, kind, method in methods:
            curve = method.curve(pool, tasks, steps, n_rollouts, generator(request.seed, "eval"))
            results.append(_result(name, kind, curve))
        pool.close()
        report = {
            "domain": domain.name,
            "setting": {
                "split": split,
                "n_tasks": len(tasks),
                "seed": request.seed,
                "steps": steps,
                "rollouts_per_step": n_rollouts,
                "horizon": family.horizon,
            },
            "protocol": (
                f"column k: mean over {n_rollouts} fresh rollouts after k updates, each update on the previous "
                f"column's {n_rollouts} rollouts; rl2: episode k+1 of a trial. Success: the environment's "
                "is_success at the episode's last step."
            ),
            "baselines": {"chosen_on_val": cfg.chosen} if request.baselines else None,
            "data_source": {
                "fingerprint": domain.fingerprint(),
                "checkpoints": {m["path"]: m.get("data_fingerprint") for m in metas},
            },
            "results": results,
        }
        report["paired"] = _paired(results, steps, request.seed)
        text = format_table(report, f"{split} tasks: {len(tasks)}, {n_rollouts} rollouts per step, seed {request.seed}")
        text += "\n" + "\n".join(map(format_comparison, report["paired"])) + "\n"
        if notes:
            report["warnings"] = notes
        return EvalReport(report, text, notes)

    def write_artifacts(self, report: EvalReport, json_path: Path | None, settings: dict[str, Any]) -> list[Path]:
        """The adaptation curve (return against updates, mean ± 95% CI per method) next to the JSON."""
        if json_path is None:
            return []
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        data = report.data
        fig, ax = plt.subplots(figsize=(6.0, 4.2))
        for r in data["results"]:
            c = r["curve"]
            lo = [m - h for m, h in zip(c["return_mean"], c["return_ci95"])]
            hi = [m + h for m, h in zip(c["return_mean"], c["return_ci95"])]
            ax.plot(c["steps"], c["return_mean"], marker="o", label=r["method"])
            ax.fill_between(c["steps"], lo, hi, alpha=0.2)
        st = data["setting"]
        ax.set_xticks(range(st["steps"] + 1))
        ax.set_xlabel(f"adaptation steps ({st['rollouts_per_step']} rollouts each; rl2: earlier episodes)")
        ax.set_ylabel("average return")
        ax.set_title(f"{data['domain']}: {st['n_tasks']} {st['split']} tasks (mean ± 95% CI)")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        return [save_figure(fig, json_path.with_name(f"{json_path.stem}-curve.png"))]


def _result(name: str, kind: str, curve: dict[str, Any]) -> dict[str, Any]:
    returns, success = curve["returns"], curve["success"]
    per_task: dict[str, list[float]] = {}
    for k in range(returns.shape[1]):
        per_task[f"return@{k}"] = [float(v) for v in returns[:, k]]
    for k in range(success.shape[1]):
        per_task[f"success@{k}"] = [float(v) for v in success[:, k]]
    metrics = {name_: mean_ci(values) for name_, values in per_task.items()}
    steps = list(range(returns.shape[1]))
    return {
        "method": name,
        "kind": kind,
        "n_tasks": int(returns.shape[0]),
        "metrics": metrics,
        "per_task": per_task,
        "curve": {
            "steps": steps,
            "return_mean": [metrics[f"return@{k}"]["mean"] for k in steps],
            "return_ci95": [metrics[f"return@{k}"]["ci95"] or 0.0 for k in steps],
            "success_mean": [metrics[f"success@{k}"]["mean"] for k in steps],
        },
    }


def _paired(results: list[dict[str, Any]], steps: int, seed: int) -> list[dict[str, Any]]:
    """Every meta-learner against every baseline on the return after 1 and after ``steps`` updates."""
    out = []
    for k in sorted({min(1, steps), steps}):
        metric = f"return@{k}"
        for meta in (r for r in results if r["kind"] == "meta"):
            for base in (r for r in results if r["kind"] == "baseline"):
                diff = paired_difference(meta["per_task"][metric], base["per_task"][metric], seed=seed)
                out.append(
                    {
                        "metric": metric,
                        "meta": meta["method"],
                        "baseline": base["method"],
                        **diff,
                        "higher_is_better": True,
                    }
                )
    return out
