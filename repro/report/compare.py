"""Render a comparison of runs (tables, plots, summary) from a manifest of evaluations.

    repro report --manifest results/exp/staircase.json --out results/exp/staircase \\
        --title "SFT staircase" --metric avg@16

Every input is read and checked before anything is written, and the output folder appears only
once it is complete, so a bad manifest leaves no partial table behind.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path
from typing import Any, Sequence

from repro.report.formats import format_csv, format_latex, format_long_csv, format_markdown, summarize
from repro.report.inputs import EvalMetrics, read_eval_metrics, read_training_log
from repro.report.manifest import ManifestEntry, ReportInputError, parse_manifest, read_manifest
from repro.report.plots import CURVE_KEYS, plot_bars, plot_curves
from repro.report.table import ComparisonTable, build_table
from repro.utils.atomic import atomic_output_dir

logger = logging.getLogger(__name__)

OUTPUT_FILES = ("table.md", "table.csv", "table_long.csv", "table.tex", "bar.png", "curves.png", "summary.json")


def render_comparison(
    manifest_entries: Sequence[Any],
    out_dir: str | os.PathLike,
    title: str,
    metric: str = "avg@16",
    base_dir: str | os.PathLike | None = None,
) -> ComparisonTable:
    """Write table.md, table.csv, table_long.csv, table.tex, bar.png, curves.png and summary.json to ``out_dir``.

    ``manifest_entries`` are the manifest's entry objects; relative paths in them are resolved
    against ``base_dir`` (default: the working directory). An existing report in ``out_dir`` is
    replaced as a whole. Raises ReportInputError, with ``out_dir`` left untouched, for an empty
    manifest, an invalid entry, a missing metrics file or training log, a metric missing from a
    metrics file, or sampling settings that differ between entries.
    """
    if not isinstance(title, str) or not title.strip():
        raise ReportInputError(f"title must be a non-empty string, got {title!r}")
    if not isinstance(metric, str) or not metric.strip():
        raise ReportInputError(f"metric must be a non-empty name such as 'avg@16', got {metric!r}")
    out_dir = Path(out_dir)

    entries = parse_manifest(manifest_entries, base_dir)
    evaluations = _read_evaluations(entries, metric)
    table = build_table(entries, evaluations, title, metric)
    curves = _read_curves(entries)
    _check_out_dir(out_dir, entries)

    # The files are written plainly because the staging folder as a whole is renamed into place.
    with atomic_output_dir(out_dir) as staging:
        (staging / "table.md").write_text(format_markdown(table), encoding="utf-8")
        (staging / "table.csv").write_text(format_csv(table), encoding="utf-8")
        (staging / "table_long.csv").write_text(format_long_csv(table), encoding="utf-8")
        (staging / "table.tex").write_text(format_latex(table), encoding="utf-8")
        plot_bars(table, staging / "bar.png")
        plot_curves(title, curves, staging / "curves.png")
        summary = json.dumps(summarize(table), indent=2, sort_keys=True)
        (staging / "summary.json").write_text(summary + "\n", encoding="utf-8")

    logger.info(
        "wrote comparison %r to %s: %d rows, %d suites, %d evaluations, %d rows with training curves",
        title, out_dir, len(table.rows), len(table.suites), len(entries), len(curves),
    )
    return table


def _read_evaluations(entries: list[ManifestEntry], metric: str) -> list[EvalMetrics]:
    cache: dict[Path, EvalMetrics] = {}
    evaluations = []
    for entry in entries:
        if entry.metrics not in cache:
            try:
                cache[entry.metrics] = read_eval_metrics(entry.metrics, metric)
            except ReportInputError as error:
                raise ReportInputError(f"{entry.describe()}: {error}") from None
        evaluations.append(cache[entry.metrics])
    return evaluations


def _read_curves(entries: list[ManifestEntry]) -> dict[str, dict[str, dict[int, dict[int, float]]]]:
    """Read the training log of every (row, seed) with a run folder as row -> metric -> seed -> step -> value."""
    curves: dict[str, dict[str, dict[int, dict[int, float]]]] = {}
    for entry in entries:
        if entry.run is None:
            continue
        per_metric = curves.setdefault(entry.row, {key: {} for key in CURVE_KEYS})
        if entry.seed in per_metric[CURVE_KEYS[0]]:
            continue  # this seed's run was already read for another suite
        try:
            series = read_training_log(entry.run, CURVE_KEYS)
        except ReportInputError as error:
            raise ReportInputError(f"{entry.describe()}: {error}") from None
        for key in CURVE_KEYS:
            per_metric[key][entry.seed] = series[key]
    return curves


def _check_out_dir(out_dir: Path, entries: list[ManifestEntry]) -> None:
    """Reject an output folder whose replacement would delete something other than an earlier report."""
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise ReportInputError(f"output path {out_dir} exists and is not a folder; choose a folder path for --out")

    resolved = out_dir.resolve()
    for entry in entries:
        for path in (entry.metrics, entry.run):
            if path is not None and resolved in path.resolve().parents:
                raise ReportInputError(
                    f"{entry.describe()}: input {path} lies inside the output folder {out_dir}, which is "
                    "replaced as a whole; write the report to a separate folder"
                )
    if any(out_dir.iterdir()) and not (out_dir / "summary.json").is_file():
        raise ReportInputError(
            f"output folder {out_dir} is not empty and contains no earlier report (no summary.json); "
            "it would be replaced as a whole, so choose a new or empty folder"
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="repro report",
        description="Render comparison tables (Markdown, CSV, LaTeX), plots and a JSON summary from a manifest.",
    )
    parser.add_argument("--manifest", required=True, type=Path, help="JSON list of entries, one per (row, suite, seed)")
    parser.add_argument("--out", required=True, type=Path, help="output folder; an earlier report there is replaced")
    parser.add_argument("--title", required=True, help="table and figure title")
    parser.add_argument("--metric", default="avg@16", help="metric name in every metrics.json (default: avg@16)")
    parser.add_argument(
        "--base-dir", type=Path, default=None,
        help="folder that relative paths in the manifest are resolved against (default: working directory)",
    )
    return parser


def cli_main(argv: Sequence[str] | None = None) -> int:
    """Run the report command on ``argv`` and return exit status 0.

    Invalid input raises ReportInputError (a ValueError) instead of returning a non-zero status,
    so a caller that ignores the return value still cannot report success for a failed render.
    """
    args = build_parser().parse_args(argv)
    records = read_manifest(args.manifest)
    render_comparison(records, args.out, args.title, args.metric, base_dir=args.base_dir)
    print(f"wrote {', '.join(OUTPUT_FILES)} to {args.out}")
    return 0
