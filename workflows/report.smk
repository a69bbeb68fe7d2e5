# Tables and plots: the SFT staircase (base and every SFT variant, mean +- std over seeds).

import json

STAIRCASE_FILES = ["table.md", "table.csv", "table_long.csv", "table.tex", "bar.png", "curves.png", "summary.json"]
# Rows in the order of the paper's staircase (both bugs -> corrected), named by what is fixed.
VARIANT_LABELS = {
    "both_bugs": "SFT both bugs",
    "optimizer_bug": "SFT loss fix only (optimizer bug)",
    "aggregation_bug": "SFT optimizer fix only (aggregation bug)",
    "corrected": "SFT corrected (both fixed)",
}


def staircase_entries():
    entries = []
    for suite in EVAL["suites"]:
        entries.append({"row": "base", "variant": "base", "stage": "base", "seed": 0, "suite": suite,
                        "metrics": f"{OUT}/eval/base/{suite}/metrics.json", "run": None, "flops": None})
    ordered = [v for v in VARIANT_LABELS if v in SFT_VARIANTS] + [v for v in SFT_VARIANTS if v not in VARIANT_LABELS]
    for variant in ordered:
        for seed in config["seeds"]:
            for suite in EVAL["suites"]:
                name = f"sft-{variant}-s{seed}"
                entries.append({"row": VARIANT_LABELS.get(variant, f"SFT {variant}"), "variant": variant,
                                "stage": "sft", "seed": seed, "suite": suite,
                                "metrics": f"{OUT}/eval/{name}/{suite}/metrics.json",
                                "run": f"{OUT}/runs/{name}", "flops": "from_run"})
    return entries


def staircase_outputs():
    return [f"{OUT}/staircase/{name}" for name in STAIRCASE_FILES]


rule staircase_manifest:
    output:
        f"{OUT}/staircase_manifest.json",
    params:
        entries=staircase_entries(),
    run:
        from repro.utils.atomic import atomic_write_json

        atomic_write_json(output[0], params.entries)


rule staircase:
    input:
        manifest=rules.staircase_manifest.output,
        metrics=[entry["metrics"] for entry in staircase_entries()],
        runs=[f"{OUT}/runs/{name}/metrics.jsonl" for name in SFT_RUNS],
    output:
        staircase_outputs(),
    params:
        out=f"{OUT}/staircase",
        metric=f"avg@{EVAL['num_samples']}",
    log:
        f"{OUT}/logs/staircase.log",
    benchmark:
        f"{OUT}/benchmarks/staircase.tsv"
    shell:
        "{REPRO} report --manifest {input.manifest} --out {params.out} "
        "--title 'SFT staircase ({EXP})' --metric {params.metric} > {log} 2>&1"


# The main table: base, every SFT variant, SFT->RL and short SFT->RL, with FLOPs beside each score.
RL_LABELS = {"rl": "SFT {label} -> RL", "rlshort": "SFT {label} -> short RL"}


def main_entries():
    entries = [dict(entry) for entry in staircase_entries()]
    for kind in ("rl", "rlshort"):
        for variant in [v for v in VARIANT_LABELS if v in SFT_VARIANTS] + [v for v in SFT_VARIANTS if v not in VARIANT_LABELS]:
            seeds = [seed for k, v, seed in RL_RUNS if k == kind and v == variant]
            label = VARIANT_LABELS.get(variant, variant).replace("SFT ", "")
            for seed in seeds:
                name = f"{kind}-{variant}-s{seed}"
                for suite in EVAL["suites"]:
                    entries.append({"row": RL_LABELS[kind].format(label=label), "variant": variant,
                                    "stage": kind, "seed": seed, "suite": suite,
                                    "metrics": f"{OUT}/eval/{name}/{suite}/metrics.json",
                                    "run": f"{OUT}/runs/{name}", "flops": "from_run"})
    return entries


def main_outputs():
    if not RL_RUNS:
        return []
    return [f"{OUT}/main/{name}" for name in STAIRCASE_FILES] + [f"{OUT}/rl_curves.png"]


rule main_manifest:
    output:
        f"{OUT}/main_manifest.json",
    params:
        entries=main_entries(),
    run:
        from repro.utils.atomic import atomic_write_json

        atomic_write_json(output[0], params.entries)


rule main_table:
    input:
        manifest=rules.main_manifest.output,
        metrics=[entry["metrics"] for entry in main_entries()],
        runs=[f"{OUT}/runs/{kind}-{variant}-s{seed}/metrics.jsonl" for kind, variant, seed in RL_RUNS],
    output:
        [f"{OUT}/main/{name}" for name in STAIRCASE_FILES],
    params:
        out=f"{OUT}/main",
        metric=f"avg@{EVAL['num_samples']}",
    log:
        f"{OUT}/logs/main_table.log",
    benchmark:
        f"{OUT}/benchmarks/main_table.tsv"
    shell:
        "{REPRO} report --manifest {input.manifest} --out {params.out} "
        "--title 'Base, SFT variants and SFT->RL ({EXP})' --metric {params.metric} > {log} 2>&1"


rule rl_curves:
    input:
        manifest=rules.main_manifest.output,
        runs=[f"{OUT}/runs/{kind}-{variant}-s{seed}/metrics.jsonl" for kind, variant, seed in RL_RUNS],
    output:
        f"{OUT}/rl_curves.png",
    log:
        f"{OUT}/logs/rl_curves.log",
    shell:
        "{REPRO} rl-curves --manifest {input.manifest} --out {output} > {log} 2>&1"
