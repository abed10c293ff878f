"""Evaluation you can trust: the checkpoint's data by default, checks before work, nothing lost, bounded output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import GaussianClassSampler, TinyClassificationDomain

from metasuite.apps.cli import main
from metasuite.core import registry
from metasuite.core.evaluate import CONFUSION_MAX_CLASSES, evaluate, merge_reports
from metasuite.core.options import Option
from metasuite.core.tasks import Task, fixed_tasks


class NoisyGauss(TinyClassificationDomain):
    """The tiny Gaussian domain with a typed option that changes the data (and so the fingerprint)."""

    option_specs = (Option("noise", float, 0.5, "cluster spread"), Option("n_classes", int, 12, "classes per split"))

    def __init__(self, noise: float = 0.5, n_classes: int = 12):
        super().__init__(noise=noise, n_classes=n_classes)
        self.noise, self.n_classes = float(noise), int(n_classes)

    def sampler(self, split: str, *, n_way: int | None = 3, k_shot: int = 2, n_query: int = 3) -> GaussianClassSampler:
        offset = {"train": 0, "val": 1000, "test": 2000}[split]
        return GaussianClassSampler(
            (8,), n_classes=self.n_classes, n_way=n_way or 3, k_shot=k_shot, n_query=n_query,
            noise=self.noise, seed=7 + offset, first_class=offset,
        )  # fmt: skip

    def n_classes_total(self) -> int:
        return self.n_classes


@pytest.fixture
def noisy(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(registry, "get_domain_class", lambda name: NoisyGauss)
    return "tiny-gauss"


def _train(out: Path, *args: str) -> None:
    argv = ["train", "tiny-gauss", "--steps", "4", "--meta-batch-size", "2", "--val-every", "2", "--val-tasks", "2"]
    assert main([*argv, *args, "--out", str(out), "--quiet"]) == 0


def test_eval_rebuilds_the_domain_from_the_checkpoints_options(noisy: str, tmp_path: Path, capsys) -> None:
    _train(tmp_path / "run", "--algo", "maml", "--noise", "0.1")
    out = tmp_path / "eval.json"
    assert main(["eval", noisy, "--checkpoint", str(tmp_path / "run"), "--tasks", "3", "--json", str(out)]) == 0
    captured = capsys.readouterr()
    report = json.loads(out.read_text())
    trained = json.loads((tmp_path / "run" / "best.json").read_text())["data_fingerprint"]
    assert report["data_source"]["fingerprint"] == trained  # noise=0.1 again, without passing it
    assert "warning" not in captured.err
    # an explicit option overrides the recorded one, and both facts are said (and kept in the JSON)
    argv = ["eval", noisy, "--checkpoint", str(tmp_path / "run"), "--tasks", "3", "--noise", "0.9"]
    assert main([*argv, "--json", str(out)]) == 0
    err = capsys.readouterr().err
    assert "noise=0.9 given: overrides noise=0.1 recorded in" in err
    assert "evaluating on other data" in err
    assert "add --finetune-steps 20 --finetune-select 50" in err  # what adapts a model to data it was not trained on
    report = json.loads(out.read_text())
    assert report["data_source"]["fingerprint"] != trained
    assert any("overrides noise=0.1" in w for w in report["warnings"])


def test_a_metric_learner_trained_20_way_evaluates_5_way(noisy: str, tmp_path: Path) -> None:
    _train(tmp_path / "proto", "--algo", "protonet", "--ways", "20", "--option", "n_classes=40")
    out = tmp_path / "eval.json"
    argv = ["eval", noisy, "--checkpoint", str(tmp_path / "proto"), "--ways", "5", "--shots", "3", "--tasks", "4"]
    assert main([*argv, "--json", str(out), "--quiet"]) == 0
    (result,) = json.loads(out.read_text())["results"]
    assert result["method"] == "protonet" and result["n_tasks"] == 4
    assert sum(map(sum, result["confusion"]["matrix"])) == 4 * 5 * 3  # every query of every 5-way task counted


def test_a_head_that_cannot_answer_is_refused_before_any_baseline_trains(
    noisy: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    _train(tmp_path / "maml", "--algo", "maml", "--ways", "4")

    def no_training(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a baseline started training before the incompatibility was found")

    monkeypatch.setattr("metasuite.core.evaluation.build_baselines", no_training)
    argv = ["eval", noisy, "--checkpoint", str(tmp_path / "maml"), "--ways", "5", "--baselines", "--tasks", "2"]
    assert main([*argv, "--quiet"]) == 2
    assert "is a 4-way maml (its head has 4 outputs) and cannot answer [5]-way tasks" in capsys.readouterr().err


def test_finished_results_are_saved_before_a_later_failure(noisy: str, tmp_path: Path, monkeypatch) -> None:
    _train(tmp_path / "run", "--algo", "protonet")
    from metasuite.core import baselines

    class Exploding:
        name, kind = "exploding", "baseline"

        def adapt(self, task: Task):  # type: ignore[no-untyped-def]
            raise RuntimeError("out of memory")

    monkeypatch.setattr(
        "metasuite.core.evaluation.build_baselines", lambda *a, **k: [baselines.ScratchBaseline(NoisyGauss(), 3,
        baselines.BaselineConfig(scratch_steps=2)), Exploding()],
    )  # fmt: skip
    out = tmp_path / "eval.json"
    argv = ["eval", noisy, "--checkpoint", str(tmp_path / "run"), "--baselines", "--tasks", "3", "--json", str(out)]
    with pytest.raises(RuntimeError, match="out of memory"):
        main([*argv, "--quiet"])
    saved = json.loads(out.read_text())
    assert [r["method"] for r in saved["results"]] == ["protonet", "scratch"] and "2 of 3" in saved["partial"]


def test_confusions_beyond_the_class_cap_become_per_class_counts(tmp_path: Path) -> None:
    """500 classes: no 500x500 matrix (a 20 MB JSON, a PNG nobody can draw), per-class counts instead."""
    domain = NoisyGauss(n_classes=500)

    class Guess:
        name, kind = "guess", "baseline"

        def adapt(self, task: Task):  # type: ignore[no-untyped-def]
            return lambda x: torch.zeros(len(x), 5)

    tasks = fixed_tasks(domain.sampler("test", n_way=5, k_shot=1, n_query=2), 200, seed=0)
    report = evaluate(domain, [Guess()], tasks, {"split": "test"}, progress=False, confusion=True)
    (result,) = report["results"]
    assert "confusion" not in result
    per_class = result["per_class"]
    assert len(per_class["labels"]) > CONFUSION_MAX_CLASSES and sum(per_class["total"]) == 200 * 5 * 2
    assert len(json.dumps(report)) < 200_000
    merged = merge_reports([report, report])["results"][0]["per_class"]
    assert sum(merged["total"]) == 2 * 200 * 5 * 2
    from metasuite.core.evaluation import EvalReport, FixedTaskEvaluation

    data = {**report, "results": [result]}
    assert FixedTaskEvaluation().write_artifacts(EvalReport(data, ""), tmp_path / "e.json", {}) == []


def test_an_unavailable_split_fails_before_the_baselines_pretrain(tmp_path: Path, monkeypatch, capsys) -> None:
    """Driving on real frames has no 'seen' split: said at once, not after minutes of pre-training."""
    from PIL import Image

    root = tmp_path / "frames"
    for env in ("e1", "e2", "e3"):
        for cls in ("day", "night"):
            (root / env / cls).mkdir(parents=True)
            for i in range(3):
                Image.new("RGB", (12, 12), (60 * i, 9, 9)).save(root / env / cls / f"{i}.png")

    def no_training(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("pre-training started before the split error")

    monkeypatch.setattr("metasuite.core.evaluation.build_baselines", no_training)
    argv = ["eval", "driving", "--data-dir", str(root), "--image-size", "16", "--split", "seen", "--ways", "2"]
    assert main([*argv, "--baselines", "--tasks", "2", "--quiet"]) == 2
    assert "'seen' split needs held-out frames" in capsys.readouterr().err


def test_pretrain_logreg_reports_a_finite_loss_and_no_warning_stream(recwarn) -> None:  # was "inf ± nan"
    """Separable few-shot supports: probabilities underflow to 0 and sklearn warns at every task today."""
    import math

    from metasuite.core.baselines import BaselineConfig, LogRegBaseline, pretrain

    domain = NoisyGauss(noise=3.0)  # overlapping clusters: confident mistakes, probabilities that underflow to 0
    cfg = BaselineConfig(pretrain_steps=30, pretrain_batch_size=32, logreg_c=1e3)
    method = LogRegBaseline(pretrain(domain, cfg), 3, cfg)
    tasks = fixed_tasks(domain.sampler("test", n_way=3, k_shot=5, n_query=5), 20, seed=0)
    report = evaluate(domain, [method], tasks, {"split": "test"}, progress=False)
    loss = report["results"][0]["metrics"]["loss"]
    assert math.isfinite(loss["mean"]) and math.isfinite(loss["ci95"])
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_eval_jsons_with_undefined_values_merge(noisy: str, tmp_path: Path) -> None:
    """Strict JSON writes an undefined per-task value as null; merging such files must read it back as undefined."""
    report = {
        "domain": "tiny-gauss",
        "setting": {"split": "test"},
        "results": [{"method": "m", "kind": "meta", "n_tasks": 2, "per_task": {"se": [0.5, float("nan")]}}],
    }
    from metasuite.core.jsonio import write_json

    paths = [write_json(tmp_path / f"f{k}.json", report) for k in range(2)]
    assert json.loads(paths[0].read_text())["results"][0]["per_task"]["se"] == [0.5, None]
    out = tmp_path / "merged.json"
    assert main(["eval", noisy, "--merge", *map(str, paths), "--json", str(out)]) == 0
    merged = json.loads(out.read_text())["results"][0]
    assert merged["metrics"]["se"] == {"mean": 0.5, "ci95": 0.0, "n": 2} and merged["n_tasks"] == 4
