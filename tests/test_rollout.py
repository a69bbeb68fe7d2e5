"""Tests of repro.rollout: sampling with a KV cache, and teacher-forced scoring.

Every test uses a tiny random LlamaForCausalLM (hidden 32, 2 layers) built from a fixed
seed. References are computed the slow way: one full forward pass per step on a single
unpadded sequence, without a cache.
"""

from __future__ import annotations

import math

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from repro.rollout import RolloutBatch, apply_top_p, sample, score

VOCAB_SIZE = 20
PROMPTS = [[1, 2, 3], [4], [5, 6, 7, 8, 9, 10, 11], [3, 3]]


def make_model(vocab_size: int = VOCAB_SIZE, seed: int = 0, **config_overrides) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        **config_overrides,
    )
    return LlamaForCausalLM(config).eval()


@pytest.fixture(scope="module")
def model() -> LlamaForCausalLM:
    torch.set_num_threads(1)
    return make_model()


def full_forward_logits(model: LlamaForCausalLM, ids: list[int]) -> torch.Tensor:
    """Return the logits of every position of one unpadded sequence, without a cache."""
    with torch.no_grad():
        return model(torch.tensor([ids]), use_cache=False).logits[0].float()


def greedy_reference(model: LlamaForCausalLM, prompt: list[int], max_new_tokens: int) -> list[int]:
    ids = list(prompt)
    for _ in range(max_new_tokens):
        ids.append(int(full_forward_logits(model, ids)[-1].argmax()))
    return ids[len(prompt) :]


def score_reference(model: LlamaForCausalLM, prompt: list[int], response: list[int], temperature: float) -> list[float]:
    logits_TV = full_forward_logits(model, prompt + response)
    logprobs_TV = torch.log_softmax(logits_TV / temperature, dim=-1)
    return [float(logprobs_TV[len(prompt) - 1 + k, token]) for k, token in enumerate(response)]


def sample_kwargs(**overrides) -> dict:
    kwargs = dict(max_new_tokens=8, temperature=1.0, eos_token_ids=[], pad_token_id=0, seed=0)
    kwargs.update(overrides)
    return kwargs


def assert_lists_close(actual: list[list[float]], expected: list[list[float]], tolerance: float) -> None:
    assert [len(row) for row in actual] == [len(row) for row in expected]
    for actual_row, expected_row in zip(actual, expected):
        assert actual_row == pytest.approx(expected_row, abs=tolerance)


# --- greedy decoding and padding -------------------------------------------------


@pytest.mark.parametrize("batch_size", [64, 3, 1])
def test_greedy_matches_uncached_reference(model, batch_size):
    batch = sample(model, PROMPTS, **sample_kwargs(max_new_tokens=10, temperature=0, batch_size=batch_size))

    expected = [greedy_reference(model, prompt, 10) for prompt in PROMPTS]
    assert batch.response_ids == expected
    assert batch.finish_reasons == ["length"] * len(PROMPTS)
    assert batch.prompt_ids == PROMPTS


def test_greedy_logprobs_are_temperature_one(model):
    batch = sample(model, PROMPTS, **sample_kwargs(temperature=0))

    expected = [score_reference(model, p, r, temperature=1.0) for p, r in zip(PROMPTS, batch.response_ids)]
    assert_lists_close(batch.logprobs, expected, tolerance=1e-5)


def test_pad_token_value_does_not_matter(model):
    results = [
        sample(model, PROMPTS, **sample_kwargs(temperature=0.8, pad_token_id=pad, seed=3)).response_ids
        for pad in (0, 7, 19)
    ]
    assert results[0] == results[1] == results[2]


def test_rows_are_prompt_major(model):
    batch = sample(model, PROMPTS, **sample_kwargs(num_samples=3, temperature=0, batch_size=5))

    assert batch.prompt_index == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert batch.prompt_ids == [PROMPTS[i] for i in batch.prompt_index]
    for row, prompt_index in enumerate(batch.prompt_index):
        assert batch.response_ids[row] == greedy_reference(model, PROMPTS[prompt_index], 8)


def test_dropout_is_off_and_training_mode_restored():
    model = make_model(attention_dropout=0.5)
    model.train()

    batch = sample(model, PROMPTS, **sample_kwargs(temperature=0))
    assert model.training is True
    scores = score(model, batch.prompt_ids, batch.response_ids)
    assert model.training is True

    model.eval()
    assert batch.response_ids == [greedy_reference(model, prompt, 8) for prompt in PROMPTS]
    assert_lists_close(scores, batch.logprobs, tolerance=1e-5)

    sample(model, PROMPTS, **sample_kwargs())
    assert model.training is False


# --- log-probs of sampled tokens --------------------------------------------------


@pytest.mark.parametrize("temperature, top_p", [(1.0, 1.0), (0.7, 1.0), (1.3, 0.8)])
def test_sampled_logprobs_equal_score(model, temperature, top_p):
    batch = sample(
        model, PROMPTS,
        **sample_kwargs(num_samples=3, temperature=temperature, top_p=top_p, eos_token_ids=[5, 9], batch_size=5),
    )

    scores = score(model, batch.prompt_ids, batch.response_ids, temperature=temperature)
    assert_lists_close(scores, batch.logprobs, tolerance=1e-5)


def test_top_p_does_not_filter_reported_logprobs(model):
    # With top_p < 1 the sampling distribution is renormalised over the nucleus, but the
    # reported log-prob stays log_softmax(logits / T): below 0 even for a one-token nucleus.
    batch = sample(model, PROMPTS, **sample_kwargs(top_p=1e-6))

    expected = [score_reference(model, p, r, temperature=1.0) for p, r in zip(PROMPTS, batch.response_ids)]
    assert_lists_close(batch.logprobs, expected, tolerance=1e-5)
    assert all(value < -1e-3 for row in batch.logprobs for value in row)


# --- EOS and length ---------------------------------------------------------------


def test_two_eos_ids_end_rows_at_first_eos(model):
    full = [greedy_reference(model, prompt, 10) for prompt in PROMPTS]
    # Two ids taken from the greedy continuations: the third token of row 0 and the
    # second token of row 1, so at least two rows end early.
    eos_ids = [full[0][2], full[1][1]]

    batch = sample(model, PROMPTS, **sample_kwargs(max_new_tokens=10, temperature=0, eos_token_ids=eos_ids))

    reasons = []
    for row, continuation in enumerate(full):
        ends = [k for k, token in enumerate(continuation) if token in eos_ids]
        if ends:
            assert batch.response_ids[row] == continuation[: ends[0] + 1]
            reasons.append("eos")
        else:
            assert batch.response_ids[row] == continuation
            reasons.append("length")
        assert len(batch.logprobs[row]) == len(batch.response_ids[row])
    assert batch.finish_reasons == reasons
    assert reasons.count("eos") >= 2


def test_sampled_rows_stop_at_eos_or_length(model):
    eos_ids = {4, 11}
    batch = sample(
        model, PROMPTS,
        **sample_kwargs(num_samples=8, max_new_tokens=6, temperature=1.5, eos_token_ids=sorted(eos_ids), seed=5),
    )

    assert set(batch.finish_reasons) == {"eos", "length"}
    for response, reason, logprobs in zip(batch.response_ids, batch.finish_reasons, batch.logprobs):
        assert len(logprobs) == len(response)
        assert not eos_ids & set(response[:-1])
        if reason == "eos":
            assert response[-1] in eos_ids
        else:
            assert len(response) == 6
            assert response[-1] not in eos_ids


def test_single_int_eos_is_accepted(model):
    eos_id = greedy_reference(model, PROMPTS[0], 3)[1]
    as_int = sample(model, PROMPTS, **sample_kwargs(temperature=0, eos_token_ids=eos_id))
    as_list = sample(model, PROMPTS, **sample_kwargs(temperature=0, eos_token_ids=[eos_id]))

    assert as_int == as_list
    assert as_int.finish_reasons[0] == "eos"


def test_eos_on_last_step_counts_as_eos(model):
    last_token = greedy_reference(model, PROMPTS[1], 4)[3]
    batch = sample(model, [PROMPTS[1]], **sample_kwargs(max_new_tokens=4, temperature=0, eos_token_ids=[last_token]))

    assert last_token not in batch.response_ids[0][:3], "test setup: the EOS id must first occur at step 4"
    assert len(batch.response_ids[0]) == 4
    assert batch.finish_reasons == ["eos"]


# --- randomness ---------------------------------------------------------------------


def test_same_seed_same_rollout(model):
    kwargs = sample_kwargs(num_samples=4, temperature=1.0, eos_token_ids=[5], seed=11, batch_size=6)
    first = sample(model, PROMPTS, **kwargs)
    second = sample(model, PROMPTS, **kwargs)

    assert first == second


def test_different_seed_different_rollout(model):
    first = sample(model, PROMPTS, **sample_kwargs(num_samples=4, seed=1))
    second = sample(model, PROMPTS, **sample_kwargs(num_samples=4, seed=2))

    assert first.response_ids != second.response_ids


def test_global_rng_untouched(model):
    state = torch.get_rng_state()
    sample(model, PROMPTS, **sample_kwargs(num_samples=2))

    assert torch.equal(torch.get_rng_state(), state)


def test_tiny_top_p_equals_greedy(model):
    nucleus = sample(model, PROMPTS, **sample_kwargs(top_p=1e-6, seed=4))
    greedy = sample(model, PROMPTS, **sample_kwargs(temperature=0))

    assert nucleus.response_ids == greedy.response_ids


def test_samples_of_one_prompt_differ(model):
    batch = sample(model, [PROMPTS[0]], **sample_kwargs(num_samples=6, temperature=1.5))

    assert len({tuple(response) for response in batch.response_ids}) > 1


def chi_square(counts: torch.Tensor, probs: torch.Tensor) -> float:
    expected = probs * counts.sum()
    return float(((counts - expected) ** 2 / expected).sum())


# 99.9% quantiles of the chi-square distribution with 4 and 2 degrees of freedom.
CHI2_999 = {4: 18.467, 2: 13.816}


@pytest.mark.parametrize("temperature", [1.0, 0.6])
def test_first_token_distribution_matches_softmax(temperature):
    model = make_model(vocab_size=5, seed=1)
    prompt = [1, 2]
    probs = torch.softmax(full_forward_logits(model, prompt)[-1] / temperature, dim=-1)
    assert float(probs.min()) > 0.02  # every cell expects > 80 draws

    batch = sample(
        model, [prompt],
        num_samples=4000, max_new_tokens=1, temperature=temperature,
        eos_token_ids=[], pad_token_id=0, seed=7, batch_size=4000,
    )

    counts = torch.bincount(torch.tensor([r[0] for r in batch.response_ids]), minlength=5).double()
    assert chi_square(counts, probs.double()) < CHI2_999[4]


def test_top_p_distribution_is_renormalised_nucleus():
    model = make_model(vocab_size=5, seed=1)
    prompt = [1, 2]
    probs = torch.softmax(full_forward_logits(model, prompt)[-1], dim=-1).double()
    order = probs.argsort(descending=True)
    # top_p halfway between the mass of the top 2 and the top 3 tokens keeps exactly 3.
    top_p = float(probs[order[:2]].sum() + probs[order[2]] / 2)

    batch = sample(
        model, [prompt],
        num_samples=3000, max_new_tokens=1, top_p=top_p,
        eos_token_ids=[], pad_token_id=0, seed=8, batch_size=3000,
    )

    counts = torch.bincount(torch.tensor([r[0] for r in batch.response_ids]), minlength=5).double()
    assert counts[order[3:]].sum() == 0
    nucleus = order[:3]
    assert chi_square(counts[nucleus], probs[nucleus] / probs[nucleus].sum()) < CHI2_999[2]


# --- nucleus filter ----------------------------------------------------------------------


def test_apply_top_p_hand_computed():
    probs = torch.tensor([[0.15, 0.5, 0.05, 0.3], [0.25, 0.25, 0.25, 0.25]])

    filtered = apply_top_p(probs, 0.75).tolist()
    assert filtered[0] == pytest.approx([0.0, 0.5, 0.0, 0.3])
    assert filtered[1] == [0.25, 0.25, 0.25, 0.0]  # a tie ranks the lower id first
    assert apply_top_p(probs, 0.85).tolist()[0] == pytest.approx([0.15, 0.5, 0.0, 0.3])
    assert apply_top_p(probs, 0.1).tolist()[0] == [0.0, 0.5, 0.0, 0.0]
    assert apply_top_p(probs, 1.0).tolist()[0] == pytest.approx([0.15, 0.5, 0.05, 0.3])


# --- score ------------------------------------------------------------------------------


@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_score_matches_unpadded_forward(model, temperature):
    responses = [[4, 5, 6], [7], [8, 9, 10, 11, 12], [13, 14]]

    scores = score(model, PROMPTS, responses, temperature=temperature, batch_size=3)

    expected = [score_reference(model, p, r, temperature) for p, r in zip(PROMPTS, responses)]
    assert_lists_close(scores, expected, tolerance=1e-5)


def test_score_aligns_by_response_index(model):
    response = [4, 5, 6, 7]
    short_prompt = [1, 2]
    long_prompt = [9, 9, 9, 9, 9, 1, 2]

    scores = score(model, [short_prompt, long_prompt], [response, response])

    assert len(scores[0]) == len(scores[1]) == 4
    assert scores[0] == pytest.approx(score_reference(model, short_prompt, response, 1.0), abs=1e-5)
    assert scores[1] == pytest.approx(score_reference(model, long_prompt, response, 1.0), abs=1e-5)
    assert scores[0] != pytest.approx(scores[1], abs=1e-3)


def test_score_empty_response_and_greedy_temperature(model):
    scores = score(model, [[1, 2], [3]], [[], [4, 5]], temperature=0)

    assert scores[0] == []
    assert scores[1] == pytest.approx(score_reference(model, [3], [4, 5], 1.0), abs=1e-5)


def test_score_rejects_bad_input(model):
    with pytest.raises(ValueError, match="one prompt per response"):
        score(model, [[1]], [[2], [3]])
    with pytest.raises(ValueError, match=r"prompt_ids\[1\] is empty"):
        score(model, [[1], []], [[2], [3]])
    with pytest.raises(ValueError, match="temperature"):
        score(model, [[1]], [[2]], temperature=-0.5)
    with pytest.raises(ValueError, match=r"response_ids\[0\] contains token id 20"):
        score(model, [[1]], [[20]])


# --- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"num_samples": 0}, "num_samples must be an integer >= 1, got 0"),
        ({"num_samples": 2.0}, "num_samples must be an integer >= 1"),
        ({"max_new_tokens": 0}, "max_new_tokens must be an integer >= 1"),
        ({"batch_size": 0}, "batch_size must be an integer >= 1"),
        ({"top_p": 0.0}, r"top_p must be in \(0, 1\], got 0.0"),
        ({"top_p": 1.5}, r"top_p must be in \(0, 1\], got 1.5"),
        ({"temperature": -1.0}, "temperature must be a finite number >= 0"),
        ({"temperature": math.nan}, "temperature must be a finite number >= 0"),
        ({"seed": "7"}, "seed must be an integer"),
        ({"eos_token_ids": [3, 25]}, r"eos_token_ids\[0\] contains token id 25"),
        ({"pad_token_id": -1}, r"pad_token_id\[0\] contains token id -1"),
    ],
)
def test_sample_rejects_bad_arguments(model, overrides, message):
    with pytest.raises(ValueError, match=message):
        sample(model, PROMPTS, **sample_kwargs(**overrides))


@pytest.mark.parametrize(
    "prompts, message",
    [
        ([[1, 2], []], r"prompts\[1\] is empty"),
        ([[1, 2], [3, 20]], r"prompts\[1\] contains token id 20, outside the model's vocabulary \[0, 20\)"),
        ([[1.5, 2]], r"prompts\[0\] must contain integer token ids"),
        (["hello"], r"prompts\[0\] must contain integer token ids"),
    ],
)
def test_sample_rejects_bad_prompts(model, prompts, message):
    with pytest.raises(ValueError, match=message):
        sample(model, prompts, **sample_kwargs())


def test_no_prompts_give_empty_batch(model):
    assert sample(model, [], **sample_kwargs()) == RolloutBatch([], [], [], [], [])


def test_progress_bar_does_not_change_results(model, capsys):
    without_bar = sample(model, PROMPTS, **sample_kwargs(batch_size=2))
    with_bar = sample(model, PROMPTS, **sample_kwargs(batch_size=2, progress=True))

    assert without_bar == with_bar
    assert "rollout" in capsys.readouterr().err
