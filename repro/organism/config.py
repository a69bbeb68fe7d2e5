"""Configuration of the organism: what data is generated and how the base model is pretrained.

Both dataclasses have defaults that reproduce the committed base model in assets/organism_base/.
``from_dict`` builds one from a plain mapping (a YAML section) and rejects unknown keys.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Mapping, TypeVar

ConfigT = TypeVar("ConfigT", bound="_ConfigBase")


class _ConfigBase:
    """Shared ``from_dict``, ``to_dict`` and value checks of the config dataclasses."""

    @classmethod
    def from_dict(cls: type[ConfigT], values: Mapping[str, Any]) -> ConfigT:
        """Build a config from a mapping; an unknown key raises ValueError listing the valid keys."""
        if not isinstance(values, Mapping):
            raise ValueError(f"{cls.__name__}.from_dict expects a mapping, got {type(values).__name__}")
        valid = [f.name for f in dataclasses.fields(cls)]
        for key in values:
            if key not in valid:
                raise ValueError(f"unknown {cls.__name__} key {key!r}; valid keys are {valid}")
        return cls(**dict(values))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def _check_types(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            expected = f.type
            if expected == "int" and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(f"{type(self).__name__}.{f.name} must be an integer, got {value!r}")
            if expected == "float" and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise ValueError(f"{type(self).__name__}.{f.name} must be a number, got {value!r}")
            if expected == "int | None" and value is not None and (
                isinstance(value, bool) or not isinstance(value, int)
            ):
                raise ValueError(f"{type(self).__name__}.{f.name} must be an integer or null, got {value!r}")

    def _check_range(self, name: str, low: float, high: float) -> None:
        value = getattr(self, name)
        if not low <= value <= high:
            raise ValueError(f"{type(self).__name__}.{name}={value!r} is out of range; use a value in [{low}, {high}]")


@dataclass(frozen=True)
class OrganismConfig(_ConfigBase):
    """Settings of ``build_organism_data``: suite and corpus sizes, step noise, privileged share.

    Every suite and corpus is drawn from ``seed``.
    """

    seed: int = 0
    # Test suites: problems per domain in each suite (aime = tier 1, hmmt = tier 2).
    test_per_domain: int = 150
    # Training corpora, in problems (or texts for pretraining), spread evenly over domains and tiers.
    sft_size: int = 6000
    rl_size: int = 3000
    privileged_size: int = 6000
    pretrain_size: int = 51200
    # Share of pretraining texts in the clean phase; the rest form the noisy phase that follows it.
    pretrain_clean_fraction: float = 0.75
    # Noisy phase: probability that a step has one wrong column, and that a wrong column is
    # followed by " wait " and the corrected column.
    step_error_prob: float = 0.3
    wait_prob: float = 0.3
    # Share of pretraining texts in the privileged format (reference solution before the question,
    # target = exact copy of the reference), in both phases.
    pretrain_privileged_fraction: float = 0.3

    def __post_init__(self) -> None:
        self._check_types()
        for name in ("test_per_domain", "sft_size", "rl_size", "privileged_size", "pretrain_size"):
            self._check_range(name, 1, 10**8)
        for name in ("pretrain_clean_fraction", "step_error_prob", "wait_prob", "pretrain_privileged_fraction"):
            self._check_range(name, 0.0, 1.0)


@dataclass(frozen=True)
class PretrainConfig(_ConfigBase):
    """Settings of ``pretrain_base``: optimizer, schedule, batching, logging and model shape.

    Training is fp32 with AdamW and a cosine schedule, on one thread by default.
    """

    seed: int = 0
    # Optimizer steps; None means one pass over the pretraining corpus.
    steps: int | None = None
    batch_size: int = 32
    lr: float = 3e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int = 100
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    # Batches are formed from windows of ``batch_size * length_group_batches`` texts sorted by
    # length, which cuts padding; the batches of a window are then shuffled.
    length_group_batches: int = 8
    log_every: int = 20
    checkpoint_every: int = 100
    num_threads: int = 1
    # Model shape (Llama architecture, tied embeddings): about 1.06M parameters at the defaults.
    hidden_size: int = 128
    num_layers: int = 4
    num_heads: int = 4
    intermediate_size: int = 512
    max_position_embeddings: int = 1024

    def __post_init__(self) -> None:
        self._check_types()
        if self.steps is not None:
            self._check_range("steps", 1, 10**9)
        for name in ("batch_size", "length_group_batches", "log_every", "checkpoint_every", "num_threads"):
            self._check_range(name, 1, 10**9)
        for name in ("hidden_size", "num_layers", "num_heads", "intermediate_size", "max_position_embeddings"):
            self._check_range(name, 1, 10**6)
        self._check_range("lr", 0.0, 1.0)
        self._check_range("min_lr_ratio", 0.0, 1.0)
        self._check_range("warmup_steps", 0, 10**9)
        self._check_range("weight_decay", 0.0, 10.0)
        self._check_range("beta1", 0.0, 1.0)
        self._check_range("beta2", 0.0, 1.0)
        self._check_range("grad_clip", 0.0, 1e9)
        if self.hidden_size % self.num_heads:
            raise ValueError(
                f"PretrainConfig.hidden_size={self.hidden_size} is not divisible by "
                f"num_heads={self.num_heads}; pick sizes with hidden_size % num_heads == 0"
            )


def config_hash(*configs: _ConfigBase) -> str:
    """Return the SHA-256 of the configs' fields as canonical JSON (order of arguments matters)."""
    payload = [{"class": type(c).__name__, "fields": c.to_dict()} for c in configs]
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
