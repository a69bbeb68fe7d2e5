"""The DeepSpeed ZeRO-2 offload accumulation bug emulation: exact gradients the optimizer receives."""

import pytest
import torch

from repro.train.accumulation import GradientAccumulator, combine_micro_step_grads, kept_micro_steps
from repro.train.config import TrainConfig
from repro.train.distributed import DistInfo
from repro.train.loop import run_optimizer_step
from tests.train_helpers import BagOfPrefixLM, FixedSequences, context_for, grads_of, random_sequences


@pytest.mark.parametrize("num_micro, expected", [(2, 11.0), (3, 101.0), (4, 1001.0), (8, 10000001.0)])
def test_first_plus_last_powers_of_ten(num_micro, expected):
    grads = [torch.tensor([10.0 ** k], dtype=torch.float64) for k in range(num_micro)]
    assert combine_micro_step_grads("first_plus_last", grads).item() == expected
    assert combine_micro_step_grads("none", grads).item() == sum(10.0 ** k for k in range(num_micro))
    assert combine_micro_step_grads("first_only", grads).item() == 1.0
    assert combine_micro_step_grads("last_only", grads).item() == 10.0 ** (num_micro - 1)


def test_kept_micro_steps_k1_and_k2_unaffected():
    assert kept_micro_steps("first_plus_last", 1) == [0]
    assert kept_micro_steps("first_plus_last", 2) == [0, 1]
    with pytest.raises(ValueError, match="unknown optimizer bug mode"):
        kept_micro_steps("zero3", 4)


def _run_accumulator(mode, micro_grads):
    parameter = torch.nn.Parameter(torch.zeros(len(micro_grads[0]), dtype=torch.float64))
    accumulator = GradientAccumulator([parameter], mode, len(micro_grads))
    for index, grad in enumerate(micro_grads):
        accumulator.begin_micro_step(index)
        (parameter * torch.tensor(grad, dtype=torch.float64)).sum().backward()
        accumulator.end_micro_step(index)
    accumulator.finalize()
    return parameter.grad


def test_ga03a_zero2_offload_case(handed_cases):
    case = handed_cases["GA-03a"]
    grads = case["input"]["micro_step_grads"]
    correct = _run_accumulator("none", grads)
    assert correct.tolist() == pytest.approx(case["expected"]["value"], abs=1e-9)
    assert correct.norm().item() == pytest.approx(case["expected"]["grad_l2_norm"], abs=1e-9)
    # The case's notes give the faulty output when only micro-step 0 survives.
    assert _run_accumulator("first_only", grads).tolist() == pytest.approx([0.25, 0.25])
    assert _run_accumulator("first_plus_last", grads).tolist() == pytest.approx([0.5, 0.5])


def test_ga03b_last_backward_only_case(handed_cases):
    case = handed_cases["GA-03b"]
    grads = case["input"]["micro_step_grads"]
    assert _run_accumulator("none", grads).tolist() == pytest.approx(case["expected"]["value"], abs=1e-9)
    assert _run_accumulator("last_only", grads).tolist() == pytest.approx([0.25, 0.25])


@pytest.mark.parametrize("mode", ["first_plus_last", "first_only", "last_only"])
@pytest.mark.parametrize("num_micro", [3, 4])
def test_loop_hands_optimizer_buggy_gradient(mode, num_micro):
    """Through the real loop: the gradient left for the optimizer is the sum of the kept micro-steps."""
    sequences = random_sequences(num_micro * 2, seed=3)
    cfg = TrainConfig(global_batch_size=len(sequences), micro_batch_size=2, optimizer_bug=mode)
    model = BagOfPrefixLM()
    method = FixedSequences([sequences], context_for(model, len(sequences)))
    run_optimizer_step(model, method, sequences, cfg, DistInfo(), pad_token_id=0)
    received = grads_of(model)

    # Reference: each micro-step's gradient alone (with the step's normaliser), summed over kept ones.
    reference = [torch.zeros_like(p) for p in model.parameters()]
    kept = kept_micro_steps(mode, num_micro)
    for index in kept:
        model.zero_grad()
        single = TrainConfig(global_batch_size=len(sequences), micro_batch_size=2)
        only = [s if i // 2 == index else _masked(s) for i, s in enumerate(sequences)]
        run_optimizer_step(model, method, only, single, DistInfo(), pad_token_id=0)
        # Masked-out sequences change the step token count, so rescale to the full step's count.
        full_tokens = sum(s.num_target_tokens for s in sequences)
        kept_tokens = sum(s.num_target_tokens for s in only)
        for slot, p in zip(reference, model.parameters()):
            slot += p.grad * kept_tokens / full_tokens
    for got, want in zip(received, reference):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    assert len(kept) < num_micro


def _masked(sequence):
    from repro.train.batching import TrainSequence

    return TrainSequence(input_ids=sequence.input_ids, loss_mask=[False] * len(sequence.input_ids))
