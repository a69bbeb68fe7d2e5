"""Suite cards: one YAML file per evaluation suite, naming its data and its protocol.

A card names where the problems come from (a hub dataset, or a local JSONL or Parquet file),
which column fills which Problem field, how answers are graded ("integer" or "math"), and the
usual evaluation protocol (samples per problem, headline metric, temperature, top_p, max tokens).

    card = load_card("aime24")                    # a card shipped in repro/data/cards/
    card = load_card("path/to/my_suite.yaml")     # any card file
    problems = load_suite(card)                   # list[Problem]

A field maps to a column, or to a path into a nested column: "reward_model.ground_truth" takes a
key of a mapping and "prompt.-1.content" the content of the last message of a chat list.

A card file looks like this (every key is checked, unknown keys are errors):

    name: aime24
    description: AIME 2024, 30 problems
    source: {kind: hub, dataset: HuggingFaceH4/aime_2024, split: train}
    fields: {id: id, prompt: problem, answer: answer, solution: solution}
    prompt_template: "{prompt}\\nPlease reason step by step, and put your final answer within \\\\boxed{}."
    answer_type: integer
    protocol: {metric: avg@32, num_samples: 32, temperature: 0.6, top_p: 0.95, max_new_tokens: 32768}

Hub sources are loaded with ``datasets.load_dataset``, which needs the network or a filled
cache; local sources are read directly. A relative local path is resolved against ``root``
(for example the folder written by ``repro organism-data``) or, without it, against the card's
own folder.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from repro.data.schema import Problem, ProblemFormatError
from repro.utils.jsonl import iter_jsonl_objects

CARDS_DIR = Path(__file__).resolve().parent / "cards"

CARD_KEYS = ("name", "description", "source", "fields", "answer_type", "protocol",
             "prompt_template", "domain", "tier", "notes")
REQUIRED_CARD_KEYS = ("name", "source", "fields", "answer_type")
SOURCE_KINDS = ("hub", "jsonl", "parquet")
SOURCE_KEYS = {
    "hub": ("kind", "dataset", "config", "split", "revision"),
    "jsonl": ("kind", "path"),
    "parquet": ("kind", "path"),
}
REQUIRED_SOURCE_KEYS = {"hub": ("kind", "dataset", "split"), "jsonl": ("kind", "path"), "parquet": ("kind", "path")}
# Problem fields a card can fill from a data column.
MAPPABLE_FIELDS = ("id", "prompt", "answer", "domain", "tier", "solution", "metadata")
REQUIRED_FIELDS = ("prompt", "answer")
CARD_ANSWER_TYPES = ("integer", "math")
PROTOCOL_KEYS = ("metric", "num_samples", "k_values", "temperature", "top_p", "max_new_tokens")
REQUIRED_PROTOCOL_KEYS = ("metric", "num_samples", "temperature", "max_new_tokens")
PROMPT_PLACEHOLDER = "{prompt}"
_METRIC = re.compile(r"^(?P<kind>avg|pass|maj)@(?P<k>[1-9]\d*)$")


class CardError(ValueError):
    """A suite card is invalid, or its data does not match it."""


@dataclass(frozen=True)
class CardSource:
    kind: str
    path: str | None = None
    dataset: str | None = None
    config: str | None = None
    split: str | None = None
    revision: str | None = None


@dataclass(frozen=True)
class Protocol:
    """The usual evaluation protocol of a suite; the headline ``metric`` is e.g. "avg@32" or "pass@1"."""

    metric: str
    num_samples: int
    temperature: float
    max_new_tokens: int
    top_p: float = 1.0
    k_values: tuple[int, ...] = ()


@dataclass(frozen=True)
class SuiteCard:
    name: str
    source: CardSource
    fields: dict[str, str]
    """Problem field -> column of the data."""
    answer_type: str
    protocol: Protocol | None
    """The evaluation protocol; None for a card of training data."""
    description: str = ""
    prompt_template: str | None = None
    """Text around the mapped prompt column, with ``{prompt}`` where the column's text goes."""
    domain: str | None = None
    """Domain of every problem when ``fields`` maps no domain column."""
    tier: int | None = None
    notes: str = ""
    path: Path | None = field(default=None, compare=False)
    """The card file, used to resolve a relative local source path."""


def available_cards() -> list[str]:
    """Return the names of the cards shipped in repro/data/cards/."""
    return sorted(p.stem for p in CARDS_DIR.glob("*.yaml"))


def load_card(name_or_path: str | os.PathLike) -> SuiteCard:
    """Load and validate a card by shipped name ("aime24") or by file path."""
    text = str(name_or_path)
    path = Path(text)
    if not path.exists():
        if text.endswith((".yaml", ".yml")) or os.sep in text:
            raise FileNotFoundError(f"suite card not found: {path}")
        path = CARDS_DIR / f"{text}.yaml"
        if not path.exists():
            raise CardError(f"unknown suite card {text!r}; shipped cards are {available_cards()}, "
                            "or pass the path of a card file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise CardError(f"{path}: not valid YAML ({error})") from None
    return parse_card(data, path)


def parse_card(data: Any, path: Path | None = None) -> SuiteCard:
    """Validate a card's YAML content; every error names the card and the key."""
    where = str(path) if path is not None else "suite card"
    if not isinstance(data, dict):
        raise CardError(f"{where}: expected a mapping of card keys, got {type(data).__name__}")
    _check_keys(data, CARD_KEYS, REQUIRED_CARD_KEYS, where)

    name = data["name"]
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise CardError(f"{where}: name {name!r} must be a non-empty string of letters, digits, '_', '.', '-'")
    answer_type = data["answer_type"]
    if answer_type not in CARD_ANSWER_TYPES:
        raise CardError(f"{where}: answer_type {answer_type!r} is not one of {list(CARD_ANSWER_TYPES)}")

    source = _parse_source(data["source"], where)
    fields = _parse_fields(data["fields"], where)
    protocol = _parse_protocol(data["protocol"], where) if "protocol" in data else None

    template = data.get("prompt_template")
    if template is not None and (not isinstance(template, str) or template.count(PROMPT_PLACEHOLDER) != 1):
        raise CardError(f"{where}: prompt_template must be a string containing {PROMPT_PLACEHOLDER} exactly once, "
                        f"got {template!r}")
    domain = data.get("domain")
    if domain is not None and not isinstance(domain, str):
        raise CardError(f"{where}: domain must be a string, got {domain!r}")
    if domain is not None and "domain" in fields:
        raise CardError(f"{where}: give either a constant 'domain' or fields.domain, not both")
    tier = data.get("tier")
    if tier is not None and (isinstance(tier, bool) or not isinstance(tier, int)):
        raise CardError(f"{where}: tier must be an integer, got {tier!r}")
    if tier is not None and "tier" in fields:
        raise CardError(f"{where}: give either a constant 'tier' or fields.tier, not both")
    for key in ("description", "notes"):
        if key in data and not isinstance(data[key], str):
            raise CardError(f"{where}: {key} must be a string, got {data[key]!r}")

    return SuiteCard(name=name, source=source, fields=fields, answer_type=answer_type, protocol=protocol,
                     description=data.get("description", ""), prompt_template=template, domain=domain,
                     tier=tier, notes=data.get("notes", ""), path=path)


def _check_keys(data: dict, valid: tuple[str, ...], required: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(data) - set(valid))
    if unknown:
        raise CardError(f"{where}: unknown key(s) {unknown}; valid keys are {sorted(valid)}")
    missing = [key for key in required if key not in data]
    if missing:
        raise CardError(f"{where}: missing key(s) {missing}; required keys are {list(required)}")


def _parse_source(data: Any, where: str) -> CardSource:
    if not isinstance(data, dict):
        raise CardError(f"{where}: source must be a mapping with a 'kind', got {data!r}")
    kind = data.get("kind")
    if kind not in SOURCE_KINDS:
        raise CardError(f"{where}: source.kind {kind!r} is not one of {list(SOURCE_KINDS)}")
    _check_keys(data, SOURCE_KEYS[kind], REQUIRED_SOURCE_KEYS[kind], f"{where}: source ({kind})")
    for key, value in data.items():
        if value is not None and not isinstance(value, str):
            raise CardError(f"{where}: source.{key} must be a string, got {value!r}")
    return CardSource(**data)


def _parse_fields(data: Any, where: str) -> dict[str, str]:
    if not isinstance(data, dict):
        raise CardError(f"{where}: fields must map Problem fields to column names, got {data!r}")
    unknown = sorted(set(data) - set(MAPPABLE_FIELDS))
    if unknown:
        raise CardError(f"{where}: fields names unknown Problem field(s) {unknown}; valid fields are "
                        f"{list(MAPPABLE_FIELDS)}")
    missing = [name for name in REQUIRED_FIELDS if name not in data]
    if missing:
        raise CardError(f"{where}: fields lacks {missing}; every card maps {list(REQUIRED_FIELDS)} to columns")
    for name, column in data.items():
        if not isinstance(column, str) or not column:
            raise CardError(f"{where}: fields.{name} must be a column name, got {column!r}")
    return dict(data)


def _parse_protocol(data: Any, where: str) -> Protocol:
    if not isinstance(data, dict):
        raise CardError(f"{where}: protocol must be a mapping, got {data!r}")
    _check_keys(data, PROTOCOL_KEYS, REQUIRED_PROTOCOL_KEYS, f"{where}: protocol")
    for key in ("num_samples", "max_new_tokens"):
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise CardError(f"{where}: protocol.{key} must be a positive integer, got {value!r}")
    temperature = data["temperature"]
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or temperature < 0:
        raise CardError(f"{where}: protocol.temperature must be a number >= 0, got {temperature!r}")
    top_p = data.get("top_p", 1.0)
    if isinstance(top_p, bool) or not isinstance(top_p, (int, float)) or not 0 < top_p <= 1:
        raise CardError(f"{where}: protocol.top_p must be in (0, 1], got {top_p!r}")

    metric = data["metric"]
    match = _METRIC.match(metric) if isinstance(metric, str) else None
    if match is None:
        raise CardError(f"{where}: protocol.metric {metric!r} must look like 'avg@32', 'pass@1' or 'maj@8'")
    if int(match["k"]) > data["num_samples"]:
        raise CardError(f"{where}: protocol.metric {metric} needs at least {match['k']} samples per problem, "
                        f"but num_samples is {data['num_samples']}")
    k_values = data.get("k_values", [int(match["k"])])
    if not isinstance(k_values, list) or not all(isinstance(k, int) and not isinstance(k, bool) for k in k_values):
        raise CardError(f"{where}: protocol.k_values must be a list of integers, got {k_values!r}")
    too_large = [k for k in k_values if not 1 <= k <= data["num_samples"]]
    if too_large:
        raise CardError(f"{where}: protocol.k_values {too_large} are outside [1, num_samples={data['num_samples']}]")
    return Protocol(metric=metric, num_samples=data["num_samples"], temperature=float(temperature),
                    max_new_tokens=data["max_new_tokens"], top_p=float(top_p), k_values=tuple(k_values))


def resolve_source_path(card: SuiteCard, root: str | os.PathLike | None = None) -> Path:
    """Return the local data file of ``card``; a relative path is taken from ``root`` or the card's folder."""
    if card.source.kind == "hub":
        raise CardError(f"card {card.name!r} reads the hub dataset {card.source.dataset!r}, not a local file")
    path = Path(card.source.path)
    if not path.is_absolute():
        if root is not None:
            base = Path(root)
        elif card.path is not None:
            base = card.path.parent
        else:
            base = Path.cwd()
        path = base / path
    return path


def load_suite(card: SuiteCard | str | os.PathLike, root: str | os.PathLike | None = None) -> list[Problem]:
    """Load a card's problems, mapped to the Problem schema and validated.

    Raises CardError when a mapped column is missing from the data (naming the column and the
    columns the data has), and ProblemFormatError when a row breaks the schema.
    """
    if not isinstance(card, SuiteCard):
        card = load_card(card)
    if card.source.kind == "hub":
        columns, rows, origin = _read_hub(card.source)
    else:
        path = resolve_source_path(card, root)
        if not path.exists():
            hint = " (pass root=, e.g. the folder written by `repro organism-data`)" if root is None else ""
            raise FileNotFoundError(f"data file of suite card {card.name!r} not found: {path}{hint}")
        reader = _read_jsonl if card.source.kind == "jsonl" else _read_parquet
        columns, rows = reader(path)
        origin = str(path)

    missing = sorted({column_of(path) for path in card.fields.values() if column_of(path) not in columns})
    if missing:
        raise CardError(f"card {card.name!r}: column(s) {missing} named in fields are not in {origin}; "
                        f"its columns are {sorted(columns)}")
    if not rows:
        raise CardError(f"card {card.name!r}: {origin} has no rows")
    return _rows_to_problems(card, rows, origin)


def _rows_to_problems(card: SuiteCard, rows: list[dict[str, Any]], origin: str) -> list[Problem]:
    problems = []
    seen: set[str] = set()
    for index, row in enumerate(rows):
        where = f"{origin} row {index}"
        record: dict[str, Any] = {}
        for name, path in card.fields.items():
            if column_of(path) not in row:
                raise CardError(f"{where}: column {column_of(path)!r} (fields.{name}) is missing in this row")
            record[name] = _field_value(name, _resolve_path(row, path, where), where)
        record.setdefault("id", f"{card.name}-{index:04d}")
        if card.domain is not None:
            record["domain"] = card.domain
        if card.tier is not None:
            record["tier"] = card.tier
        if card.prompt_template is not None:
            record["prompt"] = card.prompt_template.replace(PROMPT_PLACEHOLDER, record["prompt"])
        record["metadata"] = {**record.get("metadata", {}), "suite": card.name, "source_row": index}
        problem = Problem.from_json(record, where)
        if problem.id in seen:
            raise ProblemFormatError(f"{where}: duplicate problem id {problem.id!r}")
        seen.add(problem.id)
        problems.append(problem)
    return problems


def column_of(path: str) -> str:
    """Return the column a field path starts from ("prompt.-1.content" -> "prompt")."""
    return path.split(".", 1)[0]


def _resolve_path(row: dict[str, Any], path: str, where: str) -> Any:
    """Follow a dotted field path into nested values: keys of mappings, integer indices of lists."""
    value: Any = row
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, (list, tuple)) or (hasattr(value, "__len__") and hasattr(value, "tolist")):
            items = list(value)
            try:
                value = items[int(part)]
            except (ValueError, IndexError):
                raise CardError(f"{where}: field path {path!r}: {part!r} is not an index of a list of "
                                f"{len(items)} item(s)") from None
        else:
            raise CardError(f"{where}: field path {path!r}: no {part!r} in {type(value).__name__} value")
    return value


def _field_value(name: str, value: Any, where: str) -> Any:
    """Convert a column value to the type of Problem field ``name`` (ids and answers become strings)."""
    if name in ("id", "answer"):
        return _scalar_text(value, name, where)
    if name == "tier":
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value
    if name == "solution" and _is_missing(value):
        return None
    if name == "metadata" and _is_missing(value):
        return {}
    return value


def _scalar_text(value: Any, name: str, where: str) -> str:
    if isinstance(value, bool) or value is None:
        raise ProblemFormatError(f"{where}: field {name!r} must be a string or a number, got {value!r}")
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ProblemFormatError(f"{where}: field {name!r} is {value!r}; give a finite value")
        # Parquet and pandas store integer answers with gaps as floats (27.0); keep "27".
        return str(int(value)) if value.is_integer() else repr(value)
    if hasattr(value, "item"):  # numpy scalar from Parquet
        return _scalar_text(value.item(), name, where)
    raise ProblemFormatError(f"{where}: field {name!r} must be a string or a number, got {type(value).__name__}")


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _read_jsonl(path: Path) -> tuple[set[str], list[dict[str, Any]]]:
    rows = []
    columns: set[str] = set()
    for _, row in iter_jsonl_objects(path, ProblemFormatError):
        columns.update(row)
        rows.append(row)
    return columns, rows


def _read_parquet(path: Path) -> tuple[set[str], list[dict[str, Any]]]:
    import pandas as pd

    frame = pd.read_parquet(path)
    return set(frame.columns), frame.to_dict(orient="records")


def _read_hub(source: CardSource) -> tuple[set[str], list[dict[str, Any]], str]:
    """Load a hub dataset split with ``datasets`` (needs the network or a filled cache)."""
    from datasets import load_dataset

    dataset = load_dataset(source.dataset, source.config, split=source.split, revision=source.revision)
    origin = f"hub dataset {source.dataset} (config {source.config}, split {source.split})"
    return set(dataset.column_names), [dict(row) for row in dataset], origin
