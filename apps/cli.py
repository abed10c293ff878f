"""The ``metasuite`` command line: parse, call one function of :mod:`metasuite.core.runs`, print.

Sub-commands: ``domains``, ``train``, ``eval``, ``bench``, ``data fetch``, ``new-domain``, ``demo``. Domains
are found through the registry, so installed third-party domains work exactly like the built-in ones; a
domain's typed options (``Domain.option_specs``) become ``train`` / ``eval`` flags and its evaluation's
options (``Evaluation.option_specs``) ``eval`` flags. Errors a user can cause print one ``error:`` line and
exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

from metasuite.core import __version__, registry
from metasuite.core.baselines import BASELINE_KEYS
from metasuite.core.errors import MetasuiteError
from metasuite.core.evaluation import EvalRequest
from metasuite.core.options import Option, OptionError, parse_assignments
from metasuite.core.runs import (
    TrainRequest,
    bench_run,
    describe_domains,
    eval_run,
    fetch_dataset,
    merge_run,
    train_run,
)
from metasuite.core.scaffold import INPUTS, KINDS, new_domain, next_steps
from metasuite.core.tune import TuneRequest, tune_run

__all__ = ["build_parser", "main"]

HOME = Path(__file__).resolve().parent / "Home.py"
#: Learner hyperparameters ``train`` takes as flags (the rest through the domain's defaults).
HPARAM_FLAGS = ("inner_lr", "inner_steps", "test_inner_steps", "execution")
#: TrainConfig fields ``train`` takes as flags.
CONFIG_FLAGS = (
    "steps",
    "meta_batch_size",
    "outer_lr",
    "val_every",
    "val_tasks",
    "patience",
    "shards",
    "checkpoint_every",
)


# ---------------------------------------------------------------------------- commands
def cmd_domains(args: argparse.Namespace) -> int:
    rows = describe_domains()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        title = r["title"] if r["error"] is None else f"failed to load ({r['description']})"
        text = r["description"] if r["error"] is None else r["error"]
        print(f"{r['name'].ljust(width)}  {r['kind']:<14}  {title}: {text}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    request = TrainRequest(
        domain=args.domain,
        algo=args.algo,
        out=args.out,
        options=domain_options(args),
        n_way=args.ways,
        k_shot=args.shots,
        n_query=args.queries,
        hparams={
            **{k: _json_or_text(v) for k, v in parse_assignments(args.hparam).items()},
            **{k: getattr(args, k) for k in HPARAM_FLAGS if getattr(args, k) is not None},
        },
        config={
            **{k: getattr(args, k) for k in CONFIG_FLAGS if getattr(args, k) is not None},
            **({"compile": True} if args.compile else {}),
        },
        seed=args.seed,
        pretrain_steps=args.pretrain_steps,
        init=None if args.init is None else str(args.init),
        nproc=args.nproc,
        threads=args.threads,
        resume=not args.no_resume,
        overwrite=args.overwrite,
        progress=not args.quiet,
    )
    result = train_run(request)
    for warning in result.warnings if result.main else ():
        print(f"warning: {warning}", file=sys.stderr)
    if result.main:
        print(json.dumps({"out": str(result.out), **result.summary}, indent=2))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    if args.merge:
        report, files = merge_run(args.domain, args.merge, args.json)
    else:
        request = EvalRequest(
            domain=args.domain,
            options=domain_options(args),
            checkpoints=list(args.checkpoint or []),
            baselines=args.baselines or bool(args.baseline),
            n_way=args.ways,
            k_shot=args.shots,
            n_query=args.queries,
            split=args.split,
            n_tasks=args.tasks,
            seed=args.seed,
            inner_steps=args.inner_steps,
            workers=args.workers,
            finetune_steps=args.finetune_steps,
            finetune_lr=args.finetune_lr,
            finetune_select=args.finetune_select,
            calibrate=args.calibrate,
            logreg_head=args.logreg_head,
            prior_shift=args.prior_shift,
            support_views=args.support_views,
            baseline_seeds=list(args.baseline_seeds or []),
            ensemble=args.ensemble,
            baseline_only=list(dict.fromkeys(args.baseline or [])),
            settings={o.name: getattr(args, o.name) for o in args.evaluation_specs},
            progress=not args.quiet,
        )
        report, files = eval_run(request, args.json)
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(report.text)
    for path in files:
        print(f"wrote {path}")
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    result = tune_run(
        TuneRequest(
            domain=args.domain,
            algo=args.algo,
            out=args.out,
            trials=args.trials,
            steps=args.steps,
            options=domain_options(args),
            n_way=args.ways,
            k_shot=args.shots,
            n_query=args.queries,
            seed=args.seed,
            progress=not args.quiet,
        )
    )
    best = result["best"]
    print(
        json.dumps(
            {"best_run": result["best_run"], **{k: best[k] for k in ("val_metric", "hparams", "config")}}, indent=2
        )
    )
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    options = {k: _json_or_text(v) for k, v in parse_assignments(args.option).items()}
    if args.data_dir is not None:
        options["data_dir"] = str(args.data_dir)
    report = bench_run(args.name, quick=args.quick, json_path=args.json, options=options)
    print(json.dumps({k: v for k, v in report.items() if k in ("name", "ratios", "seconds")}, indent=2))
    return 0


def cmd_data_fetch(args: argparse.Namespace) -> int:
    path = fetch_dataset(args.dataset, args.dest)
    print(f"{args.dataset} is in {path}; use it with --data-dir {path}")
    return 0


def cmd_new_domain(args: argparse.Namespace) -> int:
    root = new_domain(args.name, args.kind, args.dest, input=args.input, force=args.force)
    steps = "".join(f"  {line}\n" for line in next_steps(args.name, args.kind, args.input, root))
    print(
        f"wrote the {args.kind} domain {args.name!r} over {args.input} in {root}\nnext:\n{steps}"
        "then open the app: the domain appears on the Home page and on the 'Any domain' page"
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    cmd = [sys.executable, "-m", "streamlit", "run", str(HOME), "--server.port", str(args.port)]
    cmd += ["--server.headless", "true", "--browser.gatherUsageStats", "false"]
    print(f"starting the metasuite app on http://localhost:{args.port} (Ctrl-C to stop)")
    return subprocess.call(cmd, env={**os.environ, "PYTHONUNBUFFERED": "1"})


# ---------------------------------------------------------------------------- options
def domain_options(args: argparse.Namespace) -> dict[str, Any]:
    """The domain options of a ``train`` / ``eval`` command line: ``--option KEY=VALUE`` items, then the
    domain's own flags (a flag wins). Values stay text where the domain declares the option (it parses them
    by type); a domain without declarations gets JSON-parsed values."""
    options: dict[str, Any] = dict(parse_assignments(args.option))
    if not args.domain_specs:
        options = {k: _json_or_text(v) for k, v in options.items()}
    for spec in args.domain_specs:
        if spec.flag and getattr(args, spec.name, None) is not None:
            options[spec.name] = getattr(args, spec.name)
    return options


def _json_or_text(value: str) -> Any:
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def _typed(spec: Option) -> Any:
    """An argparse ``type`` that parses with the option's declaration (argparse prints the message)."""

    def parse(text: str) -> Any:
        try:
            return spec.parse(text)
        except OptionError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from exc

    parse.__name__ = spec.type.__name__
    return parse


def _add_specs(parser: argparse.ArgumentParser, title: str, specs: tuple[Option, ...]) -> None:
    """One flag per declared option (those with ``flag=False`` or a name a core flag has: ``--option`` only)."""
    taken = set(parser._option_string_actions)
    group = parser.add_argument_group(title)
    for spec in specs:
        if not spec.flag or spec.cli_flag in taken:
            continue
        choices = "" if spec.choices is None or "," in spec.help else f" ({', '.join(map(str, spec.choices))})"
        default = "" if spec.default is None or "default" in spec.help else f" (default {spec.default})"
        group.add_argument(spec.cli_flag, dest=spec.name, type=_typed(spec), help=spec.help + choices + default)


def _find_domain(argv: list[str]) -> str | None:
    """The domain named in a ``train`` / ``eval`` command line: its first positional, skipping core options and
    their values (the domain's own flags are not known yet)."""
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    options = sub.choices[argv[0]]._option_string_actions
    i = 1
    while i < len(argv):
        item = argv[i]
        if not item.startswith("-"):
            return item
        action = options.get(item.split("=", 1)[0])
        takes_value = action is None or action.nargs != 0  # an unknown flag (the domain's): assume a value
        i += 2 if takes_value and "=" not in item else 1
    return None


def _domain_flags(s: argparse.ArgumentParser, domain: str | None, command: str) -> None:
    """Add ``domain``'s option flags (and, for ``eval``, its evaluation's); an unknown or broken domain adds
    nothing (the command then reports it)."""
    cls = None
    if domain:
        try:
            cls = registry.get_domain_class(domain)
        except Exception:
            cls = None
    domain_specs = cls.option_specs if cls is not None else ()
    evaluation_specs = cls.evaluation().option_specs if cls is not None and command == "eval" else ()
    if domain_specs:
        _add_specs(s, f"{domain} options", domain_specs)
    if evaluation_specs:
        _add_specs(s, f"{domain} evaluation ({cls.evaluation().name})", evaluation_specs)
    s.set_defaults(domain_specs=domain_specs, evaluation_specs=evaluation_specs)


# ---------------------------------------------------------------------------- parser
def _count(low: int):  # type: ignore[no-untyped-def]
    """An argparse ``type``: an integer >= ``low`` (checked before any work starts)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be {'positive' if low == 1 else f'>= {low}'}, got {value}")
        return value

    parse.__name__ = "count"
    return parse


POSITIVE, NON_NEGATIVE = _count(1), _count(0)


def build_parser(domain: str | None = None) -> argparse.ArgumentParser:
    """The argument parser of the ``metasuite`` command (with ``domain``'s own flags on train / eval)."""
    p = argparse.ArgumentParser(prog="metasuite", description="Meta-learning application suite.")
    p.add_argument("--version", action="version", version=f"metasuite {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("domains", help="list the registered domains")
    s.add_argument("--json", action="store_true", help="print JSON instead of a table")
    s.set_defaults(func=cmd_domains)

    def task_args(s: argparse.ArgumentParser) -> None:
        s.add_argument("domain", help="domain name (see `metasuite domains`)")
        s.add_argument("--ways", type=POSITIVE, help="N: classes per task (classification)")
        s.add_argument("--shots", type=POSITIVE, help="K: support examples per class (or per task for regression)")
        s.add_argument("--queries", type=POSITIVE, help="query examples per class (or per task)")
        s.add_argument(
            "--option",
            action="append",
            metavar="KEY=VALUE",
            help="domain option, e.g. --option image_size=48 (repeatable; typed by the domain's declaration)",
        )
        s.add_argument("--seed", type=int, default=0)
        s.add_argument("--quiet", action="store_true", help="no progress bars")
        s.add_argument("--threads", type=POSITIVE, help="torch CPU threads (1 is fastest for tiny models)")

    s = sub.add_parser("train", help="meta-train an algorithm on a domain")
    task_args(s)
    s.add_argument(
        "--algo",
        required=True,
        help="maml, fomaml, anil, metasgd, reptile, protonet, metabaseline, r2d2 or metaoptnet",
    )
    s.add_argument("--out", required=True, type=Path, help="run folder (checkpoints, metrics.jsonl)")
    s.add_argument("--steps", type=POSITIVE, help="meta-training steps")
    s.add_argument("--meta-batch-size", type=POSITIVE)
    s.add_argument("--outer-lr", type=float)
    s.add_argument("--inner-lr", type=float)
    s.add_argument("--inner-steps", type=NON_NEGATIVE)
    s.add_argument("--test-inner-steps", type=NON_NEGATIVE)
    s.add_argument("--execution", choices=("vmap", "loop", "auto"))
    s.add_argument(
        "--hparam",
        action="append",
        metavar="KEY=VALUE",
        help="any other learner hyperparameter, e.g. --hparam l2=0.05 --hparam balanced_loss=false (JSON values)",
    )
    s.add_argument("--val-every", type=POSITIVE)
    s.add_argument("--val-tasks", type=NON_NEGATIVE)
    s.add_argument("--patience", type=POSITIVE, help="stop after this many validations without improvement")
    s.add_argument("--checkpoint-every", type=POSITIVE, help="write the resumable state every N steps")
    s.add_argument("--no-resume", action="store_true", help="refuse to continue an existing run folder")
    s.add_argument(
        "--overwrite",
        action="store_true",
        help="start afresh in an --out folder that holds files but no resumable run (replaces its run files)",
    )
    s.add_argument("--compile", action="store_true", help="torch.compile the vmap meta-step (~2x faster small models)")
    s.add_argument(
        "--pretrain-steps",
        type=NON_NEGATIVE,
        help="first pre-train the backbone on pooled training data (the pretrain baselines' recipe) for this many "
        "steps and meta-train from it (default: the algorithm's recipe: metabaseline pre-trains, others do not)",
    )
    s.add_argument(
        "--init",
        type=Path,
        metavar="CHECKPOINT",
        help="start from this checkpoint's weights (every tensor of the same name and shape), e.g. fine-tune a "
        "shipped model on your own --data-dir; instead of --pretrain-steps. The starting weights are validated "
        "first (step 0) and kept unless meta-training beats them on the validation tasks",
    )
    s.add_argument(
        "--nproc",
        type=POSITIVE,
        help="meta-train in N processes on this machine through torchrun (gloo on CPU, nccl with one GPU per "
        "process); each process takes 1/N of every meta-batch",
    )
    s.add_argument(
        "--shards",
        type=POSITIVE,
        help="draw each meta-batch as K equally sized, separately seeded shards (what a K-process run does; "
        "one process with --shards K reproduces it)",
    )
    _domain_flags(s, domain, "train")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("eval", help="evaluate checkpoints and baselines on fixed seeded test tasks")
    task_args(s)
    s.add_argument("--checkpoint", action="append", help="run folder or .safetensors file (repeatable)")
    s.add_argument("--tasks", type=POSITIVE, default=600, help="number of test tasks (default 600)")
    s.add_argument(
        "--baselines",
        action="store_true",
        help="also run the baselines: scratch, pretrain+finetune, pretrain+logreg (and the pooled model where "
        "every task shares the global classes)",
    )
    s.add_argument(
        "--baseline",
        action="append",
        choices=BASELINE_KEYS,
        metavar="NAME",
        help=f"run only this baseline (repeatable; implies --baselines): {', '.join(BASELINE_KEYS)} -- e.g. the "
        "cheap ones over many --baseline-seeds",
    )
    s.add_argument(
        "--baseline-seeds",
        type=NON_NEGATIVE,
        nargs="+",
        metavar="S",
        help="train the baselines once per seed (rows '<baseline> (seed S)'; default: once, with --seed; trading: "
        "the pooled model)",
    )
    s.add_argument(
        "--ensemble",
        action="store_true",
        help="also score the average of the --checkpoint meta-learners (2+, e.g. one recipe trained with several "
        "--seed) and of each baseline over its --baseline-seeds: class probabilities averaged",
    )
    s.add_argument("--inner-steps", type=NON_NEGATIVE, help="override the test-time inner steps")
    s.add_argument(
        "--finetune-steps",
        type=NON_NEGATIVE,
        default=0,
        help="P>M>F: fine-tune each meta-learner on augmented pseudo-episodes of each support set for N steps first",
    )
    s.add_argument("--finetune-lr", type=float, default=1e-4, help="Adam learning rate of --finetune-steps")
    s.add_argument(
        "--finetune-select",
        type=NON_NEGATIVE,
        default=0,
        metavar="N",
        help="choose each meta-learner's --finetune-lr (off, 1e-4, 3e-4, 1e-3) on N validation tasks of the data at "
        "hand, e.g. a real folder's own validation split: the test's ways and shots, as many queries as that split "
        "allows (needs --finetune-steps)",
    )
    s.add_argument(
        "--calibrate",
        type=NON_NEGATIVE,
        default=0,
        metavar="N",
        help="calibrate per-class decision thresholds of each meta-learner on N validation tasks (imbalanced classes)",
    )
    s.add_argument(
        "--logreg-head",
        action="store_true",
        help="also score each meta-learner's learned features with a logistic regression fitted on each support "
        "(the pretrain+logreg head on meta-learned features)",
    )
    s.add_argument(
        "--prior-shift",
        type=float,
        default=0.0,
        metavar="TAU",
        help="add TAU x the log class frequencies of each task's own support to the logits of every method fitted "
        "with a class-balanced loss (imbalanced classes, e.g. ECG beats; 1 = Bayes' correction; choose TAU on "
        "--split val)",
    )
    s.add_argument(
        "--support-views",
        type=NON_NEGATIVE,
        default=0,
        metavar="M",
        help="add M augmented copies (flips/crops for images) of every support example, for every method alike",
    )
    s.add_argument("--split", help="split to evaluate on (default: the domain's plan, usually 'test')")
    s.add_argument("--json", type=Path, help="write the eval JSON here")
    s.add_argument(
        "--workers",
        type=POSITIVE,
        default=1,
        help="evaluate (setting, method) pairs in this many processes, one torch thread each (default 1)",
    )
    s.add_argument(
        "--merge",
        nargs="+",
        metavar="JSON",
        help="evaluate nothing: merge eval JSONs of disjoint test sets (e.g. leave-patients-out folds) into one",
    )
    _domain_flags(s, domain, "eval")
    s.set_defaults(func=cmd_eval)

    s = sub.add_parser("tune", help="search hyperparameters on validation tasks (Optuna, seeded; never test tasks)")
    task_args(s)
    s.add_argument("--algo", required=True, help="the algorithm whose hyperparameters to search")
    s.add_argument("--out", required=True, type=Path, help="a new folder: one run per trial, tune.json, best-run/")
    s.add_argument("--trials", type=POSITIVE, default=20, help="number of trials (default 20)")
    s.add_argument("--steps", type=POSITIVE, help="meta-training steps per trial (default: a fifth of the domain's)")
    _domain_flags(s, domain, "train")
    s.set_defaults(func=cmd_tune)

    s = sub.add_parser("bench", help="run a benchmark (core, distributed, or one a domain offers)")
    s.add_argument("name")
    s.add_argument("--json", required=True, type=Path, help="write the benchmark JSON here")
    s.add_argument("--quick", action="store_true", help="same code path, reduced sizes (under a minute)")
    s.add_argument("--data-dir", type=Path, help="data the benchmark runs on, for those that take one (fewshot)")
    s.add_argument("--option", action="append", metavar="KEY=VALUE", help="a benchmark's own option (repeatable)")
    s.set_defaults(func=cmd_bench)

    s = sub.add_parser("data", help="download a domain's public dataset (needs internet)")
    data_sub = s.add_subparsers(dest="data_command", required=True)
    f = data_sub.add_parser("fetch", help="download a dataset a domain declares, e.g. mitdb (MIT-BIH, ~100 MB)")
    f.add_argument("dataset", help="data set name (e.g. mitdb)")
    f.add_argument("--dest", required=True, type=Path, help="folder to download into")
    f.set_defaults(func=cmd_data_fetch)

    s = sub.add_parser("new-domain", help="write a working domain package (with tests) to start from")
    s.add_argument("name", help="domain name, e.g. my-sensors (lowercase, digits, - or _)")
    s.add_argument("--kind", default="classification", choices=KINDS, help="what a task is (default: classification)")
    s.add_argument(
        "--input",
        default="vectors",
        choices=INPUTS,
        help="what an example is: feature vectors (MLP), images (Conv-4; Omniglot-style or class folders) or "
        "signal windows (1-D CNN) (default: vectors)",
    )
    s.add_argument("--dest", default=".", type=Path, help="parent folder of the new package (default: here)")
    s.add_argument(
        "--force",
        action="store_true",
        help="write the package even when a domain of that name is installed (e.g. to compare); it still goes "
        "into a new folder: an existing folder is never overwritten",
    )
    s.set_defaults(func=cmd_new_domain)

    s = sub.add_parser("demo", help="launch the Streamlit suite")
    s.add_argument("--port", type=POSITIVE, default=8501)
    s.set_defaults(func=cmd_demo)
    return p


def _readable_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int, line=None) -> str:
    """One ``warning: ...`` line: the sentence a user can act on, without Python's category and source line."""
    return f"warning: {message}\n"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``metasuite`` console script."""
    warnings.formatwarning = _readable_warning
    argv = list(sys.argv[1:] if argv is None else argv)
    domain = _find_domain(argv) if argv and argv[0] in ("train", "eval", "tune") else None
    try:
        args = build_parser(domain).parse_args(argv)
    except SystemExit as exc:  # argparse printed the usage error (or --help): its status, returned
        return int(exc.code or 0)
    if getattr(args, "threads", None):
        import torch

        torch.set_num_threads(args.threads)
    try:
        return int(args.func(args) or 0)
    except (MetasuiteError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
