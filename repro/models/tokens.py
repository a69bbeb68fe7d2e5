"""Prompt encoding shared by training and evaluation, so both feed the model the same ids."""

from __future__ import annotations


def prompt_token_ids(tokenizer, prompt: str) -> list[int]:
    """Return BOS (when the tokenizer has one) followed by the prompt's ids, with no other special token."""
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    return bos + tokenizer(prompt, add_special_tokens=False)["input_ids"]


def eos_token_ids(model, tokenizer) -> list[int]:
    """Return every id that ends a response: the generation config's EOS set plus the tokenizer's."""
    ids: set[int] = set()
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if isinstance(configured, int):
        ids.add(configured)
    elif configured:
        ids.update(int(i) for i in configured)
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    if not ids:
        raise ValueError("the model defines no EOS token; set generation_config.eos_token_id")
    return sorted(ids)


def pad_token_id(tokenizer) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
