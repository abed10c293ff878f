"""``leads=2``: MLII and the MIT-BIH record's other lead as two input channels of the diagnosis CNN.

Real-record tests read ``../shared/data/mitdb-ds1`` and are skipped only when that folder is absent.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import wfdb
from test_diagnosis_mitdb import _write

from metasuite.apps.cli import main
from metasuite.core.backbones import CNN1d
from metasuite.core.errors import DataError
from metasuite.domains.diagnosis.beats import WINDOW, WINDOW_LENGTH
from metasuite.domains.diagnosis.domain import DiagnosisDomain
from metasuite.domains.diagnosis.mitdb import bandpass

MITDB = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "mitdb-ds1"
needs_real = pytest.mark.skipif(not MITDB.is_dir(), reason=f"real MIT-BIH DS1 records not found at {MITDB}")
# three patients, one per leave-patients-out fold; 114 has its MLII second and V5 first
REAL = {"data_dir": str(MITDB), "records": "101,106,114", "n_folds": 3}
L = WINDOW_LENGTH

pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword:DeprecationWarning")


@pytest.fixture(scope="module")
def one_lead() -> DiagnosisDomain:
    return DiagnosisDomain(**REAL)


@pytest.fixture(scope="module")
def two_leads() -> DiagnosisDomain:
    return DiagnosisDomain(**REAL, leads=2)


def _second_lead_windows(record: str, r_index: np.ndarray) -> np.ndarray:
    """The record's non-MLII lead, band-passed and windowed around ``r_index``, written out from wfdb directly."""
    names = wfdb.rdheader(str(MITDB / record)).sig_name
    raw = wfdb.rdrecord(str(MITDB / record), channels=[1 - names.index("MLII")]).p_signal[:, 0]
    lead = bandpass(raw, 360, where=record).astype(np.float32)
    windows = lead[r_index[:, None] + np.arange(*WINDOW)]
    return windows - np.median(windows, axis=1, keepdims=True)


@needs_real
@pytest.mark.parametrize("split", ["train", "val", "test"])  # one patient each: 114 among them
def test_the_second_channel_is_the_other_lead_at_the_same_r_peaks(
    one_lead: DiagnosisDomain, two_leads: DiagnosisDomain, split: str
) -> None:
    (x1, y1), (x2, y2) = one_lead.patient_tensors(split)[0], two_leads.patient_tensors(split)[0]
    beats = two_leads.patients(split)[0]
    assert x1.shape[1] == L + 5 and x2.shape == (len(x1), 2 * L + 5)
    assert torch.equal(y1, y2) and torch.equal(x2[:, :L], x1[:, :L]) and torch.equal(x2[:, 2 * L :], x1[:, L:])
    expected = _second_lead_windows(beats.patient_id.removeprefix("mitdb:"), beats.r_index)
    np.testing.assert_allclose(x2[:, L : 2 * L].numpy(), expected, atol=1e-5)
    assert not torch.allclose(x2[:, L : 2 * L], x2[:, :L], atol=0.05)  # not MLII twice


@needs_real
def test_patient_features_give_each_lead_its_own_template(two_leads: DiagnosisDomain) -> None:
    patient = DiagnosisDomain(**REAL, leads=2, features="patient")
    raw, task = two_leads.sampler("test").all_tasks()[0], patient.sampler("test").all_tasks()[0]
    assert task.query_x.shape[1] == 4 * L + 8
    normal = raw.support_x[raw.support_y == 0]
    assert len(normal) >= 3  # the reference is the support's normal beats
    for lead in range(2):
        window = raw.query_x[:, lead * L : (lead + 1) * L]
        template = normal[:, lead * L : (lead + 1) * L].median(dim=0).values
        assert torch.equal(task.query_x[:, lead * L : (lead + 1) * L], window)
        torch.testing.assert_close(task.query_x[:, (2 + lead) * L : (3 + lead) * L], window - template)
    torch.testing.assert_close(task.query_x[:, 4 * L : 4 * L + 5], raw.query_x[:, 2 * L :])


@needs_real
def test_the_cnn_reads_two_or_four_channels(two_leads: DiagnosisDomain) -> None:
    patient = DiagnosisDomain(**REAL, leads=2, features="patient")
    for domain, channels, width in ((two_leads, 2, 2 * L + 5), (patient, 4, 4 * L + 8)):
        name, spec = domain.backbone_spec("maml", 4)
        assert name == "cnn1d" and spec["in_channels"] == channels
        x = domain.sampler("val").all_tasks()[0].support_x
        assert x.shape[1] == width and CNN1d(**spec)(x[:8]).shape == (8, 4)
        x, y = domain.pooled_batch("train", 16, torch.Generator().manual_seed(0))
        assert x.shape == (16, width) and len(y) == 16


@needs_real
def test_leads_1_is_the_default_unrecorded_and_leads_2_is_recorded_and_fingerprinted(
    one_lead: DiagnosisDomain, two_leads: DiagnosisDomain
) -> None:
    explicit = DiagnosisDomain(**REAL, leads=1)
    assert "leads" not in one_lead.options and explicit.options == one_lead.options
    assert explicit.fingerprint() == one_lead.fingerprint()
    for (xa, ya), (xb, yb) in zip(explicit.patient_tensors("test"), one_lead.patient_tensors("test"), strict=True):
        assert xa.numpy().tobytes() == xb.numpy().tobytes() and torch.equal(ya, yb)
    assert two_leads.options["leads"] == 2 and two_leads.fingerprint() != one_lead.fingerprint()
    assert "second_lead" in two_leads.records_of("test")[0].meta


def test_leads_2_on_the_synthetic_cohort_and_other_lead_counts_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"synthetic cohort has one lead; pass --data-dir .* or use leads=1"):
        DiagnosisDomain(leads=2)
    with pytest.raises(DataError, match=r"leads must be 1 \(MLII\) or 2"):
        DiagnosisDomain(data_dir=str(tmp_path), leads=3)


def test_a_record_without_a_second_lead_is_refused_naming_it(tmp_path: Path) -> None:
    for name in ("100", "101", "103"):
        _write(tmp_path, name, [500, 900], leads=("MLII", "V1") if name != "101" else ("MLII",))
    domain = DiagnosisDomain(data_dir=str(tmp_path), records="100,101,103", n_folds=3, leads=2)
    with pytest.raises(DataError, match=r"record '101': .*no lead besides MLII \(leads found: \['MLII'\]\)"):
        domain.records_of("train")


@needs_real
def test_train_and_eval_with_two_leads_through_the_cli(tmp_path: Path) -> None:
    opts = ["--data-dir", str(MITDB), "--option", "records=101,106,114", "--option", "n_folds=3"]
    opts += ["--option", "leads=2", "--option", "features=patient", "--threads", "1"]
    run = tmp_path / "run"
    argv = ["train", "diagnosis", *opts, "--algo", "metasgd", "--steps", "2", "--val-every", "2", "--val-tasks", "1"]
    assert main([*argv, "--meta-batch-size", "1", "--queries", "16", "--out", str(run), "--quiet"]) == 0
    meta = json.loads((run / "best.json").read_text())
    assert meta["domain_options"]["leads"] == 2 and meta["backbone"]["kwargs"]["in_channels"] == 4
    out = tmp_path / "eval.json"
    argv = ["eval", "diagnosis", "--checkpoint", str(run), "--split", "val", "--threads", "1"]
    assert main([*argv, "--json", str(out), "--quiet"]) == 0  # the options come from the checkpoint
    report = json.loads(out.read_text())
    assert {r["method"] for r in report["results"]} == {"metasgd"}
