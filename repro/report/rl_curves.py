"""RL curves: reward, response length and held-out accuracy against optimizer steps and FLOPs.

    repro rl-curves --manifest results/<experiment>/main_manifest.json --out results/<experiment>/rl_curves.png

The manifest is the one the comparison table uses; entries whose stage is not an RL stage
("rl", "rlshort") are ignored. One line per row (mean over seeds, min-max band).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Sequence

from repro.report.inputs import read_training_log
from repro.report.manifest import ReportInputError, parse_manifest, read_manifest
from repro.report.plots import _new_figure, aggregate_over_seeds
from repro.utils.atomic import atomic_output_file

RL_STAGES = ("rl", "rlshort")
REWARD = "reward/mean"
LENGTH = "response/length_mean"
FLOPS = "compute/flops"


def _held_out_key(values_per_run: list[dict[str, dict[int, float]]]) -> str | None:
    keys = sorted({key for run in values_per_run for key in run if key.startswith("eval/") and "/avg@" in key})
    return keys[0] if keys else None


def plot_rl_curves(manifest_records: list[dict], out_path: str | Path, base_dir: str | Path | None = None) -> None:
    """Draw reward and response length against step and FLOPs, and held-out avg@n against step."""
    entries = [e for e in parse_manifest(manifest_records, base_dir) if e.stage in RL_STAGES and e.run is not None]
    if not entries:
        raise ReportInputError("the manifest has no RL runs (stage 'rl' or 'rlshort' with a run folder)")
    runs: dict[str, dict[int, Path]] = {}
    for entry in entries:
        runs.setdefault(entry.row, {})[entry.seed] = entry.run

    logs: dict[str, dict[int, dict[str, dict[int, float]]]] = {}
    for row, per_seed in runs.items():
        logs[row] = {}
        for seed, run_dir in per_seed.items():
            eval_keys = [k for k in _all_keys(run_dir) if k.startswith("eval/")]
            logs[row][seed] = read_training_log(run_dir, [REWARD, LENGTH, FLOPS, *eval_keys])
    held_out = _held_out_key([run for per_seed in logs.values() for run in per_seed.values()])

    figure = _new_figure(15.0, 8.0)
    panels = figure.subplots(2, 3)
    layout = [
        (panels[0][0], REWARD, "step", "training reward (mean over the step's responses)"),
        (panels[0][1], REWARD, "flops", "training reward against total FLOPs (SFT + RL)"),
        (panels[0][2], held_out, "step", f"held-out {held_out}" if held_out else "no held-out evaluation logged"),
        (panels[1][0], LENGTH, "step", "response length (tokens)"),
        (panels[1][1], LENGTH, "flops", "response length against total FLOPs"),
    ]
    panels[1][2].axis("off")
    for axes, key, x_axis, title in layout:
        axes.set_title(title, fontsize=10)
        axes.grid(alpha=0.3)
        if key is None:
            continue
        for index, (row, per_seed) in enumerate(logs.items()):
            color = f"C{index % 10}"
            if x_axis == "step":
                band = aggregate_over_seeds({seed: log.get(key, {}) for seed, log in per_seed.items()})
                if band is None:
                    continue
                axes.plot(band.steps, band.mean, color=color, linewidth=1.2, label=f"{row} ({band.num_seeds} seed{'s' if band.num_seeds != 1 else ''})")
                if band.num_seeds > 1:
                    axes.fill_between(band.steps, band.low, band.high, color=color, alpha=0.2, linewidth=0)
            else:
                for seed, log in per_seed.items():
                    steps = sorted(set(log.get(key, {})) & set(log.get(FLOPS, {})))
                    xs = [log[FLOPS][s] for s in steps]
                    ys = [log[key][s] for s in steps]
                    axes.plot(xs, ys, color=color, linewidth=0.8, alpha=0.7,
                              label=row if seed == min(per_seed) else None)
        axes.set_xlabel("optimizer step" if x_axis == "step" else "FLOPs (6N per trained token, 2N per sampled token)")
    handles, labels = panels[0][0].get_legend_handles_labels()
    if handles:
        panels[1][2].legend(handles, labels, loc="center", fontsize=9, title="mean over seeds, band: min-max")
    figure.suptitle("RL after SFT")
    with atomic_output_file(out_path, "wb") as handle:
        figure.savefig(handle, format="png", dpi=110)


def _all_keys(run_dir: Path) -> list[str]:
    keys: set[str] = set()
    path = run_dir / "metrics.jsonl"
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                keys.update(json.loads(line))
    return sorted(keys)


def cli_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="repro rl-curves", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", required=True, help="comparison manifest (JSON list)")
    parser.add_argument("--out", required=True, help="PNG file to write")
    parser.add_argument("--base-dir", default=None, help="folder that relative paths in the manifest start from")
    args = parser.parse_args(argv)
    plot_rl_curves(read_manifest(args.manifest), args.out, args.base_dir)
    print(f"wrote {args.out}")
    return 0
