"""Suite cards (repro.data.cards) and the arithmetic workload (repro.data.arithmetic)."""

import json
import random
import re
from pathlib import Path

import pytest
import yaml

from repro.data.arithmetic import (
    DOMAINS,
    ArithmeticConfig,
    build_arithmetic_data,
    build_arithmetic_splits,
    demonstration,
    distinct_questions,
    draw_question,
)
from repro.data.cards import CardError, available_cards, load_card, load_suite, parse_card
from repro.data.schema import Problem, ProblemFormatError, read_problems, write_problems
from repro.rewards import grade_response

FIXTURES = Path(__file__).parent / "data" / "cards"

VALID_CARD = {
    "name": "demo",
    "source": {"kind": "jsonl", "path": "tiny.jsonl"},
    "fields": {"id": "idx", "prompt": "question", "answer": "final"},
    "answer_type": "math",
    "protocol": {"metric": "avg@4", "num_samples": 4, "temperature": 0.6, "max_new_tokens": 32},
}


def card_with(**changes) -> dict:
    card = json.loads(json.dumps(VALID_CARD))
    card.update(changes)
    return card


def write_card(tmp_path: Path, card: dict) -> Path:
    path = tmp_path / f"{card['name']}.yaml"
    path.write_text(yaml.safe_dump(card))
    return path


TRAINING_CARDS = ("openr1_math_46k",)


@pytest.mark.parametrize("name", available_cards())
def test_shipped_card_validates(name):
    card = load_card(name)
    assert card.name == name
    if name in TRAINING_CARDS:
        assert card.protocol is None
        assert "solution" in card.fields
    else:
        assert card.protocol.num_samples >= 1
        assert card.protocol.k_values


def test_card_without_protocol_cannot_be_evaluated():
    from repro.eval.lmeval_bridge import card_settings

    with pytest.raises(ValueError, match="has no protocol"):
        card_settings(load_card("openr1_math_46k"))


def test_shipped_cards_cover_paper_suites():
    names = set(available_cards())
    assert {"aime24", "aime25", "hmmt_feb25", "amc23", "math500", "organism_aime", "organism_hmmt", "arith"} <= names


@pytest.mark.parametrize("name", ["aime24", "aime25", "amc23"])
def test_competition_cards_use_avg_at_32(name):
    card = load_card(name)
    assert card.protocol.metric == "avg@32"
    assert card.protocol.num_samples == 32
    assert card.protocol.temperature == 0.6
    assert card.source.kind == "hub"


def test_math500_card_uses_pass_at_1():
    card = load_card("math500")
    assert card.protocol.metric == "pass@1"
    assert card.protocol.num_samples == 1
    assert card.source.dataset == "HuggingFaceH4/MATH-500"
    assert card.fields["tier"] == "level"


def test_aime_cards_grade_integers():
    assert load_card("aime24").answer_type == "integer"
    assert load_card("aime25").answer_type == "integer"
    assert load_card("hmmt_feb25").answer_type == "math"


def test_prompt_template_has_boxed_instruction():
    card = load_card("aime24")
    assert card.prompt_template.endswith("within \\boxed{}.")
    assert card.prompt_template.startswith("{prompt}\n")


def test_load_suite_maps_jsonl_columns():
    problems = load_suite(FIXTURES / "tiny_jsonl.yaml")
    assert [p.id for p in problems] == ["7", "8", "9"]
    assert problems[0].prompt == "Question: What is 2 + 3?\nAnswer in \\boxed{}."
    assert [p.answer for p in problems] == ["5", "5", "0.5"]
    assert problems[0].solution == "2 + 3 = 5. \\boxed{5}"
    assert problems[1].solution is None
    assert [p.domain for p in problems] == ["add", "sub", "div"]
    assert problems[2].metadata == {"suite": "tiny_jsonl", "source_row": 2}


def test_load_suite_parquet_matches_jsonl():
    from_jsonl = load_suite(FIXTURES / "tiny_jsonl.yaml")
    from_parquet = load_suite(FIXTURES / "tiny_parquet.yaml")
    assert [p.id for p in from_parquet] == [p.id for p in from_jsonl]
    assert [p.answer for p in from_parquet] == [p.answer for p in from_jsonl]
    assert [p.solution for p in from_parquet] == [p.solution for p in from_jsonl]
    # tiny_parquet.yaml has no prompt_template: prompts are the raw column.
    assert from_parquet[0].prompt == "What is 2 + 3?"


def test_load_suite_resolves_root(tmp_path):
    problems = [Problem(id="aime-x-0", prompt="Q: 1+1\nA: ", answer="2", domain="addsub", tier=1,
                        solution="\\boxed{2}", metadata={"question": "1+1"})]
    write_problems(tmp_path / "suites" / "aime.jsonl", problems)
    loaded = load_suite("organism_aime", root=tmp_path)
    assert len(loaded) == 1
    assert loaded[0].prompt == "Q: 1+1\nA: "
    assert loaded[0].domain == "addsub"
    assert loaded[0].metadata["question"] == "1+1"
    assert loaded[0].metadata["suite"] == "organism_aime"


def test_missing_local_file_names_root_hint(tmp_path):
    with pytest.raises(FileNotFoundError, match="pass root="):
        load_suite(load_card("organism_hmmt"))


def test_integral_float_answer_becomes_integer_text(tmp_path):
    (tmp_path / "tiny.jsonl").write_text(json.dumps({"idx": 1, "question": "q", "final": 27.0}) + "\n")
    problems = load_suite(write_card(tmp_path, VALID_CARD))
    assert problems[0].answer == "27"


def test_column_missing_from_data_is_named(tmp_path):
    (tmp_path / "tiny.jsonl").write_text((FIXTURES / "tiny.jsonl").read_text())
    card = card_with(fields={"prompt": "problem", "answer": "final"})
    with pytest.raises(CardError) as error:
        load_suite(write_card(tmp_path, card))
    assert "['problem']" in str(error.value)
    assert "'question'" in str(error.value)


def test_column_missing_from_one_row(tmp_path):
    rows = [{"idx": 1, "question": "q", "final": 1}, {"idx": 2, "final": 2}]
    (tmp_path / "tiny.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(CardError, match=r"row 1: column 'question' \(fields.prompt\) is missing"):
        load_suite(write_card(tmp_path, VALID_CARD))


def test_parquet_missing_column_is_named(tmp_path):
    import pandas as pd

    pd.DataFrame([{"q": "x", "a": "1"}]).to_parquet(tmp_path / "data.parquet")
    card = card_with(source={"kind": "parquet", "path": "data.parquet"})
    with pytest.raises(CardError, match=r"column\(s\) \['final', 'idx', 'question'\]"):
        load_suite(write_card(tmp_path, card))


def test_duplicate_ids_rejected(tmp_path):
    rows = [{"idx": 1, "question": "q", "final": 1}, {"idx": 1, "question": "r", "final": 2}]
    (tmp_path / "tiny.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(ProblemFormatError, match="duplicate problem id '1'"):
        load_suite(write_card(tmp_path, VALID_CARD))


def test_empty_answer_rejected(tmp_path):
    (tmp_path / "tiny.jsonl").write_text(json.dumps({"idx": 1, "question": "q", "final": " "}) + "\n")
    with pytest.raises(ProblemFormatError, match="'answer' is empty"):
        load_suite(write_card(tmp_path, VALID_CARD))


def test_missing_card_key_named():
    card = card_with()
    del card["answer_type"]
    with pytest.raises(CardError, match=r"missing key\(s\) \['answer_type'\]"):
        parse_card(card)


def test_unknown_card_key_named():
    with pytest.raises(CardError, match=r"unknown key\(s\) \['splt'\]; valid keys are"):
        parse_card(card_with(splt="test"))


def test_unknown_problem_field_named():
    card = card_with(fields={"prompt": "question", "answer": "final", "gold": "final"})
    with pytest.raises(CardError, match=r"unknown Problem field\(s\) \['gold'\]"):
        parse_card(card)


def test_required_field_mapping_named():
    with pytest.raises(CardError, match=r"fields lacks \['answer'\]"):
        parse_card(card_with(fields={"prompt": "question"}))


def test_unknown_source_kind_named():
    with pytest.raises(CardError, match=r"source.kind 'csv' is not one of \['hub', 'jsonl', 'parquet'\]"):
        parse_card(card_with(source={"kind": "csv", "path": "x.csv"}))


def test_hub_source_needs_split():
    with pytest.raises(CardError, match=r"missing key\(s\) \['split'\]"):
        parse_card(card_with(source={"kind": "hub", "dataset": "org/name"}))


def test_answer_type_checked():
    with pytest.raises(CardError, match=r"answer_type 'text' is not one of \['integer', 'math'\]"):
        parse_card(card_with(answer_type="text"))


def test_metric_needs_enough_samples():
    protocol = {"metric": "avg@32", "num_samples": 4, "temperature": 0.6, "max_new_tokens": 32}
    with pytest.raises(CardError, match="needs at least 32 samples"):
        parse_card(card_with(protocol=protocol))


def test_metric_format_checked():
    protocol = {"metric": "accuracy", "num_samples": 4, "temperature": 0.6, "max_new_tokens": 32}
    with pytest.raises(CardError, match="must look like 'avg@32'"):
        parse_card(card_with(protocol=protocol))


def test_k_values_bounded_by_samples():
    protocol = {"metric": "avg@4", "num_samples": 4, "k_values": [1, 8], "temperature": 0.6, "max_new_tokens": 32}
    with pytest.raises(CardError, match=r"k_values \[8\] are outside"):
        parse_card(card_with(protocol=protocol))


def test_prompt_template_needs_placeholder():
    with pytest.raises(CardError, match="exactly once"):
        parse_card(card_with(prompt_template="Solve: {problem}"))


def test_constant_domain_and_column_conflict():
    card = card_with(domain="x", fields={"prompt": "question", "answer": "final", "domain": "topic"})
    with pytest.raises(CardError, match="either a constant 'domain' or fields.domain"):
        parse_card(card)


def test_unknown_card_name_lists_shipped():
    with pytest.raises(CardError, match=r"unknown suite card 'aime2024'; shipped cards are \[.*'aime24'"):
        load_card("aime2024")


def test_missing_card_file():
    with pytest.raises(FileNotFoundError, match="suite card not found"):
        load_card("nowhere/card.yaml")


def test_hub_source_calls_load_dataset(monkeypatch):
    import datasets

    calls = []

    def fake_load_dataset(path, name=None, split=None, revision=None):
        calls.append((path, name, split, revision))
        return datasets.Dataset.from_list([
            {"id": 60, "problem": "Find x.", "solution": "x = 33", "answer": "033", "url": "u", "year": "2024"},
        ])

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    problems = load_suite("aime24")
    assert calls == [("HuggingFaceH4/aime_2024", None, "train", None)]
    assert problems[0].id == "60"
    assert problems[0].answer == "033"
    assert problems[0].prompt.startswith("Find x.\nPlease reason step by step")
    assert grade_response("so \\boxed{33}", problems[0].answer, "integer", "eos").correct


def test_arithmetic_questions_have_right_answers():
    rng = random.Random(3)
    operations = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "times": lambda a, b: a * b}
    for domain in DOMAINS:
        for _ in range(50):
            question, answer = draw_question(domain, rng, 50)
            match = re.fullmatch(r"What is (\d+) (\+|-|times) (\d+)\?", question)
            assert match is not None, question
            assert operations[match[2]](int(match[1]), int(match[3])) == answer
            assert answer >= 0


def test_arithmetic_demonstration_text():
    assert demonstration("What is 17 + 25?", 42) == "17 + 25 = 42.\nThe answer is \\boxed{42}."
    assert demonstration("What is 3 times 14?", 42) == "3 * 14 = 42.\nThe answer is \\boxed{42}."


def test_arithmetic_splits_disjoint_and_seeded():
    cfg = ArithmeticConfig(seed=1, test_size=30, sft_size=60, rl_size=60)
    splits = build_arithmetic_splits(cfg)
    questions = {name: {p.metadata["question"] for p in problems} for name, problems in splits.items()}
    assert len(questions["test"]) == 30
    assert not questions["test"] & questions["sft"]
    assert not questions["test"] & questions["rl"]
    assert not questions["sft"] & questions["rl"]
    assert build_arithmetic_splits(cfg) == splits
    assert build_arithmetic_splits(ArithmeticConfig(seed=2, test_size=30, sft_size=60, rl_size=60)) != splits
    assert [p.domain for p in splits["test"][:3]] == ["add", "sub", "mul"]


def test_arithmetic_solutions_grade_correct():
    for problem in build_arithmetic_splits(ArithmeticConfig(test_size=9, sft_size=9, rl_size=9))["sft"]:
        assert grade_response(problem.solution, problem.answer, "integer", "eos").correct


def test_arithmetic_distinct_counts():
    assert distinct_questions("add", 10) == 81
    assert distinct_questions("sub", 10) == 45
    assert distinct_questions("mul", 10) == 99


def test_arithmetic_config_rejects_too_many():
    with pytest.raises(ValueError, match="raise max_operand"):
        ArithmeticConfig(max_operand=10, test_size=100, sft_size=100, rl_size=100)
    with pytest.raises(ValueError, match="test_size must be a positive integer"):
        ArithmeticConfig(test_size=0)


def test_arithmetic_data_loads_through_card(tmp_path):
    paths = build_arithmetic_data(ArithmeticConfig(test_size=6, sft_size=6, rl_size=6), tmp_path)
    assert sorted(paths) == ["rl", "sft", "test"]
    problems = load_suite("arith", root=tmp_path)
    assert [p.id for p in problems] == [p.id for p in read_problems(paths["test"])]
    assert problems[0].prompt.endswith("Give the final answer as \\boxed{N}.")


def test_field_paths_into_nested_columns(tmp_path):
    rows = [{"idx": 3, "prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "1+1?"}],
             "target": [{"role": "assistant", "content": "\\boxed{2}"}], "reward_model": {"ground_truth": "2"}}]
    (tmp_path / "tiny.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    card = card_with(fields={"id": "idx", "prompt": "prompt.-1.content", "answer": "reward_model.ground_truth",
                             "solution": "target.0.content"})
    problems = load_suite(write_card(tmp_path, card))
    assert problems[0].prompt == "1+1?"
    assert problems[0].answer == "2"
    assert problems[0].solution == "\\boxed{2}"


def test_field_path_errors_named(tmp_path):
    rows = [{"idx": 3, "prompt": [{"content": "q"}], "final": "1"}]
    (tmp_path / "tiny.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    card = card_with(fields={"prompt": "prompt.2.content", "answer": "final"})
    with pytest.raises(CardError, match=r"field path 'prompt.2.content': '2' is not an index of a list of 1"):
        load_suite(write_card(tmp_path, card))
    card = card_with(fields={"prompt": "prompt.0.text", "answer": "final"})
    with pytest.raises(CardError, match=r"field path 'prompt.0.text': no 'text' in dict value"):
        load_suite(write_card(tmp_path, card))
    card = card_with(fields={"prompt": "question.text", "answer": "final"})
    with pytest.raises(CardError, match=r"column\(s\) \['question'\]"):
        load_suite(write_card(tmp_path, card))


def test_field_paths_in_parquet(tmp_path):
    import pandas as pd

    pd.DataFrame([{"prompt": [{"role": "user", "content": "2+2?"}], "reward_model": {"ground_truth": "4"}}]) \
        .to_parquet(tmp_path / "data.parquet")
    card = card_with(source={"kind": "parquet", "path": "data.parquet"},
                     fields={"prompt": "prompt.0.content", "answer": "reward_model.ground_truth"})
    problems = load_suite(write_card(tmp_path, card))
    assert problems[0].prompt == "2+2?"
    assert problems[0].answer == "4"


def test_card_suite_command_writes_problems(tmp_path):
    from repro.cli import main

    out = tmp_path / "suite.jsonl"
    assert main(["card-suite", "--card", str(FIXTURES / "tiny_jsonl.yaml"), "--out", str(out)]) == 0
    problems = read_problems(out)
    assert [p.id for p in problems] == ["7", "8", "9"]
    assert problems[0].prompt.startswith("Question: What is 2 + 3?")


def test_arith_data_command(tmp_path):
    from repro.cli import main

    assert main(["arith-data", "--out", str(tmp_path), "--test-size", "6", "--sft-size", "9", "--rl-size", "9"]) == 0
    assert len(read_problems(tmp_path / "test.jsonl")) == 6
    assert len(read_problems(tmp_path / "sft.jsonl")) == 9
