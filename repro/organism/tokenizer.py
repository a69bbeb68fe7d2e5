"""The organism's character-level tokenizer, in Hugging Face format.

One token per character (printable ASCII and newline), plus ``<bos>``, ``<eos>``, ``<pad>``
and ``<unk>``. Encoding prepends ``<bos>`` (``add_special_tokens=False`` leaves it out), and
decoding joins the characters back, so ``decode(ids, skip_special_tokens=True)`` returns the
encoded text exactly for any text over the vocabulary. Padding is on the left, as batched
generation needs.

The pre-tokenizer splits every character with Split(Regex("[\\s\\S]"), "isolated") and the
decoder is Fuse, which keeps spaces and newlines. The model folder uses a Llama config because
with a Qwen2 config AutoTokenizer (transformers 5.25) swaps in a Qwen2 tokenizer that drops them.
"""

from __future__ import annotations

import string

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

BOS_TOKEN = "<bos>"
EOS_TOKEN = "<eos>"
PAD_TOKEN = "<pad>"
UNK_TOKEN = "<unk>"
SPECIAL_TOKENS = (PAD_TOKEN, BOS_TOKEN, EOS_TOKEN, UNK_TOKEN)
# Every character the generators can write, and more: all printable ASCII except the
# whitespace other than space and newline.
CHARACTERS = tuple(sorted(set(string.printable) - set("\t\r\x0b\x0c")))


def build_vocab() -> dict[str, int]:
    """Map special tokens to ids 0-3 and characters to the following ids, in sorted order."""
    vocab = {token: index for index, token in enumerate(SPECIAL_TOKENS)}
    for char in CHARACTERS:
        vocab[char] = len(vocab)
    return vocab


def build_tokenizer() -> PreTrainedTokenizerFast:
    """Build the character-level tokenizer (left padding, BOS prepended on encode)."""
    vocab = build_vocab()
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK_TOKEN))
    backend.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    backend.decoder = decoders.Fuse()
    backend.post_processor = processors.TemplateProcessing(
        single=f"{BOS_TOKEN} $A",
        pair=f"{BOS_TOKEN} $A $B",
        special_tokens=[(BOS_TOKEN, vocab[BOS_TOKEN])],
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=BOS_TOKEN,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        unk_token=UNK_TOKEN,
        padding_side="left",
        clean_up_tokenization_spaces=False,
    )
    return tokenizer
