"""A tiny Llama model and a fixed-data method for training-loop tests."""

from __future__ import annotations

import random

import torch

from repro.methods.base import Method, MethodContext
from repro.train.batching import TrainSequence

VOCAB = 16
PAD = 0


def tiny_model(seed: int = 0, dtype=torch.float64):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=VOCAB, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         num_key_value_heads=2, intermediate_size=32, max_position_embeddings=64,
                         pad_token_id=PAD, bos_token_id=1, eos_token_id=2, tie_word_embeddings=True)
    model = LlamaForCausalLM(config).to(dtype)
    return model


def random_sequences(count: int, seed: int = 0, min_len: int = 3, max_len: int = 20) -> list[TrainSequence]:
    """Sequences of varied length whose second half is supervised, so token counts differ."""
    rng = random.Random(seed)
    sequences = []
    for _ in range(count):
        length = rng.randint(min_len, max_len)
        ids = [1] + [rng.randint(3, VOCAB - 1) for _ in range(length - 1)]
        prompt = max(1, length // 2)
        sequences.append(TrainSequence(input_ids=ids, loss_mask=[i >= prompt for i in range(length)]))
    return sequences


class FixedSequences(Method):
    """Serves fixed per-step batches (already split by rank) with the SFT per-token loss."""

    name = "fixed"

    def __init__(self, steps: list[list[TrainSequence]], context: MethodContext):
        super().__init__({}, context)
        self.steps = steps

    def step_sequences(self, step):
        batch = self.steps[step % len(self.steps)]
        per_rank = len(batch) // self.context.world_size
        return batch[self.context.rank * per_rank: (self.context.rank + 1) * per_rank]

    def token_loss(self, batch, logprobs_BT, entropy_BT):
        return -logprobs_BT


def context_for(model, batch_size: int, rank: int = 0, world_size: int = 1) -> MethodContext:
    return MethodContext(policy=model, tokenizer=None, seed=0, global_batch_size=batch_size,
                         rank=rank, world_size=world_size)


def grads_of(model) -> list[torch.Tensor]:
    return [p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p) for p in model.parameters()]


class BagOfPrefixLM(torch.nn.Module):
    """A float64-only causal LM (embedding, running mean over the prefix, linear head).

    Llama's RMSNorm computes in float32 even in a float64 model; this model has no such
    step, so gradients compare to 1e-12 whatever the loss scale.
    """

    def __init__(self, seed: int = 0):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.embed = torch.nn.Parameter(torch.randn(VOCAB, 8, generator=generator, dtype=torch.float64))
        self.head = torch.nn.Parameter(torch.randn(8, VOCAB, generator=generator, dtype=torch.float64))

    def forward(self, input_ids, attention_mask):
        from types import SimpleNamespace

        hidden = self.embed[input_ids] * attention_mask.unsqueeze(-1)
        counts = attention_mask.cumsum(dim=1).clamp(min=1).unsqueeze(-1)
        prefix_mean = hidden.cumsum(dim=1) / counts
        return SimpleNamespace(logits=torch.tanh(prefix_mean) @ self.head)
