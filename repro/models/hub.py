"""Fetch a model folder from the Hugging Face Hub (real runs only; tests and dry runs never call it).

    repro fetch-model --hub-id Qwen/Qwen2.5-Math-1.5B --out results/EXP/base/model

The files are downloaded as published (safetensors, config, tokenizer) into a temporary folder
that replaces ``out_dir`` only when complete; hub_source.json records the id and revision.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from repro.utils.atomic import atomic_output_dir, atomic_write_json

log = logging.getLogger(__name__)

SOURCE_RECORD = "hub_source.json"
# Weights, configs and tokenizer files; other formats (.bin, .pth, .gguf) are skipped.
MODEL_FILE_PATTERNS = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "*.tiktoken"]


def fetch_hub_model(hub_id: str, out_dir: str | os.PathLike, revision: str | None = None) -> Path:
    """Download ``hub_id`` (at ``revision``, default the main branch) into the folder ``out_dir``."""
    from huggingface_hub import snapshot_download

    if not isinstance(hub_id, str) or hub_id.count("/") != 1:
        raise ValueError(f"hub id {hub_id!r} must look like 'organization/name', e.g. 'Qwen/Qwen2.5-Math-1.5B'")
    out_dir = Path(out_dir)
    if out_dir.exists():
        raise FileExistsError(f"{out_dir} already exists; remove it or choose another --out")
    log.info("downloading %s (revision %s) into %s", hub_id, revision or "main", out_dir)
    with atomic_output_dir(out_dir) as tmp:
        snapshot_download(repo_id=hub_id, revision=revision, local_dir=tmp, allow_patterns=MODEL_FILE_PATTERNS)
        if not (tmp / "config.json").exists():
            raise FileNotFoundError(f"{hub_id} has no config.json; it is not a transformers model repository")
        atomic_write_json(tmp / SOURCE_RECORD, {"hub_id": hub_id, "revision": revision or "main"})
    log.info("downloaded %s into %s", hub_id, out_dir)
    return out_dir
