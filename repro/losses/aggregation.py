"""Loss aggregation: how per-token losses become the one loss of an optimizer step.

Aggregation is its own axis, independent of the method. Every mode is defined over the whole
optimizer step: K micro-batches on each of D data-parallel ranks. The training loop calls
backward on each micro-batch's contribution, and DDP averages gradients over the D ranks, so

    step loss = (1 / D) * sum over ranks of (sum over that rank's K micro-batches of contribution)

Contributions therefore carry a factor D where the definition needs it. The normalisers
(supervised tokens and sequences of the whole step) must be known before the first backward
of the step: count them over all micro-batches with ``count_tokens_and_sequences`` and
all-reduce the counts over ranks, then build a ``StepContext``.

Worked example, one step with sequence A (losses [1, 1]) and sequence B ([4, 4, 4, 4]), L_max 4:
token_mean 3.0, seq_mean_token_mean 2.5, constant 2.25, seq_mean_token_sum 9.0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from repro.losses._checks import as_bool_mask, check_float_tensor
from repro.utils.registry import Registry

Aggregation = Callable[[torch.Tensor, torch.Tensor, "StepContext"], torch.Tensor]

AGGREGATIONS: Registry[Aggregation] = Registry("aggregation mode")

DEFAULT_AGGREGATION = "token_mean"


def _check_count(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"StepContext.{name} must be an integer >= {minimum}, got {value!r}")


@dataclass(frozen=True)
class StepContext:
    """Counts of the whole optimizer step that the aggregation modes normalise by."""

    num_tokens: int
    """Supervised tokens in the whole optimizer step (all micro-batches, all ranks)."""
    num_sequences: int
    """Sequences in the whole optimizer step (all micro-batches, all ranks)."""
    world_size: int = 1
    """Data-parallel ranks D."""
    num_micro_batches: int = 1
    """Micro-batches K on each rank in this step."""
    max_length: int | None = None
    """Constant normaliser L_max of the "constant" mode (Dr. GRPO), e.g. the maximum new tokens."""

    def __post_init__(self) -> None:
        if self.num_tokens == 0 and not isinstance(self.num_tokens, bool):
            raise ValueError(
                "the optimizer step has no supervised tokens (num_tokens=0): every loss mask "
                "of the step is empty; check the masks, or skip this step"
            )
        _check_count("num_tokens", self.num_tokens, 1)
        _check_count("num_sequences", self.num_sequences, 1)
        _check_count("world_size", self.world_size, 1)
        _check_count("num_micro_batches", self.num_micro_batches, 1)
        if self.max_length is not None:
            _check_count("max_length", self.max_length, 1)


def count_tokens_and_sequences(mask_BT: torch.Tensor) -> tuple[int, int]:
    """Return (supervised tokens, sequences with at least one supervised token) of a micro-batch.

    Sum these over the micro-batches of a step (and all-reduce over ranks) to fill a
    StepContext. Rows whose mask is empty, such as padding rows, are not counted as sequences.
    """
    mask_BT = as_bool_mask(mask_BT)
    return int(mask_BT.sum()), int(mask_BT.any(dim=1).sum())


def aggregate(name: str, loss_BT: torch.Tensor, mask_BT: torch.Tensor, ctx: StepContext) -> torch.Tensor:
    """Return this micro-batch's contribution to the step loss under aggregation mode ``name``.

    loss_BT contains per-token losses, mask_BT marks the supervised tokens. Masked positions
    are excluded from numerator and denominator alike, even where loss_BT contains NaN or inf.
    """
    return AGGREGATIONS.get(name)(loss_BT, mask_BT, ctx)


def _checked_masked_loss(
    loss_BT: torch.Tensor, mask_BT: torch.Tensor, ctx: StepContext
) -> tuple[torch.Tensor, torch.Tensor]:
    """Check the inputs and return (loss_BT with 0 at masked positions, mask as bool)."""
    if not isinstance(ctx, StepContext):
        raise TypeError(f"ctx must be a StepContext, got {type(ctx).__name__}")
    check_float_tensor("loss_BT", loss_BT, ndim=2)
    mask_BT = as_bool_mask(mask_BT, loss_BT.shape)

    local_tokens, local_sequences = count_tokens_and_sequences(mask_BT)
    if local_tokens > ctx.num_tokens:
        raise ValueError(
            f"this micro-batch has {local_tokens} supervised tokens but the StepContext counts "
            f"{ctx.num_tokens} for the whole step; count the tokens of every micro-batch on every rank"
        )
    if local_sequences > ctx.num_sequences:
        raise ValueError(
            f"this micro-batch has {local_sequences} non-empty sequences but the StepContext counts "
            f"{ctx.num_sequences} for the whole step; count the sequences of every micro-batch on every rank"
        )
    return torch.where(mask_BT, loss_BT, 0.0), mask_BT


@AGGREGATIONS.register("token_mean")
def token_mean(loss_BT: torch.Tensor, mask_BT: torch.Tensor, ctx: StepContext) -> torch.Tensor:
    """Compute one token mean over the whole step: step loss = sum(l * m) / N_step.

    Contribution: sum(l * m) * D / N_step. Every supervised token of the step has weight
    1 / N_step, however the step is split. This is TRL 1.16's loss_type "dapo" and the
    corrected SFT loss of Limozin et al. (arXiv 2604.23747).
    """
    loss_BT, mask_BT = _checked_masked_loss(loss_BT, mask_BT, ctx)
    return loss_BT.sum() * ctx.world_size / ctx.num_tokens


@AGGREGATIONS.register("seq_mean_token_mean")
def seq_mean_token_mean(loss_BT: torch.Tensor, mask_BT: torch.Tensor, ctx: StepContext) -> torch.Tensor:
    """Compute the mean over the step's sequences of each sequence's token mean (original GRPO).

    Contribution: sum over rows of (row sum / row tokens) * D / S_step. A row with no supervised
    token contributes 0. TRL 1.16's loss_type "grpo" takes the sequence mean per micro-batch
    instead, which equals this only when every micro-batch contains the same number of sequences.
    """
    loss_BT, mask_BT = _checked_masked_loss(loss_BT, mask_BT, ctx)
    row_tokens_B = mask_BT.sum(dim=1).clamp(min=1)
    row_means_B = loss_BT.sum(dim=1) / row_tokens_B
    return row_means_B.sum() * ctx.world_size / ctx.num_sequences


@AGGREGATIONS.register("micro_batch_token_mean")
def micro_batch_token_mean(loss_BT: torch.Tensor, mask_BT: torch.Tensor, ctx: StepContext) -> torch.Tensor:
    """Emulate the "mean of micro-batch means" bug: each micro-batch's own token mean / K.

    step loss = (1 / (D * K)) * sum over ranks and micro-batches of sum(l * m) / n_micro, so a
    token's weight is 1 / (D * K * n_micro) and tokens of short micro-batches count more. DDP's
    gradient average supplies the 1 / D. This is TRL 1.16's loss_type "bnpo" and bug B of
    Limozin et al. (arXiv 2604.23747). A micro-batch without supervised tokens contributes 0.
    """
    loss_BT, mask_BT = _checked_masked_loss(loss_BT, mask_BT, ctx)
    micro_tokens = mask_BT.sum().clamp(min=1)
    return loss_BT.sum() / micro_tokens / ctx.num_micro_batches


@AGGREGATIONS.register("constant")
def constant_normaliser(loss_BT: torch.Tensor, mask_BT: torch.Tensor, ctx: StepContext) -> torch.Tensor:
    """Divide the step's loss sum by a constant: step loss = sum(l * m) / (S_step * L_max).

    Dr. GRPO (arXiv 2503.20783), TRL 1.16's loss_type "dr_grpo". Contribution:
    sum(l * m) * D / (S_step * L_max). L_max is ``ctx.max_length``, a fixed setting such as the
    maximum number of new tokens. It is never the padded width of a batch, which would change
    with the batch's composition.
    """
    if ctx.max_length is None:
        raise ValueError(
            "aggregation mode 'constant' needs StepContext.max_length, the constant normaliser "
            "L_max (e.g. the maximum number of new tokens); set it when building the StepContext"
        )
    loss_BT, mask_BT = _checked_masked_loss(loss_BT, mask_BT, ctx)
    return loss_BT.sum() * ctx.world_size / (ctx.num_sequences * ctx.max_length)


@AGGREGATIONS.register("seq_mean_token_sum")
def seq_mean_token_sum(loss_BT: torch.Tensor, mask_BT: torch.Tensor, ctx: StepContext) -> torch.Tensor:
    """Compute the mean over the step's sequences of each sequence's token sum.

    step loss = sum(l * m) / S_step. Contribution: sum(l * m) * D / S_step.
    """
    loss_BT, mask_BT = _checked_masked_loss(loss_BT, mask_BT, ctx)
    return loss_BT.sum() * ctx.world_size / ctx.num_sequences
