"""Render a ComparisonTable as Markdown, LaTeX, wide and long CSV, and a JSON summary.

Markdown and LaTeX show percent with 1 decimal ("31.2 ± 1.4") and FLOPs with 3 significant
digits. The CSV files and the summary carry percent rounded to 6 decimals, which only removes
float noise such as 31.000000000000004.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from repro.report.table import RATE_NAMES, Cell, ComparisonTable, TableRow

MISSING = "–"  # shown in Markdown for a row that has no evaluation on a suite
STD_NOTE = "mean ± sample std over seeds (ddof=1; 0 for one seed)"
AVERAGE_NOTE = "Average: unweighted mean over suites for each seed, then over seeds"

LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def percent(fraction: float) -> float:
    return round(100.0 * fraction, 6)


def format_flops(flops: float) -> str:
    """Format FLOPs with 3 significant digits: 3.63e19, 1.20e13."""
    mantissa, exponent = f"{flops:.2e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def escape_latex(text: str) -> str:
    return "".join(LATEX_SPECIAL.get(char, char) for char in text)


def caption(table: ComparisonTable) -> str:
    """Describe units, spread and sampling settings in one line (the Markdown header and LaTeX caption)."""
    text = f"{table.metric} in percent, {STD_NOTE}. Sampling: {table.sampling_description()}."
    if len(table.suites) > 1:
        text += f" {AVERAGE_NOTE}."
    return text


def _has_flops(table: ComparisonTable) -> bool:
    return any(row.flops_mean is not None for row in table.rows)


def _cell_columns(table: ComparisonTable, row: TableRow) -> list[Cell | None]:
    cells: list[Cell | None] = [row.cells.get(suite) for suite in table.suites]
    if len(table.suites) > 1:
        cells.append(row.average)
    return cells


def _format_cell(cell: Cell | None, row: TableRow, plus_minus: str, missing: str) -> str:
    if cell is None:
        return missing
    text = f"{100 * cell.mean:.1f} {plus_minus} {100 * cell.std:.1f}"
    # A cell with fewer seeds than its row shows its own count, because the Seeds column would mislead.
    if cell.num_seeds < len(row.seeds):
        text += f" ({cell.num_seeds} seed{'' if cell.num_seeds == 1 else 's'})"
    return text


def format_markdown(table: ComparisonTable) -> str:
    header = ["Row"] + [f"{suite} ({table.num_problems[suite]} problems)" for suite in table.suites]
    if len(table.suites) > 1:
        header.append("Average")
    header.append("Seeds")
    if _has_flops(table):
        header.append("FLOPs")

    lines = [f"## {table.title}", "", caption(table), ""]
    lines.append("| " + " | ".join(_escape_markdown(name) for name in header) + " |")
    lines.append("|---|" + "---:|" * (len(header) - 1))
    for row in table.rows:
        values = [_escape_markdown(row.name)]
        values += [_format_cell(cell, row, "±", MISSING) for cell in _cell_columns(table, row)]
        values.append(str(len(row.seeds)))
        if _has_flops(table):
            values.append(MISSING if row.flops_mean is None else format_flops(row.flops_mean))
        lines.append("| " + " | ".join(values) + " |")
    lines += _markdown_rates(table)
    return "\n".join(lines) + "\n"


def _markdown_rates(table: ComparisonTable) -> list[str]:
    """Return the lines of a second table: no-answer and truncated percent of samples per suite."""
    if not any(row.rates for row in table.rows):
        return []
    lines = ["", "No answer / truncated: percent of samples with no extracted answer / cut by the length "
                 "limit, mean over seeds.", ""]
    lines.append("| Row | " + " | ".join(_escape_markdown(suite) for suite in table.suites) + " |")
    lines.append("|---|" + "---:|" * len(table.suites))
    for row in table.rows:
        values = [_escape_markdown(row.name)]
        for suite in table.suites:
            rates = row.rates.get(suite, {})
            parts = [MISSING if name not in rates else f"{100 * rates[name].mean:.1f}" for name in RATE_NAMES]
            values.append(" / ".join(parts))
        lines.append("| " + " | ".join(values) + " |")
    return lines


def _escape_markdown(text: str) -> str:
    return text.replace("|", "\\|")


def format_latex(table: ComparisonTable) -> str:
    """Render a booktabs table (the document needs \\usepackage{booktabs})."""
    header = ["Row"] + [f"{escape_latex(suite)} ({table.num_problems[suite]})" for suite in table.suites]
    if len(table.suites) > 1:
        header.append("Average")
    header.append("Seeds")
    if _has_flops(table):
        header.append("FLOPs")

    body = []
    for row in table.rows:
        values = [escape_latex(row.name)]
        values += [_format_cell(cell, row, "$\\pm$", "--") for cell in _cell_columns(table, row)]
        values.append(str(len(row.seeds)))
        if _has_flops(table):
            values.append("--" if row.flops_mean is None else _latex_flops(row.flops_mean))
        body.append("  " + " & ".join(values) + r" \\")

    caption_text = escape_latex(f"{table.title}. {caption(table)}").replace("±", "$\\pm$")
    lines = [
        "% Requires \\usepackage{booktabs}.",
        "\\begin{table}[t]",
        "\\centering",
        f"\\caption{{{caption_text}}}",
        "\\begin{tabular}{l" + "r" * (len(header) - 1) + "}",
        "\\toprule",
        "  " + " & ".join(header) + r" \\",
        "\\midrule",
        *body,
        "\\bottomrule",
        "\\end{tabular}",
        "\\end{table}",
    ]
    return "\n".join(lines) + "\n"


def _latex_flops(flops: float) -> str:
    mantissa, exponent = format_flops(flops).split("e")
    return f"${mantissa} \\times 10^{{{exponent}}}$"


def _sampling_columns(table: ComparisonTable) -> dict[str, Any]:
    return {
        "metric": table.metric,
        "k": table.k,
        "sampling_n": table.sampling["n"],
        "temperature": table.sampling["temperature"],
        "top_p": table.sampling["top_p"],
        "max_new_tokens": table.sampling["max_new_tokens"],
    }


def format_csv(table: ComparisonTable) -> str:
    """Render one line per row: mean, std and seed count per suite (percent), FLOPs and sampling settings."""
    prefixes = list(table.suites) + (["average"] if len(table.suites) > 1 else [])
    lines = []
    for row in table.rows:
        line: dict[str, Any] = {"row": row.name, "variant": row.variant, "stage": row.stage, "seeds": len(row.seeds)}
        for prefix, cell in zip(prefixes, _cell_columns(table, row)):
            line[f"{prefix}_mean_pct"] = None if cell is None else percent(cell.mean)
            line[f"{prefix}_std_pct"] = None if cell is None else percent(cell.std)
            line[f"{prefix}_seeds"] = 0 if cell is None else cell.num_seeds
        line["flops_mean"] = row.flops_mean
        line.update(_sampling_columns(table))
        lines.append(line)
    return _write_csv(lines)


def format_long_csv(table: ComparisonTable) -> str:
    """Render one line per manifest entry with the per-seed value and its confidence interval (percent)."""
    lines = []
    for record in table.records:
        lines.append({
            "row": record["row"],
            "variant": record["variant"],
            "stage": record["stage"],
            "suite": record["suite"],
            "seed": record["seed"],
            "metric": record["metric"],
            "value_pct": percent(record["value"]),
            "ci_low_pct": None if record["ci_low"] is None else percent(record["ci_low"]),
            "ci_high_pct": None if record["ci_high"] is None else percent(record["ci_high"]),
            "flops": record["flops"],
            "metrics_path": record["metrics_path"],
            "run": record["run"],
        })
    return _write_csv(lines)


def _write_csv(lines: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(lines[0]), lineterminator="\n")
    writer.writeheader()
    for line in lines:
        writer.writerow({key: "" if value is None else value for key, value in line.items()})
    return buffer.getvalue()


def summarize(table: ComparisonTable) -> dict[str, Any]:
    """Collect the numbers behind the table as a JSON-ready dict (values in percent)."""
    rows = []
    for row in table.rows:
        rows.append({
            "row": row.name,
            "variant": row.variant,
            "stage": row.stage,
            "seeds": row.seeds,
            "cells": {suite: _summarize_cell(cell) for suite, cell in row.cells.items()},
            "average": None if row.average is None else _summarize_cell(row.average),
            "flops_mean": row.flops_mean,
            "flops_per_seed": [{"seed": seed, "flops": flops} for seed, flops in sorted(row.flops_per_seed.items())],
        })
    entries = []
    for record in table.records:
        entry = dict(record)
        for key in ("value", "ci_low", "ci_high"):
            value = entry.pop(key)
            entry[f"{key}_pct"] = None if value is None else percent(value)
        entries.append(entry)
    return {
        "title": table.title,
        "metric": table.metric,
        "k": table.k,
        "unit": "percent",
        "spread": STD_NOTE,
        "average": AVERAGE_NOTE if len(table.suites) > 1 else None,
        "sampling": table.sampling,
        "suites": table.suites,
        "num_problems": table.num_problems,
        "rows": rows,
        "entries": entries,
    }


def _summarize_cell(cell: Cell) -> dict[str, Any]:
    return {
        "mean_pct": percent(cell.mean),
        "std_pct": percent(cell.std),
        "num_seeds": cell.num_seeds,
        "per_seed": [{"seed": seed, "value_pct": percent(value)} for seed, value in sorted(cell.values.items())],
    }
