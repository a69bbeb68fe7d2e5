"""Problem generators: three domains of integer arithmetic in two difficulty tiers.

Every final answer is an integer 0-999, written as ``\\boxed{N}``. Domains and tiers:

    addsub  tier 1: 347+185-92          tier 2: 347+185-92+406   (chains, left to right)
    mul     tier 1: 123*7+45            tier 2: 123*7-45*3       (one-digit factors)
    linear  tier 1: solve 7x+45=2649    tier 2: solve 9x-45=2x+2559

A reference solution writes each operation digit by digit (see repro.organism.steps), one
step per line, then checks the last step by its inverse operation and boxes the answer:

    347+185: 7+5+0=12 4+8+1=13 3+1+1=05 =532.
    532-92: 2-2-0=00 3-9-0=14 5-0-1=04 =440.
    check 440+92: 0+2+0=02 4+9+0=13 4+0+1=05 =532 ok.
    \\boxed{440}

A problem is drawn as a small dict of parameters (stored in Problem.metadata), so the
question and the solution are both functions of it.
"""

from __future__ import annotations

import random
from typing import Any

from repro.organism.steps import StepNoise, add_step, div_step, inverse_check, mul_step, sub_step

DOMAINS = ("addsub", "mul", "linear")
TIERS = (1, 2)
MAX_ANSWER = 999
# Retries of a noisy solution whose wrong intermediate result makes a later step invalid,
# for example a division that is no longer exact. After that the solution is written clean.
_NOISY_RETRIES = 20


def _operand(rng: random.Random, low: int, high: int) -> int:
    """Draw from [low, high], first choosing the digit count uniformly, so 1- and 2-digit
    operands are as common as 3-digit ones (uniform draws would be mostly 3-digit)."""
    if low > high:
        raise ValueError(f"empty operand range [{low}, {high}]")
    widths = [w for w in range(len(str(low)), len(str(high)) + 1)]
    width = rng.choice(widths)
    return rng.randint(max(low, 10 ** (width - 1) if width > 1 else 0), min(high, 10**width - 1))


def _check_domain_tier(domain: str, tier: int) -> None:
    if domain not in DOMAINS:
        raise ValueError(f"unknown domain {domain!r}; valid domains are {list(DOMAINS)}")
    if tier not in TIERS:
        raise ValueError(f"unknown tier {tier!r}; valid tiers are {list(TIERS)}")


def draw_params(domain: str, tier: int, rng: random.Random) -> dict[str, Any]:
    """Draw the parameters of one problem; every intermediate and the answer lie in 0-999."""
    _check_domain_tier(domain, tier)
    if domain == "addsub":
        return _draw_addsub(tier, rng)
    if domain == "mul":
        return _draw_mul(tier, rng)
    return _draw_linear(tier, rng)


def _draw_addsub(tier: int, rng: random.Random) -> dict[str, Any]:
    # Draw the running values uniformly and derive the operands from them, so every
    # intermediate value and the answer are uniform over 0-999 (drawing operands instead
    # makes small answers common and guessable).
    start = rng.randint(10, MAX_ANSWER)
    current = start
    ops = []
    while len(ops) < tier + 1:
        target = rng.randint(0, MAX_ANSWER)
        if target == current:
            continue
        ops.append(["+" if target > current else "-", abs(target - current)])
        current = target
    return {"start": start, "ops": ops}


def _draw_mul(tier: int, rng: random.Random) -> dict[str, Any]:
    # The answer is drawn (nearly) uniformly over 0-999 and the offset derived from it.
    while True:
        d = rng.randint(2, 9)
        a = _operand(rng, 2, MAX_ANSWER // d)
        product = a * d
        target = rng.randint(0, MAX_ANSWER)
        op = "+" if target > product else "-"
        if tier == 1:
            b = abs(target - product)
            if b < 1:
                continue
            return {"a": a, "d": d, "op": op, "b": b}
        e = rng.randint(2, 9)
        b = round(abs(target - product) / e)
        answer = product + b * e if op == "+" else product - b * e
        if b < 2 or not 0 <= answer <= MAX_ANSWER:
            continue
        return {"a": a, "d": d, "op": op, "b": b, "e": e}


def _draw_linear(tier: int, rng: random.Random) -> dict[str, Any]:
    x = rng.randint(0, MAX_ANSWER)
    if tier == 1:
        a = rng.randint(2, 9)
        b = _operand(rng, 1, MAX_ANSWER)
        return {"a": a, "b": b, "c": a * x + b, "x": x}
    # a*x (+|-) b = c*x + e with a - c >= 2, so the last step divides by one digit 2-9.
    a = rng.randint(3, 9)
    c = rng.randint(1, a - 2)
    sign = rng.choice(["+", "-"])
    k = a - c
    if sign == "+":
        b = _operand(rng, 1, MAX_ANSWER)
        e = k * x + b
    else:
        b = _operand(rng, 1, min(MAX_ANSWER, k * x)) if k * x >= 1 else 0
        if b == 0:
            sign, b = "+", _operand(rng, 1, MAX_ANSWER)
            e = k * x + b
        else:
            e = k * x - b
    return {"a": a, "sign": sign, "b": b, "c": c, "e": e, "x": x}


def question_text(domain: str, params: dict[str, Any]) -> str:
    """Return the question, e.g. ``347+185-92`` or ``solve 7x+45=2649``."""
    if domain == "addsub":
        return str(params["start"]) + "".join(f"{op}{value}" for op, value in params["ops"])
    if domain == "mul":
        text = f"{params['a']}*{params['d']}{params['op']}{params['b']}"
        return text + (f"*{params['e']}" if "e" in params else "")
    if domain == "linear":
        if "e" not in params:
            return f"solve {params['a']}x+{params['b']}={params['c']}"
        return f"solve {params['a']}x{params['sign']}{params['b']}={params['c']}x+{params['e']}"
    raise ValueError(f"unknown domain {domain!r}; valid domains are {list(DOMAINS)}")


def gold_answer(domain: str, params: dict[str, Any]) -> int:
    """Compute the answer directly from the parameters (independent of the written steps)."""
    if domain == "addsub":
        value = params["start"]
        for op, operand in params["ops"]:
            value = value + operand if op == "+" else value - operand
        return value
    if domain == "mul":
        second = params["b"] * params.get("e", 1)
        first = params["a"] * params["d"]
        return first + second if params["op"] == "+" else first - second
    if domain == "linear":
        return params["x"]
    raise ValueError(f"unknown domain {domain!r}; valid domains are {list(DOMAINS)}")


def _binary_step(op: str, a: int, b: int, noise: StepNoise | None):
    if op == "+":
        return add_step(a, b, noise)
    if op == "-":
        return sub_step(a, b, noise)
    if op == "*":
        return mul_step(a, b, noise)
    return div_step(a, b, noise)


def _solution_lines(domain: str, params: dict[str, Any], noise: StepNoise | None) -> tuple[list[str], int]:
    """Write the steps and the check; return (lines, stated answer). May raise ValueError
    when a noisy intermediate result makes a later step invalid."""
    lines = []
    if domain == "addsub":
        current = params["start"]
        for op, operand in params["ops"]:
            step = _binary_step(op, current, operand, noise)
            lines.append(step.text)
            last = (op, current, operand, step.result)
            current = step.result
    elif domain == "mul":
        first = mul_step(params["a"], params["d"], noise)
        lines.append(first.text)
        operand = params["b"]
        if "e" in params:
            second = mul_step(params["b"], params["e"], noise)
            lines.append(second.text)
            operand = second.result
        step = _binary_step(params["op"], first.result, operand, noise)
        lines.append(step.text)
        last = (params["op"], first.result, operand, step.result)
        current = step.result
    else:
        right = params["c"]
        divisor = params["a"]
        if "e" in params:
            divisor = params["a"] - params["c"]
            lines.append(f"{params['a']}x-{params['c']}x={divisor}x.")
            right = params["e"]
        undo = "-" if params.get("sign", "+") == "+" else "+"
        shifted = _binary_step(undo, right, params["b"], noise)
        lines.append(shifted.text)
        step = div_step(shifted.result, divisor, noise)
        lines.append(step.text)
        last = ("/", shifted.result, divisor, step.result)
        current = step.result
    lines.append(inverse_check(*last))
    return lines, current


def write_solution(domain: str, params: dict[str, Any], noise: StepNoise | None = None) -> tuple[str, int]:
    """Write a solution; return (text ending in ``\\boxed{N}``, the boxed N).

    Without noise every step is correct and N is the gold answer. With noise, steps may
    be wrong (and later steps build on the wrong value), so N may differ from the gold answer.
    """
    if noise is not None:
        for _ in range(_NOISY_RETRIES):
            try:
                lines, stated = _solution_lines(domain, params, noise)
                break
            except ValueError:
                continue
        else:
            lines, stated = _solution_lines(domain, params, None)
    else:
        lines, stated = _solution_lines(domain, params, None)
    lines.append(f"\\boxed{{{stated}}}")
    return "\n".join(lines), stated
