"""Distributed meta-training through torchrun (gloo, loopback): same result as one process, fails fast, resumes.

A 2-process run draws shard ``rank`` of every meta-batch and averages the meta-gradients with an
all-reduce; a 1-process run with ``--shards 2`` draws both shards itself. Both must end with the same
parameters (<= 1e-5) for second-order MAML, ProtoNet, Meta-SGD (learned rates) and Reptile (its outer step).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from metasuite.apps.cli import main
from metasuite.core.runs import TrainRequest

pytestmark = pytest.mark.slow

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
SINUSOID = ["sinusoid", "--algo", "maml", "--meta-batch-size", "8", "--val-every", "10", "--val-tasks", "20"]
TRADING = ["trading", "--algo", "protonet", "--meta-batch-size", "4", "--val-every", "10", "--val-tasks", "10"]
TRADING += ["--option", "n_assets=2", "--option", "n_markets=1", "--option", "n_days=1300"]


def _torchrun(args: list[str], **kw) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "metasuite.apps.cli", "train", *args, "--nproc", "2", "--quiet"]
    return subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _params(run: Path) -> dict:
    return {k: v for k, v in load_file(run / "last.safetensors").items() if k.startswith("model.")}


def _max_diff(a: Path, b: Path) -> float:
    pa, pb = _params(a), _params(b)
    assert set(pa) == set(pb)
    return max(float((pa[k] - pb[k]).abs().max()) for k in pa)


def _algo(args: list[str], algo: str) -> list[str]:
    return [algo if a == "maml" else a for a in args]


@pytest.mark.parametrize(
    "args",
    [SINUSOID, TRADING, _algo(SINUSOID, "metasgd"), _algo(SINUSOID, "reptile")],
    ids=["maml-sinusoid", "protonet-trading", "metasgd-sinusoid", "reptile-sinusoid"],
)
def test_two_processes_end_where_one_process_over_the_same_meta_batches_ends(args: list[str], tmp_path: Path) -> None:
    proc = _torchrun([*args, "--steps", "20", "--out", str(tmp_path / "two")])
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    assert main(["train", *args, "--steps", "20", "--shards", "2", "--out", str(tmp_path / "one"), "--quiet"]) == 0
    assert _max_diff(tmp_path / "one", tmp_path / "two") <= 1e-5
    # and the shards are not a no-op: a 1-shard run draws other tasks and ends elsewhere
    assert main(["train", *args, "--steps", "20", "--out", str(tmp_path / "plain"), "--quiet"]) == 0
    assert _max_diff(tmp_path / "plain", tmp_path / "two") > 1e-4
    # rank 0 alone wrote the logs: one line per logged step, none duplicated
    steps = [line for line in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines() if line]
    assert len(steps) == len({s for s in steps})


def _processes() -> list[tuple[int, int, str]]:
    """``(pid, ppid, command line)`` of every process, read from /proc (no ``ps`` needed)."""
    rows = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            cmdline = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # the process ended meanwhile
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        rows.append((int(d.name), ppid, cmdline))
    return rows


def _workers_of(proc: subprocess.Popen) -> list[int]:
    """PIDs of the training processes torchrun started (grandchildren of our launcher)."""
    rows = _processes()
    agents = {pid for pid, ppid, _ in rows if ppid == proc.pid}  # the torchrun agent
    return [pid for pid, ppid, cmd in rows if ppid in agents and "metasuite.core.runs" in cmd]


def test_a_killed_rank_fails_the_run_clearly_and_the_run_resumes(tmp_path: Path) -> None:
    run = tmp_path / "two"
    args = [*SINUSOID, "--steps", "1000", "--checkpoint-every", "25", "--out", str(run)]
    proc = _torchrun(args, start_new_session=True)
    deadline = time.time() + 120
    while not (run / "last.safetensors").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    workers = _workers_of(proc)
    assert proc.poll() is None and len(workers) == 2, "the run ended before a rank could be killed"
    os.kill(workers[-1], signal.SIGKILL)
    t0 = time.time()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert time.time() - t0 < 90, "the surviving rank hung instead of failing"
    assert "distributed run failed" in err and "resumes" in err
    # the same command continues from the last checkpoint and ends where an uninterrupted run ends
    again = _torchrun(args)
    _, err = again.communicate(timeout=600)
    assert again.returncode == 0, err[-3000:]
    one = tmp_path / "one"
    ref = [*SINUSOID, "--steps", "1000", "--checkpoint-every", "25", "--shards", "2", "--out", str(one), "--quiet"]
    assert main(["train", *ref]) == 0
    assert _max_diff(one, run) <= 1e-5


def test_a_meta_batch_that_does_not_split_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train", *SINUSOID, "--steps", "2", "--shards", "3", "--out", str(tmp_path / "x"), "--quiet"])
    assert code == 2
    assert "does not split into 3 equal shards" in capsys.readouterr().err


def test_the_workers_get_the_request_unchanged(tmp_path: Path) -> None:
    request = TrainRequest(
        "trading",
        "maml",
        tmp_path / "run",
        options={"n_assets": 2, "tickers": ["A", "B"], "data_dir": tmp_path},
        n_query=5,
        hparams={"inner_lr": 0.1},
        config={"steps": 3},
        nproc=2,
    )
    back = TrainRequest.from_json(request.to_json())
    assert back == TrainRequest(**{**request.__dict__, "options": {**request.options, "data_dir": str(tmp_path)}})


def test_an_nproc_that_does_not_split_the_meta_batch_is_refused_before_launching(tmp_path: Path) -> None:
    """One clear line and status 2, not the same error from every rank under torchrun's traceback."""
    cmd = [sys.executable, "-m", "metasuite.apps.cli", "train", "sinusoid", "--algo", "maml", "--nproc", "2"]
    cmd += ["--meta-batch-size", "25", "--steps", "2", "--out", str(tmp_path / "x"), "--quiet"]
    done = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: the meta-batch of 25 tasks does not split into 2 equal shards (one per process); pass "
        "--meta-batch-size as a multiple of the number of processes"
    ]
    assert not (tmp_path / "x").exists()
