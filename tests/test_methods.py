"""Every registered method trains one optimizer step on a tiny organism model."""

import json
import math

import pytest
import torch

from repro.methods import METHODS, MethodContext, build_method
from repro.organism import OrganismConfig, PretrainConfig, build_model, build_organism_data, build_tokenizer
from repro.train.config import TrainConfig
from repro.train.loop import train

TINY_DATA = OrganismConfig(test_per_domain=4, sft_size=32, rl_size=32, privileged_size=8, pretrain_size=16)
TINY_MODEL = PretrainConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64)

METHOD_PARAMS = {
    "sft": lambda data: {"data": str(data / "sft.jsonl")},
    "grpo": lambda data: {"data": str(data / "rl.jsonl"), "group_size": 4, "max_new_tokens": 24,
                          "kl_coef": 0.01, "entropy_coef": 0.001},
}


@pytest.fixture(scope="module")
def organism_data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("organism")
    build_organism_data(TINY_DATA, folder)
    return folder


def test_every_method_has_step_params():
    assert sorted(METHODS.names()) == sorted(METHOD_PARAMS)


@pytest.mark.parametrize("name", sorted(METHOD_PARAMS))
def test_method_trains_one_step(name, organism_data, tmp_path):
    torch.manual_seed(0)
    model = build_model(TINY_MODEL)
    tokenizer = build_tokenizer()
    before = [p.detach().clone() for p in model.parameters()]
    cfg = TrainConfig(global_batch_size=8, micro_batch_size=4, num_steps=1, lr=1e-2, warmup_ratio=0.0)
    context = MethodContext(policy=model, tokenizer=tokenizer, seed=0, global_batch_size=8)
    method = build_method(name, METHOD_PARAMS[name](organism_data), context)
    last = train(model, method, cfg, tmp_path, pad_token_id=tokenizer.pad_token_id, progress=False)
    assert math.isfinite(last["train/loss"])
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    line = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[0])
    assert line["compute/flops"] > 0


def test_unknown_method_lists_registered(organism_data):
    context = MethodContext(policy=None, tokenizer=None, seed=0, global_batch_size=8)
    with pytest.raises(KeyError, match="grpo.*sft"):
        build_method("luffy_typo", {}, context)


def test_grpo_rejects_batch_not_multiple_of_group(organism_data):
    model = build_model(TINY_MODEL)
    context = MethodContext(policy=model, tokenizer=build_tokenizer(), seed=0, global_batch_size=6)
    with pytest.raises(ValueError, match="multiple of group_size"):
        build_method("grpo", {"data": str(organism_data / "rl.jsonl"), "group_size": 4}, context)
