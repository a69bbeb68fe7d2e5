"""The method interface and its registry."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar

import torch

from repro.train.batching import MicroBatch, TrainSequence
from repro.utils.registry import Registry

METHODS = Registry("method")


@dataclass
class MethodContext:
    """Resources of a method: the policy, its tokenizer, the run's seed and the data-parallel layout."""

    policy: torch.nn.Module
    tokenizer: Any
    seed: int
    global_batch_size: int       # sequences per optimizer step over all ranks
    rank: int = 0
    world_size: int = 1
    load_model: Callable[[str], torch.nn.Module] | None = None   # frozen auxiliary models (teachers, reference)
    run_dir: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def sequences_per_rank(self) -> int:
        return self.global_batch_size // self.world_size


class Method:
    """Base class: subclasses set ``name`` and implement ``step_sequences`` and ``token_loss``."""

    name: ClassVar[str] = ""
    needs_entropy: bool = False   # set True (per class or instance) to get entropy_BT in token_loss

    def __init__(self, params: dict[str, Any], context: MethodContext):
        self.params = dict(params)
        self.context = context

    def step_sequences(self, step: int) -> list[TrainSequence]:
        """Return this rank's sequences for optimizer step ``step`` (0-based)."""
        raise NotImplementedError

    def token_loss(self, batch: MicroBatch, logprobs_BT: torch.Tensor,
                   entropy_BT: torch.Tensor | None) -> torch.Tensor:
        """Return the per-token loss [B, T-1]; masked positions are ignored by the aggregation."""
        raise NotImplementedError

    def step_metrics(self) -> dict[str, float]:
        """Method-specific numbers of the last step (e.g. reward/mean), logged by the loop."""
        return {}

    def normaliser_length(self) -> int | None:
        """Return the constant L_max of the "constant" aggregation (Dr. GRPO), or None if the method has none."""
        return None

    def generated_tokens(self) -> int:
        """On-policy tokens sampled during the last step on this rank (2N FLOPs each)."""
        return 0

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            raise ValueError(f"method {self.name!r} keeps no state but the checkpoint has {sorted(state)}")


def build_method(name: str, params: dict[str, Any], context: MethodContext) -> Method:
    cls = METHODS.get(name)
    return cls(params, context)
