"""The embedded default workload: a tiny model, generated math problems, corpora, base pretraining.

Everything is built offline from a seed. See docs/organism.md for the formats and measurements.
"""

from repro.organism.config import OrganismConfig, PretrainConfig, config_hash
from repro.organism.corpus import SUITES, build_organism_data, format_prompt, privileged_prompt, question_of
from repro.organism.generators import DOMAINS, TIERS
from repro.organism.manifest import DEFAULT_BASE_DIR, record_base_metrics, verify_base
from repro.organism.model import build_generation_config, build_model, build_model_config
from repro.organism.pretrain import checkpoint_dir_for, pretrain_base
from repro.organism.steps import find_step_errors
from repro.organism.tokenizer import build_tokenizer

__all__ = [
    "DEFAULT_BASE_DIR",
    "DOMAINS",
    "SUITES",
    "TIERS",
    "OrganismConfig",
    "PretrainConfig",
    "build_generation_config",
    "build_model",
    "build_model_config",
    "build_organism_data",
    "build_tokenizer",
    "checkpoint_dir_for",
    "config_hash",
    "find_step_errors",
    "format_prompt",
    "pretrain_base",
    "privileged_prompt",
    "question_of",
    "record_base_metrics",
    "verify_base",
]
