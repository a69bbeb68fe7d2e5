"""Hugging Face model folders: loading in fp32, atomic saving, parameter counts."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from repro.utils.atomic import atomic_output_dir


def _check_model_folder(path: Path) -> None:
    if not path.is_dir():
        raise FileNotFoundError(f"model folder not found: {path}")
    if not (path / "config.json").exists():
        raise FileNotFoundError(
            f"{path} has no config.json; expected a folder written by save_pretrained"
        )


def load_causal_lm(path: str | os.PathLike, dtype: torch.dtype = torch.float32):
    """Load a causal LM folder on the CPU in ``dtype`` (fp32 by default: bf16 training stalls here)."""
    from transformers import AutoModelForCausalLM

    path = Path(path)
    _check_model_folder(path)
    return AutoModelForCausalLM.from_pretrained(path, dtype=dtype)


def load_tokenizer(path: str | os.PathLike):
    from transformers import AutoTokenizer

    path = Path(path)
    _check_model_folder(path)
    return AutoTokenizer.from_pretrained(path)


def save_model_folder(model, tokenizer, path: str | os.PathLike) -> Path:
    """Save model (safetensors) and tokenizer into ``path``; the folder appears only when complete."""
    path = Path(path)
    with atomic_output_dir(path) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp)
    return path


def count_parameters(model) -> int:
    """Count distinct parameters; tied embeddings count once."""
    seen: set[int] = set()
    total = 0
    for parameter in model.parameters():
        if id(parameter) in seen:
            continue
        seen.add(id(parameter))
        total += parameter.numel()
    return total
