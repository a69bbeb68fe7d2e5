"""A step's loss and gradient do not depend on micro-batch split, padding, order or ranks."""

import os
import random
import sys

import pytest
import torch
import torch.multiprocessing as mp

from repro.train.batching import collate
from repro.train.config import TrainConfig
from repro.train.distributed import DistInfo
from repro.train.loop import run_optimizer_step
from tests.train_helpers import FixedSequences, context_for, grads_of, random_sequences, tiny_model

INVARIANT_AGGREGATIONS = ["token_mean", "seq_mean_token_mean", "seq_mean_token_sum", "constant"]


def step_loss_and_grads(sequences, micro_batch_size, aggregation="token_mean", world=DistInfo(),
                        mean_of_means=False):
    model = tiny_model()
    cfg = TrainConfig(global_batch_size=len(sequences) * world.world_size, micro_batch_size=micro_batch_size,
                      aggregation=aggregation, mean_of_micro_batch_means=mean_of_means)
    method = FixedSequences([sequences], context_for(model, len(sequences)))
    result = run_optimizer_step(model, method, sequences, cfg, world, pad_token_id=0, max_length=32)
    return result["loss"], grads_of(model)


def assert_same(first, second):
    loss_a, grads_a = first
    loss_b, grads_b = second
    assert loss_a == pytest.approx(loss_b, rel=1e-12)
    for a, b in zip(grads_a, grads_b):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("aggregation", INVARIANT_AGGREGATIONS)
def test_micro_batch_split_invariance(aggregation):
    sequences = random_sequences(8, seed=1)
    reference = step_loss_and_grads(sequences, 8, aggregation)
    for micro in (1, 2, 4):
        assert_same(reference, step_loss_and_grads(sequences, micro, aggregation))


def test_token_mean_loss_equals_hand_computed_mean():
    sequences = random_sequences(4, seed=2)
    model = tiny_model()
    loss, _ = step_loss_and_grads(sequences, 2)
    batch = collate(sequences, pad_token_id=0, dtype=torch.float64)
    logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits[:, :-1]
    nll = -torch.log_softmax(logits, -1).gather(-1, batch.targets_BT.unsqueeze(-1)).squeeze(-1)
    expected = nll[batch.loss_mask_BT].mean().item()
    assert loss == pytest.approx(expected, rel=1e-12)


def test_batch_order_invariance():
    sequences = random_sequences(8, seed=4)
    shuffled = list(sequences)
    random.Random(0).shuffle(shuffled)
    assert_same(step_loss_and_grads(sequences, 2), step_loss_and_grads(shuffled, 2))


def test_padding_invariance():
    sequences = random_sequences(4, seed=5)
    model = tiny_model()
    outputs = []
    for pad_to in (None, 40):
        batch = collate(sequences, pad_token_id=0, pad_to=pad_to, dtype=torch.float64)
        logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits[:, :-1]
        nll = -torch.log_softmax(logits, -1).gather(-1, batch.targets_BT.unsqueeze(-1)).squeeze(-1)
        outputs.append(nll[batch.loss_mask_BT])
    torch.testing.assert_close(outputs[0], outputs[1], rtol=1e-10, atol=1e-12)


def test_mean_of_means_bug_depends_on_split():
    """The emulated aggregation bug: each micro-batch's own token mean, averaged over micro-steps."""
    sequences = random_sequences(4, seed=6, min_len=3, max_len=30)
    correct, _ = step_loss_and_grads(sequences, 4)
    buggy_whole, _ = step_loss_and_grads(sequences, 4, mean_of_means=True)
    buggy_split, _ = step_loss_and_grads(sequences, 1, mean_of_means=True)
    assert buggy_whole == pytest.approx(correct, rel=1e-12)  # K = 1: nothing to average
    assert buggy_split != pytest.approx(correct, rel=1e-6)

    model = tiny_model()
    means = []
    for sequence in sequences:
        batch = collate([sequence], pad_token_id=0, dtype=torch.float64)
        logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits[:, :-1]
        nll = -torch.log_softmax(logits, -1).gather(-1, batch.targets_BT.unsqueeze(-1)).squeeze(-1)
        means.append(nll[batch.loss_mask_BT].mean().item())
    assert buggy_split == pytest.approx(sum(means) / len(means), rel=1e-12)


def _rank_worker(rank, world_size, store, sequences, aggregation, queue):
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world_size)
    per_rank = len(sequences) // world_size
    mine = sequences[rank * per_rank: (rank + 1) * per_rank]
    model = tiny_model()
    cfg = TrainConfig(global_batch_size=len(sequences), micro_batch_size=2, aggregation=aggregation)
    method = FixedSequences([sequences], context_for(model, len(sequences), rank, world_size))
    result = run_optimizer_step(model, method, mine, cfg, DistInfo(rank, world_size), pad_token_id=0, max_length=32)
    queue.put((rank, result["loss"], [g.tolist() for g in grads_of(model)]))
    dist.barrier()
    dist.destroy_process_group()


@pytest.mark.slow
@pytest.mark.parametrize("aggregation", ["token_mean", "seq_mean_token_mean"])
def test_data_parallel_rank_invariance(tmp_path, aggregation):
    """Two gloo ranks give the same step loss and gradient as one process."""
    sequences = random_sequences(8, seed=7)
    single = step_loss_and_grads(sequences, 2, aggregation)
    context = mp.get_context("spawn")
    queue = context.Queue()
    sys.path.insert(0, os.getcwd())
    mp.spawn(_rank_worker, args=(2, tmp_path / "store", sequences, aggregation, queue), nprocs=2, join=True)
    results = sorted(queue.get() for _ in range(2))
    for _, loss, grads in results:
        # Each rank scales its loss by D / N instead of 1 / N; Llama's RMSNorm runs in float32
        # even in a float64 model, so the two scalings agree to about 1e-8, not to the last bit.
        assert loss == pytest.approx(single[0], rel=1e-7)
        for got, want in zip(grads, single[1]):
            torch.testing.assert_close(torch.tensor(got, dtype=torch.float64), want, rtol=1e-6, atol=1e-9)
