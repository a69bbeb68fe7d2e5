# Tables and plots: the SFT staircase, the main table with SFT->RL, and the RL curves.


rule staircase_manifest:
    output:
        f"{OUT}/staircase_manifest.json",
    params:
        repro=REPRO,
        entries=json.dumps(staircase_entries()),
    log:
        f"{OUT}/logs/staircase_manifest.log",
    benchmark:
        f"{OUT}/benchmarks/staircase_manifest.tsv"
    conda:
        "envs/repro.yaml"
    shell:
        "{params.repro} write-json --out {output} --json '{params.entries}' > {log} 2>&1"


rule staircase:
    input:
        manifest=rules.staircase_manifest.output,
        metrics=[entry["metrics"] for entry in staircase_entries()],
        runs=[f"{OUT}/runs/{name}/metrics.jsonl" for name in SFT_RUNS],
    output:
        staircase_outputs(),
    params:
        repro=REPRO,
        out=lambda wildcards, output: os.path.dirname(output[0]),
        metric=f"avg@{EVAL['num_samples']}",
        title=f"SFT staircase ({EXP})",
    log:
        f"{OUT}/logs/staircase.log",
    benchmark:
        f"{OUT}/benchmarks/staircase.tsv"
    conda:
        "envs/repro.yaml"
    shell:
        "{params.repro} report --manifest {input.manifest} --out {params.out} "
        "--title '{params.title}' --metric {params.metric} > {log} 2>&1"


rule main_manifest:
    output:
        f"{OUT}/main_manifest.json",
    params:
        repro=REPRO,
        entries=json.dumps(main_entries()),
    log:
        f"{OUT}/logs/main_manifest.log",
    benchmark:
        f"{OUT}/benchmarks/main_manifest.tsv"
    conda:
        "envs/repro.yaml"
    shell:
        "{params.repro} write-json --out {output} --json '{params.entries}' > {log} 2>&1"


rule main_table:
    input:
        manifest=rules.main_manifest.output,
        metrics=[entry["metrics"] for entry in main_entries()],
        runs=[f"{OUT}/runs/{kind}-{variant}-s{seed}/metrics.jsonl" for kind, variant, seed in RL_RUNS],
    output:
        [f"{OUT}/main/{name}" for name in REPORT_FILES],
    params:
        repro=REPRO,
        out=lambda wildcards, output: os.path.dirname(output[0]),
        metric=f"avg@{EVAL['num_samples']}",
        title=f"Base, SFT variants and SFT->RL ({EXP})",
    log:
        f"{OUT}/logs/main_table.log",
    benchmark:
        f"{OUT}/benchmarks/main_table.tsv"
    conda:
        "envs/repro.yaml"
    shell:
        "{params.repro} report --manifest {input.manifest} --out {params.out} "
        "--title '{params.title}' --metric {params.metric} > {log} 2>&1"


rule rl_curves:
    input:
        manifest=rules.main_manifest.output,
        runs=[f"{OUT}/runs/{kind}-{variant}-s{seed}/metrics.jsonl" for kind, variant, seed in RL_RUNS],
    output:
        f"{OUT}/rl_curves.png",
    params:
        repro=REPRO,
    log:
        f"{OUT}/logs/rl_curves.log",
    benchmark:
        f"{OUT}/benchmarks/rl_curves.tsv"
    conda:
        "envs/repro.yaml"
    shell:
        "{params.repro} rl-curves --manifest {input.manifest} --out {output} > {log} 2>&1"


rule cross_domain:
    input:
        start=lambda wildcards: f"{OUT}/eval/sft-{CROSS['variant']}-s{wildcards.seed}/{CROSS.get('suite', 'aime')}/metrics.json",
        runs=lambda wildcards: [
            f"{OUT}/eval/rldomain-{domain}-{CROSS['variant']}-s{wildcards.seed}/{CROSS.get('suite', 'aime')}/metrics.json"
            for domain in CROSS["domains"]
        ],
    output:
        f"{OUT}/cross_domain/s{{seed}}/matrix.md",
    params:
        repro=REPRO,
        out=lambda wildcards, output: os.path.dirname(output[0]),
        runs=lambda wildcards, input: " ".join(
            f"--run {domain}={path}" for domain, path in zip(CROSS["domains"], input.runs)
        ),
        metric=f"avg@{EVAL['num_samples']}",
    log:
        f"{OUT}/logs/cross_domain-s{{seed}}.log",
    benchmark:
        f"{OUT}/benchmarks/cross_domain-s{{seed}}.tsv"
    conda:
        "envs/repro.yaml"
    shell:
        "{params.repro} cross-domain --start {input.start} {params.runs} --metric {params.metric} "
        "--out {params.out} > {log} 2>&1"
