"""Summarise a workflow's Snakemake benchmark records: jobs, CPU-side wall time and peak memory per rule.

    .venv/bin/python benchmarks/workflow_records.py results/default

Each job's record (results/<experiment>/benchmarks/**.tsv) contains its wall time (s) and peak RSS
(max_rss, MB). Jobs run two at a time under `--cores all` on 2 cores, so the sum of job times is
about twice the workflow's wall time; measure that with `time snakemake ...`.
"""

from __future__ import annotations

import csv
import sys
from collections import defaultdict
from pathlib import Path


def read_records(results_dir: Path) -> dict[str, list[tuple[str, float, float]]]:
    """Return {rule group: [(job, seconds, max_rss_mb)]} from every benchmark TSV under results_dir."""
    root = results_dir / "benchmarks"
    if not root.is_dir():
        raise SystemExit(f"no benchmark records under {root}; run the workflow first")
    groups: dict[str, list[tuple[str, float, float]]] = defaultdict(list)
    for path in sorted(root.rglob("*.tsv")):
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
        if not rows:
            continue
        row = rows[-1]
        group = path.parent.name if path.parent != root else path.stem.split("-")[0]
        if group == "rl":
            group = path.stem.split("-")[0]
        max_rss = float(row["max_rss"]) if row["max_rss"] not in ("", "NA", "-") else float("nan")
        groups[group].append((path.stem, float(row["s"]), max_rss))
    return groups


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    groups = read_records(Path(argv[0]))
    print("| rule | jobs | total job time (min) | longest job (s) | peak RSS (MB) |")
    print("|---|---:|---:|---:|---:|")
    total = 0.0
    for group, jobs in sorted(groups.items()):
        seconds = [s for _, s, _ in jobs]
        total += sum(seconds)
        peak = max(rss for _, _, rss in jobs)
        print(f"| {group} | {len(jobs)} | {sum(seconds) / 60:.1f} | {max(seconds):.0f} | {peak:.0f} |")
    print(f"\nsum of job times: {total / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
