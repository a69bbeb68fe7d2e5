"""The experiment engine: `snakemake --cores all` runs the default workflow.

    snakemake --cores all                                            # default config
    snakemake --cores all --configfile workflows/config/smoke.yaml   # tiny end-to-end check

A --configfile replaces the default config as a whole; --config key=value overrides single
keys. The config is validated against workflows/schemas/config.schema.json before any job.
"""

import sys
from pathlib import Path

import yaml

from repro.config import validate_config


def _deep_update(base, overrides):
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_update(base[key], value)
        else:
            base[key] = value
    return base


if "experiment" not in config:
    _overrides = dict(config)
    config.clear()
    config.update(_deep_update(yaml.safe_load(Path("workflows/config/default.yaml").read_text()), _overrides))
validate_config(config)

REPRO = f"{sys.executable} -m repro"
EXP = config["experiment"]
OUT = f"results/{EXP}"
THREADS = config.get("threads", 1)
EVAL = config["eval"]


include: "workflows/organism.smk"
include: "workflows/sft.smk"
include: "workflows/rl.smk"
include: "workflows/eval.smk"
include: "workflows/report.smk"


rule all:
    input:
        staircase_outputs(),
        main_outputs(),
    default_target: True
