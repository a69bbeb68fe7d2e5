"""Comparison tables (Markdown, CSV, LaTeX), plots and summaries of runs and their evaluations.

``render_comparison(manifest_entries, out_dir, title, metric)`` turns a manifest (one entry per
evaluated row, suite and seed) into a table with mean ± std over seeds per suite. The SFT
staircase (both bugs, one fix each, both fixed) is one such table, and later stages add rows of
the same kind. ``cli_main(argv)`` is the ``repro report`` command.
"""

from repro.report.compare import cli_main, render_comparison
from repro.report.manifest import ManifestEntry, ReportInputError, parse_manifest, read_manifest
from repro.report.table import Cell, ComparisonTable, TableRow, build_table

__all__ = [
    "Cell",
    "ComparisonTable",
    "ManifestEntry",
    "ReportInputError",
    "TableRow",
    "build_table",
    "cli_main",
    "parse_manifest",
    "read_manifest",
    "render_comparison",
]
