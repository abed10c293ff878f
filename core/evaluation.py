"""How a domain is evaluated: the :class:`Evaluation` extension point and the core's default.

``metasuite eval DOMAIN`` (and the app, and the benchmarks) call :func:`metasuite.core.runs.eval_run`
with an :class:`EvalRequest`; the domain's :meth:`~metasuite.core.domain.Domain.evaluation` says who
answers it:

* :class:`FixedTaskEvaluation` (the default) -- every method on the same fixed, seeded test tasks of the
  domain's evaluation plan, mean ± 95% CI per metric (:mod:`metasuite.core.evaluate`), one confusion
  PNG per (method, setting) for classification. A domain adds a field-specific summary by overriding
  :meth:`FixedTaskEvaluation.summarize` / :meth:`~FixedTaskEvaluation.format_summary` (diagnosis: gross
  statistics over every beat and the published references).
* any other :class:`Evaluation` -- e.g. trading's walk-forward backtest, which declares its own typed
  options (costs, position rule) and writes equity curves.

An evaluation returns an :class:`EvalReport`: the JSON object, the text a terminal shows, and warnings.
It never prints and never parses a command line.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import torch

from metasuite.core.baselines import BaselineConfig, LogRegBaseline, build_baselines, check_baseline_keys
from metasuite.core.checkpoint import load_checkpoint
from metasuite.core.errors import CheckpointError, DataError, MetasuiteError
from metasuite.core.evaluate import (
    Ensemble,
    MetaMethod,
    PriorShift,
    calibrate_bias,
    eval_tasks,
    evaluate,
    evaluate_parallel,
    format_table,
    merge_reports,
    trained_balanced,
)
from metasuite.core.jsonio import NULL_MEANS, write_json
from metasuite.core.learners import load_learner
from metasuite.core.options import Option
from metasuite.core.plots import save_confusion_png
from metasuite.core.stats import compare_best, format_comparison, higher_is_better
from metasuite.core.tasks import Task, derive_seed, fixed_tasks

if TYPE_CHECKING:
    from metasuite.core.domain import Domain

__all__ = ["TASK_SHAPE", "EvalReport", "EvalRequest", "Evaluation", "FixedTaskEvaluation"]

TASK_SHAPE = ("n_way", "k_shot", "n_query")


# Appended to the note on checkpoints trained on other data: the test-time option that adapts them to it.
_ADAPT_HINT = (
    "; to adapt them to this data, add --finetune-steps 20 --finetune-select 50 (each meta-learner fine-tuned on "
    "every support at a rate chosen on this data's validation tasks, off where it does not help)"
)


@dataclass
class EvalRequest:
    """What to evaluate, as plain values (the command line, the app and the benchmarks build one).

    Attributes
    ----------
    domain : str
        Registered domain name.
    options : dict
        Domain options given explicitly (typed, see ``Domain.option_specs``).
    checkpoints : list of paths
        Run folders or ``.safetensors`` files of meta-learners.
    baselines : bool
        Also run the domain's baselines.
    n_way, k_shot, n_query : int, optional
        Task shape overrides (else the checkpoint's, else the domain's default).
    split : str, optional
        Split to evaluate on (else the domain's plan, usually ``test``).
    n_tasks : int
        Fixed test tasks per setting.
    seed : int
        Seed of the test tasks and the baselines.
    inner_steps : int, optional
        Test-time inner steps of the meta-learners (else each checkpoint's own).
    workers : int
        Processes evaluating (setting, method) pairs at once.
    settings : dict
        Values of the evaluation's own options (:attr:`Evaluation.option_specs`), e.g. trading's ``cost_bps``.
    progress : bool
        Show progress bars.
    partial_json : Path, optional
        Where each finished (setting, method) result is saved at once (the final eval JSON's path: a failure
        later in the run leaves the finished results there, marked ``"partial"``).
    finetune_steps, finetune_lr : int, float
        The P>M>F stage: fine-tune each meta-learner on pseudo-episodes of each test support set (augmented by
        the domain) before adapting (0: off).
    finetune_select : int
        Choose each meta-learner's ``finetune_lr`` among :data:`FINETUNE_LRS` (0: no fine-tuning) by its mean
        headline metric on this many fixed *validation* tasks of the test shape (0: off, use ``finetune_lr``).
        How much to fine-tune depends on how far the test data is from the training data (a strong step helps
        frames far from the training renders and wrecks frames like them), so it is chosen on the data at hand,
        never on test tasks; the choice and every candidate's validation score are recorded.
    calibrate : int
        Calibrate each meta-learner's per-class logit offsets on this many fixed validation tasks (0: off): the
        class thresholds of imbalanced fixed-label domains, never fitted on test tasks.
    logreg_head : bool
        Also score each meta-learner's learned features (its backbone's body, no inner steps) with the
        pretrain+logreg baseline's head: a logistic regression fitted on each support set (``<algo> features +
        logreg``, a meta-learner's row). Classification only.
    prior_shift : float
        Add this weight times the log class frequencies of each task's own support to the logits of every method
        fitted with a class-balanced loss (0: off; 1: the full Bayes correction to the patient's prior;
        :class:`~metasuite.core.evaluate.PriorShift`); recorded in each setting. Choose it on validation tasks.
    support_views : int
        Add this many augmented copies (the domain's ``augment``: flips and crops for images) of every support
        example to every test task's support, for every method alike (0: off); recorded in each setting.
    baseline_seeds : list of int
        Train the baselines once per seed (rows named ``<baseline> (seed S)``); empty: once, with ``seed``.
    ensemble : bool
        Also score the average of the checkpoints' meta-learners (two or more) and, with two or more
        ``baseline_seeds``, each baseline's average over its seeds (:class:`~metasuite.core.evaluate.Ensemble`).
    baseline_only : list of str
        With ``baselines``: only these (:data:`~metasuite.core.baselines.BASELINE_KEYS`: scratch, finetune, logreg,
        pooled); empty: all the domain has. The backbone is pre-trained only if one of them needs it.
    """

    domain: str
    options: dict[str, Any] = field(default_factory=dict)
    checkpoints: list[str | Path] = field(default_factory=list)
    baselines: bool = False
    n_way: int | None = None
    k_shot: int | None = None
    n_query: int | None = None
    split: str | None = None
    n_tasks: int = 600
    seed: int = 0
    inner_steps: int | None = None
    workers: int = 1
    settings: dict[str, Any] = field(default_factory=dict)
    progress: bool = True
    partial_json: Path | None = None
    finetune_steps: int = 0
    finetune_lr: float = 1e-4
    finetune_select: int = 0
    calibrate: int = 0
    logreg_head: bool = False
    prior_shift: float = 0.0
    support_views: int = 0
    baseline_seeds: list[int] = field(default_factory=list)
    ensemble: bool = False
    baseline_only: list[str] = field(default_factory=list)


@dataclass
class EvalReport:
    """An evaluation's result: ``data`` is the JSON object, ``text`` what a terminal shows."""

    data: dict[str, Any]
    text: str
    warnings: list[str] = field(default_factory=list)


class Evaluation:
    """A domain's evaluation protocol. Subclasses implement :meth:`run`; the rest has defaults.

    ``option_specs`` declares the evaluation's own settings (beyond the domain's options), from which the command
    line builds ``eval`` flags and the app its controls; their values arrive in ``request.settings``.

    An evaluation other than :class:`FixedTaskEvaluation` declares which of the fixed-task request fields it uses
    (``uses``: e.g. ``k_shot``, ``inner_steps``, ``split``) and which splits it can evaluate (``splits``; None:
    any, it checks them itself): :func:`~metasuite.core.runs.eval_run` refuses the others before any work rather
    than ignore them (an ignored ``--split val`` would report the test period to someone choosing on validation).
    """

    name: ClassVar[str] = "evaluation"
    option_specs: ClassVar[tuple[Option, ...]] = ()
    uses: ClassVar[frozenset[str]] = frozenset()
    splits: ClassVar[tuple[str, ...] | None] = None

    def run(self, domain_cls: type[Domain], request: EvalRequest) -> EvalReport:
        """Evaluate what ``request`` asks on domain ``domain_cls`` (built from ``request.options``)."""
        raise NotImplementedError

    def write_artifacts(self, report: EvalReport, json_path: Path | None, settings: dict[str, Any]) -> list[Path]:
        """Figures written for ``report`` (next to the eval JSON at ``json_path`` when there is one, or where
        the ``settings`` say); returns their paths. Default none."""
        return []


class FixedTaskEvaluation(Evaluation):
    """Scores over fixed seeded test tasks for every checkpoint and baseline (the core's evaluation)."""

    name = "fixed tasks"

    # ------------------------------------------------------------------ extension hooks
    def summarize(self, report: dict[str, Any]) -> dict[str, Any] | None:
        """A field-specific summary of one setting's report (stored under ``"summary"``); default none."""
        return None

    def format_summary(self, summary: dict[str, Any]) -> str:
        """Text of :meth:`summarize`'s result, printed after the tables."""
        return ""

    def paired_metrics(self, report: dict[str, Any]) -> list[str]:
        """Metrics on which the best meta-learner is compared with the best baseline, task by task (the paired
        difference with a bootstrap CI under ``"paired"``); default: the headline metric."""
        first = next(iter(report["results"][0]["metrics"]), None) if report["results"] else None
        return [first] if first else []

    def describe_setting(self, setting: dict[str, Any]) -> str | None:
        """The setting of a report in the domain's own words, for the table header; None: ``key=value`` pairs."""
        return None

    # ------------------------------------------------------------------ the evaluation
    def run(self, domain_cls: type[Domain], request: EvalRequest) -> EvalReport:
        """Evaluate every checkpoint and baseline on every setting of the domain's plan.

        The domain is rebuilt from the first checkpoint's recorded options, with the request's options
        overriding them (each override is reported); every incompatibility of checkpoints and settings is
        found before any baseline is trained or task drawn; each finished (setting, method) result is saved
        to ``request.partial_json`` at once, so a later failure loses nothing.
        """
        metas = [load_checkpoint(c)[1] for c in request.checkpoints]  # cheap: no model is built yet
        options, notes = recorded_options(domain_cls, metas, request.options)
        domain = domain_cls.from_options(options)
        learners = [(c, load_learner(c, domain)[0]) for c in request.checkpoints]
        setting = task_setting(domain, request, next((m.get("setting") for m in metas if m.get("setting")), None))
        explicit = any(v is not None for v in (request.k_shot, request.n_query, request.split))
        plan = domain.eval_plan(setting, request.split, explicit)
        if request.support_views:
            owner = next(c for c in type(domain).__mro__ if "augment" in vars(c))
            if owner.__module__ == "metasuite.core.domain":  # the base class's identity: no augmentation
                raise MetasuiteError(
                    f"--support-views needs augmented copies of the support, and the {domain.name} domain defines no "
                    "label-preserving augmentation (Domain.augment); leave it at 0"
                )
            plan = [{**entry, "support_views": request.support_views} for entry in plan]
        if request.prior_shift:
            check_prior_shift(domain, request)
            plan = [{**entry, "prior_shift": request.prior_shift} for entry in plan]
        check_compatible(learners, plan)
        check_ensemble(request)
        if request.baseline_only:
            check_baseline_keys(domain, request.baseline_only)
        for entry in plan:  # an unavailable split or an impossible task shape fails here, before any training
            eval_tasks(domain, entry, 1, request.seed)
        methods: list[Any] = [
            MetaMethod(
                learner,
                name=name,
                steps=request.inner_steps,
                finetune_steps=request.finetune_steps,
                finetune_lr=request.finetune_lr,
                augment=domain.augment,
                seed=request.seed,
            )
            for (_, learner), name in zip(learners, checkpoint_names(learners, metas), strict=True)
        ]
        checkpoint_methods = list(methods)  # the meta-learners an ensemble averages (not the --logreg-head rows)
        selection = self._select_finetune(domain, methods, setting, request) if request.finetune_select else []
        if request.calibrate:
            self._calibrate(domain, methods, setting, request)
        cfg = BaselineConfig(**{**domain.default_baselines(), "seed": request.seed})
        if request.logreg_head:
            methods += self._logreg_heads(domain, methods, setting, cfg)
        baseline_groups: list[tuple[str, list[Any]]] = []
        if request.baselines:
            seeds = request.baseline_seeds or [request.seed]
            per_seed, baseline_groups = seeded_baselines(
                domain, setting["n_way"], seeds, request.progress, request.baseline_only
            )
            methods += [b for built in per_seed for b in built]
        if request.ensemble:  # before the prior shift, which then shifts an ensemble as one model
            methods += ensembles(domain, checkpoint_methods, baseline_groups)
        if not methods:
            raise MetasuiteError("nothing to evaluate: pass --checkpoint DIR and/or --baselines (or --merge JSON ...)")
        if request.prior_shift:
            if not any(trained_balanced(m) for m in methods):
                notes.append(
                    "--prior-shift changed nothing: no method here is fitted with a class-balanced loss "
                    "(the shift corrects such a method's equal-prior logits to the support's class frequencies)"
                )
            n_classes = setting["n_way"]
            methods = [PriorShift(m, request.prior_shift, n_classes) if trained_balanced(m) else m for m in methods]
        fingerprint = domain.fingerprint()
        trained_on = {m["path"]: m.get("data_fingerprint") for m in metas}
        stale = [p for p, f in trained_on.items() if f not in (None, fingerprint)]
        if stale:
            notes.append(
                f"evaluating on other data (fingerprint {fingerprint}) than checkpoint(s) {stale} were trained on "
                f"({', '.join(sorted({str(trained_on[p]) for p in stale}))}); results may not match their model cards"
                + ("" if request.finetune_select else _ADAPT_HINT)
            )
        torch.set_grad_enabled(True)
        reports = self._evaluate(domain, methods, plan, request)
        warnings = domain.data_notes() + notes
        for r in reports:
            r["data_source"] = {"fingerprint": fingerprint, "checkpoints": trained_on}
            if warnings:
                r["warnings"] = warnings
        report = self._report(domain.name, reports, request, warnings)
        if selection:
            report.data["finetune_selection"] = selection
            report.text += "\n" + format_finetune_selection(selection) + "\n"
        return report

    def _select_finetune(
        self, domain: Domain, methods: list[Any], setting: dict[str, Any], request: EvalRequest
    ) -> list[dict[str, Any]]:
        """Set each meta-learner's fine-tuning learning rate to the :data:`FINETUNE_LRS` candidate with the best
        mean headline metric on ``request.finetune_select`` fixed validation tasks (ties: the smaller rate; 0 turns
        fine-tuning off). Returns one record per meta-learner: the choice and every candidate's score."""
        if request.finetune_steps < 1:
            raise MetasuiteError(
                "--finetune-select chooses the learning rate of the P>M>F fine-tuning: give its number of steps too "
                "(--finetune-steps N, e.g. 20)"
            )
        shape = {k: setting[k] for k in TASK_SHAPE}
        tasks: list[Task] = []
        error: Exception | None = None
        # The test's ways and shots; as many queries per class as the validation split has examples for (a small
        # folder sets few images aside), at least one. A domain whose query is not a count keeps it as it is.
        queries = range(shape["n_query"], 0, -1) if isinstance(shape["n_query"], int) else [shape["n_query"]]
        for n_query in queries:
            try:
                sampler = domain.sampler("val", **{**shape, "n_query": n_query})
                tasks = fixed_tasks(sampler, request.finetune_select, derive_seed(request.seed, "finetune-select"))
                break
            except (DataError, ValueError) as exc:
                error = error or exc
        if not tasks:
            raise MetasuiteError(
                f"--finetune-select needs validation tasks with the test's ways and shots {shape} (at least one query "
                f"per class): {error}"
            ) from error
        candidates = [
            replace(
                method,
                name=f"{method.name} [val, fine-tune lr {lr:g}]",
                finetune_lr=lr,
                finetune_steps=request.finetune_steps if lr else 0,
            )
            for method in methods
            for lr in FINETUNE_LRS
        ]
        if request.workers > 1:  # one job per (model, rate); the workers rebuild these very tasks from the seed
            entry = {**shape, "n_query": n_query, "split": "val"}
            seed = derive_seed(request.seed, "finetune-select")
            (scored,) = evaluate_parallel(
                domain, candidates, [entry], len(tasks), seed, request.workers, progress=request.progress
            )
        else:
            scored = evaluate(domain, candidates, tasks, {**shape, "split": "val"}, progress=request.progress)
        metric = self.paired_metrics(scored)[0]
        up = higher_is_better(metric)
        k = len(FINETUNE_LRS)
        records = []
        for i, method in enumerate(methods):
            means = [r["metrics"][metric]["mean"] for r in scored["results"][i * k : (i + 1) * k]]
            chosen = candidates[i * k + best_candidate(means, up)]
            method.finetune_lr, method.finetune_steps = chosen.finetune_lr, chosen.finetune_steps
            records.append(
                {
                    "method": method.name,
                    "metric": metric,
                    "n_tasks": len(tasks),
                    "n_query": n_query,
                    "steps": request.finetune_steps,
                    "chosen_lr": chosen.finetune_lr,
                    "val_scores": {f"{lr:g}": m for lr, m in zip(FINETUNE_LRS, means, strict=True)},
                }
            )
        return records

    def merge(self, paths: list[str | Path]) -> EvalReport:
        """One report from eval JSONs of disjoint test sets (e.g. leave-patients-out folds)."""
        reports = [_read_eval_json(Path(p)) for p in paths]
        merged = merge_reports(reports)
        return self._report(merged["domain"], [merged], None, [])

    def write_artifacts(self, report: EvalReport, json_path: Path | None, settings: dict[str, Any]) -> list[Path]:
        """One row-normalised confusion PNG per (method, setting) next to the JSON, for classification."""
        data = report.data
        results = data["results"]
        if json_path is None or not results or "confusion" not in results[0]:
            return []
        written = []
        for r in results:
            st = r.get("setting", data["setting"])
            shape = f"{st['n_way']}way{st['k_shot']}shot" if "n_way" in st and "k_shot" in st else ""
            tag = "-".join(x for x in (r["method"], st.get("split"), shape) if x)
            tag = re.sub(r"[^A-Za-z0-9_.-]+", "_", tag)  # a file name: no spaces, +, parentheses
            words = f"{st['n_way']}-way {st['k_shot']}-shot" if shape else ""
            title = ", ".join(x for x in (f"{data['domain']}: {r['method']}", st.get("split"), words) if x)
            path = json_path.with_name(f"{json_path.stem}-confusion-{tag}.png")
            written.append(save_confusion_png(r["confusion"], title, path))
        return written

    # ------------------------------------------------------------------ steps
    @staticmethod
    def _logreg_heads(domain: Domain, methods: list[Any], setting: dict[str, Any], cfg: BaselineConfig) -> list[Any]:
        """Each meta-learner's body with a logistic-regression head fitted on every support (kind ``meta``)."""
        if domain.kind != "classification":
            raise MetasuiteError(
                f"--logreg-head fits a logistic regression on class labels: {domain.name} is {domain.kind}, it needs "
                "a classification domain"
            )
        heads = []
        for method in methods:
            backbone = method.learner.backbone
            if not isinstance(getattr(backbone, "body", None), torch.nn.Module):
                raise MetasuiteError(f"--logreg-head needs a backbone with a feature body; {method.name}'s has none")
            name = f"{method.name} features + logreg"
            heads.append(LogRegBaseline(backbone, setting["n_way"], cfg, name=name, kind="meta"))
        return heads

    @staticmethod
    def _calibrate(domain: Domain, methods: list[Any], setting: dict[str, Any], request: EvalRequest) -> None:
        """Fit each meta-learner's per-class logit offsets on fixed validation tasks (never test tasks)."""
        if domain.kind != "classification":
            raise MetasuiteError("--calibrate sets class thresholds: it needs a classification domain")
        shape = {k: setting[k] for k in TASK_SHAPE}
        tasks = fixed_tasks(domain.sampler("val", **shape), request.calibrate, derive_seed(request.seed, "calibrate"))
        for method in methods:
            n_classes = method.learner.n_way or setting["n_way"]
            method.bias = calibrate_bias(method, tasks, n_classes)
            method.name = f"{method.name} (calibrated)"

    @staticmethod
    def _evaluate(domain: Domain, methods: list[Any], plan: list[dict[str, Any]], request: EvalRequest) -> list[dict]:
        confusion = domain.kind == "classification"
        done: dict[int, list[dict[str, Any]]] = {}

        def save(entry: int, result: dict[str, Any]) -> None:
            done.setdefault(entry, []).append({**result, "setting": {**plan[entry], "seed": request.seed}})
            if request.partial_json is not None:
                partial = {
                    "partial": f"{sum(map(len, done.values()))} of {len(plan) * len(methods)} (setting, method) "
                    "results finished; the evaluation stopped or is still running",
                    "domain": domain.name,
                    "setting": {"n_tasks": request.n_tasks, "seed": request.seed, "plan": plan},
                    "results": [r for e in sorted(done) for r in done[e]],
                }
                write_json(request.partial_json, partial)

        if request.workers > 1:
            return evaluate_parallel(
                domain,
                methods,
                plan,
                request.n_tasks,
                request.seed,
                request.workers,
                progress=request.progress,
                confusion=confusion,
                on_result=save,
            )
        reports = []
        for e, entry in enumerate(plan):
            tasks = eval_tasks(domain, entry, request.n_tasks, request.seed)
            setting = {**entry, "n_tasks": len(tasks), "seed": request.seed}  # fewer when the split is finite
            reports.append(
                evaluate(
                    domain,
                    methods,
                    tasks,
                    setting,
                    progress=request.progress,
                    confusion=confusion,
                    on_result=lambda result, e=e: save(e, result),
                )
            )
        return reports

    def _report(
        self, domain_name: str, reports: list[dict[str, Any]], request: EvalRequest | None, warnings: list[str]
    ) -> EvalReport:
        """The JSON object (one setting as is; several under ``setting.plan``), tables and summaries as text."""
        for r in reports:  # before the JSON object is built from them: a single setting's JSON holds it too
            seed = r["setting"].get("seed", 0)
            comparisons = [c for m in self.paired_metrics(r) if (c := compare_best(r["results"], m, seed=seed))]
            if comparisons:
                r["paired"] = comparisons
        if len(reports) == 1:
            data = dict(reports[0])
        else:
            assert request is not None
            data = {
                **({"warnings": warnings} if warnings else {}),
                "domain": domain_name,
                "setting": {
                    "n_tasks": request.n_tasks,
                    "seed": request.seed,
                    "plan": [{k: v for k, v in r["setting"].items() if k not in ("n_tasks", "seed")} for r in reports],
                },
                "results": [{**res, "setting": r["setting"]} for r in reports for res in r["results"]],
            }
        data["null_means"] = NULL_MEANS  # per-task values and means that are null in the JSON
        text = []
        for r in reports:
            comparisons = r.get("paired", [])
            lines = [format_table(r, self.describe_setting(r["setting"])), *map(format_comparison, comparisons)]
            text.append("\n".join(lines) + "\n")
        if len(reports) > 1:
            data["paired"] = [{"setting": r["setting"], "comparisons": r.get("paired", [])} for r in reports]
        summaries = [self.summarize(r) for r in reports]
        if any(s is not None for s in summaries):
            data["summary"] = summaries[0] if len(reports) == 1 else summaries
            text += [self.format_summary(s) + "\n" for s in summaries if s is not None]
        return EvalReport(data, "\n".join(text), warnings)


#: The P>M>F learning rates ``--finetune-select`` chooses from (0: no fine-tuning).
FINETUNE_LRS = (0.0, 1e-4, 3e-4, 1e-3)


def best_candidate(scores: list[float], higher_is_better: bool = True, tol: float = 1e-6) -> int:
    """Index of the best score; scores within ``tol`` of the best count as tied (per-task metrics are float32: equal
    means summed from other values differ by ~1e-8) and a tie goes to the earliest candidate (the smaller rate)."""
    signed = [s if higher_is_better else -s for s in scores]
    top = max(signed)
    return next(i for i, s in enumerate(signed) if s >= top - tol)


def format_finetune_selection(selection: list[dict[str, Any]]) -> str:
    """One line per meta-learner: the fine-tuning learning rate chosen on validation tasks, and every score."""
    lines = []
    for s in selection:
        scores = ", ".join(f"{'off' if lr == '0' else lr} {m:.4f}" for lr, m in s["val_scores"].items())
        chosen = "off" if not s["chosen_lr"] else f"lr {s['chosen_lr']:g} ({s['steps']} steps)"
        lines.append(
            f"P>M>F fine-tuning of {s['method']}: {chosen}, chosen on {s['n_tasks']} validation tasks "
            f"({s['n_query']} queries per class) by {s['metric']} ({scores})"
        )
    return "\n".join(lines)


def checkpoint_names(learners: list[tuple[str | Path, Any]], metas: list[dict[str, Any]]) -> list[str]:
    """Each checkpoint's row name: its algorithm's name; where several share an algorithm, plus its training seed
    when their seeds differ (``metasgd (seed 1)``: the same name in every fold, so fold reports merge), else its
    folder's name."""
    names = [learner.name for _, learner in learners]
    seeds = [m.get("train_config", {}).get("seed") for m in metas]
    out = []
    for (ckpt, learner), seed in zip(learners, seeds, strict=True):
        twins = [s for n, s in zip(names, seeds, strict=True) if n == learner.name]
        if len(twins) == 1:
            out.append(learner.name)
        elif None not in twins and len(set(twins)) == len(twins):
            out.append(f"{learner.name} (seed {seed})")
        else:
            out.append(f"{learner.name} ({Path(ckpt).name})")
    return out


def check_ensemble(request: EvalRequest) -> None:
    """``--ensemble`` / ``--baseline-seeds`` make sense together only in these combinations: refused before any
    training."""
    seeds = request.baseline_seeds
    if len(set(seeds)) != len(seeds):
        raise MetasuiteError(f"--baseline-seeds lists a seed twice: {seeds}")
    if seeds and not request.baselines:
        raise MetasuiteError("--baseline-seeds trains the baselines once per seed: add --baselines")
    if request.baseline_only and not request.baselines:
        raise MetasuiteError("baseline_only picks among the baselines: set baselines as well (--baseline implies it)")
    if request.ensemble and len(request.checkpoints) < 2 and len(seeds) < 2:
        raise MetasuiteError(
            "--ensemble averages two or more models: pass two or more --checkpoint runs (e.g. one recipe trained "
            "with different --seed) and/or --baselines with two or more --baseline-seeds"
        )


def seeded_baselines(
    domain: Domain, n_way: int | None, seeds: list[int], progress: bool, only: list[str] | None = None
) -> tuple[list[list[Any]], list[tuple[str, list[Any]]]]:
    """The domain's baselines (``only`` those :data:`~metasuite.core.baselines.BASELINE_KEYS`, if given) trained
    once per seed: ``(per_seed, groups)``, ``per_seed[i]`` the baselines of ``seeds[i]`` and ``groups`` each
    baseline's ``(name, [its model of every seed])``; with several seeds every model is renamed ``<name> (seed S)``."""
    configs = [BaselineConfig(**{**domain.default_baselines(), "seed": s}) for s in seeds]
    per_seed = [build_baselines(domain, n_way, cfg, None, progress=progress, only=only, cache=True) for cfg in configs]
    groups = [(models[0].name, list(models)) for models in zip(*per_seed, strict=True)]
    for _, models in groups if len(seeds) > 1 else ():
        for model, seed in zip(models, seeds, strict=True):
            model.name = f"{model.name} (seed {seed})"
    return per_seed, groups


def ensembles(domain: Domain, checkpoint_methods: list[Any], baseline_groups: list[tuple[str, list[Any]]]) -> list:
    """The ensemble rows: the checkpoints' meta-learners averaged (two or more), and each baseline averaged over its
    seeds (groups of two or more, from :func:`seeded_baselines`)."""
    classification = domain.kind == "classification"
    out: list[Any] = []
    if len(checkpoint_methods) >= 2:
        algos = list(dict.fromkeys(m.learner.name for m in checkpoint_methods))
        name = f"{' + '.join(algos)} (ensemble of {len(checkpoint_methods)})"
        out.append(Ensemble(checkpoint_methods, classification, name=name))
    for base, members in baseline_groups:
        if len(members) >= 2:
            out.append(Ensemble(members, classification, name=f"{base} (ensemble of {len(members)} seeds)"))
    return out


def check_prior_shift(domain: Domain, request: EvalRequest) -> None:
    """Refuse a prior shift that cannot mean anything, before any baseline is trained."""
    tau = request.prior_shift
    if not (math.isfinite(tau) and tau >= 0):
        raise MetasuiteError(f"--prior-shift must be a number >= 0 (0: off, 1: the full Bayes correction), got {tau}")
    if domain.kind != "classification":
        raise MetasuiteError(
            f"--prior-shift moves class logits to the support's class frequencies: it needs a classification domain, "
            f"and {domain.name} is {domain.kind}"
        )
    if request.calibrate:
        raise MetasuiteError(
            "--prior-shift and --calibrate both move the class thresholds; use one of them (choose on validation tasks)"
        )


def recorded_options(
    domain_cls: type[Domain], metas: list[dict[str, Any]], given: dict[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """The domain options to evaluate with: the first checkpoint's recorded ``domain_options`` overridden by
    ``given`` (the request's), and lines saying what was overridden or differs between checkpoints."""
    notes: list[str] = []
    if not metas:
        return dict(given), notes
    first = metas[0]
    recorded = dict(first.get("domain_options") or {})
    declared = {o.name for o in domain_cls.option_specs}
    if declared:
        dropped = sorted(set(recorded) - declared)
        if dropped:
            notes.append(
                f"ignoring options {dropped} recorded in {first['path']}: "
                f"the {domain_cls.name} domain no longer has them"
            )
        recorded = {k: v for k, v in recorded.items() if k in declared}
    defaults = {o.name: o.default for o in domain_cls.option_specs}

    def effective(meta: dict[str, Any]) -> dict[str, str]:
        """A checkpoint's options with the domain's defaults filled in (an older card records only the options
        that were set), as strings: the same settings compare equal however they were recorded."""
        return {k: str(v) for k, v in {**defaults, **(meta.get("domain_options") or {})}.items()}

    for meta in metas[1:]:
        if effective(meta) != effective(first):
            notes.append(
                f"{meta['path']} was trained with other domain options than {first['path']}; evaluating all of them "
                f"with the first one's {recorded}"
            )
    for key, value in given.items():
        if value is not None and key in recorded and str(recorded[key]) != str(value):
            notes.append(f"{key}={value!r} given: overrides {key}={recorded[key]!r} recorded in {first['path']}")
    return {**recorded, **{k: v for k, v in given.items() if v is not None}}, notes


def check_compatible(learners: list[tuple[str | Path, Any]], plan: list[dict[str, Any]]) -> None:
    """Refuse before any work a learner whose N-way head cannot answer a plan entry's N-way tasks.

    Metric learners (no linear head: :attr:`MetaLearner.any_way`) answer any N and any K.
    """
    for ckpt, learner in learners:
        if learner.kind != "classification" or learner.any_way:
            continue
        wrong = sorted({e["n_way"] for e in plan if e.get("n_way") is not None and e["n_way"] != learner.n_way})
        if wrong:
            raise CheckpointError(
                f"checkpoint {ckpt} is a {learner.n_way}-way {learner.name} (its head has {learner.n_way} outputs) "
                f"and cannot answer {wrong}-way tasks: evaluate it with --ways {learner.n_way} (metric learners such "
                "as protonet evaluate at any N-way)"
            )


def task_setting(domain: Domain, request: EvalRequest, saved: dict[str, Any] | None = None) -> dict[str, Any]:
    """The task shape ``{n_way, k_shot, n_query}``: the request's values over the checkpoint's (``saved``) over
    the domain's default."""
    setting = {**domain.default_setting(), **(saved or {})}
    for key in TASK_SHAPE:
        if getattr(request, key) is not None:
            setting[key] = getattr(request, key)
    return {k: setting[k] for k in TASK_SHAPE}


def _read_eval_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise DataError(f"eval JSON {path} does not exist (write it with `metasuite eval ... --json {path}`)")
    try:
        data = json.loads(path.read_text())
        ok = isinstance(data, dict) and all(k in data for k in ("domain", "setting", "results"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path} is not JSON ({e}); pass eval JSONs written by `metasuite eval --json`") from e
    if not ok:
        raise DataError(f"{path} is not a metasuite eval JSON (needs domain, setting, results)")
    if "plan" in data["setting"]:
        raise DataError(f"{path} holds several eval settings; merge eval JSONs of one setting each")
    for r in data["results"]:  # strict JSON stores an undefined per-task value as null: it is NaN again here
        r["per_task"] = {k: [math.nan if v is None else v for v in vs] for k, vs in r.get("per_task", {}).items()}
    return data
