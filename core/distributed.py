"""Distributed meta-training with PyTorch's own engine (``torch.distributed``, launched by ``torchrun``).

How a run is spread (see :func:`metasuite.core.trainer.train`):

* the global meta-batch of step ``s`` is made of ``shards`` equal sub-batches, shard ``k`` drawn with
  the generator ``(seed, "train", s, "shard", k)``; rank ``r`` of ``W`` processes draws and
  differentiates shard ``r`` only (so ``shards == W``). A one-process run with ``shards=W`` draws every
  shard itself and ends with the same parameters: that is the equivalence the tests check;
* each rank's meta-gradient is the mean over its shard's tasks; :func:`all_reduce_grads` sums them
  with one all-reduce and divides by ``W``: the mean over the global meta-batch, whatever the algorithm
  puts in ``.grad`` (second-order MAML's meta-gradient, Meta-SGD's learned rates, Reptile's
  ``theta - mean(phi)``, ProtoNet's loss gradient), so the optimiser steps stay identical on every rank;
* parameters start equal (rank 0's are broadcast after a resume); rank 0 alone validates (the value is
  broadcast, so early stopping is decided the same everywhere) and writes checkpoints and logs;
* backend: ``nccl`` when CUDA is available (one GPU per local rank), else ``gloo``; every collective has
  a timeout (``METASUITE_DIST_TIMEOUT`` seconds, default 1800: rank 0 validates while the others wait),
  and when a rank dies ``torchrun`` stops the others and exits non-zero.

Single machine: ``metasuite train DOMAIN ... --nproc N`` (:func:`metasuite.core.runs.train_run` re-launches
the run through ``torchrun``). Several nodes: ``torchrun --nnodes 2 --nproc-per-node 8 --rdzv-backend c10d
--rdzv-endpoint HOST:29500 -m metasuite.apps.cli train DOMAIN ...`` on every node.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import timedelta

import torch
from torch import nn

from metasuite.core.errors import MetasuiteError

__all__ = [
    "DistContext",
    "all_reduce_grads",
    "average",
    "barrier",
    "broadcast_module",
    "broadcast_value",
    "init_from_env",
    "launch_module",
    "shutdown",
]

DEFAULT_TIMEOUT_S = 1800  # long enough for rank 0 to validate while the others wait


@dataclass(frozen=True)
class DistContext:
    """This process's place in a distributed run."""

    rank: int
    world_size: int
    local_rank: int
    backend: str
    device: torch.device

    @property
    def is_main(self) -> bool:
        """True on rank 0, the only rank that writes checkpoints and logs."""
        return self.rank == 0


def init_from_env() -> DistContext | None:
    """Join the process group described by torchrun's environment; None outside a multi-process run.

    Reads ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` (and ``MASTER_ADDR``/``MASTER_PORT`` through the
    ``env://`` rendezvous). Chooses ``nccl`` with CUDA, else ``gloo``.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return None
    import torch.distributed as dist

    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    timeout = timedelta(seconds=float(os.environ.get("METASUITE_DIST_TIMEOUT", DEFAULT_TIMEOUT_S)))
    if torch.cuda.is_available():
        backend, device = "nccl", torch.device("cuda", local_rank % torch.cuda.device_count())
        torch.cuda.set_device(device)
    else:
        backend, device = "gloo", torch.device("cpu")
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, timeout=timeout)
    return DistContext(rank=rank, world_size=world, local_rank=local_rank, backend=backend, device=device)


def barrier() -> None:
    """Wait until every rank reaches this point."""
    import torch.distributed as dist

    dist.barrier()


def shutdown() -> None:
    """Leave the process group (a no-op when none was joined)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_grads(params: list[nn.Parameter], world_size: int) -> None:
    """Replace every ``.grad`` by its mean over the ranks (one flat all-reduce; missing grads count as 0)."""
    import torch.distributed as dist

    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= world_size
    offset = 0
    for p in params:
        n = p.numel()
        p.grad = flat[offset : offset + n].view_as(p).clone()
        offset += n


def average(values: dict[str, float], device: torch.device) -> dict[str, float]:
    """Mean of each float over the ranks (for logging the global meta-batch's loss and metric)."""
    import torch.distributed as dist

    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    t /= dist.get_world_size()
    return {k: float(v) for k, v in zip(keys, t.tolist(), strict=True)}


def broadcast_module(module: nn.Module, src: int = 0) -> None:
    """Copy rank ``src``'s parameters and buffers to every rank."""
    import torch.distributed as dist

    with torch.no_grad():
        for t in [*module.parameters(), *module.buffers()]:
            dist.broadcast(t.data, src=src)


def broadcast_value(value: float | None, device: torch.device, src: int = 0) -> float | None:
    """Rank ``src``'s float (or None) on every rank."""
    import torch.distributed as dist

    t = torch.tensor([float("nan") if value is None else float(value)], dtype=torch.float64, device=device)
    dist.broadcast(t, src=src)
    out = float(t.item())
    return None if out != out else out


def launch_module(module_argv: list[str], nproc: int) -> int:
    """Run ``python -m MODULE ARGS`` (``module_argv``) in ``nproc`` processes on this machine through
    ``torchrun``; returns its exit code (a failed rank makes torchrun stop the others)."""
    if nproc < 1:
        raise MetasuiteError(f"--nproc must be >= 1, got {nproc}")
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={nproc}",
        "--max-restarts=0",
        "-m",
        *module_argv,
    ]
    env = {
        **os.environ,
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc))),
    }
    return subprocess.call(cmd, env=env)
