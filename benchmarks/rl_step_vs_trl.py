"""Wall time of GRPO steps: the harness's loop against TRL's GRPOTrainer, same model and batch.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/rl_step_vs_trl.py

Setup: organism data from build_organism_data with a small OrganismConfig, and one randomly
initialised organism model (default PretrainConfig, about 1.06M parameters) saved to a
folder that both sides load. Each side then runs ``--steps`` GRPO optimizer steps with
the same settings: 8 prompts x 8 responses per step, at most 64 new tokens at temperature 1,
micro-batch 16 (K = 4), mean-centred advantages without std scaling, the clipped loss with
eps 0.2 / 0.28, token-mean aggregation (TRL loss_type "dapo"), no KL, AdamW at a constant
lr 1e-6, gradient clipping at 1.0, and the verifier reward of repro.rewards on the decoded text.

The harness runs repro.train.loop.train with the "grpo" method and samples with
repro.rollout.sample. TRL runs GRPOTrainer.train offline on CPU: no vLLM, generation through
transformers' model.generate, bf16 and activation checkpointing off (GRPOConfig turns both on
by default). The two sides run in two subprocesses, back to back, with one torch thread
each, and ``--rounds`` repeats that pair with the order swapped. A step's time covers
sampling, reward, forward and backward passes and the optimizer step: the loop's perf/step_s
for the harness, on_step_begin to on_step_end for TRL. The first step of each run is a
warm-up and is left out of the medians. Besides wall time, each side reads its process CPU
time (time.process_time) per step, which load from other processes changes less.

What this does not compare: the two sides draw different prompts and samples (each with its
own seeded order), and a random model writes nonsense, so rewards are 0 and the loss carries
no signal. The work per step is the same in expectation, but response lengths vary from
step to step (a random model ends a response with EOS at random), so the script also prints
the step time per response token. That normalisation is approximate: the training part of a
step also scales with the prompt tokens.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROMPTS_PER_STEP = 8
GROUP_SIZE = 8
MICRO_BATCH_SIZE = 16
MAX_NEW_TOKENS = 64
LEARNING_RATE = 1e-6
EPS_LOW, EPS_HIGH = 0.2, 0.28
SIDES = ("repro", "trl")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def prepare(work_dir: Path) -> tuple[Path, Path]:
    """Write the small organism data and a random organism model, and return both folders."""
    import torch

    from repro.models.io import save_model_folder
    from repro.organism import OrganismConfig, build_model, build_organism_data, build_tokenizer

    data_dir, model_dir = work_dir / "data", work_dir / "model"
    build_organism_data(
        OrganismConfig(test_per_domain=4, sft_size=64, rl_size=64, privileged_size=8, pretrain_size=16), data_dir
    )
    torch.manual_seed(0)
    save_model_folder(build_model(), build_tokenizer(), model_dir)
    return data_dir, model_dir


def run_repro(data_dir: Path, model_dir: Path, steps: int, run_dir: Path) -> dict:
    import torch

    from repro.methods import MethodContext, build_method
    from repro.models.io import load_causal_lm
    from repro.organism import build_tokenizer
    from repro.train.config import TrainConfig
    from repro.train.loop import train

    torch.set_num_threads(1)
    model = load_causal_lm(model_dir)
    tokenizer = build_tokenizer()
    batch_size = PROMPTS_PER_STEP * GROUP_SIZE
    context = MethodContext(policy=model, tokenizer=tokenizer, seed=0, global_batch_size=batch_size)
    method = build_method("grpo", {
        "data": str(data_dir / "rl.jsonl"),
        "group_size": GROUP_SIZE,
        "temperature": 1.0,
        "max_new_tokens": MAX_NEW_TOKENS,
        "rollout_batch_size": batch_size,
        "advantage": "dr_grpo",
        "policy_loss": "clipped",
        "policy_loss_params": {"eps_low": EPS_LOW, "eps_high": EPS_HIGH},
    }, context)
    config = TrainConfig(lr=LEARNING_RATE, schedule="constant", warmup_ratio=0.0, weight_decay=0.0,
                         max_grad_norm=1.0, global_batch_size=batch_size, micro_batch_size=MICRO_BATCH_SIZE,
                         num_steps=steps, aggregation="token_mean", checkpoint_every=0, threads=1)

    # Callbacks run after every optimizer step, so consecutive readings bound steps 2..N.
    cpu_clock_s: list[float] = []

    def read_cpu_clock(step: int, model: torch.nn.Module) -> dict[str, float]:
        cpu_clock_s.append(time.process_time())
        return {}

    start = time.perf_counter()
    train(model, method, config, run_dir, pad_token_id=tokenizer.pad_token_id, max_length=MAX_NEW_TOKENS,
          progress=False, callbacks=[read_cpu_clock])
    total_s = time.perf_counter() - start

    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return {
        "step_s": [line["perf/step_s"] for line in lines],
        "timed_cpu_s": [later - earlier for earlier, later in zip(cpu_clock_s, cpu_clock_s[1:])],
        "response_length": [line["response/length_mean"] for line in lines],
        "total_s": total_s,
        "peak_rss_mb": peak_rss_mb(),
    }


def run_trl(data_dir: Path, model_dir: Path, steps: int, run_dir: Path) -> dict:
    import datasets
    import torch
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from repro.data.schema import read_problems
    from repro.models.io import load_causal_lm
    from repro.organism import build_tokenizer
    from repro.rewards import verifier_reward

    torch.set_num_threads(1)
    model = load_causal_lm(model_dir)
    tokenizer = build_tokenizer()
    problems = read_problems(data_dir / "rl.jsonl")
    dataset = datasets.Dataset.from_list([{"prompt": p.prompt, "answer": p.answer} for p in problems])
    eos_ids = {tokenizer.eos_token_id}

    def reward(prompts, completions, completion_ids, answer, **kwargs):
        # TRL keeps the EOS token in completion_ids, so a row without it hit the length limit.
        return [
            verifier_reward(text, gold, "integer", "eos" if ids and ids[-1] in eos_ids else "length")
            for text, ids, gold in zip(completions, completion_ids, answer)
        ]

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.step_s: list[float] = []
            self.cpu_s: list[float] = []
            self.started = self.cpu_started = 0.0

        def on_step_begin(self, args, state, control, **kwargs):
            self.started, self.cpu_started = time.perf_counter(), time.process_time()

        def on_step_end(self, args, state, control, **kwargs):
            self.step_s.append(time.perf_counter() - self.started)
            self.cpu_s.append(time.process_time() - self.cpu_started)

    args = GRPOConfig(
        output_dir=str(run_dir),
        per_device_train_batch_size=MICRO_BATCH_SIZE,
        gradient_accumulation_steps=PROMPTS_PER_STEP * GROUP_SIZE // MICRO_BATCH_SIZE,
        num_generations=GROUP_SIZE,
        max_completion_length=MAX_NEW_TOKENS,
        temperature=1.0,
        top_p=1.0,
        learning_rate=LEARNING_RATE,
        lr_scheduler_type="constant",
        warmup_steps=0,
        weight_decay=0.0,
        max_grad_norm=1.0,
        loss_type="dapo",
        epsilon=EPS_LOW,
        epsilon_high=EPS_HIGH,
        beta=0.0,
        scale_rewards="none",
        max_steps=steps,
        seed=0,
        bf16=False,
        use_cpu=True,
        activation_checkpointing=False,
        report_to="none",
        save_strategy="no",
        logging_steps=1,
        disable_tqdm=True,
    )
    timer = StepTimer()
    trainer = GRPOTrainer(model=model, reward_funcs=reward, args=args, train_dataset=dataset,
                          processing_class=tokenizer, callbacks=[timer])

    start = time.perf_counter()
    trainer.train()
    total_s = time.perf_counter() - start

    lengths = [entry["completions/mean_length"] for entry in trainer.state.log_history
               if "completions/mean_length" in entry]
    return {
        "step_s": timer.step_s,
        "timed_cpu_s": timer.cpu_s[1:],
        "response_length": lengths,
        "total_s": total_s,
        "peak_rss_mb": peak_rss_mb(),
    }


def run_in_subprocess(side: str, data_dir: Path, model_dir: Path, steps: int, run_dir: Path) -> dict:
    command = [sys.executable, __file__, "--worker", side, "--steps", str(steps),
               "--data-dir", str(data_dir), "--model-dir", str(model_dir), "--run-dir", str(run_dir)]
    environment = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    completed = subprocess.run(command, env=environment, capture_output=True, text=True)
    if completed.returncode != 0:
        raise RuntimeError(f"the {side} worker failed (exit {completed.returncode}):\n{completed.stderr[-4000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=4, help="optimizer steps per side; the first is a warm-up")
    parser.add_argument("--rounds", type=int, default=2,
                        help="runs per side; the side that goes first alternates between rounds")
    parser.add_argument("--worker", choices=SIDES, help="internal: run one side and print JSON")
    parser.add_argument("--data-dir", type=Path, help="internal: organism data folder of a worker")
    parser.add_argument("--model-dir", type=Path, help="internal: model folder of a worker")
    parser.add_argument("--run-dir", type=Path, help="internal: output folder of a worker")
    args = parser.parse_args()
    if args.steps < 2:
        parser.error(f"--steps must be at least 2 (one warm-up step and one timed step), got {args.steps}")
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {args.rounds}")

    if args.worker:
        runner = run_repro if args.worker == "repro" else run_trl
        print(json.dumps(runner(args.data_dir, args.model_dir, args.steps, args.run_dir)))
        return

    with tempfile.TemporaryDirectory(prefix="rl_step_vs_trl_") as work:
        work_dir = Path(work)
        data_dir, model_dir = prepare(work_dir)
        rounds = []
        for round_index in range(args.rounds):
            # Alternate which side goes first, so that a change in load hits both alike.
            order = SIDES if round_index % 2 == 0 else SIDES[::-1]
            results = {}
            for side in order:
                run_dir = work_dir / f"run_{side}_{round_index}"
                results[side] = run_in_subprocess(side, data_dir, model_dir, args.steps, run_dir)
                print(f"done: round {round_index + 1}, {side}", file=sys.stderr)
            rounds.append((order, results))

    print(f"{PROMPTS_PER_STEP} prompts x {GROUP_SIZE} responses, max {MAX_NEW_TOKENS} new tokens, "
          f"micro-batch {MICRO_BATCH_SIZE}, {args.steps} steps per run (first = warm-up), 1 thread\n")
    print("| round | side | wall time per step (s) | mean response length per step | "
          "median step, wall (s) | median step, CPU (s) | wall ms per response token | "
          "total train() (s) | peak RSS (MB) |")
    print("|---:|---|---|---|---:|---:|---:|---:|---:|")
    ratios = []
    for round_index, (order, results) in enumerate(rounds):
        wall, cpu, per_token_ms = {}, {}, {}
        for side in order:
            result = results[side]
            timed_s, timed_lengths = result["step_s"][1:], result["response_length"][1:]
            wall[side] = statistics.median(timed_s)
            cpu[side] = statistics.median(result["timed_cpu_s"])
            per_token_ms[side] = 1000 * sum(timed_s) / (sum(timed_lengths) * PROMPTS_PER_STEP * GROUP_SIZE)
            step_list = ", ".join(f"{seconds:.2f}" for seconds in result["step_s"])
            length_list = ", ".join(f"{length:.1f}" for length in result["response_length"])
            print(f"| {round_index + 1} | {side} | {step_list} | {length_list} | {wall[side]:.2f} | "
                  f"{cpu[side]:.2f} | {per_token_ms[side]:.3f} | {result['total_s']:.1f} | "
                  f"{result['peak_rss_mb']:.0f} |")
        ratios.append((
            wall["trl"] / wall["repro"],
            cpu["trl"] / cpu["repro"],
            per_token_ms["trl"] / per_token_ms["repro"],
            results["trl"]["total_s"] / results["repro"]["total_s"],
        ))

    print("\nTRL / harness:\n")
    print("| round | median step, wall | median step, CPU | wall per response token | total train() |")
    print("|---:|---:|---:|---:|---:|")
    for round_index, (wall_ratio, cpu_ratio, token_ratio, total_ratio) in enumerate(ratios):
        print(f"| {round_index + 1} | {wall_ratio:.2f} | {cpu_ratio:.2f} | {token_ratio:.2f} | {total_ratio:.2f} |")

if __name__ == "__main__":
    main()
