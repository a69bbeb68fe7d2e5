"""Tests of the KL estimators and kl_penalty against hand-computed values."""

import math

import pytest
import torch

from repro.losses import KL_ESTIMATORS, kl_penalty
from repro.utils.registry import UnknownNameError

F64 = torch.float64

# logp - ref_logp = +0.5 and -0.3, so log r = ref - logp = -0.5 and +0.3.
LOGPROBS = [[-1.0, -2.0]]
REF_LOGPROBS = [[-1.5, -1.7]]
EXPECTED = {
    "k1": [0.5, -0.3],
    "k2": [0.125, 0.045],
    # exp(log r) - 1 - log r
    "k3": [math.exp(-0.5) - 1 + 0.5, math.exp(0.3) - 1 - 0.3],
}
# d/d logp of each estimator, with log r = ref - logp:
#   k1: 1,   k2: logp - ref,   k3: 1 - exp(ref - logp)
EXPECTED_GRAD = {
    "k1": [1.0, 1.0],
    "k2": [0.5, -0.3],
    "k3": [1 - math.exp(-0.5), 1 - math.exp(0.3)],
}


def make_inputs():
    logprobs_BT = torch.tensor(LOGPROBS, dtype=F64, requires_grad=True)
    ref_logprobs_BT = torch.tensor(REF_LOGPROBS, dtype=F64)
    return logprobs_BT, ref_logprobs_BT, torch.ones(1, 2, dtype=torch.bool)


def test_registered_estimators():
    assert KL_ESTIMATORS.names() == ["k1", "k2", "k3"]


@pytest.mark.parametrize("name", ["k1", "k2", "k3"])
def test_estimator_values(name):
    kl_BT = KL_ESTIMATORS.get(name)(*make_inputs())

    torch.testing.assert_close(kl_BT, torch.tensor([EXPECTED[name]], dtype=F64), rtol=0, atol=1e-15)


@pytest.mark.parametrize("name", ["k1", "k2", "k3"])
def test_estimator_gradients(name):
    logprobs_BT, ref_logprobs_BT, mask_BT = make_inputs()

    KL_ESTIMATORS.get(name)(logprobs_BT, ref_logprobs_BT, mask_BT).sum().backward()

    torch.testing.assert_close(logprobs_BT.grad, torch.tensor([EXPECTED_GRAD[name]], dtype=F64), rtol=0, atol=1e-15)


@pytest.mark.parametrize("name", ["k2", "k3"])
def test_k2_and_k3_never_negative(name):
    generator = torch.Generator().manual_seed(0)
    logprobs_BT = -5 * torch.rand(16, 32, generator=generator, dtype=F64)
    ref_logprobs_BT = -5 * torch.rand(16, 32, generator=generator, dtype=F64)
    # Include equal log-probs, where both estimators are exactly 0.
    ref_logprobs_BT[0] = logprobs_BT[0]

    kl_BT = KL_ESTIMATORS.get(name)(logprobs_BT, ref_logprobs_BT, torch.ones(16, 32))

    assert (kl_BT >= 0).all()
    assert (kl_BT[0] == 0).all()
    assert (kl_BT[1:] > 0).all()


def test_k3_exact_for_tiny_log_ratio():
    # exp(x) - 1 - x = x^2 / 2 + x^3 / 6 + ...; for x = 1e-9 it is 5e-19, which exp(x) - 1 - x
    # computed naively in float64 loses completely.
    kl_BT = KL_ESTIMATORS.get("k3")(torch.tensor([[0.0]], dtype=F64), torch.tensor([[1e-9]], dtype=F64), torch.ones(1, 1))

    assert kl_BT.item() == pytest.approx(5e-19, rel=1e-6, abs=0)


@pytest.mark.parametrize("name", ["k1", "k2", "k3"])
@pytest.mark.parametrize("garbage", [math.nan, math.inf, -math.inf])
def test_masked_garbage_is_zero(name, garbage):
    logprobs_BT = torch.tensor([[-1.0, garbage]], dtype=F64, requires_grad=True)
    ref_logprobs_BT = torch.tensor([[-1.5, -garbage]], dtype=F64)

    kl_BT = KL_ESTIMATORS.get(name)(logprobs_BT, ref_logprobs_BT, torch.tensor([[1, 0]]))
    kl_BT.sum().backward()

    assert kl_BT[0, 1].item() == 0.0
    assert kl_BT[0, 0].item() == pytest.approx(EXPECTED[name][0], abs=1e-15)
    assert logprobs_BT.grad[0, 1].item() == 0.0
    assert torch.isfinite(logprobs_BT.grad).all()


def test_kl_penalty_detached_by_default():
    logprobs_BT, ref_logprobs_BT, mask_BT = make_inputs()

    penalty_BT = kl_penalty(logprobs_BT, ref_logprobs_BT, mask_BT, estimator="k1")

    assert not penalty_BT.requires_grad
    torch.testing.assert_close(penalty_BT, torch.tensor([EXPECTED["k1"]], dtype=F64))


def test_kl_penalty_differentiable_loss_term():
    logprobs_BT, ref_logprobs_BT, mask_BT = make_inputs()

    kl_penalty(logprobs_BT, ref_logprobs_BT, mask_BT, estimator="k3", detach=False).sum().backward()

    torch.testing.assert_close(logprobs_BT.grad, torch.tensor([EXPECTED_GRAD["k3"]], dtype=F64))


def test_kl_penalty_default_estimator_is_k3():
    penalty_BT = kl_penalty(*make_inputs())

    torch.testing.assert_close(penalty_BT, torch.tensor([EXPECTED["k3"]], dtype=F64))


def test_kl_penalty_unknown_estimator_lists_names():
    with pytest.raises(UnknownNameError, match="unknown KL estimator 'k4'; valid names are: k1, k2, k3"):
        kl_penalty(*make_inputs(), estimator="k4")


def test_kl_penalty_rejects_non_bool_detach():
    with pytest.raises(TypeError, match="detach must be True or False, got 'yes'"):
        kl_penalty(*make_inputs(), detach="yes")


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match="ref_logprobs_BT has shape \\(1, 3\\) but logprobs_BT has shape \\(1, 2\\)"):
        KL_ESTIMATORS.get("k1")(torch.zeros(1, 2), torch.zeros(1, 3), torch.ones(1, 2))
