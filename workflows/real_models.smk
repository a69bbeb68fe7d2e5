# Real models and real data: a base model imported from GGUF or fetched from the hub, the
# arithmetic workload, and training data and evaluation suites from suite cards. Each rule is
# defined only for the config's base.source and data.source, so it never competes with the
# organism rules for the same output.

if BASE_SOURCE == "gguf":

    rule import_base:
        output:
            directory(f"{OUT}/base/model"),
        params:
            repro=REPRO,
            gguf=f"--gguf {config['base']['gguf']}" if "gguf" in config["base"] else "",
        resources:
            **rule_resources("import_base", mem_mb=4000),
        log:
            f"{OUT}/logs/import_base.log",
        benchmark:
            f"{OUT}/benchmarks/import_base.tsv"
        conda:
            "envs/repro.yaml"
        shell:
            "{params.repro} import-gguf {params.gguf} --out {output} > {log} 2>&1"


if BASE_SOURCE == "hub":

    # Downloads only when it runs; a dry run builds the DAG without the network.
    rule fetch_base:
        output:
            directory(f"{OUT}/base/model"),
        params:
            repro=REPRO,
            hub_id=config["base"].get("hub_id"),
            revision=f"--revision {config['base']['revision']}" if "revision" in config["base"] else "",
        resources:
            **rule_resources("fetch_base", mem_mb=4000),
        log:
            f"{OUT}/logs/fetch_base.log",
        benchmark:
            f"{OUT}/benchmarks/fetch_base.tsv"
        conda:
            "envs/repro.yaml"
        shell:
            "{params.repro} fetch-model --hub-id {params.hub_id} {params.revision} --out {output} > {log} 2>&1"


if DATA_SOURCE == "arith":
    ARITH = DATA.get("arith", {})

    rule arith_data:
        output:
            test=f"{OUT}/data/suites/arith.jsonl",
            sft=f"{OUT}/data/sft.jsonl",
            rl=f"{OUT}/data/rl.jsonl",
        params:
            repro=REPRO,
            out=lambda wildcards, output: os.path.dirname(output.sft),
            sizes=" ".join(f"--{key.replace('_', '-')} {value}" for key, value in ARITH.items()),
        resources:
            **rule_resources("arith_data", mem_mb=1000),
        log:
            f"{OUT}/logs/arith_data.log",
        benchmark:
            f"{OUT}/benchmarks/arith_data.tsv"
        conda:
            "envs/repro.yaml"
        shell:
            # arith-data writes test.jsonl; the suite lives where the evaluation rule looks for it.
            "{params.repro} arith-data --out {params.out} {params.sizes} > {log} 2>&1 && "
            "mkdir -p {params.out}/suites && mv {params.out}/test.jsonl {output.test}"


if DATA_SOURCE == "cards":
    TRAINING_CARDS = {"sft": DATA.get("sft_card"), "rl": DATA.get("rl_card")}

    rule card_data:
        output:
            f"{OUT}/data/{{split}}.jsonl",
        wildcard_constraints:
            split="|".join(split for split, card in TRAINING_CARDS.items() if card),
        params:
            repro=REPRO,
            card=lambda wildcards: TRAINING_CARDS[wildcards.split],
        resources:
            **rule_resources("card_data", mem_mb=4000),
        log:
            f"{OUT}/logs/card_data/{{split}}.log",
        benchmark:
            f"{OUT}/benchmarks/card_data/{{split}}.tsv"
        conda:
            "envs/repro.yaml"
        shell:
            "{params.repro} card-suite --card {params.card} --out {output} > {log} 2>&1"

    rule card_suite:
        output:
            f"{OUT}/data/suites/{{suite}}.jsonl",
        wildcard_constraints:
            suite="|".join(EVAL["suites"]),
        params:
            repro=REPRO,
        resources:
            **rule_resources("card_suite", mem_mb=2000),
        log:
            f"{OUT}/logs/card_suite/{{suite}}.log",
        benchmark:
            f"{OUT}/benchmarks/card_suite/{{suite}}.tsv"
        conda:
            "envs/repro.yaml"
        shell:
            "{params.repro} card-suite --card {wildcards.suite} --out {output} > {log} 2>&1"
