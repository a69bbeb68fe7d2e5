"""Batched sampling from a Hugging Face causal LM with a KV cache.

Each batch runs one forward pass over its left-padded prompts (each distinct prompt
once, even with several samples per prompt), then one forward pass per new token.
Rows that have finished are dropped from the batch once a quarter of it has finished,
and the loop stops as soon as every row has finished.

The sampler reports, per response token, ``log_softmax(logits / T)`` at the sampled id
without the top-p filter, because the training side recomputes the sampler's log-probs
that way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Sequence

import torch
from tqdm import tqdm

from repro.rollout.forward import ForwardSpec, forward_logits, inspect_forward
from repro.rollout.inputs import check_temperature, check_token_ids, device_of, left_pad, vocab_size_of

logger = logging.getLogger(__name__)


@dataclass
class RolloutBatch:
    """Sampled responses, one row per (prompt, sample), prompt-major.

    Rows 0 .. num_samples-1 come from prompt 0, the next num_samples rows from prompt 1,
    and so on. ``prompt_index`` stores that mapping.
    """

    prompt_ids: list[list[int]]
    """Per row, the prompt token ids without padding."""
    response_ids: list[list[int]]
    """Per row, the sampled ids up to and including the first EOS id, nothing after it."""
    logprobs: list[list[float]]
    """Per row and response token, log_softmax(logits / T) at the sampled id (T=1 when greedy)."""
    finish_reasons: list[str]
    """Per row, "eos" (an id of the EOS set ended it) or "length" (cut at max_new_tokens)."""
    prompt_index: list[int]
    """Per row, the index of its prompt in the input list."""


def sample(
    model: torch.nn.Module,
    prompts: Sequence[Sequence[int]],
    *,
    num_samples: int = 1,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_p: float = 1.0,
    eos_token_ids: Sequence[int] | int,
    pad_token_id: int,
    seed: int,
    batch_size: int = 64,
    progress: bool = False,
) -> RolloutBatch:
    """Sample ``num_samples`` responses per prompt and return them with their log-probs.

    ``temperature`` 0 means greedy decoding. ``top_p`` < 1 restricts sampling to the
    smallest set of most likely tokens whose probability reaches ``top_p`` (nucleus
    sampling) but does not change the reported log-probs. Any id in ``eos_token_ids``
    ends a row; an empty set lets every row run to ``max_new_tokens``. ``pad_token_id``
    only fills the left padding, which the attention mask hides.

    Results are deterministic for the same arguments, ``batch_size`` included, on the
    same device and software versions. The random draws come from a ``torch.Generator``
    seeded with ``seed``, and the global RNG is left untouched. The model runs in eval mode and gets its training mode back
    afterwards.
    """
    prompts, eos_ids = _check_sample_arguments(
        model, prompts, num_samples, max_new_tokens, temperature, top_p,
        eos_token_ids, pad_token_id, seed, batch_size,
    )
    temperature = float(temperature)
    device = device_of(model)
    spec = inspect_forward(model)
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)

    num_rows = len(prompts) * num_samples
    prompt_index = [row // num_samples for row in range(num_rows)]
    response_ids: list[list[int]] = [[] for _ in range(num_rows)]
    logprobs: list[list[float]] = [[] for _ in range(num_rows)]
    finish_reasons = ["length"] * num_rows

    was_training = model.training
    model.eval()
    try:
        batch_starts = range(0, num_rows, batch_size)
        for start in tqdm(batch_starts, desc="rollout", unit="batch", disable=not progress):
            rows = list(range(start, min(start + batch_size, num_rows)))
            with torch.inference_mode():
                _sample_batch(
                    model, spec, rows, [prompts[prompt_index[row]] for row in rows],
                    max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p,
                    eos_ids=eos_ids, pad_token_id=pad_token_id, generator=generator,
                    response_ids=response_ids, logprobs=logprobs, finish_reasons=finish_reasons,
                )
    finally:
        model.train(was_training)

    logger.debug(
        "sampled %d rows (%d prompts x %d samples), %d new tokens",
        num_rows, len(prompts), num_samples, sum(len(ids) for ids in response_ids),
    )
    return RolloutBatch(
        prompt_ids=[list(prompts[index]) for index in prompt_index],
        response_ids=response_ids,
        logprobs=logprobs,
        finish_reasons=finish_reasons,
        prompt_index=prompt_index,
    )


def apply_top_p(probs_BV: torch.Tensor, top_p: float) -> torch.Tensor:
    """Zero every token outside the nucleus of each row and return the unnormalised result.

    The nucleus is the smallest set of most likely tokens whose probability sum reaches
    ``top_p``. The most likely token is always kept. Among tokens of equal probability
    the lower id ranks first, as with argmax.
    """
    sorted_probs_BV, sorted_ids_BV = probs_BV.sort(dim=-1, descending=True, stable=True)
    mass_before_BV = sorted_probs_BV.cumsum(dim=-1) - sorted_probs_BV
    drop_sorted_BV = mass_before_BV >= top_p
    drop_BV = torch.zeros_like(drop_sorted_BV).scatter(-1, sorted_ids_BV, drop_sorted_BV)
    return probs_BV.masked_fill(drop_BV, 0.0)


def _check_sample_arguments(
    model: torch.nn.Module,
    prompts: Sequence[Sequence[int]],
    num_samples: int,
    max_new_tokens: int,
    temperature: float,
    top_p: float,
    eos_token_ids: Sequence[int] | int,
    pad_token_id: int,
    seed: int,
    batch_size: int,
) -> tuple[list[list[int]], frozenset[int]]:
    """Validate the arguments of ``sample`` and return the prompts as lists and the EOS set."""
    for name, value in (("num_samples", num_samples), ("max_new_tokens", max_new_tokens), ("batch_size", batch_size)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    check_temperature(temperature)
    if not 0 < float(top_p) <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p!r}; use 1.0 to disable nucleus filtering")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"seed must be an integer, got {seed!r}")

    vocab_size = vocab_size_of(model)
    checked_prompts = check_token_ids(prompts, "prompts", vocab_size, allow_empty=False)
    if isinstance(eos_token_ids, int):
        eos_token_ids = [eos_token_ids]
    eos_ids = check_token_ids([eos_token_ids], "eos_token_ids", vocab_size, allow_empty=True)[0]
    check_token_ids([[pad_token_id]], "pad_token_id", vocab_size, allow_empty=False)
    return checked_prompts, frozenset(eos_ids)


def _select_cache_rows(cache: Any, index_B: torch.Tensor) -> None:
    # Dynamic caches keep batch rows along dim 0 of every layer's keys and values. A
    # repeated index copies a row, which turns one prefilled prompt into several samples.
    # NOTE: checked only with transformers' DynamicCache (Llama); other cache types must
    # implement batch_select_indices, or sampling stops with the ValueError below.
    if not callable(getattr(cache, "batch_select_indices", None)):
        raise ValueError(
            f"the model's cache type {type(cache).__name__} cannot select batch rows; "
            "the sampler needs a cache with batch_select_indices, such as transformers.DynamicCache"
        )
    cache.batch_select_indices(index_B)


def _next_tokens(
    logits_BV: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pick one token per row and return the ids with their log-probs at ``temperature``."""
    if temperature == 0:
        logprobs_BV = torch.log_softmax(logits_BV, dim=-1)
        tokens_B = logits_BV.argmax(dim=-1)
    else:
        logprobs_BV = torch.log_softmax(logits_BV / temperature, dim=-1)
        probs_BV = logprobs_BV.exp()
        if top_p < 1:
            probs_BV = apply_top_p(probs_BV, top_p)
        tokens_B = torch.multinomial(probs_BV, num_samples=1, generator=generator).squeeze(-1)

    token_logprobs_B = logprobs_BV.gather(-1, tokens_B.unsqueeze(-1)).squeeze(-1)
    return tokens_B, token_logprobs_B


def _sample_batch(
    model: torch.nn.Module,
    spec: ForwardSpec,
    rows: list[int],
    row_prompts: list[list[int]],
    *,
    max_new_tokens: int,
    temperature: float,
    top_p: float,
    eos_ids: frozenset[int],
    pad_token_id: int,
    generator: torch.Generator,
    response_ids: list[list[int]],
    logprobs: list[list[float]],
    finish_reasons: list[str],
) -> None:
    """Decode one batch of rows and write each row's tokens, log-probs and finish reason in place."""
    device = device_of(model)

    # Prefill each distinct prompt once. Samples of one prompt are adjacent rows, so
    # comparing neighbours finds the duplicates.
    distinct_prompts: list[list[int]] = []
    expand_index = []
    for prompt in row_prompts:
        if not distinct_prompts or distinct_prompts[-1] is not prompt:
            distinct_prompts.append(prompt)
        expand_index.append(len(distinct_prompts) - 1)
    expand_index_B = torch.tensor(expand_index, device=device)

    input_ids_UP, prompt_mask_UP, position_ids_UP = left_pad(distinct_prompts, pad_token_id, device)
    prompt_length = input_ids_UP.shape[1]
    logits_U1V, cache = forward_logits(
        model, spec, input_ids_UP, prompt_mask_UP, position_ids_UP, cache=None, logits_to_keep=1
    )
    logits_BV = logits_U1V[expand_index_B, -1, :]
    if len(distinct_prompts) != len(rows):
        _select_cache_rows(cache, expand_index_B)

    # Attention mask over prompt and response slots. Response slots are filled in order,
    # so step t uses the first prompt_length + t + 1 columns.
    attention_mask_BK = torch.ones((len(rows), prompt_length + max_new_tokens), dtype=torch.long, device=device)
    attention_mask_BK[:, :prompt_length] = prompt_mask_UP[expand_index_B]
    next_position_B = prompt_mask_UP.sum(dim=-1)[expand_index_B]

    active_rows = list(rows)  # batch slot -> output row
    finished = set()
    for step in range(max_new_tokens):
        tokens_B, token_logprobs_B = _next_tokens(logits_BV, temperature, top_p, generator)

        for row, token, token_logprob in zip(active_rows, tokens_B.tolist(), token_logprobs_B.tolist()):
            if row in finished:
                continue
            response_ids[row].append(token)
            logprobs[row].append(token_logprob)
            if token in eos_ids:
                finish_reasons[row] = "eos"
                finished.add(row)

        if len(finished) == len(rows) or step == max_new_tokens - 1:
            break

        finished_in_batch = sum(row in finished for row in active_rows)
        if finished_in_batch >= max(1, len(active_rows) // 4):
            keep = [slot for slot, row in enumerate(active_rows) if row not in finished]
            keep_B = torch.tensor(keep, device=device)
            _select_cache_rows(cache, keep_B)
            active_rows = [active_rows[slot] for slot in keep]
            tokens_B = tokens_B[keep_B]
            attention_mask_BK = attention_mask_BK[keep_B]
            next_position_B = next_position_B[keep_B]

        logits_B1V, cache = forward_logits(
            model, spec,
            tokens_B.unsqueeze(-1),
            attention_mask_BK[:, : prompt_length + step + 1],
            next_position_B.unsqueeze(-1),
            cache=cache,
            logits_to_keep=1,
        )
        logits_BV = logits_B1V[:, -1, :]
        next_position_B = next_position_B + 1
