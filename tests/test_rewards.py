"""Tests for answer extraction, grading and the verifier reward (repro.rewards)."""

import json
import threading
from pathlib import Path

import pytest

from repro.rewards import (
    REWARD_FUNCTIONS,
    Grade,
    extract_boxed,
    extract_final_answer,
    grade_answer,
    grade_response,
    parse_integer,
    split_reasoning,
    strip_number_wrappers,
    verifier_reward,
)
from repro.rewards import grading

CASES_FILE = Path(__file__).parent / "data" / "handed_cases.jsonl"


def _handed_cases(prefixes: tuple[str, ...]) -> list[dict]:
    cases = []
    for line in CASES_FILE.read_text(encoding="utf-8").splitlines():
        if line.strip():
            case = json.loads(line)
            if case["id"].startswith(prefixes) and case["input"]["op"] != "pass_at_k":
                cases.append(case)
    return cases


HANDED_CASES = _handed_cases(("EX-", "DATA-"))


def test_handed_cases_present():
    ids = {case["id"] for case in HANDED_CASES}
    assert {"EX-01a", "EX-02a", "EX-02b", "DATA-01b"} <= ids


@pytest.mark.parametrize("case", HANDED_CASES, ids=[case["id"] for case in HANDED_CASES])
def test_handed_case(case):
    case_input, expected = case["input"], case["expected"]
    op = case_input["op"]

    if op == "extract_final_answer":
        result = extract_final_answer(case_input["response"])
    elif op == "grade_math":
        result = grade_response(case_input["response"], case_input["gold"], "math").correct
    elif op == "grade_aime":
        result = grade_response(case_input["response"], case_input["gold"], "integer").correct
    else:
        pytest.fail(f"{case['id']}: no test dispatch for op {op!r}; add one here")

    if "value" in expected:
        assert result == expected["value"], case["notes"]
    else:
        assert result is not None
        assert float(result) == expected["value_numeric"], case["notes"]


# extract_boxed


def test_boxed_last_of_several():
    assert extract_boxed(r"first \boxed{1}, then \boxed{2}, finally \boxed{3}") == "3"


def test_boxed_never_joins_answers():
    assert extract_boxed(r"\boxed{840} and again \boxed{840}") == "840"


def test_boxed_nested_braces():
    assert extract_boxed(r"so \boxed{\frac{1}{\sqrt{2}}} done") == r"\frac{1}{\sqrt{2}}"


def test_boxed_escaped_braces_not_counted():
    assert extract_boxed(r"\boxed{\{1, 2\}}") == r"\{1, 2\}"
    assert extract_boxed(r"\boxed{\left\{ x \right.}") == r"\left\{ x \right."


def test_boxed_fbox_and_space():
    assert extract_boxed(r"\fbox{12}") == "12"
    assert extract_boxed(r"\boxed {7}") == "7"


def test_boxed_missing_returns_none():
    assert extract_boxed("the answer is 42") is None
    assert extract_boxed(r"\boxedanswer{42}") is None


def test_boxed_unclosed_returns_none():
    assert extract_boxed(r"\boxed{\frac{1}{2}") is None
    # The last box is cut off, so the earlier complete box is not used in its place.
    assert extract_boxed(r"\boxed{5} wait, \boxed{6") is None


def test_boxed_empty_content():
    assert extract_boxed(r"\boxed{}") == ""


def test_boxed_rejects_non_string():
    with pytest.raises(TypeError, match="str"):
        extract_boxed(None)


# split_reasoning


def test_split_think_block():
    reasoning, final = split_reasoning("<think>try 5\n</think>\nSo \\boxed{5}")
    assert reasoning == "try 5"
    assert final == "So \\boxed{5}"


def test_split_without_tags():
    assert split_reasoning(" plain answer ") == ("", "plain answer")


def test_split_closing_tag_only():
    # Chat templates that open <think> in the prompt leave only the closing tag in the response.
    assert split_reasoning("reasoning here</think>final") == ("reasoning here", "final")


def test_split_cut_inside_reasoning():
    assert split_reasoning("<think>still thinking \\boxed{3}") == ("still thinking \\boxed{3}", None)


def test_split_reopened_think_unclosed():
    reasoning, final = split_reasoning("<think>a</think> b <think> c")
    assert final is None
    assert reasoning.startswith("a</think> b")


def test_split_empty_final_part():
    assert split_reasoning("<think>x</think>") == ("x", "")


# extract_final_answer


def test_final_answer_ignores_boxes_in_reasoning():
    response = "<think>maybe \\boxed{1}</think> The answer is \\boxed{2}."
    assert extract_final_answer(response) == "2"


def test_final_answer_none_without_box_after_think():
    assert extract_final_answer("<think>so \\boxed{1}</think> I give up.") is None


def test_final_answer_cut_inside_reasoning():
    assert extract_final_answer("<think>the answer is \\boxed{7}", finish_reason="eos") is None


def test_final_answer_length_cut():
    assert extract_final_answer("done: \\boxed{7}", finish_reason="length") is None


def test_final_answer_natural_ends():
    assert extract_final_answer("done: \\boxed{7}", finish_reason="eos") == "7"
    assert extract_final_answer("done: \\boxed{7}", finish_reason="stop") == "7"


def test_final_answer_unknown_finish_reason():
    with pytest.raises(ValueError, match="'lenght'.*'length'"):
        extract_final_answer("\\boxed{7}", finish_reason="lenght")


def test_final_answer_empty_box_is_none():
    assert extract_final_answer("\\boxed{}") is None
    assert extract_final_answer("\\boxed{  }") is None


def test_final_answer_strips_wrappers():
    assert extract_final_answer("\\boxed{\\text{42}}") == "42"
    assert extract_final_answer("\\boxed{**42**}") == "42"
    assert extract_final_answer("\\boxed{\\textbf{\\text{ 42 }}}") == "42"
    assert extract_final_answer("\\boxed{\\mathbf{-3.5}}") == "-3.5"


def test_wrappers_kept_around_non_numbers():
    assert strip_number_wrappers("\\text{Monday}") == "\\text{Monday}"
    assert strip_number_wrappers("\\text{5 cm}") == "\\text{5 cm}"
    assert strip_number_wrappers("\\text{4}\\text{2}") == "\\text{4}\\text{2}"
    assert strip_number_wrappers("**4** and **2**") == "**4** and **2**"


# parse_integer and the "integer" answer type


@pytest.mark.parametrize(
    "text, value",
    [("42", 42), ("007", 7), ("-12", -12), ("+3", 3), ("1,000", 1000), ("1{,}000", 1000),
     ("1\\,000", 1000), ("12,345,678", 12345678), ("42.0", 42), ("\\text{033}", 33), ("**5**", 5)],
)
def test_parse_integer_spellings(text, value):
    assert parse_integer(text) == value


@pytest.mark.parametrize("text", ["12.5", "1,00", "10,0000", "x", "3/4", "", "4 2", "0x1A", "1e3"])
def test_parse_integer_rejects(text):
    assert parse_integer(text) is None


def test_integer_thousands_and_leading_zeros():
    assert grade_answer("1,000", "1000", "integer") is True
    assert grade_answer("007", "7", "integer") is True
    assert grade_answer("7", "007", "integer") is True
    assert grade_answer("33", "033", "integer") is True


def test_integer_wrong_values():
    assert grade_answer("34", "33", "integer") is False
    assert grade_answer("-33", "33", "integer") is False


def test_integer_non_integer_prediction_wrong():
    assert grade_answer("33.5", "33", "integer") is False
    assert grade_answer("\\frac{66}{2}", "33", "integer") is False


def test_integer_gold_must_be_integer():
    with pytest.raises(ValueError, match="'1/2'.*answer_type='math'"):
        grade_answer("5", "1/2", "integer")


# grade_answer: the "math" answer type


def test_math_interval():
    assert grade_answer("[2,5)", "[2,5)", "math") is True
    assert grade_answer("[2,5]", "[2,5)", "math") is False


def test_math_equivalent_forms():
    assert grade_answer("0.5", "\\frac{1}{2}", "math") is True
    assert grade_answer("\\sqrt{18}", "3\\sqrt{2}", "math") is True
    assert grade_answer("033", "33", "math") is True
    assert grade_answer("2^{10}", "1024", "math") is True


def test_math_wrong_value():
    assert grade_answer("\\frac{1}{3}", "\\frac{1}{2}", "math") is False


def test_math_unparsable_prediction_wrong():
    assert grade_answer("\\frac{", "3", "math") is False


# Empty answers and bad arguments


@pytest.mark.parametrize("answer_type", ["integer", "math"])
def test_empty_extraction_never_matches(answer_type):
    assert grade_answer(None, "", answer_type) is False
    assert grade_answer("", "", answer_type) is False
    assert grade_answer("  ", "  ", answer_type) is False
    assert grade_answer(None, "5", answer_type) is False
    assert grade_answer("", "5", answer_type) is False


@pytest.mark.parametrize("answer_type", ["integer", "math"])
def test_empty_box_vs_empty_gold(answer_type):
    grade = grade_response("\\boxed{}", "", answer_type)
    assert grade.extracted is None
    assert grade.correct is False


def test_unknown_answer_type():
    with pytest.raises(ValueError, match="'float'.*'integer', 'math'"):
        grade_answer("1", "1", "float")


def test_gold_must_be_string():
    with pytest.raises(TypeError, match="str"):
        grade_answer("33", 33, "integer")


# Model output is never run as code


@pytest.mark.parametrize("answer_type", ["integer", "math"])
def test_code_in_box_is_wrong_answer(answer_type, tmp_path):
    marker = tmp_path / "executed"
    payload = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    response = "The answer is \\boxed{" + payload + "}"

    grade = grade_response(response, "0", answer_type)

    assert grade.extracted == payload
    assert grade.correct is False
    assert not marker.exists()


def test_os_import_in_box_is_wrong():
    assert grade_answer("__import__('os').getcwd()", "0", "math") is False


# Size guard against comparisons that would not finish


def _parsed(latex: str):
    parsed = [expr for expr in grading._parse_latex(latex, None) if not isinstance(expr, str)]
    assert parsed, f"Math-Verify did not parse {latex!r}"
    return parsed[0]


@pytest.mark.parametrize("latex", ["2^{2^{40}}", "9^{9^{9^{9}}}", "10^{10^{100}}", "(10^{100})!", "e^{10^{9}}",
                                   "3 + 2^{1000001}", "(x+1)^{10^{9}}"])
def test_size_guard_flags_huge_numbers(latex):
    assert grading._exceeds_size_limits(_parsed(latex)) is True


@pytest.mark.parametrize("latex", ["2^{1000000}", "2^{2^{10}}", "100000!", "\\sqrt{2}^{\\sqrt{2}}", "(x+1)^{20}",
                                   "\\frac{1}{2}", "e^{-3}"])
def test_size_guard_allows_normal_answers(latex):
    assert grading._exceeds_size_limits(_parsed(latex)) is False


def test_huge_prediction_graded_wrong():
    assert grade_answer("2^{2^{40}}", "3", "math") is False


# Threads, Grade and the reward function


def test_math_grading_in_worker_thread():
    results = []
    errors = []

    def work():
        try:
            results.append(grade_answer("\\frac{2}{4}", "0.5", "math"))
        except Exception as error:  # collected so the main thread can report it
            errors.append(error)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()

    assert errors == []
    assert results == [True]


def test_grade_response_fields():
    grade = grade_response("<think>hmm</think> \\boxed{\\text{12}}", "12", "integer", finish_reason="eos")
    assert grade == Grade(extracted="12", correct=True)


def test_grade_response_length_cut_is_wrong():
    grade = grade_response("\\boxed{12}", "12", "integer", finish_reason="length")
    assert grade == Grade(extracted=None, correct=False)


def test_verifier_reward_values():
    assert verifier_reward("\\boxed{12}", "12", "integer", "eos") == 1.0
    assert verifier_reward("\\boxed{13}", "12", "integer", "eos") == 0.0
    assert verifier_reward("<think>\\boxed{12}", "12", "integer", "eos") == 0.0


def test_verifier_registered():
    assert REWARD_FUNCTIONS.get("verifier") is verifier_reward
