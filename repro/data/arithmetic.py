"""A natural-language arithmetic workload for small real models (SmolLM2-135M-Instruct).

Questions such as "What is 17 + 25?" with integer answers and demonstrations that end in
``\\boxed{42}``, generated offline from a seed, in three domains (add, sub, mul). The test,
SFT and RL splits never share a question.

    repro arith-data --out DIR [--seed 0]      # DIR/test.jsonl, DIR/sft.jsonl, DIR/rl.jsonl

The suite card ``arith`` reads DIR/test.jsonl (pass DIR as the card's root).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from repro.data.schema import Problem, write_problems

DOMAINS = ("add", "sub", "mul")
INSTRUCTION = "Give the final answer as \\boxed{N}."
SPLITS = ("test", "sft", "rl")


@dataclass(frozen=True)
class ArithmeticConfig:
    seed: int = 0
    test_size: int = 60
    sft_size: int = 300
    rl_size: int = 300
    max_operand: int = 50
    """Operands are drawn from [2, max_operand], except the first factor of mul, from [2, 12]."""

    def __post_init__(self) -> None:
        for name in ("test_size", "sft_size", "rl_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"ArithmeticConfig.{name} must be a positive integer, got {value!r}")
        if isinstance(self.max_operand, bool) or not isinstance(self.max_operand, int) or self.max_operand < 10:
            raise ValueError(f"ArithmeticConfig.max_operand must be an integer >= 10, got {self.max_operand!r}")
        # Every split cycles through the domains, so each domain needs at most this many questions.
        per_domain = sum(-(-size // len(DOMAINS)) for size in (self.test_size, self.sft_size, self.rl_size))
        smallest = min(distinct_questions(domain, self.max_operand) for domain in DOMAINS)
        if 2 * per_domain > smallest:
            raise ValueError(
                f"ArithmeticConfig needs {per_domain} distinct questions per domain, more than half of the "
                f"{smallest} that max_operand={self.max_operand} allows; raise max_operand or lower the split sizes"
            )


def distinct_questions(domain: str, max_operand: int) -> int:
    """Return how many different questions ``draw_question`` can produce for ``domain``."""
    span = max_operand - 1
    if domain == "add":
        return span * span
    if domain == "sub":
        return span * (span + 1) // 2
    if domain == "mul":
        return 11 * span
    raise ValueError(f"unknown arithmetic domain {domain!r}; valid domains are {list(DOMAINS)}")


def draw_question(domain: str, rng: random.Random, max_operand: int) -> tuple[str, int]:
    """Draw one question of ``domain`` and return (question text, integer answer)."""
    if domain == "add":
        a, b = rng.randint(2, max_operand), rng.randint(2, max_operand)
        return f"What is {a} + {b}?", a + b
    if domain == "sub":
        a, b = rng.randint(2, max_operand), rng.randint(2, max_operand)
        a, b = max(a, b), min(a, b)  # keep answers non-negative
        return f"What is {a} - {b}?", a - b
    if domain == "mul":
        a, b = rng.randint(2, 12), rng.randint(2, max_operand)
        return f"What is {a} times {b}?", a * b
    raise ValueError(f"unknown arithmetic domain {domain!r}; valid domains are {list(DOMAINS)}")


def demonstration(question: str, answer: int) -> str:
    """Return the reference solution of a question: the equation, then the boxed answer."""
    expression = question.removeprefix("What is ").removesuffix("?").replace(" times ", " * ")
    return f"{expression} = {answer}.\nThe answer is \\boxed{{{answer}}}."


def build_arithmetic_splits(cfg: ArithmeticConfig) -> dict[str, list[Problem]]:
    """Generate the test, SFT and RL splits with disjoint questions, domains in turn."""
    rng = random.Random(f"arithmetic:{cfg.seed}")
    sizes = {"test": cfg.test_size, "sft": cfg.sft_size, "rl": cfg.rl_size}
    seen: set[str] = set()
    splits: dict[str, list[Problem]] = {}
    for split in SPLITS:
        problems = []
        while len(problems) < sizes[split]:
            domain = DOMAINS[len(problems) % len(DOMAINS)]
            question, answer = draw_question(domain, rng, cfg.max_operand)
            if question in seen:
                continue
            seen.add(question)
            problems.append(Problem(
                id=f"arith-{split}-{len(problems):04d}",
                prompt=f"{question} {INSTRUCTION}",
                answer=str(answer),
                domain=domain,
                tier=1,
                solution=demonstration(question, answer),
                metadata={"question": question},
            ))
        splits[split] = problems
    return splits


def build_arithmetic_data(cfg: ArithmeticConfig, out_dir: str | Path) -> dict[str, Path]:
    """Write DIR/test.jsonl, DIR/sft.jsonl and DIR/rl.jsonl atomically; return their paths."""
    out_dir = Path(out_dir)
    paths = {}
    for split, problems in build_arithmetic_splits(cfg).items():
        paths[split] = out_dir / f"{split}.jsonl"
        write_problems(paths[split], problems)
    return paths
