"""Probe an organism model folder: how much headroom it leaves for SFT, RL and self-distillation.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/organism_probe.py MODEL_DIR --data DATA_DIR \
        --per-domain 30 --n 16 --privileged --out probe.json

DATA_DIR is a folder written by ``repro.organism.build_organism_data`` (it reads
``suites/aime.jsonl`` and ``suites/hmmt.jsonl``). For each suite and domain it samples ``n``
completions per problem with transformers ``generate`` (pure sampling: temperature 1.0, top_k=0,
top_p=1.0, left padding), grades the last ``\\boxed{...}`` integer against the gold answer, and prints:

- pass@1 (mean correctness over all samples) and the unbiased pass@16 estimator
  1 - C(n-c, 16) / C(n, 16) (Chen et al. 2021, arXiv:2107.03374), averaged over problems;
- the chance baselines of a guesser who knows the gold-answer distribution of the evaluated problems:
  pass@1 = frequency of the most common gold answer, pass@16 = share of problems whose answer is
  among the 16 most common gold answers;
- the EOS rate (share of samples that ended with EOS before ``max_new_tokens``);
- with ``--greedy``: the accuracy of one greedy completion per problem;
- with ``--privileged``: the mean per-token log-prob of the reference solution (plus EOS) without
  and with the reference in the prompt (``repro.organism.privileged_prompt``), and avg@n of samples
  drawn from the privileged prompt.

This is a measuring script for iteration, not the harness's evaluator (repro.eval): it keeps its
own small grader so it runs before the rest of the harness exists. Speed is not measured here.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

SUITES = ("aime", "hmmt")
PASS_K = 16
_BOXED = "\\boxed{"
_INTEGER = re.compile(r"^[+-]?\d+$")


def extract_boxed_int(text: str) -> int | None:
    """Return the integer inside the last ``\\boxed{...}`` of ``text``, or None.

    Braces are matched, so ``\\boxed{{12}}`` is not an integer; anything that is not a plain
    (optionally signed) integer after stripping spaces returns None.
    """
    start = text.rfind(_BOXED)
    if start < 0:
        return None
    depth = 1
    position = start + len(_BOXED)
    for index in range(position, len(text)):
        char = text[index]
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                content = text[position:index].strip()
                return int(content) if _INTEGER.match(content) else None
    return None


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from ``n`` samples of which ``c`` are correct: 1 - C(n-c, k) / C(n, k)."""
    if not 0 <= c <= n:
        raise ValueError(f"pass_at_k needs 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"pass_at_k needs 1 <= k <= n, got k={k} with n={n}; draw at least k samples")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def chance_pass_at_k(answers: list[str], k: int) -> float:
    """Best pass@k of k distinct fixed guesses: share of ``answers`` covered by the k most common."""
    if not answers:
        raise ValueError("chance_pass_at_k needs at least one gold answer")
    if k < 1:
        raise ValueError(f"chance_pass_at_k needs k >= 1, got {k}")
    top = Counter(answers).most_common(k)
    return sum(count for _, count in top) / len(answers)


def select_problems(problems: list, per_domain: int | None) -> list:
    """Keep the first ``per_domain`` problems of each domain, in file order (all when None)."""
    if per_domain is None:
        return list(problems)
    if per_domain < 1:
        raise ValueError(f"--per-domain must be >= 1, got {per_domain}")
    kept, seen = [], Counter()
    for problem in problems:
        if seen[problem.domain] < per_domain:
            kept.append(problem)
            seen[problem.domain] += 1
    return kept


def summarize(problems: list, correct_counts: list[int], n: int, eos_counts: list[int]) -> dict:
    """Compute per-domain and overall pass@1, pass@16, chance baselines and EOS rate."""
    groups: dict[str, list[int]] = defaultdict(list)
    for index, problem in enumerate(problems):
        groups[problem.domain].append(index)
    groups["all"] = list(range(len(problems)))
    k = min(PASS_K, n)

    table = {}
    for name, indices in groups.items():
        answers = [problems[i].answer for i in indices]
        table[name] = {
            "problems": len(indices),
            "pass@1": sum(correct_counts[i] for i in indices) / (n * len(indices)),
            f"pass@{k}": sum(pass_at_k(n, correct_counts[i], k) for i in indices) / len(indices),
            "chance_pass@1": chance_pass_at_k(answers, 1),
            f"chance_pass@{k}": chance_pass_at_k(answers, k),
            "eos_rate": sum(eos_counts[i] for i in indices) / (n * len(indices)),
        }
    return table


def _generate(
    model, tokenizer, prompts: list[str], n: int, max_new_tokens: int, batch_prompts: int, greedy: bool = False
):
    """Sample ``n`` completions per prompt (one greedy completion when ``greedy``).

    Returns (texts per prompt, EOS flags per prompt).
    """
    import torch

    sampling = {"do_sample": False} if greedy else {"do_sample": True, "temperature": 1.0, "top_k": 0, "top_p": 1.0}
    if greedy:
        n = 1

    eos_id = tokenizer.eos_token_id
    texts, eos_flags = [], []
    for start in range(0, len(prompts), batch_prompts):
        chunk = prompts[start : start + batch_prompts]
        encoded = tokenizer(chunk, return_tensors="pt", padding=True)
        with torch.no_grad():
            output = model.generate(
                **encoded,
                **sampling,
                num_return_sequences=n,
                max_new_tokens=max_new_tokens,
                eos_token_id=eos_id,
                pad_token_id=tokenizer.pad_token_id,
            )
        new_tokens = output[:, encoded["input_ids"].shape[1] :]
        for row in range(len(chunk)):
            rows = new_tokens[row * n : (row + 1) * n]
            texts.append(tokenizer.batch_decode(rows, skip_special_tokens=True))
            eos_flags.append([bool((r == eos_id).any()) for r in rows])
    return texts, eos_flags


def _grade(problems: list, texts: list[list[str]]) -> list[int]:
    counts = []
    for problem, samples in zip(problems, texts):
        gold = int(problem.answer)
        counts.append(sum(1 for text in samples if extract_boxed_int(text) == gold))
    return counts


def reference_logprob(model, tokenizer, prompt: str, response: str) -> tuple[float, int]:
    """Return the summed log-prob of ``response`` + EOS after ``prompt`` (teacher forcing) and its token count."""
    import torch

    prompt_ids = tokenizer(prompt)["input_ids"]
    response_ids = tokenizer(response, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    ids = torch.tensor([prompt_ids + response_ids])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, :-1].float()
    logprobs = torch.log_softmax(logits, dim=-1)
    targets = ids[0, 1:]
    token_logprobs = logprobs.gather(1, targets[:, None])[:, 0]
    return float(token_logprobs[len(prompt_ids) - 1 :].sum()), len(response_ids)


def probe_suite(model, tokenizer, problems: list, args) -> dict:
    prompts = [problem.prompt for problem in problems]
    texts, eos_flags = _generate(model, tokenizer, prompts, args.n, args.max_new_tokens, args.batch_prompts)
    correct = _grade(problems, texts)
    result = {"plain": summarize(problems, correct, args.n, [sum(f) for f in eos_flags])}
    if args.greedy:
        texts_greedy, _ = _generate(
            model, tokenizer, prompts, 1, args.max_new_tokens, args.batch_prompts, greedy=True
        )
        correct_greedy = _grade(problems, texts_greedy)
        by_domain: dict[str, list[int]] = defaultdict(list)
        for problem, count in zip(problems, correct_greedy):
            by_domain[problem.domain].append(count)
            by_domain["all"].append(count)
        for domain, counts in by_domain.items():
            result["plain"][domain]["greedy"] = sum(counts) / len(counts)
    result["examples"] = [
        {"prompt": problems[i].prompt, "answer": problems[i].answer, "sample": texts[i][0]} for i in range(3)
    ]

    if args.privileged:
        from repro.organism import privileged_prompt

        total = {"plain": 0.0, "privileged": 0.0}
        tokens = 0
        for problem in problems:
            plain, count = reference_logprob(model, tokenizer, problem.prompt, problem.solution)
            privileged, _ = reference_logprob(model, tokenizer, privileged_prompt(problem), problem.solution)
            total["plain"] += plain
            total["privileged"] += privileged
            tokens += count
        result["reference_logprob_per_token"] = {name: value / tokens for name, value in total.items()}

        privileged_prompts = [privileged_prompt(problem) for problem in problems]
        texts, eos_flags = _generate(
            model, tokenizer, privileged_prompts, args.n, args.max_new_tokens, args.batch_prompts
        )
        correct = _grade(problems, texts)
        result["privileged"] = summarize(problems, correct, args.n, [sum(f) for f in eos_flags])
    return result


def _print_table(title: str, table: dict) -> None:
    print(f"  {title}")
    keys = [key for key in next(iter(table.values())) if key != "problems"]
    print("    " + f"{'domain':<8} {'n':>4} " + " ".join(f"{key:>15}" for key in keys))
    for domain, row in table.items():
        print("    " + f"{domain:<8} {row['problems']:>4} " + " ".join(f"{row[key]:>15.3f}" for key in keys))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, help="Hugging Face model folder (model, tokenizer)")
    parser.add_argument("--data", type=Path, required=True, help="folder written by build_organism_data")
    parser.add_argument("--suites", nargs="+", default=list(SUITES), help="suite names under DATA/suites/")
    parser.add_argument("--per-domain", type=int, default=30, help="problems per domain and suite (first N)")
    parser.add_argument("--n", type=int, default=16, help="samples per problem (>= 16 for pass@16)")
    parser.add_argument("--max-new-tokens", type=int, default=400, help="sampling length limit in tokens")
    parser.add_argument("--batch-prompts", type=int, default=8, help="prompts per generate call")
    parser.add_argument("--seed", type=int, default=0, help="torch seed for sampling")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--greedy", action="store_true", help="also report greedy accuracy (one completion)")
    parser.add_argument("--privileged", action="store_true", help="also probe the privileged-context prompt")
    parser.add_argument("--out", type=Path, help="write all numbers as JSON here")
    args = parser.parse_args(argv)

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from repro.data.schema import read_problems

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    tokenizer.padding_side = "left"

    report = {"model": str(args.model), "n": args.n, "per_domain": args.per_domain, "seed": args.seed, "suites": {}}
    for suite in args.suites:
        path = args.data / "suites" / f"{suite}.jsonl"
        problems = select_problems(read_problems(path), args.per_domain)
        started = time.perf_counter()
        result = probe_suite(model, tokenizer, problems, args)
        result["seconds"] = round(time.perf_counter() - started, 1)
        report["suites"][suite] = result

        print(f"suite {suite}: {len(problems)} problems x {args.n} samples ({result['seconds']} s)")
        _print_table("plain prompt", result["plain"])
        if args.privileged:
            _print_table("privileged prompt (reference solution in context)", result["privileged"])
            logprob = result["reference_logprob_per_token"]
            print(
                f"  reference log-prob per token: plain {logprob['plain']:.4f}, "
                f"privileged {logprob['privileged']:.4f}, gain {logprob['privileged'] - logprob['plain']:+.4f}"
            )
        print(f"  sample: {result['examples'][0]['prompt']!r} -> {result['examples'][0]['sample']!r}")

    if args.out:
        from repro.utils.atomic import atomic_write_json

        atomic_write_json(args.out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
