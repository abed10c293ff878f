"""The app's model lifecycle (apps.logic.models): shipped checkpoint or a stand-in quick-trained once, the
cached pooled model, and nothing written outside the per-user cache."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
import torch
from streamlit.testing.v1 import AppTest

from metasuite.apps.logic import APPS_DIR, REPO_ROOT
from metasuite.apps.logic import models as lifecycle
from metasuite.apps.logic import sinusoid as sinusoid_logic
from metasuite.apps.logic.models import (
    StandIn,
    pooled_model,
    quick_train,
    shipped_or_stand_in,
    stand_in_notice,
    train_atomically,
)
from metasuite.core.errors import CheckpointError
from metasuite.core.paths import CACHE_ENV
from metasuite.core.runs import TrainRequest
from metasuite.domains.sinusoid import SinusoidDomain

#: A stand-in that trains in a fraction of a second.
TINY = StandIn("maml", "MAML", steps=2, meta_batch_size=2, val_tasks=2, threads=1)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh per-user cache (``$METASUITE_CACHE``) for this test only."""
    root = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(root))
    return root


@pytest.fixture
def train_calls(monkeypatch: pytest.MonkeyPatch) -> list[TrainRequest]:
    """Every request the lifecycle module hands to ``core.runs.train_run`` (which still runs)."""
    calls: list[TrainRequest] = []
    real = lifecycle.train_run

    def counting(request: TrainRequest, *, domain: Any = None) -> Any:
        calls.append(request)
        return real(request, domain=domain)

    monkeypatch.setattr(lifecycle, "train_run", counting)
    return calls


def _weights(learner: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in learner.state_dict().items()}


# ---------------------------------------------------------------------------- shipped or stand-in
def test_a_missing_checkpoint_quick_trains_once_then_loads_from_the_cache(
    tmp_path: Path, cache: Path, train_calls: list[TrainRequest]
) -> None:
    domain, absent = SinusoidDomain(), tmp_path / "not-shipped"
    learner, meta = shipped_or_stand_in(domain, absent, TINY)
    run = cache / "app" / "sinusoid" / TINY.cache_key(domain)
    assert len(train_calls) == 1 and (run / "best.safetensors").is_file()
    assert meta["source"] == "quick-train" and Path(meta["path"]).parent == run
    assert meta["shipped"] == str(absent) and meta["stand_in"]["steps"] == 2
    again, meta2 = shipped_or_stand_in(domain, absent, TINY)
    assert len(train_calls) == 1, "the cached stand-in was trained again"
    assert meta2["source"] == "quick-train" and meta2["path"] == meta["path"]
    for name, value in _weights(learner).items():
        torch.testing.assert_close(value, again.state_dict()[name])
    _, shipped_meta = shipped_or_stand_in(domain, run, TINY)  # once it exists, the "shipped" one is used
    assert shipped_meta["source"] == "checkpoint" and len(train_calls) == 1 and stand_in_notice(shipped_meta) is None


def test_the_stand_in_trains_through_train_run_with_every_field_it_sets(
    tmp_path: Path, cache: Path, train_calls: list[TrainRequest]
) -> None:
    domain = SinusoidDomain()
    _, meta = shipped_or_stand_in(domain, tmp_path / "absent", TINY)
    (request,) = train_calls
    assert request.domain == "sinusoid" and request.algo == "maml" and not request.progress
    config = meta["train_config"]  # the stand-in's budget, none of the domain's full-run defaults
    assert config["steps"] == 2 and config["meta_batch_size"] == 2 and config["val_tasks"] == 2
    assert config["val_every"] == config["checkpoint_every"] == 2 and config["outer_lr"] == 1e-3
    assert domain.default_train_config("maml")["val_every"] != 2
    # run metadata is core.runs.run_metadata's: data fingerprint and domain options recorded
    assert meta["data_fingerprint"] == domain.fingerprint() and "domain_options" in meta
    assert meta["setting"] == domain.default_setting()


def test_an_explicit_missing_checkpoint_raises_and_trains_nothing(
    tmp_path: Path, cache: Path, train_calls: list[TrainRequest]
) -> None:
    with pytest.raises(CheckpointError, match=r"no checkpoint 'best\.safetensors'"):
        shipped_or_stand_in(SinusoidDomain(), tmp_path / "absent", TINY, path=tmp_path)
    assert train_calls == [] and not cache.exists()


def test_the_cache_key_names_the_budget_and_the_data() -> None:
    domain = SinusoidDomain()
    key = TINY.cache_key(domain)
    assert key.startswith(f"maml-2-{domain.fingerprint()}-")
    assert key == StandIn("maml", "another label", 2, 2, val_tasks=2, note=" anything").cache_key(domain)
    for other in (replace(TINY, steps=3), replace(TINY, meta_batch_size=4), replace(TINY, seed=1)):
        assert other.cache_key(domain) != key
    regenerated = SinusoidDomain()
    regenerated.fingerprint = lambda: "0123456789abcdef"  # as after a change of the data generator
    assert TINY.cache_key(regenerated).startswith("maml-2-0123456789abcdef-")


def test_the_cache_key_changes_with_the_algorithms_code(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stand-in trained by old code (before a bug fix in the learner) must not be reused."""
    domain = SinusoidDomain()
    key = TINY.cache_key(domain)
    real = lifecycle.inspect.getsource

    def edited(obj: Any) -> str:
        text = real(obj)
        return text + "\n# fixed" if getattr(obj, "__name__", "") == "metasuite.core.algorithms.base" else text

    monkeypatch.setattr(lifecycle.inspect, "getsource", edited)
    assert TINY.cache_key(domain) != key and TINY.cache_key(domain) == TINY.cache_key(domain)


def test_the_stand_in_notice_names_the_missing_checkpoint_and_the_command(tmp_path: Path, cache: Path) -> None:
    absent = REPO_ROOT / "data" / "checkpoints" / "sinusoid" / "not-there"
    _, meta = shipped_or_stand_in(SinusoidDomain(), absent, replace(TINY, note=" on a toy budget"))
    notice = stand_in_notice(meta)
    assert notice is not None and "**stand-in** MAML" in notice and "2 steps on a toy budget" in notice
    assert "`data/checkpoints/sinusoid/not-there`" in notice  # shown relative to the repository root
    assert "`metasuite train sinusoid --algo maml --out data/checkpoints/sinusoid/not-there`" in notice


def test_torch_threads_are_restored_after_a_quick_train(tmp_path: Path) -> None:
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        quick_train(SinusoidDomain(), TINY, tmp_path / "run")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


# ---------------------------------------------------------------------------- atomic runs
def test_a_run_is_never_seen_half_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "runs" / "maml"
    seen: list[Path] = []
    real = lifecycle.train_run

    def watching(request: TrainRequest, *, domain: Any = None) -> Any:
        seen.append(request.out)
        assert request.out.parent == out.parent and request.out.name.startswith(".maml.")  # a hidden sibling
        assert not out.exists(), "the final run folder exists while training"
        return real(request, domain=domain)

    monkeypatch.setattr(lifecycle, "train_run", watching)
    domain = SinusoidDomain()
    assert train_atomically(TINY.request(domain, out), domain) == out
    assert (out / "best.safetensors").is_file() and len(seen) == 1
    assert sorted(p.name for p in out.parent.iterdir()) == ["maml"]  # the temporary folder is gone


def test_a_failed_run_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def crashing(request: TrainRequest, *, domain: Any = None) -> Any:
        (request.out / "last.safetensors").write_bytes(b"half")
        raise RuntimeError("killed mid-run")

    monkeypatch.setattr(lifecycle, "train_run", crashing)
    out = tmp_path / "runs" / "maml"
    with pytest.raises(RuntimeError, match="killed mid-run"):
        quick_train(SinusoidDomain(), TINY, out)
    assert list(out.parent.iterdir()) == []


def test_when_another_process_finishes_first_its_run_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    finished = quick_train(SinusoidDomain(), TINY, tmp_path / "theirs")
    (finished / "THEIRS").write_text("kept")
    out = tmp_path / "runs" / "maml"
    real = lifecycle.train_run

    def racing(request: TrainRequest, *, domain: Any = None) -> Any:
        result = real(request, domain=domain)
        shutil.copytree(finished, out)  # the other process renames its run into place first
        return result

    monkeypatch.setattr(lifecycle, "train_run", racing)
    assert quick_train(SinusoidDomain(), TINY, out) == out
    assert (out / "THEIRS").read_text() == "kept"
    assert sorted(p.name for p in out.parent.iterdir()) == ["maml"]


# ---------------------------------------------------------------------------- the pooled model
def test_the_pooled_model_pre_trains_once_and_reloads_identically(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    real = lifecycle.pretrain
    monkeypatch.setattr(lifecycle, "pretrain", lambda domain, config: calls.append(config) or real(domain, config))
    domain = SinusoidDomain()
    first = pooled_model(domain, steps=2, batch_size=4)
    second = pooled_model(domain, steps=2, batch_size=4)
    assert len(calls) == 1 and calls[0].pretrain_steps == 2 and calls[0].pretrain_batch_size == 4
    (file,) = (cache / "app" / "sinusoid").glob("*.safetensors")
    assert file.name.startswith(f"pretrain-2-b4-s0-{domain.fingerprint()}-")
    assert not first.training and not second.training
    x = torch.linspace(-5, 5, 7).unsqueeze(1)
    with torch.no_grad():
        torch.testing.assert_close(first(x), second(x))
    pooled_model(domain, steps=3, batch_size=4)  # another budget: another model
    assert len(calls) == 2 and len(list((cache / "app" / "sinusoid").glob("*.safetensors"))) == 2


# ---------------------------------------------------------------------------- nothing in the source tree
def _listing(folder: Path) -> list[tuple[str, int]]:
    return sorted((str(p.relative_to(folder)), p.stat().st_mtime_ns) for p in folder.rglob("*"))


def test_nothing_is_written_under_the_repository(tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = REPO_ROOT / "data"
    before = _listing(data)
    monkeypatch.setattr(sinusoid_logic, "DEFAULT_CHECKPOINT", tmp_path / "not-shipped")
    monkeypatch.setattr(sinusoid_logic, "STAND_IN", TINY)
    _, meta = sinusoid_logic.load_sinusoid_model()
    pooled_model(SinusoidDomain(), steps=2, batch_size=4)
    assert meta["source"] == "quick-train" and Path(meta["path"]).is_relative_to(cache)
    assert _listing(data) == before
    assert {p.name for p in (cache / "app" / "sinusoid").iterdir()} >= {TINY.cache_key(SinusoidDomain())}


def test_the_page_warns_about_a_stand_in(tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sinusoid_logic, "DEFAULT_CHECKPOINT", tmp_path / "not-shipped")
    monkeypatch.setattr(sinusoid_logic, "STAND_IN", TINY)
    st.cache_resource.clear()  # the page's cached model of an earlier test
    try:
        at = AppTest.from_file(str(APPS_DIR / "pages" / "1_Sinusoid.py"), default_timeout=120).run()
        assert not at.exception
        (warning,) = at.warning
        assert "No shipped checkpoint at" in warning.value and "**stand-in** MAML" in warning.value
        assert at.table  # the model card of the stand-in
    finally:
        st.cache_resource.clear()
