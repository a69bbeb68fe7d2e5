"""The lm-eval bridge (repro.eval.lmeval_bridge): task files, response handling, and a cross-check
of lm-eval against the native evaluator on the same checkpoint with greedy decoding."""

import json
from pathlib import Path

import pytest
import torch

from repro.data.schema import Problem, write_problems
from repro.eval.lmeval_bridge import (
    TASK_DIR,
    TASK_MODULE,
    card_settings,
    finish_reason_of,
    generation_kwargs,
    grade_lmeval_responses,

    run_lmeval,
    task_name_for,
    unwrap_responses,
    write_task,
)
from repro.eval.runner import SamplingSettings, evaluate
from repro.models.io import save_model_folder
from repro.models.tokens import prompt_token_ids
from repro.organism import PretrainConfig, build_model, build_tokenizer

# (prompt, gold, memorized response, response ends with EOS). The model learns these by heart,
# so greedy decoding gives a known mix: right, wrong, no answer, and cut by the length limit.
MEMORIZED = [
    ("Q: 2+3\nA: ", "5", "5 \\boxed{5}", True),                          # correct
    ("Q: 4+4\nA: ", "8", "\\boxed{8}", True),                            # correct
    ("Q: 7+1\nA: ", "8", "\\boxed{9}", True),                            # wrong answer
    ("Q: 6+3\nA: ", "9", "no idea", True),                               # no answer
    ("Q: 9+9\nA: ", "18", "\\boxed{18} and so on and so on and on", False),  # truncated: no answer
    ("Q: 1+1\nA: ", "2", "\\boxed{2}", True),                            # correct
]
EXPECTED_CORRECT = {"m0": True, "m1": True, "m2": False, "m3": False, "m4": False, "m5": True}
MAX_NEW_TOKENS = 24


def memorize(tokenizer, items, steps=400):
    """Train a tiny organism model until it reproduces ``items`` (full-batch AdamW, fixed seed)."""
    torch.manual_seed(0)
    model = build_model(PretrainConfig(hidden_size=64, num_layers=2, num_heads=4, intermediate_size=128))
    sequences = []
    for prompt, _, response, ends in items:
        prompt_ids = prompt_token_ids(tokenizer, prompt)
        response_ids = tokenizer(response, add_special_tokens=False)["input_ids"]
        sequences.append((prompt_ids + response_ids + ([tokenizer.eos_token_id] if ends else []), len(prompt_ids)))
    length = max(len(ids) for ids, _ in sequences)
    input_ids = torch.zeros(len(sequences), length, dtype=torch.long)
    attention = torch.zeros(len(sequences), length, dtype=torch.long)
    labels = torch.full((len(sequences), length), -100)
    for row, (ids, prompt_len) in enumerate(sequences):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        attention[row, : len(ids)] = 1
        labels[row, prompt_len: len(ids)] = torch.tensor(ids[prompt_len:])
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(steps):
        loss = model(input_ids=input_ids, attention_mask=attention, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if loss.item() < 0.005:
            break
    return model.eval()


@pytest.fixture(scope="module")
def memorized(tmp_path_factory):
    """A model folder and suite file where greedy answers are known (see MEMORIZED)."""
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("memorized")
    tokenizer = build_tokenizer()
    model = memorize(tokenizer, MEMORIZED)
    save_model_folder(model, tokenizer, folder / "model")
    problems = [Problem(id=f"m{i}", prompt=prompt, answer=gold, domain=f"d{i % 2}")
                for i, (prompt, gold, _, _) in enumerate(MEMORIZED)]
    write_problems(folder / "suite.jsonl", problems)
    return folder, problems


def per_problem(samples_path: Path) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = {}
    for line in samples_path.read_text().splitlines():
        record = json.loads(line)
        grouped.setdefault(record["problem_id"], []).append(record)
    return grouped


def test_lmeval_matches_native_greedy(memorized, tmp_path):
    folder, problems = memorized
    settings = SamplingSettings(n=2, temperature=0.0, max_new_tokens=MAX_NEW_TOKENS, batch_size=1)
    native = evaluate(folder / "model", folder / "suite.jsonl", "memorized", tmp_path / "native", settings, [1, 2])
    bridged = run_lmeval(folder / "model", problems, tmp_path / "lmeval", suite="memorized",
                         answer_type="integer", settings=settings, k_values=[1, 2])

    native_samples = per_problem(tmp_path / "native" / "samples.jsonl")
    lmeval_samples = per_problem(tmp_path / "lmeval" / "samples.jsonl")
    assert sorted(lmeval_samples) == sorted(native_samples)
    for problem_id, expected in EXPECTED_CORRECT.items():
        native_correct = [r["correct"] for r in native_samples[problem_id]]
        lmeval_correct = [r["correct"] for r in lmeval_samples[problem_id]]
        assert native_correct == [expected, expected], problem_id
        assert lmeval_correct == native_correct, problem_id
    for problem_id in native_samples:
        for ours, theirs in zip(native_samples[problem_id], lmeval_samples[problem_id]):
            assert theirs["response"] == ours["response"], problem_id
            assert theirs["finish_reason"] == ours["finish_reason"], problem_id
            assert theirs["extracted"] == ours["extracted"], problem_id
    assert native["metrics"]["avg@2"]["value"] == pytest.approx(0.5)
    assert bridged["metrics"]["avg@2"]["value"] == native["metrics"]["avg@2"]["value"]
    assert bridged["rates"] == native["rates"]


def test_lmeval_own_metrics_agree(memorized, tmp_path):
    folder, problems = memorized
    settings = SamplingSettings(n=2, temperature=0.0, max_new_tokens=MAX_NEW_TOKENS, batch_size=1)
    metrics = run_lmeval(folder / "model", problems, tmp_path, suite="memorized", answer_type="integer",
                         settings=settings, k_values=[1, 2])
    assert metrics["evaluator"] == "lm-eval"
    assert metrics["lmeval"]["avg_at_2,all-samples"] == pytest.approx(0.5)
    assert metrics["lmeval"]["no_answer,all-samples"] == pytest.approx(2 / 6)
    assert metrics["lmeval"]["truncated,all-samples"] == pytest.approx(1 / 6)
    assert metrics["rates"]["truncated"] == pytest.approx(1 / 6)
    stored = json.loads((tmp_path / "lmeval_results.json").read_text())
    assert "repro_memorized" in stored["results"]


def test_lmeval_sampling_keeps_every_repeat(memorized, tmp_path):
    folder, problems = memorized
    settings = SamplingSettings(n=4, temperature=1.0, max_new_tokens=8, batch_size=1, seed=7)
    run_lmeval(folder / "model", problems[:2], tmp_path, suite="sampled", answer_type="integer",
               settings=settings, k_values=[1, 4])
    samples = per_problem(tmp_path / "samples.jsonl")
    assert [r["sample_index"] for r in samples["m0"]] == [0, 1, 2, 3]
    assert len(samples["m1"]) == 4


def test_lmeval_card_cli(memorized, tmp_path):
    from repro.cli import main

    folder, problems = memorized
    card = tmp_path / "memorized.yaml"
    card.write_text(
        "name: memorized\n"
        f"source: {{kind: jsonl, path: {folder / 'suite.jsonl'}}}\n"
        "fields: {id: id, prompt: prompt, answer: answer, domain: domain}\n"
        "answer_type: integer\n"
        f"protocol: {{metric: avg@2, num_samples: 2, temperature: 0.0, max_new_tokens: {MAX_NEW_TOKENS}}}\n"
    )
    code = main(["lmeval", "--card", str(card), "--model", str(folder / "model"), "--out", str(tmp_path / "out"),
                 "--max-problems", "4"])
    assert code == 0
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["num_problems"] == 4
    assert metrics["suite"] == "memorized"
    # Round-robin over the domains d0, d1 takes m0, m1, m2, m3: two of them are right.
    assert metrics["metrics"]["avg@2"]["value"] == pytest.approx(0.5)


def test_write_task_files(tmp_path):
    tokenizer = build_tokenizer()
    problems = [Problem(id="a", prompt="Q: 1+1\nA: ", answer="2")]
    settings = SamplingSettings(n=3, temperature=0.6, top_p=0.95, max_new_tokens=16)
    task = write_task(problems, tmp_path, suite="organism aime", answer_type="integer", settings=settings,
                      tokenizer=tokenizer, tokenizer_dir=tmp_path)
    assert task == "repro_organism_aime"
    text = (tmp_path / f"{task}.yaml").read_text()
    assert "repeats: 3" in text
    assert "function: take_first_k" in text
    assert "k: 3" in text
    assert f"!function {TASK_MODULE}.process_results" in text
    doc = json.loads((tmp_path / "problems.jsonl").read_text())
    assert doc == {"id": "a", "domain": "default", "answer": "2", "prompt_text": "<bos>Q: 1+1\nA: "}
    assert "NUM_SAMPLES = 3" in (tmp_path / f"{TASK_MODULE}.py").read_text()


class NoSpecialTokenizer:
    """A tokenizer that splits '<s>' into characters: its BOS text does not round-trip."""

    bos_token = "<s>"
    bos_token_id = 1
    chat_template = None

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [ord(c) for c in text]}


def test_write_task_rejects_prompt_mismatch(tmp_path):
    problems = [Problem(id="bad-1", prompt="hi", answer="2")]
    with pytest.raises(ValueError, match="problem 'bad-1': the prompt text for lm-eval tokenizes to different ids"):
        write_task(problems, tmp_path, suite="x", answer_type="integer", settings=SamplingSettings(n=1),
                   tokenizer=NoSpecialTokenizer(), tokenizer_dir=tmp_path)


def test_generation_kwargs_greedy_and_sampled():
    greedy = generation_kwargs(SamplingSettings(temperature=0.0, max_new_tokens=5))
    assert greedy == {"until": [], "max_gen_toks": 5, "do_sample": False, "temperature": 0.0}
    sampled = generation_kwargs(SamplingSettings(temperature=0.6, top_p=0.95, max_new_tokens=7))
    assert sampled == {"until": [], "max_gen_toks": 7, "do_sample": True, "temperature": 0.6, "top_p": 0.95,
                       "top_k": 0}


def test_unwrap_responses_shapes():
    assert unwrap_responses([["a", "b"]], 2) == ["a", "b"]
    assert unwrap_responses(["a", "b"], 2) == ["a", "b"]
    with pytest.raises(ValueError, match="expected 3 responses per problem from lm-eval, got 1"):
        unwrap_responses([["a"]], 3)
    with pytest.raises(ValueError, match="expected 2 response strings"):
        unwrap_responses("ab", 2)


def test_finish_reason_from_token_count():
    tokenizer = build_tokenizer()
    assert finish_reason_of("abcd", tokenizer, 4) == "length"
    assert finish_reason_of("abc", tokenizer, 4) == "eos"


def test_grade_lmeval_responses_counts(tmp_path):
    save_model_folder(build_model(PretrainConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64)),
                      build_tokenizer(), tmp_path / "model")
    doc = {"answer": "42"}
    responses = [["\\boxed{42}", "\\boxed{41}", "none", "\\boxed{42} and more text"]]
    result = grade_lmeval_responses(doc, responses, "integer", 20, 4, str(tmp_path / "model"))
    # The last response re-tokenizes to 24 >= 20 tokens: cut by the limit, so it has no answer.
    assert result == {"avg_at_4": 0.25, "no_answer": 0.5, "truncated": 0.25}


def test_card_settings_from_protocol():
    from repro.data.cards import load_card

    settings, k_values = card_settings(load_card("aime24"))
    assert (settings.n, settings.temperature, settings.top_p) == (32, 0.6, 0.95)
    assert k_values == [1, 8, 32]
    settings, k_values = card_settings(load_card("aime24"), num_samples=4, temperature=0.0)
    assert (settings.n, settings.temperature) == (4, 0.0)
    assert k_values == [1, 4]


def test_task_name_cleaned():
    assert task_name_for("hmmt-feb.25") == "repro_hmmt_feb_25"


def test_lmeval_card_rejects_large_k(memorized, tmp_path):
    folder, problems = memorized
    with pytest.raises(ValueError, match=r"k_values \[4\] are outside \[1, n=2\]"):
        run_lmeval(folder / "model", problems, tmp_path, suite="x", answer_type="integer",
                   settings=SamplingSettings(n=2), k_values=[1, 4])
    assert not (tmp_path / TASK_DIR).exists()
