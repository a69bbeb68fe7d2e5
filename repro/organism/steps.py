"""Digit-by-digit arithmetic steps, the solution format a 1M-parameter model can learn.

Each operation is written column by column from the least significant digit. A column
shows its inputs, the carry (or borrow) coming in, and a two-digit output: the carry
going out, then the digit. The result follows after `` =`` and the step ends with ``.``:

    347+185: 7+5+0=12 4+8+1=13 3+1+1=05 =532.
    532-92: 2-2-0=00 3-9-0=14 5-0-1=04 =440.
    123*7: 3*7+0=21 2*7+2=16 1*7+1=08 =861.
    2604/7: 2/7=0r2 26/7=3r5 50/7=7r1 14/7=2r0 =372.

Division works from the most significant digit (long division: the running remainder
times ten plus the next digit, divided by the divisor). A step can be written with
noise: one column gets a wrong digit, optionally followed by `` wait `` and the
corrected column. ``find_step_errors`` re-checks every column and every result in a text.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass


@dataclass
class StepNoise:
    """Random step errors for the noisy pretraining phase.

    ``error_prob`` is the probability that a step has exactly one wrong column.
    ``wait_prob`` is the probability that the wrong column is then followed by " wait " and
    the corrected column, so that the step's result is right after all.
    """

    rng: random.Random
    error_prob: float
    wait_prob: float


@dataclass(frozen=True)
class Step:
    """One written operation: its text and the result it states (wrong if a noisy column stuck)."""

    text: str
    result: int


def _digits_lsb_first(value: int, width: int) -> list[int]:
    return [(value // 10**i) % 10 for i in range(width)]


def _pick_error_column(num_columns: int, noise: StepNoise | None) -> tuple[int, bool]:
    """Return (index of the column to corrupt or -1, whether it is corrected with 'wait')."""
    if noise is None or noise.rng.random() >= noise.error_prob:
        return -1, False
    column = noise.rng.randrange(num_columns)
    corrected = noise.rng.random() < noise.wait_prob
    return column, corrected


def _wrong_digit(digit: int, rng: random.Random) -> int:
    return rng.choice([d for d in range(10) if d != digit])


def _check_operands(name: str, *values: int) -> None:
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} needs non-negative integers, got {value!r}")


def _column_step(
    head: str,
    columns: list[tuple[str, int, int]],
    noise: StepNoise | None,
) -> Step:
    """Assemble a column-wise step.

    ``columns`` contains (column text before '=', carry out, digit) from the least significant
    column. The stated result is the last column's carry out followed by the digits in reverse.
    """
    error_column, corrected = _pick_error_column(len(columns), noise)
    parts = []
    digits = []
    for index, (lhs, carry, digit) in enumerate(columns):
        if index == error_column:
            wrong = _wrong_digit(digit, noise.rng)
            parts.append(f"{lhs}={carry}{wrong}")
            if corrected:
                parts.append(f"wait {lhs}={carry}{digit}")
                digits.append(digit)
            else:
                digits.append(wrong)
        else:
            parts.append(f"{lhs}={carry}{digit}")
            digits.append(digit)
    final_carry = columns[-1][1]
    result = final_carry * 10 ** len(digits) + sum(d * 10**i for i, d in enumerate(digits))
    return Step(f"{head}: {' '.join(parts)} ={result}.", result)


def add_step(a: int, b: int, noise: StepNoise | None = None) -> Step:
    """Write a+b column by column: ``x+y+carry_in=<carry_out><digit>``."""
    _check_operands("add_step", a, b)
    width = max(len(str(a)), len(str(b)))
    columns = []
    carry = 0
    for x, y in zip(_digits_lsb_first(a, width), _digits_lsb_first(b, width)):
        total = x + y + carry
        columns.append((f"{x}+{y}+{carry}", total // 10, total % 10))
        carry = total // 10
    return _column_step(f"{a}+{b}", columns, noise)


def sub_step(a: int, b: int, noise: StepNoise | None = None) -> Step:
    """Write a-b (a >= b) column by column: ``x-y-borrow_in=<borrow_out><digit>``."""
    _check_operands("sub_step", a, b)
    if b > a:
        raise ValueError(f"sub_step needs a >= b so the result is non-negative, got {a}-{b}")
    width = len(str(a))
    columns = []
    borrow = 0
    for x, y in zip(_digits_lsb_first(a, width), _digits_lsb_first(b, width)):
        value = x - y - borrow
        borrow_out = 1 if value < 0 else 0
        columns.append((f"{x}-{y}-{borrow}", borrow_out, value + 10 * borrow_out))
        borrow = borrow_out
    return _column_step(f"{a}-{b}", columns, noise)


def mul_step(a: int, d: int, noise: StepNoise | None = None) -> Step:
    """Write a*d for a one-digit d column by column: ``x*d+carry_in=<carry_out><digit>``."""
    _check_operands("mul_step", a, d)
    if d > 9:
        raise ValueError(f"mul_step multiplies by one digit, got d={d}")
    columns = []
    carry = 0
    for x in _digits_lsb_first(a, len(str(a))):
        total = x * d + carry
        columns.append((f"{x}*{d}+{carry}", total // 10, total % 10))
        carry = total // 10
    return _column_step(f"{a}*{d}", columns, noise)


def div_step(n: int, d: int, noise: StepNoise | None = None) -> Step:
    """Write n/d for a one-digit d by long division: ``current/d=<quotient digit>r<remainder>``.

    The quotient is exact here (remainder 0 at the end); a noisy column states a wrong
    quotient digit with the correct remainder.
    """
    _check_operands("div_step", n, d)
    if not 2 <= d <= 9:
        raise ValueError(f"div_step divides by one digit 2-9, got d={d}")
    if n % d:
        raise ValueError(f"div_step needs an exact division, got {n}/{d} with remainder {n % d}")
    digits = [int(c) for c in str(n)]
    error_column, corrected = _pick_error_column(len(digits), noise)
    parts = []
    quotient_digits = []
    remainder = 0
    for index, digit in enumerate(digits):
        current = remainder * 10 + digit
        q, remainder = divmod(current, d)
        if index == error_column:
            wrong = _wrong_digit(q, noise.rng)
            parts.append(f"{current}/{d}={wrong}r{remainder}")
            if corrected:
                parts.append(f"wait {current}/{d}={q}r{remainder}")
                quotient_digits.append(q)
            else:
                quotient_digits.append(wrong)
        else:
            parts.append(f"{current}/{d}={q}r{remainder}")
            quotient_digits.append(q)
    result = int("".join(str(q) for q in quotient_digits))
    return Step(f"{n}/{d}: {' '.join(parts)} ={result}.", result)


def inverse_check(step_op: str, a: int, b: int, result: int) -> str:
    """Write the self-verification of a step ``a <op> b = result`` by the inverse operation.

    The check is always computed correctly from the stated result; it ends with ``ok.``
    when it recovers ``a`` and with ``no.`` otherwise.
    """
    if step_op == "+":
        if b > result:
            check, expected = add_step(result, b), a  # only reachable from a wrong stated result
        else:
            check, expected = sub_step(result, b), a
    elif step_op == "-":
        check, expected = add_step(result, b), a
    elif step_op == "/":
        check, expected = mul_step(result, b), a
    else:
        raise ValueError(f"inverse_check supports '+', '-' and '/', got {step_op!r}")
    verdict = "ok" if check.result == expected else "no"
    return f"check {check.text[:-1]} {verdict}."


# Regular expressions for re-checking written steps.
_STEP_RE = re.compile(r"(?P<a>\d+)(?P<op>[-+*/])(?P<b>\d+): (?P<body>(?:[^ =\n][^ \n]* )*?)=(?P<result>\d+)")
_ADD_COL = re.compile(r"^(\d)\+(\d)\+([01])=(\d)(\d)$")
_SUB_COL = re.compile(r"^(\d)-(\d)-([01])=([01])(\d)$")
_MUL_COL = re.compile(r"^(\d)\*(\d)\+(\d)=(\d)(\d)$")
_DIV_COL = re.compile(r"^(\d+)/(\d)=(\d)r(\d)$")


def _column_is_correct(column: str) -> bool:
    if m := _ADD_COL.match(column):
        x, y, c, co, d = map(int, m.groups())
        return x + y + c == 10 * co + d
    if m := _SUB_COL.match(column):
        x, y, b, bo, d = map(int, m.groups())
        return x - y - b == d - 10 * bo
    if m := _MUL_COL.match(column):
        x, y, c, co, d = map(int, m.groups())
        return x * y + c == 10 * co + d
    if m := _DIV_COL.match(column):
        current, d, q, r = map(int, m.groups())
        return current == q * d + r and r < d
    return False


def find_step_errors(text: str) -> list[str]:
    """Return a description of every wrong column or wrong step result in ``text``.

    A column directly followed by ``wait`` counts as retracted and is not reported. A step's
    result is compared with the true value of its operation. An empty list means every
    written step is correct.
    """
    errors = []
    for match in _STEP_RE.finditer(text):
        a, b, op = int(match["a"]), int(match["b"]), match["op"]
        tokens = match["body"].split()
        for index, token in enumerate(tokens):
            if token == "wait":
                continue
            retracted = index + 1 < len(tokens) and tokens[index + 1] == "wait"
            if not retracted and not _column_is_correct(token):
                errors.append(f"wrong column {token!r} in {match.group(0).strip()!r}")
        true_value = {"+": a + b, "-": a - b, "*": a * b, "/": a // b if b else -1}[op]
        if op == "/" and (b == 0 or a % b):
            true_value = -1
        if int(match["result"]) != true_value:
            errors.append(f"wrong result {match['result']} for {a}{op}{b}")
    return errors
