# RL after SFT: a full and a short GRPO run from chosen SFT runs, so "buggy SFT then RL" and
# "corrected SFT then RL" can be compared at their FLOPs.

import json

RL = config.get("rl") or {}
RL_KINDS = {"rl": RL.get("baseline"), "rlshort": RL.get("short_baseline")}
RL_RUNS = []
for _kind, _key in (("rl", "from_sft"), ("rlshort", "short_from_sft")):
    for _variant, _seeds in RL.get(_key, {}).items():
        RL_RUNS += [(_kind, _variant, _seed) for _seed in _seeds]


def rl_eval_args():
    if not RL.get("eval_every"):
        return ""
    suite = RL.get("eval_suite", EVAL["suites"][0])
    limit = RL.get("eval_max_problems", EVAL.get("max_problems"))
    args = [
        f"--eval-every {RL['eval_every']}",
        f"--eval-suite {OUT}/data/suites/{suite}.jsonl",
        f"--eval-samples {EVAL['num_samples']}",
        f"--eval-temperature {EVAL['temperature']}",
        f"--eval-top-p {EVAL['top_p']}",
        f"--eval-max-new-tokens {EVAL['max_new_tokens']}",
        f"--eval-batch-size {EVAL['batch_size']}",
        f"--eval-seed {EVAL['seed']}",
    ]
    if limit:
        args.append(f"--eval-max-problems {limit}")
    return " ".join(args)


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
        baseline=lambda wildcards: RL_KINDS[wildcards.kind],
        run_dir=f"{OUT}/runs/{{kind}}-{{variant}}-s{{seed}}",
        overrides=json.dumps(RL.get("overrides", {})),
        rl_params=lambda wildcards, input: json.dumps({**RL.get("params", {}), "data": input.data}),
        eval_args=rl_eval_args(),
    threads: THREADS
    resources:
        mem_mb=2000,
    log:
        f"{OUT}/logs/rl/{{kind}}-{{variant}}-s{{seed}}.log",
    benchmark:
        f"{OUT}/benchmarks/rl/{{kind}}-{{variant}}-s{{seed}}.tsv"
    shell:
        "OMP_NUM_THREADS={threads} {REPRO} train --baseline {params.baseline} --init {input.sft_model} "
        "--out {params.run_dir} --seed {wildcards.seed} --threads {threads} "
        "--initial-flops-from {input.sft_summary} --params '{params.rl_params}' "
        "--overrides '{params.overrides}' {params.eval_args} > {log} 2>&1"
