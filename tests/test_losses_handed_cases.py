"""Known-fault cases of tests/data/handed_cases.jsonl that repro.losses must get right.

Each case is loaded by id, so the data file stays the source of inputs and expected values.
Where a case's notes give the faulty value and the harness emulates that fault on purpose
(the "mean of micro-batch means" aggregation), the emulation is checked against it too.
"""

import json
import math
from pathlib import Path

import pytest
import torch

from repro.losses import (
    ADVANTAGE_ESTIMATORS,
    POLICY_LOSSES,
    StepContext,
    aggregate,
    count_tokens_and_sequences,
    mixed_group_advantage,
    token_logprobs,
)

CASES_PATH = Path(__file__).parent / "data" / "handed_cases.jsonl"
F64 = torch.float64


def load_case(case_id: str) -> dict:
    with CASES_PATH.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                case = json.loads(line)
                if case["id"] == case_id:
                    return case
    raise KeyError(f"case {case_id!r} not found in {CASES_PATH}")


def as_float(value) -> float:
    """Return a case value as a float; the string "NaN" stands for float('nan')."""
    return math.nan if value == "NaN" else float(value)


def as_tensor(rows) -> torch.Tensor:
    return torch.tensor([[as_float(value) for value in row] for row in rows], dtype=F64)


def step_from_sequences(mode, micro_batches, max_length=None):
    """Return the step loss and the per-token loss leaves of one rank's micro-batches.

    micro_batches is a list of micro-batches, each a list of per-token loss lists (one per
    sequence). Each micro-batch is padded with NaN to its longest sequence.
    """
    packed, leaves = [], []
    for sequences in micro_batches:
        width = max(len(values) for values in sequences)
        leaf = torch.tensor(
            [values + [math.nan] * (width - len(values)) for values in sequences], dtype=F64, requires_grad=True
        )
        mask_BT = torch.tensor([[1] * len(values) + [0] * (width - len(values)) for values in sequences])
        packed.append((leaf, mask_BT))
        leaves.append(leaf)

    counts = [count_tokens_and_sequences(mask_BT) for _, mask_BT in packed]
    ctx = StepContext(
        num_tokens=sum(tokens for tokens, _ in counts),
        num_sequences=sum(seqs for _, seqs in counts),
        num_micro_batches=len(packed),
        max_length=max_length,
    )
    step_loss = sum(aggregate(mode, loss_BT, mask_BT, ctx) for loss_BT, mask_BT in packed)
    return step_loss, leaves


def test_lp01_logprob_at_temperature():
    case = load_case("LP-01")
    inputs = case["input"]
    logits_BTV = torch.tensor([[inputs["logits"]]], dtype=F64)

    logprobs_BT = token_logprobs(logits_BTV, torch.tensor([[inputs["token"]]]), temperature=inputs["temperature"])

    assert logprobs_BT.item() == pytest.approx(case["expected"]["value"], abs=case["expected"]["abs_tol"])


@pytest.mark.parametrize("case_id", ["ADV-01a", "ADV-01b", "ADV-01d"])
def test_adv01_group_advantage(case_id):
    case = load_case(case_id)
    inputs = case["input"]
    rewards_PG = torch.tensor([inputs["rewards"]], dtype=F64)

    if inputs["std"] is None:
        advantages_PG = ADVANTAGE_ESTIMATORS.get("dr_grpo")(rewards_PG)
    else:
        advantages_PG = ADVANTAGE_ESTIMATORS.get("grpo")(rewards_PG, std=inputs["std"], eps=inputs["eps"])

    expected = torch.tensor([case["expected"]["value"]], dtype=F64)
    torch.testing.assert_close(advantages_PG, expected, rtol=0, atol=case["expected"]["abs_tol"])


def test_adv01d_zero_variance_group_has_no_nan():
    case = load_case("ADV-01d")
    rewards_PG = torch.tensor([case["input"]["rewards"]], dtype=F64)

    advantages_PG = ADVANTAGE_ESTIMATORS.get("grpo")(rewards_PG, std="unbiased", eps=case["input"]["eps"])

    assert advantages_PG.tolist() == [case["expected"]["value"]]


def test_adv01c_rloo():
    case = load_case("ADV-01c")
    rewards_PG = torch.tensor([case["input"]["rewards"]], dtype=F64)

    advantages_PG = ADVANTAGE_ESTIMATORS.get("rloo")(rewards_PG)

    expected = torch.tensor([case["expected"]["value"]], dtype=F64)
    torch.testing.assert_close(advantages_PG, expected, rtol=0, atol=case["expected"]["abs_tol"])


@pytest.mark.parametrize("case_id", ["ADV-03a", "ADV-03b"])
def test_adv03_mixed_group_mean_over_union(case_id):
    case = load_case(case_id)
    inputs = case["input"]
    assert inputs["group_includes_off_policy"] is True
    options = {"use_std": inputs["use_std"]}
    if inputs["use_std"]:
        options.update(std=inputs["std"], eps=inputs["eps"])

    on_PG, off_PM = mixed_group_advantage(
        torch.tensor([inputs["on_policy_rewards"]], dtype=F64),
        torch.tensor([inputs["off_policy_rewards"]], dtype=F64),
        **options,
    )

    tolerance = case["expected"]["abs_tol"]
    assert off_PM.item() == pytest.approx(case["expected"]["off_policy"], abs=tolerance)
    torch.testing.assert_close(on_PG, torch.tensor([case["expected"]["on_policy"]], dtype=F64), rtol=0, atol=tolerance)


def test_mask01_nan_in_masked_old_logprob():
    case = load_case("MASK-01")
    inputs = case["input"]
    logprobs_BT = as_tensor(inputs["log_probs"]).requires_grad_(True)
    mask_BT = torch.tensor(inputs["action_mask"])

    loss_BT, _ = POLICY_LOSSES.get("clipped")(
        logprobs_BT,
        as_tensor(inputs["old_log_probs"]),
        as_tensor(inputs["advantages"]),
        mask_BT,
        eps_low=inputs["clip_eps"],
    )
    num_tokens, num_sequences = count_tokens_and_sequences(mask_BT)
    step_loss = aggregate("token_mean", loss_BT, mask_BT, StepContext(num_tokens, num_sequences))
    step_loss.backward()

    assert step_loss.item() == pytest.approx(case["expected"]["value"], abs=case["expected"]["abs_tol"])
    assert torch.isfinite(logprobs_BT.grad).all()


def test_agg01_worked_example():
    case = load_case("AGG-01")
    inputs = case["input"]
    expected = case["expected"]["value"]
    modes = {
        "token-mean": "token_mean",
        "seq-mean-token-mean": "seq_mean_token_mean",
        "seq-mean-token-sum-norm (trl dr_grpo: sum/(B*L_max))": "constant",
        "seq-mean-token-sum": "seq_mean_token_sum",
    }
    assert set(modes) == set(expected)

    for case_mode, mode in modes.items():
        step_loss, _ = step_from_sequences(mode, [inputs["per_token_loss"]], max_length=inputs["max_completion_length"])

        assert step_loss.item() == pytest.approx(expected[case_mode], abs=case["expected"]["abs_tol"]), mode


def test_ga01a_token_mean_over_micro_batches():
    case = load_case("GA-01a")
    micro_batches = [[micro["per_token_loss"]] for micro in case["input"]["micro_batches"]]

    step_loss, leaves = step_from_sequences("token_mean", micro_batches)
    step_loss.backward()

    assert step_loss.item() == pytest.approx(case["expected"]["value"], abs=case["expected"]["abs_tol"])
    for index, leaf in enumerate(leaves):
        weight = case["expected"]["per_token_weight"][f"micro_{index}"]
        torch.testing.assert_close(leaf.grad, torch.full_like(leaf, weight), rtol=1e-12, atol=0)


def test_ga01a_resplit_keeps_value():
    case = load_case("GA-01a")
    tokens = [value for micro in case["input"]["micro_batches"] for value in micro["per_token_loss"]]
    # The same 110 tokens as 55 + 55 and as 3 + 7 + 100.
    splits = [[tokens[:55], tokens[55:]], [tokens[:3], tokens[3:10], tokens[10:]]]

    for split in splits:
        step_loss, _ = step_from_sequences("token_mean", [[values] for values in split])

        assert step_loss.item() == pytest.approx(case["expected"]["value"], abs=case["expected"]["abs_tol"])


def test_ga01a_mean_of_means_emulation():
    # Notes: buggy output 1.5; per-token weights 0.05 and 0.005.
    case = load_case("GA-01a")
    micro_batches = [[micro["per_token_loss"]] for micro in case["input"]["micro_batches"]]

    step_loss, leaves = step_from_sequences("micro_batch_token_mean", micro_batches)
    step_loss.backward()

    assert step_loss.item() == pytest.approx(1.5, abs=1e-12)
    torch.testing.assert_close(leaves[0].grad, torch.full_like(leaves[0], 0.05))
    torch.testing.assert_close(leaves[1].grad, torch.full_like(leaves[1], 0.005))


def test_ga01b_sample_share_weighting():
    # Notes: the per-micro token mean weighted by sample share gives 2.0 (buggy); correct 2.5.
    case = load_case("GA-01b")
    micro_batches = [[micro["per_token_loss"]] for micro in case["input"]["micro_batches"]]
    assert [micro["num_samples"] for micro in case["input"]["micro_batches"]] == [1, 1]

    correct, _ = step_from_sequences("token_mean", micro_batches)
    buggy, _ = step_from_sequences("micro_batch_token_mean", micro_batches)

    assert correct.item() == pytest.approx(case["expected"]["value"], abs=case["expected"]["abs_tol"])
    assert buggy.item() == pytest.approx(2.0, abs=1e-12)


def test_ga02_sum_divided_by_accumulation_steps():
    case = load_case("GA-02")
    micro_batches = [[micro["per_token_loss"]] for micro in case["input"]["micro_batches"]]
    assert len(micro_batches) == case["input"]["gradient_accumulation_steps"]

    for mode in ["token_mean", "micro_batch_token_mean"]:
        step_loss, _ = step_from_sequences(mode, micro_batches)

        # Equal per-token losses make the mean of means correct too; the faulty 4.0 came from
        # summing micro-batch means without dividing by K.
        assert step_loss.item() == pytest.approx(case["expected"]["value"], abs=case["expected"]["abs_tol"]), mode


@pytest.mark.parametrize("micro_batch_size", [1, 2])
def test_opd01_distillation_token_mean(micro_batch_size):
    case = load_case("OPD-01")
    sequences = case["input"]["per_token_kl"]
    micro_batches = [sequences[i : i + micro_batch_size] for i in range(0, len(sequences), micro_batch_size)]

    step_loss, _ = step_from_sequences("token_mean", micro_batches)

    assert step_loss.item() == pytest.approx(case["expected"]["value"], abs=case["expected"]["abs_tol"])


def test_opd01_mean_of_means_depends_on_split():
    # The case's faulty 0.7 at micro_batch_size 1 is the sum of the micro-batch means 0.2 and
    # 0.5 without the division by K. The mean-of-means emulation gives (0.2 + 0.5) / 2 there,
    # and the correct 0.4 when both sequences share one micro-batch.
    case = load_case("OPD-01")
    sequences = case["input"]["per_token_kl"]

    per_sequence, _ = step_from_sequences("micro_batch_token_mean", [[values] for values in sequences])
    together, _ = step_from_sequences("micro_batch_token_mean", [sequences])

    assert per_sequence.item() == pytest.approx((0.2 + 0.5) / 2, abs=1e-12)
    assert together.item() == pytest.approx(case["expected"]["value"], abs=1e-12)
