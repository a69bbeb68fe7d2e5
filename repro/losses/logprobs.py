"""Per-token log-probabilities, entropies and the SFT negative log-likelihood.

Shapes: B sequences, T token positions, V vocabulary entries. The logits at position t are
the ones that predict ``ids_BT[:, t]``: shifting logits against labels is the caller's job.
"""

from __future__ import annotations

import torch

from repro.losses._checks import check_float_tensor, check_positive_finite


def _scaled_logits(logits_BTV: torch.Tensor, temperature: float) -> torch.Tensor:
    check_float_tensor("logits_BTV", logits_BTV, ndim=3)
    check_positive_finite("temperature", temperature)

    # Half-precision logits lose too much precision in log-softmax, so they are upcast to float32.
    compute_dtype = torch.promote_types(logits_BTV.dtype, torch.float32)
    return logits_BTV.to(compute_dtype) / temperature


def token_logprobs(
    logits_BTV: torch.Tensor, ids_BT: torch.Tensor, temperature: float = 1.0
) -> torch.Tensor:
    """Compute log pi(ids | context) at the given sampling temperature.

    Returns logprobs_BT = log_softmax(logits_BTV / temperature)[b, t, ids_BT[b, t]], in float32
    or float64 (bf16 and fp16 logits are upcast to float32). Dividing the logits by the
    temperature before the softmax is what makes these match the sampler's log-probs. Dividing
    the log-probs by T afterwards, or ignoring T, gives different numbers.

    ids_BT must hold valid token ids at every position, masked ones included. Replace an
    ignore index such as -100 by any valid id (the pad id) and mask that position instead.
    """
    scaled_BTV = _scaled_logits(logits_BTV, temperature)
    if not isinstance(ids_BT, torch.Tensor):
        raise TypeError(f"ids_BT must be a torch.Tensor of token ids, got {type(ids_BT).__name__}")
    if ids_BT.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8, torch.int8):
        raise TypeError(f"ids_BT must be an integer tensor, got dtype {ids_BT.dtype}")
    if ids_BT.shape != logits_BTV.shape[:2]:
        raise ValueError(
            f"ids_BT has shape {tuple(ids_BT.shape)} but logits_BTV has shape "
            f"{tuple(logits_BTV.shape)}; the first two dimensions (B, T) must match"
        )

    vocab_size = logits_BTV.shape[-1]
    if ids_BT.numel() > 0:
        low, high = int(ids_BT.min()), int(ids_BT.max())
        if low < 0 or high >= vocab_size:
            bad = low if low < 0 else high
            raise ValueError(
                f"ids_BT contains token id {bad}, outside the vocabulary [0, {vocab_size}); "
                "replace ignore-index labels (e.g. -100) by a valid id and mask those positions"
            )

    # gather - logsumexp avoids a second (B, T, V) tensor that log_softmax would allocate.
    chosen_BT = scaled_BTV.gather(-1, ids_BT.long().unsqueeze(-1)).squeeze(-1)
    return chosen_BT - torch.logsumexp(scaled_BTV, dim=-1)


def token_entropy(logits_BTV: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Compute the entropy in nats of the next-token distribution softmax(logits / temperature).

    Returns entropy_BT. Logits of -inf (vocabulary entries masked out) contribute 0, and their
    gradient is 0 rather than NaN.
    """
    scaled_BTV = _scaled_logits(logits_BTV, temperature)

    logsumexp_BT = torch.logsumexp(scaled_BTV, dim=-1)
    probs_BTV = torch.softmax(scaled_BTV, dim=-1)

    # H = logsumexp(z) - sum_v p_v z_v. Entries with p = 0 (z = -inf) are replaced by 0
    # before the product, because 0 * -inf is NaN in the value and in the gradient.
    safe_scaled_BTV = torch.where(probs_BTV > 0, scaled_BTV, torch.zeros_like(scaled_BTV))
    return logsumexp_BT - (probs_BTV * safe_scaled_BTV).sum(dim=-1)


def sft_nll(logprobs_BT: torch.Tensor) -> torch.Tensor:
    """Return the per-token negative log-likelihood -logprobs_BT of supervised fine-tuning.

    The result is per token (shape B, T). Masking and normalisation over the optimizer step
    belong to the aggregation mode (``repro.losses.aggregation``).
    """
    check_float_tensor("logprobs_BT", logprobs_BT, ndim=2)
    return -logprobs_BT
