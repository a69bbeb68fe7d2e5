"""Throughput and peak memory of repro.rollout.sample against transformers' model.generate.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/sampler_throughput.py

Both samplers get the same randomly initialised Llama model of the organism's size
(hidden 128, 4 layers, 4 heads, intermediate 512, vocab 64) and the same batch of
prompts of equal length. They sample at temperature 1 without top-k or top-p, and
with no EOS id, so every row runs the full max_new_tokens.

Throughput: one subprocess per batch size times both samplers in alternation, so that
load from other processes hits both alike. Memory: one subprocess per sampler and batch
size runs a warm-up and then one full call, and reports its RSS before that call and its
peak RSS. Every subprocess uses one torch thread. The script prints a Markdown table and
does not check outputs, which the tests do.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

VOCAB_SIZE = 64
PAD_TOKEN_ID = 0
SAMPLERS = ("sample", "generate")


def build_model():
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=VOCAB_SIZE,
        hidden_size=128,
        intermediate_size=512,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=512,
        pad_token_id=PAD_TOKEN_ID,
        bos_token_id=None,
        eos_token_id=None,
    )
    return LlamaForCausalLM(config).eval()


def current_rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("VmRSS not found in /proc/self/status")


def make_runner(sampler: str, model, prompt_ids_BP):
    """Return a function that samples ``new_tokens`` per row with ``sampler`` and returns the token count."""
    import torch

    from repro.rollout import sample

    batch_size, prompt_length = prompt_ids_BP.shape
    prompts = prompt_ids_BP.tolist()

    def run_sample(new_tokens: int, seed: int) -> int:
        batch = sample(
            model, prompts, max_new_tokens=new_tokens, temperature=1.0, top_p=1.0,
            eos_token_ids=[], pad_token_id=PAD_TOKEN_ID, seed=seed, batch_size=batch_size,
        )
        return sum(len(ids) for ids in batch.response_ids)

    def run_generate(new_tokens: int, seed: int) -> int:
        torch.manual_seed(seed)
        with torch.inference_mode():
            output_BT = model.generate(
                input_ids=prompt_ids_BP,
                attention_mask=torch.ones_like(prompt_ids_BP),
                do_sample=True,
                temperature=1.0,
                top_k=None,
                top_p=None,
                max_new_tokens=new_tokens,
                min_new_tokens=new_tokens,
                eos_token_id=None,
                pad_token_id=PAD_TOKEN_ID,
            )
        return (output_BT.shape[1] - prompt_length) * batch_size

    return run_sample if sampler == "sample" else run_generate


def make_prompts(batch_size: int, prompt_length: int):
    import torch

    generator = torch.Generator().manual_seed(1)
    return torch.randint(1, VOCAB_SIZE, (batch_size, prompt_length), generator=generator)


def measure_throughput(batch_size: int, prompt_length: int, max_new_tokens: int, repeats: int) -> dict:
    """Time both samplers at one batch size, alternating them so that load changes hit both."""
    import torch

    torch.set_num_threads(1)
    model = build_model()
    prompt_ids_BP = make_prompts(batch_size, prompt_length)
    runners = {sampler: make_runner(sampler, model, prompt_ids_BP) for sampler in SAMPLERS}
    for runner in runners.values():
        runner(4, seed=0)  # warm-up: first-call allocations and lazy imports

    seconds = {sampler: [] for sampler in SAMPLERS}
    for repeat in range(repeats):
        for sampler, runner in runners.items():
            start = time.perf_counter()
            new_tokens = runner(max_new_tokens, seed=repeat + 1)
            seconds[sampler].append(time.perf_counter() - start)
            if new_tokens != batch_size * max_new_tokens:
                raise RuntimeError(f"{sampler} produced {new_tokens} tokens, expected {batch_size * max_new_tokens}")

    return {
        sampler: {
            "median_tokens_per_s": batch_size * max_new_tokens / statistics.median(times),
            "best_tokens_per_s": batch_size * max_new_tokens / min(times),
        }
        for sampler, times in seconds.items()
    }


def measure_memory(sampler: str, batch_size: int, prompt_length: int, max_new_tokens: int) -> dict:
    """Run one sampler once after a warm-up and return the process's RSS before and its peak RSS."""
    import torch

    torch.set_num_threads(1)
    model = build_model()
    runner = make_runner(sampler, model, make_prompts(batch_size, prompt_length))
    runner(4, seed=0)
    rss_before_mb = current_rss_mb()
    runner(max_new_tokens, seed=1)
    return {
        "rss_before_mb": rss_before_mb,
        # ru_maxrss is in KiB on Linux.
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run_worker(args: argparse.Namespace) -> dict:
    if args.worker == "throughput":
        return measure_throughput(args.batch_size, args.prompt_length, args.max_new_tokens, args.repeats)
    return measure_memory(args.sampler, args.batch_size, args.prompt_length, args.max_new_tokens)


def run_in_subprocess(args: argparse.Namespace, worker: str, batch_size: int, sampler: str = "sample") -> dict:
    command = [
        sys.executable, __file__, "--worker", worker, "--sampler", sampler,
        "--batch-size", str(batch_size),
        "--prompt-length", str(args.prompt_length),
        "--max-new-tokens", str(args.max_new_tokens),
        "--repeats", str(args.repeats),
    ]
    environment = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    completed = subprocess.run(command, env=environment, capture_output=True, text=True, check=True)
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16, 64], help="rows per batch")
    parser.add_argument("--prompt-length", type=int, default=32, help="prompt tokens per row")
    parser.add_argument("--max-new-tokens", type=int, default=64, help="new tokens per row")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per sampler and batch size")
    parser.add_argument("--worker", choices=["throughput", "memory"], help="internal: run one measurement, print JSON")
    parser.add_argument("--sampler", choices=SAMPLERS, default="sample", help="internal: sampler of a memory worker")
    parser.add_argument("--batch-size", type=int, help="internal: batch size of a worker")
    args = parser.parse_args()

    if args.worker:
        print(json.dumps(run_worker(args)))
        return

    rows = []
    for batch_size in args.batch_sizes:
        throughput = run_in_subprocess(args, "throughput", batch_size)
        for sampler in SAMPLERS:
            memory = run_in_subprocess(args, "memory", batch_size, sampler)
            rows.append((batch_size, sampler, throughput[sampler], memory))
        print(f"done: batch {batch_size}", file=sys.stderr)

    print(f"prompt length {args.prompt_length}, {args.max_new_tokens} new tokens per row, {args.repeats} repeats\n")
    print("| batch | sampler | new tokens/s (median) | new tokens/s (best) | RSS before (MB) | peak RSS (MB) |")
    print("|---:|---|---:|---:|---:|---:|")
    for batch_size, sampler, speed, memory in rows:
        print(
            f"| {batch_size} | {sampler} | {speed['median_tokens_per_s']:.0f} | {speed['best_tokens_per_s']:.0f} | "
            f"{memory['rss_before_mb']:.0f} | {memory['peak_rss_mb']:.0f} |"
        )


if __name__ == "__main__":
    main()
