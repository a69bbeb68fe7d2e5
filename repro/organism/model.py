"""The organism's causal LM: a Llama-architecture model of about 1M parameters.

A Llama config (not Qwen2) keeps the character-level tokenizer when the folder is loaded
with AutoTokenizer under transformers 5.
"""

from __future__ import annotations

from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

from repro.organism.config import PretrainConfig
from repro.organism.tokenizer import BOS_TOKEN, EOS_TOKEN, PAD_TOKEN, build_vocab


def build_model_config(cfg: PretrainConfig | None = None) -> LlamaConfig:
    """Return the Llama config of the organism model (tied embeddings, RoPE, SwiGLU MLP)."""
    cfg = cfg or PretrainConfig()
    vocab = build_vocab()
    return LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads,
        num_key_value_heads=cfg.num_heads,
        max_position_embeddings=cfg.max_position_embeddings,
        rms_norm_eps=1e-5,
        tie_word_embeddings=True,
        bos_token_id=vocab[BOS_TOKEN],
        eos_token_id=vocab[EOS_TOKEN],
        pad_token_id=vocab[PAD_TOKEN],
    )


def build_generation_config() -> GenerationConfig:
    """Return the generation config saved with the model: EOS ends a response, PAD pads."""
    vocab = build_vocab()
    return GenerationConfig(
        bos_token_id=vocab[BOS_TOKEN],
        eos_token_id=vocab[EOS_TOKEN],
        pad_token_id=vocab[PAD_TOKEN],
    )


def build_model(cfg: PretrainConfig | None = None) -> LlamaForCausalLM:
    """Build a freshly initialised organism model in fp32 (seed torch before calling)."""
    model = LlamaForCausalLM(build_model_config(cfg))
    model.generation_config = build_generation_config()
    return model
