# Evaluation of the base model and of every run on every configured suite.

EVAL_K = EVAL.get("k_values", [1, EVAL["num_samples"]])


def model_dir_of(name):
    return base_model_dir() if name == "base" else f"{OUT}/runs/{name}/model"


rule evaluate:
    input:
        model=lambda wildcards: model_dir_of(wildcards.name),
        suite=f"{OUT}/data/suites/{{suite}}.jsonl",
    output:
        metrics=f"{OUT}/eval/{{name}}/{{suite}}/metrics.json",
        samples=f"{OUT}/eval/{{name}}/{{suite}}/samples.jsonl",
    wildcard_constraints:
        suite="|".join(EVAL["suites"]),
    params:
        out=f"{OUT}/eval/{{name}}/{{suite}}",
        k=" ".join(str(k) for k in EVAL_K),
        max_problems=f"--max-problems {EVAL['max_problems']}" if "max_problems" in EVAL else "",
    threads: THREADS
    resources:
        mem_mb=2000,
    log:
        f"{OUT}/logs/eval/{{name}}-{{suite}}.log",
    benchmark:
        f"{OUT}/benchmarks/eval/{{name}}-{{suite}}.tsv"
    shell:
        "OMP_NUM_THREADS={threads} {REPRO} eval --model {input.model} --suite {input.suite} "
        "--suite-name {wildcards.suite} --out {params.out} --num-samples {EVAL[num_samples]} "
        "-k {params.k} --temperature {EVAL[temperature]} --top-p {EVAL[top_p]} "
        "--max-new-tokens {EVAL[max_new_tokens]} --batch-size {EVAL[batch_size]} --seed {EVAL[seed]} "
        "{params.max_problems} --threads {threads} > {log} 2>&1"
