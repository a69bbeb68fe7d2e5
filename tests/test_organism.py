"""Tests of repro.organism: tokenizer, step writers, generators, corpora, pretraining, base folder."""

from __future__ import annotations

import json
import random
import shutil

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from repro.data.schema import Problem, read_problems
from repro.organism import (
    DEFAULT_BASE_DIR,
    DOMAINS,
    OrganismConfig,
    PretrainConfig,
    build_model,
    build_organism_data,
    build_tokenizer,
    checkpoint_dir_for,
    config_hash,
    find_step_errors,
    pretrain_base,
    privileged_prompt,
    question_of,
    verify_base,
)
from repro.organism.corpus import build_test_suites, format_prompt
from repro.organism.generators import draw_params, gold_answer, question_text, write_solution
from repro.organism.pretrain import batch_indices, learning_rate
from repro.organism.steps import StepNoise, add_step, div_step, inverse_check, mul_step, sub_step
from repro.organism.tokenizer import CHARACTERS

SMALL = OrganismConfig(
    seed=3, test_per_domain=4, sft_size=12, rl_size=12, privileged_size=12, pretrain_size=48,
)
TINY_MODEL = dict(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, max_position_embeddings=512)


@pytest.fixture(scope="module")
def small_data(tmp_path_factory):
    out = tmp_path_factory.mktemp("organism_data")
    build_organism_data(SMALL, out)
    return out


@pytest.fixture(scope="module")
def default_suites():
    return build_test_suites(OrganismConfig())


# Tokenizer


def test_tokenizer_round_trip_exact():
    tokenizer = build_tokenizer()
    texts = [
        "Q: 347+185-92\nA: 347+185: 7+5+0=12 =532.\n\\boxed{440}",
        "  leading and trailing spaces  ",
        "\n\nnewlines\n",
        "".join(CHARACTERS),
    ]
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert len(ids) == len(text)
        assert tokenizer.decode(ids) == text


def test_tokenizer_bos_and_left_padding():
    tokenizer = build_tokenizer()
    ids = tokenizer("Q: 1")["input_ids"]
    assert ids[0] == tokenizer.bos_token_id
    assert len(ids) == 5
    batch = tokenizer(["Q: 1", "Q: 123"], padding=True)
    assert batch["input_ids"][0][:2] == [tokenizer.pad_token_id] * 2
    assert batch["attention_mask"][0] == [0, 0, 1, 1, 1, 1, 1]
    assert len({tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id}) == 3


def test_tokenizer_saved_and_reloaded(tmp_path):
    build_tokenizer().save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    text = "check 440+92: 0+2+0=02 =532 ok.\n\\boxed{440}"
    ids = reloaded(text, add_special_tokens=False)["input_ids"]
    assert reloaded.decode(ids) == text
    assert reloaded.padding_side == "left"


# Column-wise steps


def test_step_texts_hand_computed():
    assert add_step(347, 185).text == "347+185: 7+5+0=12 4+8+1=13 3+1+1=05 =532."
    assert add_step(647, 585).text == "647+585: 7+5+0=12 4+8+1=13 6+5+1=12 =1232."
    assert add_step(47, 185).text == "47+185: 7+5+0=12 4+8+1=13 0+1+1=02 =232."
    assert sub_step(532, 92).text == "532-92: 2-2-0=00 3-9-0=14 5-0-1=04 =440."
    assert sub_step(1000, 1).text == "1000-1: 0-1-0=19 0-0-1=19 0-0-1=19 1-0-1=00 =999."
    assert mul_step(123, 7).text == "123*7: 3*7+0=21 2*7+2=16 1*7+1=08 =861."
    assert mul_step(823, 7).result == 5761
    assert div_step(2604, 7).text == "2604/7: 2/7=0r2 26/7=3r5 50/7=7r1 14/7=2r0 =372."


def test_step_invalid_operands_raise():
    with pytest.raises(ValueError, match="a >= b"):
        sub_step(5, 9)
    with pytest.raises(ValueError, match="exact division"):
        div_step(10, 3)
    with pytest.raises(ValueError, match="one digit"):
        mul_step(12, 10)
    with pytest.raises(ValueError, match="non-negative"):
        add_step(-1, 2)


def test_inverse_check_verdicts():
    assert inverse_check("-", 532, 92, 440) == "check 440+92: 0+2+0=02 4+9+0=13 4+0+1=05 =532 ok."
    assert inverse_check("/", 2604, 7, 372).endswith("=2604 ok.")
    assert inverse_check("/", 2604, 7, 371).endswith("=2597 no.")
    assert inverse_check("+", 347, 185, 532).endswith("=347 ok.")


def test_find_step_errors_flags_wrong_column_and_result():
    assert find_step_errors("347+185: 7+5+0=12 4+8+1=13 3+1+1=05 =532.") == []
    wrong_column = find_step_errors("347+185: 7+5+0=12 4+8+1=14 3+1+1=05 =542.")
    assert len(wrong_column) == 2
    assert "4+8+1=14" in wrong_column[0]
    assert "wrong result 542" in wrong_column[1]
    # A wrong column followed by "wait" and the correction counts as retracted.
    assert find_step_errors("347+185: 7+5+0=12 4+8+1=14 wait 4+8+1=13 3+1+1=05 =532.") == []
    assert find_step_errors("2604/7: 2/7=0r2 26/7=3r5 50/7=7r1 14/7=2r0 =372.") == []
    assert len(find_step_errors("2604/7: 2/7=0r2 26/7=4r5 50/7=7r1 14/7=2r0 =472.")) == 2


def test_noisy_steps_one_wrong_column():
    noise = StepNoise(random.Random(0), error_prob=1.0, wait_prob=0.0)
    for _ in range(20):
        step = add_step(347, 185, noise)
        assert step.result != 532
        assert len(find_step_errors(step.text)) == 2  # the column and the result
    noise = StepNoise(random.Random(0), error_prob=1.0, wait_prob=1.0)
    step = mul_step(123, 7, noise)
    assert step.result == 861
    assert " wait " in step.text
    assert find_step_errors(step.text) == []


# Generators


def test_question_and_answer_hand_computed():
    addsub = {"start": 347, "ops": [["+", 185], ["-", 92]]}
    assert question_text("addsub", addsub) == "347+185-92"
    assert gold_answer("addsub", addsub) == 440
    mul = {"a": 123, "d": 7, "op": "-", "b": 45, "e": 3}
    assert question_text("mul", mul) == "123*7-45*3"
    assert gold_answer("mul", mul) == 726
    linear = {"a": 9, "sign": "-", "b": 45, "c": 2, "e": 2559, "x": 372}
    assert question_text("linear", linear) == "solve 9x-45=2x+2559"
    assert gold_answer("linear", linear) == 372
    solution, stated = write_solution("linear", linear)
    assert stated == 372
    assert solution.splitlines()[0] == "9x-2x=7x."
    assert solution.splitlines()[1].startswith("2559+45: ")
    assert solution.endswith("=2604 ok.\n\\boxed{372}")


def test_unknown_domain_and_tier_raise():
    with pytest.raises(ValueError, match="valid domains"):
        draw_params("geometry", 1, random.Random(0))
    with pytest.raises(ValueError, match="valid tiers"):
        draw_params("mul", 3, random.Random(0))


def test_generators_deterministic_under_seed(tmp_path, small_data):
    again = tmp_path / "again"
    build_organism_data(SMALL, again)
    for name in ("suites/aime.jsonl", "suites/hmmt.jsonl", "sft.jsonl", "rl.jsonl", "privileged.jsonl", "pretrain.jsonl"):
        assert (again / name).read_bytes() == (small_data / name).read_bytes(), name
    other = tmp_path / "other"
    build_organism_data(OrganismConfig.from_dict({**SMALL.to_dict(), "seed": 4}), other)
    assert (other / "sft.jsonl").read_bytes() != (small_data / "sft.jsonl").read_bytes()


def test_test_answers_in_range_and_spread(default_suites):
    for suite, problems in default_suites.items():
        for domain in DOMAINS:
            answers = [int(p.answer) for p in problems if p.domain == domain]
            assert len(answers) == OrganismConfig().test_per_domain
            assert all(0 <= a <= 999 for a in answers)
            assert len(set(answers)) >= 100, (suite, domain, len(set(answers)))


def test_reference_solutions_correct(default_suites, small_data):
    problems = [p for suite in default_suites.values() for p in suite]
    problems += read_problems(small_data / "sft.jsonl") + read_problems(small_data / "privileged.jsonl")
    for problem in problems:
        assert problem.solution.endswith(f"\\boxed{{{problem.answer}}}"), problem.id
        assert find_step_errors(problem.solution) == [], problem.id
        assert "\ncheck " in problem.solution, problem.id
        assert problem.solution.count(" ok.") == 1, problem.id
        assert gold_answer(problem.domain, problem.metadata["params"]) == int(problem.answer)


def test_suites_have_expected_tiers(default_suites):
    assert {p.tier for p in default_suites["aime"]} == {1}
    assert {p.tier for p in default_suites["hmmt"]} == {2}
    ids = [p.id for suite in default_suites.values() for p in suite]
    assert len(ids) == len(set(ids))


def test_tier_two_questions_have_more_steps(default_suites):
    for suite, tier in (("aime", 1), ("hmmt", 2)):
        for problem in default_suites[suite]:
            question = problem.metadata["question"]
            if problem.domain == "addsub":
                assert sum(question.count(op) for op in "+-") == tier + 1, question
            elif problem.domain == "mul":
                assert question.count("*") == tier, question
            else:
                assert question.count("x") == tier, question


# Corpora


def test_zero_train_test_overlap(small_data):
    test_questions = set()
    for suite in ("aime", "hmmt"):
        test_questions |= {p.metadata["question"] for p in read_problems(small_data / "suites" / f"{suite}.jsonl")}
    assert len(test_questions) == 2 * 3 * SMALL.test_per_domain
    for name in ("sft.jsonl", "rl.jsonl", "privileged.jsonl"):
        for problem in read_problems(small_data / name):
            assert question_of(problem.prompt) not in test_questions, (name, problem.id)
    with open(small_data / "pretrain.jsonl", encoding="utf-8") as handle:
        for line in handle:
            assert question_of(json.loads(line)["text"]) not in test_questions


def test_training_sets_skip_banned_questions():
    from repro.organism.corpus import build_training_set

    unbanned = build_training_set(SMALL, "sft", 200, set())
    banned = {p.metadata["question"] for p in unbanned[:50]}
    redrawn = build_training_set(SMALL, "sft", 200, banned)
    assert len(redrawn) == 200
    assert not banned & {p.metadata["question"] for p in redrawn}


def test_corpus_formats(small_data):
    sft = read_problems(small_data / "sft.jsonl")
    assert all(p.prompt == format_prompt(p.metadata["question"]) for p in sft)
    assert all(p.prompt.startswith("Q: ") and p.prompt.endswith("\nA: ") for p in sft)
    privileged = read_problems(small_data / "privileged.jsonl")
    for problem in privileged:
        assert problem.prompt == f"R: {problem.solution}\nQ: {problem.metadata['question']}\nA: "
    rl = read_problems(small_data / "rl.jsonl")
    assert len(rl) == SMALL.rl_size
    assert {p.domain for p in rl} == set(DOMAINS)
    records = [json.loads(line) for line in open(small_data / "pretrain.jsonl", encoding="utf-8")]
    assert len(records) == SMALL.pretrain_size
    phases = [r["phase"] for r in records]
    assert phases == ["clean"] * 36 + ["noisy"] * 12
    config = json.loads((small_data / "organism_config.json").read_text())
    assert config["config_hash"] == config_hash(SMALL)


def test_noisy_phase_has_wrong_steps_and_privileged_copies(tmp_path):
    cfg = OrganismConfig(test_per_domain=2, sft_size=1, rl_size=1, privileged_size=1, pretrain_size=600,
                         pretrain_clean_fraction=0.5, pretrain_privileged_fraction=0.3)
    build_organism_data(cfg, tmp_path)
    records = [json.loads(line) for line in open(tmp_path / "pretrain.jsonl", encoding="utf-8")]
    clean = [r["text"] for r in records if r["phase"] == "clean"]
    noisy = [r["text"] for r in records if r["phase"] == "noisy"]
    assert all(find_step_errors(text) == [] for text in clean)
    plain_noisy = [t for t in noisy if not t.startswith("R: ")]
    wrong = sum(bool(find_step_errors(t)) for t in plain_noisy)
    assert 0.3 < wrong / len(plain_noisy) < 0.9
    assert any(" wait " in t for t in plain_noisy)
    privileged = [t for t in records if t["text"].startswith("R: ")]
    assert 0.2 < len(privileged) / len(records) < 0.4
    for record in privileged:
        reference, response = record["text"][3:].split("\nQ: ", 1)[0], record["text"].split("\nA: ", 1)[1]
        assert response == reference
        assert find_step_errors(response) == []


def test_privileged_prompt_format():
    problem = Problem(id="p", prompt="Q: 1+2\nA: ", answer="3", solution="1+2: 1+2+0=03 =3.\n\\boxed{3}")
    assert privileged_prompt(problem) == "R: 1+2: 1+2+0=03 =3.\n\\boxed{3}\nQ: 1+2\nA: "
    with pytest.raises(ValueError, match="no reference solution"):
        privileged_prompt(Problem(id="p", prompt="Q: 1+2\nA: ", answer="3"))


# Configs


def test_config_unknown_key_lists_valid_keys():
    with pytest.raises(ValueError, match="unknown OrganismConfig key 'sedd'.*'seed'"):
        OrganismConfig.from_dict({"sedd": 1})
    with pytest.raises(ValueError, match="unknown PretrainConfig key 'learning_rate'.*'lr'"):
        PretrainConfig.from_dict({"learning_rate": 1e-3})
    assert PretrainConfig.from_dict({"lr": 1e-3}).lr == 1e-3


def test_config_invalid_values_raise():
    with pytest.raises(ValueError, match="step_error_prob=1.5"):
        OrganismConfig(step_error_prob=1.5)
    with pytest.raises(ValueError, match="must be an integer"):
        PretrainConfig(batch_size=2.5)
    with pytest.raises(ValueError, match="divisible"):
        PretrainConfig(hidden_size=30, num_heads=4)


def test_config_hash_changes_with_fields():
    assert config_hash(PretrainConfig()) == config_hash(PretrainConfig())
    assert config_hash(PretrainConfig()) != config_hash(PretrainConfig(lr=1e-4))


# Pretraining


def test_learning_rate_schedule_hand_computed():
    cfg = PretrainConfig(lr=1.0, warmup_steps=2, min_lr_ratio=0.1)
    assert learning_rate(cfg, 0, 12) == pytest.approx(0.5)
    assert learning_rate(cfg, 1, 12) == pytest.approx(1.0)
    assert learning_rate(cfg, 2, 12) == pytest.approx(1.0)
    # Halfway through the decay of a 13-step run (steps 2..12): 0.1 + 0.9 * 0.5 * (1 + cos(pi/2)).
    assert learning_rate(cfg, 7, 13) == pytest.approx(0.55)
    assert learning_rate(cfg, 11, 12) == pytest.approx(0.1)


def test_batch_indices_cover_each_window_once():
    cfg = PretrainConfig(batch_size=4, length_group_batches=3, seed=1)
    lengths = [random.Random(i).randint(1, 50) for i in range(24)]
    first_window = [i for step in range(3) for i in batch_indices(cfg, lengths, step)]
    assert sorted(first_window) == list(range(12))
    second_window = [i for step in range(3, 6) for i in batch_indices(cfg, lengths, step)]
    assert sorted(second_window) == list(range(12, 24))
    for step in range(6):
        batch = batch_indices(cfg, lengths, step)
        assert batch == batch_indices(cfg, lengths, step)
    # Within a window the batches are length-sorted slices.
    batches = [sorted(lengths[i] for i in batch_indices(cfg, lengths, step)) for step in range(3)]
    batches.sort()
    assert batches[0][-1] <= batches[1][0]
    assert batches[1][-1] <= batches[2][0]


def test_model_size_and_tied_embeddings():
    model = build_model()
    assert 0.9e6 < sum(p.numel() for p in model.parameters()) < 1.2e6
    assert model.lm_head.weight is model.model.embed_tokens.weight
    assert model.generation_config.eos_token_id == build_tokenizer().eos_token_id


def test_tiny_pretraining_writes_loadable_folder_and_resumes(tmp_path, small_data):
    cfg = PretrainConfig(steps=6, batch_size=4, checkpoint_every=2, log_every=2, warmup_steps=2, **TINY_MODEL)

    reference_dir = pretrain_base(cfg, small_data, tmp_path / "reference")
    manifest = json.loads((reference_dir / "manifest.json").read_text())
    assert manifest["steps"] == 6
    assert manifest["tokens_seen"] > 0
    assert manifest["config_hash"] == config_hash(cfg, SMALL)
    assert manifest["seed"] == cfg.seed
    assert manifest["build_time_s"] >= 0
    assert manifest["code_commit"]
    assert set(manifest["files"]) >= {"model.safetensors", "config.json", "tokenizer.json", "generation_config.json"}

    model = AutoModelForCausalLM.from_pretrained(reference_dir)
    tokenizer = AutoTokenizer.from_pretrained(reference_dir)
    batch = tokenizer(["Q: 1+2\nA: ", "Q: 347+185-92\nA: "], return_tensors="pt", padding=True)
    output = model.generate(**batch, max_new_tokens=5, do_sample=False)
    prompt_length = batch["input_ids"].shape[1]
    assert output.shape[0] == 2
    assert prompt_length < output.shape[1] <= prompt_length + 5
    assert model.generation_config.eos_token_id == tokenizer.eos_token_id
    assert model.generation_config.pad_token_id == tokenizer.pad_token_id

    # Interrupt a second run after step 3 (checkpoint at step 2), then resume it.
    class Interrupted(Exception):
        pass

    def interrupt(step, loss):
        if step == 3:
            raise Interrupted

    resumed_dir = tmp_path / "resumed"
    with pytest.raises(Interrupted):
        pretrain_base(cfg, small_data, resumed_dir, on_step=interrupt)
    assert not resumed_dir.exists()
    assert (checkpoint_dir_for(resumed_dir) / "checkpoint.pt").exists()
    assert torch.load(checkpoint_dir_for(resumed_dir) / "checkpoint.pt", weights_only=False)["step"] == 2
    pretrain_base(cfg, small_data, resumed_dir)

    reference = load_file(reference_dir / "model.safetensors")
    resumed = load_file(resumed_dir / "model.safetensors")
    assert reference.keys() == resumed.keys()
    for name in reference:
        assert torch.equal(reference[name], resumed[name]), name


def test_pretraining_rejects_foreign_checkpoint_and_short_corpus(tmp_path, small_data):
    cfg = PretrainConfig(steps=2, batch_size=4, checkpoint_every=1, log_every=1, warmup_steps=1, **TINY_MODEL)

    def stop(step, loss):
        if step == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pretrain_base(cfg, small_data, tmp_path / "run", on_step=stop)
    other = PretrainConfig.from_dict({**cfg.to_dict(), "lr": 1e-4})
    with pytest.raises(ValueError, match="belongs to another config"):
        pretrain_base(other, small_data, tmp_path / "run")
    too_long = PretrainConfig.from_dict({**cfg.to_dict(), "steps": 100})
    with pytest.raises(ValueError, match="needs 400 texts"):
        pretrain_base(too_long, small_data, tmp_path / "long")


# The committed base model


def test_committed_base_matches_manifest():
    manifest = verify_base(DEFAULT_BASE_DIR)
    assert manifest["config_hash"] == config_hash(PretrainConfig(), OrganismConfig())
    assert (DEFAULT_BASE_DIR / "model.safetensors").exists()


def test_verify_base_detects_changed_weights(tmp_path):
    copy = tmp_path / "base"
    shutil.copytree(DEFAULT_BASE_DIR, copy)
    verify_base(copy)
    data = bytearray((copy / "model.safetensors").read_bytes())
    data[-1] ^= 1
    (copy / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="model.safetensors does not match"):
        verify_base(copy)
