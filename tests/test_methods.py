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


def test_grpo_sequences_carry_group_advantages(organism_data, monkeypatch):
    """Rewards 1 for the first response of each group, 0 otherwise: Dr. GRPO gives (G-1)/G and -1/G."""
    import repro.methods.grpo as grpo_module
    from repro.rollout import score

    calls = iter(range(10_000))
    monkeypatch.setattr(grpo_module, "verifier_reward",
                        lambda text, gold, answer_type, finish: 1.0 if next(calls) % 4 == 0 else 0.0)
    torch.manual_seed(0)
    model = build_model(TINY_MODEL)
    tokenizer = build_tokenizer()
    context = MethodContext(policy=model, tokenizer=tokenizer, seed=0, global_batch_size=8)
    method = build_method("grpo", {"data": str(organism_data / "rl.jsonl"), "group_size": 4,
                                   "max_new_tokens": 12}, context)
    sequences = method.step_sequences(0)
    assert len(sequences) == 8
    for index, sequence in enumerate(sequences):
        response = [i for i, flag in enumerate(sequence.loss_mask) if flag]
        assert response == list(range(response[0], len(sequence.input_ids)))  # the response is the tail
        expected = 0.75 if index % 4 == 0 else -0.25
        assert {sequence.advantages[i] for i in response} == {expected}
        assert all(sequence.advantages[i] == 0.0 for i in range(response[0]))
        # old log-probs are the sampler's, which teacher-forced scoring reproduces.
        prompt, completion = sequence.input_ids[: response[0]], sequence.input_ids[response[0]:]
        rescored = score(model, [prompt], [completion])[0]
        assert [sequence.old_logprobs[i] for i in response] == pytest.approx(rescored, abs=1e-4)
    assert method.step_metrics()["reward/mean"] == 0.25
    assert method.generated_tokens() == sum(sum(s.loss_mask) for s in sequences)


def test_grpo_domain_filter(organism_data):
    model = build_model(TINY_MODEL)
    context = MethodContext(policy=model, tokenizer=build_tokenizer(), seed=0, global_batch_size=8)
    data = str(organism_data / "rl.jsonl")
    method = build_method("grpo", {"data": data, "group_size": 4, "domains": ["addsub"]}, context)
    assert {p.domain for p in method.problems} == {"addsub"}
    with pytest.raises(ValueError, match=r"domains \['geometry'\] do not occur"):
        build_method("grpo", {"data": data, "group_size": 4, "domains": ["geometry"]}, context)
