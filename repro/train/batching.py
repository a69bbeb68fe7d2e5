"""Sequences of an optimizer step, and their collation into right-padded micro-batches.

Every method hands the loop a list of TrainSequence. Per-token fields are aligned with
``input_ids``: entry t describes token t as a prediction target (entry 0 is never a
target). After collation the per-token tensors are shifted to the target axis, so
``loss_mask_BT[b, t]`` refers to predicting ``input_ids[b, t + 1]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import torch

SOURCE_ON_POLICY = 0
SOURCE_DEMONSTRATION = 1
SOURCE_FORCED_PREFIX = 2


@dataclass
class TrainSequence:
    input_ids: list[int]
    loss_mask: list[bool]                       # token t is trained on
    advantages: list[float] | None = None       # per-token advantage or weight
    old_logprobs: list[float] | None = None     # log-prob under the policy that produced token t
    source: list[int] | None = None             # SOURCE_* tag per token
    extra: dict[str, list[float]] = field(default_factory=dict)  # other per-token numbers

    def __post_init__(self) -> None:
        length = len(self.input_ids)
        if length < 2:
            raise ValueError(f"a training sequence needs at least 2 tokens, got {length}")
        for name in ("loss_mask", "advantages", "old_logprobs", "source"):
            values = getattr(self, name)
            if values is not None and len(values) != length:
                raise ValueError(f"{name} has {len(values)} entries for {length} tokens")
        for name, values in self.extra.items():
            if len(values) != length:
                raise ValueError(f"extra[{name!r}] has {len(values)} entries for {length} tokens")
        if self.loss_mask[0]:
            raise ValueError("token 0 has no preceding context and cannot be a target; set loss_mask[0] = False")

    @property
    def num_target_tokens(self) -> int:
        return sum(1 for flag in self.loss_mask if flag)


@dataclass
class MicroBatch:
    input_ids: torch.Tensor         # [B, T] long, right-padded
    attention_mask: torch.Tensor    # [B, T]
    targets_BT: torch.Tensor        # [B, T-1] input_ids shifted left
    loss_mask_BT: torch.Tensor      # [B, T-1] bool
    advantages_BT: torch.Tensor | None
    old_logprobs_BT: torch.Tensor | None
    source_BT: torch.Tensor | None
    extra_BT: dict[str, torch.Tensor]

    @property
    def num_sequences(self) -> int:
        return int(self.input_ids.shape[0])

    @property
    def num_target_tokens(self) -> int:
        return int(self.loss_mask_BT.sum())


def _pad(rows: Sequence[Sequence[Any]], width: int, value: Any, dtype: torch.dtype) -> torch.Tensor:
    out = torch.full((len(rows), width), value, dtype=dtype)
    for index, row in enumerate(rows):
        out[index, : len(row)] = torch.tensor(list(row), dtype=dtype)
    return out


def collate(sequences: Sequence[TrainSequence], pad_token_id: int, pad_to: int | None = None,
            dtype: torch.dtype = torch.float32) -> MicroBatch:
    """Right-pad ``sequences`` into one micro-batch; ``pad_to`` forces a wider padding."""
    if not sequences:
        raise ValueError("cannot collate an empty micro-batch")
    width = max(len(s.input_ids) for s in sequences)
    if pad_to is not None:
        if pad_to < width:
            raise ValueError(f"pad_to={pad_to} is shorter than the longest sequence ({width})")
        width = pad_to
    input_ids = _pad([s.input_ids for s in sequences], width, pad_token_id, torch.long)
    attention_mask = _pad([[1] * len(s.input_ids) for s in sequences], width, 0, torch.long)
    loss_mask = _pad([s.loss_mask for s in sequences], width, False, torch.bool)

    def optional(name: str, fill: float, kind: torch.dtype) -> torch.Tensor | None:
        present = [getattr(s, name) is not None for s in sequences]
        if not any(present):
            return None
        if not all(present):
            raise ValueError(f"some sequences of a micro-batch have {name} and others do not")
        return _pad([getattr(s, name) for s in sequences], width, fill, kind)[:, 1:]

    extra_names = set(sequences[0].extra)
    for s in sequences:
        if set(s.extra) != extra_names:
            raise ValueError("all sequences of a micro-batch must carry the same extra fields")
    extra = {name: _pad([s.extra[name] for s in sequences], width, 0.0, dtype)[:, 1:] for name in sorted(extra_names)}

    return MicroBatch(
        input_ids=input_ids,
        attention_mask=attention_mask,
        targets_BT=input_ids[:, 1:],
        loss_mask_BT=loss_mask[:, 1:],
        advantages_BT=optional("advantages", 0.0, dtype),
        old_logprobs_BT=optional("old_logprobs", 0.0, dtype),
        source_BT=optional("source", -1, torch.long),
        extra_BT=extra,
    )


def split_micro_batches(sequences: Sequence[TrainSequence], micro_batch_size: int) -> list[list[TrainSequence]]:
    if len(sequences) % micro_batch_size:
        raise ValueError(
            f"{len(sequences)} sequences cannot be split into micro-batches of {micro_batch_size}"
        )
    return [list(sequences[i: i + micro_batch_size]) for i in range(0, len(sequences), micro_batch_size)]
