"""Processes of a training run: the device of this rank and a process group that is a no-op in
one process (``torchrun``: gloo on CPU, NCCL on CUDA)."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

from gristmill.core.errors import GristmillError


class Dist:
    """World size, rank and a sum all-reduce that is a no-op in one process."""

    def __init__(self, device_kind: str) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if self.world > 1 and not dist.is_initialized():
            dist.init_process_group(backend="nccl" if device_kind == "cuda" else "gloo")

    def sum(self, values: list[float]) -> list[float]:
        if self.world == 1:
            return values
        t = torch.tensor(values, dtype=torch.float64)
        dist.all_reduce(t)
        return t.tolist()

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def close(self) -> None:
        if self.world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def resolve_device(name: str, local_rank: int) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise GristmillError("--device cuda but no CUDA device is available")
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    if name != "cpu":
        raise GristmillError(f"unknown device {name!r} (auto, cpu or cuda)")
    return torch.device("cpu")
