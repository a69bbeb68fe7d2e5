"""The command line: evaluation outputs, re-grading, and bad input that leaves nothing half-written."""

import json

import pytest
import torch

from repro.cli import main
from repro.data.schema import ProblemFormatError, read_problems
from repro.organism import OrganismConfig, PretrainConfig, build_model, build_organism_data, build_tokenizer

TINY_MODEL = PretrainConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64)


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-model")
    torch.manual_seed(0)
    build_model(TINY_MODEL).save_pretrained(folder)
    build_tokenizer().save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    folder = tmp_path_factory.mktemp("organism")
    build_organism_data(OrganismConfig(test_per_domain=2, sft_size=8, rl_size=8, privileged_size=4,
                                       pretrain_size=8), folder)
    return folder / "suites" / "aime.jsonl"


def run_eval(model, suite_path, out, *extra):
    return main(["eval", "--model", str(model), "--suite", str(suite_path), "--suite-name", "aime",
                 "--out", str(out), "--num-samples", "2", "-k", "1", "2", "--max-new-tokens", "16", *extra])


def test_eval_writes_samples_and_metrics(tiny_folder, suite, tmp_path):
    assert run_eval(tiny_folder, suite, tmp_path / "out") == 0
    records = [json.loads(line) for line in (tmp_path / "out" / "samples.jsonl").read_text().splitlines()]
    assert len(records) == 2 * len(read_problems(suite))
    for key in ("problem_id", "sample_index", "response", "extracted", "correct", "finish_reason",
                "num_tokens", "sampling"):
        assert key in records[0]
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert set(metrics["metrics"]) >= {"avg@2", "pass@1", "pass@2", "maj@2"}
    assert metrics["sampling"]["max_new_tokens"] == 16


def test_regrade_reproduces_metrics_without_sampling(tiny_folder, suite, tmp_path):
    assert run_eval(tiny_folder, suite, tmp_path / "out") == 0
    samples = tmp_path / "out" / "samples.jsonl"
    records = [json.loads(line) for line in samples.read_text().splitlines()]
    # Make one response correct by hand: re-grading must pick it up from the saved text.
    records[0]["response"] = f"\\boxed{{{records[0]['gold']}}}"
    records[0]["finish_reason"] = "eos"
    samples.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert main(["regrade", "--samples", str(samples), "--out", str(tmp_path / "regraded"), "-k", "1", "2"]) == 0
    metrics = json.loads((tmp_path / "regraded" / "metrics.json").read_text())
    num_problems = len(read_problems(suite))
    assert metrics["metrics"]["avg@2"]["value"] >= 1 / (2 * num_problems)


def test_malformed_jsonl_line_is_named(suite, tiny_folder, tmp_path):
    bad = tmp_path / "bad.jsonl"
    lines = suite.read_text().splitlines()
    bad.write_text(lines[0] + "\n{not json\n")
    with pytest.raises(ProblemFormatError, match=r"bad.jsonl:2: invalid JSON"):
        read_problems(bad)
    assert run_eval(tiny_folder, bad, tmp_path / "out") == 2
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_missing_answer_field_is_named(suite, tiny_folder, tmp_path):
    record = json.loads(suite.read_text().splitlines()[0])
    del record["answer"]
    bad = tmp_path / "no_answer.jsonl"
    bad.write_text(json.dumps(record) + "\n")
    with pytest.raises(ProblemFormatError, match=r"no_answer.jsonl:1: missing required field\(s\) \['answer'\]"):
        read_problems(bad)
    assert run_eval(tiny_folder, bad, tmp_path / "out") == 2
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_train_with_unknown_method_writes_nothing(tiny_folder, tmp_path):
    baseline = tmp_path / "bad.yaml"
    baseline.write_text("method: sft_typo\ntrain: {num_steps: 1}\n")
    status = main(["train", "--baseline", str(baseline), "--init", str(tiny_folder),
                   "--out", str(tmp_path / "run"), "--seed", "0"])
    assert status == 2
    assert not (tmp_path / "run").exists()


def test_train_with_unknown_train_key_writes_nothing(tiny_folder, tmp_path):
    status = main(["train", "--baseline", "baselines/sft.yaml", "--init", str(tiny_folder),
                   "--out", str(tmp_path / "run"), "--seed", "0", "--overrides", '{"learning_rate": 1}'])
    assert status == 2
    assert not (tmp_path / "run").exists()


def test_select_problems_round_robin_over_domains():
    from repro.data.schema import Problem
    from repro.eval.runner import select_problems

    problems = [Problem(id=f"{d}-{i}", prompt="p", answer="1", domain=d) for d in ("a", "b", "c") for i in range(4)]
    chosen = select_problems(problems, 5)
    assert [p.id for p in chosen] == ["a-0", "b-0", "c-0", "a-1", "b-1"]
    assert select_problems(problems, None) == problems
    assert select_problems(problems, 100) == problems
    with pytest.raises(ValueError, match="max_problems must be at least 1"):
        select_problems(problems, 0)
