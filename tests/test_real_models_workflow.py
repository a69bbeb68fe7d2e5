"""Workflow configs for real models (SmolLM2 offline, Qwen2.5-Math at the paper's scale): schema
checks, workload consistency checks, and Snakemake dry runs that need no network."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from repro.config import ConfigError, validate_config

ROOT = Path(__file__).resolve().parent.parent
REAL_CONFIGS = ["smollm2", "qwen25_math_1p5b", "qwen25_math_7b"]


def load(name: str) -> dict:
    return yaml.safe_load((ROOT / "workflows" / "config" / f"{name}.yaml").read_text())


def dry_run(config: str, *targets: str) -> subprocess.CompletedProcess:
    """Plan the config's workflow under its own experiment name, so finished runs of it do not hide jobs."""
    command = [sys.executable, "-m", "snakemake", *targets, "-n", "-p", "--configfile",
               f"workflows/config/{config}.yaml", "--config", f"experiment=dry-run-{config}"]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("name", REAL_CONFIGS)
def test_real_config_validates(name):
    validate_config(load(name))


def test_qwen_config_uses_paper_recipe():
    config = load("qwen25_math_1p5b")
    assert config["base"] == {"source": "hub", "hub_id": "Qwen/Qwen2.5-Math-1.5B"}
    assert config["sft"]["overrides"]["lr"] == 5.0e-5
    assert config["sft"]["overrides"]["global_batch_size"] == 64
    assert config["eval"]["temperature"] == 0.6
    assert config["eval"]["num_samples"] == 32
    assert config["resources"]["sft"]["gpu"] == 1
    assert load("qwen25_math_7b")["base"]["hub_id"] == "Qwen/Qwen2.5-Math-7B"


def test_qwen_dry_run_fetches_and_uses_gpus():
    result = dry_run("qwen25_math_1p5b")
    assert result.returncode == 0, result.stderr[-2000:]
    text = result.stdout
    assert "repro fetch-model --hub-id Qwen/Qwen2.5-Math-1.5B" in text
    assert "repro card-suite --card aime24" in text
    assert "repro card-suite --card openr1_math_46k" in text
    assert "--answer-type math" in text
    assert "gpu=1" in text


def test_smollm2_dry_run_imports_gguf():
    result = dry_run("smollm2")
    assert result.returncode == 0, result.stderr[-2000:]
    text = result.stdout
    assert "repro import-gguf  --out results/dry-run-smollm2/base/model" in text
    assert "repro arith-data" in text
    assert '"prompt_format": "chat"' in text
    assert "--prompt-format chat" in text


def test_cards_source_rejects_unknown_suite():
    config = load("qwen25_math_1p5b")
    config["eval"]["suites"] = ["aime24", "aime2099"]
    with pytest.raises(ConfigError, match="eval/suites: unknown suite card 'aime2099'"):
        validate_config(config)


def test_cards_source_rejects_training_card_as_suite():
    config = load("qwen25_math_1p5b")
    config["eval"]["suites"] = ["openr1_math_46k"]
    with pytest.raises(ConfigError, match="describes training data"):
        validate_config(config)


def test_cards_source_needs_sft_card():
    config = load("qwen25_math_1p5b")
    del config["data"]["sft_card"]
    with pytest.raises(ConfigError, match="data/sft_card is missing"):
        validate_config(config)


def test_hub_source_needs_hub_id():
    config = load("qwen25_math_1p5b")
    del config["base"]["hub_id"]
    with pytest.raises(ConfigError, match="base/hub_id is missing"):
        validate_config(config)


def test_arith_source_rejects_organism_suite():
    config = load("smollm2")
    config["eval"]["suites"] = ["arith", "aime"]
    with pytest.raises(ConfigError, match=r"eval/suites \['aime'\] are not suites of data source 'arith'"):
        validate_config(config)


def test_rl_eval_suite_must_be_evaluated():
    config = load("smollm2")
    config["rl"]["eval_suite"] = "hmmt"
    with pytest.raises(ConfigError, match="rl/eval_suite 'hmmt' is not one of eval/suites"):
        validate_config(config)


def test_unknown_resource_key_named():
    config = load("smollm2")
    config["resources"]["sft"]["gpus"] = 1
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['gpus'\] under resources/sft"):
        validate_config(config)


def test_slurm_profile_names_executor():
    profile = yaml.safe_load((ROOT / "workflows" / "profiles" / "slurm" / "config.yaml").read_text())
    assert profile["executor"] == "slurm"
    assert "mem_mb=4000" in profile["default-resources"]


@pytest.mark.parametrize("name", ["smollm2", "qwen25_math_1p5b"])
def test_real_config_lint_clean(name):
    command = [sys.executable, "-m", "snakemake", "--lint", "--configfile", f"workflows/config/{name}.yaml"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Lints for" not in result.stdout + result.stderr


def test_organism_base_needs_organism_data():
    config = load("smollm2")
    config["base"] = {"source": "rebuild"}
    with pytest.raises(ConfigError, match="base/source 'rebuild' is the organism's base model"):
        validate_config(config)
