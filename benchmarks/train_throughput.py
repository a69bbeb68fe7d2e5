"""Training throughput, MFU and peak memory of repro.train.loop.run_optimizer_step.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/train_throughput.py

The model is the organism's shape (build_model with the default PretrainConfig: Llama,
hidden 128, 4 layers, about 1.06M parameters) with random weights. Each optimizer step trains
64 SFT-like sequences of random token ids: lengths drawn uniformly from 120-180 (mean 150),
the first 30 tokens a prompt and the rest supervised, with the plain NLL loss and the default
token_mean aggregation. The micro-batch size sets K = 64 / micro-batch micro-batches per step.

Every (threads, micro-batch) pair runs in its own subprocess with torch.set_num_threads set
to that count, so the peak RSS is per configuration. It includes the roughly 400 MB of
torch and transformers. Timed: run_optimizer_step alone (forward, backward, accumulation),
and, in a separate column, gradient clipping plus the AdamW step.

MFU = 6 * N * (non-padding input tokens per second) / (measured fp32 matmul peak). N counts
every parameter once, the tied embedding included. The 6N rule leaves out attention-score
FLOPs (about 12 * layers * hidden * context per token, some 14% of 6N at 150 tokens for a
full, non-causal context), and padding positions are computed but not counted. The peak is
measured in each configuration's subprocess, with its thread count, right before and right
after training: the best rate of repeated 1024 x 1024 fp32 torch.matmul calls.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time

GLOBAL_BATCH = 64
PROMPT_LENGTH = 30
MIN_LENGTH, MAX_LENGTH = 120, 180
MATMUL_SIZE = 1024


def current_rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("VmRSS not found in /proc/self/status")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def measure_matmul_peak(rounds: int = 5, calls_per_round: int = 10) -> float:
    """Return the best fp32 matmul rate in FLOP/s over ``rounds`` rounds of square matmuls."""
    import torch

    generator = torch.Generator().manual_seed(0)
    a = torch.randn(MATMUL_SIZE, MATMUL_SIZE, generator=generator)
    b = torch.randn(MATMUL_SIZE, MATMUL_SIZE, generator=generator)
    out = torch.empty(MATMUL_SIZE, MATMUL_SIZE)
    torch.matmul(a, b, out=out)  # warm-up

    flops_per_call = 2 * MATMUL_SIZE**3
    best_seconds = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls_per_round):
            torch.matmul(a, b, out=out)
        best_seconds = min(best_seconds, (time.perf_counter() - start) / calls_per_round)
    return flops_per_call / best_seconds


def make_sequences(seed: int, vocab_size: int):
    """Return one step's GLOBAL_BATCH sequences of random ids with the prompt unsupervised."""
    from repro.train.batching import TrainSequence

    rng = random.Random(seed)
    sequences = []
    for _ in range(GLOBAL_BATCH):
        length = rng.randint(MIN_LENGTH, MAX_LENGTH)
        # Ids 0-3 are the organism tokenizer's special tokens.
        ids = [rng.randrange(4, vocab_size) for _ in range(length)]
        sequences.append(TrainSequence(input_ids=ids, loss_mask=[i >= PROMPT_LENGTH for i in range(length)]))
    return sequences


def build_sft_like_method(model):
    from repro.methods.base import Method, MethodContext

    class FixedSteps(Method):
        """Serve 8 pre-built batches in turn, with the SFT per-token loss."""

        name = "fixed_sft"

        def __init__(self, context: MethodContext):
            super().__init__({}, context)
            vocab_size = model.config.vocab_size
            self.steps = [make_sequences(seed, vocab_size) for seed in range(8)]

        def step_sequences(self, step):
            return self.steps[step % len(self.steps)]

        def token_loss(self, batch, logprobs_BT, entropy_BT):
            return -logprobs_BT

    context = MethodContext(policy=model, tokenizer=None, seed=0, global_batch_size=GLOBAL_BATCH)
    return FixedSteps(context)


def measure_training(threads: int, micro_batch_size: int, steps: int) -> dict:
    """Time ``steps`` optimizer steps after one warm-up step; return rates, matmul peak and memory."""
    import torch

    from repro.models.io import count_parameters
    from repro.organism import build_model
    from repro.train.config import TrainConfig
    from repro.train.distributed import DistInfo
    from repro.train.loop import build_optimizer, run_optimizer_step

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build_model().train()
    method = build_sft_like_method(model)
    config = TrainConfig(global_batch_size=GLOBAL_BATCH, micro_batch_size=micro_batch_size, threads=threads)
    optimizer = build_optimizer(model, config)
    pad_token_id = model.config.pad_token_id
    peak_before = measure_matmul_peak()
    rss_before_mb = current_rss_mb()

    step_seconds, optimizer_seconds = 0.0, 0.0
    supervised_tokens = input_tokens = padded_tokens = 0
    for step in range(steps + 1):
        sequences = method.step_sequences(step)
        optimizer.zero_grad(set_to_none=True)

        start = time.perf_counter()
        result = run_optimizer_step(model, method, sequences, config, DistInfo(), pad_token_id)
        middle = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        optimizer.step()
        end = time.perf_counter()

        if step == 0:
            continue  # warm-up: first-call allocations
        step_seconds += middle - start
        optimizer_seconds += end - middle
        supervised_tokens += result["num_tokens"]
        input_tokens += sum(len(s.input_ids) for s in sequences)
        for index in range(0, GLOBAL_BATCH, micro_batch_size):
            micro = sequences[index: index + micro_batch_size]
            padded_tokens += len(micro) * max(len(s.input_ids) for s in micro)

    # The best of two peak readings, taken right before and after training, so that the MFU
    # compares rates measured under the same load from other processes.
    peak_flops = max(peak_before, measure_matmul_peak())
    return {
        "peak_flops": peak_flops,
        "parameters": count_parameters(model),
        "supervised_tokens_per_s": supervised_tokens / step_seconds,
        "input_tokens_per_s": input_tokens / step_seconds,
        "padding_fraction": 1 - input_tokens / padded_tokens,
        "step_s": step_seconds / steps,
        "optimizer_ms": 1000 * optimizer_seconds / steps,
        "rss_before_mb": rss_before_mb,
        "peak_rss_mb": peak_rss_mb(),
    }


def run_in_subprocess(arguments: list[str], threads: int) -> dict:
    command = [sys.executable, __file__, *arguments]
    environment = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    completed = subprocess.run(command, env=environment, capture_output=True, text=True)
    if completed.returncode != 0:
        raise RuntimeError(f"the worker {arguments} failed (exit {completed.returncode}):\n{completed.stderr[-4000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch threads per run")
    parser.add_argument("--micro-batch-sizes", type=int, nargs="+", default=[8, 16, 64],
                        help="sequences per micro-batch (each must divide 64)")
    parser.add_argument("--steps", type=int, default=3, help="timed optimizer steps per configuration")
    parser.add_argument("--worker", action="store_true", help="internal: run one configuration, print JSON")
    parser.add_argument("--micro-batch-size", type=int, help="internal: micro-batch size of a train worker")
    args = parser.parse_args()

    if args.worker:
        print(json.dumps(measure_training(args.threads[0], args.micro_batch_size, args.steps)))
        return
    for micro_batch_size in args.micro_batch_sizes:
        if GLOBAL_BATCH % micro_batch_size:
            parser.error(f"--micro-batch-sizes: {micro_batch_size} does not divide the global batch {GLOBAL_BATCH}")

    rows = []
    for threads in args.threads:
        for micro_batch_size in args.micro_batch_sizes:
            train = run_in_subprocess(
                ["--worker", "--threads", str(threads), "--micro-batch-size", str(micro_batch_size),
                 "--steps", str(args.steps)],
                threads,
            )
            mfu = 6 * train["parameters"] * train["input_tokens_per_s"] / train["peak_flops"]
            rows.append((threads, micro_batch_size, train, mfu))
            print(f"done: {threads} thread(s), micro-batch {micro_batch_size}", file=sys.stderr)

    parameters = rows[0][2]["parameters"]
    print(f"N = {parameters} parameters, global batch {GLOBAL_BATCH}, lengths {MIN_LENGTH}-{MAX_LENGTH}, "
          f"{args.steps} timed steps per row\n")
    print("| threads | micro-batch | K | supervised tokens/s | input tokens/s | padding | step (s) | "
          "clip + AdamW (ms) | fp32 peak (GFLOP/s) | MFU (6N) | RSS before (MB) | peak RSS (MB) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for threads, micro_batch_size, train, mfu in rows:
        print(
            f"| {threads} | {micro_batch_size} | {GLOBAL_BATCH // micro_batch_size} | "
            f"{train['supervised_tokens_per_s']:.0f} | {train['input_tokens_per_s']:.0f} | "
            f"{train['padding_fraction']:.1%} | {train['step_s']:.2f} | {train['optimizer_ms']:.1f} | "
            f"{train['peak_flops'] / 1e9:.0f} | {mfu:.1%} | {train['rss_before_mb']:.0f} | {train['peak_rss_mb']:.0f} |"
        )


if __name__ == "__main__":
    main()
