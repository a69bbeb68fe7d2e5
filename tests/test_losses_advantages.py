"""Tests of the advantage estimators, mixed_group_advantage and opd_advantage."""

import math

import pytest
import torch

from repro.losses import ADVANTAGE_ESTIMATORS, mixed_group_advantage, opd_advantage

F64 = torch.float64


def rewards(*rows) -> torch.Tensor:
    return torch.tensor(rows, dtype=F64)


def test_registered_estimators():
    assert ADVANTAGE_ESTIMATORS.names() == ["dr_grpo", "grpo", "rloo"]


def test_grpo_std_conventions():
    # Rewards [1, 0, 0, 0]: mean 0.25, squares sum 0.75.
    # Unbiased std sqrt(0.75 / 3) = 0.5, population std sqrt(0.75 / 4) = sqrt(3) / 4.
    grpo = ADVANTAGE_ESTIMATORS.get("grpo")
    rewards_PG = rewards([1, 0, 0, 0])

    unbiased_PG = grpo(rewards_PG, std="unbiased", eps=1e-6)
    population_PG = grpo(rewards_PG, std="population", eps=1e-6)

    torch.testing.assert_close(unbiased_PG, rewards([0.75 / (0.5 + 1e-6)] + [-0.25 / (0.5 + 1e-6)] * 3))
    pop_std = math.sqrt(3) / 4
    torch.testing.assert_close(population_PG, rewards([0.75 / (pop_std + 1e-6)] + [-0.25 / (pop_std + 1e-6)] * 3))


def test_grpo_default_is_unbiased():
    grpo = ADVANTAGE_ESTIMATORS.get("grpo")
    rewards_PG = rewards([0.0, 1.0, 3.0])

    torch.testing.assert_close(grpo(rewards_PG), grpo(rewards_PG, std="unbiased", eps=1e-6))


def test_grpo_normalises_each_group_separately():
    # Row 2 is row 1 scaled by 10 and shifted by 5, so its normalised advantages match row 1's
    # up to eps.
    grpo = ADVANTAGE_ESTIMATORS.get("grpo")

    advantages_PG = grpo(rewards([0.0, 1.0, 3.0], [5.0, 15.0, 35.0]), eps=1e-12)

    torch.testing.assert_close(advantages_PG[0], advantages_PG[1])


@pytest.mark.parametrize("name", ["grpo", "dr_grpo", "rloo"])
def test_constant_group_gives_exact_zeros(name):
    estimator = ADVANTAGE_ESTIMATORS.get(name)
    # 0.1 * 3 / 3 - 0.1 is not exactly 0 in floating point, so the zeros must be set explicitly.
    rewards_PG = rewards([0.1, 0.1, 0.1], [1.0, 0.0, 1.0])

    advantages_PG = estimator(rewards_PG)

    assert advantages_PG[0].tolist() == [0.0, 0.0, 0.0]
    assert (advantages_PG[1] != 0).all()


@pytest.mark.parametrize("std", ["unbiased", "population"])
def test_grpo_single_response_group_is_zero(std):
    advantages_PG = ADVANTAGE_ESTIMATORS.get("grpo")(rewards([1.0], [0.0]), std=std)

    assert advantages_PG.tolist() == [[0.0], [0.0]]


def test_dr_grpo_centres_without_std():
    advantages_PG = ADVANTAGE_ESTIMATORS.get("dr_grpo")(rewards([3.0, 1.0, 2.0]))

    torch.testing.assert_close(advantages_PG, rewards([1.0, -1.0, 0.0]))


def test_rloo_subtracts_mean_of_others():
    # Rewards [3, 1, 2]: baselines (1+2)/2, (3+2)/2, (3+1)/2.
    advantages_PG = ADVANTAGE_ESTIMATORS.get("rloo")(rewards([3.0, 1.0, 2.0]))

    torch.testing.assert_close(advantages_PG, rewards([1.5, -1.5, 0.0]))


def test_rloo_rejects_single_response():
    with pytest.raises(ValueError, match="rloo needs at least 2 responses per prompt.*got G=1"):
        ADVANTAGE_ESTIMATORS.get("rloo")(rewards([1.0]))


def test_integer_rewards_are_accepted():
    advantages_PG = ADVANTAGE_ESTIMATORS.get("dr_grpo")(torch.tensor([[1, 0]]))

    assert advantages_PG.is_floating_point()
    assert advantages_PG.tolist() == [[0.5, -0.5]]


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_reward_raises(bad):
    with pytest.raises(ValueError, match=r"non-finite value .* at \[prompt 1, response 0\]"):
        ADVANTAGE_ESTIMATORS.get("grpo")(rewards([1.0, 0.0], [bad, 0.0]))


def test_flat_rewards_raise():
    with pytest.raises(ValueError, match=r"shape \(P prompts, G responses\).*\.view\(P, G\)"):
        ADVANTAGE_ESTIMATORS.get("grpo")(torch.tensor([1.0, 0.0]))


def test_invalid_std_convention_raises():
    with pytest.raises(ValueError, match="std must be one of \\['unbiased', 'population'\\], got 'sample'"):
        ADVANTAGE_ESTIMATORS.get("grpo")(rewards([1.0, 0.0]), std="sample")


@pytest.mark.parametrize("eps", [0.0, -1e-6, math.nan])
def test_invalid_eps_raises(eps):
    with pytest.raises(ValueError, match="eps must be a finite number > 0"):
        ADVANTAGE_ESTIMATORS.get("grpo")(rewards([1.0, 0.0]), eps=eps)


def test_mixed_group_mean_over_union():
    # On-policy [1, 0], demonstration [1]: union mean 2/3.
    on_PG, off_PM = mixed_group_advantage(rewards([1.0, 0.0]), rewards([1.0]), use_std=False)

    torch.testing.assert_close(on_PG, rewards([1 / 3, -2 / 3]))
    torch.testing.assert_close(off_PM, rewards([1 / 3]))


def test_mixed_group_with_std_over_union():
    # Union [1, 0, 1, 1]: mean 0.75, unbiased std sqrt((3 * 0.0625 + 0.5625) / 3) = 0.5.
    on_PG, off_PM = mixed_group_advantage(
        rewards([1.0, 0.0]), rewards([1.0, 1.0]), use_std=True, std="unbiased", eps=1e-6
    )

    torch.testing.assert_close(on_PG, rewards([0.25 / (0.5 + 1e-6), -0.75 / (0.5 + 1e-6)]))
    torch.testing.assert_close(off_PM, rewards([0.25 / (0.5 + 1e-6)] * 2))


def test_mixed_group_constant_union_is_zero():
    on_PG, off_PM = mixed_group_advantage(rewards([1.0, 1.0]), rewards([1.0]), use_std=True)

    assert on_PG.tolist() == [[0.0, 0.0]]
    assert off_PM.tolist() == [[0.0]]


def test_mixed_group_requires_explicit_use_std():
    with pytest.raises(TypeError):
        mixed_group_advantage(rewards([1.0, 0.0]), rewards([1.0]))
    with pytest.raises(TypeError, match="use_std must be True or False, got 'no'"):
        mixed_group_advantage(rewards([1.0, 0.0]), rewards([1.0]), use_std="no")


def test_mixed_group_prompt_count_mismatch_raises():
    with pytest.raises(ValueError, match="on_policy_rewards_PG has 2 prompts but off_policy_rewards_PM has 1"):
        mixed_group_advantage(rewards([1.0], [0.0]), rewards([1.0]), use_std=False)


def test_opd_advantage_is_teacher_minus_sampler():
    teacher_BT = torch.tensor([[-0.5, -1.0, -2.0]], dtype=F64)
    sampler_BT = torch.tensor([[-1.5, -0.25, -2.0]], dtype=F64)
    mask_BT = torch.tensor([[1, 1, 1]])

    advantages_BT = opd_advantage(teacher_BT, sampler_BT, mask_BT)

    torch.testing.assert_close(advantages_BT, torch.tensor([[1.0, -0.75, 0.0]], dtype=F64))


def test_opd_advantage_masked_garbage_is_zero():
    teacher_BT = torch.tensor([[-0.5, math.nan, -math.inf]], dtype=F64)
    sampler_BT = torch.tensor([[-1.5, -1.0, math.nan]], dtype=F64)
    mask_BT = torch.tensor([[True, False, False]])

    advantages_BT = opd_advantage(teacher_BT, sampler_BT, mask_BT)

    assert advantages_BT.tolist() == [[1.0, 0.0, 0.0]]


def test_opd_advantage_is_detached():
    sampler_BT = torch.tensor([[-1.5]], dtype=F64, requires_grad=True)

    advantages_BT = opd_advantage(torch.tensor([[-0.5]], dtype=F64), sampler_BT, torch.tensor([[1]]))

    assert not advantages_BT.requires_grad


def test_opd_advantage_shape_mismatch_raises():
    with pytest.raises(ValueError, match="sampler_logprobs_BT has shape \\(1, 2\\) but teacher_logprobs_BT"):
        opd_advantage(torch.zeros(1, 3), torch.zeros(1, 2), torch.ones(1, 3))


def test_opd_advantage_rejects_weighted_mask():
    with pytest.raises(ValueError, match="mask_BT must contain only 0 and 1.*found 0.5"):
        opd_advantage(torch.zeros(1, 2), torch.zeros(1, 2), torch.tensor([[1.0, 0.5]]))
