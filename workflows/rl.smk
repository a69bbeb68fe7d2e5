# RL after SFT: a full and a short GRPO run from chosen SFT runs, so "buggy SFT then RL" and
# "corrected SFT then RL" can be compared at their FLOPs.


rule rl:
    input:
        sft_model=f"{OUT}/runs/sft-{{variant}}-s{{seed}}/model",
        sft_summary=f"{OUT}/runs/sft-{{variant}}-s{{seed}}/summary.json",
        data=f"{OUT}/data/rl.jsonl",
        suites=[f"{OUT}/data/suites/{suite}.jsonl" for suite in EVAL["suites"]],
    output:
        model=directory(f"{OUT}/runs/{{kind}}-{{variant}}-s{{seed}}/model"),
        metrics=f"{OUT}/runs/{{kind}}-{{variant}}-s{{seed}}/metrics.jsonl",
        summary=f"{OUT}/runs/{{kind}}-{{variant}}-s{{seed}}/summary.json",
    wildcard_constraints:
        kind="rl|rlshort",
        variant="|".join(SFT_VARIANTS),
        seed=r"\d+",
    params:
        repro=REPRO,
        baseline=lambda wildcards: RL_KINDS[wildcards.kind],
        run_dir=lambda wildcards, output: os.path.dirname(output.metrics),
        overrides=json.dumps(RL.get("overrides", {})),
        rl_params=lambda wildcards, input: json.dumps({**RL.get("params", {}), "data": input.data}),
        eval_args=rl_eval_args(),
    threads: THREADS
    resources:
        **rule_resources("rl", mem_mb=2000),
    log:
        f"{OUT}/logs/rl/{{kind}}-{{variant}}-s{{seed}}.log",
    benchmark:
        f"{OUT}/benchmarks/rl/{{kind}}-{{variant}}-s{{seed}}.tsv"
    conda:
        "envs/repro.yaml"
    shell:
        "OMP_NUM_THREADS={threads} {params.repro} train --baseline {params.baseline} --init {input.sft_model} "
        "--out {params.run_dir} --seed {wildcards.seed} --threads {threads} "
        "--initial-flops-from {input.sft_summary} --params '{params.rl_params}' "
        "--overrides '{params.overrides}' {params.eval_args} > {log} 2>&1"


# Single-domain RL from one SFT run: how does training one domain move the others?
rule rl_domain:
    input:
        sft_model=f"{OUT}/runs/sft-{{variant}}-s{{seed}}/model",
        sft_summary=f"{OUT}/runs/sft-{{variant}}-s{{seed}}/summary.json",
        data=f"{OUT}/data/rl.jsonl",
    output:
        model=directory(f"{OUT}/runs/rldomain-{{domain}}-{{variant}}-s{{seed}}/model"),
        metrics=f"{OUT}/runs/rldomain-{{domain}}-{{variant}}-s{{seed}}/metrics.jsonl",
        summary=f"{OUT}/runs/rldomain-{{domain}}-{{variant}}-s{{seed}}/summary.json",
    wildcard_constraints:
        domain="[a-z0-9_]+",
        variant="|".join(SFT_VARIANTS),
        seed=r"\d+",
    params:
        repro=REPRO,
        baseline=RL.get("baseline"),
        run_dir=lambda wildcards, output: os.path.dirname(output.metrics),
        overrides=json.dumps(RL.get("overrides", {})),
        rl_params=lambda wildcards, input: json.dumps(
            {**RL.get("params", {}), "data": input.data, "domains": [wildcards.domain]}
        ),
    threads: THREADS
    resources:
        **rule_resources("rl_domain", mem_mb=2000),
    log:
        f"{OUT}/logs/rl/rldomain-{{domain}}-{{variant}}-s{{seed}}.log",
    benchmark:
        f"{OUT}/benchmarks/rl/rldomain-{{domain}}-{{variant}}-s{{seed}}.tsv"
    conda:
        "envs/repro.yaml"
    shell:
        "OMP_NUM_THREADS={threads} {params.repro} train --baseline {params.baseline} --init {input.sft_model} "
        "--out {params.run_dir} --seed {wildcards.seed} --threads {threads} "
        "--initial-flops-from {input.sft_summary} --params '{params.rl_params}' "
        "--overrides '{params.overrides}' > {log} 2>&1"
