# Names, run lists and helper functions shared by the rule files (no rules here).

import json
import os
import sys

REPRO = f"{sys.executable} -m repro"
EXP = config["experiment"]
OUT = f"results/{EXP}"
THREADS = config.get("threads", 1)
EVAL = config["eval"]
EVAL_K = EVAL.get("k_values", [1, EVAL["num_samples"]])
BASE_SOURCE = config["base"]["source"]
DATA = config.get("data") or {}
DATA_SOURCE = DATA.get("source", "organism")
RESOURCES = config.get("resources") or {}

SFT_VARIANTS = config["sft"]["variants"]
SFT_RUNS = [f"sft-{variant}-s{seed}" for variant in SFT_VARIANTS for seed in config["seeds"]]

RL = config.get("rl") or {}
RL_KINDS = {"rl": RL.get("baseline"), "rlshort": RL.get("short_baseline")}
RL_RUNS = [
    (kind, variant, seed)
    for kind, key in (("rl", "from_sft"), ("rlshort", "short_from_sft"))
    for variant, seeds in RL.get(key, {}).items()
    for seed in seeds
]

CROSS = RL.get("cross_domain") or {}
CROSS_RUNS = [(domain, CROSS["variant"], seed) for domain in CROSS.get("domains", []) for seed in CROSS.get("seeds", [])]

REPORT_FILES = ["table.md", "table.csv", "table_long.csv", "table.tex", "bar.png", "curves.png", "summary.json"]
# Rows in the order of the paper's staircase (both bugs -> corrected), named by what is fixed.
VARIANT_LABELS = {
    "both_bugs": "SFT both bugs",
    "optimizer_bug": "SFT loss fix only (optimizer bug)",
    "aggregation_bug": "SFT optimizer fix only (aggregation bug)",
    "corrected": "SFT corrected (both fixed)",
}
RL_LABELS = {"rl": "SFT {label} -> RL", "rlshort": "SFT {label} -> short RL"}


def base_model_dir():
    """Return the folder of the base model every stage starts from."""
    if BASE_SOURCE in ("rebuild", "gguf", "hub"):
        return f"{OUT}/base/model"
    return config["base"].get("path", "assets/organism_base")


def rule_resources(name, **defaults):
    """Return a rule's Snakemake resources: ``defaults`` updated by the config's resources/<name>."""
    return {**defaults, **RESOURCES.get(name, {})}


def suite_answer_type(suite):
    """Return how a suite's answers are graded: its card's answer type, or integer for generated suites."""
    if DATA_SOURCE != "cards":
        return "integer"
    from repro.data.cards import load_card

    return load_card(suite).answer_type


def base_model_input():
    """Return the file or folder whose change reruns every stage after the base model.

    A committed or given folder is tracked through its weights file, because other files in it
    may change without changing the model (the manifest gains measured metrics after the build).
    """
    if BASE_SOURCE in ("committed", "path"):
        return f"{base_model_dir()}/model.safetensors"
    return base_model_dir()


def model_dir_from_input(wildcards, input):
    """Return the model folder of a rule whose first input is that folder or its weights file."""
    path = input[0]
    return os.path.dirname(path) if path.endswith(".safetensors") else path


def model_dir_of(name):
    return base_model_dir() if name == "base" else f"{OUT}/runs/{name}/model"


def model_input_of(name):
    return base_model_input() if name == "base" else f"{OUT}/runs/{name}/model"


def ordered_variants():
    known = [v for v in VARIANT_LABELS if v in SFT_VARIANTS]
    return known + [v for v in SFT_VARIANTS if v not in VARIANT_LABELS]


def output_dir(wildcards, output):
    """Return the folder of a rule's first output file (keeps the prefix derived, as --lint asks)."""
    return os.path.dirname(output[0])


def rl_eval_args():
    """Return the held-out evaluation options of RL runs: the final evaluation's sampling settings."""
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


def eval_args():
    args = [
        f"--num-samples {EVAL['num_samples']}",
        "-k " + " ".join(str(k) for k in EVAL_K),
        f"--temperature {EVAL['temperature']}",
        f"--top-p {EVAL['top_p']}",
        f"--max-new-tokens {EVAL['max_new_tokens']}",
        f"--batch-size {EVAL['batch_size']}",
        f"--seed {EVAL['seed']}",
    ]
    if "max_problems" in EVAL:
        args.append(f"--max-problems {EVAL['max_problems']}")
    if EVAL.get("prompt_format", "raw") != "raw":
        args.append(f"--prompt-format {EVAL['prompt_format']}")
    return " ".join(args)


def staircase_entries():
    entries = []
    for suite in EVAL["suites"]:
        entries.append({"row": "base", "variant": "base", "stage": "base", "seed": 0, "suite": suite,
                        "metrics": f"{OUT}/eval/base/{suite}/metrics.json", "run": None, "flops": None})
    for variant in ordered_variants():
        for seed in config["seeds"]:
            for suite in EVAL["suites"]:
                name = f"sft-{variant}-s{seed}"
                entries.append({"row": VARIANT_LABELS.get(variant, f"SFT {variant}"), "variant": variant,
                                "stage": "sft", "seed": seed, "suite": suite,
                                "metrics": f"{OUT}/eval/{name}/{suite}/metrics.json",
                                "run": f"{OUT}/runs/{name}", "flops": "from_run"})
    return entries


def main_entries():
    """Return the staircase entries plus one row per (RL kind, SFT variant)."""
    entries = [dict(entry) for entry in staircase_entries()]
    for kind in ("rl", "rlshort"):
        for variant in ordered_variants():
            label = VARIANT_LABELS.get(variant, variant).replace("SFT ", "")
            for seed in [s for k, v, s in RL_RUNS if k == kind and v == variant]:
                name = f"{kind}-{variant}-s{seed}"
                for suite in EVAL["suites"]:
                    entries.append({"row": RL_LABELS[kind].format(label=label), "variant": variant,
                                    "stage": kind, "seed": seed, "suite": suite,
                                    "metrics": f"{OUT}/eval/{name}/{suite}/metrics.json",
                                    "run": f"{OUT}/runs/{name}", "flops": "from_run"})
    return entries


def staircase_outputs():
    return [f"{OUT}/staircase/{name}" for name in REPORT_FILES]


def cross_domain_outputs():
    if not CROSS_RUNS:
        return []
    return [f"{OUT}/cross_domain/s{seed}/matrix.md" for seed in CROSS["seeds"]]


def main_outputs():
    if not RL_RUNS:
        return []
    return [f"{OUT}/main/{name}" for name in REPORT_FILES] + [f"{OUT}/rl_curves.png"]
