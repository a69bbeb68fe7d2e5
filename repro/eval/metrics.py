"""Sampling metrics over graded samples: avg@k, pass@k, maj@k, with bootstrap intervals.

Every metric is computed per problem and then averaged over problems, and its confidence
interval is a percentile bootstrap over problems. ``summarize`` turns per-sample records
(the rows of an evaluation's samples.jsonl) into the metrics dictionary of metrics.json.

Shapes: P problems, N samples per problem. Pure numpy; no torch.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Iterable, Sequence

import numpy as np

REQUIRED_RECORD_KEYS = ("problem_id", "sample_index", "extracted", "correct", "finish_reason", "domain")

# Finish reasons that mean the response ended on its own (EOS token or stop string).
NATURAL_END_REASONS = ("eos", "stop")

# Maximum resampled problem values drawn at once in bootstrap_ci: 2^22 int64 indices and their
# float64 values take 64 MiB.
_BOOTSTRAP_CHUNK_ELEMENTS = 2**22


def pass_at_k(n: int, c: int, k: int) -> float:
    """Return the unbiased pass@k estimate for one problem: 1 - C(n-c, k) / C(n, k).

    ``n`` samples were drawn and ``c`` of them are correct (Chen et al. 2021,
    arXiv 2107.03374). The ratio is computed as the product prod_{i=n-c+1}^{n} (1 - k/i),
    which stays finite where the binomial coefficients overflow a float.
    Returns 0.0 when c == 0 and 1.0 when fewer than k samples are wrong.

    Raises ValueError unless 0 <= c <= n and 1 <= k <= n, naming the values.
    """
    for name, value in (("n", n), ("c", c), ("k", k)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"pass_at_k: {name} must be an integer, got {type(value).__name__} {value!r}")
    if n < 1:
        raise ValueError(f"pass_at_k: n={n} samples; pass@k needs at least one sample")
    if not 0 <= c <= n:
        raise ValueError(f"pass_at_k: c={c} correct samples is outside [0, n={n}]")
    if not 1 <= k <= n:
        raise ValueError(
            f"pass_at_k: k={k} is outside [1, n={n}]; pass@k needs at least k samples per "
            "problem, so draw more samples or lower k"
        )

    if c == 0:
        return 0.0
    if n - c < k:
        return 1.0
    denominators = np.arange(n - c + 1, n + 1, dtype=np.float64)
    return float(1.0 - np.prod(1.0 - k / denominators))


def _checked_correct(correct_PN: Any) -> np.ndarray:
    try:
        array = np.asarray(correct_PN)
    except ValueError:
        raise ValueError("correct must be a (problems, samples) matrix, but its rows differ in length") from None
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(
            f"correct must be a (problems, samples) matrix with at least one of each, got shape {array.shape}"
        )
    if array.dtype == bool:
        return array
    if not np.issubdtype(array.dtype, np.number) or not np.isin(array, (0, 1)).all():
        raise ValueError("correct must hold booleans or 0/1 values, one per sample")
    return array.astype(bool)


def _checked_k(k: int, num_samples: int, metric: str) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"{metric}: k must be an integer, got {type(k).__name__} {k!r}")
    if not 1 <= k <= num_samples:
        raise ValueError(
            f"{metric}: k={k} is outside [1, n={num_samples}] samples per problem; "
            "draw more samples or lower k"
        )


def avg_at_k_per_problem(correct_PN: Any) -> np.ndarray:
    """Return each problem's fraction of correct samples, shape (P,)."""
    return _checked_correct(correct_PN).mean(axis=1)


def avg_at_k(correct_PN: Any) -> float:
    """Return avg@n: the mean correctness over all n samples of a problem, averaged over problems.

    ``correct_PN`` is a (P, N) matrix of booleans or 0/1. avg@n is the unbiased pass@1 estimate.
    """
    return float(avg_at_k_per_problem(correct_PN).mean())


def pass_at_k_per_problem(correct_PN: Any, k: int) -> np.ndarray:
    """Return each problem's unbiased pass@k estimate, shape (P,)."""
    correct_PN = _checked_correct(correct_PN)
    num_samples = correct_PN.shape[1]
    _checked_k(k, num_samples, "pass@k")
    num_correct_P = correct_PN.sum(axis=1)
    return np.array([pass_at_k(num_samples, int(c), k) for c in num_correct_P], dtype=np.float64)


def maj_at_k_per_problem(answers_PN: Sequence[Sequence[str | None]], correct_PN: Any, k: int) -> np.ndarray:
    """Return each problem's maj@k correctness (0.0 or 1.0), shape (P,).

    Among the first k samples of a problem, the majority answer is the most frequent
    extracted answer, ignoring None. A tie goes to the answer that occurs first. The problem
    scores 1.0 when the first sample with the majority answer is correct, and 0.0 when no
    sample has an answer. Answers are compared as exact strings, so "033" and "33" count as
    different votes.
    """
    correct_PN = _checked_correct(correct_PN)
    num_problems, num_samples = correct_PN.shape
    if len(answers_PN) != num_problems:
        raise ValueError(
            f"maj@k: answers has {len(answers_PN)} problems but correct has {num_problems}; "
            "pass one row per problem to both"
        )
    _checked_k(k, num_samples, "maj@k")

    scores_P = np.zeros(num_problems, dtype=np.float64)
    for problem, answers in enumerate(answers_PN):
        if len(answers) != num_samples:
            raise ValueError(
                f"maj@k: problem {problem} has {len(answers)} answers but {num_samples} correctness values"
            )
        first_k = list(answers[:k])
        votes = Counter(answer for answer in first_k if answer is not None)
        if not votes:
            continue
        # Counter keeps insertion order and max() returns the first maximum, so a tie goes
        # to the answer seen first.
        majority = max(votes, key=votes.__getitem__)
        scores_P[problem] = float(correct_PN[problem, first_k.index(majority)])
    return scores_P


def maj_at_k(answers_PN: Sequence[Sequence[str | None]], correct_PN: Any, k: int) -> float:
    """Return maj@k averaged over problems (see maj_at_k_per_problem)."""
    return float(maj_at_k_per_problem(answers_PN, correct_PN, k).mean())


def bootstrap_ci(
    per_problem_values: Sequence[float],
    num_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Return a percentile bootstrap confidence interval (low, high) of the mean over problems.

    Problems are resampled with replacement ``num_resamples`` times, and the interval contains the
    central ``confidence`` fraction of the resampled means. The same seed gives the same
    interval.
    """
    values_P = np.asarray(per_problem_values, dtype=np.float64)
    if values_P.ndim != 1 or values_P.size == 0:
        raise ValueError(
            f"bootstrap_ci needs a non-empty 1-D sequence of per-problem values, got shape {values_P.shape}"
        )
    if not np.isfinite(values_P).all():
        raise ValueError("bootstrap_ci: per-problem values contain NaN or infinity")
    if isinstance(num_resamples, bool) or not isinstance(num_resamples, (int, np.integer)) or num_resamples < 1:
        raise ValueError(f"bootstrap_ci: num_resamples must be a positive integer, got {num_resamples!r}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"bootstrap_ci: confidence must be in (0, 1), got {confidence!r}; e.g. 0.95")

    rng = np.random.default_rng(seed)
    num_problems = values_P.size
    chunk = max(1, _BOOTSTRAP_CHUNK_ELEMENTS // num_problems)
    means_R = np.empty(num_resamples, dtype=np.float64)
    for start in range(0, num_resamples, chunk):
        stop = min(start + chunk, num_resamples)
        indices_RP = rng.integers(0, num_problems, size=(stop - start, num_problems))
        means_R[start:stop] = values_P[indices_RP].mean(axis=1)

    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(means_R, [tail, 1.0 - tail])
    return float(low), float(high)


def summarize(
    records: Iterable[dict[str, Any]],
    k_values: Sequence[int],
    *,
    num_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """Summarize graded samples into avg@n, pass@k and maj@k with bootstrap intervals.

    Each record is one sample with at least problem_id, sample_index, extracted, correct,
    finish_reason and domain. Every problem must have the same number n of samples, indexed
    0..n-1; "first k samples" (maj@k) means the k lowest sample indices. Returns

        {"num_problems", "num_samples_per_problem",
         "metrics": {"avg@n" | "pass@k" | "maj@k": {"value", "ci_low", "ci_high"}},
         "rates": {"no_answer", "truncated", "eos"},
         "per_domain": {domain: {"num_problems", "num_samples_per_problem", "metrics", "rates"}},
         "bootstrap": {"num_resamples", "confidence", "seed"}}

    where "no_answer" is the fraction of samples without an extracted answer, "truncated"
    the fraction cut by the length limit and "eos" the fraction that ended on their own.

    Raises ValueError on missing keys, duplicate (problem_id, sample_index) pairs, unequal
    sample counts, gaps in sample indices, a problem listed under two domains, or a k
    outside [1, n].
    """
    problems = _group_by_problem(list(records))
    problem_ids = sorted(problems)
    num_samples = len(problems[problem_ids[0]])
    k_values = _checked_k_values(k_values, num_samples)

    settings = {"k_values": k_values, "num_resamples": num_resamples, "confidence": confidence, "seed": seed}
    summary = _summarize_problems([problems[pid] for pid in problem_ids], **settings)

    domains: dict[str, list[list[dict[str, Any]]]] = {}
    for pid in problem_ids:
        domains.setdefault(problems[pid][0]["domain"], []).append(problems[pid])
    summary["per_domain"] = {
        domain: _summarize_problems(samples, **settings) for domain, samples in sorted(domains.items())
    }
    summary["bootstrap"] = {"num_resamples": num_resamples, "confidence": confidence, "seed": seed}
    return summary


def _group_by_problem(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Validate the records and return each problem's samples ordered by sample_index."""
    if not records:
        raise ValueError("summarize: no records; evaluate at least one problem first")

    by_problem: dict[str, dict[int, dict[str, Any]]] = {}
    for position, record in enumerate(records):
        _check_record(record, position)
        samples = by_problem.setdefault(record["problem_id"], {})
        index = record["sample_index"]
        if index in samples:
            raise ValueError(
                f"summarize: record {position} repeats problem_id {record['problem_id']!r} with "
                f"sample_index {index}; each (problem_id, sample_index) pair must be unique"
            )
        samples[index] = record

    counts = {pid: len(samples) for pid, samples in by_problem.items()}
    if len(set(counts.values())) > 1:
        min_problem = min(counts, key=counts.__getitem__)
        max_problem = max(counts, key=counts.__getitem__)
        raise ValueError(
            f"summarize: problems have different sample counts (problem {min_problem!r} has "
            f"{counts[min_problem]}, problem {max_problem!r} has {counts[max_problem]}); every problem needs the "
            "same n, so re-run the missing samples or drop the incomplete problems"
        )

    grouped = {}
    for pid, samples in by_problem.items():
        if sorted(samples) != list(range(len(samples))):
            raise ValueError(
                f"summarize: problem {pid!r} has sample indices {sorted(samples)}; expected "
                f"0..{len(samples) - 1} without gaps"
            )
        domains = {sample["domain"] for sample in samples.values()}
        if len(domains) > 1:
            raise ValueError(f"summarize: problem {pid!r} is listed under several domains {sorted(domains)}")
        grouped[pid] = [samples[index] for index in range(len(samples))]
    return grouped


def _check_record(record: Any, position: int) -> None:
    if not isinstance(record, dict):
        raise ValueError(f"summarize: record {position} must be a dict, got {type(record).__name__}")
    missing = [key for key in REQUIRED_RECORD_KEYS if key not in record]
    if missing:
        raise ValueError(
            f"summarize: record {position} is missing {missing}; every record needs {list(REQUIRED_RECORD_KEYS)}"
        )

    checks = (
        ("problem_id", isinstance(record["problem_id"], str), "a string"),
        ("domain", isinstance(record["domain"], str), "a string"),
        ("sample_index", _is_index(record["sample_index"]), "a non-negative integer"),
        ("correct", isinstance(record["correct"], bool) or record["correct"] in (0, 1), "a boolean"),
        ("extracted", record["extracted"] is None or isinstance(record["extracted"], str), "a string or null"),
        ("finish_reason", record["finish_reason"] is None or isinstance(record["finish_reason"], str),
         "a string or null"),
    )
    for key, valid, expected in checks:
        if not valid:
            raise ValueError(f"summarize: record {position} has {key}={record[key]!r}; expected {expected}")


def _is_index(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, np.integer)) and value >= 0


def _checked_k_values(k_values: Sequence[int], num_samples: int) -> list[int]:
    if isinstance(k_values, (str, bytes)) or not isinstance(k_values, Sequence) or not k_values:
        raise ValueError(f"summarize: k_values must be a non-empty list of integers, got {k_values!r}")
    for k in k_values:
        _checked_k(k, num_samples, "summarize")
    return sorted({int(k) for k in k_values})


def _summarize_problems(
    problems: list[list[dict[str, Any]]],
    k_values: list[int],
    num_resamples: int,
    confidence: float,
    seed: int,
) -> dict[str, Any]:
    num_samples = len(problems[0])
    correct_PN = np.array([[bool(s["correct"]) for s in samples] for samples in problems], dtype=bool)
    answers_PN = [[s["extracted"] for s in samples] for samples in problems]

    per_problem = {f"avg@{num_samples}": avg_at_k_per_problem(correct_PN)}
    for k in k_values:
        per_problem[f"pass@{k}"] = pass_at_k_per_problem(correct_PN, k)
    for k in k_values:
        per_problem[f"maj@{k}"] = maj_at_k_per_problem(answers_PN, correct_PN, k)

    metrics = {}
    for name, values_P in per_problem.items():
        low, high = bootstrap_ci(values_P, num_resamples=num_resamples, confidence=confidence, seed=seed)
        metrics[name] = {"value": float(values_P.mean()), "ci_low": low, "ci_high": high}

    samples = [sample for problem in problems for sample in problem]
    rates = {
        "no_answer": _fraction(samples, lambda s: s["extracted"] is None or not s["extracted"].strip()),
        "truncated": _fraction(samples, lambda s: s["finish_reason"] == "length"),
        "eos": _fraction(samples, lambda s: s["finish_reason"] in NATURAL_END_REASONS),
    }
    return {
        "num_problems": len(problems),
        "num_samples_per_problem": num_samples,
        "metrics": metrics,
        "rates": rates,
    }


def _fraction(samples: list[dict[str, Any]], predicate) -> float:
    return sum(1 for sample in samples if predicate(sample)) / len(samples)
