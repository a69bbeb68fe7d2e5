"""Tests for avg@k, pass@k, maj@k, bootstrap intervals and summarize (repro.eval.metrics)."""

import json
import math
import random
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from repro.eval.metrics import (
    avg_at_k,
    avg_at_k_per_problem,
    bootstrap_ci,
    maj_at_k,
    maj_at_k_per_problem,
    pass_at_k,
    pass_at_k_per_problem,
    summarize,
)

CASES_FILE = Path(__file__).parent / "data" / "handed_cases.jsonl"


def _handed_case(case_id: str) -> dict:
    for line in CASES_FILE.read_text(encoding="utf-8").splitlines():
        if line.strip():
            case = json.loads(line)
            if case["id"] == case_id:
                return case
    raise AssertionError(f"handed case {case_id} not found in {CASES_FILE}")


def _pass_at_k_cases() -> list[str]:
    ids = []
    for line in CASES_FILE.read_text(encoding="utf-8").splitlines():
        if line.strip():
            case = json.loads(line)
            if case["id"].startswith(("PK-", "EX-", "DATA-")) and case["input"]["op"] == "pass_at_k":
                ids.append(case["id"])
    return ids


def test_pass_at_k_cases_all_tested():
    # Each pass@k handed case has its own test below; a new case needs one too.
    assert set(_pass_at_k_cases()) == {"PK-01", "PK-02"}


# Handed cases


def test_handed_pk01_k_above_n_raises():
    # Expected: 0.0, or an error; the buggy estimator returned 1.0.
    case_input = _handed_case("PK-01")["input"]
    assert (case_input["n"], case_input["c"], case_input["k"]) == (2, 0, 5)

    with pytest.raises(ValueError, match=r"k=5.*n=2"):
        pass_at_k(case_input["n"], case_input["c"], case_input["k"])


def test_handed_pk02_values():
    case = _handed_case("PK-02")
    case_input, expected = case["input"], case["expected"]

    for k in case_input["k"]:
        value = pass_at_k(case_input["n"], case_input["c"], k)
        assert value == pytest.approx(expected["value"][str(k)], abs=expected["abs_tol"]), f"k={k}"


# pass_at_k


def _exact_pass_at_k(n: int, c: int, k: int) -> float:
    return float(1 - Fraction(math.comb(n - c, k), math.comb(n, k)))


def test_pass_at_k_hand_values():
    # 1 - C(3,2)/C(5,2) = 1 - 3/10
    assert pass_at_k(5, 2, 2) == pytest.approx(0.7, abs=1e-12)
    # 1 - C(6,3)/C(8,3) = 1 - 20/56
    assert pass_at_k(8, 2, 3) == pytest.approx(36 / 56, abs=1e-12)
    # pass@1 is c/n
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3, abs=1e-12)


def test_pass_at_k_matches_binomials():
    for n in range(1, 13):
        for c in range(n + 1):
            for k in range(1, n + 1):
                assert pass_at_k(n, c, k) == pytest.approx(_exact_pass_at_k(n, c, k), abs=1e-12), (n, c, k)


def test_pass_at_k_zero_correct():
    for k in range(1, 9):
        assert pass_at_k(8, 0, k) == 0.0


def test_pass_at_k_fewer_wrong_than_k():
    assert pass_at_k(4, 3, 2) == 1.0
    assert pass_at_k(4, 4, 1) == 1.0


def test_pass_at_k_large_n_stable():
    # math.comb(10000, 100) is far beyond float range; the product form still works.
    assert pass_at_k(10000, 5000, 100) == pytest.approx(_exact_pass_at_k(10000, 5000, 100), abs=1e-12)
    assert pass_at_k(2000, 3, 50) == pytest.approx(_exact_pass_at_k(2000, 3, 50), abs=1e-12)


@pytest.mark.parametrize("n, c, k, pattern", [(4, 1, 0, "k=0"), (4, 5, 1, "c=5"), (4, -1, 1, "c=-1"),
                                               (0, 0, 1, "n=0"), (3, 1, 4, r"k=4.*n=3")])
def test_pass_at_k_invalid(n, c, k, pattern):
    with pytest.raises(ValueError, match=pattern):
        pass_at_k(n, c, k)


def test_pass_at_k_rejects_non_integers():
    with pytest.raises(TypeError, match="k must be an integer"):
        pass_at_k(4, 1, 2.0)
    with pytest.raises(TypeError, match="c must be an integer"):
        pass_at_k(4, True, 2)


def test_pass_at_k_per_problem_values():
    correct = [[1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0]]
    values = pass_at_k_per_problem(correct, 2)
    np.testing.assert_allclose(values, [0.5, 1 - 1 / 6, 0.0], atol=1e-12)


# avg_at_k


def test_avg_at_k_hand_value():
    correct = [[True, False, False, True], [True, True, True, True], [False, False, False, False]]
    assert avg_at_k(correct) == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    np.testing.assert_allclose(avg_at_k_per_problem(correct), [0.5, 1.0, 0.0])


def test_avg_at_k_is_pass_at_1():
    rng = np.random.default_rng(3)
    correct = rng.integers(0, 2, size=(7, 5))
    assert avg_at_k(correct) == pytest.approx(pass_at_k_per_problem(correct, 1).mean(), abs=1e-12)


@pytest.mark.parametrize("bad", [[], [[]], [1, 0, 1], [[0, 2]], [["yes", "no"]], [[1, 0], [1]]])
def test_avg_at_k_bad_input(bad):
    with pytest.raises(ValueError, match="correct"):
        avg_at_k(bad)


# maj_at_k

MAJ_ANSWERS = [["5", "4", "4", "5"], ["1", None, "2", "2"], [None, None, None, None]]
MAJ_CORRECT = [[1, 0, 0, 1], [0, 0, 1, 1], [0, 0, 0, 0]]


def test_maj_at_k_tie_goes_to_first():
    # Problem 0 ties 5 and 4 two votes each over four samples; "5" came first and is correct.
    np.testing.assert_allclose(maj_at_k_per_problem(MAJ_ANSWERS, MAJ_CORRECT, 4), [1.0, 1.0, 0.0])
    assert maj_at_k(MAJ_ANSWERS, MAJ_CORRECT, 4) == pytest.approx(2 / 3)


def test_maj_at_k_uses_first_k_samples():
    # k=3: problem 0 votes 5,4,4 -> "4" (wrong); problem 1 votes 1,2 with None ignored -> tie, "1" (wrong).
    np.testing.assert_allclose(maj_at_k_per_problem(MAJ_ANSWERS, MAJ_CORRECT, 3), [0.0, 0.0, 0.0])
    # k=1: only the first sample votes.
    np.testing.assert_allclose(maj_at_k_per_problem(MAJ_ANSWERS, MAJ_CORRECT, 1), [1.0, 0.0, 0.0])


def test_maj_at_k_none_ignored():
    answers = [[None, None, "7", None]]
    correct = [[0, 0, 1, 0]]
    assert maj_at_k(answers, correct, 4) == 1.0


def test_maj_at_k_invalid():
    with pytest.raises(ValueError, match=r"k=5.*n=4"):
        maj_at_k(MAJ_ANSWERS, MAJ_CORRECT, 5)
    with pytest.raises(ValueError, match="answers has 2 problems"):
        maj_at_k(MAJ_ANSWERS[:2], MAJ_CORRECT, 2)
    with pytest.raises(ValueError, match="problem 1 has 3 answers"):
        maj_at_k([MAJ_ANSWERS[0], ["1", "2", "3"], MAJ_ANSWERS[2]], MAJ_CORRECT, 2)


# bootstrap_ci


def test_bootstrap_contains_mean():
    values = np.random.default_rng(0).random(40)
    low, high = bootstrap_ci(values, num_resamples=500, seed=1)
    assert low <= values.mean() <= high
    assert low < high


def test_bootstrap_deterministic_under_seed():
    values = [0.0, 1.0, 0.5, 0.25, 1.0, 0.0, 0.75]
    assert bootstrap_ci(values, seed=7) == bootstrap_ci(values, seed=7)
    assert bootstrap_ci(values, seed=7) != bootstrap_ci(values, seed=8)


def test_bootstrap_width_matches_standard_error():
    # 100 problems at 0 or 1: mean 0.5, standard error 0.05, so a 95% interval is about 0.5 +- 0.098.
    values = [0.0, 1.0] * 50
    low, high = bootstrap_ci(values, num_resamples=4000, seed=0)
    assert low == pytest.approx(0.5 - 1.96 * 0.05, abs=0.015)
    assert high == pytest.approx(0.5 + 1.96 * 0.05, abs=0.015)


def test_bootstrap_constant_values():
    assert bootstrap_ci([0.25, 0.25, 0.25]) == (0.25, 0.25)
    assert bootstrap_ci([0.6]) == (0.6, 0.6)


def test_bootstrap_chunking_same_result(monkeypatch):
    values = np.random.default_rng(5).random(30)
    whole = bootstrap_ci(values, num_resamples=200, seed=3)
    import repro.eval.metrics as metrics

    monkeypatch.setattr(metrics, "_BOOTSTRAP_CHUNK_ELEMENTS", 30 * 7)
    assert bootstrap_ci(values, num_resamples=200, seed=3) == pytest.approx(whole, abs=1e-15)


@pytest.mark.parametrize("kwargs, pattern", [
    ({"per_problem_values": []}, "non-empty"),
    ({"per_problem_values": [[0.1, 0.2]]}, "1-D"),
    ({"per_problem_values": [0.1, float("nan")]}, "NaN"),
    ({"per_problem_values": [0.1], "confidence": 1.0}, "confidence"),
    ({"per_problem_values": [0.1], "num_resamples": 0}, "num_resamples"),
])
def test_bootstrap_invalid(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        bootstrap_ci(**kwargs)


# summarize


def _records(table: list[tuple[str, str, list[int], list]], finish_reasons=None) -> list[dict]:
    records = []
    for problem_id, domain, correct, answers in table:
        for index, (is_correct, answer) in enumerate(zip(correct, answers)):
            reason = "eos" if answer is not None else "length"
            if finish_reasons is not None:
                reason = finish_reasons[(problem_id, index)]
            records.append({
                "problem_id": problem_id,
                "sample_index": index,
                "extracted": answer,
                "correct": bool(is_correct),
                "finish_reason": reason,
                "domain": domain,
            })
    return records


TABLE = [
    ("p0", "algebra", [1, 0, 1, 0], ["5", "4", "5", None]),
    ("p1", "geometry", [0, 0, 0, 0], [None, None, None, None]),
    ("p2", "algebra", [1, 1, 1, 1], ["1", "1", "1", "1"]),
]


def test_summarize_hand_values():
    summary = summarize(_records(TABLE), [1, 2, 4])

    assert summary["num_problems"] == 3
    assert summary["num_samples_per_problem"] == 4
    metrics = summary["metrics"]
    assert sorted(metrics) == ["avg@4", "maj@1", "maj@2", "maj@4", "pass@1", "pass@2", "pass@4"]
    assert metrics["avg@4"]["value"] == pytest.approx((0.5 + 0 + 1) / 3)
    assert metrics["pass@1"]["value"] == pytest.approx((0.5 + 0 + 1) / 3)
    # p0: 1 - C(2,2)/C(4,2) = 5/6
    assert metrics["pass@2"]["value"] == pytest.approx((5 / 6 + 0 + 1) / 3)
    assert metrics["pass@4"]["value"] == pytest.approx(2 / 3)
    # p0 at k=2: "5" and "4" tie, "5" came first and is correct.
    assert metrics["maj@2"]["value"] == pytest.approx(2 / 3)
    for name, entry in metrics.items():
        assert entry["ci_low"] <= entry["value"] <= entry["ci_high"], name


def test_summarize_rates():
    summary = summarize(_records(TABLE), [1])
    # 5 of 12 samples have no answer, and in this table exactly those hit the length limit.
    assert summary["rates"] == pytest.approx({"no_answer": 5 / 12, "truncated": 5 / 12, "eos": 7 / 12})


def test_summarize_rates_with_stop_and_blank():
    table = [("p0", "d", [0, 1], ["  ", "3"])]
    reasons = {("p0", 0): "stop", ("p0", 1): None}
    summary = summarize(_records(table, reasons), [1])
    assert summary["rates"] == pytest.approx({"no_answer": 0.5, "truncated": 0.0, "eos": 0.5})


def test_summarize_per_domain():
    summary = summarize(_records(TABLE), [2])
    domains = summary["per_domain"]
    assert sorted(domains) == ["algebra", "geometry"]
    assert domains["algebra"]["num_problems"] == 2
    assert domains["algebra"]["metrics"]["avg@4"]["value"] == pytest.approx(0.75)
    assert domains["algebra"]["metrics"]["pass@2"]["value"] == pytest.approx((5 / 6 + 1) / 2)
    assert domains["geometry"]["metrics"]["maj@2"]["value"] == 0.0
    assert domains["geometry"]["rates"]["no_answer"] == 1.0


def test_summarize_order_invariant():
    # Problems are sorted by id before resampling, so the record order cannot move the intervals.
    table = [(f"p{i}", "d", correct, ["1"] * 4) for i, correct in enumerate(
        [[1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1], [0, 1, 0, 0]])]
    records = _records(table)
    shuffled = list(reversed(records))
    random.Random(0).shuffle(shuffled)
    assert summarize(shuffled, [1, 2]) == summarize(records, [1, 2])


def test_summarize_json_serializable():
    summary = summarize(_records(TABLE), [2, 1, 2])
    assert json.loads(json.dumps(summary)) == summary
    assert summary["bootstrap"] == {"num_resamples": 1000, "confidence": 0.95, "seed": 0}
    assert "pass@1" in summary["metrics"]
    assert "pass@2" in summary["metrics"]


def test_summarize_duplicate_sample():
    records = _records(TABLE)
    records.append(dict(records[0]))
    with pytest.raises(ValueError, match=r"'p0' with sample_index 0"):
        summarize(records, [1])


def test_summarize_unequal_sample_counts():
    records = [r for r in _records(TABLE) if not (r["problem_id"] == "p1" and r["sample_index"] == 3)]
    with pytest.raises(ValueError, match=r"different sample counts.*'p1' has 3"):
        summarize(records, [1])


def test_summarize_index_gap():
    records = _records([("p0", "d", [1, 0], ["1", "2"])])
    records[1]["sample_index"] = 2
    with pytest.raises(ValueError, match=r"\[0, 2\]"):
        summarize(records, [1])


def test_summarize_missing_key():
    records = _records(TABLE)
    del records[4]["finish_reason"]
    with pytest.raises(ValueError, match=r"record 4 is missing \['finish_reason'\]"):
        summarize(records, [1])


def test_summarize_bad_field_types():
    records = _records(TABLE)
    records[0]["correct"] = "yes"
    with pytest.raises(ValueError, match="correct='yes'"):
        summarize(records, [1])
    records = _records(TABLE)
    records[0]["sample_index"] = -1
    with pytest.raises(ValueError, match="sample_index=-1"):
        summarize(records, [1])


def test_summarize_conflicting_domain():
    records = _records(TABLE)
    records[1]["domain"] = "number_theory"
    with pytest.raises(ValueError, match="'p0' is listed under several domains"):
        summarize(records, [1])


def test_summarize_k_above_n():
    with pytest.raises(ValueError, match=r"k=8.*n=4"):
        summarize(_records(TABLE), [1, 8])


def test_summarize_empty_inputs():
    with pytest.raises(ValueError, match="no records"):
        summarize([], [1])
    with pytest.raises(ValueError, match="k_values"):
        summarize(_records(TABLE), [])
