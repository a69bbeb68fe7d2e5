"""Aggregate manifest entries into a comparison table: one row per manifest row, one cell per suite.

A cell is the chosen metric of one row on one suite, summarised over seeds as the mean and the
sample standard deviation (ddof=1, and 0 for a single seed). With more than one suite, each row
also gets an "average" cell: per seed, the unweighted mean over all suites of the table (only seeds
evaluated on every suite count), then mean and std over those seeds. This is how the "6-benchmark
average" of SFT staircase results is formed.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, field
from typing import Any

from repro.report.inputs import REQUIRED_SAMPLING_KEYS, EvalMetrics, comparable_sampling
from repro.report.manifest import ManifestEntry, ReportInputError


# Rates of metrics.json shown beside the metric: samples without an extracted answer, and samples
# cut by the length limit.
RATE_NAMES = ("no_answer", "truncated")


@dataclass(frozen=True)
class Cell:
    """Per-seed values of one metric (fractions in [0, 1]) and their summary over seeds."""

    values: dict[int, float]  # seed -> value

    @property
    def num_seeds(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values.values())

    @property
    def std(self) -> float:
        """Sample standard deviation over seeds (ddof=1); 0 for a single seed."""
        if self.num_seeds < 2:
            return 0.0
        return statistics.stdev(self.values.values())


@dataclass
class TableRow:
    name: str
    variant: str
    stage: str
    cells: dict[str, Cell] = field(default_factory=dict)  # suite -> cell
    average: Cell | None = None
    flops_per_seed: dict[int, float] = field(default_factory=dict)
    # suite -> rate name ("no_answer", "truncated") -> per-seed fractions of samples
    rates: dict[str, dict[str, Cell]] = field(default_factory=dict)

    @property
    def seeds(self) -> list[int]:
        return sorted({seed for cell in self.cells.values() for seed in cell.values})

    @property
    def flops_mean(self) -> float | None:
        if not self.flops_per_seed:
            return None
        return statistics.fmean(self.flops_per_seed.values())


@dataclass
class ComparisonTable:
    """Everything the table, CSV, LaTeX, plots and summary.json are rendered from."""

    title: str
    metric: str
    k: int | None  # the k of the metric name ("avg@16" -> 16), None if the name has no "@k"
    sampling: dict[str, Any]  # settings shared by every entry (all but the sampling seed)
    suites: list[str]  # in order of first appearance in the manifest
    num_problems: dict[str, int]  # suite -> number of problems
    rows: list[TableRow]  # in order of first appearance in the manifest
    records: list[dict[str, Any]]  # one per manifest entry, long form

    def sampling_description(self) -> str:
        """Describe the sampling settings in one line, e.g. 'n = 16 samples per problem, k = 16, ...'."""
        parts = [f"n = {self.sampling['n']} samples per problem"]
        if self.k is not None:
            parts.append(f"k = {self.k}")
        parts += [
            f"temperature {self.sampling['temperature']}",
            f"top_p {self.sampling['top_p']}",
            f"max_new_tokens {self.sampling['max_new_tokens']}",
        ]
        extra = sorted(set(self.sampling) - set(REQUIRED_SAMPLING_KEYS))
        parts += [f"{key} {self.sampling[key]}" for key in extra]
        return ", ".join(parts)


def metric_k(metric: str) -> int | None:
    """Return k of a metric named like 'avg@16', 'pass@1' or 'maj@16'; None for a name without '@k'."""
    match = re.fullmatch(r".+@(\d+)", metric)
    return int(match.group(1)) if match else None


def build_table(
    entries: list[ManifestEntry], evaluations: list[EvalMetrics], title: str, metric: str
) -> ComparisonTable:
    """Group evaluations (aligned with ``entries``) into rows and cells.

    Raises ReportInputError when an evaluation's suite differs from its entry's, when sampling
    settings differ between entries (numbers sampled differently are not comparable), or when one
    suite's evaluations cover different numbers of problems.
    """
    if len(entries) != len(evaluations):
        raise ValueError(f"got {len(entries)} entries but {len(evaluations)} evaluations; pass one per entry")
    _check_suites(entries, evaluations)
    sampling = _shared_sampling(evaluations)
    num_problems = _problems_per_suite(evaluations)

    rows: dict[str, TableRow] = {}
    suites: list[str] = []
    records: list[dict[str, Any]] = []
    for entry, evaluation in zip(entries, evaluations):
        if entry.suite not in suites:
            suites.append(entry.suite)
        row = rows.setdefault(entry.row, TableRow(name=entry.row, variant=entry.variant, stage=entry.stage))
        cell = row.cells.setdefault(entry.suite, Cell(values={}))
        cell.values[entry.seed] = evaluation.value
        for name in RATE_NAMES:
            if isinstance(evaluation.rates.get(name), (int, float)):
                rate_cells = row.rates.setdefault(entry.suite, {})
                rate_cells.setdefault(name, Cell(values={})).values[entry.seed] = float(evaluation.rates[name])
        if entry.flops is not None:
            row.flops_per_seed[entry.seed] = entry.flops
        records.append(_long_record(entry, evaluation, metric))

    if len(suites) > 1:
        if "average" in suites:
            raise ReportInputError(
                "a suite is named 'average', which clashes with the average-over-suites column; rename the suite"
            )
        for row in rows.values():
            row.average = _average_over_suites(row, suites)

    return ComparisonTable(
        title=title,
        metric=metric,
        k=metric_k(metric),
        sampling=sampling,
        suites=suites,
        num_problems=num_problems,
        rows=list(rows.values()),
        records=records,
    )


def _check_suites(entries: list[ManifestEntry], evaluations: list[EvalMetrics]) -> None:
    for entry, evaluation in zip(entries, evaluations):
        if evaluation.suite != entry.suite:
            raise ReportInputError(
                f"{entry.describe()}: {evaluation.path} evaluates suite {evaluation.suite!r}, not {entry.suite!r}; "
                "fix the entry's 'suite' or 'metrics' path"
            )


def _shared_sampling(evaluations: list[EvalMetrics]) -> dict[str, Any]:
    reference = evaluations[0]
    expected = comparable_sampling(reference.sampling)
    for evaluation in evaluations[1:]:
        found = comparable_sampling(evaluation.sampling)
        if found == expected:
            continue
        differing = sorted(key for key in set(expected) | set(found) if expected.get(key) != found.get(key))
        raise ReportInputError(
            f"sampling settings differ between {reference.path} "
            f"({ {key: expected.get(key) for key in differing} }) and {evaluation.path} "
            f"({ {key: found.get(key) for key in differing} }); numbers sampled differently are not comparable, "
            "so re-evaluate with the same settings or render them in separate tables"
        )
    return expected


def _problems_per_suite(evaluations: list[EvalMetrics]) -> dict[str, int]:
    first: dict[str, EvalMetrics] = {}
    for evaluation in evaluations:
        reference = first.setdefault(evaluation.suite, evaluation)
        if evaluation.num_problems != reference.num_problems:
            raise ReportInputError(
                f"suite {evaluation.suite!r} has {reference.num_problems} problems in {reference.path} but "
                f"{evaluation.num_problems} in {evaluation.path}; evaluate every model on the same problems"
            )
    return {suite: evaluation.num_problems for suite, evaluation in first.items()}


def _average_over_suites(row: TableRow, suites: list[str]) -> Cell | None:
    """Average each seed's values over all suites; seeds missing a suite are left out."""
    per_seed: dict[int, float] = {}
    for seed in row.seeds:
        if all(suite in row.cells and seed in row.cells[suite].values for suite in suites):
            per_seed[seed] = statistics.fmean(row.cells[suite].values[seed] for suite in suites)
    return Cell(values=per_seed) if per_seed else None


def _long_record(entry: ManifestEntry, evaluation: EvalMetrics, metric: str) -> dict[str, Any]:
    return {
        "row": entry.row,
        "variant": entry.variant,
        "stage": entry.stage,
        "suite": entry.suite,
        "seed": entry.seed,
        "metric": metric,
        "value": evaluation.value,
        "ci_low": evaluation.ci_low,
        "ci_high": evaluation.ci_high,
        "flops": entry.flops,
        "rates": evaluation.rates,
        "metrics_path": str(entry.metrics),
        "run": None if entry.run is None else str(entry.run),
    }
