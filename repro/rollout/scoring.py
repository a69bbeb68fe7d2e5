"""Teacher-forced log-probs of given responses, aligned by response-token index.

The same response ids can be scored under a different prompt, for example by a teacher
whose prompt also contains a reference solution. Entry k of a row is always the log-prob
of response token k, however long the prompt is.
"""

from __future__ import annotations

from typing import Sequence

import torch

from repro.rollout.forward import forward_logits, inspect_forward
from repro.rollout.inputs import check_temperature, check_token_ids, device_of, left_pad, vocab_size_of


def score(
    model: torch.nn.Module,
    prompt_ids: Sequence[Sequence[int]],
    response_ids: Sequence[Sequence[int]],
    temperature: float = 1.0,
    *,
    batch_size: int = 64,
) -> list[list[float]]:
    """Return, per row and response token, log_softmax(logits / T) at that token.

    ``temperature`` 0 scores at T=1, matching the log-probs that greedy ``sample``
    reports. Rows are left-padded in batches of ``batch_size``, sorted by length to
    keep padding short. An empty response gets an empty list. The model runs in eval
    mode without gradients and gets its training mode back afterwards.
    """
    if len(prompt_ids) != len(response_ids):
        raise ValueError(
            f"prompt_ids has {len(prompt_ids)} rows but response_ids has {len(response_ids)}; "
            "pass one prompt per response"
        )
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    temperature = check_temperature(temperature)
    if temperature == 0:
        temperature = 1.0
    vocab_size = vocab_size_of(model)
    prompts = check_token_ids(prompt_ids, "prompt_ids", vocab_size, allow_empty=False)
    responses = check_token_ids(response_ids, "response_ids", vocab_size, allow_empty=True)

    scores: list[list[float]] = [[] for _ in responses]
    rows = [row for row in range(len(responses)) if responses[row]]
    rows.sort(key=lambda row: len(prompts[row]) + len(responses[row]))

    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for start in range(0, len(rows), batch_size):
                batch_rows = rows[start : start + batch_size]
                batch_scores = _score_batch(
                    model,
                    [prompts[row] for row in batch_rows],
                    [responses[row] for row in batch_rows],
                    temperature,
                )
                for row, row_scores in zip(batch_rows, batch_scores):
                    scores[row] = row_scores
    finally:
        model.train(was_training)
    return scores


def _score_batch(
    model: torch.nn.Module, prompts: list[list[int]], responses: list[list[int]], temperature: float
) -> list[list[float]]:
    # Input = prompt + response minus its last token. With left padding every row ends
    # in the last column, so the last R positions (R = longest response) predict every
    # response token, right-aligned.
    device = device_of(model)
    inputs = [prompt + response[:-1] for prompt, response in zip(prompts, responses)]
    input_ids_BL, attention_mask_BL, position_ids_BL = left_pad(inputs, pad_token_id=0, device=device)

    max_response_length = max(len(response) for response in responses)
    targets_BR, _, _ = left_pad(responses, pad_token_id=0, device=device)
    logits_BRV, _ = forward_logits(
        model, inspect_forward(model), input_ids_BL, attention_mask_BL, position_ids_BL,
        cache=None, logits_to_keep=max_response_length, use_cache=False,
    )

    logits_BRV = logits_BRV / temperature
    target_logits_BR = logits_BRV.gather(-1, targets_BR.unsqueeze(-1)).squeeze(-1)
    logprobs_BR = target_logits_BR - torch.logsumexp(logits_BRV, dim=-1)

    return [
        logprobs_BR[row, max_response_length - len(response) :].tolist()
        for row, response in enumerate(responses)
    ]
