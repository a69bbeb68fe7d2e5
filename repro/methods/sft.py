"""Supervised fine-tuning on demonstrations: plain next-token NLL on response tokens.

The loop's aggregation mode turns the per-token NLL into the step loss. With the default
("token_mean") that is one token mean over the whole optimizer step.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from repro.data.schema import read_problems
from repro.methods.base import METHODS, Method, MethodContext
from repro.models.chat import check_prompt_format, encode_chat_demonstration
from repro.models.tokens import eos_token_ids, prompt_token_ids
from repro.train.batching import SOURCE_DEMONSTRATION, TrainSequence

IGNORE_INDEX = -100


def build_sft_labels(input_ids: Sequence[int], attention_mask: Sequence[int], prompt_len: int,
                     eos_id: int, pad_id: int) -> list[int]:
    """Labels for one padded sequence: response tokens kept, prompt and padding set to -100.

    Padding is found from the attention mask, never by comparing ids with ``pad_id``: when
    pad and EOS share an id, that comparison would also drop the EOS the model must learn.
    """
    if len(input_ids) != len(attention_mask):
        raise ValueError(f"input_ids ({len(input_ids)}) and attention_mask ({len(attention_mask)}) differ in length")
    if not 0 <= prompt_len <= len(input_ids):
        raise ValueError(f"prompt_len={prompt_len} is outside [0, {len(input_ids)}]")
    labels = []
    for position, (token, attended) in enumerate(zip(input_ids, attention_mask)):
        supervised = attended and position >= prompt_len
        labels.append(int(token) if supervised else IGNORE_INDEX)
    return labels


def encode_demonstration(tokenizer, prompt: str, response: str, max_length: int | None = None) -> TrainSequence:
    """Token ids of BOS + prompt + response + EOS with the response and EOS supervised."""
    prompt_ids = prompt_token_ids(tokenizer, prompt)
    response_ids = tokenizer(response, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    input_ids = prompt_ids + response_ids
    if max_length is not None and len(input_ids) > max_length:
        raise ValueError(
            f"demonstration of {len(input_ids)} tokens exceeds max_length={max_length}; "
            f"raise max_length or shorten the data (prompt starts {prompt[:40]!r})"
        )
    labels = build_sft_labels(input_ids, [1] * len(input_ids), len(prompt_ids),
                              tokenizer.eos_token_id, tokenizer.pad_token_id)
    loss_mask = [label != IGNORE_INDEX for label in labels]
    return TrainSequence(
        input_ids=input_ids,
        loss_mask=loss_mask,
        source=[SOURCE_DEMONSTRATION] * len(input_ids),
    )


def epoch_order(num_items: int, seed: int, epoch: int) -> list[int]:
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(num_items, generator=generator).tolist()


def global_batch_indices(step: int, batch_size: int, num_items: int, seed: int) -> list[int]:
    """Dataset indices of optimizer step ``step``: a fresh seeded permutation every epoch.

    The order depends only on (seed, step), so a resumed run sees the same data.
    """
    orders: dict[int, list[int]] = {}
    indices = []
    for offset in range(step * batch_size, (step + 1) * batch_size):
        epoch, position = divmod(offset, num_items)
        if epoch not in orders:
            orders[epoch] = epoch_order(num_items, seed, epoch)
        indices.append(orders[epoch][position])
    return indices


def encode_chat_sequence(tokenizer, problem_id: str, prompt: str, response: str, end_token_ids: Sequence[int],
                         max_length: int | None = None) -> TrainSequence:
    """Encode a demonstration with the chat template, its response and end-of-turn token supervised."""
    demo = encode_chat_demonstration(tokenizer, prompt, response, sample_id=problem_id,
                                     end_token_ids=end_token_ids, max_length=max_length)
    return TrainSequence(
        input_ids=demo.input_ids,
        loss_mask=demo.loss_mask,
        source=[SOURCE_DEMONSTRATION] * len(demo.input_ids),
    )


@METHODS.register("sft")
class SFT(Method):
    """Params: ``data`` (problem JSONL whose ``solution`` is the target), ``max_length``,
    ``prompt_format`` ("raw": BOS + prompt + response + EOS; "chat": the tokenizer's chat template)."""

    name = "sft"

    def __init__(self, params: dict[str, Any], context: MethodContext):
        super().__init__(params, context)
        unknown = sorted(set(params) - {"data", "max_length", "prompt_format"})
        if unknown:
            raise ValueError(f"unknown sft parameter(s) {unknown}; valid: ['data', 'max_length', 'prompt_format']")
        if "data" not in params:
            raise ValueError("sft needs params.data: a problem JSONL file whose 'solution' fields are the demonstrations")
        problems = read_problems(params["data"])
        missing = [p.id for p in problems if not p.solution]
        if missing:
            raise ValueError(f"{params['data']}: {len(missing)} problem(s) have no solution to train on, e.g. {missing[:3]}")
        max_length = params.get("max_length")
        prompt_format = params.get("prompt_format", "raw")
        check_prompt_format(prompt_format)
        if prompt_format == "chat":
            end_ids = eos_token_ids(context.policy, context.tokenizer)
            self.sequences = [encode_chat_sequence(context.tokenizer, p.id, p.prompt, p.solution, end_ids, max_length)
                              for p in problems]
        else:
            self.sequences = [encode_demonstration(context.tokenizer, p.prompt, p.solution, max_length)
                              for p in problems]

    def step_sequences(self, step: int) -> list[TrainSequence]:
        ctx = self.context
        indices = global_batch_indices(step, ctx.global_batch_size, len(self.sequences), ctx.seed)
        per_rank = ctx.sequences_per_rank
        mine = indices[ctx.rank * per_rank: (ctx.rank + 1) * per_rank]
        return [self.sequences[i] for i in mine]

    def token_loss(self, batch, logprobs_BT, entropy_BT):
        return -logprobs_BT

    def normaliser_length(self) -> int | None:
        return self.params.get("max_length")
