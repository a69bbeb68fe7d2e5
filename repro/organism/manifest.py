"""The manifest of a base-model folder, and the check that a folder matches it.

manifest.json records the seed, the config hash (PretrainConfig and OrganismConfig), the
code commit, the build time, the steps and tokens seen, the SHA-256 of every file in the
folder, and base metrics when they were measured. ``verify_base`` recomputes the hashes.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any

from repro.organism.config import OrganismConfig, PretrainConfig, config_hash
from repro.utils.atomic import atomic_write_json

REPO_ROOT = Path(__file__).resolve().parents[2]
# The committed base model that the default workflow starts from.
DEFAULT_BASE_DIR = REPO_ROOT / "assets" / "organism_base"
MANIFEST_NAME = "manifest.json"


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_hashes(folder: str | os.PathLike) -> dict[str, str]:
    """Return {file name: SHA-256} for every file in ``folder`` except the manifest."""
    folder = Path(folder)
    return {
        path.name: sha256_file(path)
        for path in sorted(folder.iterdir())
        if path.is_file() and path.name != MANIFEST_NAME
    }


def git_commit() -> str:
    """Return the repository's HEAD commit, with ``-dirty`` when repro/ has uncommitted changes,
    or ``unknown`` outside a git checkout."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--", "repro"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("-dirty" if status else "")


def read_manifest(folder: str | os.PathLike) -> dict[str, Any]:
    path = Path(folder) / MANIFEST_NAME
    if not path.exists():
        raise FileNotFoundError(f"{path} not found; {folder} is not a base-model folder written by pretrain_base")
    return json.loads(path.read_text(encoding="utf-8"))


def verify_base(path: str | os.PathLike = DEFAULT_BASE_DIR) -> dict[str, Any]:
    """Check that a base-model folder matches its manifest and the current default config.

    Raises ValueError naming every mismatch: a config hash other than that of
    ``PretrainConfig()`` with ``OrganismConfig()``, or a missing or changed file. Returns the
    manifest.
    """
    folder = Path(path)
    manifest = read_manifest(folder)
    problems = []
    expected_hash = config_hash(PretrainConfig(), OrganismConfig())
    if manifest.get("config_hash") != expected_hash:
        problems.append(
            f"config hash {manifest.get('config_hash')} differs from the default config's {expected_hash} "
            "(the defaults changed since this base was built; rebuild it with pretrain_base)"
        )
    recorded = manifest.get("files", {})
    if not recorded:
        problems.append("the manifest lists no files")
    for name, digest in recorded.items():
        file_path = folder / name
        if not file_path.exists():
            problems.append(f"{name} is missing")
        elif sha256_file(file_path) != digest:
            problems.append(f"{name} does not match its SHA-256 in the manifest")
    if problems:
        raise ValueError(f"base model folder {folder} does not match its manifest: " + "; ".join(problems))
    return manifest


def record_base_metrics(path: str | os.PathLike, metrics: dict[str, Any]) -> None:
    """Store measured metrics (e.g. from benchmarks/organism_probe.py) in the folder's manifest."""
    manifest = read_manifest(path)
    manifest["metrics"] = {**manifest.get("metrics", {}), **metrics}
    atomic_write_json(Path(path) / MANIFEST_NAME, manifest)
