"""Batched sampling with a KV cache, and teacher-forced scoring of sampled responses.

Token ids stay ids end to end: prompts come in as ids, responses go out as ids with the
sampler's log-probs, and nothing is decoded and re-tokenized in between.
"""

from repro.rollout.sampler import RolloutBatch, apply_top_p, sample
from repro.rollout.scoring import score

__all__ = ["RolloutBatch", "apply_top_p", "sample", "score"]
