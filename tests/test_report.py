"""Tests of repro.report: comparison tables, plots and summaries from evaluation and training outputs.

Spread over seeds is the sample standard deviation (ddof=1), and 0 for a single seed. Expected
numbers below are computed by hand in the comments next to them.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import pytest

from repro.report import ReportInputError, build_table, cli_main, parse_manifest, render_comparison
from repro.report.formats import escape_latex, format_flops, format_latex, format_markdown
from repro.report.inputs import EvalMetrics, read_training_log
from repro.report.plots import aggregate_over_seeds
from repro.report.table import Cell, metric_k

FIXTURE = Path(__file__).parent / "data" / "report_fixture"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# ----------------------------------------------------------------------------- fixture writers


def write_eval(
    path: Path,
    suite: str,
    value: float,
    *,
    seed: int = 0,
    num_problems: int = 10,
    metric: str = "avg@4",
    temperature: float = 1.0,
    ci_half_width: float = 0.05,
) -> Path:
    """Write an evaluation metrics.json with one metric (and pass@4) at ``path``."""
    record = {
        "suite": suite,
        "model": f"models/{path.parent.name}",
        "sampling": {"n": 4, "temperature": temperature, "top_p": 0.95, "max_new_tokens": 64, "seed": seed},
        "num_problems": num_problems,
        "metrics": {
            metric: {"value": value, "ci_low": max(0.0, value - ci_half_width), "ci_high": min(1.0, value + ci_half_width)},
            "pass@4": {"value": min(1.0, value + 0.2)},
        },
        "rates": {"no_answer": 0.1, "truncated": 0.05, "eos": 0.95},
        "per_domain": {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record), encoding="utf-8")
    return path


def write_run(folder: Path, lines: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return folder


def make_entry(row, suite, seed, metrics, *, run=None, flops=None, variant="corrected", stage="sft") -> dict:
    return {
        "row": row,
        "variant": variant,
        "stage": stage,
        "seed": seed,
        "suite": suite,
        "metrics": str(metrics),
        "run": None if run is None else str(run),
        "flops": flops,
    }


@pytest.fixture
def comparison_inputs(tmp_path: Path) -> list[dict]:
    """Three rows, two suites, known values.

    Base (1 seed, no run): aime 0.10, hmmt 0.05.
    SFT corrected (seeds 0, 1, 2): aime 0.30 / 0.40 / 0.50, hmmt 0.20 / 0.20 / 0.26,
        FLOPs 1e13 / 2e13 / 3e13, training logs for every seed.
    SFT both bugs (seeds 0, 1): aime 0.25 / 0.35, hmmt only seed 0: 0.10, no FLOPs.
    """
    inputs = tmp_path / "inputs"
    entries = [
        make_entry("Base", "aime", 0, write_eval(inputs / "base/aime.json", "aime", 0.10), variant="base", stage="base"),
        make_entry("Base", "hmmt", 0, write_eval(inputs / "base/hmmt.json", "hmmt", 0.05, num_problems=5),
                   variant="base", stage="base"),
    ]
    corrected = {"aime": [0.30, 0.40, 0.50], "hmmt": [0.20, 0.20, 0.26]}
    for seed in range(3):
        run = write_run(inputs / f"runs/corrected-{seed}", [
            {"step": 1, "train/loss": 2.0 + seed, "train/grad_norm": 1.0},
            {"step": 2, "train/loss": 1.0 + seed, "train/grad_norm": 0.5, "reward/mean": 0.3},
        ])
        for suite, values in corrected.items():
            metrics = write_eval(inputs / f"corrected-{seed}/{suite}.json", suite, values[seed], seed=seed,
                                 num_problems=10 if suite == "aime" else 5)
            entries.append(make_entry("SFT corrected", suite, seed, metrics, run=run, flops=1e13 * (seed + 1)))
    for seed, value in enumerate([0.25, 0.35]):
        metrics = write_eval(inputs / f"both-{seed}/aime.json", "aime", value, seed=seed)
        entries.append(make_entry("SFT both bugs", "aime", seed, metrics, variant="both_bugs"))
    metrics = write_eval(inputs / "both-0/hmmt.json", "hmmt", 0.10, num_problems=5)
    entries.append(make_entry("SFT both bugs", "hmmt", 0, metrics, variant="both_bugs"))
    return entries


def read_csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


# ----------------------------------------------------------------------------- pure functions


def test_cell_mean_and_sample_std():
    cell = Cell(values={0: 0.30, 1: 0.40, 2: 0.50})
    assert cell.mean == pytest.approx(0.40)
    # ddof=1: sqrt((0.01 + 0 + 0.01) / 2) = 0.1; ddof=0 would give 0.0816.
    assert cell.std == pytest.approx(0.1)
    assert cell.num_seeds == 3


def test_cell_single_seed_std_zero():
    cell = Cell(values={7: 0.25})
    assert cell.mean == pytest.approx(0.25)
    assert cell.std == 0.0


def test_metric_k_parses_suffix():
    assert metric_k("avg@16") == 16
    assert metric_k("pass@1") == 1
    assert metric_k("maj@32") == 32
    assert metric_k("accuracy") is None


def test_format_flops_three_digits():
    assert format_flops(3.63e19) == "3.63e19"
    assert format_flops(1.2e13) == "1.20e13"
    assert format_flops(6.65e19) == "6.65e19"
    assert format_flops(5e-3) == "5.00e-3"


def test_escape_latex_special_characters():
    assert escape_latex("RL_short & 50% $x$ #1") == r"RL\_short \& 50\% \$x\$ \#1"
    assert escape_latex("{a}~^\\") == r"\{a\}\textasciitilde{}\textasciicircum{}\textbackslash{}"


def test_aggregate_over_seeds_partial_steps():
    # Seed 0 logged steps 1-3, seed 1 only steps 1 and 3.
    band = aggregate_over_seeds({0: {1: 2.0, 2: 1.5, 3: 3.0}, 1: {1: 4.0, 3: 2.0}})
    assert band.steps == [1, 2, 3]
    assert band.mean == pytest.approx([3.0, 1.5, 2.5])
    assert band.low == pytest.approx([2.0, 1.5, 2.0])
    assert band.high == pytest.approx([4.0, 1.5, 3.0])
    assert band.num_seeds == 2


def test_aggregate_over_seeds_nan_step():
    band = aggregate_over_seeds({0: {1: 1.0, 2: 2.0}, 1: {1: math.nan, 2: 4.0}})
    assert math.isnan(band.mean[0])
    assert math.isnan(band.low[0])
    assert math.isnan(band.high[0])
    assert band.mean[1] == pytest.approx(3.0)
    assert band.low[1] == pytest.approx(2.0)
    assert band.high[1] == pytest.approx(4.0)


def test_aggregate_over_seeds_empty():
    assert aggregate_over_seeds({0: {}, 1: {}}) is None


def test_read_training_log_steps_and_gaps(tmp_path):
    run = write_run(tmp_path / "run", [
        {"step": 1, "train/loss": 3.0, "train/grad_norm": 2.0},
        {"step": 2, "train/loss": 2.0},  # no gradient norm on this line
        {"step": 3, "train/loss": 1.0, "train/grad_norm": 0.5},
        {"step": 3, "train/loss": 0.9, "train/grad_norm": 0.4},  # step logged again after a resume
    ])
    series = read_training_log(run, ("train/loss", "train/grad_norm", "reward/mean"))
    assert series["train/loss"] == {1: 3.0, 2: 2.0, 3: 0.9}
    assert series["train/grad_norm"] == {1: 2.0, 3: 0.4}
    assert series["reward/mean"] == {}


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"step": 1, "train/loss": 1.0}\n{"step": 2, "train/loss": \n', "metrics.jsonl:2: invalid JSON"),
        ('{"train/loss": 1.0}\n', "'step' must be an integer"),
        ('{"step": 1, "train/loss": "high"}\n', "'train/loss' must be a number"),
        ("\n", "no steps logged"),
    ],
)
def test_read_training_log_bad_lines(tmp_path, content, message):
    (tmp_path / "metrics.jsonl").write_text(content, encoding="utf-8")
    with pytest.raises(ReportInputError, match=message):
        read_training_log(tmp_path, ("train/loss",))


# ----------------------------------------------------------------------------- full render


def test_render_markdown_numbers(tmp_path, comparison_inputs):
    out = tmp_path / "report"
    render_comparison(comparison_inputs, out, "SFT staircase", metric="avg@4")
    text = (out / "table.md").read_text(encoding="utf-8")
    lines = text.splitlines()

    assert lines[0] == "## SFT staircase"
    assert "n = 4 samples per problem, k = 4, temperature 1.0, top_p 0.95, max_new_tokens 64" in text
    assert "sample std over seeds (ddof=1; 0 for one seed)" in text
    assert "| Row | aime (10 problems) | hmmt (5 problems) | Average | Seeds | FLOPs |" in lines
    # Base: one seed, so std 0; average (10 + 5) / 2 = 7.5.
    assert "| Base | 10.0 ± 0.0 | 5.0 ± 0.0 | 7.5 ± 0.0 | 1 | – |" in lines
    # Corrected: aime mean 40, std 10. hmmt mean 22, std sqrt((4 + 4 + 16) / 2) = 3.46.
    # Per-seed averages 25, 30, 38: mean 31, std sqrt((36 + 1 + 49) / 2) = 6.56. FLOPs mean 2e13.
    assert "| SFT corrected | 40.0 ± 10.0 | 22.0 ± 3.5 | 31.0 ± 6.6 | 3 | 2.00e13 |" in lines
    # Both bugs: aime [25, 35] -> 30 ± 7.07; hmmt and the average only from seed 0: (25 + 10) / 2 = 17.5.
    assert "| SFT both bugs | 30.0 ± 7.1 | 10.0 ± 0.0 (1 seed) | 17.5 ± 0.0 (1 seed) | 2 | – |" in lines


def test_render_rows_keep_manifest_order(tmp_path, comparison_inputs):
    out = tmp_path / "report"
    table = render_comparison(list(reversed(comparison_inputs)), out, "Reversed", metric="avg@4")
    assert [row.name for row in table.rows] == ["SFT both bugs", "SFT corrected", "Base"]
    assert table.suites == ["hmmt", "aime"]
    rows = read_csv(out / "table.csv")
    assert [row["row"] for row in rows] == ["SFT both bugs", "SFT corrected", "Base"]


def test_render_wide_csv(tmp_path, comparison_inputs):
    out = tmp_path / "report"
    render_comparison(comparison_inputs, out, "SFT staircase", metric="avg@4")
    rows = {row["row"]: row for row in read_csv(out / "table.csv")}

    corrected = rows["SFT corrected"]
    assert corrected["variant"] == "corrected"
    assert corrected["stage"] == "sft"
    assert corrected["seeds"] == "3"
    assert float(corrected["aime_mean_pct"]) == pytest.approx(40.0)
    assert float(corrected["aime_std_pct"]) == pytest.approx(10.0)
    assert float(corrected["hmmt_std_pct"]) == pytest.approx(100 * math.sqrt(0.0012), abs=1e-6)
    assert float(corrected["average_mean_pct"]) == pytest.approx(31.0)
    assert float(corrected["average_std_pct"]) == pytest.approx(100 * math.sqrt(0.0043), abs=1e-6)
    assert float(corrected["flops_mean"]) == pytest.approx(2e13)
    assert corrected["metric"] == "avg@4"
    assert corrected["k"] == "4"
    assert corrected["sampling_n"] == "4"
    assert corrected["temperature"] == "1.0"
    assert corrected["top_p"] == "0.95"
    assert corrected["max_new_tokens"] == "64"

    both = rows["SFT both bugs"]
    assert both["hmmt_seeds"] == "1"
    assert both["average_seeds"] == "1"
    assert both["flops_mean"] == ""
    assert rows["Base"]["flops_mean"] == ""


def test_render_long_csv_per_seed(tmp_path, comparison_inputs):
    out = tmp_path / "report"
    render_comparison(comparison_inputs, out, "SFT staircase", metric="avg@4")
    rows = read_csv(out / "table_long.csv")

    assert len(rows) == len(comparison_inputs)
    corrected_aime = [row for row in rows if row["row"] == "SFT corrected" and row["suite"] == "aime"]
    assert [row["seed"] for row in corrected_aime] == ["0", "1", "2"]
    assert [float(row["value_pct"]) for row in corrected_aime] == pytest.approx([30.0, 40.0, 50.0])
    assert [float(row["ci_low_pct"]) for row in corrected_aime] == pytest.approx([25.0, 35.0, 45.0])
    assert [float(row["flops"]) for row in corrected_aime] == pytest.approx([1e13, 2e13, 3e13])
    assert corrected_aime[0]["run"].endswith("runs/corrected-0")
    assert rows[0]["run"] == ""


def test_render_latex_table(tmp_path, comparison_inputs):
    out = tmp_path / "report"
    render_comparison(comparison_inputs, out, "SFT staircase", metric="avg@4")
    tex = (out / "table.tex").read_text(encoding="utf-8")

    assert "\\begin{tabular}{lrrrrr}" in tex
    assert "  Row & aime (10) & hmmt (5) & Average & Seeds & FLOPs \\\\" in tex
    assert "  SFT corrected & 40.0 $\\pm$ 10.0 & 22.0 $\\pm$ 3.5 & 31.0 $\\pm$ 6.6 & 3 & $2.00 \\times 10^{13}$ \\\\" in tex
    assert "  Base & 10.0 $\\pm$ 0.0 & 5.0 $\\pm$ 0.0 & 7.5 $\\pm$ 0.0 & 1 & -- \\\\" in tex
    assert "top\\_p 0.95, max\\_new\\_tokens 64" in tex
    assert "±" not in tex
    assert tex.count("\\toprule") == 1
    assert tex.count("\\bottomrule") == 1


def test_render_summary_json(tmp_path, comparison_inputs):
    out = tmp_path / "report"
    render_comparison(comparison_inputs, out, "SFT staircase", metric="avg@4")
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))

    assert summary["metric"] == "avg@4"
    assert summary["k"] == 4
    assert summary["unit"] == "percent"
    assert summary["sampling"] == {"n": 4, "temperature": 1.0, "top_p": 0.95, "max_new_tokens": 64}
    assert summary["suites"] == ["aime", "hmmt"]
    assert summary["num_problems"] == {"aime": 10, "hmmt": 5}
    assert len(summary["entries"]) == len(comparison_inputs)

    corrected = summary["rows"][1]
    assert corrected["row"] == "SFT corrected"
    assert corrected["seeds"] == [0, 1, 2]
    assert corrected["cells"]["aime"]["mean_pct"] == pytest.approx(40.0)
    assert corrected["cells"]["aime"]["std_pct"] == pytest.approx(10.0)
    assert [point["value_pct"] for point in corrected["cells"]["hmmt"]["per_seed"]] == pytest.approx([20.0, 20.0, 26.0])
    assert corrected["average"]["mean_pct"] == pytest.approx(31.0)
    assert corrected["flops_mean"] == pytest.approx(2e13)
    assert summary["rows"][0]["average"]["num_seeds"] == 1


def test_render_writes_nonempty_pngs(tmp_path, comparison_inputs):
    out = tmp_path / "report"
    render_comparison(comparison_inputs, out, "SFT staircase", metric="avg@4")
    for name in ("bar.png", "curves.png"):
        data = (out / name).read_bytes()
        assert data.startswith(PNG_SIGNATURE), name
        assert len(data) > 10_000, name


def test_render_single_suite_no_average(tmp_path):
    entries = [
        make_entry("GRPO", "aime", seed, write_eval(tmp_path / f"in/{seed}.json", "aime", value, seed=seed))
        for seed, value in enumerate([0.5, 0.6])
    ]
    out = tmp_path / "report"
    render_comparison(entries, out, "Short RL", metric="avg@4")
    lines = (out / "table.md").read_text(encoding="utf-8").splitlines()

    assert "| Row | aime (10 problems) | Seeds |" in lines
    assert "| GRPO | 55.0 ± 7.1 | 2 |" in lines
    assert "average_mean_pct" not in read_csv(out / "table.csv")[0]
    # Without any run folder the curves figure is still written, stating that there is nothing to plot.
    assert (out / "curves.png").read_bytes().startswith(PNG_SIGNATURE)


def test_render_other_metric(tmp_path, comparison_inputs):
    out = tmp_path / "report"
    table = render_comparison(comparison_inputs, out, "pass@4", metric="pass@4")
    # pass@4 was written as avg@4 + 0.2: corrected aime 50, 60, 70.
    assert table.rows[1].cells["aime"].mean == pytest.approx(0.60)
    assert "| SFT corrected | 60.0 ± 10.0 |" in (out / "table.md").read_text(encoding="utf-8")


def test_render_replaces_earlier_report(tmp_path, comparison_inputs):
    out = tmp_path / "report"
    render_comparison(comparison_inputs[:2], out, "First", metric="avg@4")
    (out / "stale.txt").write_text("left from an earlier report", encoding="utf-8")
    render_comparison(comparison_inputs, out, "Second", metric="avg@4")

    assert (out / "table.md").read_text(encoding="utf-8").startswith("## Second")
    assert not (out / "stale.txt").exists()


def test_relative_paths_use_base_dir(tmp_path, comparison_inputs):
    relative = []
    for entry in comparison_inputs:
        entry = dict(entry)
        entry["metrics"] = str(Path(entry["metrics"]).relative_to(tmp_path))
        if entry["run"] is not None:
            entry["run"] = str(Path(entry["run"]).relative_to(tmp_path))
        relative.append(entry)
    table = render_comparison(relative, tmp_path / "report", "Relative", metric="avg@4", base_dir=tmp_path)
    assert table.rows[1].cells["aime"].mean == pytest.approx(0.40)


def test_latex_escapes_row_names(tmp_path):
    entries = parse_manifest([make_entry("RL_short & 50% data", "aime", 0, tmp_path / "m.json")])
    evaluation = EvalMetrics(
        path=tmp_path / "m.json", suite="aime", num_problems=10,
        sampling={"n": 4, "temperature": 1.0, "top_p": 1.0, "max_new_tokens": 64}, value=0.5,
    )
    table = build_table(entries, [evaluation], "Tbl #1", "avg@4")
    tex = format_latex(table)
    assert "  RL\\_short \\& 50\\% data & 50.0 $\\pm$ 0.0 & 1 \\\\" in tex
    assert "\\caption{Tbl \\#1." in tex
    assert "| RL_short & 50% data | 50.0 ± 0.0 | 1 |" in format_markdown(table)


# ----------------------------------------------------------------------------- errors leave no output


def assert_rejected(entries, out: Path, message: str, metric: str = "avg@4") -> ReportInputError:
    with pytest.raises(ReportInputError, match=message) as caught:
        render_comparison(entries, out, "Rejected", metric=metric)
    assert not out.exists()
    assert not any(out.parent.glob(f".{out.name}.tmp-*"))
    return caught.value


def test_error_empty_manifest(tmp_path):
    assert_rejected([], tmp_path / "report", "manifest is empty")


def test_error_missing_metrics_file(tmp_path, comparison_inputs):
    missing = tmp_path / "nowhere/metrics.json"
    comparison_inputs[3]["metrics"] = str(missing)
    error = assert_rejected(comparison_inputs, tmp_path / "report", "metrics file not found")
    assert str(missing) in str(error)
    assert "manifest entry 3" in str(error)


def test_error_metric_absent(tmp_path, comparison_inputs):
    error = assert_rejected(comparison_inputs, tmp_path / "report", "metric 'avg@32' not found", metric="avg@32")
    assert "['avg@4', 'pass@4']" in str(error)
    assert "--metric" in str(error)


def test_error_entry_missing_key(tmp_path, comparison_inputs):
    del comparison_inputs[2]["flops"]
    error = assert_rejected(comparison_inputs, tmp_path / "report", r"manifest entry 2 \(row 'SFT corrected'\)")
    assert "missing key(s) ['flops']" in str(error)
    assert "write null" in str(error)


def test_error_entry_unknown_key(tmp_path, comparison_inputs):
    comparison_inputs[0]["flop"] = 1.0
    assert_rejected(comparison_inputs, tmp_path / "report", r"unknown key\(s\) \['flop'\]")


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("seed", "0", "'seed' must be an integer"),
        ("seed", True, "'seed' must be an integer"),
        ("row", "", "'row' must be a non-empty string"),
        ("flops", -1.0, "'flops' must be a finite number >= 0"),
        ("run", 3, "'run' must be a run folder path or null"),
    ],
)
def test_error_entry_wrong_type(tmp_path, comparison_inputs, key, value, message):
    comparison_inputs[0][key] = value
    assert_rejected(comparison_inputs, tmp_path / "report", message)


def test_error_entry_not_object(tmp_path):
    assert_rejected(["eval/aime.json"], tmp_path / "report", "manifest entry 0: expected a JSON object")


def test_error_sampling_differs(tmp_path, comparison_inputs):
    write_eval(Path(comparison_inputs[4]["metrics"]), "aime", 0.40, seed=1, temperature=0.6)
    error = assert_rejected(comparison_inputs, tmp_path / "report", "sampling settings differ")
    assert "'temperature': 1.0" in str(error)
    assert "'temperature': 0.6" in str(error)
    assert "not comparable" in str(error)


def test_error_suite_mismatch(tmp_path, comparison_inputs):
    comparison_inputs[0]["suite"] = "amc"
    assert_rejected(comparison_inputs, tmp_path / "report", "evaluates suite 'aime', not 'amc'")


def test_error_problem_count_differs(tmp_path, comparison_inputs):
    write_eval(Path(comparison_inputs[2]["metrics"]), "aime", 0.30, num_problems=12)
    assert_rejected(comparison_inputs, tmp_path / "report", "suite 'aime' has 10 problems .* but 12")


def test_error_value_in_percent(tmp_path, comparison_inputs):
    write_eval(Path(comparison_inputs[0]["metrics"]), "aime", 31.0, ci_half_width=0.0)
    assert_rejected(comparison_inputs, tmp_path / "report", "31.0 is not a fraction in \\[0, 1\\]")


def test_error_metrics_file_invalid_json(tmp_path, comparison_inputs):
    Path(comparison_inputs[0]["metrics"]).write_text("{", encoding="utf-8")
    assert_rejected(comparison_inputs, tmp_path / "report", "invalid JSON")


def test_error_sampling_key_missing(tmp_path, comparison_inputs):
    path = Path(comparison_inputs[0]["metrics"])
    record = json.loads(path.read_text(encoding="utf-8"))
    del record["sampling"]["top_p"]
    path.write_text(json.dumps(record), encoding="utf-8")
    assert_rejected(comparison_inputs, tmp_path / "report", r"'sampling' lacks \['top_p'\]")


def test_error_duplicate_cell(tmp_path, comparison_inputs):
    comparison_inputs.append(dict(comparison_inputs[2]))
    assert_rejected(comparison_inputs, tmp_path / "report", "repeats manifest entry 2")


def test_error_row_mixes_variants(tmp_path, comparison_inputs):
    comparison_inputs[4]["variant"] = "optimizer_bug"
    assert_rejected(comparison_inputs, tmp_path / "report", "variant 'optimizer_bug' differs from 'corrected'")


def test_error_row_mixes_flops(tmp_path, comparison_inputs):
    comparison_inputs[2]["flops"] = None
    assert_rejected(comparison_inputs, tmp_path / "report", "'flops' is given for some entries")


def test_error_seed_runs_differ(tmp_path, comparison_inputs):
    # Entries 2 and 3 are seed 0 of "SFT corrected" on aime and hmmt.
    comparison_inputs[3]["run"] = comparison_inputs[4]["run"]
    assert_rejected(comparison_inputs, tmp_path / "report", "must come from the same training run")


def test_error_missing_training_log(tmp_path, comparison_inputs):
    (Path(comparison_inputs[2]["run"]) / "metrics.jsonl").unlink()
    error = assert_rejected(comparison_inputs, tmp_path / "report", "training log not found")
    assert "manifest entry 2" in str(error)


def test_error_out_dir_has_other_files(tmp_path, comparison_inputs):
    out = tmp_path / "results"
    out.mkdir()
    (out / "notes.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(ReportInputError, match="not empty and contains no earlier report"):
        render_comparison(comparison_inputs, out, "Rejected", metric="avg@4")
    assert sorted(path.name for path in out.iterdir()) == ["notes.txt"]


def test_error_inputs_inside_out_dir(tmp_path, comparison_inputs):
    with pytest.raises(ReportInputError, match="lies inside the output folder"):
        render_comparison(comparison_inputs, tmp_path / "inputs", "Rejected", metric="avg@4")
    assert (tmp_path / "inputs/base/aime.json").is_file()


def test_failed_render_keeps_earlier_report(tmp_path, comparison_inputs):
    out = tmp_path / "report"
    render_comparison(comparison_inputs, out, "Good", metric="avg@4")
    before = (out / "table.md").read_text(encoding="utf-8")
    with pytest.raises(ReportInputError):
        render_comparison(comparison_inputs, out, "Bad", metric="avg@32")
    assert (out / "table.md").read_text(encoding="utf-8") == before


# ----------------------------------------------------------------------------- command line


def test_cli_renders_fixture_staircase(tmp_path, capsys):
    out = tmp_path / "staircase"
    status = cli_main([
        "--manifest", str(FIXTURE / "manifest.json"), "--out", str(out), "--title", "SFT staircase",
        "--metric", "avg@8", "--base-dir", str(FIXTURE),
    ])
    assert status == 0
    assert "wrote table.md" in capsys.readouterr().out
    lines = (out / "table.md").read_text(encoding="utf-8").splitlines()
    # Fixture values: both bugs aime [48, 50], hmmt [30, 32]; each fix adds to both seeds alike.
    assert "| SFT both bugs | 49.0 ± 1.4 | 31.0 ± 1.4 | 40.0 ± 1.4 | 2 | 3.00e12 |" in lines
    assert "| SFT loss fix only | 50.0 ± 1.4 | 32.0 ± 1.4 | 41.0 ± 1.4 | 2 | 3.00e12 |" in lines
    assert "| SFT optimizer fix only | 54.0 ± 1.4 | 36.0 ± 1.4 | 45.0 ± 1.4 | 2 | 3.00e12 |" in lines
    assert "| SFT corrected | 55.0 ± 1.4 | 37.0 ± 1.4 | 46.0 ± 1.4 | 2 | 3.00e12 |" in lines
    for name in ("table.csv", "table_long.csv", "table.tex", "bar.png", "curves.png", "summary.json"):
        assert (out / name).stat().st_size > 0, name


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "manifest file not found"),
        ("[", "invalid JSON"),
        ('{"row": "Base"}', "expected a JSON list"),
        ("[]", "manifest is empty"),
    ],
)
def test_cli_bad_manifest_file(tmp_path, capsys, content, message):
    manifest = tmp_path / "manifest.json"
    if content is not None:
        manifest.write_text(content, encoding="utf-8")
    with pytest.raises(ReportInputError, match=message):
        cli_main(["--manifest", str(manifest), "--out", str(tmp_path / "report"), "--title", "T"])
    assert capsys.readouterr().out == ""
    assert not (tmp_path / "report").exists()


def test_cli_default_metric_avg16(tmp_path):
    metrics = write_eval(tmp_path / "in/aime.json", "aime", 0.5, metric="avg@16")
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps([make_entry("Base", "aime", 0, metrics)]), encoding="utf-8")
    out = tmp_path / "report"
    assert cli_main(["--manifest", str(manifest), "--out", str(out), "--title", "Default"]) == 0
    assert json.loads((out / "summary.json").read_text(encoding="utf-8"))["metric"] == "avg@16"


def test_markdown_shows_answer_rates(tmp_path):
    inputs = tmp_path / "inputs"
    entries = []
    # Seed 0 and 1 of one row: no-answer 0.10 and 0.30 (mean 20.0), truncated 0.02 and 0.04 (mean 3.0).
    for seed, (no_answer, truncated) in enumerate([(0.10, 0.02), (0.30, 0.04)]):
        path = write_eval(inputs / f"run-{seed}/aime.json", "aime", 0.5, seed=seed)
        record = json.loads(path.read_text())
        record["rates"] = {"no_answer": no_answer, "truncated": truncated, "eos": 1 - truncated}
        path.write_text(json.dumps(record))
        entries.append(make_entry("RL", "aime", seed, path))
    table = render_comparison(entries, tmp_path / "report", "Rates", metric="avg@4")
    lines = format_markdown(table).splitlines()
    assert "| Row | aime |" in lines
    assert "| RL | 20.0 / 3.0 |" in lines
    assert table.rows[0].rates["aime"]["no_answer"].values == {0: 0.10, 1: 0.30}
