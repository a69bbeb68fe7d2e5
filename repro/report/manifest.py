"""The report manifest: which evaluation, and which training run, fills which cell of a table.

A manifest is a JSON list with one entry per evaluated (row, suite, seed):

    {"row": "SFT corrected", "variant": "corrected", "stage": "sft", "seed": 0, "suite": "aime",
     "metrics": "results/exp/eval/sft-corrected-s0/aime/metrics.json",
     "run": "results/exp/sft/corrected/s0", "flops": 1.2e13}

``run`` is null for a model without a training run (the base model). ``flops`` may be the string
"from_run", which takes the last compute/flops of the run's metrics.jsonl, and is null when
the training compute is unknown. Relative paths are resolved against a base folder, by default the
working directory, because that is how the Snakemake workflow writes them.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

MANIFEST_KEYS = ("row", "variant", "stage", "seed", "suite", "metrics", "run", "flops")


class ReportInputError(ValueError):
    """A manifest, metrics file or training log cannot be turned into a comparison table."""


@dataclass(frozen=True)
class ManifestEntry:
    """One evaluated (row, suite, seed) with its resolved paths."""

    row: str
    variant: str
    stage: str
    seed: int
    suite: str
    metrics: Path
    run: Path | None
    flops: float | None
    position: int  # 0-based index in the manifest, used in error messages

    def describe(self) -> str:
        return f"manifest entry {self.position} (row {self.row!r}, suite {self.suite!r}, seed {self.seed})"


def read_manifest(path: str | os.PathLike) -> list[Any]:
    """Load a manifest file: a JSON list of entry objects, validated later by parse_manifest."""
    path = Path(path)
    if not path.is_file():
        raise ReportInputError(f"manifest file not found: {path}; pass the JSON list written by the workflow")
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ReportInputError(f"manifest {path}: invalid JSON ({error.msg} at line {error.lineno}); fix the file") from None
    if not isinstance(records, list):
        raise ReportInputError(
            f"manifest {path}: expected a JSON list of entries, got a {type(records).__name__}"
        )
    return records


def parse_manifest(records: Sequence[Any], base_dir: str | os.PathLike | None = None) -> list[ManifestEntry]:
    """Validate manifest records and resolve their paths against ``base_dir`` (default: working directory).

    Raises ReportInputError naming the entry for a missing or unknown key, a wrong type, a duplicate
    (row, suite, seed), or a row whose entries disagree on variant, stage, run folder or FLOPs.
    """
    if isinstance(records, (str, bytes, dict)) or not isinstance(records, Sequence):
        raise ReportInputError(
            f"manifest must be a list of entry objects, got a {type(records).__name__}"
        )
    if len(records) == 0:
        raise ReportInputError(
            "manifest is empty; list at least one evaluation as "
            '{"row", "variant", "stage", "seed", "suite", "metrics", "run", "flops"}'
        )
    base = Path.cwd() if base_dir is None else Path(base_dir)

    entries = [_parse_entry(record, position, base) for position, record in enumerate(records)]

    _check_unique_cells(entries)
    _check_row_consistency(entries)
    return entries


def _parse_entry(record: Any, position: int, base: Path) -> ManifestEntry:
    where = f"manifest entry {position}"
    if not isinstance(record, dict):
        raise ReportInputError(f"{where}: expected a JSON object, got {record!r}")
    if isinstance(record.get("row"), str):
        where = f"{where} (row {record['row']!r})"

    missing = [key for key in MANIFEST_KEYS if key not in record]
    if missing:
        raise ReportInputError(
            f"{where}: missing key(s) {missing}; every entry needs {list(MANIFEST_KEYS)} "
            "(write null for 'run' and 'flops' when there is none)"
        )
    unknown = sorted(set(record) - set(MANIFEST_KEYS))
    if unknown:
        raise ReportInputError(f"{where}: unknown key(s) {unknown}; valid keys are {list(MANIFEST_KEYS)}")

    for key in ("row", "variant", "stage", "suite", "metrics"):
        value = record[key]
        if not isinstance(value, str) or not value.strip():
            raise ReportInputError(f"{where}: {key!r} must be a non-empty string, got {value!r}")
    seed = record["seed"]
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ReportInputError(f"{where}: 'seed' must be an integer, got {seed!r}")
    run = record["run"]
    if run is not None and (not isinstance(run, str) or not run.strip()):
        raise ReportInputError(f"{where}: 'run' must be a run folder path or null, got {run!r}")
    flops = record["flops"]
    if flops == "from_run":
        if run is None:
            raise ReportInputError(f"{where}: 'flops' is 'from_run' but 'run' is null; give the run folder or a number")
        flops = _last_run_flops(base / run, where)
    if flops is not None:
        if isinstance(flops, bool) or not isinstance(flops, (int, float)) or not math.isfinite(flops) or flops < 0:
            raise ReportInputError(f"{where}: 'flops' must be a finite number >= 0 or null, got {flops!r}")
        flops = float(flops)

    return ManifestEntry(
        row=record["row"],
        variant=record["variant"],
        stage=record["stage"],
        seed=seed,
        suite=record["suite"],
        metrics=base / record["metrics"],
        run=None if run is None else base / run,
        flops=flops,
        position=position,
    )


def _last_run_flops(run_dir: Path, where: str) -> float:
    """Return the compute/flops of the last step in ``run_dir``/metrics.jsonl (the whole run's count)."""
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        raise ReportInputError(f"{where}: 'flops' is 'from_run' but {path} does not exist; run the training first")
    flops = None
    for line in path.read_text().splitlines():
        if line.strip():
            flops = json.loads(line).get("compute/flops", flops)
    if flops is None:
        raise ReportInputError(f"{where}: {path} has no 'compute/flops' values")
    return float(flops)


def _check_unique_cells(entries: list[ManifestEntry]) -> None:
    seen: dict[tuple[str, str, int], ManifestEntry] = {}
    for entry in entries:
        key = (entry.row, entry.suite, entry.seed)
        if key in seen:
            raise ReportInputError(
                f"{entry.describe()} repeats manifest entry {seen[key].position}; each (row, suite, seed) "
                "may appear once, because a repeat would count one seed twice in the mean"
            )
        seen[key] = entry


def _check_row_consistency(entries: list[ManifestEntry]) -> None:
    """Require one variant and stage per row, one run folder and FLOPs count per (row, seed)."""
    first_of_row: dict[str, ManifestEntry] = {}
    first_of_seed: dict[tuple[str, int], ManifestEntry] = {}
    for entry in entries:
        first = first_of_row.setdefault(entry.row, entry)
        for key in ("variant", "stage"):
            if getattr(entry, key) != getattr(first, key):
                raise ReportInputError(
                    f"{entry.describe()}: {key} {getattr(entry, key)!r} differs from "
                    f"{getattr(first, key)!r} in manifest entry {first.position} of the same row; "
                    "give each variant or stage its own row name"
                )
        if (entry.flops is None) != (first.flops is None):
            raise ReportInputError(
                f"{entry.describe()}: 'flops' is given for some entries of row {entry.row!r} but not for "
                f"others (see manifest entry {first.position}); give it for every entry of the row or for none"
            )

        same_seed = first_of_seed.setdefault((entry.row, entry.seed), entry)
        if entry.run != same_seed.run:
            raise ReportInputError(
                f"{entry.describe()}: run folder {entry.run} differs from {same_seed.run} in manifest entry "
                f"{same_seed.position}; every suite of one (row, seed) must come from the same training run"
            )
        if entry.flops != same_seed.flops:
            raise ReportInputError(
                f"{entry.describe()}: flops {entry.flops!r} differs from {same_seed.flops!r} in manifest entry "
                f"{same_seed.position}; one training run has one FLOPs count"
            )
