"""``metasuite tune``: a seeded search scored on validation tasks only, recorded in the best checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_eval_trust import NoisyGauss

from metasuite.apps.cli import main
from metasuite.core import registry


@pytest.fixture
def noisy(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(registry, "get_domain_class", lambda name: NoisyGauss)
    return "tiny-gauss"


def test_tuning_uses_validation_tasks_only_and_records_the_search(noisy: str, tmp_path: Path, monkeypatch) -> None:
    splits: set[str] = set()
    real = NoisyGauss.sampler

    def spy(self, split, **kw):  # type: ignore[no-untyped-def]
        splits.add(split)
        return real(self, split, **kw)

    monkeypatch.setattr(NoisyGauss, "sampler", spy)
    argv = ["tune", noisy, "--algo", "metaoptnet", "--trials", "3", "--steps", "4"]
    assert main([*argv, "--out", str(tmp_path / "search"), "--quiet"]) == 0
    assert splits == {"train", "val"}  # never a test task
    record = json.loads((tmp_path / "search" / "tune.json").read_text())
    assert len(record["trials"]) == 3 and {"l2", "scale", "inner_steps"} <= set(record["trials"][0]["hparams"])
    best = max(record["trials"], key=lambda t: t["val_metric"])
    assert record["best"]["trial"] == best["trial"]
    card = json.loads((tmp_path / "search" / "best-run" / "best.json").read_text())
    assert card["tuning"]["best"]["hparams"] == best["hparams"] and card["hparams"]["l2"] == best["hparams"]["l2"]
    # seeded: the same search proposes the same trials
    assert main([*argv, "--out", str(tmp_path / "again"), "--quiet"]) == 0
    again = json.loads((tmp_path / "again" / "tune.json").read_text())
    assert [t["hparams"] for t in again["trials"]] == [t["hparams"] for t in record["trials"]]
    # an existing search folder is not overwritten
    assert main([*argv, "--out", str(tmp_path / "search"), "--quiet"]) == 2
