"""Per-token policy-gradient losses.

Every loss in POLICY_LOSSES has the signature

    loss_BT, stats = POLICY_LOSSES.get(name)(logprobs_BT, old_logprobs_BT, advantages_BT, mask_BT, **params)

logprobs_BT are the current policy's log-probs of the sampled tokens (differentiable),
old_logprobs_BT those of the policy that sampled them, advantages_BT the per-token
advantages. The last two are constants of the loss, so both are detached. loss_BT is 0 at
masked positions. Reducing it over the optimizer step is the job of the aggregation mode
(``repro.losses.aggregation``). stats maps names to detached 0-dim tensors, each a mean over
the unmasked tokens of this call (0 when there are none).

Masked positions are replaced by 0 in every input before exp() and before any reduction.
Padding often contains NaN or inf (e.g. old log-probs never computed there). A torch.where
applied after exp() keeps the value clean but still sends NaN into the gradient.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from repro.losses._checks import as_bool_mask, check_float_tensor, check_same_shape
from repro.utils.registry import Registry

PolicyLoss = Callable[..., tuple[torch.Tensor, dict[str, torch.Tensor]]]

POLICY_LOSSES: Registry[PolicyLoss] = Registry("policy loss")

# Bound on |log pi - log pi_old| before exp(), as in verl's compute_policy_loss
# (verl/trainer/ppo/core_algos.py). exp(20) = 4.9e8 is finite in float32, bfloat16 and float64
# (not in float16). Without the bound, an overflowing ratio turns the gradient into NaN even
# where the clip is active.
MAX_LOG_RATIO = 20.0


def _masked_inputs(
    logprobs_BT: torch.Tensor,
    old_logprobs_BT: torch.Tensor,
    advantages_BT: torch.Tensor,
    mask_BT: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Check the inputs and return them with 0 at masked positions, plus the mask as bool."""
    check_float_tensor("logprobs_BT", logprobs_BT, ndim=2)
    check_float_tensor("old_logprobs_BT", old_logprobs_BT, ndim=2)
    check_float_tensor("advantages_BT", advantages_BT, ndim=2)
    check_same_shape(
        "logprobs_BT", logprobs_BT, old_logprobs_BT=old_logprobs_BT, advantages_BT=advantages_BT
    )
    mask_BT = as_bool_mask(mask_BT, logprobs_BT.shape)

    logprobs_BT = torch.where(mask_BT, logprobs_BT, 0.0)
    old_logprobs_BT = torch.where(mask_BT, old_logprobs_BT.detach(), 0.0)
    advantages_BT = torch.where(mask_BT, advantages_BT.detach(), 0.0)
    return logprobs_BT, old_logprobs_BT, advantages_BT, mask_BT


def _importance_ratio(logprobs_BT: torch.Tensor, old_logprobs_BT: torch.Tensor) -> torch.Tensor:
    log_ratio_BT = (logprobs_BT - old_logprobs_BT).clamp(-MAX_LOG_RATIO, MAX_LOG_RATIO)
    return torch.exp(log_ratio_BT)


def _masked_fraction(condition_BT: torch.Tensor, mask_BT: torch.Tensor) -> torch.Tensor:
    count = mask_BT.sum().clamp(min=1)
    return ((condition_BT & mask_BT).sum() / count).detach()


def _masked_mean(values_BT: torch.Tensor, mask_BT: torch.Tensor) -> torch.Tensor:
    count = mask_BT.sum().clamp(min=1)
    return (torch.where(mask_BT, values_BT, 0.0).sum() / count).detach()


@POLICY_LOSSES.register("clipped")
def clipped_policy_loss(
    logprobs_BT: torch.Tensor,
    old_logprobs_BT: torch.Tensor,
    advantages_BT: torch.Tensor,
    mask_BT: torch.Tensor,
    *,
    eps_low: float = 0.2,
    eps_high: float | None = None,
    dual_clip: float | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Compute the PPO clipped surrogate per token.

    l_t = -min(r_t * A_t, clip(r_t, 1 - eps_low, 1 + eps_high) * A_t), r_t = exp(logp - old_logp).
    eps_high defaults to eps_low. A larger eps_high is DAPO's clip-higher.
    With ``dual_clip`` = c > 1, the loss of a token with A_t < 0 is capped at -c * A_t
    (dual-clip PPO, arXiv 1912.09729), which bounds the update when r_t is far above 1.

    Stats: ``clip_fraction_low`` (A < 0 and r < 1 - eps_low), ``clip_fraction_high`` (A > 0 and
    r > 1 + eps_high), their sum ``clip_fraction``, ``ratio_mean``, and ``dual_clip_fraction``
    (tokens where the dual-clip cap is active) when dual_clip is set.
    """
    eps_high = eps_low if eps_high is None else eps_high
    if isinstance(eps_low, bool) or not isinstance(eps_low, (int, float)) or not 0 <= eps_low < 1:
        raise ValueError(f"eps_low must be in [0, 1), got {eps_low!r}")
    if isinstance(eps_high, bool) or not isinstance(eps_high, (int, float)) or not 0 <= eps_high < math.inf:
        raise ValueError(f"eps_high must be a finite number >= 0, got {eps_high!r}")
    if dual_clip is not None and (
        isinstance(dual_clip, bool) or not isinstance(dual_clip, (int, float)) or not 1 < dual_clip < math.inf
    ):
        raise ValueError(f"dual_clip must be a finite number > 1 (3 is typical) or None, got {dual_clip!r}")

    logprobs_BT, old_logprobs_BT, advantages_BT, mask_BT = _masked_inputs(
        logprobs_BT, old_logprobs_BT, advantages_BT, mask_BT
    )
    ratio_BT = _importance_ratio(logprobs_BT, old_logprobs_BT)

    unclipped_BT = ratio_BT * advantages_BT
    clipped_BT = ratio_BT.clamp(1 - eps_low, 1 + eps_high) * advantages_BT
    loss_BT = -torch.minimum(unclipped_BT, clipped_BT)

    stats = {
        "clip_fraction_low": _masked_fraction((advantages_BT < 0) & (ratio_BT < 1 - eps_low), mask_BT),
        "clip_fraction_high": _masked_fraction((advantages_BT > 0) & (ratio_BT > 1 + eps_high), mask_BT),
        "ratio_mean": _masked_mean(ratio_BT, mask_BT),
    }
    stats["clip_fraction"] = stats["clip_fraction_low"] + stats["clip_fraction_high"]

    if dual_clip is not None:
        cap_BT = -dual_clip * advantages_BT
        capped_BT = (advantages_BT < 0) & (loss_BT > cap_BT)
        loss_BT = torch.where(capped_BT, cap_BT, loss_BT)
        stats["dual_clip_fraction"] = _masked_fraction(capped_BT, mask_BT)

    return torch.where(mask_BT, loss_BT, 0.0), stats


@POLICY_LOSSES.register("importance_sampling")
def importance_sampling_policy_loss(
    logprobs_BT: torch.Tensor,
    old_logprobs_BT: torch.Tensor,
    advantages_BT: torch.Tensor,
    mask_BT: torch.Tensor,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Compute the unclipped importance-weighted loss l_t = -r_t * A_t, r_t = exp(logp - old_logp).

    This is the on-policy loss of the LUFFY-derived codebases and of on-policy distillation.
    With old_logprobs equal to the current log-probs (detached) its gradient is the plain
    REINFORCE gradient -A_t * grad log pi. Stats: ``ratio_mean``.
    """
    logprobs_BT, old_logprobs_BT, advantages_BT, mask_BT = _masked_inputs(
        logprobs_BT, old_logprobs_BT, advantages_BT, mask_BT
    )
    ratio_BT = _importance_ratio(logprobs_BT, old_logprobs_BT)

    loss_BT = -ratio_BT * advantages_BT
    stats = {"ratio_mean": _masked_mean(ratio_BT, mask_BT)}
    return torch.where(mask_BT, loss_BT, 0.0), stats
