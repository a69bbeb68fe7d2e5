"""Tests of the measuring math in benchmarks/organism_probe.py (grading, pass@k, chance, log-probs)."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
import torch

from repro.data.schema import Problem

_PROBE_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "organism_probe.py"
_spec = importlib.util.spec_from_file_location("organism_probe", _PROBE_PATH)
probe = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(probe)


def _problem(index: int, domain: str, answer: str) -> Problem:
    return Problem(id=f"p{index}", prompt=f"Q: {index}\nA: ", answer=answer, domain=domain, solution="s")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1+2: =3. \\boxed{3}", 3),
        ("\\boxed{12} then \\boxed{345}", 345),
        ("\\boxed{ 7 }", 7),
        ("\\boxed{-3}", -3),
        ("\\boxed{007}", 7),
    ],
)
def test_extract_boxed_int_integers(text, expected):
    assert probe.extract_boxed_int(text) == expected


@pytest.mark.parametrize("text", ["no box here", "\\boxed{12", "\\boxed{1{2}}", "\\boxed{3.5}", "\\boxed{}"])
def test_extract_boxed_int_rejects(text):
    assert probe.extract_boxed_int(text) is None


def test_pass_at_k_hand_values():
    assert probe.pass_at_k(16, 0, 16) == 0.0
    assert probe.pass_at_k(16, 1, 16) == 1.0
    assert probe.pass_at_k(4, 1, 1) == pytest.approx(0.25)
    # 1 - C(3,2)/C(5,2) = 1 - 3/10
    assert probe.pass_at_k(5, 2, 2) == pytest.approx(0.7)
    # 1 - C(18,16)/C(20,16) = 1 - 153/4845
    assert probe.pass_at_k(20, 2, 16) == pytest.approx(1 - 153 / 4845)


def test_pass_at_k_bad_input():
    with pytest.raises(ValueError, match="k=17"):
        probe.pass_at_k(16, 1, 17)
    with pytest.raises(ValueError, match="c=5"):
        probe.pass_at_k(4, 5, 1)


def test_chance_pass_at_k_hand_values():
    answers = ["1", "1", "2", "3"]
    assert probe.chance_pass_at_k(answers, 1) == pytest.approx(0.5)
    assert probe.chance_pass_at_k(answers, 2) == pytest.approx(0.75)
    assert probe.chance_pass_at_k(answers, 16) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least one"):
        probe.chance_pass_at_k([], 1)


def test_select_problems_first_per_domain():
    problems = [_problem(0, "a", "1"), _problem(1, "b", "2"), _problem(2, "a", "3"), _problem(3, "a", "4")]
    kept = probe.select_problems(problems, 2)
    assert [p.id for p in kept] == ["p0", "p1", "p2"]
    assert probe.select_problems(problems, None) == problems
    with pytest.raises(ValueError, match="per-domain"):
        probe.select_problems(problems, 0)


def test_grade_counts_correct_samples():
    problems = [_problem(0, "a", "5"), _problem(1, "a", "12")]
    texts = [["\\boxed{5}", "\\boxed{6}", "x"], ["\\boxed{12}", "\\boxed{12}", "\\boxed{012}"]]
    assert probe._grade(problems, texts) == [1, 3]


def test_summarize_domains_and_all():
    problems = [_problem(0, "a", "5"), _problem(1, "a", "5"), _problem(2, "b", "7")]
    table = probe.summarize(problems, correct_counts=[2, 0, 1], n=2, eos_counts=[2, 1, 2])

    assert set(table) == {"a", "b", "all"}
    assert table["a"]["pass@1"] == pytest.approx(0.5)  # (2 + 0) / (2 * 2)
    assert table["a"]["pass@2"] == pytest.approx(0.5)  # problem 0 always solved, problem 1 never
    assert table["a"]["chance_pass@1"] == pytest.approx(1.0)  # both gold answers are 5
    assert table["b"]["pass@2"] == pytest.approx(1.0)
    assert table["all"]["pass@1"] == pytest.approx(0.5)  # 3 correct of 6
    assert table["all"]["chance_pass@1"] == pytest.approx(2 / 3)
    assert table["all"]["eos_rate"] == pytest.approx(5 / 6)


class _PositionModel(torch.nn.Module):
    """Fake LM: at position t the logit of token 0 is t and every other logit is 0."""

    vocab = 5

    def forward(self, input_ids):
        length = input_ids.shape[1]
        logits = torch.zeros(1, length, self.vocab)
        logits[0, :, 0] = torch.arange(length, dtype=torch.float32)
        return type("Output", (), {"logits": logits})()


class _FakeTokenizer:
    eos_token_id = 4

    def __call__(self, text, add_special_tokens=True):
        ids = [1 if char == "p" else 2 for char in text]
        return {"input_ids": ([3] if add_special_tokens else []) + ids}


def test_reference_logprob_scores_only_response():
    # Input ids: [3, 1, 1] prompt (BOS + "pp"), then [2, 2, 4] response "rr" + EOS: length 6.
    # The response tokens are predicted at positions 2, 3, 4, where log p(token != 0) = -log(e^t + 4).
    total, count = probe.reference_logprob(_PositionModel(), _FakeTokenizer(), "pp", "rr")
    expected = -sum(math.log(math.exp(t) + 4) for t in (2, 3, 4))
    assert count == 3
    assert total == pytest.approx(expected, rel=1e-5)
