"""Grading of whole responses and the verifier reward used by RL methods.

    grade = grade_response(response, gold="33", answer_type="integer", finish_reason="eos")
    reward = REWARD_FUNCTIONS.get("verifier")(response, "33", "integer", "eos")   # 1.0 or 0.0
"""

from __future__ import annotations

from dataclasses import dataclass

from repro.rewards.extraction import extract_final_answer
from repro.rewards.grading import grade_answer
from repro.utils.registry import Registry

# Every reward function takes (response, gold, answer_type, finish_reason) and returns a float.
REWARD_FUNCTIONS: Registry = Registry("reward function")


@dataclass(frozen=True)
class Grade:
    """The graded outcome of one response."""

    extracted: str | None
    """The final answer found in the response, or None when it has none."""
    correct: bool


def grade_response(
    response: str,
    gold: str,
    answer_type: str,
    finish_reason: str | None = None,
) -> Grade:
    """Extract the final answer of ``response`` and grade it against ``gold``.

    A response cut by the length limit or inside its reasoning has no answer and is wrong.
    See extract_final_answer and grade_answer for the rules.
    """
    extracted = extract_final_answer(response, finish_reason)
    return Grade(extracted=extracted, correct=grade_answer(extracted, gold, answer_type))


@REWARD_FUNCTIONS.register("verifier")
def verifier_reward(
    response: str,
    gold: str,
    answer_type: str,
    finish_reason: str | None = None,
) -> float:
    """Return the binary verifier reward: 1.0 for a correct final answer, else 0.0."""
    return 1.0 if grade_response(response, gold, answer_type, finish_reason).correct else 0.0
