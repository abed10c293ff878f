"""The few-shot image domain (Omniglot layout) and ``metasuite bench fewshot`` on a generated fixture."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from metasuite.apps.cli import main
from metasuite.core.errors import DataError
from metasuite.domains.fewshot import FewShotDomain


def omniglot_fixture(root: Path, background: int = 30, evaluation: int = 20, per_class: int = 20) -> Path:
    """``images_background/<alphabet>/<character>/*.png`` and ``images_evaluation/...``: black strokes on white."""
    from PIL import Image, ImageDraw

    g = torch.Generator().manual_seed(0)
    for part, n in (("images_background", background), ("images_evaluation", evaluation)):
        for c in range(n):
            folder = root / part / f"alphabet{c % 2}" / f"character{c:02d}"
            folder.mkdir(parents=True)
            points = (torch.rand(4, 2, generator=g) * 20 + 4).tolist()
            for i in range(per_class):
                img = Image.new("L", (28, 28), 255)
                jitter = (torch.rand(4, 2, generator=g) * 2 - 1).tolist()
                line = [(x + dx, y + dy) for (x, y), (dx, dy) in zip(points, jitter, strict=True)]
                ImageDraw.Draw(img).line(line, fill=0, width=2)
                img.save(folder / f"{i:02d}.png")
    return root


def test_background_classes_train_evaluation_classes_test_and_tasks_are_seeded(tmp_path: Path) -> None:
    domain = FewShotDomain(data_dir=omniglot_fixture(tmp_path / "omniglot"))
    classes = domain.classes()
    train, val, test = (set(classes[s]) for s in ("train", "val", "test"))
    assert train and val and test and not (train & val or train & test or val & test)
    assert all(name.startswith("evaluation/alphabet") for name in test) and len(train) + len(val) == 30
    sampler = domain.sampler("test", n_way=20, k_shot=1, n_query=5)
    a, b = (sampler.sample(torch.Generator().manual_seed(3)) for _ in range(2))
    assert torch.equal(a.support_x, b.support_x) and a.support_x.shape == (20, 1, 28, 28)
    assert float(a.support_x.min()) >= 0.0 and float(a.support_x.max()) <= 1.0
    assert [(p["n_way"], p["k_shot"]) for p in domain.eval_plan(domain.default_setting(), None, False)] == [
        (5, 1),
        (5, 5),
        (20, 1),
    ]


def test_bad_folders_are_refused_with_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        FewShotDomain(data_dir=tmp_path / "none").classes()
    (tmp_path / "half" / "images_background" / "a" / "b").mkdir(parents=True)
    with pytest.raises(DataError, match="needs both images_background/ and images_evaluation/"):
        FewShotDomain(data_dir=tmp_path / "half").classes()
    with pytest.raises(DataError, match="fewer than n_way=20"):
        FewShotDomain(data_dir=omniglot_fixture(tmp_path / "small", evaluation=6)).sampler("test", n_way=20, k_shot=1)


@pytest.mark.slow
def test_bench_fewshot_trains_the_learners_and_reports_the_papers_table(tmp_path: Path) -> None:
    data = omniglot_fixture(tmp_path / "omniglot")
    out = tmp_path / "fewshot.json"
    argv = ["bench", "fewshot", "--quick", "--data-dir", str(data), "--option", "steps=3", "--option", "n_tasks=4"]
    argv += ["--option", "hidden=8", "--json", str(out)]
    assert main(argv) == 0
    report = json.loads(out.read_text())
    assert set(report["results"]) == {"protonet", "metabaseline", "r2d2", "metaoptnet"}
    for result in report["results"].values():
        assert set(result["accuracy"]) == {"5w1s", "5w5s", "20w1s"}
        for acc in result["accuracy"].values():
            assert 0.0 <= acc["mean"] <= 1.0 and acc["ci95"] is not None
    assert report["ratios"]["protonet_5w1s_vs_protonet"] == 1.0
