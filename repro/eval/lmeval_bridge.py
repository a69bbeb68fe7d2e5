"""Run a suite through EleutherAI's lm-evaluation-harness, graded by this harness's own grader.

    repro lmeval --card organism_aime --root DATA_DIR --model MODEL_DIR --out OUT_DIR

The bridge writes a task folder for the suite (OUT_DIR/lmeval_task/): the problems as a local
JSONL, a generate_until task YAML, and a small Python module whose process_results calls
repro.rewards.grade_response. lm-eval 0.4 runs that task on the model folder with its "hf" model
on the CPU, fully offline. The k samples per problem come from the task's ``repeats``, with a
``take_first_k`` filter: without a filter list lm-eval keeps only the first sample of each
problem. The lm-eval responses are then written in the native evaluator's format
(samples.jsonl and metrics.json, see repro.eval.runner), so reports and ``repro regrade`` read
both the same way.

The prompt text handed to lm-eval tokenizes to exactly the ids that the native evaluator feeds
the model, BOS included, in the raw and the chat format. The bridge checks this for every
problem before it runs. lm-eval does not report why a response ended, so a response counts as cut by the length
limit when it re-tokenizes to at least ``max_new_tokens`` tokens. That is exact for tokenizers
that round-trip text to the same ids (the organism's character tokenizer) and can miss a
truncation for BPE tokenizers, whose re-tokenization may be shorter.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import yaml

from repro.data.schema import Problem
from repro.eval.runner import SamplingSettings, write_eval_outputs
from repro.models.chat import encode_prompt, prompt_text
from repro.rewards import grade_response

log = logging.getLogger(__name__)

TASK_DIR = "lmeval_task"
DOCS_FILE = "problems.jsonl"
TASK_MODULE = "repro_lmeval_task"
RESULTS_FILE = "lmeval_results.json"
FILTER_NAME = "all-samples"


def task_name_for(suite: str) -> str:
    """Return the lm-eval task name of a suite (letters, digits and '_' only)."""
    cleaned = "".join(c if c.isalnum() else "_" for c in suite)
    return f"repro_{cleaned}"


def avg_metric_name(num_samples: int) -> str:
    return f"avg_at_{num_samples}"


def generation_kwargs(settings: SamplingSettings) -> dict[str, Any]:
    """Return lm-eval generation settings equivalent to the native sampler's ``settings``.

    Temperature 0 is greedy decoding. ``top_k: 0`` switches off the top-50 truncation that
    transformers' generate applies by default when sampling; the native sampler has none.
    """
    kwargs: dict[str, Any] = {"until": [], "max_gen_toks": settings.max_new_tokens}
    if settings.temperature == 0:
        kwargs["do_sample"] = False
        kwargs["temperature"] = 0.0
    else:
        kwargs.update(do_sample=True, temperature=settings.temperature, top_p=settings.top_p, top_k=0)
    return kwargs


def write_task(problems: list[Problem], folder: str | Path, *, suite: str, answer_type: str,
               settings: SamplingSettings, tokenizer, tokenizer_dir: str | Path,
               prompt_format: str = "raw") -> str:
    """Write the lm-eval task folder of a suite and return the task name.

    Raises ValueError when a prompt text would not tokenize to the native evaluator's ids.
    """
    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    task = task_name_for(suite)

    docs = []
    for problem in problems:
        text = prompt_text(tokenizer, problem.prompt, prompt_format)
        expected = encode_prompt(tokenizer, problem.prompt, prompt_format)
        found = tokenizer(text, add_special_tokens=False)["input_ids"]
        if list(found) != list(expected):
            raise ValueError(
                f"problem {problem.id!r}: the prompt text for lm-eval tokenizes to different ids than the "
                f"native evaluator's ({len(found)} vs {len(expected)} tokens); this tokenizer does not "
                "round-trip its special tokens, so the two evaluators would not see the same prompt"
            )
        docs.append({"id": problem.id, "domain": problem.domain, "answer": problem.answer, "prompt_text": text})
    with open(folder / DOCS_FILE, "w", encoding="utf-8") as handle:
        for doc in docs:
            handle.write(json.dumps(doc) + "\n")

    metric = avg_metric_name(settings.n)
    config = {
        "task": task,
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(folder / DOCS_FILE)}},
        "test_split": "test",
        "output_type": "generate_until",
        "doc_to_text": "PLACEHOLDER_DOC_TO_TEXT",
        "doc_to_target": "answer",
        "process_results": "PLACEHOLDER_PROCESS_RESULTS",
        "repeats": settings.n,
        "generation_kwargs": generation_kwargs(settings),
        # Keep all k samples: without a filter list lm-eval applies take_first.
        "filter_list": [{"name": FILTER_NAME, "filter": [{"function": "take_first_k", "k": settings.n}]}],
        "metric_list": [
            {"metric": metric, "aggregation": "mean", "higher_is_better": True},
            {"metric": "no_answer", "aggregation": "mean", "higher_is_better": False},
            {"metric": "truncated", "aggregation": "mean", "higher_is_better": False},
        ],
        "metadata": {"version": 1.0, "suite": suite, "prompt_format": prompt_format},
    }
    text = yaml.safe_dump(config, sort_keys=False)
    # lm-eval resolves "!function module.name" against the YAML's folder.
    text = text.replace("PLACEHOLDER_DOC_TO_TEXT", f"!function {TASK_MODULE}.doc_to_text")
    text = text.replace("PLACEHOLDER_PROCESS_RESULTS", f"!function {TASK_MODULE}.process_results")
    (folder / f"{task}.yaml").write_text(text, encoding="utf-8")
    (folder / f"{TASK_MODULE}.py").write_text(_task_module(suite, answer_type, settings, tokenizer_dir),
                                              encoding="utf-8")
    return task


def _task_module(suite: str, answer_type: str, settings: SamplingSettings, tokenizer_dir: str | Path) -> str:
    return (
        f'"""lm-eval hooks for suite {suite!r}, written by repro.eval.lmeval_bridge; rewritten on every run."""\n\n'
        "from repro.eval.lmeval_bridge import grade_lmeval_responses\n\n"
        f"ANSWER_TYPE = {answer_type!r}\n"
        f"MAX_NEW_TOKENS = {settings.max_new_tokens!r}\n"
        f"NUM_SAMPLES = {settings.n!r}\n"
        f"TOKENIZER_DIR = {str(Path(tokenizer_dir).resolve())!r}\n\n\n"
        "def doc_to_text(doc):\n"
        '    return doc["prompt_text"]\n\n\n'
        "def process_results(doc, results):\n"
        "    return grade_lmeval_responses(doc, results, ANSWER_TYPE, MAX_NEW_TOKENS, NUM_SAMPLES, TOKENIZER_DIR)\n"
    )


@functools.lru_cache(maxsize=4)
def _cached_tokenizer(tokenizer_dir: str):
    from repro.models.io import load_tokenizer

    return load_tokenizer(tokenizer_dir)


def finish_reason_of(response: str, tokenizer, max_new_tokens: int) -> str:
    """Return "length" when ``response`` re-tokenizes to at least ``max_new_tokens`` tokens, else "eos"."""
    count = len(tokenizer(response, add_special_tokens=False)["input_ids"])
    return "length" if count >= max_new_tokens else "eos"


def unwrap_responses(results: Any, num_samples: int) -> list[str]:
    """Return the k response strings of one problem from what lm-eval hands to process_results.

    With ``take_first_k`` lm-eval passes ``[[r_1, ..., r_k]]``, one more list around the k samples.
    """
    responses = results
    if isinstance(responses, (list, tuple)) and len(responses) == 1 and isinstance(responses[0], (list, tuple)):
        responses = responses[0]
    if isinstance(responses, str) or not all(isinstance(r, str) for r in responses):
        raise ValueError(f"expected {num_samples} response strings from lm-eval, got {results!r:.200}")
    if len(responses) != num_samples:
        raise ValueError(f"expected {num_samples} responses per problem from lm-eval, got {len(responses)}; "
                         "the task's filter list must keep every repeat (take_first_k with k = repeats)")
    return list(responses)


def grade_lmeval_responses(doc: dict[str, Any], results: Any, answer_type: str, max_new_tokens: int,
                           num_samples: int, tokenizer_dir: str) -> dict[str, float]:
    """Grade one problem's k lm-eval responses; return its correct, no-answer and truncated fractions."""
    tokenizer = _cached_tokenizer(tokenizer_dir)
    responses = unwrap_responses(results, num_samples)
    correct = no_answer = truncated = 0
    for response in responses:
        finish = finish_reason_of(response, tokenizer, max_new_tokens)
        grade = grade_response(response, doc["answer"], answer_type, finish_reason=finish)
        correct += grade.correct
        no_answer += grade.extracted is None
        truncated += finish == "length"
    return {
        avg_metric_name(num_samples): correct / num_samples,
        "no_answer": no_answer / num_samples,
        "truncated": truncated / num_samples,
    }


def run_lmeval(model_dir: str | Path, problems: list[Problem], out_dir: str | Path, *, suite: str,
               answer_type: str, settings: SamplingSettings, k_values: list[int],
               prompt_format: str = "raw", batch_size: int = 1, threads: int = 1) -> dict[str, Any]:
    """Evaluate ``model_dir`` on ``problems`` with lm-eval; write samples.jsonl, metrics.json, lmeval_results.json.

    Returns the metrics dictionary (as in metrics.json). Its "lmeval" entry contains lm-eval's own
    aggregated numbers, which must equal the harness's avg@n computed from the same responses.
    """
    import torch
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    from repro.models.io import load_tokenizer

    bad_k = [k for k in k_values if not 1 <= k <= settings.n]
    if bad_k:
        raise ValueError(f"k_values {bad_k} are outside [1, n={settings.n}]; raise n or drop those k")
    torch.set_num_threads(threads)
    out_dir = Path(out_dir)
    model_dir = Path(model_dir)
    tokenizer = load_tokenizer(model_dir)
    task = write_task(problems, out_dir / TASK_DIR, suite=suite, answer_type=answer_type, settings=settings,
                      tokenizer=tokenizer, tokenizer_dir=model_dir, prompt_format=prompt_format)

    log.info("lm-eval: %s on %s, %d problems x %d samples", model_dir, suite, len(problems), settings.n)
    started = time.perf_counter()
    output = simple_evaluate(
        model="hf",
        model_args={"pretrained": str(model_dir.resolve()), "dtype": "float32"},
        tasks=[task],
        task_manager=TaskManager(include_path=str((out_dir / TASK_DIR).resolve()), include_defaults=False),
        device="cpu",
        batch_size=batch_size,
        log_samples=True,
        random_seed=settings.seed,
        numpy_random_seed=settings.seed,
        torch_random_seed=settings.seed,
        fewshot_random_seed=settings.seed,
        bootstrap_iters=0,
    )
    elapsed = time.perf_counter() - started

    records = lmeval_samples_to_records(output["samples"][task], problems, tokenizer, answer_type, settings)
    lmeval_numbers = {key: value for key, value in output["results"][task].items()
                      if isinstance(value, (int, float)) and not isinstance(value, bool)}
    with open(out_dir / RESULTS_FILE, "w", encoding="utf-8") as handle:
        json.dump({"results": output["results"], "configs": output.get("configs", {}),
                   "versions": output.get("versions", {})}, handle, indent=2, default=str)
    extra = {"answer_type": answer_type, "evaluator": "lm-eval", "prompt_format": prompt_format,
             "wall_s": elapsed, "lmeval": lmeval_numbers}
    metrics = write_eval_outputs(records, out_dir, suite, str(model_dir), settings, k_values, extra)
    _check_agreement(metrics, lmeval_numbers, settings.n)
    log.info("lm-eval finished %s on %s in %.0f s: %s", model_dir, suite, elapsed,
             {k: round(v["value"], 4) for k, v in metrics["metrics"].items()})
    return metrics


def lmeval_samples_to_records(samples: list[dict[str, Any]], problems: list[Problem], tokenizer,
                              answer_type: str, settings: SamplingSettings) -> list[dict[str, Any]]:
    """Turn lm-eval's logged samples into the native per-sample records (one per response)."""
    by_id = {problem.id: problem for problem in problems}
    records = []
    for sample in sorted(samples, key=lambda s: s["doc_id"]):
        problem = by_id[sample["doc"]["id"]]
        context = sample["arguments"][0][0] if sample.get("arguments") else None
        if context is not None and context != sample["doc"]["prompt_text"]:
            raise ValueError(f"problem {problem.id!r}: lm-eval built the context {context[:80]!r}, not the "
                             "prompt text the bridge wrote; check the task's description and delimiters")
        for index, response in enumerate(unwrap_responses(sample["filtered_resps"], settings.n)):
            finish = finish_reason_of(response, tokenizer, settings.max_new_tokens)
            grade = grade_response(response, problem.answer, answer_type, finish_reason=finish)
            num_tokens = len(tokenizer(response, add_special_tokens=False)["input_ids"]) + (finish == "eos")
            records.append({
                "problem_id": problem.id,
                "domain": problem.domain,
                "sample_index": index,
                "response": response,
                "extracted": grade.extracted,
                "gold": problem.answer,
                "correct": bool(grade.correct),
                "finish_reason": finish,
                "num_tokens": num_tokens,
                "sampling": asdict(settings),
            })
    missing = sorted(set(by_id) - {r["problem_id"] for r in records})
    if missing:
        raise ValueError(f"lm-eval returned no samples for {len(missing)} problem(s), e.g. {missing[:3]}")
    return records


def _check_agreement(metrics: dict[str, Any], lmeval_numbers: dict[str, float], num_samples: int) -> None:
    key = f"{avg_metric_name(num_samples)},{FILTER_NAME}"
    ours = metrics["metrics"].get(f"avg@{num_samples}", {}).get("value")
    theirs = lmeval_numbers.get(key)
    if ours is None or theirs is None:
        log.warning("lm-eval agreement not checked: missing %s (harness) or %s (lm-eval)", f"avg@{num_samples}", key)
        return
    if not math.isclose(ours, theirs, abs_tol=1e-9):
        raise ValueError(f"lm-eval's {key}={theirs} differs from the harness's avg@{num_samples}={ours} "
                         "computed from the same responses; the task's filters or process_results are wrong")


def card_settings(card, *, num_samples: int | None = None, temperature: float | None = None,
                  top_p: float | None = None, max_new_tokens: int | None = None, seed: int = 1234,
                  batch_size: int = 1) -> tuple[SamplingSettings, list[int]]:
    """Return the sampling settings of a card's protocol, with any given value replacing the card's.

    The k values are the protocol's that fit in n, plus 1 and n.
    """
    protocol = card.protocol
    if protocol is None:
        raise ValueError(f"suite card {card.name!r} has no protocol (it describes training data); "
                         "add a protocol section to evaluate on it")
    settings = SamplingSettings(
        n=num_samples if num_samples is not None else protocol.num_samples,
        temperature=temperature if temperature is not None else protocol.temperature,
        top_p=top_p if top_p is not None else protocol.top_p,
        max_new_tokens=max_new_tokens if max_new_tokens is not None else protocol.max_new_tokens,
        seed=seed,
        batch_size=batch_size,
    )
    k_values = sorted({1, settings.n, *(k for k in protocol.k_values if k <= settings.n)})
    return settings, k_values


def lmeval_card(card, model_dir: str | Path, out_dir: str | Path, *, root: str | Path | None = None,
                max_problems: int | None = None, prompt_format: str = "raw", threads: int = 1,
                **setting_overrides: Any) -> dict[str, Any]:
    """Evaluate ``model_dir`` on a suite card with lm-eval under the card's protocol (see card_settings)."""
    from repro.data.cards import load_card, load_suite
    from repro.eval.runner import select_problems

    if not hasattr(card, "protocol"):
        card = load_card(card)
    settings, k_values = card_settings(card, **setting_overrides)
    problems = select_problems(load_suite(card, root), max_problems)
    return run_lmeval(model_dir, problems, out_dir, suite=card.name, answer_type=card.answer_type,
                      settings=settings, k_values=k_values, prompt_format=prompt_format,
                      batch_size=settings.batch_size, threads=threads)
