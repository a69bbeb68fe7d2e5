# The embedded default workload: problem suites, corpora and (on request) the base model.


if DATA_SOURCE == "organism":

    rule organism_data:
        output:
            aime=f"{OUT}/data/suites/aime.jsonl",
            hmmt=f"{OUT}/data/suites/hmmt.jsonl",
            sft=f"{OUT}/data/sft.jsonl",
            rl=f"{OUT}/data/rl.jsonl",
            privileged=f"{OUT}/data/privileged.jsonl",
            pretrain=f"{OUT}/data/pretrain.jsonl",
        params:
            repro=REPRO,
            out=lambda wildcards, output: os.path.dirname(output.sft),
            overrides=json.dumps(config.get("organism", {})),
        log:
            f"{OUT}/logs/organism_data.log",
        benchmark:
            f"{OUT}/benchmarks/organism_data.tsv"
        conda:
            "envs/repro.yaml"
        shell:
            "{params.repro} organism-data --out {params.out} --overrides '{params.overrides}' > {log} 2>&1"


# Rebuilds the base model (base.source: rebuild); the default config uses the committed one.
if BASE_SOURCE == "rebuild":

    rule pretrain_base:
        input:
            rules.organism_data.output.pretrain,
        output:
            directory(f"{OUT}/base/model"),
        params:
            repro=REPRO,
            data=lambda wildcards, input: os.path.dirname(input[0]),
            overrides=json.dumps(config.get("pretrain", {})),
        threads: THREADS
        resources:
            **rule_resources("pretrain_base", mem_mb=2000),
        log:
            f"{OUT}/logs/pretrain_base.log",
        benchmark:
            f"{OUT}/benchmarks/pretrain_base.tsv"
        conda:
            "envs/repro.yaml"
        shell:
            "OMP_NUM_THREADS={threads} {params.repro} pretrain --data {params.data} --out {output} "
            "--overrides '{params.overrides}' > {log} 2>&1"
