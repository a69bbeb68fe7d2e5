"""The cross-domain matrix: train RL on one domain alone and see how every domain's accuracy moves.

    repro cross-domain --start START_METRICS.json --run DOMAIN=METRICS.json [...] --metric avg@16 --out DIR

Rows are the domain RL trained on, and columns the evaluated domains. Each cell is the change of
the metric (in points) from the starting model, so a see-saw (one domain up, others down) shows
as mixed signs in a row. Writes matrix.md, matrix.csv and matrix.png atomically.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Sequence

from repro.report.manifest import ReportInputError
from repro.report.plots import _new_figure
from repro.utils.atomic import atomic_output_dir


def per_domain_values(path: str | Path, metric: str) -> dict[str, float]:
    """Return {domain: value of ``metric``} from an evaluation's metrics.json."""
    path = Path(path)
    if not path.is_file():
        raise ReportInputError(f"metrics file not found: {path}")
    data = json.loads(path.read_text())
    values = {}
    for domain, block in sorted(data.get("per_domain", {}).items()):
        if metric not in block.get("metrics", {}):
            raise ReportInputError(f"{path}: metric {metric!r} missing for domain {domain!r}; "
                                   f"available: {sorted(block.get('metrics', {}))}")
        values[domain] = float(block["metrics"][metric]["value"])
    if not values:
        raise ReportInputError(f"{path}: no per-domain metrics")
    return values


def cross_domain_matrix(start: dict[str, float], runs: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Return {trained domain: {evaluated domain: change in points}} against the starting model."""
    matrix = {}
    for trained, values in runs.items():
        if set(values) != set(start):
            raise ReportInputError(f"run trained on {trained!r} was evaluated on domains {sorted(values)}, "
                                   f"the starting model on {sorted(start)}; evaluate both on the same suite")
        matrix[trained] = {domain: 100.0 * (values[domain] - start[domain]) for domain in start}
    return matrix


def write_matrix(start: dict[str, float], matrix: dict[str, dict[str, float]], metric: str, out_dir: str | Path) -> None:
    domains = list(start)
    header = "| trained on | " + " | ".join(domains) + " |"
    lines = [
        f"## Cross-domain matrix: change of {metric} (points) after RL on one domain",
        "",
        "Start (SFT model): " + ", ".join(f"{d} {100 * v:.1f}" for d, v in start.items()),
        "",
        header,
        "|---|" + "---:|" * len(domains),
    ]
    for trained, row in matrix.items():
        lines.append(f"| {trained} | " + " | ".join(f"{row[d]:+.1f}" for d in domains) + " |")
    csv_lines = ["trained_on," + ",".join(domains)]
    csv_lines += [trained + "," + ",".join(f"{row[d]:.6f}" for d in domains) for trained, row in matrix.items()]

    figure = _new_figure(1.6 * len(domains) + 2.5, 1.0 * len(matrix) + 2.0)
    axes = figure.add_subplot()
    values = [[matrix[t][d] for d in domains] for t in matrix]
    limit = max(1.0, max(abs(v) for row in values for v in row))
    image = axes.imshow(values, cmap="RdBu", vmin=-limit, vmax=limit)
    axes.set_xticks(range(len(domains)), domains)
    axes.set_yticks(range(len(matrix)), list(matrix))
    axes.set_xlabel("evaluated domain")
    axes.set_ylabel("RL trained on")
    for i, row in enumerate(values):
        for j, value in enumerate(row):
            axes.text(j, i, f"{value:+.1f}", ha="center", va="center", fontsize=9)
    figure.colorbar(image, ax=axes, label=f"change of {metric} (points)")
    axes.set_title(f"{metric} change after single-domain RL", fontsize=10)

    with atomic_output_dir(out_dir) as staging:
        (staging / "matrix.md").write_text("\n".join(lines) + "\n")
        (staging / "matrix.csv").write_text("\n".join(csv_lines) + "\n")
        figure.savefig(staging / "matrix.png", dpi=120)


def cli_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="repro cross-domain", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--start", required=True, help="metrics.json of the starting (SFT) model")
    parser.add_argument("--run", action="append", required=True, metavar="DOMAIN=METRICS",
                        help="trained domain and the metrics.json of its RL run; repeat per domain")
    parser.add_argument("--metric", default="avg@16")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    runs = {}
    for item in args.run:
        domain, sep, path = item.partition("=")
        if not sep or not domain or not path:
            raise ReportInputError(f"--run {item!r} is invalid; write DOMAIN=PATH/metrics.json")
        runs[domain] = per_domain_values(path, args.metric)
    start = per_domain_values(args.start, args.metric)
    write_matrix(start, cross_domain_matrix(start, runs), args.metric, args.out)
    print(f"wrote matrix.md, matrix.csv, matrix.png to {args.out}")
    return 0
