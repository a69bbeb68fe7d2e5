"""Hyperparameters of one training run, validated on construction."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

OPTIMIZER_BUG_MODES = ("none", "first_plus_last", "first_only", "last_only")
SCHEDULES = ("cosine", "constant")


@dataclass
class TrainConfig:
    # Optimizer (AdamW) and schedule.
    lr: float = 5e-5
    min_lr_ratio: float = 0.1          # cosine floor as a fraction of lr
    warmup_ratio: float = 0.1          # fraction of num_steps spent in linear warmup
    schedule: str = "cosine"
    weight_decay: float = 0.01
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_eps: float = 1e-8
    max_grad_norm: float = 1.0         # clip the accumulated gradient; 0 disables clipping

    # Batch geometry. global_batch_size counts sequences per optimizer step over all ranks;
    # the number of micro-batches per rank is K = global_batch_size / (micro_batch_size * world_size).
    global_batch_size: int = 64
    micro_batch_size: int = 8
    num_steps: int = 100

    # Loss aggregation over the optimizer step (a registered name in repro.losses.AGGREGATIONS).
    aggregation: str = "token_mean"
    # Named bug emulations, both off by default.
    optimizer_bug: str = "none"              # DeepSpeed ZeRO-2 CPU-offload accumulation bug mode
    mean_of_micro_batch_means: bool = False  # OpenRLHF <= 0.9.10 loss aggregation bug

    seed: int = 0
    checkpoint_every: int = 50         # optimizer steps between resumable checkpoints; 0 disables
    log_every: int = 1
    threads: int = 1                   # torch intra-op threads per process

    def __post_init__(self) -> None:
        if self.optimizer_bug not in OPTIMIZER_BUG_MODES:
            raise ValueError(
                f"optimizer_bug={self.optimizer_bug!r} is not a known mode; "
                f"choose one of {list(OPTIMIZER_BUG_MODES)}"
            )
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule={self.schedule!r} is not known; choose one of {list(SCHEDULES)}")
        for name in ("global_batch_size", "micro_batch_size", "num_steps", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if not 0 <= self.min_lr_ratio <= 1:
            raise ValueError(f"min_lr_ratio must lie in [0, 1], got {self.min_lr_ratio}")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup_ratio must lie in [0, 1), got {self.warmup_ratio}")

    @property
    def effective_aggregation(self) -> str:
        """The aggregation actually used: the mean-of-means bug overrides the configured mode."""
        return "micro_batch_token_mean" if self.mean_of_micro_batch_means else self.aggregation

    def micro_batches_per_rank(self, world_size: int) -> int:
        per_rank, remainder = divmod(self.global_batch_size, world_size)
        if remainder or per_rank % self.micro_batch_size:
            raise ValueError(
                f"global_batch_size={self.global_batch_size} must be divisible by "
                f"micro_batch_size * world_size = {self.micro_batch_size} * {world_size}"
            )
        return per_rank // self.micro_batch_size

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        valid = {field.name for field in fields(cls)}
        unknown = sorted(set(values) - valid)
        if unknown:
            raise ValueError(f"unknown training key(s) {unknown}; valid keys are {sorted(valid)}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
