"""Evaluate a model folder on a suite: sample n responses per problem, grade, summarise.

The per-sample JSONL is the source of truth; metrics.json is derived from it and can be
rebuilt without sampling again (``regrade``).

    repro eval --model MODEL_DIR --suite suites/aime.jsonl --suite-name aime --out OUT_DIR
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from repro.data.schema import Problem, read_problems
from repro.eval.metrics import summarize
from repro.models.chat import check_prompt_format, encode_prompt
from repro.models.tokens import eos_token_ids, pad_token_id
from repro.rewards import grade_response
from repro.utils.atomic import atomic_output_file, atomic_write_json

log = logging.getLogger(__name__)

SAMPLES_FILE = "samples.jsonl"
METRICS_FILE = "metrics.json"


@dataclass(frozen=True)
class SamplingSettings:
    n: int = 16
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 256
    seed: int = 1234
    batch_size: int = 64


def select_problems(problems: list[Problem], max_problems: int | None) -> list[Problem]:
    """Return the first ``max_problems`` problems taken round-robin over domains (all when None).

    Suite files list problems domain by domain, so a plain prefix would evaluate one domain only.
    Within a domain the file order is kept, so the selection is deterministic.
    """
    if max_problems is None or max_problems >= len(problems):
        return list(problems)
    if max_problems < 1:
        raise ValueError(f"max_problems must be at least 1, got {max_problems}")
    by_domain: dict[str, list[Problem]] = {}
    for problem in problems:
        by_domain.setdefault(problem.domain, []).append(problem)
    selected: list[Problem] = []
    position = 0
    while len(selected) < max_problems:
        for domain_problems in by_domain.values():
            if position < len(domain_problems) and len(selected) < max_problems:
                selected.append(domain_problems[position])
        position += 1
    return selected


def sample_and_grade(model, tokenizer, problems: list[Problem], settings: SamplingSettings,
                     answer_type: str = "integer", progress: bool = True,
                     prompt_format: str = "raw") -> list[dict[str, Any]]:
    """Sample ``settings.n`` responses per problem and grade each; one record per sample.

    ``prompt_format`` is "raw" (BOS + prompt) or "chat" (the tokenizer's chat template).
    """
    from repro.rollout import sample

    eos_ids = eos_token_ids(model, tokenizer)
    rollout = sample(
        model,
        [encode_prompt(tokenizer, p.prompt, prompt_format) for p in problems],
        num_samples=settings.n,
        max_new_tokens=settings.max_new_tokens,
        temperature=settings.temperature,
        top_p=settings.top_p,
        eos_token_ids=eos_ids,
        pad_token_id=pad_token_id(tokenizer),
        seed=settings.seed,
        batch_size=settings.batch_size,
        progress=progress,
    )
    records = []
    sample_counter: dict[int, int] = {}
    eos_set = set(eos_ids)
    for row, prompt_index in enumerate(rollout.prompt_index):
        problem = problems[prompt_index]
        sample_index = sample_counter.get(prompt_index, 0)
        sample_counter[prompt_index] = sample_index + 1
        response_ids = [t for t in rollout.response_ids[row] if t not in eos_set]
        response = tokenizer.decode(response_ids, skip_special_tokens=True)
        finish = rollout.finish_reasons[row]
        grade = grade_response(response, problem.answer, answer_type, finish_reason=finish)
        records.append({
            "problem_id": problem.id,
            "domain": problem.domain,
            "sample_index": sample_index,
            "response": response,
            "extracted": grade.extracted,
            "gold": problem.answer,
            "correct": bool(grade.correct),
            "finish_reason": finish,
            "num_tokens": len(rollout.response_ids[row]),
            "sampling": asdict(settings),
        })
    return records


def write_eval_outputs(records: list[dict[str, Any]], out_dir: Path, suite: str, model_path: str,
                       settings: SamplingSettings, k_values: list[int], extra: dict[str, Any] | None = None) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_output_file(out_dir / SAMPLES_FILE) as handle:
        for record in records:
            handle.write(json.dumps(record, sort_keys=True) + "\n")
    summary = summarize(records, k_values)
    metrics = {
        "suite": suite,
        "model": model_path,
        "sampling": asdict(settings),
        "answer_type": (extra or {}).get("answer_type", "integer"),
        **summary,
        **(extra or {}),
    }
    atomic_write_json(out_dir / METRICS_FILE, metrics)
    return metrics


def evaluate(model_dir: str | Path, suite_path: str | Path, suite_name: str, out_dir: str | Path,
             settings: SamplingSettings, k_values: list[int], max_problems: int | None = None,
             answer_type: str = "integer", threads: int = 1, prompt_format: str = "raw") -> dict[str, Any]:
    import torch

    from repro.models.io import load_causal_lm, load_tokenizer

    bad_k = [k for k in k_values if k > settings.n]
    if bad_k:
        raise ValueError(f"k_values {bad_k} exceed the number of samples n={settings.n}; "
                         "raise n or drop those k")
    check_prompt_format(prompt_format)
    torch.set_num_threads(threads)
    problems = select_problems(read_problems(suite_path), max_problems)
    model = load_causal_lm(model_dir)
    tokenizer = load_tokenizer(model_dir)
    log.info("evaluating %s on %s: %d problems x %d samples", model_dir, suite_name, len(problems), settings.n)
    started = time.perf_counter()
    records = sample_and_grade(model, tokenizer, problems, settings, answer_type, prompt_format=prompt_format)
    elapsed = time.perf_counter() - started
    generated = sum(r["num_tokens"] for r in records)
    extra = {"answer_type": answer_type, "wall_s": elapsed, "generated_tokens_per_s": generated / elapsed,
             "prompt_format": prompt_format}
    metrics = write_eval_outputs(records, Path(out_dir), suite_name, str(model_dir), settings, k_values, extra)
    log.info("finished %s on %s in %.0f s: %s", model_dir, suite_name, elapsed,
             {k: round(v["value"], 4) for k, v in metrics["metrics"].items()})
    return metrics


def regrade(samples_path: str | Path, out_dir: str | Path, k_values: list[int],
            answer_type: str = "integer") -> dict[str, Any]:
    """Grade saved samples again (e.g. after a grader fix) and rewrite metrics, without sampling."""
    samples_path = Path(samples_path)
    records = []
    with open(samples_path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{samples_path}:{line_number}: malformed JSON ({error.msg})") from None
            missing = [k for k in ("problem_id", "sample_index", "response", "gold", "finish_reason") if k not in record]
            if missing:
                raise ValueError(f"{samples_path}:{line_number}: missing field(s) {missing}")
            grade = grade_response(record["response"], record["gold"], answer_type,
                                   finish_reason=record["finish_reason"])
            record["extracted"], record["correct"] = grade.extracted, bool(grade.correct)
            records.append(record)
    if not records:
        raise ValueError(f"{samples_path}: no samples to grade")
    old = Path(samples_path).parent / METRICS_FILE
    previous = json.loads(old.read_text()) if old.exists() else {}
    settings = SamplingSettings(**records[0]["sampling"])
    return write_eval_outputs(records, Path(out_dir), previous.get("suite", "unknown"),
                              previous.get("model", "unknown"), settings, k_values,
                              {"answer_type": answer_type, "regraded_from": str(samples_path)})
