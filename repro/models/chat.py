"""Prompt formats for training and evaluation: raw text, or the tokenizer's chat template.

"raw" feeds BOS + the prompt's ids (repro.models.tokens.prompt_token_ids). "chat" renders the
prompt as one user turn with the tokenizer's chat template and the generation prompt. Both keep
one rule: a sequence fed to the model starts with exactly one BOS when the tokenizer defines
one. Templates that render BOS themselves (``{{ bos_token }}``) keep theirs, and templates that
do not get one prepended. Text is always tokenized with ``add_special_tokens=False``, so no
second BOS is added on top of the template's.

For SFT on chat data, ``encode_chat_demonstration`` renders the whole conversation, checks that
its token ids start with the prompt's ids, and takes the assistant span from there to the first
end-of-turn id (EOS), which is supervised. A response that cannot be located this way raises an
error naming the sample; it is never dropped silently.

    ids = encode_prompt(tokenizer, "What is 2 + 3?", "chat")
    demo = encode_chat_demonstration(tokenizer, "What is 2 + 3?", "\\\\boxed{5}", sample_id="arith-0")
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

PROMPT_FORMATS = ("raw", "chat")


@dataclass(frozen=True)
class ChatDemonstration:
    """Token ids of prompt + response + end-of-turn, with the response and end token supervised."""

    input_ids: list[int]
    loss_mask: list[bool]
    prompt_len: int


def check_prompt_format(prompt_format: str) -> None:
    if prompt_format not in PROMPT_FORMATS:
        raise ValueError(f"prompt_format {prompt_format!r} is invalid; choose one of {list(PROMPT_FORMATS)}")


def has_chat_template(tokenizer) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def chat_messages(prompt: str, response: str | None = None, system: str | None = None) -> list[dict[str, str]]:
    """Return the conversation of one problem: an optional system turn, the user prompt, the response."""
    messages = []
    if system is not None:
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": prompt})
    if response is not None:
        messages.append({"role": "assistant", "content": response})
    return messages


def with_single_bos(tokenizer, ids: Sequence[int], where: str = "sequence") -> list[int]:
    """Return ``ids`` starting with exactly one BOS (prepended if absent) when the tokenizer has one.

    Raises ValueError when ``ids`` already starts with two BOS tokens, which means the template
    and the caller both added one.
    """
    ids = [int(token) for token in ids]
    bos = tokenizer.bos_token_id
    if bos is None:
        return ids
    if len(ids) >= 2 and ids[0] == bos and ids[1] == bos:
        raise ValueError(f"{where} starts with two BOS tokens (id {bos}); render the text without adding "
                         "BOS on top of the chat template's own")
    if not ids or ids[0] != bos:
        ids = [bos] + ids
    return ids


def _render(tokenizer, messages: list[dict[str, str]], add_generation_prompt: bool) -> str:
    if not has_chat_template(tokenizer):
        raise ValueError(
            f"tokenizer {type(tokenizer).__name__} ({getattr(tokenizer, 'name_or_path', '?')}) has no chat "
            "template; use prompt_format='raw' or a tokenizer that ships one"
        )
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)


def _tokenize(tokenizer, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def chat_prompt_text(tokenizer, prompt: str, system: str | None = None) -> str:
    """Return the chat-rendered prompt text whose tokens (``add_special_tokens=False``) are ``chat_prompt_ids``.

    BOS is written as text in front when the template does not render it, so tools that tokenize
    text themselves (lm-eval) see the same ids as the harness.
    """
    text = _render(tokenizer, chat_messages(prompt, system=system), add_generation_prompt=True)
    ids = _tokenize(tokenizer, text)
    if tokenizer.bos_token_id is not None and (not ids or ids[0] != tokenizer.bos_token_id):
        text = tokenizer.bos_token + text
    return text


def chat_prompt_ids(tokenizer, prompt: str, system: str | None = None) -> list[int]:
    """Return the ids of the chat-rendered prompt (with the generation prompt), with one leading BOS."""
    text = _render(tokenizer, chat_messages(prompt, system=system), add_generation_prompt=True)
    return with_single_bos(tokenizer, _tokenize(tokenizer, text), "the chat-rendered prompt")


def prompt_text(tokenizer, prompt: str, prompt_format: str = "raw", system: str | None = None) -> str:
    """Return the text that tokenizes (``add_special_tokens=False``) to ``encode_prompt``'s ids."""
    check_prompt_format(prompt_format)
    if prompt_format == "chat":
        return chat_prompt_text(tokenizer, prompt, system)
    if system is not None:
        raise ValueError("a system prompt needs prompt_format='chat'")
    bos = tokenizer.bos_token if tokenizer.bos_token_id is not None else ""
    return bos + prompt


def encode_prompt(tokenizer, prompt: str, prompt_format: str = "raw", system: str | None = None) -> list[int]:
    """Return the prompt ids fed to the model for sampling, in ``prompt_format`` ("raw" or "chat")."""
    from repro.models.tokens import prompt_token_ids

    check_prompt_format(prompt_format)
    if prompt_format == "chat":
        return chat_prompt_ids(tokenizer, prompt, system)
    if system is not None:
        raise ValueError("a system prompt needs prompt_format='chat'")
    return prompt_token_ids(tokenizer, prompt)


def encode_chat_demonstration(tokenizer, prompt: str, response: str, *, sample_id: str,
                              system: str | None = None, end_token_ids: Sequence[int] | None = None,
                              max_length: int | None = None) -> ChatDemonstration:
    """Encode one chat demonstration with the response and its end-of-turn token supervised.

    The whole conversation is rendered with the template, and its ids must start with the ids of
    the prompt rendered with the generation prompt (what sampling feeds the model). The assistant
    span runs from there to the first id in ``end_token_ids`` (default: the tokenizer's EOS),
    that id included. Whatever the template writes after it (a newline) is dropped. A template that ends
    turns without an EOS gets the tokenizer's EOS appended. The span's text must equal the
    response up to surrounding whitespace. Any failed check raises ValueError naming ``sample_id``.
    """
    if not response.strip():
        raise ValueError(f"sample {sample_id!r}: the response is empty; nothing to supervise")
    eos = tokenizer.eos_token_id
    if eos is None:
        raise ValueError(f"sample {sample_id!r}: the tokenizer defines no EOS token, so the end of a response "
                         "cannot be supervised")
    end_ids = set(int(i) for i in (end_token_ids if end_token_ids is not None else [eos]))

    prompt_ids = chat_prompt_ids(tokenizer, prompt, system)
    full_text = _render(tokenizer, chat_messages(prompt, response, system), add_generation_prompt=False)
    full_ids = with_single_bos(tokenizer, _tokenize(tokenizer, full_text), f"sample {sample_id!r}")
    if full_ids[: len(prompt_ids)] != prompt_ids:
        raise ValueError(
            f"sample {sample_id!r}: the rendered conversation does not start with the rendered prompt's "
            "token ids (the template renders the prompt differently when a response follows, or a token "
            "merges across the boundary), so the assistant span cannot be located"
        )

    region = full_ids[len(prompt_ids):]
    end = next((i for i, token in enumerate(region) if token in end_ids), None)
    if end is not None:
        content, span = region[:end], region[: end + 1]
    else:
        content = list(region)
        while content and not tokenizer.decode(content[-1:], skip_special_tokens=False).strip():
            content.pop()
        span = content + [eos]

    decoded = tokenizer.decode(content, skip_special_tokens=False)
    if decoded.strip() != response.strip():
        raise ValueError(
            f"sample {sample_id!r}: the assistant span decodes to {decoded[:80]!r}, not to the response "
            f"{response[:80]!r}; the chat template changes the response text, so it cannot be located"
        )

    input_ids = prompt_ids + span
    if max_length is not None and len(input_ids) > max_length:
        raise ValueError(f"sample {sample_id!r}: demonstration of {len(input_ids)} tokens exceeds "
                         f"max_length={max_length}; raise max_length or shorten the data")
    loss_mask = [False] * len(prompt_ids) + [True] * len(span)
    return ChatDemonstration(input_ids=input_ids, loss_mask=loss_mask, prompt_len=len(prompt_ids))
