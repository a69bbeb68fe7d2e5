"""Tests of the per-token policy losses against hand-computed values."""

import math

import pytest
import torch

from repro.losses import POLICY_LOSSES

F64 = torch.float64


def inputs_from_ratios(ratios, advantages):
    """Return (logprobs_BT as a leaf, old_logprobs_BT, advantages_BT, mask_BT) with the given ratios."""
    old_logprobs_BT = torch.full((1, len(ratios)), -1.0, dtype=F64)
    logprobs_BT = (old_logprobs_BT + torch.log(torch.tensor([ratios], dtype=F64))).requires_grad_(True)
    advantages_BT = torch.tensor([advantages], dtype=F64)
    mask_BT = torch.ones(1, len(ratios), dtype=torch.bool)
    return logprobs_BT, old_logprobs_BT, advantages_BT, mask_BT


# Ratios and advantages with eps = 0.2 on both sides, one token per case:
#   r=1.0 A=+1: -1.0                         r=1.5 A=+1: clipped high, -1.2
#   r=0.5 A=-1: clipped low, +0.8            r=1.1 A=-2: +2.2
#   r=0.5 A=+1: min keeps r*A, -0.5          r=1.5 A=-1: min keeps r*A, +1.5
RATIOS = [1.0, 1.5, 0.5, 1.1, 0.5, 1.5]
ADVANTAGES = [1.0, 1.0, -1.0, -2.0, 1.0, -1.0]
EXPECTED_LOSS = [-1.0, -1.2, 0.8, 2.2, -0.5, 1.5]
# d(-r*A)/d(logp) = -r*A where the unclipped term is active, 0 where the clip is.
EXPECTED_GRAD = [-1.0, 0.0, 0.0, 2.2, -0.5, 1.5]


def test_registered_policy_losses():
    assert POLICY_LOSSES.names() == ["clipped", "importance_sampling"]


def test_clipped_values():
    loss_BT, _ = POLICY_LOSSES.get("clipped")(*inputs_from_ratios(RATIOS, ADVANTAGES), eps_low=0.2)

    torch.testing.assert_close(loss_BT, torch.tensor([EXPECTED_LOSS], dtype=F64))


def test_clipped_gradient():
    logprobs_BT, old_BT, advantages_BT, mask_BT = inputs_from_ratios(RATIOS, ADVANTAGES)

    loss_BT, _ = POLICY_LOSSES.get("clipped")(logprobs_BT, old_BT, advantages_BT, mask_BT, eps_low=0.2)
    loss_BT.sum().backward()

    torch.testing.assert_close(logprobs_BT.grad, torch.tensor([EXPECTED_GRAD], dtype=F64))


def test_clipped_stats():
    _, stats = POLICY_LOSSES.get("clipped")(*inputs_from_ratios(RATIOS, ADVANTAGES), eps_low=0.2)

    assert stats["clip_fraction_low"].item() == pytest.approx(1 / 6)
    assert stats["clip_fraction_high"].item() == pytest.approx(1 / 6)
    assert stats["clip_fraction"].item() == pytest.approx(2 / 6)
    assert stats["ratio_mean"].item() == pytest.approx(sum(RATIOS) / 6)
    assert "dual_clip_fraction" not in stats
    assert all(not value.requires_grad for value in stats.values())


def test_clip_higher_uses_separate_bounds():
    # r = 1.25, A = 1: clipped at 1.2 with eps_high = 0.2, kept with eps_high = 0.28.
    # r = 0.75, A = -1: clipped at 0.8 with eps_low = 0.2 in both cases.
    loss_fn = POLICY_LOSSES.get("clipped")
    inputs = inputs_from_ratios([1.25, 0.75], [1.0, -1.0])

    symmetric_BT, _ = loss_fn(*inputs, eps_low=0.2)
    higher_BT, stats = loss_fn(*inputs, eps_low=0.2, eps_high=0.28)

    torch.testing.assert_close(symmetric_BT, torch.tensor([[-1.2, 0.8]], dtype=F64))
    torch.testing.assert_close(higher_BT, torch.tensor([[-1.25, 0.8]], dtype=F64))
    assert stats["clip_fraction_high"].item() == 0.0
    assert stats["clip_fraction_low"].item() == 0.5


def test_dual_clip_caps_negative_advantage_loss():
    # r=5 A=-1: plain loss 5, capped at c * |A| = 3.   r=2 A=-1: 2, below the cap.
    # r=5 A=+1: clipped high to -1.2, the dual clip applies to A < 0 only.
    logprobs_BT, old_BT, advantages_BT, mask_BT = inputs_from_ratios([5.0, 2.0, 5.0], [-1.0, -1.0, 1.0])
    loss_fn = POLICY_LOSSES.get("clipped")

    plain_BT, _ = loss_fn(logprobs_BT, old_BT, advantages_BT, mask_BT, eps_low=0.2)
    dual_BT, stats = loss_fn(logprobs_BT, old_BT, advantages_BT, mask_BT, eps_low=0.2, dual_clip=3.0)
    dual_BT.sum().backward()

    torch.testing.assert_close(plain_BT.detach(), torch.tensor([[5.0, 2.0, -1.2]], dtype=F64))
    torch.testing.assert_close(dual_BT.detach(), torch.tensor([[3.0, 2.0, -1.2]], dtype=F64))
    torch.testing.assert_close(logprobs_BT.grad, torch.tensor([[0.0, 2.0, 0.0]], dtype=F64))
    assert stats["dual_clip_fraction"].item() == pytest.approx(1 / 3)


def test_importance_sampling_is_unclipped():
    logprobs_BT, old_BT, advantages_BT, mask_BT = inputs_from_ratios(RATIOS, ADVANTAGES)

    loss_BT, stats = POLICY_LOSSES.get("importance_sampling")(logprobs_BT, old_BT, advantages_BT, mask_BT)
    loss_BT.sum().backward()

    expected = [-r * a for r, a in zip(RATIOS, ADVANTAGES)]
    torch.testing.assert_close(loss_BT.detach(), torch.tensor([expected], dtype=F64))
    torch.testing.assert_close(logprobs_BT.grad, torch.tensor([expected], dtype=F64))
    assert stats["ratio_mean"].item() == pytest.approx(sum(RATIOS) / 6)


def test_importance_sampling_on_policy_gradient_is_reinforce():
    logprobs_BT = torch.tensor([[-0.3, -2.0]], dtype=F64, requires_grad=True)
    advantages_BT = torch.tensor([[0.5, -1.5]], dtype=F64)

    loss_BT, _ = POLICY_LOSSES.get("importance_sampling")(
        logprobs_BT, logprobs_BT.detach(), advantages_BT, torch.ones(1, 2)
    )
    loss_BT.sum().backward()

    torch.testing.assert_close(logprobs_BT.grad, -advantages_BT)


@pytest.mark.parametrize("name", ["clipped", "importance_sampling"])
@pytest.mark.parametrize("garbage", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("slot", ["logprobs", "old_logprobs", "advantages"])
def test_masked_garbage_reaches_neither_loss_nor_gradient(name, garbage, slot):
    values = {
        "logprobs": torch.tensor([[-0.5, -0.5]], dtype=F64),
        "old_logprobs": torch.tensor([[-0.5, -0.5]], dtype=F64),
        "advantages": torch.tensor([[1.0, 1.0]], dtype=F64),
    }
    values[slot][0, 1] = garbage
    logprobs_BT = values["logprobs"].requires_grad_(True)
    mask_BT = torch.tensor([[1, 0]])

    loss_BT, stats = POLICY_LOSSES.get(name)(logprobs_BT, values["old_logprobs"], values["advantages"], mask_BT)
    loss_BT.sum().backward()

    assert loss_BT.tolist() == [[-1.0, 0.0]]
    assert logprobs_BT.grad.tolist() == [[-1.0, 0.0]]
    assert stats["ratio_mean"].item() == 1.0


@pytest.mark.parametrize("name", ["clipped", "importance_sampling"])
def test_huge_log_ratio_keeps_gradient_finite(name):
    # logp - old_logp = 100 overflows exp() in float32 without the bound on the log-ratio.
    logprobs_BT = torch.tensor([[0.0]], requires_grad=True)

    loss_BT, _ = POLICY_LOSSES.get(name)(logprobs_BT, torch.tensor([[-100.0]]), torch.tensor([[1.0]]), torch.ones(1, 1))
    loss_BT.sum().backward()

    assert torch.isfinite(loss_BT).all()
    assert torch.isfinite(logprobs_BT.grad).all()


def test_all_masked_gives_zero_loss_and_stats():
    logprobs_BT, old_BT, advantages_BT, _ = inputs_from_ratios([2.0, 0.1], [1.0, -1.0])

    loss_BT, stats = POLICY_LOSSES.get("clipped")(logprobs_BT, old_BT, advantages_BT, torch.zeros(1, 2), dual_clip=3.0)

    assert loss_BT.tolist() == [[0.0, 0.0]]
    assert {key: value.item() for key, value in stats.items()} == {
        "clip_fraction_low": 0.0,
        "clip_fraction_high": 0.0,
        "clip_fraction": 0.0,
        "ratio_mean": 0.0,
        "dual_clip_fraction": 0.0,
    }


def test_old_logprobs_and_advantages_are_constants():
    logprobs_BT = torch.tensor([[-0.5]], dtype=F64, requires_grad=True)
    old_BT = torch.tensor([[-0.7]], dtype=F64, requires_grad=True)
    advantages_BT = torch.tensor([[2.0]], dtype=F64, requires_grad=True)

    loss_BT, _ = POLICY_LOSSES.get("importance_sampling")(logprobs_BT, old_BT, advantages_BT, torch.ones(1, 1))
    loss_BT.sum().backward()

    assert logprobs_BT.grad is not None
    assert old_BT.grad is None
    assert advantages_BT.grad is None


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"eps_low": 1.0}, "eps_low must be in \\[0, 1\\), got 1.0"),
        ({"eps_low": -0.1}, "eps_low must be in \\[0, 1\\), got -0.1"),
        ({"eps_high": -0.1}, "eps_high must be a finite number >= 0, got -0.1"),
        ({"dual_clip": 1.0}, "dual_clip must be a finite number > 1 \\(3 is typical\\) or None, got 1.0"),
    ],
)
def test_clipped_rejects_invalid_params(params, message):
    with pytest.raises(ValueError, match=message):
        POLICY_LOSSES.get("clipped")(*inputs_from_ratios([1.0], [1.0]), **params)


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match="advantages_BT has shape \\(1, 2\\) but logprobs_BT has shape \\(1, 3\\)"):
        POLICY_LOSSES.get("clipped")(torch.zeros(1, 3), torch.zeros(1, 3), torch.zeros(1, 2), torch.ones(1, 3))


def test_mask_shape_mismatch_raises():
    with pytest.raises(ValueError, match="mask_BT has shape \\(1, 2\\) but the per-token values have shape \\(1, 3\\)"):
        POLICY_LOSSES.get("clipped")(torch.zeros(1, 3), torch.zeros(1, 3), torch.zeros(1, 3), torch.ones(1, 2))
