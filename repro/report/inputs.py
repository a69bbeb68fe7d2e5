"""Readers for the two inputs of a report: evaluation metrics.json and training metrics.jsonl.

An evaluation folder's metrics.json stores one suite's metrics with the sampling settings that
produced them:

    {"suite": "aime", "model": "...", "num_problems": 100,
     "sampling": {"n": 16, "temperature": 1.0, "top_p": 1.0, "max_new_tokens": 256, "seed": 0},
     "metrics": {"avg@16": {"value": 0.31, "ci_low": 0.27, "ci_high": 0.35}, ...},
     "rates": {"no_answer": 0.02, "truncated": 0.01, "eos": 0.99}, "per_domain": {...}}

Metric values are fractions in [0, 1]. A training run folder's metrics.jsonl contains one JSON
object per optimizer step with a "step" and fixed metric names ("train/loss", "train/grad_norm", ...).
A line may lack any metric except "step".
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from repro.report.manifest import ReportInputError
from repro.utils.jsonl import iter_jsonl_objects

logger = logging.getLogger(__name__)

# Sampling settings that every metrics.json must state; other keys in "sampling" are compared too.
REQUIRED_SAMPLING_KEYS = ("n", "temperature", "top_p", "max_new_tokens")
# The sampling seed differs between evaluation seeds by design, so it is never compared.
PER_SEED_SAMPLING_KEYS = ("seed",)


@dataclass(frozen=True)
class EvalMetrics:
    """One metric of one evaluation, as a fraction, with its confidence interval and sampling settings."""

    path: Path
    suite: str
    num_problems: int
    sampling: dict[str, Any]
    value: float
    ci_low: float | None = None
    ci_high: float | None = None
    rates: dict[str, float] = field(default_factory=dict)


def read_eval_metrics(path: Path, metric: str) -> EvalMetrics:
    """Read ``metric`` from an evaluation's metrics.json.

    Raises ReportInputError naming the file when it is missing, is not valid JSON, lacks the metric
    (listing the ones it has), lacks a required sampling setting, or stores a value outside [0, 1].
    """
    if not path.is_file():
        raise ReportInputError(
            f"metrics file not found: {path}; run the evaluation for this entry or fix its 'metrics' path"
        )
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ReportInputError(f"{path}: invalid JSON ({error.msg} at line {error.lineno}); re-run the evaluation") from None
    if not isinstance(record, dict):
        raise ReportInputError(f"{path}: expected a JSON object, got a {type(record).__name__}")

    for key in ("suite", "num_problems", "sampling", "metrics"):
        if key not in record:
            raise ReportInputError(f"{path}: missing key {key!r}; this file was not written by the evaluation stage")
    sampling = record["sampling"]
    if not isinstance(sampling, dict):
        raise ReportInputError(f"{path}: 'sampling' must be an object, got {sampling!r}")
    missing = [key for key in REQUIRED_SAMPLING_KEYS if key not in sampling]
    if missing:
        raise ReportInputError(
            f"{path}: 'sampling' lacks {missing}; every number must come with {list(REQUIRED_SAMPLING_KEYS)}"
        )
    num_problems = record["num_problems"]
    if isinstance(num_problems, bool) or not isinstance(num_problems, int) or num_problems < 1:
        raise ReportInputError(f"{path}: 'num_problems' must be a positive integer, got {num_problems!r}")

    metrics = record["metrics"]
    if not isinstance(metrics, dict) or metric not in metrics:
        available = sorted(metrics) if isinstance(metrics, dict) else []
        raise ReportInputError(
            f"{path}: metric {metric!r} not found; this file has {available}. "
            "Choose one of those (--metric) or re-evaluate with enough samples per problem"
        )
    measured = metrics[metric]
    value = measured.get("value") if isinstance(measured, dict) else None
    where = f"{path}: metric {metric!r}"
    value = _fraction(value, where, "value")
    if value is None:
        raise ReportInputError(f"{where} has no 'value'; expected {{'value': <fraction in [0, 1]>, ...}}")

    rates = record.get("rates", {})
    return EvalMetrics(
        path=path,
        suite=record["suite"],
        num_problems=num_problems,
        sampling=dict(sampling),
        value=value,
        ci_low=_fraction(measured.get("ci_low"), where, "ci_low"),
        ci_high=_fraction(measured.get("ci_high"), where, "ci_high"),
        rates=dict(rates) if isinstance(rates, dict) else {},
    )


def _fraction(value: Any, where: str, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ReportInputError(
            f"{where}: {name} {value!r} is not a fraction in [0, 1]; metrics files store fractions, not percent"
        )
    return float(value)


def comparable_sampling(sampling: dict[str, Any]) -> dict[str, Any]:
    """Return the sampling settings that must agree across a table (all but the per-seed ones)."""
    return {key: value for key, value in sampling.items() if key not in PER_SEED_SAMPLING_KEYS}


def read_training_log(run_dir: Path, keys: Iterable[str]) -> dict[str, dict[int, float]]:
    """Read ``keys`` per step from ``run_dir``/metrics.jsonl as {key: {step: value}}.

    Lines without a key are skipped for that key. A step logged twice (a resumed run logs the
    steps after its last checkpoint again) keeps the later line. Raises ReportInputError naming
    the file and line for a missing file, invalid JSON, a missing or non-integer step, or a
    non-numeric value, and when the file holds no step at all.
    """
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        raise ReportInputError(
            f"training log not found: {path}; fix the entry's 'run' folder, or set 'run' to null "
            "for a model without a training run"
        )
    keys = tuple(keys)
    series: dict[str, dict[int, float]] = {key: {} for key in keys}
    num_steps = 0

    for where, record in iter_jsonl_objects(path, ReportInputError):
        step = record.get("step")
        if isinstance(step, bool) or not isinstance(step, int):
            raise ReportInputError(f"{where}: 'step' must be an integer, got {step!r}")
        num_steps += 1

        for key in keys:
            if key not in record:
                continue
            value = record[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ReportInputError(f"{where}: {key!r} must be a number, got {value!r}")
            series[key][step] = float(value)

    if num_steps == 0:
        raise ReportInputError(f"{path}: no steps logged; the training run did not finish a step")
    for key, values in series.items():
        bad_steps = [step for step, value in values.items() if not math.isfinite(value)]
        if bad_steps:
            logger.warning("%s: %s is not finite at %d step(s), first at step %d", path, key, len(bad_steps), min(bad_steps))
    return series
