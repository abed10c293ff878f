"""Gross statistics, per-patient table and fold merging of diagnosis eval reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import Tensor

from metasuite.apps.cli import main
from metasuite.core.evaluate import evaluate
from metasuite.core.tasks import Task
from metasuite.domains.diagnosis.domain import DiagnosisDomain
from metasuite.domains.diagnosis.evaluation import gross_from_confusion, summarize
from metasuite.domains.diagnosis.metrics import gross_metrics

SMALL = {"cohort": {"train": 2, "val": 2, "test": 3}, "minutes": 8.0, "support_minutes": 2.0}


class _Noisy:
    """Predicts the true class, except a seeded random fraction of beats gets a random class."""

    kind = "baseline"

    def __init__(self, name: str, error: float):
        self.name, self.error = name, error

    def adapt(self, task: Task):
        def predict(x: Tensor) -> Tensor:
            g = torch.Generator().manual_seed(len(x))
            y = task.query_y.clone()
            flip = torch.rand(len(y), generator=g) < self.error
            y[flip] = torch.randint(4, (int(flip.sum()),), generator=g)
            return torch.nn.functional.one_hot(y, 4).float()

        return predict


@pytest.fixture(scope="module")
def report_and_tasks() -> tuple[dict, list[Task], DiagnosisDomain]:
    domain = DiagnosisDomain(**SMALL)
    tasks = domain.sampler("test").all_tasks()
    methods = [_Noisy("perfect", 0.0), _Noisy("noisy", 0.3)]
    report = evaluate(domain, methods, tasks, {"split": "test", "n_tasks": len(tasks)}, progress=False, confusion=True)
    return report, tasks, domain


def test_gross_statistics_pool_every_beat_of_every_patient(report_and_tasks) -> None:
    report, tasks, domain = report_and_tasks
    summary = domain.evaluation().summarize(report)
    for i, method in enumerate(("perfect", "noisy")):
        pairs = []
        for t in tasks:
            pred = _Noisy(method, (0.0, 0.3)[i]).adapt(t)(t.query_x).argmax(-1)
            pairs.append((t.query_y.numpy(), pred.numpy()))
        expected = gross_metrics(pairs)
        got = summary["gross"][method]
        assert got["n_beats"] == sum(len(t.query_y) for t in tasks)
        for key in ("accuracy", "S_Se", "S_+P", "V_Se", "V_+P", "V_F1"):
            assert got[key] == pytest.approx(expected[key], nan_ok=True)
    assert summary["gross"]["perfect"]["accuracy"] == 1.0
    assert summary["gross"]["noisy"]["accuracy"] < 0.9


def test_gross_statistics_do_not_depend_on_the_confusion_label_order(report_and_tasks) -> None:
    report, _, _ = report_and_tasks
    conf = report["results"][1]["confusion"]
    order = list(reversed(range(len(conf["labels"]))))
    shuffled = {
        "labels": [conf["labels"][i] for i in order],
        "matrix": [[conf["matrix"][i][j] for j in order] for i in order],
    }
    assert gross_from_confusion(shuffled) == gross_from_confusion(conf)
    with pytest.raises(ValueError, match="not AAMI classes"):
        gross_from_confusion({"labels": ["N", "Q"], "matrix": [[1, 0], [0, 1]]})


def test_patient_table_has_one_row_per_test_patient(report_and_tasks) -> None:
    report, tasks, _ = report_and_tasks
    rows = summarize(report)["patients"]
    assert [r["patient_id"] for r in rows] == [t.metadata["patient_id"] for t in tasks]
    assert all(r["perfect"]["accuracy"] == 1.0 for r in rows)
    # an F1 of a class the patient does not have (and that is never predicted) is null, not 0
    for r, t in zip(rows, tasks, strict=True):
        if not (t.query_y == 1).any():
            assert r["perfect"]["S_F1"] is None


def test_cli_merges_folds_and_prints_gross_statistics_with_references(
    report_and_tasks, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    report, tasks, domain = report_and_tasks
    # two "folds": the first patient, then the others
    folds = []
    for k, part in enumerate((tasks[:1], tasks[1:])):
        rep = evaluate(
            domain,
            [_Noisy("noisy", 0.3)],
            part,
            {"split": "test", "n_tasks": len(part)},
            progress=False,
            confusion=True,
        )
        path = tmp_path / f"fold{k}.json"
        path.write_text(json.dumps(rep))
        folds.append(str(path))
    out = tmp_path / "merged.json"
    assert main(["eval", "diagnosis", "--merge", *folds, "--json", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "gross statistics" in printed and "Kiranyaz2016" in printed and "deChazal2006" in printed
    # the setting in the field's terms, not "n_way=4, k_shot=0, n_query=0"
    assert "k_shot=0" not in printed and "support = the first" in printed and "query = every later beat" in printed
    merged = json.loads(out.read_text())
    assert merged["results"][0]["n_tasks"] == len(tasks)
    whole = summarize(report)["gross"]["noisy"]
    assert merged["summary"]["gross"]["noisy"]["confusion"] == whole["confusion"]
    assert (tmp_path / "merged-confusion-noisy-test.png").is_file()


def test_cli_merge_rejects_files_that_are_not_eval_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["eval", "diagnosis", "--merge", str(bad)]) == 2
    assert "not JSON" in capsys.readouterr().err
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"hello": 1}))
    assert main(["eval", "diagnosis", "--merge", str(other)]) == 2
    assert "not a metasuite eval JSON" in capsys.readouterr().err
    assert main(["eval", "diagnosis", "--merge", str(tmp_path / "missing.json")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_bench_diagnosis_quick_reports_every_measurement() -> None:
    from metasuite.domains.diagnosis.bench import TARGETS, bench_diagnosis

    report = bench_diagnosis(quick=True)
    syn = report["preprocessing"]["synthetic_30min"]
    assert syn["beats"] > 1000 and syn["median_s"] > 0 and syn["beats_per_s"] == round(syn["beats"] / syn["median_s"])
    adapt = report["adaptation"]
    assert adapt["support_beats"] > 0 and adapt["query_beats"] > adapt["support_beats"]
    for algo in ("fomaml", "anil"):
        assert adapt[algo]["adapt"]["median_s"] > 0 and adapt[algo]["inference"]["beats_per_s"] > 0
    mem = report["meta_training_memory"]
    assert mem["peak_rss_mb"] >= mem["rss_after_loading_mb"] > 0 and mem["steps"] == 2
    worst = max(adapt[a]["adapt"]["median_s"] for a in ("fomaml", "anil"))
    assert report["ratios"]["adapt_vs_target"] == round(worst / TARGETS["adapt_seconds"], 3)
