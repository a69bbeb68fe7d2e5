"""Final-answer extraction from a model response.

A response may contain its reasoning inside ``<think>...</think>``. Only the part after the
reasoning counts as the final answer, and the answer is the content of the last
``\\boxed{...}`` (or ``\\fbox{...}``) there. A response that was cut off, either by the
length limit or inside its reasoning, has no answer.

Nothing here evaluates model output: extraction is plain string scanning.
"""

from __future__ import annotations

import re

# "eos": an id of the model's EOS set ended the response (the built-in sampler's name).
# "stop": the same natural end under the vLLM / OpenAI name (EOS token or stop string).
# "length": the response was cut at the max-new-tokens limit.
FINISH_REASONS = ("eos", "stop", "length")

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"

# The command name must not continue with a letter, because "\boxedfoo{" is another macro.
_BOX_START = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])\s*\{")

# A decimal number, optionally signed, with optional comma thousands separators.
_NUMBER = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[+-]?\.\d+")

# Formatting wrappers that models put around a number inside the box.
_LATEX_WRAPPER = re.compile(r"\\(?:text|textbf|mathbf)\s*\{(?P<inner>.*)\}", re.DOTALL)
_MARKDOWN_BOLD = re.compile(r"\*\*(?P<inner>.*)\*\*", re.DOTALL)


def extract_boxed(text: str) -> str | None:
    """Return the content of the last ``\\boxed{...}`` or ``\\fbox{...}`` in ``text``.

    Braces inside the box are matched, so ``\\boxed{\\frac{1}{2}}`` gives ``\\frac{1}{2}``;
    escaped braces (``\\{``, ``\\}``) do not count. Only the last box is returned, never
    several joined together. Returns None when there is no box, or when the last box's
    braces never close (a response cut off inside its answer).
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")

    starts = list(_BOX_START.finditer(text))
    if not starts:
        return None
    content_start = starts[-1].end()

    depth = 1
    position = content_start
    while position < len(text):
        char = text[position]
        if char == "\\":
            # Skip the escaped character, so "\{" and "\}" are not counted and "\\" is one token.
            position += 2
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[content_start:position]
        position += 1
    return None


def split_reasoning(response: str) -> tuple[str, str | None]:
    """Split a response into (reasoning, final answer part).

    The reasoning is the text inside ``<think>...</think>``, and the final part is the text
    after the last ``</think>``. A response with ``</think>`` but no ``<think>`` (a chat
    template that puts ``<think>`` in the prompt) has all text before ``</think>`` as its
    reasoning. A response without either tag is all final part, with empty reasoning.

    A response whose last ``<think>`` is never closed was cut off inside its reasoning:
    it returns (reasoning so far, None), because it has no final part.
    Both parts are stripped of surrounding whitespace.
    """
    if not isinstance(response, str):
        raise TypeError(f"response must be a str, got {type(response).__name__}")

    last_open = response.rfind(THINK_OPEN)
    last_close = response.rfind(THINK_CLOSE)

    if last_open > last_close:
        first_open = response.find(THINK_OPEN)
        return response[first_open + len(THINK_OPEN):].strip(), None

    if last_close == -1:
        return "", response.strip()

    first_open = response.find(THINK_OPEN)
    reasoning_start = 0 if first_open == -1 else first_open + len(THINK_OPEN)
    reasoning = response[reasoning_start:last_close]
    final = response[last_close + len(THINK_CLOSE):]
    return reasoning.strip(), final.strip()


def strip_number_wrappers(answer: str) -> str:
    """Remove ``\\text{}``, ``\\textbf{}``, ``\\mathbf{}`` and ``**bold**`` wrapped around a number.

    ``\\textbf{\\text{42}}`` and ``**42**`` give ``42``. The wrappers are removed only when
    what they enclose is a number, so ``\\text{Monday}`` and ``\\text{5 cm}`` come back
    unchanged (apart from surrounding whitespace).
    """
    if not isinstance(answer, str):
        raise TypeError(f"answer must be a str, got {type(answer).__name__}")

    stripped = answer.strip()
    inner = stripped
    while True:
        match = _LATEX_WRAPPER.fullmatch(inner) or _MARKDOWN_BOLD.fullmatch(inner)
        if match is None:
            break
        inner = match.group("inner").strip()

    if _NUMBER.fullmatch(inner):
        return inner
    return stripped


def check_finish_reason(finish_reason: str | None) -> None:
    """Raise ValueError unless ``finish_reason`` is None or one of FINISH_REASONS."""
    if finish_reason is not None and finish_reason not in FINISH_REASONS:
        raise ValueError(
            f"unknown finish_reason {finish_reason!r}; valid values are {list(FINISH_REASONS)} "
            "or None when the sampler did not report one"
        )


def extract_final_answer(response: str, finish_reason: str | None = None) -> str | None:
    """Extract the final answer of a response, or None when it has none.

    There is no answer when the response was cut by the length limit
    (``finish_reason == "length"``), when it was cut off inside ``<think>``, when its final
    part has no complete ``\\boxed{}``, or when the box is empty. Otherwise the answer is
    the last box of the final part, with formatting wrappers around a number removed.
    """
    check_finish_reason(finish_reason)
    if finish_reason == "length":
        return None

    _, final = split_reasoning(response)
    if final is None:
        return None

    boxed = extract_boxed(final)
    if boxed is None:
        return None

    answer = strip_number_wrappers(boxed)
    if not answer:
        return None
    return answer
