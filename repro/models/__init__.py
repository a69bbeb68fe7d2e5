"""Load and save Hugging Face model folders, count parameters and FLOPs."""

from repro.models.io import count_parameters, load_causal_lm, load_tokenizer, save_model_folder

__all__ = ["count_parameters", "load_causal_lm", "load_tokenizer", "save_model_folder"]
