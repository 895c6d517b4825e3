"""Data-parallel training across processes (``torchrun``), or a single process.

``torchrun --nproc_per_node N $(which cryolatent) train ...`` (or any launcher that
sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``)
runs one process per device; each trains on its share of every epoch's batches
and gradients are averaged (DDP).  Only rank 0 writes files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from cryolatent.training.model import resolve_device


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        """More than one process."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 (the one that writes outputs)."""
        return self.rank == 0


def env_info() -> DistInfo:
    """Read ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` from the environment (defaults: one process)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", str(rank)))
    return DistInfo(rank, world, local)


def init(device: torch.device) -> DistInfo:
    """Join the process group if ``WORLD_SIZE > 1`` (NCCL on CUDA, else gloo)."""
    info = env_info()
    if info.enabled and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, rank=info.rank, world_size=info.world_size)
    return info


def local_device(requested: str, info: DistInfo) -> torch.device:
    """The device for this process: ``auto`` -> CUDA (one per local rank) when available, else CPU."""
    device = resolve_device(requested)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", info.local_rank % max(1, torch.cuda.device_count()))
    return device


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum a tensor over processes (no-op without a process group)."""
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def broadcast_flag(flag: bool, device: torch.device) -> bool:
    """True on every rank if it is True on any rank."""
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    return bool(all_reduce_sum(t).item() > 0)


def barrier() -> None:
    """Wait for every process (no-op without a process group)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def cleanup() -> None:
    """Leave the process group."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
