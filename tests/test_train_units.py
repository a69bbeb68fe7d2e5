"""Schedules, config validation and SFT labels."""

import math

import pytest

from repro.methods.sft import build_sft_labels, global_batch_indices
from repro.train.config import TrainConfig
from repro.train.schedule import lr_multiplier


def test_cosine_schedule_values():
    # 10 steps, 10% warmup -> 1 warmup step; decay over steps 1..9 to the 0.1 floor.
    assert lr_multiplier(0, 10, "cosine", 0.1, 0.1) == pytest.approx(1.0)
    assert lr_multiplier(9, 10, "cosine", 0.1, 0.1) == pytest.approx(0.1)
    midpoint = lr_multiplier(1 + 4, 10, "cosine", 0.1, 0.1)
    assert midpoint == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert lr_multiplier(0, 10, "cosine", 0.2, 0.0) == pytest.approx(0.5)  # 2 warmup steps: 1/2, then 1
    assert lr_multiplier(5, 10, "constant", 0.1, 0.1) == 1.0


def test_train_config_rejects_unknown_key():
    with pytest.raises(ValueError, match=r"unknown training key\(s\) \['learning_rate'\]"):
        TrainConfig.from_dict({"learning_rate": 1e-3})


def test_train_config_rejects_bad_bug_mode_and_split():
    with pytest.raises(ValueError, match="first_plus_last"):
        TrainConfig(optimizer_bug="half")
    with pytest.raises(ValueError, match="divisible"):
        TrainConfig(global_batch_size=10, micro_batch_size=4).micro_batches_per_rank(1)


def test_sft_labels_keep_eos_when_pad_equals_eos(handed_cases):
    case = handed_cases["TPL-02"]["input"]
    labels = build_sft_labels(case["input_ids"], case["attention_mask"], case["prompt_len"],
                              case["eos_id"], case["pad_id"])
    assert labels == handed_cases["TPL-02"]["expected"]["value"]


def test_global_batch_indices_cover_epoch_once():
    indices = global_batch_indices(0, 5, 10, seed=0) + global_batch_indices(1, 5, 10, seed=0)
    assert sorted(indices) == list(range(10))
    assert global_batch_indices(2, 5, 10, seed=0) != global_batch_indices(0, 5, 10, seed=0)
