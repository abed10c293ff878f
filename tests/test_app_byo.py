"""Bring your own frames on the Driving page (issue 17 row 3): the upload becomes a plain folder, the shipped model is
fine-tuned on its training frames in a background job with progress, both models are scored on held-out frames."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from metasuite.apps.logic import APPS_DIR
from metasuite.apps.logic.byo import (
    EVAL_TASKS,
    MIN_PER_CLASS,
    FineTuneJob,
    FineTuneJobs,
    _score_on_upload,
    compare_on_upload,
    fine_tune_folder,
    fine_tune_request,
    frames_digest,
    held_out_room,
    kept_step,
    sample_grid,
    write_upload_folder,
)
from metasuite.apps.logic.driving import DEFAULT_CHECKPOINT, ENSEMBLE_CHECKPOINTS
from metasuite.core.errors import DataError
from metasuite.domains.driving.data import load_image_folder

DRIVING = str(APPS_DIR / "pages" / "2_Driving.py")
COLOURS = {"dirt": (150, 100, 50), "forest": (30, 120, 40), "gravel": (140, 140, 130), "snowy": (235, 235, 245)}
COLOURS |= {"rainy": (70, 80, 110)}


def _pool(per_class: int = 12, size: int = 48) -> dict:
    rng = np.random.default_rng(0)
    return {
        "upload": {
            cls: np.clip(
                np.array(rgb)[None, None, None] + rng.normal(0, 30, (per_class, size, size, 3)), 0, 255
            ).astype(np.uint8)
            for cls, rgb in COLOURS.items()
        }
    }


needs_checkpoint = pytest.mark.skipif(
    not (DEFAULT_CHECKPOINT / "best.safetensors").exists(), reason="no shipped driving ProtoNet"
)


def test_the_upload_becomes_a_plain_folder_once_with_the_same_pixels(tmp_path: Path) -> None:
    pool = _pool()
    folder = write_upload_folder(pool, tmp_path)
    assert folder.name == frames_digest(pool) and sorted(p.name for p in folder.iterdir()) == sorted(COLOURS)
    back = load_image_folder(folder, size=48)
    (env,) = back
    for cls, arr in pool["upload"].items():
        assert np.array_equal(back[env][cls], arr)  # PNG is lossless; same order
    stamp = (folder / "dirt" / "000.png").stat().st_mtime_ns
    assert write_upload_folder(pool, tmp_path) == folder and (folder / "dirt" / "000.png").stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]  # no temporary folder left behind
    assert held_out_room(folder) == 2  # 20 % of 12 frames: the validation and the test part of each class
    assert [(c, n, s.shape[0]) for c, n, s in sample_grid(pool, per_class=3)] == [(c, 12, 3) for c in sorted(COLOURS)]


def test_uploads_that_cannot_be_split_are_refused_with_the_reason(tmp_path: Path) -> None:
    small = _pool(per_class=MIN_PER_CLASS - 1)
    with pytest.raises(DataError, match=f"at least {MIN_PER_CLASS} frames per class"):
        write_upload_folder(small, tmp_path)
    one = {"upload": {"dirt": _pool()["upload"]["dirt"]}}
    with pytest.raises(DataError, match="at least 2 scene classes"):
        write_upload_folder(one, tmp_path)
    odd = {"upload": {"..": _pool()["upload"]["dirt"], "ok": _pool()["upload"]["forest"]}}
    with pytest.raises(DataError, match="cannot be a folder name"):
        write_upload_folder(odd, tmp_path)
    assert not any(tmp_path.iterdir())  # nothing written


@needs_checkpoint
@pytest.mark.slow
def test_fine_tuning_runs_in_the_background_from_the_shipped_model_and_is_scored_on_held_out_frames(
    tmp_path: Path,
) -> None:
    folder = write_upload_folder(_pool(), tmp_path / "uploads")
    out = fine_tune_folder(folder, DEFAULT_CHECKPOINT, 8)
    assert out.parent == tmp_path / "byo-runs"
    job = FineTuneJob(fine_tune_request(folder, DEFAULT_CHECKPOINT, 8, out, 5), out).start()
    seen = []
    while job.running:
        seen.append(job.progress())
        job.wait(0.2)
    assert job.error is None and job.progress() == 1.0 and seen == sorted(seen)
    meta = json.loads((out / "best.json").read_text())
    assert meta["init"]["from"] == str(DEFAULT_CHECKPOINT) and meta["domain_options"]["data_dir"] == str(folder)
    assert not list(out.parent.glob(".*partial*"))
    assert FineTuneJob(job.request, out).start()._thread is None  # a finished run is reused, not retrained
    assert 0 <= kept_step(out) <= 8  # step 0: the shipped weights validated best and were kept
    table, paired = compare_on_upload(folder, DEFAULT_CHECKPOINT, out, k_shots=(1, 5))
    assert list(table["K"]) == [1, 1]  # 2 held-out frames per class: K = 5 does not fit and is left out
    assert [p["k_shot"] for p in paired] == [1] and paired[0]["n"] == EVAL_TASKS
    assert table["accuracy"].between(0, 1).all()


@needs_checkpoint
def test_ensembles_are_compared_as_ensembles_on_the_same_tasks(tmp_path: Path) -> None:
    """Several checkpoints a side are scored as one ensemble each, on the same tasks: the shipped ensemble against
    itself differs by exactly zero on every task; a side count mismatch is refused."""
    folder = write_upload_folder(_pool(), tmp_path / "uploads")
    seeds = [c for c in ENSEMBLE_CHECKPOINTS if (c / "best.json").is_file()]
    if len(seeds) < 2:
        pytest.skip("fewer than two shipped ProtoNet seeds")
    table, paired = compare_on_upload(folder, seeds, seeds, k_shots=(1,))
    assert list(table["model"]) == [
        f"shipped ensemble of {len(seeds)} (renders)",
        f"fine-tuned ensemble of {len(seeds)}",
    ]
    assert table["accuracy"].nunique() == 1 and paired[0]["diff"] == 0.0 and paired[0]["n"] == EVAL_TASKS
    row = _score_on_upload(folder, seeds, 5, 1, 1, 0)
    assert row["method"].endswith(f"(ensemble of {len(seeds)})")  # the ensemble's row, not a member's
    with pytest.raises(DataError, match="pair them"):
        compare_on_upload(folder, seeds, seeds[:1], k_shots=(1,))


@needs_checkpoint
def test_a_second_job_for_the_same_run_waits_for_the_first_instead_of_training_beside_it(tmp_path: Path) -> None:
    """A page rerun (a second click) while a run goes on: one training into the folder, both jobs see it finish."""
    folder = write_upload_folder(_pool(), tmp_path / "uploads")
    out = fine_tune_folder(folder, DEFAULT_CHECKPOINT, 6)
    request = fine_tune_request(folder, DEFAULT_CHECKPOINT, 6, out, 5)
    first = FineTuneJob(request, out).start()
    second = FineTuneJob(request, out).start()
    first.wait()
    second.wait()
    assert first.error is None and second.error is None
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(steps) and steps.count(0) == 1  # one run wrote the log, not two interleaved


def test_jobs_run_one_after_another_and_report_the_first_error(tmp_path: Path) -> None:
    """FineTuneJobs: a failing first job stops the rest (its error is the group's) and progress stays in [0, 1]."""
    folder = write_upload_folder(_pool(), tmp_path / "uploads")
    missing = tmp_path / "no-such-checkpoint"
    jobs = [
        FineTuneJob(fine_tune_request(folder, missing, 4, tmp_path / f"run{i}", 5, seed=i), tmp_path / f"run{i}")
        for i in range(2)
    ]
    runner = FineTuneJobs(jobs).start()
    runner.wait(120)
    assert not runner.running and runner.error is not None and jobs[1].error is None
    assert not (tmp_path / "run1").exists() and 0.0 <= runner.progress() <= 1.0


def test_kept_step_of_an_unfinished_or_corrupted_run_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no finished fine-tuning run"):
        kept_step(tmp_path)
    (tmp_path / "best.json").write_text("{not json")
    with pytest.raises(DataError, match="fine-tune again"):
        kept_step(tmp_path)


def _zip(pool: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for cls, arr in pool["upload"].items():
            for i, frame in enumerate(arr):
                png = io.BytesIO()
                Image.fromarray(frame).save(png, format="PNG")
                z.writestr(f"{cls}/{i:03d}.png", png.getvalue())
    return buf.getvalue()


def _page_with_upload(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, timeout: int = 300) -> AppTest:
    """The Driving page, app cache in ``tmp_path``, with the generated five-scene zip uploaded."""
    monkeypatch.setenv("METASUITE_CACHE", str(tmp_path))
    at = AppTest.from_file(DRIVING, default_timeout=timeout).run()
    at.selectbox(key="environment").set_value("Upload a .zip").run()
    at.file_uploader(key="upload").set_value(("roads.zip", _zip(_pool()), "application/zip")).run()
    return at


@needs_checkpoint
@pytest.mark.slow
def test_the_page_fine_tunes_on_an_upload_and_shows_the_comparison(tmp_path: Path, monkeypatch) -> None:
    at = _page_with_upload(tmp_path, monkeypatch)
    assert not at.exception
    assert any("5 scene classes (60 frames)" in c.value for c in at.caption)
    at.select_slider(key="byo_steps").set_value(50).run()
    at.button(key="byo_go").click().run()
    assert not at.exception and not at.error
    (table,) = at.dataframe
    assert set(table.value["model"]) == {"shipped (renders)", "fine-tuned on your frames"}
    assert any("fine-tuned − shipped" in m.value for m in at.markdown)
    # which weights were kept is said: a step of the run, or the shipped model itself
    assert any(c.value.startswith("Kept (best validation accuracy): step ") for c in at.caption) or any(
        "shipped model was kept" in i.value for i in at.info
    )


@needs_checkpoint
@pytest.mark.slow
def test_the_page_fine_tunes_all_three_shipped_seeds_and_compares_the_ensembles(tmp_path: Path, monkeypatch) -> None:
    at = _page_with_upload(tmp_path, monkeypatch, timeout=600)
    at.select_slider(key="byo_steps").set_value(50).run()
    at.toggle(key="byo_ensemble").set_value(True).run()
    at.button(key="byo_go").click().run()
    assert not at.exception and not at.error
    (table,) = at.dataframe
    assert set(table.value["model"]) == {"shipped ensemble of 3 (renders)", "fine-tuned ensemble of 3"}
    assert len(list((tmp_path / "app" / "driving" / "byo-runs").glob("*-50"))) == 3  # one run per shipped seed
    kept = [c.value for c in at.caption if c.value.startswith("Kept")] + [i.value for i in at.info]
    assert any("seed 2:" in k for k in kept) or any("models were kept" in k for k in kept)


@needs_checkpoint
@pytest.mark.slow
def test_the_page_can_fine_tune_the_shipped_models_on_an_uploads_support_first(tmp_path: Path, monkeypatch) -> None:
    """The P>M>F toggle is offered for uploaded frames only, and adapting with it on gives a complete result."""
    monkeypatch.setenv("METASUITE_CACHE", str(tmp_path))
    at = AppTest.from_file(DRIVING, default_timeout=300).run()
    assert not [t for t in at.toggle if t.key == "finetune"]  # the renders: fine-tuning would only hurt there
    at.selectbox(key="environment").set_value("Upload a .zip").run()
    at.file_uploader(key="upload").set_value(("roads.zip", _zip(_pool()), "application/zip")).run()
    at.toggle(key="finetune").set_value(True).run()
    at.button[0].click().run()  # Adapt
    assert not at.exception and not at.error
    (after, _) = at.metric
    assert after.label.startswith("Accuracy after adaptation") and after.value.endswith("%")
