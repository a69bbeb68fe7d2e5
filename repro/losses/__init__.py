"""Pure loss functions shared by every method: no I/O and no state.

Shapes in names: B sequences, T token positions, V vocabulary, P prompts, G responses per
prompt. Each extension point is a registry looked up by the name a config gives:
ADVANTAGE_ESTIMATORS, POLICY_LOSSES, AGGREGATIONS and KL_ESTIMATORS.
"""

from repro.losses.advantages import ADVANTAGE_ESTIMATORS, mixed_group_advantage, opd_advantage
from repro.losses.aggregation import (
    AGGREGATIONS,
    DEFAULT_AGGREGATION,
    StepContext,
    aggregate,
    count_tokens_and_sequences,
)
from repro.losses.kl import KL_ESTIMATORS, kl_penalty
from repro.losses.logprobs import sft_nll, token_entropy, token_logprobs
from repro.losses.policy import POLICY_LOSSES

__all__ = [
    "ADVANTAGE_ESTIMATORS",
    "AGGREGATIONS",
    "DEFAULT_AGGREGATION",
    "KL_ESTIMATORS",
    "POLICY_LOSSES",
    "StepContext",
    "aggregate",
    "count_tokens_and_sequences",
    "kl_penalty",
    "mixed_group_advantage",
    "opd_advantage",
    "sft_nll",
    "token_entropy",
    "token_logprobs",
]
