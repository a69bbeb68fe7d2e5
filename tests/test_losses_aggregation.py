"""Tests of the aggregation modes: hand-computed values and invariance to how a step is split.

A step is simulated as in training: each rank sums the contributions of its K micro-batches,
and DDP averages over the D ranks, so step loss = (1 / D) * sum of all contributions.
"""

import math
import random

import pytest
import torch

from repro.losses import AGGREGATIONS, StepContext, aggregate, count_tokens_and_sequences
from repro.utils.registry import UnknownNameError

F64 = torch.float64
SPLIT_INVARIANT_MODES = ["token_mean", "seq_mean_token_mean", "constant", "seq_mean_token_sum"]
MAX_LENGTH = 8


def pack(sequences, width, padding_rows=0):
    """Pad 1-D per-token loss tensors to (B, width) with NaN, returning (loss_BT, mask_BT)."""
    rows, masks = [], []
    for values in sequences:
        pad = width - values.shape[0]
        rows.append(torch.cat([values, torch.full((pad,), math.nan, dtype=F64)]))
        masks.append(torch.cat([torch.ones(values.shape[0], dtype=torch.bool), torch.zeros(pad, dtype=torch.bool)]))
    for _ in range(padding_rows):
        rows.append(torch.full((width,), math.nan, dtype=F64))
        masks.append(torch.zeros(width, dtype=torch.bool))
    if not rows:
        return torch.zeros(0, width, dtype=F64), torch.zeros(0, width, dtype=torch.bool)
    return torch.stack(rows), torch.stack(masks)


def run_step(mode, sequences, layout, extra_width=0, padding_rows=0, max_length=MAX_LENGTH):
    """Return the step loss for sequences placed by layout[rank][micro_batch] = sequence indices.

    Every micro-batch is padded to max_length + extra_width columns and gets padding_rows
    fully masked rows.
    """
    world_size = len(layout)
    num_micro_batches = len(layout[0])
    micro_batches = [
        [pack([sequences[i] for i in indices], max_length + extra_width, padding_rows) for indices in rank]
        for rank in layout
    ]

    num_tokens, num_sequences = 0, 0
    for rank in micro_batches:
        for _, mask_BT in rank:
            tokens, seqs = count_tokens_and_sequences(mask_BT)
            num_tokens += tokens
            num_sequences += seqs
    ctx = StepContext(
        num_tokens=num_tokens,
        num_sequences=num_sequences,
        world_size=world_size,
        num_micro_batches=num_micro_batches,
        max_length=max_length,
    )

    total = torch.zeros((), dtype=F64)
    for rank in micro_batches:
        for loss_BT, mask_BT in rank:
            total = total + aggregate(mode, loss_BT, mask_BT, ctx)
    return total / world_size


def random_sequences(rng, count):
    """Return a flat leaf tensor of all tokens and per-sequence views into it."""
    lengths = [rng.randint(1, MAX_LENGTH) for _ in range(count)]
    flat = torch.tensor([rng.uniform(-2, 3) for _ in range(sum(lengths))], dtype=F64, requires_grad=True)
    sequences, start = [], 0
    for length in lengths:
        sequences.append(flat[start : start + length])
        start += length
    return flat, sequences, lengths


def random_layout(rng, count, world_size, num_micro_batches):
    order = list(range(count))
    rng.shuffle(order)
    layout = [[[] for _ in range(num_micro_batches)] for _ in range(world_size)]
    for index in order:
        layout[rng.randrange(world_size)][rng.randrange(num_micro_batches)].append(index)
    return layout


def expected_token_weights(mode, lengths):
    """Return d(step loss) / d(per-token loss) for each token, from each mode's definition."""
    num_tokens, num_sequences = sum(lengths), len(lengths)
    weights = []
    for length in lengths:
        if mode == "token_mean":
            weights += [1 / num_tokens] * length
        elif mode == "seq_mean_token_mean":
            weights += [1 / (num_sequences * length)] * length
        elif mode == "constant":
            weights += [1 / (num_sequences * MAX_LENGTH)] * length
        elif mode == "seq_mean_token_sum":
            weights += [1 / num_sequences] * length
    return torch.tensor(weights, dtype=F64)


def test_registered_modes():
    assert AGGREGATIONS.names() == [
        "constant",
        "micro_batch_token_mean",
        "seq_mean_token_mean",
        "seq_mean_token_sum",
        "token_mean",
    ]


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        # Sequence A [1, 2] sums to 3, sequence B [3, 3, 3, 3, 6] to 18: 21 over 7 tokens.
        ("token_mean", 21 / 7),
        ("seq_mean_token_mean", (3 / 2 + 18 / 5) / 2),
        ("micro_batch_token_mean", 21 / 7),
        ("constant", 21 / (2 * MAX_LENGTH)),
        ("seq_mean_token_sum", 21 / 2),
    ],
)
def test_single_batch_values(mode, expected):
    sequences = [torch.tensor([1.0, 2.0], dtype=F64), torch.tensor([3.0, 3.0, 3.0, 3.0, 6.0], dtype=F64)]

    value = run_step(mode, sequences, [[[0, 1]]])

    assert value.item() == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("mode", SPLIT_INVARIANT_MODES)
def test_step_value_independent_of_split(mode):
    rng = random.Random(0)
    _, sequences, _ = random_sequences(rng, 9)
    reference = run_step(mode, sequences, [[list(range(9))]]).item()

    for _ in range(25):
        world_size = rng.choice([1, 2, 4])
        num_micro_batches = rng.choice([1, 2, 3])
        layout = random_layout(rng, 9, world_size, num_micro_batches)
        value = run_step(mode, sequences, layout, extra_width=rng.randint(0, 5), padding_rows=rng.randint(0, 2))

        assert value.item() == pytest.approx(reference, abs=1e-12), (layout, mode)


@pytest.mark.parametrize("mode", SPLIT_INVARIANT_MODES)
def test_token_gradient_independent_of_split(mode):
    rng = random.Random(1)
    flat, sequences, lengths = random_sequences(rng, 7)
    expected = expected_token_weights(mode, lengths)

    for _ in range(10):
        world_size = rng.choice([1, 2, 3])
        num_micro_batches = rng.choice([1, 2, 4])
        layout = random_layout(rng, 7, world_size, num_micro_batches)
        flat.grad = None

        run_step(mode, sequences, layout, extra_width=rng.randint(0, 3), padding_rows=1).backward()

        torch.testing.assert_close(flat.grad, expected, rtol=0, atol=1e-14)


def test_token_mean_gradient_is_mask_over_step_tokens():
    # Two micro-batches on one rank, 3 + 5 supervised tokens, padding in between.
    loss_a = torch.tensor([[0.5, 1.0, 2.0, math.nan]], dtype=F64, requires_grad=True)
    loss_b = torch.tensor([[1.0, 1.0, 1.0, 1.0, 1.0]], dtype=F64, requires_grad=True)
    mask_a = torch.tensor([[1, 1, 1, 0]])
    mask_b = torch.ones(1, 5)
    ctx = StepContext(num_tokens=8, num_sequences=2, num_micro_batches=2)

    (aggregate("token_mean", loss_a, mask_a, ctx) + aggregate("token_mean", loss_b, mask_b, ctx)).backward()

    assert loss_a.grad.tolist() == [[1 / 8, 1 / 8, 1 / 8, 0.0]]
    assert loss_b.grad.tolist() == [[1 / 8] * 5]


def test_micro_batch_token_mean_paper_vector():
    # D = 2 ranks, K = 2 micro-batches, token counts 10, 1000, 100, 100 with per-token loss
    # a, b, c, d = 1, 2, 3, 4. Buggy: (a + b + c + d) / 4. Correct: (10a + 1000b + 100c + 100d) / 1210.
    values = [1.0, 2.0, 3.0, 4.0]
    counts = [10, 1000, 100, 100]
    flat = torch.tensor(sum(([v] * n for v, n in zip(values, counts)), []), dtype=F64, requires_grad=True)
    sequences = list(torch.split(flat, counts))
    layout = [[[0], [1]], [[2], [3]]]
    max_length = max(counts)

    buggy = run_step("micro_batch_token_mean", sequences, layout, max_length=max_length)
    correct = run_step("token_mean", sequences, layout, max_length=max_length)

    assert buggy.item() == pytest.approx(10 / 4, abs=1e-12)
    assert correct.item() == pytest.approx((10 * 1 + 1000 * 2 + 100 * 3 + 100 * 4) / 1210, abs=1e-12)

    buggy.backward()
    expected_weights = torch.cat([torch.full((n,), 1 / (2 * 2 * n), dtype=F64) for n in counts])
    torch.testing.assert_close(flat.grad, expected_weights, rtol=0, atol=1e-15)

    # The same tokens in a single micro-batch give the correct value: the bug depends on the split.
    single = run_step("micro_batch_token_mean", sequences, [[[0, 1, 2, 3]]], max_length=max_length)
    assert single.item() == pytest.approx(correct.item(), abs=1e-12)


def test_mean_of_means_equal_counts():
    sequences = [torch.tensor([1.0, 5.0], dtype=F64), torch.tensor([2.0, 2.0], dtype=F64)]
    layout = [[[0], [1]]]

    buggy = run_step("micro_batch_token_mean", sequences, layout)
    correct = run_step("token_mean", sequences, layout)

    assert buggy.item() == pytest.approx(correct.item(), abs=1e-12)


def test_micro_batch_without_tokens_contributes_zero():
    ctx = StepContext(num_tokens=3, num_sequences=1, num_micro_batches=2)
    loss_BT = torch.full((1, 4), math.nan, dtype=F64)

    for mode in ["token_mean", "seq_mean_token_mean", "micro_batch_token_mean", "seq_mean_token_sum"]:
        assert aggregate(mode, loss_BT, torch.zeros(1, 4), ctx).item() == 0.0


def test_constant_ignores_padded_width():
    ctx = StepContext(num_tokens=2, num_sequences=1, max_length=4)
    narrow = aggregate("constant", torch.tensor([[1.0, 3.0]], dtype=F64), torch.ones(1, 2), ctx)
    wide = aggregate(
        "constant", torch.tensor([[1.0, 3.0, 9.0, 9.0, 9.0, 9.0]], dtype=F64), torch.tensor([[1, 1, 0, 0, 0, 0]]), ctx
    )

    # (1 + 3) / (1 sequence * L_max 4), whatever the padded width.
    assert narrow.item() == 1.0
    assert wide.item() == 1.0


def test_world_size_factor_in_contribution():
    # One rank's micro-batch of a D = 2 step: sum 6 over 4 step tokens, times D = 2.
    ctx = StepContext(num_tokens=4, num_sequences=2, world_size=2)

    contribution = aggregate("token_mean", torch.tensor([[1.0, 2.0, 3.0]], dtype=F64), torch.ones(1, 3), ctx)

    assert contribution.item() == 6 * 2 / 4


def test_count_tokens_and_sequences_skips_empty_rows():
    mask_BT = torch.tensor([[1, 1, 0], [0, 0, 0], [1, 0, 0]])

    assert count_tokens_and_sequences(mask_BT) == (3, 2)


def test_step_without_tokens_raises():
    with pytest.raises(ValueError, match="the optimizer step has no supervised tokens \\(num_tokens=0\\)"):
        StepContext(num_tokens=0, num_sequences=1)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("num_tokens", -3),
        ("num_sequences", 0),
        ("world_size", 0),
        ("num_micro_batches", 0),
        ("max_length", 0),
        ("world_size", 2.0),
        ("num_micro_batches", True),
    ],
)
def test_invalid_step_context_raises(field, value):
    fields = {"num_tokens": 4, "num_sequences": 2, field: value}

    with pytest.raises(ValueError, match=f"StepContext.{field} must be an integer >= "):
        StepContext(**fields)


def test_constant_without_max_length_raises():
    ctx = StepContext(num_tokens=2, num_sequences=1)

    with pytest.raises(ValueError, match="aggregation mode 'constant' needs StepContext.max_length"):
        aggregate("constant", torch.ones(1, 2), torch.ones(1, 2), ctx)


def test_micro_batch_counts_above_step_counts_raise():
    ctx = StepContext(num_tokens=2, num_sequences=2)

    with pytest.raises(ValueError, match="this micro-batch has 3 supervised tokens but the StepContext counts 2"):
        aggregate("token_mean", torch.ones(1, 3), torch.ones(1, 3), ctx)
    ctx = StepContext(num_tokens=10, num_sequences=1)
    with pytest.raises(ValueError, match="this micro-batch has 2 non-empty sequences but the StepContext counts 1"):
        aggregate("token_mean", torch.ones(2, 3), torch.ones(2, 3), ctx)


def test_unknown_mode_lists_registered_modes():
    ctx = StepContext(num_tokens=1, num_sequences=1)

    with pytest.raises(UnknownNameError, match="unknown aggregation mode 'tokenmean'; valid names are: constant, "):
        aggregate("tokenmean", torch.ones(1, 1), torch.ones(1, 1), ctx)


def test_context_type_checked():
    with pytest.raises(TypeError, match="ctx must be a StepContext, got dict"):
        aggregate("token_mean", torch.ones(1, 1), torch.ones(1, 1), {"num_tokens": 1})
