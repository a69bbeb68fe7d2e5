"""Workflow configuration: JSON Schema validation with errors that name the key and the fix,
and baseline files (one YAML per method or variant, optionally extending another)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_PATH = ROOT / "workflows" / "schemas" / "config.schema.json"


class ConfigError(ValueError):
    """The configuration is invalid; the message names the key and the valid options."""


def _describe(error) -> str:
    where = "/".join(str(part) for part in error.absolute_path) or "<top level>"
    schema = error.schema
    if error.validator == "additionalProperties" and "properties" in schema:
        unknown = sorted(set(error.instance) - set(schema["properties"]))
        return f"unknown key(s) {unknown} under {where}; valid keys are {sorted(schema['properties'])}"
    if error.validator == "required":
        return f"{where}: {error.message}; valid keys are {sorted(schema.get('properties', {}))}"
    if error.validator == "enum":
        return f"{where}: {error.instance!r} is not one of {schema['enum']}"
    if error.validator == "type":
        return f"{where}: expected {schema['type']}, got {type(error.instance).__name__} {error.instance!r}"
    return f"{where}: {error.message}"


DEFAULT_CONFIG = ROOT / "workflows" / "config" / "default.yaml"


def _deep_update(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_update(base[key], value)
        else:
            base[key] = value
    return base


def resolve_workflow_config(config: dict[str, Any]) -> dict[str, Any]:
    """Return the validated workflow config: a full config as given, or the default updated by overrides.

    A config with ``experiment`` (from --configfile) replaces the default as a whole; otherwise
    the given keys (from --config key=value) override the default key by key.
    """
    if "experiment" not in config:
        config = _deep_update(yaml.safe_load(DEFAULT_CONFIG.read_text()), dict(config))
    return validate_config(config)


def validate_config(config: dict[str, Any]) -> dict[str, Any]:
    """Validate a workflow config against the schema; raise ConfigError listing every problem."""
    import jsonschema

    schema = json.loads(SCHEMA_PATH.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(_describe(e) for e in errors))
    k_values = config["eval"].get("k_values", [])
    too_large = [k for k in k_values if k > config["eval"]["num_samples"]]
    if too_large:
        raise ConfigError(
            f"eval/k_values {too_large} exceed eval/num_samples={config['eval']['num_samples']}; "
            "pass@k needs n >= k samples per problem"
        )
    for name, baseline in config["sft"]["variants"].items():
        load_baseline(baseline)  # raises on a missing file or unknown method
    rl = config.get("rl")
    if rl:
        for key in ("baseline", "short_baseline"):
            if key in rl:
                load_baseline(rl[key])
        for key in ("from_sft", "short_from_sft"):
            for variant, seeds in rl.get(key, {}).items():
                if variant not in config["sft"]["variants"]:
                    raise ConfigError(f"rl/{key}: {variant!r} is not an SFT variant; valid: {sorted(config['sft']['variants'])}")
                missing = sorted(set(seeds) - set(config["seeds"]))
                if missing:
                    raise ConfigError(f"rl/{key}/{variant}: seeds {missing} are not in seeds={config['seeds']}")
        cross = rl.get("cross_domain")
        if cross:
            if cross["variant"] not in config["sft"]["variants"]:
                raise ConfigError(f"rl/cross_domain/variant {cross['variant']!r} is not an SFT variant; "
                                  f"valid: {sorted(config['sft']['variants'])}")
            missing = sorted(set(cross["seeds"]) - set(config["seeds"]))
            if missing:
                raise ConfigError(f"rl/cross_domain/seeds {missing} are not in seeds={config['seeds']}")
        if rl.get("short_from_sft") and "short_baseline" not in rl:
            raise ConfigError("rl/short_from_sft is set but rl/short_baseline is missing; name the short RL baseline file")
    _check_workload(config)
    return config


# Suites each data source provides; "cards" takes any suite card name.
WORKLOAD_SUITES = {"organism": ("aime", "hmmt"), "arith": ("arith",)}


def _check_workload(config: dict[str, Any]) -> None:
    """Check that the base model source, the data source and the suites fit together."""
    base = config["base"]
    if base["source"] == "hub" and "hub_id" not in base:
        raise ConfigError("base/source is 'hub' but base/hub_id is missing; give the model id, e.g. Qwen/Qwen2.5-Math-1.5B")

    data = config.get("data", {})
    source = data.get("source", "organism")
    if base["source"] in ("committed", "rebuild") and source != "organism":
        raise ConfigError(f"base/source {base['source']!r} is the organism's base model, but data/source is "
                          f"{source!r}; use base/source 'gguf', 'hub' or 'path' for other workloads")
    suites = list(config["eval"]["suites"])
    if source in WORKLOAD_SUITES:
        unknown = [suite for suite in suites if suite not in WORKLOAD_SUITES[source]]
        if unknown:
            raise ConfigError(f"eval/suites {unknown} are not suites of data source {source!r}; "
                              f"valid: {list(WORKLOAD_SUITES[source])}")
    else:
        from repro.data.cards import CardError, load_card

        required = ["sft_card"] + (["rl_card"] if config.get("rl") else [])
        missing = [key for key in required if key not in data]
        if missing:
            raise ConfigError(f"data/source is 'cards' but data/{missing[0]} is missing; name the card of the training data")
        for key in ("sft_card", "rl_card"):
            if key in data:
                try:
                    load_card(data[key])
                except (CardError, FileNotFoundError) as error:
                    raise ConfigError(f"data/{key}: {error}") from None
        for suite in suites:
            try:
                card = load_card(suite)
            except (CardError, FileNotFoundError) as error:
                raise ConfigError(f"eval/suites: {error}") from None
            if card.protocol is None:
                raise ConfigError(f"eval/suites: card {suite!r} describes training data (no protocol); "
                                  "evaluate on a card with a protocol")

    rl = config.get("rl") or {}
    chosen = [("rl/eval_suite", rl.get("eval_suite")), ("rl/cross_domain/suite", (rl.get("cross_domain") or {}).get("suite"))]
    for key, suite in chosen:
        if suite is not None and suite not in suites:
            raise ConfigError(f"{key} {suite!r} is not one of eval/suites {suites}")


BASELINE_KEYS = {"method", "extends", "description", "source", "params", "train"}


def load_baseline(path: str | Path) -> dict[str, Any]:
    """Load a baseline YAML, resolving ``extends`` (a path relative to the file) recursively.

    ``params`` (method parameters) and ``train`` (TrainConfig keys) merge key by key, the
    extending file winning.
    """
    path = Path(path)
    if not path.is_absolute() and not path.exists():
        path = ROOT / path
    if not path.exists():
        raise ConfigError(f"baseline file not found: {path}; the files in baselines/ are "
                          f"{sorted(p.name for p in (ROOT / 'baselines').glob('*.yaml'))}")
    data = yaml.safe_load(path.read_text()) or {}
    unknown = sorted(set(data) - BASELINE_KEYS)
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {unknown}; valid keys are {sorted(BASELINE_KEYS)}")
    merged: dict[str, Any] = {"params": {}, "train": {}}
    if data.get("extends"):
        merged = load_baseline(path.parent / data["extends"])
    for key in ("params", "train"):
        merged[key] = {**merged.get(key, {}), **(data.get(key) or {})}
    for key in ("method", "description", "source"):
        if key in data:
            merged[key] = data[key]
    if "method" not in merged:
        raise ConfigError(f"{path}: no 'method' given (directly or through 'extends')")
    from repro.methods import METHODS  # imports torch: only when a baseline is checked

    if merged["method"] not in METHODS:
        raise ConfigError(f"{path}: unknown method {merged['method']!r}; registered methods are "
                          f"{sorted(METHODS.names())}")
    merged["path"] = str(path)
    return merged
