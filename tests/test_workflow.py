"""The Snakemake workflow: config validation, dry runs, lint, and the smoke config end to end."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from repro.config import ConfigError, load_baseline, validate_config

ROOT = Path(__file__).resolve().parent.parent
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def default_config() -> dict:
    return yaml.safe_load((ROOT / "workflows/config/default.yaml").read_text())


def snakemake(*args, timeout=900):
    return subprocess.run([*SNAKEMAKE, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def test_default_and_smoke_configs_validate():
    validate_config(default_config())
    validate_config(yaml.safe_load((ROOT / "workflows/config/smoke.yaml").read_text()))


def test_unknown_key_names_key_and_valid_options():
    config = default_config()
    config["eval"]["num_sample"] = 4
    with pytest.raises(ConfigError) as error:
        validate_config(config)
    message = str(error.value)
    assert "['num_sample']" in message
    assert "'num_samples'" in message


def test_wrong_type_is_named():
    config = default_config()
    config["eval"]["num_samples"] = "sixteen"
    with pytest.raises(ConfigError, match=r"eval/num_samples: expected integer, got str 'sixteen'"):
        validate_config(config)


def test_k_larger_than_n_rejected():
    config = default_config()
    config["eval"]["k_values"] = [1, 32]
    with pytest.raises(ConfigError, match=r"k_values \[32\] exceed eval/num_samples=16"):
        validate_config(config)


def test_unknown_method_in_baseline(tmp_path):
    baseline = tmp_path / "typo.yaml"
    baseline.write_text("method: sft_typo\n")
    with pytest.raises(ConfigError, match=r"unknown method 'sft_typo'; registered methods are \['grpo', 'sft'\]"):
        load_baseline(baseline)


def test_baseline_extends_merges_train_keys():
    both = load_baseline("baselines/sft_both_bugs.yaml")
    assert both["method"] == "sft"
    assert both["train"]["optimizer_bug"] == "first_plus_last"
    assert both["train"]["mean_of_micro_batch_means"] is True
    assert both["train"]["lr"] == load_baseline("baselines/sft.yaml")["train"]["lr"]


def test_snakemake_rejects_unknown_key_before_any_job():
    result = snakemake("-n", "--config", "seedz=[0]")
    assert result.returncode != 0
    assert "unknown key(s) ['seedz']" in result.stdout + result.stderr


@pytest.mark.slow
def test_default_dry_run_and_lint():
    dry = snakemake("-n", "--quiet", "rules")
    assert dry.returncode == 0, dry.stderr
    lint = snakemake("--lint")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert "Lints for" not in lint.stdout + lint.stderr


@pytest.mark.slow
def test_smoke_workflow_end_to_end():
    """The smoke config runs every rule: data, base rebuild, SFT variants, RL, eval, tables, curves."""
    experiment = "pytest-smoke"
    out = ROOT / "results" / experiment
    shutil.rmtree(out, ignore_errors=True)
    try:
        result = snakemake("--cores", "2", "--configfile", "workflows/config/smoke.yaml",
                           "--config", f"experiment={experiment}", "--quiet", "all")
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        for name in ("table.md", "table.csv", "table.tex", "bar.png", "curves.png", "summary.json"):
            assert (out / "staircase" / name).stat().st_size > 0
        table = (out / "staircase" / "table.md").read_text()
        for row in ("base", "SFT both bugs", "SFT corrected (both fixed)"):
            assert row in table
        main_table = (out / "main" / "table.md").read_text()
        for row in ("SFT corrected (both fixed) -> RL", "SFT corrected (both fixed) -> short RL", "FLOPs"):
            assert row in main_table
        assert (out / "rl_curves.png").stat().st_size > 0
        assert "| addsub |" in (out / "cross_domain" / "s0" / "matrix.md").read_text()
        rl_steps = [json.loads(line) for line in (out / "runs" / "rl-corrected-s0" / "metrics.jsonl").read_text().splitlines()]
        assert "eval/aime/avg@4" in rl_steps[-1]
        sft_flops = json.loads((out / "runs" / "sft-corrected-s0" / "summary.json").read_text())["compute/flops"]
        assert rl_steps[-1]["compute/flops"] > sft_flops  # RL counts the SFT compute it started from
        metrics = json.loads((out / "eval" / "sft-corrected-s0" / "aime" / "metrics.json").read_text())
        assert metrics["sampling"]["n"] == 4
        provenance = json.loads((out / "runs" / "sft-both_bugs-s0" / "provenance.json").read_text())
        assert provenance["config"]["train"]["optimizer_bug"] == "first_plus_last"
        assert provenance["git"]["commit"]
        assert (out / "benchmarks" / "sft" / "corrected-s0.tsv").exists()
        assert not (out / "runs" / "sft-corrected-s0" / "checkpoint").exists()
    finally:
        shutil.rmtree(out, ignore_errors=True)
