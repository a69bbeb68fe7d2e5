"""Resumable checkpoints: model, optimizer, schedule, RNG states, data position, method state.

A checkpoint is a folder written atomically, so a run killed while saving keeps its
previous checkpoint. Rank 0 writes the shared state; every rank writes its RNG states.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from repro.utils.atomic import atomic_output_dir

STATE_FILE = "state.pt"


def rng_state() -> dict[str, Any]:
    return {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state()}


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])


def save_checkpoint(path: Path, *, step: int, model, optimizer, scheduler, method_state: dict,
                    flops: float, rank: int, world_size: int) -> None:
    """Save the state after ``step`` completed optimizer steps."""
    rng_file = path.parent / f".{path.name}.rng_rank{rank}.pt"
    torch.save(rng_state(), rng_file)
    if world_size > 1:
        torch.distributed.barrier()  # every rank's RNG file exists before rank 0 collects them
    if rank != 0:
        if world_size > 1:
            torch.distributed.barrier()
        return
    with atomic_output_dir(path) as tmp:
        torch.save(
            {
                "step": step,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "method": method_state,
                "flops": flops,
                "world_size": world_size,
            },
            tmp / STATE_FILE,
        )
        for rank_index in range(world_size):
            source = path.parent / f".{path.name}.rng_rank{rank_index}.pt"
            if source.exists():
                source.replace(tmp / f"rng_rank{rank_index}.pt")
    if world_size > 1:
        torch.distributed.barrier()  # the checkpoint is complete before any rank goes on


def load_checkpoint(path: Path, rank: int, world_size: int) -> dict[str, Any] | None:
    """Load a checkpoint folder, or return None when there is none."""
    state_file = path / STATE_FILE
    if not state_file.exists():
        return None
    state = torch.load(state_file, weights_only=False)
    if state["world_size"] != world_size:
        raise ValueError(
            f"checkpoint {path} was written with world size {state['world_size']}, "
            f"this run has {world_size}; resume with the same number of ranks or delete the checkpoint"
        )
    rng_file = path / f"rng_rank{rank}.pt"
    state["rng"] = torch.load(rng_file, weights_only=False) if rng_file.exists() else None
    return state
