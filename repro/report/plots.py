"""Plots of a comparison: grouped bars per row and suite, and training curves per row.

matplotlib is imported inside the plotting functions because importing it costs about a second (measured on a 2-core CPU),
which every command that imports repro.report would otherwise pay. The figures use the Agg
canvas directly, so no global pyplot backend is touched.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from pathlib import Path

from repro.report.table import ComparisonTable

CURVE_KEYS = ("train/loss", "train/grad_norm")
CURVE_LABELS = {"train/loss": "training loss", "train/grad_norm": "gradient norm"}


@dataclass(frozen=True)
class SeedBand:
    """A metric against step, summarised over seeds: mean with the min-max band."""

    steps: list[int]
    mean: list[float]
    low: list[float]
    high: list[float]
    num_seeds: int


def aggregate_over_seeds(values_per_seed: dict[int, dict[int, float]]) -> SeedBand | None:
    """Summarise {seed: {step: value}} per step over the seeds that logged that step.

    A NaN from any seed makes the step NaN (a gap in the plot), so a diverged seed is not hidden.
    Returns None when no seed logged any value.
    """
    steps = sorted({step for values in values_per_seed.values() for step in values})
    if not steps:
        return None
    means, lows, highs = [], [], []
    for step in steps:
        at_step = [values[step] for values in values_per_seed.values() if step in values]
        if any(math.isnan(value) for value in at_step):
            # min() and max() of a list with NaN depend on its order, so mark the whole step instead.
            means.append(math.nan)
            lows.append(math.nan)
            highs.append(math.nan)
            continue
        means.append(statistics.fmean(at_step))
        lows.append(min(at_step))
        highs.append(max(at_step))
    num_seeds = sum(1 for values in values_per_seed.values() if values)
    return SeedBand(steps=steps, mean=means, low=lows, high=highs, num_seeds=num_seeds)


def _new_figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def plot_bars(table: ComparisonTable, path: Path) -> None:
    """Draw one group of bars per row, one bar per suite (plus the average), with std error bars and seed points."""
    groups = [(suite, f"{suite} ({table.num_problems[suite]} problems)") for suite in table.suites]
    if len(table.suites) > 1:
        groups.append(("average", "average over suites"))
    bar_width = 0.8 / len(groups)

    figure = _new_figure(max(6.0, 1.2 * len(table.rows) * len(groups) / 2 + 2.0), 4.8)
    axes = figure.add_subplot()
    for group_index, (suite, label) in enumerate(groups):
        positions, means, stds, seed_x, seed_y = [], [], [], [], []
        for row_index, row in enumerate(table.rows):
            cell = row.average if suite == "average" else row.cells.get(suite)
            if cell is None:
                continue
            x = row_index - 0.4 + bar_width * (group_index + 0.5)
            positions.append(x)
            means.append(100 * cell.mean)
            stds.append(100 * cell.std)
            # Spread the seed points across the middle half of the bar so equal values stay visible.
            values = [100 * value for _, value in sorted(cell.values.items())]
            for point_index, value in enumerate(values):
                offset = 0.0 if len(values) == 1 else (point_index / (len(values) - 1) - 0.5) * bar_width * 0.5
                seed_x.append(x + offset)
                seed_y.append(value)

        color = "0.6" if suite == "average" else f"C{group_index}"
        axes.bar(positions, means, bar_width, yerr=stds, capsize=3, color=color, alpha=0.85, label=label)
        axes.scatter(seed_x, seed_y, s=10, color="black", zorder=3, label="single seed" if group_index == 0 else None)

    axes.set_xticks(range(len(table.rows)), [row.name for row in table.rows], rotation=20, ha="right")
    axes.set_ylabel(f"{table.metric} (%)")
    axes.set_title(f"{table.title}\n{table.sampling_description()}", fontsize=10)
    axes.grid(axis="y", alpha=0.3)
    axes.set_axisbelow(True)
    axes.legend(fontsize=8, title="bars: mean ± std over seeds", title_fontsize=8)
    figure.savefig(path, dpi=120)


def plot_curves(
    title: str, curves: dict[str, dict[str, dict[int, dict[int, float]]]], path: Path
) -> None:
    """Draw training loss and gradient norm against step, one line per row (mean over seeds, min-max band).

    ``curves`` maps row name -> metric name -> seed -> step -> value, in row order. Without any
    training run the figure states that instead of staying blank, so the output set stays fixed.
    """
    from matplotlib.ticker import MaxNLocator

    figure = _new_figure(12.0, 4.5)
    if not curves:
        axes = figure.add_subplot()
        axes.axis("off")
        axes.text(0.5, 0.5, "no training runs in this manifest", ha="center", va="center")
        figure.suptitle(title)
        figure.savefig(path, dpi=120)
        return

    panels = figure.subplots(1, len(CURVE_KEYS), sharex=True)
    for axes, key in zip(panels, CURVE_KEYS):
        for row_index, (row_name, per_metric) in enumerate(curves.items()):
            band = aggregate_over_seeds(per_metric.get(key, {}))
            if band is None:
                continue
            color = f"C{row_index % 10}"
            label = f"{row_name} ({band.num_seeds} seed{'s' if band.num_seeds != 1 else ''})"
            axes.plot(band.steps, band.mean, color=color, linewidth=1.2, label=label)
            if band.num_seeds > 1:
                axes.fill_between(band.steps, band.low, band.high, color=color, alpha=0.2, linewidth=0)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_xlabel("optimizer step")
        axes.set_ylabel(key)
        axes.set_title(f"{CURVE_LABELS[key]} (mean over seeds, band: min-max)", fontsize=10)
        axes.grid(alpha=0.3)
    if panels[0].get_legend_handles_labels()[0]:
        panels[0].legend(fontsize=8)
    figure.suptitle(title)
    figure.savefig(path, dpi=120)
