"""Per-token estimators of KL(pi_theta || pi_ref) from the log-probs of sampled tokens.

Every estimator in KL_ESTIMATORS has the signature

    kl_BT = KL_ESTIMATORS.get(name)(logprobs_BT, ref_logprobs_BT, mask_BT)

with log r = ref_logprobs - logprobs for tokens sampled from pi_theta (Schulman, "Approximating
KL Divergence", 2020):

    k1 = -log r              unbiased; as a loss its expected gradient is 0
    k2 = (log r)^2 / 2       biased, low variance; as a loss its expected gradient is
                             that of KL(pi_theta || pi_ref)
    k3 = r - 1 - log r       unbiased and never negative; as a loss its expected gradient
                             is that of the forward KL(pi_ref || pi_theta). TRL 1.16's
                             GRPOTrainer uses it.

The result is 0 at masked positions, and NaN or inf in a masked slot reaches neither the value
nor the gradient. Use ``kl_penalty`` to get it as a differentiable loss term or as a detached
reward penalty.
"""

from __future__ import annotations

from typing import Callable

import torch

from repro.losses._checks import as_bool_mask, check_float_tensor, check_same_shape
from repro.utils.registry import Registry

KLEstimator = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]

KL_ESTIMATORS: Registry[KLEstimator] = Registry("KL estimator")


def _masked_log_ratio(
    logprobs_BT: torch.Tensor, ref_logprobs_BT: torch.Tensor, mask_BT: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (log r = ref - logp with 0 at masked positions, mask as bool)."""
    check_float_tensor("logprobs_BT", logprobs_BT, ndim=2)
    check_float_tensor("ref_logprobs_BT", ref_logprobs_BT, ndim=2)
    check_same_shape("logprobs_BT", logprobs_BT, ref_logprobs_BT=ref_logprobs_BT)
    mask_BT = as_bool_mask(mask_BT, logprobs_BT.shape)

    logprobs_BT = torch.where(mask_BT, logprobs_BT, 0.0)
    ref_logprobs_BT = torch.where(mask_BT, ref_logprobs_BT, 0.0)
    return ref_logprobs_BT - logprobs_BT, mask_BT


@KL_ESTIMATORS.register("k1")
def kl_k1(logprobs_BT: torch.Tensor, ref_logprobs_BT: torch.Tensor, mask_BT: torch.Tensor) -> torch.Tensor:
    """Compute k1 = logp - ref_logp per token."""
    log_ratio_BT, _ = _masked_log_ratio(logprobs_BT, ref_logprobs_BT, mask_BT)
    return -log_ratio_BT


@KL_ESTIMATORS.register("k2")
def kl_k2(logprobs_BT: torch.Tensor, ref_logprobs_BT: torch.Tensor, mask_BT: torch.Tensor) -> torch.Tensor:
    """Compute k2 = (logp - ref_logp)^2 / 2 per token."""
    log_ratio_BT, _ = _masked_log_ratio(logprobs_BT, ref_logprobs_BT, mask_BT)
    return log_ratio_BT.square() / 2


@KL_ESTIMATORS.register("k3")
def kl_k3(logprobs_BT: torch.Tensor, ref_logprobs_BT: torch.Tensor, mask_BT: torch.Tensor) -> torch.Tensor:
    """Compute k3 = exp(ref_logp - logp) - 1 - (ref_logp - logp) per token.

    NOTE: exp() overflows to inf once ref_logp - logp exceeds about 88 in float32. No clamp is
    applied, so such a token gives an infinite value rather than a silently wrong one.
    """
    log_ratio_BT, _ = _masked_log_ratio(logprobs_BT, ref_logprobs_BT, mask_BT)

    # expm1(x) - x is exp(x) - 1 - x without the cancellation of 1 - 1 for small x.
    return torch.expm1(log_ratio_BT) - log_ratio_BT


def kl_penalty(
    logprobs_BT: torch.Tensor,
    ref_logprobs_BT: torch.Tensor,
    mask_BT: torch.Tensor,
    estimator: str = "k3",
    detach: bool = True,
) -> torch.Tensor:
    """Compute the per-token KL estimate kl_BT with the named estimator.

    With ``detach=True`` the result carries no gradient, for use as a reward penalty
    (reward_t - beta * kl_t). With ``detach=False`` it is a differentiable loss term to add to
    the per-token loss before aggregation. The coefficient beta is the caller's.
    """
    if not isinstance(detach, bool):
        raise TypeError(f"detach must be True or False, got {detach!r}")
    kl_BT = KL_ESTIMATORS.get(estimator)(logprobs_BT, ref_logprobs_BT, mask_BT)
    return kl_BT.detach() if detach else kl_BT
