"""The pre-trained baselines' cache: a hit is the very network a fresh run computes, and anything that could change
that network changes the key."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from PIL import Image

from metasuite.core import pretrain_cache
from metasuite.core.baselines import BaselineConfig, pretrain
from metasuite.core.evaluation import seeded_baselines
from metasuite.domains.driving import DrivingDomain
from metasuite.domains.sinusoid import SinusoidDomain


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("METASUITE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(pretrain_cache.CACHE_SWITCH, raising=False)
    return tmp_path / "cache" / "pretrained"


def _counting(monkeypatch: pytest.MonkeyPatch, domain: SinusoidDomain) -> list[int]:
    calls: list[int] = []
    real = domain.pooled_batch
    monkeypatch.setattr(domain, "pooled_batch", lambda *a, **k: calls.append(1) or real(*a, **k))
    return calls


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_a_hit_is_the_network_a_fresh_run_computes_and_draws_no_batch(own_cache: Path, monkeypatch) -> None:
    domain = SinusoidDomain()
    cfg = BaselineConfig(seed=3, pretrain_steps=6, pretrain_batch_size=16)
    calls = _counting(monkeypatch, domain)
    first = pretrain(domain, cfg, cache=True)
    assert len(calls) == 6 and len(list(own_cache.glob("*.safetensors"))) == 1
    again = pretrain(domain, cfg, cache=True)
    assert len(calls) == 6  # nothing trained
    fresh = pretrain(domain, cfg)  # no cache: trains
    assert len(calls) == 12
    assert _same(first, again) and _same(first, fresh)
    assert again.backbone_spec == fresh.backbone_spec
    other = pretrain(domain, replace(cfg, seed=4), cache=True)  # another seed: trained and stored beside
    assert len(calls) == 18 and not _same(first, other) and len(list(own_cache.glob("*.safetensors"))) == 2


def test_a_corrupted_entry_is_trained_again_and_replaced(own_cache: Path, monkeypatch) -> None:
    domain = SinusoidDomain()
    cfg = BaselineConfig(seed=0, pretrain_steps=4, pretrain_batch_size=8)
    first = pretrain(domain, cfg, cache=True)
    (entry,) = own_cache.glob("*.safetensors")
    entry.write_bytes(entry.read_bytes()[:-40])  # truncated
    calls = _counting(monkeypatch, domain)
    again = pretrain(domain, cfg, cache=True)
    assert len(calls) == 4 and _same(first, again)
    hit = pretrain(domain, cfg, cache=True)
    assert len(calls) == 4 and _same(first, hit)  # the rewritten entry serves again


def test_a_cache_that_cannot_be_written_costs_the_evaluation_nothing(tmp_path: Path, monkeypatch, capsys) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("METASUITE_CACHE", str(blocker))
    cfg = BaselineConfig(pretrain_steps=3, pretrain_batch_size=4)
    model = pretrain(SinusoidDomain(), cfg, cache=True)
    assert _same(model, pretrain(SinusoidDomain(), cfg))
    assert "pre-training cache not written" in capsys.readouterr().err


def test_a_domain_without_a_source_file_is_pretrained_every_time(own_cache: Path, monkeypatch) -> None:
    def no_file(obj):  # what inspect says of a class defined in a notebook
        raise TypeError(f"{obj!r} is a built-in class")

    monkeypatch.setattr(pretrain_cache.inspect, "getfile", no_file)
    domain = SinusoidDomain()
    assert pretrain_cache.pretrain_key(domain, BaselineConfig(), ("mlp", {})) is None
    calls = _counting(monkeypatch, domain)
    for _ in range(2):
        pretrain(domain, BaselineConfig(pretrain_steps=2, pretrain_batch_size=4), cache=True)
    assert len(calls) == 4 and not own_cache.exists()


def test_switched_off_nothing_is_written(own_cache: Path, monkeypatch) -> None:
    monkeypatch.setenv(pretrain_cache.CACHE_SWITCH, "0")
    pretrain(SinusoidDomain(), BaselineConfig(pretrain_steps=2, pretrain_batch_size=4), cache=True)
    assert not own_cache.exists()


def test_the_key_follows_config_options_data_files_and_code(tmp_path: Path, monkeypatch) -> None:
    photos = tmp_path / "photos"
    for cls in ("a", "b", "c"):
        (photos / cls).mkdir(parents=True)
        for i in range(4):
            Image.new("RGB", (20, 20), (60 * i, 10, 200)).save(photos / cls / f"{i}.jpg")
    domain = DrivingDomain(data_dir=str(photos), image_size=16)
    cfg = BaselineConfig()
    spec = ("conv4", {"out_features": 3})
    key = pretrain_cache.pretrain_key(domain, cfg, spec)
    assert pretrain_cache.pretrain_key(domain, cfg, spec) == key  # stable
    assert pretrain_cache.pretrain_key(domain, replace(cfg, seed=1), spec) != key
    assert pretrain_cache.pretrain_key(domain, replace(cfg, pretrain_steps=7), spec) != key
    assert pretrain_cache.pretrain_key(domain, replace(cfg, finetune_steps=7), spec) == key  # not read by pretrain
    assert pretrain_cache.pretrain_key(domain, cfg, ("conv4", {"out_features": 4})) != key
    assert pretrain_cache.pretrain_key(DrivingDomain(data_dir=str(photos), image_size=24), cfg, spec) != key
    photo = photos / "a" / "0.jpg"
    Image.new("RGB", (20, 20), (1, 2, 3)).save(photo)  # another photo, same name: the fingerprint cannot see it
    assert DrivingDomain(data_dir=str(photos), image_size=16).fingerprint() == domain.fingerprint()
    changed = pretrain_cache.pretrain_key(domain, cfg, spec)
    assert changed != key
    os.utime(photo, ns=(1, 1))  # touched only
    assert pretrain_cache.pretrain_key(domain, cfg, spec) != changed
    before = pretrain_cache.pretrain_key(domain, cfg, spec)
    monkeypatch.setattr(pretrain_cache, "_code_digest", lambda folder: "edited " + folder)
    assert pretrain_cache.pretrain_key(domain, cfg, spec) != before
    monkeypatch.undo()
    torch_threads = torch.get_num_threads()
    try:
        torch.set_num_threads(torch_threads + 1)
        assert pretrain_cache.pretrain_key(domain, cfg, spec) != before  # other threads, other sums
    finally:
        torch.set_num_threads(torch_threads)


def test_eval_pretrains_once_for_repeated_evaluations_and_says_so(own_cache: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(SinusoidDomain, "default_baselines", lambda self: {"pretrain_steps": 5, "scratch_steps": 2})
    domain = SinusoidDomain()
    first, _ = seeded_baselines(domain, None, [0, 1], progress=True)
    calls = _counting(monkeypatch, domain)
    second, _ = seeded_baselines(domain, None, [0, 1], progress=True)
    assert calls == []  # both seeds from the cache
    assert "from the cache" in capsys.readouterr().err
    for a, b in zip(first, second, strict=True):
        ft_a = next(m for m in a if m.name.startswith("pretrain+finetune"))
        ft_b = next(m for m in b if m.name.startswith("pretrain+finetune"))
        assert _same(ft_a.pretrained, ft_b.pretrained)
