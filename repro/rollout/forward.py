"""One forward call of a Hugging Face causal LM with an explicit mask, positions and KV cache.

transformers 5 renamed the cache argument and output field from ``past_key_values`` to
``cache``. In 5.25 ``LlamaForCausalLM.forward`` still maps the old name with a deprecation
notice that runs until 5.40. Models with remote code may still use the old name, so the
name is read from the model's ``forward`` signature.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class ForwardSpec:
    """Optional arguments accepted by a model's ``forward``."""

    cache_argument: str | None
    """``cache`` or ``past_key_values``, or None when the model takes no KV cache."""
    accepts_logits_to_keep: bool


def inspect_forward(model: torch.nn.Module) -> ForwardSpec:
    """Read the cache argument name and ``logits_to_keep`` support from ``model.forward``."""
    parameters = inspect.signature(model.forward).parameters
    if "cache" in parameters:
        cache_argument = "cache"
    elif "past_key_values" in parameters:
        cache_argument = "past_key_values"
    else:
        cache_argument = None
    return ForwardSpec(cache_argument, "logits_to_keep" in parameters)


def forward_logits(
    model: torch.nn.Module,
    spec: ForwardSpec,
    input_ids_BL: torch.Tensor,
    attention_mask_BK: torch.Tensor,
    position_ids_BL: torch.Tensor,
    cache: Any,
    logits_to_keep: int,
    use_cache: bool = True,
) -> tuple[torch.Tensor, Any]:
    """Run the model and return float32 logits of the last ``logits_to_keep`` positions and the cache.

    ``attention_mask_BK`` covers the cached tokens and the new ones (K = cached + L).
    Pass ``cache=None`` on the first call, so that the model creates its own cache type.
    With ``use_cache=False`` no cache is kept and the returned cache is None.
    Returns logits of shape (B, logits_to_keep, V).
    """
    kwargs = {
        "input_ids": input_ids_BL,
        "attention_mask": attention_mask_BK,
        "position_ids": position_ids_BL,
        "use_cache": use_cache,
    }
    if use_cache:
        if spec.cache_argument is None:
            raise ValueError(
                f"{type(model).__name__}.forward accepts neither `cache` nor `past_key_values`; "
                "the sampler needs a Hugging Face causal LM with a KV cache"
            )
        kwargs[spec.cache_argument] = cache
    if spec.accepts_logits_to_keep:
        kwargs["logits_to_keep"] = logits_to_keep

    output = model(**kwargs)
    logits_BLV = output.logits[:, -logits_to_keep:, :].float()
    if not use_cache:
        return logits_BLV, None

    new_cache = output.get(spec.cache_argument)
    if new_cache is None:
        raise ValueError(
            f"{type(model).__name__} returned no `{spec.cache_argument}` with use_cache=True; "
            "the sampler needs a model that returns its KV cache"
        )
    return logits_BLV, new_cache
