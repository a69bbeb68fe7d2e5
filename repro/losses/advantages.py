"""Advantage estimators: one advantage per response from the rewards of its group.

Shapes: P prompts, G responses per prompt (a group). Every estimator in ADVANTAGE_ESTIMATORS
takes rewards_PG and keyword parameters and returns advantages_PG:

    advantages_PG = ADVANTAGE_ESTIMATORS.get("grpo")(rewards_PG, std="unbiased", eps=1e-6)

A group whose rewards are all equal carries no learning signal, so its advantages are set to
exactly 0 (never NaN, never float noise from subtracting the mean).

Also here: ``mixed_group_advantage`` for groups that mix on-policy responses with
demonstrations, and ``opd_advantage``, the per-token advantage of on-policy distillation.
"""

from __future__ import annotations

from typing import Callable

import torch

from repro.losses._checks import as_bool_mask, check_float_tensor, check_positive_finite, check_same_shape
from repro.utils.registry import Registry

AdvantageEstimator = Callable[..., torch.Tensor]

ADVANTAGE_ESTIMATORS: Registry[AdvantageEstimator] = Registry("advantage estimator")

STD_CONVENTIONS = ("unbiased", "population")


def _checked_rewards(rewards_PG: object) -> torch.Tensor:
    if not isinstance(rewards_PG, torch.Tensor):
        raise TypeError(f"rewards_PG must be a torch.Tensor, got {type(rewards_PG).__name__}")
    if rewards_PG.dim() != 2 or rewards_PG.shape[1] == 0:
        raise ValueError(
            f"rewards_PG must have shape (P prompts, G responses) with G >= 1, got shape "
            f"{tuple(rewards_PG.shape)}; reshape a flat reward vector with .view(P, G)"
        )
    if not rewards_PG.is_floating_point():
        rewards_PG = rewards_PG.to(torch.get_default_dtype())
    if not bool(torch.isfinite(rewards_PG).all()):
        bad = torch.nonzero(~torch.isfinite(rewards_PG))[0].tolist()
        raise ValueError(
            f"rewards_PG contains a non-finite value {rewards_PG[bad[0], bad[1]].item()} at "
            f"[prompt {bad[0]}, response {bad[1]}]; fix the reward function"
        )
    return rewards_PG


def _constant_groups(rewards_PG: torch.Tensor) -> torch.Tensor:
    """Return a (P, 1) bool tensor that is True where all G rewards of a group are equal."""
    return (rewards_PG == rewards_PG[:, :1]).all(dim=1, keepdim=True)


def _check_std_options(std: str, eps: float) -> None:
    if std not in STD_CONVENTIONS:
        raise ValueError(f"std must be one of {list(STD_CONVENTIONS)}, got {std!r}")
    check_positive_finite("eps", eps)


def _group_normalise(rewards_PG: torch.Tensor, std: str | None, eps: float) -> torch.Tensor:
    """Centre each group on its mean and, unless ``std`` is None, divide by (std + eps)."""
    constant_P1 = _constant_groups(rewards_PG)
    centred_PG = rewards_PG - rewards_PG.mean(dim=1, keepdim=True)

    if std is not None:
        group_size = rewards_PG.shape[1]
        correction = 1 if std == "unbiased" else 0
        if group_size - correction < 1:
            # A single response has no unbiased std, and its group is constant anyway.
            return torch.zeros_like(rewards_PG)
        std_P1 = (centred_PG.square().sum(dim=1, keepdim=True) / (group_size - correction)).sqrt()
        centred_PG = centred_PG / (std_P1 + eps)

    return torch.where(constant_P1, torch.zeros_like(centred_PG), centred_PG)


@ADVANTAGE_ESTIMATORS.register("grpo")
def grpo_advantage(rewards_PG: torch.Tensor, std: str = "unbiased", eps: float = 1e-6) -> torch.Tensor:
    """Compute A_i = (R_i - mean_G R) / (std_G R + eps), the GRPO group-normalised advantage.

    std selects the standard deviation: "unbiased" divides the sum of squares by G - 1, as
    torch.std does by default and TRL 1.16's GRPOTrainer does (there with eps 1e-4).
    "population" divides by G. The two differ by the factor sqrt(G / (G - 1)). Groups with
    equal rewards get exactly 0.
    """
    _check_std_options(std, eps)
    rewards_PG = _checked_rewards(rewards_PG)
    return _group_normalise(rewards_PG, std=std, eps=eps)


@ADVANTAGE_ESTIMATORS.register("dr_grpo")
def dr_grpo_advantage(rewards_PG: torch.Tensor) -> torch.Tensor:
    """Compute A_i = R_i - mean_G R (Dr. GRPO, arXiv 2503.20783: mean-centred, no std division).

    Groups with equal rewards get exactly 0.
    """
    rewards_PG = _checked_rewards(rewards_PG)
    return _group_normalise(rewards_PG, std=None, eps=0.0)


@ADVANTAGE_ESTIMATORS.register("rloo")
def rloo_advantage(rewards_PG: torch.Tensor) -> torch.Tensor:
    """Compute A_i = R_i - mean of the other G - 1 rewards (REINFORCE leave-one-out).

    Equals G / (G - 1) * (R_i - mean_G R). Needs G >= 2. Groups with equal rewards get exactly 0.
    """
    rewards_PG = _checked_rewards(rewards_PG)
    group_size = rewards_PG.shape[1]
    if group_size < 2:
        raise ValueError(
            f"rloo needs at least 2 responses per prompt for a leave-one-out baseline, got G={group_size}; "
            "sample more responses per prompt or use the 'dr_grpo' estimator"
        )

    others_mean_PG = (rewards_PG.sum(dim=1, keepdim=True) - rewards_PG) / (group_size - 1)
    advantages_PG = rewards_PG - others_mean_PG
    return torch.where(_constant_groups(rewards_PG), torch.zeros_like(advantages_PG), advantages_PG)


def mixed_group_advantage(
    on_policy_rewards_PG: torch.Tensor,
    off_policy_rewards_PM: torch.Tensor,
    *,
    use_std: bool,
    std: str = "unbiased",
    eps: float = 1e-6,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Compute group advantages for groups of G on-policy responses plus M demonstrations.

    The group statistics (mean, and std when ``use_std``) are taken over the union of the
    G + M rewards of each prompt, as in LUFFY (arXiv 2504.14945). Example: on-policy rewards
    [0]*7 and one demonstration with reward 1, without std, give +0.875 to the demonstration
    and -0.125 to each on-policy response. Taking the mean over the on-policy responses only
    would give +1.0 and 0.0, which is a different method.

    Returns (on_policy_advantages_PG, off_policy_advantages_PM). ``std`` and ``eps`` are
    used as in ``grpo_advantage``. Groups with equal rewards get exactly 0.
    """
    if not isinstance(use_std, bool):
        raise TypeError(f"use_std must be True or False, got {use_std!r}")
    _check_std_options(std, eps)
    on_policy_rewards_PG = _checked_rewards(on_policy_rewards_PG)
    off_policy_rewards_PM = _checked_rewards(off_policy_rewards_PM)
    if on_policy_rewards_PG.shape[0] != off_policy_rewards_PM.shape[0]:
        raise ValueError(
            f"on_policy_rewards_PG has {on_policy_rewards_PG.shape[0]} prompts but "
            f"off_policy_rewards_PM has {off_policy_rewards_PM.shape[0]}; both need one row per prompt"
        )

    dtype = torch.promote_types(on_policy_rewards_PG.dtype, off_policy_rewards_PM.dtype)
    union_PN = torch.cat([on_policy_rewards_PG.to(dtype), off_policy_rewards_PM.to(dtype)], dim=1)
    advantages_PN = _group_normalise(union_PN, std=std if use_std else None, eps=eps)

    group_size = on_policy_rewards_PG.shape[1]
    return advantages_PN[:, :group_size], advantages_PN[:, group_size:]


def opd_advantage(
    teacher_logprobs_BT: torch.Tensor, sampler_logprobs_BT: torch.Tensor, mask_BT: torch.Tensor
) -> torch.Tensor:
    """Compute the on-policy distillation advantage A_t = log pi_T(y_t) - log pi_old(y_t).

    This is minus the sampled-token estimate of the reverse KL(pi_old || pi_T) of on-policy
    distillation (GKD, arXiv 2306.13649). Returns advantages_BT, detached because an advantage
    is a constant in the policy-gradient loss. It is exactly 0 at masked positions, even where
    an input contains NaN or inf there.
    """
    check_float_tensor("teacher_logprobs_BT", teacher_logprobs_BT, ndim=2)
    check_float_tensor("sampler_logprobs_BT", sampler_logprobs_BT, ndim=2)
    check_same_shape("teacher_logprobs_BT", teacher_logprobs_BT, sampler_logprobs_BT=sampler_logprobs_BT)
    mask_BT = as_bool_mask(mask_BT, teacher_logprobs_BT.shape)

    teacher_BT = torch.where(mask_BT, teacher_logprobs_BT.detach(), 0.0)
    sampler_BT = torch.where(mask_BT, sampler_logprobs_BT.detach(), 0.0)
    return teacher_BT - sampler_BT
