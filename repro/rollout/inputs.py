"""Input checks and left padding shared by the sampler and the scorer.

Token ids arrive as Python lists and stay ids: nothing here decodes or re-tokenizes.
"""

from __future__ import annotations

import math
import operator
from typing import Sequence

import torch


def vocab_size_of(model: torch.nn.Module) -> int:
    """Return the number of rows of the model's input embedding, the valid token id range."""
    return model.get_input_embeddings().num_embeddings


def device_of(model: torch.nn.Module) -> torch.device:
    """Return the device of the model's first parameter."""
    return next(model.parameters()).device


def check_token_ids(
    rows: Sequence[Sequence[int]], name: str, vocab_size: int, allow_empty: bool
) -> list[list[int]]:
    """Validate rows of token ids and return them as lists of Python ints.

    Each id must be an integer in [0, vocab_size). An empty row is rejected unless
    ``allow_empty`` is set. A ValueError names the first bad row.
    """
    checked = []
    for row_index, row in enumerate(rows):
        try:
            ids = [operator.index(token) for token in row]
        except TypeError as error:
            raise ValueError(
                f"{name}[{row_index}] must contain integer token ids, got {list(row)[:8]!r}...: {error}; "
                "pass token ids, not text or floats"
            ) from error

        if not ids and not allow_empty:
            raise ValueError(f"{name}[{row_index}] is empty; every row needs at least one token id")

        for token in ids:
            if not 0 <= token < vocab_size:
                raise ValueError(
                    f"{name}[{row_index}] contains token id {token}, outside the model's vocabulary "
                    f"[0, {vocab_size}); check that the ids come from the model's own tokenizer"
                )
        checked.append(ids)
    return checked


def check_temperature(temperature: float) -> float:
    """Return ``temperature`` as a float, or raise ValueError unless it is finite and >= 0."""
    value = float(temperature)
    if not math.isfinite(value) or value < 0:
        raise ValueError(
            f"temperature must be a finite number >= 0 (0 means greedy decoding), got {temperature!r}"
        )
    return value


def left_pad(
    rows: Sequence[Sequence[int]], pad_token_id: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Left-pad ``rows`` into a batch.

    Returns ``input_ids_BL``, ``attention_mask_BL`` (1 on real tokens) and
    ``position_ids_BL``, where each row's first real token gets position 0 and padding
    positions get 0 (they are masked, so their value only has to be a valid index).
    """
    length = max(len(row) for row in rows)
    input_ids_BL = torch.full((len(rows), length), pad_token_id, dtype=torch.long)
    attention_mask_BL = torch.zeros((len(rows), length), dtype=torch.long)
    for row_index, row in enumerate(rows):
        if row:
            input_ids_BL[row_index, length - len(row) :] = torch.tensor(row, dtype=torch.long)
            attention_mask_BL[row_index, length - len(row) :] = 1

    position_ids_BL = (attention_mask_BL.cumsum(dim=-1) - 1).clamp(min=0)
    return input_ids_BL.to(device), attention_mask_BL.to(device), position_ids_BL.to(device)
