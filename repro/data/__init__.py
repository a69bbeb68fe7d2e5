"""Problem schema, validated JSONL reading and writing, and suite cards."""

from repro.data.schema import Problem, ProblemFormatError, read_problems, write_problems

__all__ = ["Problem", "ProblemFormatError", "read_problems", "write_problems"]
