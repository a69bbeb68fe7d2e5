# The embedded default workload: problem suites, corpora and the base model.

import json

BASE_SOURCE = config["base"]["source"]


def base_model_dir():
    """Folder of the base model every stage starts from."""
    if BASE_SOURCE == "rebuild":
        return f"{OUT}/base/model"
    return config["base"].get("path", "assets/organism_base")


rule organism_data:
    output:
        aime=f"{OUT}/data/suites/aime.jsonl",
        hmmt=f"{OUT}/data/suites/hmmt.jsonl",
        sft=f"{OUT}/data/sft.jsonl",
        rl=f"{OUT}/data/rl.jsonl",
        privileged=f"{OUT}/data/privileged.jsonl",
        pretrain=f"{OUT}/data/pretrain.jsonl",
    params:
        out=f"{OUT}/data",
        overrides=json.dumps(config.get("organism", {})),
    log:
        f"{OUT}/logs/organism_data.log",
    benchmark:
        f"{OUT}/benchmarks/organism_data.tsv"
    shell:
        "{REPRO} organism-data --out {params.out} --overrides '{params.overrides}' > {log} 2>&1"


rule pretrain_base:
    input:
        rules.organism_data.output.pretrain,
    output:
        directory(f"{OUT}/base/model"),
    params:
        data=f"{OUT}/data",
        overrides=json.dumps(config.get("pretrain", {})),
    threads: THREADS
    resources:
        mem_mb=2000,
    log:
        f"{OUT}/logs/pretrain_base.log",
    benchmark:
        f"{OUT}/benchmarks/pretrain_base.tsv"
    shell:
        "OMP_NUM_THREADS={threads} {REPRO} pretrain --data {params.data} --out {output} "
        "--overrides '{params.overrides}' > {log} 2>&1"
