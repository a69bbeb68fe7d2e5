"""Answer extraction, answer equivalence and reward functions.

Math-Verify (and with it sympy) is imported only when a "math" answer needs it, so
importing this package stays cheap for rules that only extract or grade integers.
"""

from repro.rewards.extraction import (
    FINISH_REASONS,
    extract_boxed,
    extract_final_answer,
    split_reasoning,
    strip_number_wrappers,
)
from repro.rewards.grading import ANSWER_TYPES, grade_answer, parse_integer
from repro.rewards.reward import REWARD_FUNCTIONS, Grade, grade_response, verifier_reward

__all__ = [
    "ANSWER_TYPES",
    "FINISH_REASONS",
    "REWARD_FUNCTIONS",
    "Grade",
    "extract_boxed",
    "extract_final_answer",
    "grade_answer",
    "grade_response",
    "parse_integer",
    "split_reasoning",
    "strip_number_wrappers",
    "verifier_reward",
]
