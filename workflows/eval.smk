# Evaluation of the base model and of every run on every configured suite.


rule evaluate:
    input:
        model=lambda wildcards: model_input_of(wildcards.name),
        suite=f"{OUT}/data/suites/{{suite}}.jsonl",
    output:
        metrics=f"{OUT}/eval/{{name}}/{{suite}}/metrics.json",
        samples=f"{OUT}/eval/{{name}}/{{suite}}/samples.jsonl",
    wildcard_constraints:
        suite="|".join(EVAL["suites"]),
    params:
        repro=REPRO,
        model=model_dir_from_input,
        out=lambda wildcards, output: os.path.dirname(output.metrics),
        sampling=eval_args(),
        answer_type=lambda wildcards: suite_answer_type(wildcards.suite),
    threads: THREADS
    resources:
        **rule_resources("evaluate", mem_mb=2000),
    log:
        f"{OUT}/logs/eval/{{name}}-{{suite}}.log",
    benchmark:
        f"{OUT}/benchmarks/eval/{{name}}-{{suite}}.tsv"
    conda:
        "envs/repro.yaml"
    shell:
        "OMP_NUM_THREADS={threads} {params.repro} eval --model {params.model} --suite {input.suite} "
        "--suite-name {wildcards.suite} --out {params.out} {params.sampling} --answer-type {params.answer_type} "
        "--threads {threads} > {log} 2>&1"
