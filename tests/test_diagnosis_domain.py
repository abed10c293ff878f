"""The diagnosis domain: patient tasks in the global AAMI label space, splits, baselines, real records."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from metasuite.core.baselines import BaselineConfig, build_baselines
from metasuite.core.errors import DataError, TaskError
from metasuite.core.evaluate import MetaMethod, evaluate
from metasuite.core.learners import make_learner
from metasuite.core.losses import balanced_weights, task_loss
from metasuite.core.registry import get_domain
from metasuite.core.tasks import TaskBatch, fixed_tasks, generator
from metasuite.domains.diagnosis.beats import WINDOW_LENGTH
from metasuite.domains.diagnosis.domain import N_FEATURES, DiagnosisDomain, DiagnosisSampler, patient_features

MITDB = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "mitdb-ds1"
SMALL = {"cohort": {"train": 4, "val": 2, "test": 3}, "minutes": 8.0, "support_minutes": 2.0}


@pytest.fixture(scope="module")
def domain() -> DiagnosisDomain:
    return DiagnosisDomain(**SMALL)


def test_registered_and_described() -> None:
    d = get_domain("diagnosis", **SMALL)
    assert d.kind == "classification" and d.fixed_label_space
    assert d.n_classes_total() == 4


def test_splits_are_disjoint_patients(domain: DiagnosisDomain) -> None:
    ids = {s: {b.patient_id for b in domain.patients(s)} for s in ("train", "val", "test")}
    assert [len(ids[s]) for s in ("train", "val", "test")] == [4, 2, 3]
    assert not ids["train"] & ids["val"] and not ids["train"] & ids["test"] and not ids["val"] & ids["test"]


def test_evaluation_tasks_are_every_patient_with_the_first_minutes_as_support(domain: DiagnosisDomain) -> None:
    sampler = domain.sampler("test")
    tasks = fixed_tasks(sampler, 600, seed=0)
    assert len(tasks) == 3  # one per test patient, whatever the requested number
    for task, beats in zip(tasks, domain.patients("test"), strict=True):
        assert task.metadata["patient_id"] == beats.patient_id
        n_support = int((beats.times_s < 120.0).sum())
        assert task.n_support == n_support and task.n_query == len(beats) - n_support  # every later beat
        assert task.support_x.shape[1:] == (N_FEATURES,)
        assert max(task.metadata["query_times_s"]) == pytest.approx(beats.times_s[-1])
        assert min(task.metadata["query_times_s"]) >= 120.0
        assert int(task.query_y.max()) < 4 and int(task.query_y.min()) >= 0  # global AAMI ids, Q dropped


def test_training_tasks_take_a_random_window_and_later_queries(domain: DiagnosisDomain) -> None:
    sampler = domain.sampler("train", n_query=64)
    a, b = sampler.sample(generator(1)), sampler.sample(generator(1))
    assert torch.equal(a.support_x, b.support_x) and torch.equal(a.query_y, b.query_y)  # seeded
    starts = {sampler.sample(generator(i)).metadata["support_start_s"] for i in range(6)}
    assert len(starts) > 1
    assert a.n_query == 64
    batch = TaskBatch.stack([sampler.sample(generator(i)) for i in range(3)], pad=True)
    assert batch.support_mask is not None  # ragged support sizes are padded with masks


def test_n_way_other_than_four_is_refused(domain: DiagnosisDomain) -> None:
    with pytest.raises(TaskError, match="4 classes"):
        domain.sampler("test", n_way=5)


def test_bad_options_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="metasuite data fetch mitdb"):
        DiagnosisDomain(data_dir=str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match="support_minutes"):
        DiagnosisDomain(support_minutes=0)
    with pytest.raises(DataError, match="no beats after"):
        DiagnosisDomain(**{**SMALL, "support_minutes": 9.0}).sampler("test")


def test_balanced_loss_weighs_every_present_class_equally() -> None:
    y = torch.tensor([0, 0, 0, 0, 0, 0, 2, 2])
    w = balanced_weights(y, 4)
    assert float(w[y == 0].sum()) == pytest.approx(0.5) and float(w[y == 2].sum()) == pytest.approx(0.5)
    mask = torch.tensor([True] * 6 + [True, False])
    wm = balanced_weights(y, 4, mask)
    assert float(wm[~mask].sum()) == 0.0 and float(wm[mask].sum()) == pytest.approx(1.0)
    logits = torch.randn(8, 4)
    per = torch.nn.functional.cross_entropy(logits, y, reduction="none")
    expected = 0.5 * per[y == 0].mean() + 0.5 * per[y == 2].mean()
    assert float(task_loss(logits, y, "classification", balanced=True)) == pytest.approx(float(expected))
    # per-task gradients under torch.func.vmap(grad(...)), as the meta-learners' inner loops take them
    ys = torch.stack([y, y.flip(0), torch.zeros(8, dtype=torch.long)])
    masks = torch.stack([mask, torch.ones(8, dtype=torch.bool), mask])
    zs = torch.randn(3, 8, 4)

    def grad_of(z: torch.Tensor, t: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        return torch.func.grad(lambda q: task_loss(q, t, "classification", m, balanced=True))(z)

    batched = torch.func.vmap(grad_of)(zs, ys, masks)
    looped = torch.stack([grad_of(z, t, m) for z, t, m in zip(zs, ys, masks, strict=True)])
    assert torch.allclose(batched, looped)


def test_meta_learner_and_baselines_run_on_patient_tasks(domain: DiagnosisDomain) -> None:
    learner = make_learner(domain, "maml", n_way=4, seed=0, inner_steps=1, test_inner_steps=2)
    assert learner.balanced_loss and not learner.every_class_in_support
    batch = TaskBatch.stack([domain.sampler("train", n_query=32).sample(generator(i)) for i in range(2)], pad=True)
    learner.meta_backward(batch)
    cfg = BaselineConfig(
        **{**domain.default_baselines(), "pretrain_steps": 3, "scratch_steps": 2, "finetune_steps": 2, "seed": 0}
    )
    methods = [MetaMethod(learner), *build_baselines(domain, 4, cfg, None)]
    names = [m.name for m in methods]
    assert "global model (no adaptation)" in names and "pretrain+finetune" in names
    tasks = fixed_tasks(domain.sampler("test"), 2, 0)
    report = evaluate(domain, methods, tasks, {}, progress=False, confusion=True)
    for r in report["results"]:
        assert set(r["metrics"]) >= {"accuracy", "macro_f1", "S_F1", "V_F1", "V_Se", "V_+P"}
        acc = r["metrics"]["accuracy"]["mean"]
        assert 0.0 <= acc <= 1.0
        # a patient without S beats has an undefined S sensitivity: left out of the mean, not zero
        s_se = r["metrics"]["S_Se"]
        assert s_se["mean"] is None or not math.isnan(s_se["mean"])
        assert np.array(r["confusion"]["matrix"]).sum() == sum(t.n_query for t in tasks)
        labels = r["confusion"]["labels"]  # global AAMI order, not alphabetical (F would come first)
        assert labels == [c for c in ("N", "S", "V", "F") if c in labels]


@pytest.mark.skipif(not MITDB.is_dir(), reason="real MIT-BIH DS1 records not found at ../shared/data/mitdb-ds1")
def test_real_records_make_leave_patients_out_folds() -> None:
    d = DiagnosisDomain(data_dir=str(MITDB), records="101,106,108,109,112,114", n_folds=3, fold=1)
    ids = {s: {b.patient_id for b in d.patients(s)} for s in ("train", "val", "test")}
    assert sum(len(v) for v in ids.values()) == 6
    assert not ids["train"] & ids["test"] and not ids["val"] & ids["test"] and not ids["train"] & ids["val"]
    other = DiagnosisDomain(data_dir=str(MITDB), records="101,106,108,109,112,114", n_folds=3, fold=2)
    assert {b.patient_id for b in other.patients("test")} != ids["test"]  # folds rotate
    task = d.sampler("test").all_tasks()[0]
    assert task.support_x.shape[1] == N_FEATURES and task.n_query > 1000


def test_cli_fetch_with_the_network_down_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys) -> None:
    import wfdb

    from metasuite.apps.cli import main

    def offline(*args, **kwargs):
        raise ConnectionError("Name or service not known")

    monkeypatch.setattr(wfdb, "dl_database", offline)
    assert main(["data", "fetch", "mitdb", "--dest", str(tmp_path / "mitdb")]) == 2
    assert "network" in capsys.readouterr().err.lower()


def test_cli_domain_options_that_a_domain_does_not_take_are_refused(capsys) -> None:
    from metasuite.apps.cli import main

    # --records is the diagnosis domain's own flag: other domains do not even parse it
    assert main(["eval", "sinusoid", "--records", "DS2", "--baselines", "--tasks", "2"]) == 2
    assert "unrecognized arguments: --records DS2" in capsys.readouterr().err
    assert main(["eval", "sinusoid", "--option", "records=DS2", "--baselines", "--tasks", "2"]) == 2
    assert "does not accept" in capsys.readouterr().err


def test_balanced_accuracy_is_the_mean_recall_of_the_present_classes() -> None:
    from metasuite.core.losses import task_metric

    y = torch.tensor([0, 0, 0, 0, 1, 1])
    logits = torch.zeros(6, 4)
    logits[:, 0] = 1.0  # always predicts class 0
    assert float(task_metric(logits, y, "classification")) == pytest.approx(4 / 6)
    assert float(task_metric(logits, y, "classification", balanced=True)) == pytest.approx(0.5)


@pytest.mark.skipif(not MITDB.is_dir(), reason="real MIT-BIH DS1 records not found at ../shared/data/mitdb-ds1")
def test_test_records_are_held_out_and_loaded_only_when_asked_for() -> None:
    # DS2 is not in the DS1 folder: training on DS1 with DS2 as the test set must still work
    d = DiagnosisDomain(data_dir=str(MITDB), records="101,106,108,201", test_records="DS2")
    train_val = {b.patient_id for s in ("train", "val") for b in d.patients(s)}
    # 201 shares its patient with 202 (a DS2 record): it must not train a model tested on DS2
    assert train_val == {"mitdb:101", "mitdb:106", "mitdb:108"}
    with pytest.raises(Exception, match="DS2"):
        d.patients("test")
    named = DiagnosisDomain(data_dir=str(MITDB), records="101,106,108,109", test_records="106")
    assert {b.patient_id for b in named.patients("test")} == {"mitdb:106"}
    assert "mitdb:106" not in {b.patient_id for s in ("train", "val") for b in named.patients(s)}


def test_split_ids_name_the_training_and_validation_patients(domain: DiagnosisDomain) -> None:
    ids = domain.split_ids()
    assert ids["train"] == [b.patient_id for b in domain.patients("train")]
    assert ids["val"] == [b.patient_id for b in domain.patients("val")]
    test = {b.patient_id for b in domain.patients("test")}
    assert not test & (set(ids["train"]) | set(ids["val"]))


@pytest.mark.skipif(not (Path(__file__).resolve().parents[2] / "shared/data/mitdb-ds1").is_dir(), reason="DS1 absent")
def test_the_mitdb_fingerprint_is_the_records_used_not_the_folder_listing(tmp_path: Path) -> None:
    """A folder holding the whole database (DS1 + DS2) is the normal layout: same training data, same fingerprint."""
    import shutil

    from metasuite.domains.diagnosis.domain import DiagnosisDomain

    ds1 = Path(__file__).resolve().parents[2] / "shared/data/mitdb-ds1"
    full = tmp_path / "mitdb"
    full.mkdir()
    for f in ds1.iterdir():
        (full / f.name).symlink_to(f)
    for name in ("100", "103", "202", "228"):  # DS2 records next to them (never read for the fingerprint)
        for ext in (".hea", ".dat", ".atr"):
            (full / f"{name}{ext}").write_bytes(b"DS2 stand-in")
    kw = {"records": "DS1", "test_records": "DS2"}
    assert (
        DiagnosisDomain(data_dir=str(full), **kw).fingerprint()
        == DiagnosisDomain(data_dir=str(ds1), **kw).fingerprint()
    )
    # another record set, or a changed record file, is other data
    assert (
        DiagnosisDomain(data_dir=str(ds1), records="101,106").fingerprint()
        != DiagnosisDomain(data_dir=str(ds1), **kw).fingerprint()
    )
    (full / "101.atr").unlink()
    shutil.copy(ds1 / "101.atr", full / "101.atr")
    with (full / "101.atr").open("ab") as f:
        f.write(b"\0")
    assert (
        DiagnosisDomain(data_dir=str(full), **kw).fingerprint()
        != DiagnosisDomain(data_dir=str(ds1), **kw).fingerprint()
    )


# ---------------------------------------------------------------------------- patient-normalised features
def test_patient_features_subtract_the_normal_template_and_scale_rr_by_the_reference() -> None:
    g = torch.Generator().manual_seed(0)
    template = torch.randn(WINDOW_LENGTH, generator=g)
    rr = torch.tensor([0.8, 0.8, 0.8, 1.0, 1.0])
    normal = torch.cat([template, rr]).repeat(5, 1)
    odd = torch.cat([template + 3.0, torch.tensor([0.4, 1.2, 0.8, 0.5, 3.0])]).unsqueeze(0)  # premature, other shape
    ref_x, ref_y = torch.cat([normal, odd]), torch.tensor([0, 0, 0, 0, 0, 1])
    out = patient_features(torch.cat([normal[:1], odd]), ref_x, ref_y)
    assert out.shape == (2, 2 * WINDOW_LENGTH + 8)
    assert torch.allclose(out[:, :WINDOW_LENGTH], torch.stack([template, template + 3.0]))  # raw window kept
    assert torch.allclose(out[0, WINDOW_LENGTH : 2 * WINDOW_LENGTH], torch.zeros(WINDOW_LENGTH))  # a normal beat: 0
    assert torch.allclose(out[1, WINDOW_LENGTH : 2 * WINDOW_LENGTH], torch.full((WINDOW_LENGTH,), 3.0))
    assert torch.allclose(out[:, -3:], torch.tensor([[1.0, 1.0, 1.0], [0.5, 1.5, 1.0]]))  # RR / reference 0.8 s
    # with fewer than MIN_REFERENCE_BEATS normal support beats, every support beat is the reference
    few = patient_features(odd, torch.cat([normal[:1], odd, odd]), torch.tensor([0, 1, 1]))
    assert torch.allclose(few[0, -3:], torch.tensor([1.0, 3.0, 2.0]))  # reference 0.4 s (all beats), not 0.8 s
    with pytest.raises(DataError, match="at least one support beat"):
        patient_features(odd, ref_x[:0], ref_y[:0])


def test_patient_features_come_from_the_support_only_never_from_the_query() -> None:
    d = DiagnosisDomain(**SMALL, features="patient")
    sampler = d.sampler("test")
    task = sampler.all_tasks()[0]
    assert task.support_x.shape[1:] == (2 * WINDOW_LENGTH + 8,) == task.query_x.shape[1:]
    # corrupt every query beat of the patient: the support's features and the unchanged query beats' must not move
    x, y = sampler._tensors[0]
    n_support = task.n_support
    corrupted = x.clone()
    corrupted[n_support + 1 :] += 5.0
    other = DiagnosisSampler(sampler.patients[:1], sampler.support_minutes, 0, "test", [(corrupted, y)], "patient")
    again = other.all_tasks()[0]
    assert torch.equal(again.support_x, task.support_x) and torch.equal(again.query_x[0], task.query_x[0])
    # the raw set is the first 257 numbers' source: the window channel and the RR features are the raw beat's
    raw = DiagnosisDomain(**SMALL).sampler("test").all_tasks()[0]
    assert torch.equal(task.query_x[:, :WINDOW_LENGTH], raw.query_x[:, :WINDOW_LENGTH])
    assert torch.equal(task.query_x[:, 2 * WINDOW_LENGTH : 2 * WINDOW_LENGTH + 5], raw.query_x[:, WINDOW_LENGTH:])


def test_patient_features_reach_the_backbone_the_pooled_batches_and_the_options() -> None:
    d = DiagnosisDomain(**SMALL, features="patient")
    _, spec = d.backbone_spec("fomaml", 4)
    assert (spec["in_channels"], spec["n_extra"]) == (2, 8)
    learner = make_learner(d, "fomaml", n_way=4, seed=0, inner_steps=1, test_inner_steps=1)
    task = d.sampler("test").all_tasks()[0]
    adapted = learner.adapt(task.support_x, task.support_y, steps=1)
    assert adapted.predict(task.query_x).shape == (task.n_query, 4)
    x, y = d.pooled_batch("train", 32, generator(0))
    assert x.shape == (32, 2 * WINDOW_LENGTH + 8) and y.shape == (32,)
    with pytest.raises(DataError, match="unknown feature set"):
        DiagnosisDomain(**SMALL, features="lead2")
