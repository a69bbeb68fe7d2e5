"""Evaluation: sampling per problem, grading, and metrics (avg@k, pass@k, maj@k) with uncertainty."""

from repro.eval.metrics import (
    avg_at_k,
    bootstrap_ci,
    maj_at_k,
    pass_at_k,
    summarize,
)

__all__ = ["avg_at_k", "bootstrap_ci", "maj_at_k", "pass_at_k", "summarize"]
