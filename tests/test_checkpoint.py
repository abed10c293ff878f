"""Checkpoints: round trip, never unpickling, clear errors on damaged or mismatched files, atomic writes."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest
import torch
from conftest import TinyClassificationDomain

from metasuite.core.checkpoint import (
    FORMAT,
    atomic_write_text,
    load_checkpoint,
    load_into,
    resolve_checkpoint,
    save_checkpoint,
)
from metasuite.core.errors import CheckpointError
from metasuite.core.learners import MODEL_PREFIX, learner_meta, load_learner, make_learner
from metasuite.domains.sinusoid import SinusoidDomain


def _tensors() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        "model.w": torch.randn(3, 4, generator=g),
        "model.b": torch.arange(5, dtype=torch.int64),
        "optim.0.step": torch.tensor(7.0),
        "half": torch.randn(2, dtype=torch.float64, generator=g),
    }


def _save_learner(path: Path, domain_name: str = "sinusoid") -> Path:
    learner = make_learner(SinusoidDomain(), "maml", n_way=None, seed=3)
    model = {MODEL_PREFIX + k: v for k, v in learner.state_dict().items()}
    return save_checkpoint(path, model, {**learner_meta(learner), "domain": domain_name})


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_round_trip_preserves_tensors_meta_and_format(tmp_path: Path) -> None:
    tensors = _tensors()
    meta = {"algorithm": "maml", "hparams": {"inner_lr": 0.01, "first_order": False}, "note": "ünïcode", "n": None}
    target = save_checkpoint(tmp_path / "run" / "best", tensors, meta)
    assert target == tmp_path / "run" / "best.safetensors"
    loaded, got = load_checkpoint(target)
    assert loaded.keys() == tensors.keys()
    for k, v in tensors.items():
        assert loaded[k].dtype == v.dtype and torch.equal(loaded[k], v), k
    assert got["format"] == FORMAT
    assert {k: got[k] for k in meta} == meta
    assert "metasuite_version" in got and got["path"] == str(target)
    # the JSON side file holds the same description for people and tools
    side = json.loads((tmp_path / "run" / "best.json").read_text())
    assert side == {k: v for k, v in got.items() if k != "path"}
    # a run folder, a stem and either suffix all resolve to the same file
    for p in (tmp_path / "run", tmp_path / "run" / "best", tmp_path / "run" / "best.json"):
        assert resolve_checkpoint(p) == target
        assert load_checkpoint(p)[1]["path"] == str(target)


def test_learner_round_trip_gives_identical_predictions(tmp_path: Path) -> None:
    domain = SinusoidDomain()
    learner = make_learner(domain, "metasgd", n_way=None, seed=5, learn_init=False)  # a non-default hparam too
    model = {MODEL_PREFIX + k: v for k, v in learner.state_dict().items()}
    save_checkpoint(tmp_path / "best", model, {**learner_meta(learner), "domain": domain.name})
    loaded, meta = load_learner(tmp_path, domain)
    assert meta["algorithm"] == "metasgd" and loaded.hparams() == learner.hparams()
    task = domain.sampler("test", k_shot=5, n_query=7).sample(torch.Generator().manual_seed(0))
    a = learner.adapt(task.support_x, task.support_y).predict(task.query_x)
    b = loaded.adapt(task.support_x, task.support_y).predict(task.query_x)
    assert torch.equal(a, b)


class _Boom:
    """Unpickling this creates a marker file: proof that code ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_load_never_unpickles(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.safetensors"
    evil.write_bytes(pickle.dumps(_Boom(marker)))
    pickle.loads(evil.read_bytes())  # sanity: the payload really runs when unpickled ...
    assert marker.exists()
    marker.unlink()
    with pytest.raises(CheckpointError, match="truncated or corrupted"):
        load_checkpoint(evil)  # ... but loading the checkpoint does not run it
    assert not marker.exists()
    # torch.save output (a zip of pickles) renamed .safetensors is refused as well
    torch.save({"w": torch.ones(2), "boom": _Boom(marker)}, tmp_path / "torch.safetensors")
    marker.unlink(missing_ok=True)
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "torch.safetensors")
    assert not marker.exists()


def test_truncated_file_gives_checkpoint_error_naming_the_file(tmp_path: Path) -> None:
    target = save_checkpoint(tmp_path / "last", _tensors(), {"algorithm": "maml"})
    data = target.read_bytes()
    for cut in (4, len(data) // 2, len(data) - 3):
        target.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match="truncated or corrupted") as info:
            load_checkpoint(target)
        assert str(target) in str(info.value)


def test_safetensors_without_metasuite_metadata_is_refused(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.ones(2)}, str(foreign), metadata={"producer": "someone else"})
    with pytest.raises(CheckpointError, match="not a metasuite checkpoint") as info:
        load_checkpoint(foreign)
    assert str(foreign) in str(info.value)
    save_file({"w": torch.ones(2)}, str(foreign))  # no metadata at all
    with pytest.raises(CheckpointError, match="not a metasuite checkpoint"):
        load_checkpoint(foreign)
    save_file({"w": torch.ones(2)}, str(foreign), metadata={"metasuite": json.dumps({"format": "other/9"})})
    with pytest.raises(CheckpointError, match="has format 'other/9'"):
        load_checkpoint(foreign)
    save_file({"w": torch.ones(2)}, str(foreign), metadata={"metasuite": "{not json"})
    with pytest.raises(CheckpointError, match="unreadable metadata"):
        load_checkpoint(foreign)


def test_load_into_wrong_shape_names_the_tensor_and_both_shapes(tmp_path: Path) -> None:
    module = torch.nn.Linear(4, 3)
    tensors = {"model.weight": torch.zeros(5, 4), "model.bias": torch.zeros(3)}
    before = {k: v.detach().clone() for k, v in module.state_dict().items()}
    with pytest.raises(CheckpointError) as info:
        load_into(module, tensors, tmp_path / "x.safetensors", prefix="model.")
    msg = str(info.value)
    assert "'weight' is (5, 4) in the checkpoint but (3, 4) in the model" in msg
    assert str(tmp_path / "x.safetensors") in msg
    assert all(torch.equal(v, before[k]) for k, v in module.state_dict().items())  # nothing half-loaded


def test_load_into_reports_missing_and_unexpected_tensors() -> None:
    module = torch.nn.Linear(4, 3)
    with pytest.raises(CheckpointError, match=r"missing tensors \['bias'\]; unexpected tensors \['extra'\]"):
        load_into(module, {"weight": torch.zeros(3, 4), "extra": torch.zeros(1)}, "src")
    good = {"weight": torch.ones(3, 4), "bias": torch.full((3,), 2.0)}
    load_into(module, good, "src")
    assert torch.equal(module.weight, good["weight"]) and torch.equal(module.bias, good["bias"])


def test_missing_file_or_folder_gives_checkpoint_error(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.safetensors")
    with pytest.raises(CheckpointError, match=r"no checkpoint at .*no-such-folder: neither a run folder nor"):
        load_checkpoint(tmp_path / "no-such-folder")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match=r"no checkpoint 'best.safetensors' in folder .*found: nothing"):
        load_checkpoint(tmp_path / "empty")


def test_load_learner_from_another_domain_names_both_domains(tmp_path: Path) -> None:
    _save_learner(tmp_path / "best", domain_name="sinusoid")
    with pytest.raises(CheckpointError, match="trained on domain 'sinusoid', not 'tiny-gauss'"):
        load_learner(tmp_path, TinyClassificationDomain())
    load_learner(tmp_path, SinusoidDomain())  # the right domain loads


def test_load_learner_needs_a_learner_description(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "best", _tensors(), {"domain": "sinusoid"})
    with pytest.raises(CheckpointError, match="has no 'algorithm' entry"):
        load_learner(tmp_path)


def test_load_learner_with_mismatched_weights_is_refused(tmp_path: Path) -> None:
    target = _save_learner(tmp_path / "best")
    tensors, meta = load_checkpoint(target)
    meta.pop("path")
    meta["backbone"]["kwargs"]["hidden"] = [8, 8]  # description no longer matches the weights
    save_checkpoint(target, tensors, meta)
    with pytest.raises(CheckpointError, match=r"'backbone.body.0.weight' is \(40, 1\) in the checkpoint but \(8, 1\)"):
        load_learner(target)


def test_save_leaves_no_temporary_files(tmp_path: Path) -> None:
    for _ in range(3):
        save_checkpoint(tmp_path / "last", _tensors(), {"x": 1})
        atomic_write_text(tmp_path / "metrics.jsonl", "{}\n")
    assert _files(tmp_path) == ["last.json", "last.safetensors", "metrics.jsonl"]


def test_failed_save_keeps_the_previous_checkpoint_and_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = save_checkpoint(tmp_path / "last", _tensors(), {"version": 1})
    real_replace = os.replace

    def crash(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(tmp_path / "last", {"other": torch.zeros(1)}, {"version": 2})
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(tmp_path / "last.json", "garbage")
    monkeypatch.setattr(os, "replace", real_replace)
    assert _files(tmp_path) == ["last.json", "last.safetensors"]
    tensors, meta = load_checkpoint(target)
    assert meta["version"] == 1 and "other" not in tensors
    assert json.loads((tmp_path / "last.json").read_text())["version"] == 1


def test_saved_checkpoints_are_readable_by_everyone(tmp_path) -> None:
    # checkpoints are shipped and shared: 0644, not the 0600 of temporary files
    import stat

    import torch

    from metasuite.core.checkpoint import save_checkpoint

    path = save_checkpoint(tmp_path / "best", {"w": torch.zeros(2)}, {"algorithm": "x"})
    for f in (path, path.with_suffix(".json")):
        assert stat.S_IMODE(f.stat().st_mode) == 0o644, f


def _flip_exponent_byte(path: Path, tensor: str) -> None:
    """Change the high byte (sign + exponent) of the first float32 of ``tensor`` inside the file, in place."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        value = f.get_tensor(tensor).reshape(-1)[0]
    data = bytearray(path.read_bytes())
    needle = value.numpy().tobytes()
    at = data.index(needle, 8 + int.from_bytes(data[:8], "little"))  # after the JSON header
    data[at + 3] ^= 0x40  # sign/exponent byte of a little-endian float32: the value becomes finite but wrong
    path.write_bytes(bytes(data))


def test_a_changed_weight_byte_is_refused_before_any_evaluation(tmp_path: Path, capsys) -> None:
    from metasuite.apps.cli import main

    target = _save_learner(tmp_path / "run" / "best")
    _flip_exponent_byte(target, "model.backbone.body.0.weight")
    tensors = load_file_unchecked(target)
    assert bool(torch.isfinite(tensors["model.backbone.body.0.weight"]).all())  # finite: only the digest can tell
    with pytest.raises(CheckpointError, match="corrupted: its tensors do not match the digest"):
        load_checkpoint(target)
    assert main(["eval", "sinusoid", "--checkpoint", str(tmp_path / "run"), "--tasks", "2", "--quiet"]) == 2
    assert "do not match the digest" in capsys.readouterr().err


def load_file_unchecked(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path))


def test_non_finite_weights_are_refused_even_in_old_checkpoints(tmp_path: Path) -> None:
    """Format 1 had no digest: a NaN weight must still not reach an evaluation."""
    from safetensors.torch import save_file

    tensors = _tensors()
    tensors["model.w"][1, 2] = float("nan")
    meta = json.dumps({"format": "metasuite-checkpoint/1", "algorithm": "maml"})
    save_file(tensors, str(tmp_path / "old.safetensors"), metadata={"metasuite": meta})
    with pytest.raises(CheckpointError, match=r"non-finite values \(NaN or infinity\) in \['model.w'\]"):
        load_checkpoint(tmp_path / "old.safetensors")
    tensors["model.w"][1, 2] = 0.0
    save_file(tensors, str(tmp_path / "old.safetensors"), metadata={"metasuite": meta})
    assert load_checkpoint(tmp_path / "old.safetensors")[1]["format"] == "metasuite-checkpoint/1"


def test_json_written_is_strict_even_with_nan_values(tmp_path: Path) -> None:
    """NaN / inf become null: a strict reader (no NaN constants) parses every file."""
    from metasuite.core.jsonio import write_json

    def strict_load(text: str):  # type: ignore[no-untyped-def]
        return json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))

    save_checkpoint(tmp_path / "ck", _tensors(), {"metrics": {"val_metric": float("nan")}, "x": float("inf")})
    side = strict_load((tmp_path / "ck.json").read_text())
    assert side["metrics"]["val_metric"] is None and side["x"] is None
    out = write_json(tmp_path / "r.json", {"per_task": [0.5, float("nan")], "m": torch.tensor(float("inf"))})
    assert strict_load(out.read_text()) == {"per_task": [0.5, None], "m": None}
