"""Tests of token_logprobs, token_entropy and sft_nll against hand-computed values."""

import math

import pytest
import torch

from repro.losses import sft_nll, token_entropy, token_logprobs

# Logits [2, 1, 0]: S = e^2 + e + 1, log p = logit - log S.
LOG_S_T1 = math.log(math.exp(2) + math.exp(1) + 1)


def logits_2_1_0(dtype=torch.float64) -> torch.Tensor:
    return torch.tensor([[[2.0, 1.0, 0.0]]], dtype=dtype)


def test_logprobs_at_temperature_one():
    logits_BTV = logits_2_1_0().expand(1, 3, 3)
    ids_BT = torch.tensor([[0, 1, 2]])

    logprobs_BT = token_logprobs(logits_BTV, ids_BT)

    expected = torch.tensor([[2 - LOG_S_T1, 1 - LOG_S_T1, -LOG_S_T1]], dtype=torch.float64)
    torch.testing.assert_close(logprobs_BT, expected, rtol=0, atol=1e-12)


def test_logprobs_divide_logits_by_temperature():
    # T = 0.5 gives logits [4, 2, 0]: log p(0) = 4 - log(e^4 + e^2 + 1) = -0.14293163.
    logprobs_BT = token_logprobs(logits_2_1_0(), torch.tensor([[0]]), temperature=0.5)

    expected = 4 - math.log(math.exp(4) + math.exp(2) + 1)
    assert logprobs_BT.item() == pytest.approx(expected, abs=1e-12)
    assert logprobs_BT.item() != pytest.approx((2 - LOG_S_T1) / 0.5, abs=1e-3)


def test_logprobs_upcast_half_precision():
    logprobs_BT = token_logprobs(logits_2_1_0(torch.bfloat16), torch.tensor([[0]]))

    assert logprobs_BT.dtype == torch.float32
    assert logprobs_BT.item() == pytest.approx(2 - LOG_S_T1, abs=1e-6)


def test_logprobs_gradient_is_onehot_minus_softmax():
    logits_BTV = logits_2_1_0().clone().requires_grad_(True)

    token_logprobs(logits_BTV, torch.tensor([[1]])).sum().backward()

    softmax = torch.tensor([math.exp(2), math.exp(1), 1.0], dtype=torch.float64) / math.exp(LOG_S_T1)
    expected = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64) - softmax
    torch.testing.assert_close(logits_BTV.grad[0, 0], expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("bad_id", [-100, 3])
def test_logprobs_reject_out_of_vocabulary_ids(bad_id):
    with pytest.raises(ValueError, match=f"token id {bad_id}, outside the vocabulary \\[0, 3\\)"):
        token_logprobs(logits_2_1_0(), torch.tensor([[bad_id]]))


def test_logprobs_reject_shape_mismatch():
    with pytest.raises(ValueError, match="the first two dimensions \\(B, T\\) must match"):
        token_logprobs(logits_2_1_0(), torch.tensor([[0, 1]]))


def test_logprobs_reject_float_ids():
    with pytest.raises(TypeError, match="ids_BT must be an integer tensor"):
        token_logprobs(logits_2_1_0(), torch.tensor([[0.0]]))


@pytest.mark.parametrize("temperature", [0.0, -1.0, math.inf, math.nan])
def test_logprobs_reject_invalid_temperature(temperature):
    with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
        token_logprobs(logits_2_1_0(), torch.tensor([[0]]), temperature=temperature)


def test_entropy_of_uniform_is_log_vocab():
    entropy_BT = token_entropy(torch.zeros(2, 3, 5, dtype=torch.float64))

    torch.testing.assert_close(entropy_BT, torch.full((2, 3), math.log(5), dtype=torch.float64))


@pytest.mark.parametrize(
    ("temperature", "expected"),
    [
        # H = log S - sum(z e^z) / S with z = logits / T.
        (1.0, 0.8323955818399387),  # z = [2, 1, 0]
        (0.5, 0.44105744405816294),  # z = [4, 2, 0]
    ],
)
def test_entropy_hand_computed(temperature, expected):
    entropy_BT = token_entropy(logits_2_1_0(), temperature=temperature)

    assert entropy_BT.item() == pytest.approx(expected, abs=1e-12)


def test_entropy_ignores_minus_inf_logits():
    # Logits [2, 1, -inf] have the entropy of [2, 1]: log(e^2 + e) - (2e^2 + e) / (e^2 + e).
    logits_BTV = torch.tensor([[[2.0, 1.0, -math.inf]]], dtype=torch.float64, requires_grad=True)

    entropy_BT = token_entropy(logits_BTV)
    entropy_BT.sum().backward()

    assert entropy_BT.item() == pytest.approx(0.5822031088882176, abs=1e-12)
    assert torch.isfinite(logits_BTV.grad).all()
    assert logits_BTV.grad[0, 0, 2].item() == 0.0


def test_entropy_gradient_matches_finite_differences():
    logits_BTV = torch.tensor([[[0.3, -1.2, 2.0, 0.5]]], dtype=torch.float64, requires_grad=True)

    assert torch.autograd.gradcheck(lambda x: token_entropy(x, temperature=0.7), (logits_BTV,))


def test_sft_nll_negates_logprobs():
    logprobs_BT = torch.tensor([[-0.5, -2.0], [0.0, -1e-3]], dtype=torch.float64)

    torch.testing.assert_close(sft_nll(logprobs_BT), torch.tensor([[0.5, 2.0], [0.0, 1e-3]], dtype=torch.float64))


def test_sft_nll_rejects_wrong_rank():
    with pytest.raises(ValueError, match="logprobs_BT must have 2 dimensions"):
        sft_nll(torch.zeros(3))
