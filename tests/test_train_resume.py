"""A killed run resumes from its checkpoint and ends with the same parameters."""

import json

import torch

from repro.train.config import TrainConfig
from repro.train.loop import train
from tests.train_helpers import FixedSequences, context_for, random_sequences, tiny_model


def _run(run_dir, stop_after=None, steps=6):
    batches = [random_sequences(4, seed=10 + i) for i in range(steps)]
    model = tiny_model()
    cfg = TrainConfig(global_batch_size=4, micro_batch_size=2, num_steps=steps, lr=1e-2,
                      checkpoint_every=2, warmup_ratio=0.2)
    method = FixedSequences(batches, context_for(model, 4))
    train(model, method, cfg, run_dir, pad_token_id=0, stop_after_steps=stop_after, progress=False)
    return model


def test_resume_matches_uninterrupted_run(tmp_path):
    full = _run(tmp_path / "full")
    _run(tmp_path / "killed", stop_after=3)
    resumed = _run(tmp_path / "killed")
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    lines = [json.loads(x) for x in (tmp_path / "killed" / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [1, 2, 3, 4, 5, 6]
    full_lines = [json.loads(x) for x in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    assert [l["train/loss"] for l in lines] == [l["train/loss"] for l in full_lines]


def test_training_changes_parameters_and_logs_fixed_names(tmp_path):
    before = [p.clone() for p in tiny_model().parameters()]
    model = _run(tmp_path / "run", steps=2)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    first = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[0])
    for name in ("train/loss", "train/grad_norm", "train/lr", "perf/tokens_per_s", "compute/flops"):
        assert name in first
    assert first["compute/flops"] > 0
