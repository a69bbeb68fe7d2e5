"""Answer equivalence: integer answers (AIME-style) and general math answers (Math-Verify).

    grade_answer("033", "33", "integer")      # True
    grade_answer("[2,5)", "[2,5)", "math")    # True, compared as intervals

"integer" compares the values of two integer strings ("033" == "33", "1,000" == "1000").
"math" uses the same integer comparison when both sides are integers and Math-Verify
(huggingface/Math-Verify 0.9) otherwise. Model output is never evaluated as code: it goes
only through Math-Verify's LaTeX parser, never through eval() or sympify().
"""

from __future__ import annotations

import functools
import re
from typing import Any

from repro.rewards.extraction import strip_number_wrappers

ANSWER_TYPES = ("integer", "math")

# Integer spellings: "42", "-7", "033", "1,000", LaTeX "1{,}000" and "1\,000", and "42.0".
_INTEGER = re.compile(r"(?P<sign>[+-]?)(?P<digits>\d{1,3}(?:,\d{3})+|\d+)(?:\.0+)?")
_LATEX_THOUSANDS_SEPARATORS = ("{,}", "\\,")

# Math-Verify compares powers and factorials by evaluating or expanding them, which does not
# finish in practical time for 2^{2^{40}} or (x+1)^{10^{9}}: both were still running after
# 20 s with its timeouts off (Math-Verify 0.9, 2-core CPU). At the limits below one comparison
# took 0.1-0.3 s there. The limits are far above the exponents and factorials in AIME or MATH
# answers (an estimate, not a survey), so a prediction beyond them is graded wrong unseen.
MAX_EXPONENT = 10**6
MAX_FACTORIAL_ARGUMENT = 10**5


def parse_integer(text: str) -> int | None:
    """Return the integer that ``text`` spells, or None when it is not an integer.

    Leading zeros, a sign, comma thousands separators (also LaTeX ``{,}`` and ``\\,``),
    a zero fractional part ("42.0") and number wrappers such as ``\\text{42}`` are accepted.
    """
    candidate = strip_number_wrappers(text)
    for separator in _LATEX_THOUSANDS_SEPARATORS:
        candidate = candidate.replace(separator, ",")

    match = _INTEGER.fullmatch(candidate)
    if match is None:
        return None
    value = int(match.group("digits").replace(",", ""))
    return -value if match.group("sign") == "-" else value


def grade_answer(
    extracted: str | None,
    gold: str,
    answer_type: str,
    *,
    timeout_seconds: int | None = None,
) -> bool:
    """Return whether an extracted answer equals the gold answer.

    ``answer_type`` is "integer" or "math". Under "integer" the prediction must spell the
    gold integer, and any other string is wrong. Under "math" the answers are compared by
    Math-Verify, with the integer comparison as a fast path. A None or blank extraction is
    always wrong, also against a blank gold.

    ``timeout_seconds`` is passed to Math-Verify, whose timeout uses SIGALRM and so works
    only in the main thread. The default None disables it, so grading works in any thread.

    Raises ValueError for an unknown ``answer_type`` and for a gold answer that is not an
    integer under "integer".
    """
    if answer_type not in ANSWER_TYPES:
        raise ValueError(f"unknown answer_type {answer_type!r}; valid values are {list(ANSWER_TYPES)}")
    if not isinstance(gold, str):
        raise TypeError(f"gold must be a str, got {type(gold).__name__} {gold!r}; convert it with str()")
    if extracted is not None and not isinstance(extracted, str):
        raise TypeError(f"extracted must be a str or None, got {type(extracted).__name__} {extracted!r}")

    if extracted is None or not extracted.strip() or not gold.strip():
        return False

    if answer_type == "integer":
        return _integers_equal(extracted, gold)
    return _math_equal(extracted, gold, timeout_seconds)


def _integers_equal(extracted: str, gold: str) -> bool:
    gold_value = parse_integer(gold)
    if gold_value is None:
        raise ValueError(
            f"gold answer {gold!r} is not an integer; grade it with answer_type='math' "
            "or fix the gold answer"
        )
    return parse_integer(extracted) == gold_value


def _math_equal(extracted: str, gold: str, timeout_seconds: int | None) -> bool:
    extracted_value = parse_integer(extracted)
    gold_value = parse_integer(gold)
    if extracted_value is not None and gold_value is not None:
        return extracted_value == gold_value

    if extracted.strip() == gold.strip():
        return True

    from math_verify import verify

    gold_parsed = _parse_gold(gold, timeout_seconds)
    predicted = _parse_latex(extracted, timeout_seconds)
    if not gold_parsed or not predicted:
        return False
    if any(_exceeds_size_limits(expression) for expression in predicted):
        return False
    return bool(verify(list(gold_parsed), predicted, timeout_seconds=timeout_seconds))


def _parse_latex(answer: str, timeout_seconds: int | None) -> list[Any]:
    """Parse one answer with Math-Verify's LaTeX parser only.

    The answer is wrapped in ``\\boxed{}`` because Math-Verify parses bare LaTeX such as
    ``\\sqrt{18}`` only inside ``$...$`` or a box. ExprExtractionConfig is left out because
    it runs sympy's parse_expr, which evaluates Python code, on the text.
    """
    from math_verify import LatexExtractionConfig, parse

    return parse(
        "\\boxed{" + answer + "}",
        extraction_config=[LatexExtractionConfig()],
        parsing_timeout=timeout_seconds,
    )


@functools.lru_cache(maxsize=1024)
def _parse_gold(gold: str, timeout_seconds: int | None) -> tuple[Any, ...]:
    # Every sample of a problem is graded against the same gold answer; sympy objects are
    # immutable, so caching the parsed gold is safe.
    return tuple(_parse_latex(gold, timeout_seconds))


def _exceeds_size_limits(expression: Any) -> bool:
    """Return whether a parsed prediction has a numeric power or factorial too large to compare."""
    import sympy

    if not isinstance(expression, sympy.Basic):
        return False

    for node in sympy.preorder_traversal(expression):
        if isinstance(node, sympy.Pow):
            exponent, limit = node.exp, MAX_EXPONENT
        elif isinstance(node, sympy.exp):
            exponent, limit = node.args[0], MAX_EXPONENT
        elif isinstance(node, sympy.factorial):
            exponent, limit = node.args[0], MAX_FACTORIAL_ARGUMENT
        else:
            continue
        if _magnitude_exceeds(exponent, limit):
            return True
    return False


def _magnitude_exceeds(value: Any, limit: int) -> bool:
    import sympy

    if not value.is_number:
        return False
    # sympy.N evaluates with mpmath floats, whose exponent is an unbounded integer, so even
    # 9^{9^{9}} in an exponent is sized at once (it gives inf for 9^{9^{9^{9}}}).
    try:
        magnitude = abs(complex(sympy.N(value, 15)))
    except (TypeError, ValueError, OverflowError, ArithmeticError):
        # A number sympy cannot evaluate cannot be compared numerically either.
        return True
    return magnitude > limit
