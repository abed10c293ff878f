"""The ``metasuite`` command line: domains, train, eval, bench, demo.

Every sub-command talks to domains only through :mod:`metasuite.core.registry`, so installed third-party
domains work exactly like the built-in ones.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from metasuite.core.errors import DataError, MetasuiteError

__all__ = ["build_parser", "main", "parse_options"]


def parse_options(items: list[str] | None) -> dict[str, Any]:
    """``--option KEY=VALUE`` items as domain options (values parsed as JSON, else kept as strings)."""
    options: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise MetasuiteError(f"--option expects KEY=VALUE, got {item!r}")
        try:
            options[key.replace("-", "_")] = json.loads(value)
        except json.JSONDecodeError:
            options[key.replace("-", "_")] = value  # a plain string
    return options


def _domain(args: argparse.Namespace) -> Any:
    from metasuite.core.registry import get_domain

    options = parse_options(getattr(args, "option", None))
    for key in ("data_dir", *getattr(args, "domain_option_dests", ())):
        if getattr(args, key, None) is not None:
            options[key] = getattr(args, key)
    try:
        return get_domain(args.domain, **options)
    except TypeError as exc:  # an option the domain does not take
        raise MetasuiteError(f"domain {args.domain!r} does not accept these options {sorted(options)}: {exc}") from exc


def _setting(domain: Any, args: argparse.Namespace, saved: dict[str, Any] | None = None) -> dict[str, Any]:
    setting = {**domain.default_setting(), **(saved or {})}
    for key, arg in (("n_way", "ways"), ("k_shot", "shots"), ("n_query", "queries")):
        value = getattr(args, arg, None)
        if value is not None:
            setting[key] = value
    return {k: setting[k] for k in ("n_way", "k_shot", "n_query")}


def cmd_domains(args: argparse.Namespace) -> int:
    from metasuite.core.registry import available_domains, get_domain_class

    rows = []
    for name, ep in available_domains().items():
        try:
            cls = get_domain_class(name)
            rows.append((name, cls.kind, cls.title, cls.description))
        except Exception as exc:  # a broken third-party domain must not hide the others
            rows.append((name, "?", f"failed to load ({ep.value})", f"{type(exc).__name__}: {exc}"))
    if args.json:
        print(json.dumps([dict(zip(("name", "kind", "title", "description"), r, strict=True)) for r in rows], indent=2))
        return 0
    width = max(len(r[0]) for r in rows)
    for name, kind, title, desc in rows:
        print(f"{name.ljust(width)}  {kind:<14}  {title}: {desc}")
    return 0


def _pretrained_init(domain: Any, learner: Any, steps: int, seed: int, progress: bool) -> dict[str, Any]:
    """Start meta-training from the supervised pre-trained model (the pretrain baselines' model).

    Pre-trains with the domain's baseline settings for ``steps`` steps and copies every tensor whose
    name and shape match into the learner's backbone (all of it for a fixed label space; the body
    only when the heads differ). Returns what was done, for the checkpoint's description.
    """
    from metasuite.core.baselines import BaselineConfig, pretrain

    cfg = BaselineConfig(**{**domain.default_baselines(), "pretrain_steps": steps, "seed": seed})
    pretrained = pretrain(domain, cfg, progress=progress).state_dict()
    own = learner.backbone.state_dict()
    copied = {k: v for k, v in pretrained.items() if k in own and own[k].shape == v.shape}
    if not copied:
        raise DataError(f"the pre-trained {domain.name} model shares no tensor with the {learner.name} backbone")
    learner.backbone.load_state_dict(copied, strict=False)
    return {"pretrain_steps": steps, "copied": sorted(copied), "skipped": sorted(set(own) - set(copied))}


def _strip_nproc(argv: list[str]) -> list[str]:
    """``argv`` without ``--nproc N`` / ``--nproc=N`` (what each torchrun worker runs)."""
    out, skip = [], False
    for item in argv:
        if skip:
            skip = False
        elif item == "--nproc":
            skip = True
        elif not item.startswith("--nproc="):
            out.append(item)
    return out


def cmd_train(args: argparse.Namespace) -> int:
    from metasuite.core.distributed import init_from_env, launch, shutdown

    if args.nproc is not None and args.nproc > 1 and "WORLD_SIZE" not in os.environ:
        return launch(_strip_nproc(args.argv), args.nproc)
    dist = init_from_env()
    try:
        return _train(args, dist)
    finally:
        shutdown()


def _train(args: argparse.Namespace, dist: Any) -> int:
    """Meta-train in this process (alone, or as one rank of a torchrun run when ``dist`` is given)."""
    from metasuite.core.learners import make_learner
    from metasuite.core.trainer import TrainConfig, train

    domain = _domain(args)
    setting = _setting(domain, args)
    overrides = {
        k: v
        for k, v in (
            ("inner_lr", args.inner_lr),
            ("inner_steps", args.inner_steps),
            ("test_inner_steps", args.test_inner_steps),
            ("execution", args.execution),
        )
        if v is not None
    }
    learner = make_learner(domain, args.algo, n_way=setting["n_way"], seed=args.seed, **overrides)
    init = None
    if args.pretrain_steps:
        init = _pretrained_init(domain, learner, args.pretrain_steps, args.seed, progress=not args.quiet)
    cfg_dict = {**domain.default_train_config(learner.name), "seed": args.seed}
    if args.compile:
        cfg_dict["compile"] = True
    for key in (
        "steps",
        "meta_batch_size",
        "outer_lr",
        "val_every",
        "val_tasks",
        "patience",
        "shards",
        "checkpoint_every",
    ):
        value = getattr(args, key)
        if value is not None:
            cfg_dict[key] = value
    if dist is not None:
        cfg_dict["shards"] = dist.world_size  # one shard of every meta-batch per rank
    cfg = TrainConfig.from_dict(cfg_dict)
    if cfg.meta_batch_size % cfg.shards:
        raise MetasuiteError(
            f"the meta-batch of {cfg.meta_batch_size} tasks does not split into {cfg.shards} equal shards (one per "
            "process); pass --meta-batch-size as a multiple of the number of processes"
        )
    kw = {"n_way": setting["n_way"], "k_shot": setting["k_shot"], "n_query": setting["n_query"]}
    run_meta = {
        "domain": domain.name,
        "setting": setting,
        "data_fingerprint": domain.fingerprint(),
        "domain_options": {k: str(v) if isinstance(v, Path) else v for k, v in domain.options.items()},
    }
    if (ids := domain.split_ids()) is not None:
        run_meta["split_ids"] = ids
    if init is not None:
        run_meta["init"] = init
    summary = train(
        learner,
        domain.sampler("train", **kw),
        domain.sampler("val", **kw),
        cfg,
        args.out,
        run_meta=run_meta,
        resume=not args.no_resume,
        progress=not args.quiet,
        dist=dist,
    )
    if dist is None or dist.is_main:
        print(json.dumps({"out": str(args.out), **summary}, indent=2))
    return 0


def _run_eval(domain: Any, args: argparse.Namespace) -> list[dict[str, Any]] | None:
    """Evaluate the checkpoints and/or baselines of ``args`` on the domain's eval plan."""
    import torch

    from metasuite.core.baselines import BaselineConfig, build_baselines
    from metasuite.core.evaluate import MetaMethod, evaluate
    from metasuite.core.learners import load_learner
    from metasuite.core.tasks import fixed_tasks

    methods: list[Any] = []
    saved_setting = None
    fingerprints = {}
    loaded = []
    for ckpt in args.checkpoint or []:
        learner, meta = load_learner(ckpt, domain)
        saved_setting = saved_setting or meta.get("setting")
        fingerprints[meta["path"]] = meta.get("data_fingerprint")
        loaded.append((ckpt, learner))
    algo_names = [learner.name for _, learner in loaded]
    for ckpt, learner in loaded:
        # the algorithm's name, plus the checkpoint's folder when two checkpoints share an algorithm
        name = learner.name if algo_names.count(learner.name) == 1 else f"{learner.name} ({Path(ckpt).name})"
        methods.append(MetaMethod(learner, name=name, steps=args.inner_steps))
    setting = _setting(domain, args, saved_setting)
    if args.baselines:
        cfg = BaselineConfig(**{**domain.default_baselines(), "seed": args.seed})
        methods += build_baselines(domain, setting["n_way"], cfg, None, progress=not args.quiet)
    if not methods:
        print("nothing to evaluate: pass --checkpoint DIR and/or --baselines (or --merge JSON ...)", file=sys.stderr)
        return None
    stale = [p for p, f in fingerprints.items() if f not in (None, domain.fingerprint())]
    if stale:
        import warnings

        warnings.warn(
            f"checkpoint(s) {stale} were trained on data with another fingerprint than "
            f"{domain.fingerprint()}; results may not match their model cards",
            stacklevel=1,
        )
    torch.set_grad_enabled(True)
    explicit = any(getattr(args, a) is not None for a in ("shots", "queries", "split"))
    plan = domain.eval_plan(setting, args.split, explicit)
    confusion = domain.kind == "classification"
    reports = []
    if args.workers > 1:
        from metasuite.core.evaluate import evaluate_parallel

        reports = evaluate_parallel(
            domain, methods, plan, args.tasks, args.seed, args.workers, progress=not args.quiet, confusion=confusion
        )
    else:
        for entry in plan:
            shape = {k: entry[k] for k in ("n_way", "k_shot", "n_query")}
            tasks = fixed_tasks(domain.sampler(entry["split"], **shape), args.tasks, args.seed)
            reports.append(
                evaluate(
                    domain,
                    methods,
                    tasks,
                    {**entry, "n_tasks": len(tasks), "seed": args.seed},  # fewer when the split is finite
                    progress=not args.quiet,
                    confusion=confusion,
                )
            )
    return reports


def _merged_report(paths: list[str]) -> dict[str, Any]:
    """One report from eval JSONs of disjoint test sets (e.g. leave-patients-out folds)."""
    from metasuite.core.evaluate import merge_reports

    reports = []
    for path in paths:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"eval JSON {p} does not exist (write it with `metasuite eval ... --json {p}`)")
        try:
            data = json.loads(p.read_text())
            ok = isinstance(data, dict) and all(k in data for k in ("domain", "setting", "results"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise DataError(f"{p} is not JSON ({e}); pass eval JSONs written by `metasuite eval --json`") from e
        if not ok:
            raise DataError(f"{p} is not a metasuite eval JSON (needs domain, setting, results)")
        if "plan" in data["setting"]:
            raise DataError(f"{p} holds several eval settings; merge eval JSONs of one setting each")
        reports.append(data)
    return merge_reports(reports)


def cmd_eval(args: argparse.Namespace) -> int:
    from metasuite.core.evaluate import format_table

    domain = _domain(args)
    if not args.merge and (code := domain.run_eval(args)) is not None:
        return code
    if args.merge:
        reports = [_merged_report(args.merge)]
    else:
        reports = _run_eval(domain, args)
        if reports is None:
            return 2
    for report in reports:
        print(format_table(report) + "\n")
    combined = (
        dict(reports[0])
        if len(reports) == 1
        else {
            "domain": domain.name,
            "setting": {
                "n_tasks": args.tasks,
                "seed": args.seed,
                "plan": [{k: v for k, v in rep["setting"].items() if k not in ("n_tasks", "seed")} for rep in reports],
            },
            "results": [{**r, "setting": rep["setting"]} for rep in reports for r in rep["results"]],
        }
    )
    summaries = [domain.eval_summary(rep) for rep in reports]
    if any(sm is not None for sm in summaries):
        combined["summary"] = summaries[0] if len(reports) == 1 else summaries
        for sm in summaries:
            if sm is not None:
                print(domain.format_eval_summary(sm) + "\n")
    if args.json:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(combined, indent=2) + "\n")
        print(f"wrote {out}")
        if domain.kind == "classification":
            from metasuite.core.plots import save_confusion_png

            for rep in reports:
                st = rep["setting"]
                shape = f"{st['n_way']}way{st['k_shot']}shot" if "n_way" in st and "k_shot" in st else ""
                for r in rep["results"]:
                    tag = "-".join(x for x in (r["method"], st.get("split"), shape) if x)
                    tag = re.sub(r"[^A-Za-z0-9_.-]+", "_", tag)  # a file name: no spaces, +, parentheses
                    words = f"{st['n_way']}-way {st['k_shot']}-shot" if shape else ""
                    title = ", ".join(x for x in (f"{domain.name}: {r['method']}", st.get("split"), words) if x)
                    png = save_confusion_png(r["confusion"], title, out.with_name(f"{out.stem}-confusion-{tag}.png"))
                    print(f"wrote {png}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from metasuite.core.bench import run_benchmark

    report = run_benchmark(args.name, quick=args.quick, json_path=args.json)
    print(json.dumps({k: v for k, v in report.items() if k in ("name", "ratios", "seconds")}, indent=2))
    return 0


def cmd_data_fetch(args: argparse.Namespace) -> int:
    from metasuite.domains.diagnosis.mitdb import fetch_mitdb

    path = fetch_mitdb(args.dest)
    print(f"MIT-BIH records in {path}; use them with --data-dir {path}")
    return 0


def cmd_new_domain(args: argparse.Namespace) -> int:
    from metasuite.core.scaffold import new_domain

    root = new_domain(args.name, args.kind, args.dest)
    print(
        f"wrote the {args.kind} domain {args.name!r} in {root}\n"
        f"next:\n  pip install -e {root}\n  metasuite domains\n  python -m pytest {root / 'tests'}\n"
        f"  metasuite train {args.name} --algo maml --out runs/{args.name}-maml\n"
        f"  metasuite eval {args.name} --checkpoint runs/{args.name}-maml --baselines\n"
        "then open the app: the domain appears on the Home page and on the 'Any domain' page"
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    import metasuite.apps as apps

    home = Path(apps.__file__).parent / "Home.py"
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(home),
        "--server.port",
        str(args.port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
    ]
    print(f"starting the metasuite app on http://localhost:{args.port} (Ctrl-C to stop)")
    return subprocess.call(cmd, env={**os.environ, "PYTHONUNBUFFERED": "1"})


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
    """Let ``domain`` add its own flags to ``train`` / ``eval`` (``Domain.add_arguments``); remember which
    of them are constructor options. An unknown or broken domain adds nothing (the command reports it)."""
    dests: list[str] = []
    if domain:
        from metasuite.core.registry import get_domain_class

        try:
            cls = get_domain_class(domain)
        except Exception:
            cls = None
        if cls is not None:
            group = s.add_argument_group(f"{domain} options")
            dests = list(cls.add_arguments(group, command))
    s.set_defaults(domain_option_dests=dests)


def build_parser(domain: str | None = None) -> argparse.ArgumentParser:
    """The argument parser of the ``metasuite`` command (with ``domain``'s own flags on train / eval)."""
    from metasuite.core import __version__

    p = argparse.ArgumentParser(prog="metasuite", description="Meta-learning application suite.")
    p.add_argument("--version", action="version", version=f"metasuite {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("domains", help="list the registered domains")
    s.add_argument("--json", action="store_true", help="print JSON instead of a table")
    s.set_defaults(func=cmd_domains)

    def task_args(s: argparse.ArgumentParser) -> None:
        s.add_argument("domain", help="domain name (see `metasuite domains`)")
        s.add_argument("--ways", type=int, help="N: classes per task (classification)")
        s.add_argument("--shots", type=int, help="K: support examples per class (or per task for regression)")
        s.add_argument("--queries", type=int, help="query examples per class (or per task)")
        s.add_argument("--data-dir", help="folder with the domain's real data (domain-specific)")
        s.add_argument(
            "--option",
            action="append",
            metavar="KEY=VALUE",
            help="domain option, e.g. --option image_size=48 (repeatable; values parsed as JSON)",
        )
        s.add_argument("--seed", type=int, default=0)
        s.add_argument("--quiet", action="store_true", help="no progress bars")
        s.add_argument("--threads", type=int, help="torch CPU threads (1 is fastest for tiny models)")

    s = sub.add_parser("train", help="meta-train an algorithm on a domain")
    task_args(s)
    s.add_argument("--algo", required=True, help="maml, fomaml, anil, metasgd, reptile or protonet")
    s.add_argument("--out", required=True, type=Path, help="run folder (checkpoints, metrics.jsonl)")
    s.add_argument("--steps", type=int, help="meta-training steps")
    s.add_argument("--meta-batch-size", type=int)
    s.add_argument("--outer-lr", type=float)
    s.add_argument("--inner-lr", type=float)
    s.add_argument("--inner-steps", type=int)
    s.add_argument("--test-inner-steps", type=int)
    s.add_argument("--execution", choices=("vmap", "loop", "auto"))
    s.add_argument("--val-every", type=int)
    s.add_argument("--val-tasks", type=int)
    s.add_argument("--patience", type=int, help="stop after this many validations without improvement")
    s.add_argument("--checkpoint-every", type=int, help="write the resumable state every N steps")
    s.add_argument("--no-resume", action="store_true", help="refuse to continue an existing run folder")
    s.add_argument("--compile", action="store_true", help="torch.compile the vmap meta-step (~2x faster small models)")
    s.add_argument(
        "--pretrain-steps",
        type=int,
        default=0,
        help="first pre-train the backbone on pooled training data (the pretrain baselines' recipe) for this many "
        "steps and meta-train from it",
    )
    s.add_argument(
        "--nproc",
        type=int,
        help="meta-train in N processes on this machine through torchrun (gloo on CPU, nccl with one GPU per "
        "process); each process takes 1/N of every meta-batch",
    )
    s.add_argument(
        "--shards",
        type=int,
        help="draw each meta-batch as K equally sized, separately seeded shards (what a K-process run does; "
        "one process with --shards K reproduces it)",
    )
    _domain_flags(s, domain, "train")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("eval", help="evaluate checkpoints and baselines on fixed seeded test tasks")
    task_args(s)
    s.add_argument("--checkpoint", action="append", help="run folder or .safetensors file (repeatable)")
    s.add_argument("--tasks", type=int, default=600, help="number of test tasks (default 600)")
    s.add_argument("--baselines", action="store_true", help="also run scratch, pretrain+finetune, pretrain+logreg")
    s.add_argument("--inner-steps", type=int, help="override the test-time inner steps")
    s.add_argument("--split", help="split to evaluate on (default: the domain's plan, usually 'test')")
    s.add_argument("--json", help="write the eval JSON here")
    s.add_argument(
        "--workers",
        type=int,
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

    s = sub.add_parser("bench", help="run a benchmark (core, or one a domain offers)")
    s.add_argument("name")
    s.add_argument("--json", required=True, help="write the benchmark JSON here")
    s.add_argument("--quick", action="store_true", help="same code path, reduced sizes (under a minute)")
    s.set_defaults(func=cmd_bench)

    s = sub.add_parser("data", help="download a domain's public dataset (needs internet)")
    data_sub = s.add_subparsers(dest="data_command", required=True)
    f = data_sub.add_parser("fetch", help="download a dataset: mitdb (MIT-BIH Arrhythmia Database, ~100 MB)")
    f.add_argument("dataset", choices=("mitdb",))
    f.add_argument("--dest", required=True, type=Path, help="folder to download into")
    f.set_defaults(func=cmd_data_fetch)

    s = sub.add_parser("new-domain", help="write a working domain package (with tests) to start from")
    s.add_argument("name", help="domain name, e.g. my-sensors (lowercase, digits, - or _)")
    s.add_argument("--kind", default="classification", choices=("classification", "regression", "fixed-label"))
    s.add_argument("--dest", default=".", type=Path, help="parent folder of the new package (default: here)")
    s.set_defaults(func=cmd_new_domain)

    s = sub.add_parser("demo", help="launch the Streamlit suite")
    s.add_argument("--port", type=int, default=8501)
    s.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``metasuite`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    domain = None
    if argv and argv[0] in ("train", "eval"):
        domain = _find_domain(argv)
    args = build_parser(domain).parse_args(argv)
    args.argv = argv
    if getattr(args, "threads", None):
        import torch

        torch.set_num_threads(args.threads)
    if getattr(args, "no_resume", False) and Path(args.out, "last.safetensors").exists():
        print(f"error: {args.out} already holds a run; remove it or drop --no-resume to continue it", file=sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except MetasuiteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
