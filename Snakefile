"""The experiment engine: `snakemake --cores all` runs the default workflow.

    snakemake --cores all                                            # default config
    snakemake --cores all --configfile workflows/config/smoke.yaml   # tiny end-to-end check

A --configfile replaces the default config as a whole; --config key=value overrides single
keys. The config is validated against workflows/schemas/config.schema.json before any job.
"""

from repro.config import resolve_workflow_config

_resolved = resolve_workflow_config(dict(config))
config.clear()
config.update(_resolved)


include: "workflows/common.smk"
include: "workflows/organism.smk"
include: "workflows/real_models.smk"
include: "workflows/sft.smk"
include: "workflows/rl.smk"
include: "workflows/eval.smk"
include: "workflows/report.smk"


rule all:
    input:
        staircase_outputs(),
        main_outputs(),
        cross_domain_outputs(),
    default_target: True
