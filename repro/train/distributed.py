"""Data parallelism through torch.distributed (gloo on CPU, NCCL on GPU).

Launch with torchrun; a single process without WORLD_SIZE runs with world size 1.
Gradients are averaged over ranks after accumulation, as DDP does, which is why every
aggregation mode multiplies its micro-batch contribution by the world size.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_from_env(backend: str = "gloo") -> DistInfo:
    """Join the process group that torchrun describes in the environment, if any."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistInfo()
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return DistInfo(rank=dist.get_rank(), world_size=dist.get_world_size())


def all_reduce_sum(values: list[float], info: DistInfo) -> list[float]:
    """Sum a few numbers over ranks (float64, so token counts stay exact)."""
    if info.world_size == 1:
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor.tolist()


def average_gradients(parameters, info: DistInfo) -> None:
    """Average ``param.grad`` over ranks in place, as DDP's gradient all-reduce does."""
    if info.world_size == 1:
        return
    for parameter in parameters:
        if parameter.grad is None:
            parameter.grad = torch.zeros_like(parameter)
        dist.all_reduce(parameter.grad, op=dist.ReduceOp.SUM)
        parameter.grad.div_(info.world_size)
