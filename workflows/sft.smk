# SFT in every configured variant (corrected and the named bug emulations), once per seed.


rule sft:
    input:
        base=base_model_input(),
        data=f"{OUT}/data/sft.jsonl",
    output:
        model=directory(f"{OUT}/runs/sft-{{variant}}-s{{seed}}/model"),
        metrics=f"{OUT}/runs/sft-{{variant}}-s{{seed}}/metrics.jsonl",
        summary=f"{OUT}/runs/sft-{{variant}}-s{{seed}}/summary.json",
    wildcard_constraints:
        variant="|".join(SFT_VARIANTS),
        seed=r"\d+",
    params:
        repro=REPRO,
        init=model_dir_from_input,
        baseline=lambda wildcards: SFT_VARIANTS[wildcards.variant],
        run_dir=lambda wildcards, output: os.path.dirname(output.metrics),
        overrides=json.dumps(config["sft"].get("overrides", {})),
        sft_params=lambda wildcards, input: json.dumps({**config["sft"].get("params", {}), "data": input.data}),
    threads: THREADS
    resources:
        **rule_resources("sft", mem_mb=2000),
    log:
        f"{OUT}/logs/sft/{{variant}}-s{{seed}}.log",
    benchmark:
        f"{OUT}/benchmarks/sft/{{variant}}-s{{seed}}.tsv"
    conda:
        "envs/repro.yaml"
    shell:
        "OMP_NUM_THREADS={threads} {params.repro} train --baseline {params.baseline} --init {params.init} "
        "--out {params.run_dir} --seed {wildcards.seed} --threads {threads} "
        "--params '{params.sft_params}' --overrides '{params.overrides}' > {log} 2>&1"
