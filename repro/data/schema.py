"""The problem schema shared by every suite and corpus, with validated JSONL I/O.

One JSON object per line:

    {"id": "arith-t1-00042", "domain": "arith", "tier": 1,
     "prompt": "Q: 23+48\\nA: ", "answer": "71",
     "solution": "... \\boxed{71}", "metadata": {}}

``prompt`` is the text given to the model, ``answer`` the gold final answer as a
string, ``solution`` an optional reference solution (demonstration or privileged
context). Any line that breaks the schema raises ProblemFormatError naming the file,
the line number and the field.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

from repro.utils.atomic import atomic_output_file
from repro.utils.jsonl import iter_jsonl_objects

REQUIRED_FIELDS = ("id", "prompt", "answer")


class ProblemFormatError(ValueError):
    """A problem file or record does not follow the schema."""


@dataclass(frozen=True)
class Problem:
    id: str
    prompt: str
    answer: str
    domain: str = "default"
    tier: int = 1
    solution: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, record: Any, where: str = "record") -> "Problem":
        if not isinstance(record, dict):
            raise ProblemFormatError(f"{where}: expected a JSON object, got {type(record).__name__}")
        missing = [name for name in REQUIRED_FIELDS if name not in record]
        if missing:
            raise ProblemFormatError(
                f"{where}: missing required field(s) {missing}; every problem needs "
                f"{list(REQUIRED_FIELDS)}"
            )
        known = {"id", "prompt", "answer", "domain", "tier", "solution", "metadata"}
        unknown = sorted(set(record) - known)
        if unknown:
            raise ProblemFormatError(
                f"{where}: unknown field(s) {unknown}; valid fields are {sorted(known)}"
            )
        for name in ("id", "prompt", "domain"):
            if name in record and not isinstance(record[name], str):
                raise ProblemFormatError(f"{where}: field {name!r} must be a string, got {record[name]!r}")
        answer = record["answer"]
        if isinstance(answer, bool) or not isinstance(answer, (str, int)):
            raise ProblemFormatError(f"{where}: field 'answer' must be a string or integer, got {answer!r}")
        if str(answer).strip() == "":
            raise ProblemFormatError(f"{where}: field 'answer' is empty; give the gold final answer")
        tier = record.get("tier", 1)
        if isinstance(tier, bool) or not isinstance(tier, int):
            raise ProblemFormatError(f"{where}: field 'tier' must be an integer, got {tier!r}")
        solution = record.get("solution")
        if solution is not None and not isinstance(solution, str):
            raise ProblemFormatError(f"{where}: field 'solution' must be a string or null")
        metadata = record.get("metadata", {})
        if not isinstance(metadata, dict):
            raise ProblemFormatError(f"{where}: field 'metadata' must be an object")
        return cls(
            id=record["id"],
            prompt=record["prompt"],
            answer=str(answer),
            domain=record.get("domain", "default"),
            tier=tier,
            solution=solution,
            metadata=metadata,
        )


def read_problems(path: str | os.PathLike) -> list[Problem]:
    """Read and validate a problem JSONL file; duplicate ids are an error."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"problem file not found: {path}")
    problems: list[Problem] = []
    seen: set[str] = set()
    for where, record in iter_jsonl_objects(path, ProblemFormatError):
        problem = Problem.from_json(record, where)
        if problem.id in seen:
            raise ProblemFormatError(f"{where}: duplicate problem id {problem.id!r}")
        seen.add(problem.id)
        problems.append(problem)
    if not problems:
        raise ProblemFormatError(f"{path}: no problems found")
    return problems


def write_problems(path: str | os.PathLike, problems: Iterable[Problem]) -> None:
    """Write problems as JSONL atomically."""
    with atomic_output_file(path) as handle:
        for problem in problems:
            handle.write(json.dumps(problem.to_json(), sort_keys=True) + "\n")
