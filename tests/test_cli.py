"""The ``metasuite`` command line: domains, train -> eval round trip, baselines, and bad input."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from metasuite.apps.cli import build_parser, main
from metasuite.core.algorithms import ALGORITHMS
from metasuite.core.evaluate import mean_ci
from metasuite.core.learners import load_learner
from metasuite.core.losses import task_metric
from metasuite.core.tasks import fixed_tasks
from metasuite.domains.sinusoid import SinusoidDomain

TRAIN = ["--steps", "20", "--meta-batch-size", "4", "--val-every", "10", "--val-tasks", "10", "--shots", "5"]
TRAIN += ["--queries", "5", "--quiet"]
SHIPPED_SINUSOID = Path(__file__).resolve().parents[1] / "data" / "checkpoints" / "sinusoid" / "maml"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sinusoid MAML run trained through the CLI (shared by the tests of this module)."""
    out = tmp_path_factory.mktemp("cli") / "run"
    assert main(["train", "sinusoid", "--algo", "maml", *TRAIN, "--out", str(out)]) == 0
    return out


def check_schema(report: dict[str, Any]) -> None:
    """The documented eval JSON schema."""
    assert set(report) >= {"domain", "setting", "results"}
    assert isinstance(report["domain"], str) and isinstance(report["setting"], dict)
    assert report["results"]
    for r in report["results"]:
        assert isinstance(r["method"], str) and r["kind"] in ("meta", "baseline")
        assert r["metrics"]
        for summary in r["metrics"].values():
            assert set(summary) == {"mean", "ci95"}
            assert all(math.isfinite(v) for v in summary.values())


def test_domains_lists_sinusoid(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["domains"]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("sinusoid"))
    assert "regression" in line
    assert main(["domains", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {"name": "sinusoid", "kind": "regression"}.items() <= next(
        r for r in rows if r["name"] == "sinusoid"
    ).items()


def test_train_writes_a_run_folder(run_dir: Path) -> None:
    assert {p.name for p in run_dir.iterdir()} >= {"best.safetensors", "last.safetensors", "metrics.jsonl"}
    meta = json.loads((run_dir / "last.json").read_text())
    assert meta["domain"] == "sinusoid" and meta["algorithm"] == "maml"
    assert meta["setting"] == {"n_way": None, "k_shot": 5, "n_query": 5}
    assert meta["trainer"]["step"] == 20 and meta["train_config"]["meta_batch_size"] == 4
    assert meta["data_fingerprint"] == SinusoidDomain().fingerprint()
    assert meta["domain_options"] == {} and "split_ids" not in meta  # sinusoid: no options, no named data


def test_eval_writes_the_documented_json_and_prints_a_table(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    report_path = tmp_path / "out" / "eval.json"
    assert (
        main(["eval", "sinusoid", "--checkpoint", str(run_dir), "--tasks", "20", "--json", str(report_path), "--quiet"])
        == 0
    )
    out = capsys.readouterr().out
    report = json.loads(report_path.read_text())
    check_schema(report)
    assert report["domain"] == "sinusoid"
    # the task shape comes from the checkpoint (5-shot), not the domain default (10-shot)
    assert report["setting"] == {"n_way": None, "k_shot": 5, "n_query": 5, "split": "test", "n_tasks": 20, "seed": 0}
    (maml,) = report["results"]
    assert maml["method"] == "maml" and maml["kind"] == "meta"
    assert list(maml["metrics"]) == ["mse", "loss"]
    assert out.startswith("domain: sinusoid") and "maml" in out and f"{maml['metrics']['mse']['mean']:.4f}" in out

    # the CLI reports exactly what the Python API computes on the same seeded test tasks
    learner, _ = load_learner(run_dir)
    tasks = fixed_tasks(SinusoidDomain().sampler("test", k_shot=5, n_query=5), 20, 0)
    per_task = []
    for t in tasks:
        pred = learner.adapt(t.support_x, t.support_y).predict(t.query_x)
        per_task.append(float(task_metric(pred, t.query_y, "regression")))
    assert maml["metrics"]["mse"]["mean"] == pytest.approx(mean_ci(per_task)["mean"], rel=1e-6)

    # evaluating again gives the same numbers
    again = tmp_path / "again.json"
    assert (
        main(["eval", "sinusoid", "--checkpoint", str(run_dir), "--tasks", "20", "--json", str(again), "--quiet"]) == 0
    )
    assert json.loads(again.read_text()) == report


def test_eval_with_baselines(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # the domain's real budgets take minutes; the CLI path is the same with tiny ones
    tiny = {"scratch_steps": 5, "pretrain_steps": 5, "pretrain_batch_size": 20, "finetune_steps": 3}
    monkeypatch.setattr(SinusoidDomain, "default_baselines", lambda self: tiny)
    path = tmp_path / "eval.json"
    args = ["eval", "sinusoid", "--checkpoint", str(run_dir), "--baselines", "--tasks", "4", "--json", str(path)]
    assert main([*args, "--quiet"]) == 0
    report = json.loads(path.read_text())
    check_schema(report)
    assert [(r["method"], r["kind"]) for r in report["results"]] == [
        ("maml", "meta"),
        ("scratch", "baseline"),
        ("pretrain+finetune", "baseline"),
    ]
    out = capsys.readouterr().out
    assert all(name in out for name in ("maml", "scratch", "pretrain+finetune"))


def _fails(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    assert "Traceback" not in captured.err + captured.out
    return err


def test_unknown_algorithm(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _fails(["train", "sinusoid", "--algo", "mamll", "--out", str(tmp_path / "x"), "--quiet"], capsys)
    assert "unknown algorithm 'mamll'" in err and "maml" in err and "protonet" in err
    assert not (tmp_path / "x" / "last.safetensors").exists()


def test_train_help_names_every_registered_algorithm() -> None:
    """`train --help` is where a user learns what --algo takes: a newly registered learner must appear there."""
    train = next(a for a in build_parser()._subparsers._group_actions[0].choices.items() if a[0] == "train")[1]
    help_text = next(a.help for a in train._actions if "--algo" in a.option_strings)
    assert set(ALGORITHMS) <= set(help_text.replace(",", " ").split()), help_text


def test_unknown_domain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _fails(["train", "no-such-domain", "--algo", "maml", "--out", str(tmp_path), "--quiet"], capsys)
    assert "unknown domain 'no-such-domain'" in err and "sinusoid" in err
    err = _fails(["eval", "no-such-domain", "--checkpoint", str(tmp_path), "--quiet"], capsys)
    assert "unknown domain" in err


def test_missing_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _fails(["eval", "sinusoid", "--checkpoint", str(tmp_path / "nope"), "--tasks", "2", "--quiet"], capsys)
    assert "does not exist" in err and "nope" in err
    err = _fails(["eval", "sinusoid", "--checkpoint", str(tmp_path), "--tasks", "2", "--quiet"], capsys)
    assert "no checkpoint 'best.safetensors'" in err


def test_corrupted_checkpoint(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.safetensors"
    data = (run_dir / "best.safetensors").read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    err = _fails(["eval", "sinusoid", "--checkpoint", str(bad), "--tasks", "2", "--quiet"], capsys)
    assert "truncated or corrupted" in err and str(bad) in err


def test_corrupted_checkpoint_in_a_real_process_prints_no_traceback(run_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "best.safetensors"
    bad.write_bytes(b"\x00" * 8 + b"not a safetensors header")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "metasuite.apps.cli", "eval", "sinusoid", "--checkpoint", str(tmp_path), "--quiet"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    assert "Traceback" not in done.stderr


def test_nothing_to_evaluate(capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["eval", "sinusoid", "--tasks", "2", "--quiet"]) == 2
    assert "nothing to evaluate" in capsys.readouterr().err


def test_no_resume_refuses_an_existing_run(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = (run_dir / "last.safetensors").read_bytes()
    err = _fails(["train", "sinusoid", "--algo", "maml", *TRAIN, "--out", str(run_dir), "--no-resume"], capsys)
    assert "already holds a run" in err
    assert (run_dir / "last.safetensors").read_bytes() == before


def test_resuming_with_other_options_is_refused(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _fails(["train", "sinusoid", "--algo", "maml", *TRAIN, "--outer-lr", "0.5", "--out", str(run_dir)], capsys)
    assert "different train_config" in err


def test_domain_options_reach_the_domain_and_bad_ones_fail_cleanly(capsys: pytest.CaptureFixture[str]) -> None:
    from metasuite.apps.cli import build_parser, domain_options
    from metasuite.core.runs import build_domain

    args = build_parser("driving").parse_args(
        ["train", "driving", "--algo", "maml", "--out", "x", "--option", "image_size=48", "--images-per-class", "4"]
    )
    domain = build_domain("driving", domain_options(args))
    assert domain.image_size == 48 and domain.images_per_class == 4
    assert main(["eval", "sinusoid", "--option", "no_such_option=1", "--baselines", "--tasks", "1"]) == 2
    assert "does not accept the options ['no_such_option']" in capsys.readouterr().err
    assert main(["eval", "driving", "--option", "no_such_option=1", "--tasks", "1"]) == 2
    assert (
        "domain 'driving' has no option 'no_such_option'; its options: cache_dir, condition_tasks, data_dir"
        in capsys.readouterr().err
    )
    assert main(["eval", "driving", "--option", "image_size=big", "--tasks", "1"]) == 2
    assert "option image_size: cannot read 'big' as int" in capsys.readouterr().err
    assert main(["eval", "driving", "--image-size", "big", "--tasks", "1"]) == 2  # argparse, same message
    assert "option image_size: cannot read 'big' as int" in capsys.readouterr().err
    assert main(["eval", "sinusoid", "--option", "novalue", "--baselines", "--tasks", "1"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err


def test_eval_runs_the_domain_plan_and_writes_confusion_images(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A domain whose eval plan has two settings gets one combined JSON and a confusion PNG per method/setting."""
    from conftest import TinyClassificationDomain

    from metasuite.core import registry

    class Planned(TinyClassificationDomain):
        def eval_plan(self, setting, split, explicit):  # type: ignore[no-untyped-def]
            return [{**setting, "k_shot": k, "split": "test"} for k in (1, 2)]

        def default_baselines(self):  # type: ignore[no-untyped-def]
            return {"pretrain_steps": 5, "pretrain_batch_size": 16, "scratch_steps": 2, "finetune_steps": 2}

    monkeypatch.setattr(registry, "get_domain_class", lambda name: Planned)
    out = tmp_path / "eval.json"
    assert main(["eval", "tiny-gauss", "--baselines", "--tasks", "4", "--quiet", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["domain"] == "tiny-gauss" and [p["k_shot"] for p in report["setting"]["plan"]] == [1, 2]
    methods = {"scratch", "pretrain+finetune", "pretrain+logreg"}
    assert {(r["method"], r["setting"]["k_shot"]) for r in report["results"]} == {
        (m, k) for m in methods for k in (1, 2)
    }
    for r in report["results"]:
        matrix = r["confusion"]["matrix"]
        assert sum(map(sum, matrix)) == 4 * 3 * 3  # tasks x n_way x n_query, every query counted once
        assert len(matrix) == len(r["confusion"]["labels"])
    pngs = sorted(p.name for p in tmp_path.glob("eval-confusion-*.png"))
    assert len(pngs) == 6 and "eval-confusion-scratch-test-3way1shot.png" in pngs
    assert (tmp_path / pngs[0]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_meta_training_can_start_from_the_pretrained_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--pretrain-steps: the pretrain baselines' model initialises the learner; mismatched heads stay fresh."""
    import torch
    from conftest import TinyClassificationDomain

    from metasuite.core import registry
    from metasuite.core.baselines import BaselineConfig, pretrain
    from metasuite.core.learners import make_learner
    from metasuite.core.runs import pretrained_init as _pretrained_init

    domain = TinyClassificationDomain()
    learner = make_learner(domain, "maml", n_way=3, seed=0)
    head_before = learner.backbone.state_dict()["head.weight"].clone()
    init = _pretrained_init(domain, learner, steps=5, seed=0, progress=False)
    reference = pretrain(domain, BaselineConfig(**{**domain.default_baselines(), "pretrain_steps": 5, "seed": 0}))
    own = learner.backbone.state_dict()
    for name in init["copied"]:
        assert torch.equal(own[name], reference.state_dict()[name])
    # the 12-way pre-training head cannot be a 3-way episodic head: it is skipped, the body is copied
    assert set(init["skipped"]) == {"head.weight", "head.bias"} and init["copied"]
    assert torch.equal(own["head.weight"], head_before)

    monkeypatch.setattr(registry, "get_domain_class", lambda name: TinyClassificationDomain)
    out = tmp_path / "run"
    args = ["train", "tiny-gauss", "--algo", "maml", "--pretrain-steps", "5", "--steps", "2", "--val-every", "1"]
    assert main([*args, "--val-tasks", "2", "--quiet", "--out", str(out)]) == 0
    meta = json.loads((out / "best.json").read_text())
    assert meta["init"]["pretrain_steps"] == 5 and meta["init"]["copied"] == init["copied"]


def test_meta_training_can_start_from_a_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """--init CHECKPOINT (fine-tune a shipped model on new data): the run starts from its weights -- all of them
    for the same algorithm, the matching ones for another (ProtoNet has no head) -- and records where from;
    another domain's checkpoint, one sharing no tensor, and --init with --pretrain-steps are refused."""
    import torch
    from conftest import VECTOR_DIM, TinyClassificationDomain

    from metasuite.core import registry
    from metasuite.core.errors import CheckpointError
    from metasuite.core.learners import make_learner
    from metasuite.core.runs import checkpoint_init
    from metasuite.data import CHECKPOINTS

    monkeypatch.setattr(registry, "get_domain_class", lambda name: TinyClassificationDomain)
    base = ["train", "tiny-gauss", "--steps", "3", "--val-every", "1", "--val-tasks", "2", "--quiet"]
    first = tmp_path / "first"
    assert main([*base, "--algo", "maml", "--out", str(first)]) == 0
    trained, _ = load_learner(first, TinyClassificationDomain())  # a run folder means its best.safetensors
    domain = TinyClassificationDomain()
    fresh = make_learner(domain, "maml", n_way=3, seed=1)
    init = checkpoint_init(domain, fresh, first)
    assert init["skipped"] == [] and init["algorithm"] == "maml"
    assert all(torch.equal(v, trained.state_dict()[k]) for k, v in fresh.state_dict().items())
    proto = make_learner(domain, "protonet", n_way=3, seed=1)
    partial = checkpoint_init(domain, proto, first)
    assert partial["copied"] and not any(k.endswith(("head.weight", "head.bias")) for k in partial["copied"])

    second = tmp_path / "second"
    assert main([*base, "--algo", "maml", "--init", str(first), "--out", str(second)]) == 0
    meta = json.loads((second / "best.json").read_text())
    assert meta["init"]["from"] == str(first) and meta["init"]["skipped"] == []
    first_record = json.loads((second / "metrics.jsonl").read_text().splitlines()[0])
    assert first_record["step"] == 0 and "val_metric" in first_record  # the starting weights were validated
    capsys.readouterr()

    assert (
        main([*base, "--algo", "maml", "--init", str(first), "--pretrain-steps", "5", "--out", str(tmp_path / "x")])
        == 2
    )
    assert "--init and --pretrain-steps" in capsys.readouterr().err
    sinusoid = CHECKPOINTS / "sinusoid" / "maml"
    assert main([*base, "--algo", "maml", "--init", str(sinusoid), "--out", str(tmp_path / "y")]) == 2
    assert "is a sinusoid checkpoint" in capsys.readouterr().err
    # another width of the hidden layers and no head: no tensor of the same name and shape
    monkeypatch.setattr(
        TinyClassificationDomain,
        "backbone_spec",
        lambda self, algorithm, n_way: ("mlp", {"in_features": VECTOR_DIM, "hidden": [24], "out_features": None}),
    )
    with pytest.raises(CheckpointError, match="shares no tensor"):
        checkpoint_init(domain, make_learner(domain, "protonet", n_way=3, seed=1), first)


def test_a_folder_holding_a_finished_model_is_not_overwritten(tmp_path: Path, capsys) -> None:
    """A copy of a shipped checkpoint (best.* without last.*) or someone's results: refused, nothing changed."""
    import shutil

    from metasuite.data import CHECKPOINTS

    shipped = tmp_path / "shipped"
    shutil.copytree(CHECKPOINTS / "sinusoid" / "maml", shipped)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "metrics.jsonl").write_text('{"step": 1, "note": "my results"}\n')
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    for out in (shipped, tmp_path / "mine"):
        assert main(["train", "sinusoid", "--algo", "maml", *TRAIN, "--out", str(out), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert "is not empty and holds no resumable run" in err and "--overwrite" in err
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
    # --out that is a file: one clear line
    assert main(["train", "sinusoid", "--algo", "maml", *TRAIN, "--out", str(shipped / "best.json"), "--quiet"]) == 2
    assert "is a file; give a folder" in capsys.readouterr().err
    # asked for explicitly, a fresh run replaces the run files
    assert main(["train", "sinusoid", "--algo", "maml", *TRAIN, "--out", str(shipped), "--overwrite", "--quiet"]) == 0
    assert json.loads((shipped / "best.json").read_text())["train_config"]["steps"] != 70_000


def test_a_run_killed_before_its_first_checkpoint_restarts_with_the_same_command(tmp_path: Path) -> None:
    from metasuite.core.trainer import RUN_CONFIG

    out = tmp_path / "run"
    assert main(["train", "sinusoid", "--algo", "maml", *TRAIN, "--out", str(out), "--quiet"]) == 0
    (out / "last.safetensors").unlink()  # as if killed after writing run.json and a log line
    (out / "last.json").unlink()
    assert (out / RUN_CONFIG).exists()
    assert main(["train", "sinusoid", "--algo", "maml", *TRAIN, "--out", str(out), "--quiet"]) == 0


@pytest.mark.parametrize(
    "argv, says",
    [
        (["train", "sinusoid", "--algo", "maml", "--steps", "0"], "--steps: must be positive, got 0"),
        (["train", "sinusoid", "--algo", "maml", "--steps", "-5"], "--steps: must be positive, got -5"),
        (["train", "sinusoid", "--algo", "maml", "--meta-batch-size", "0"], "--meta-batch-size: must be positive"),
        (["eval", "sinusoid", "--baselines", "--tasks", "0"], "--tasks: must be positive, got 0"),
        (["eval", "sinusoid", "--baselines", "--tasks", "-3"], "--tasks: must be positive, got -3"),
        (["eval", "sinusoid", "--baselines", "--tasks", "two"], "expected a whole number, got 'two'"),
    ],
)
def test_counts_are_checked_before_any_work(argv: list[str], says: str, tmp_path: Path, capsys) -> None:
    out = ["--out", str(tmp_path / "run")] if argv[0] == "train" else []
    assert main([*argv, *out, "--quiet"]) == 2
    assert says in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_one_task_has_no_confidence_interval(capsys) -> None:
    assert main(["eval", "sinusoid", "--checkpoint", str(SHIPPED_SINUSOID), "--tasks", "1", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "± n/a (n=1)" in out and "± 0.0000" not in out


def test_logs_get_plain_progress_lines_and_one_line_warnings(tmp_path: Path) -> None:
    """Written to a file (not a terminal), progress is a few readable lines, never carriage-return redraws, and a
    warning is one line without Python's category and source line."""
    script = (
        "import warnings\n"
        "from metasuite.apps.cli import main\n"
        "from metasuite.domains.sinusoid import SinusoidDomain\n"
        "sampler = SinusoidDomain.sampler\n"
        "def noisy(self, *a, **k):\n"
        "    warnings.warn('the sampler saw something odd', stacklevel=2)\n"
        "    return sampler(self, *a, **k)\n"
        "SinusoidDomain.sampler = noisy\n"
        f"raise SystemExit(main(['eval', 'sinusoid', '--checkpoint', {str(SHIPPED_SINUSOID)!r}, '--tasks', '30']))\n"
    )
    log = tmp_path / "run.log"
    with log.open("w") as f:
        done = subprocess.run([sys.executable, "-c", script], stdout=f, stderr=subprocess.STDOUT, timeout=300)
    text = log.read_text()
    assert done.returncode == 0, text[-2000:]
    assert "\r" not in text
    assert "warning: the sampler saw something odd" in text.splitlines()
    assert "UserWarning" not in text and "warnings.warn" not in text
    assert "eval maml: 30/30 tasks (100%)" in text
