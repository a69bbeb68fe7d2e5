"""Build the organism's suites and corpora from one seed.

``build_organism_data(cfg, out_dir)`` writes, each file atomically:

    suites/aime.jsonl    tier-1 test problems (solution filled)
    suites/hmmt.jsonl    tier-2 test problems (solution filled)
    sft.jsonl            clean demonstrations; the SFT target is exactly ``solution``
    rl.jsonl             RL prompts with gold answers (and reference solutions)
    privileged.jsonl     prompts that hold the reference solution; target = ``solution``
    pretrain.jsonl       {"text": ..., "phase": "clean" | "noisy"}, in training order
    organism_config.json the OrganismConfig and its hash, written last

Test questions are banned from every training file by exact match of the question text.
A prompt is ``Q: <question>\\nA: `` and the response is the solution, then EOS. The
privileged prompt puts the reference solution first: ``R: <solution>\\nQ: <question>\\nA: ``.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any, Iterator

from repro.data.schema import Problem, write_problems
from repro.organism.config import OrganismConfig, config_hash
from repro.organism.generators import DOMAINS, TIERS, draw_params, gold_answer, question_text, write_solution
from repro.organism.steps import StepNoise
from repro.utils.atomic import atomic_output_file, atomic_write_json

SUITES = {"aime": 1, "hmmt": 2}
PRIVILEGED_PREFIX = "R: "


def format_prompt(question: str) -> str:
    """Return the text fed to the model before its response."""
    return f"Q: {question}\nA: "


def privileged_prompt(problem: Problem) -> str:
    """Return the problem's prompt preceded by its reference solution (a self-teacher's context)."""
    if problem.solution is None:
        raise ValueError(f"problem {problem.id!r} has no reference solution; privileged_prompt needs one")
    return f"{PRIVILEGED_PREFIX}{problem.solution}\n{problem.prompt}"


def question_of(text: str) -> str:
    """Return the question inside a prompt or a pretraining text (the line after ``Q: ``)."""
    start = text.rfind("Q: ")
    if start < 0:
        raise ValueError(f"no 'Q: ' line in {text[:80]!r}")
    end = text.find("\n", start)
    return text[start + 3 : end if end >= 0 else len(text)]


def _rng(cfg: OrganismConfig, part: str) -> random.Random:
    # A string seed is hashed with SHA-512 by random.Random, so each part gets its own stream.
    return random.Random(f"organism:{cfg.seed}:{part}")


def _make_problem(problem_id: str, domain: str, tier: int, params: dict[str, Any]) -> Problem:
    question = question_text(domain, params)
    solution, stated = write_solution(domain, params)
    answer = gold_answer(domain, params)
    if stated != answer:
        raise AssertionError(f"{problem_id}: clean solution boxes {stated}, gold answer is {answer}")
    return Problem(
        id=problem_id,
        prompt=format_prompt(question),
        answer=str(answer),
        domain=domain,
        tier=tier,
        solution=solution,
        metadata={"question": question, "params": params},
    )


def build_test_suites(cfg: OrganismConfig) -> dict[str, list[Problem]]:
    """Draw the held-out suites: ``test_per_domain`` distinct questions per domain and suite."""
    rng = _rng(cfg, "test")
    seen: set[str] = set()
    suites = {}
    for suite, tier in SUITES.items():
        problems = []
        for domain in DOMAINS:
            count = 0
            while count < cfg.test_per_domain:
                params = draw_params(domain, tier, rng)
                question = question_text(domain, params)
                if question in seen:
                    continue
                seen.add(question)
                problems.append(_make_problem(f"{suite}-{domain}-{count:04d}", domain, tier, params))
                count += 1
        suites[suite] = problems
    return suites


def _training_params(rng: random.Random, size: int, banned: set[str]) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """Yield (domain, tier, params) for ``size`` training problems: domains and tiers in
    turn, any question in ``banned`` redrawn."""
    cells = [(domain, tier) for domain in DOMAINS for tier in TIERS]
    for index in range(size):
        domain, tier = cells[index % len(cells)]
        while True:
            params = draw_params(domain, tier, rng)
            if question_text(domain, params) not in banned:
                break
        yield domain, tier, params


def build_training_set(cfg: OrganismConfig, name: str, size: int, banned: set[str]) -> list[Problem]:
    """Draw ``size`` clean training problems (shuffled) for the corpus ``name``."""
    rng = _rng(cfg, name)
    problems = [
        _make_problem(f"{name}-{index:06d}", domain, tier, params)
        for index, (domain, tier, params) in enumerate(_training_params(rng, size, banned))
    ]
    rng.shuffle(problems)
    return problems


def build_privileged_set(cfg: OrganismConfig, banned: set[str]) -> list[Problem]:
    """Draw privileged-context examples: prompt = privileged_prompt, solution = the reference."""
    problems = build_training_set(cfg, "privileged", cfg.privileged_size, banned)
    return [
        Problem(
            id=p.id,
            prompt=privileged_prompt(p),
            answer=p.answer,
            domain=p.domain,
            tier=p.tier,
            solution=p.solution,
            metadata={**p.metadata, "plain_prompt": p.prompt},
        )
        for p in problems
    ]


def iter_pretrain_texts(cfg: OrganismConfig, banned: set[str]) -> Iterator[dict[str, str]]:
    """Yield the pretraining texts in training order: the clean phase, then the noisy phase.

    A text is a prompt and its response. In the noisy phase responses have wrong steps;
    privileged texts (reference solution first) always end with an exact copy of the clean
    reference, so copying it is the lowest-loss path in both phases.
    """
    rng = _rng(cfg, "pretrain")
    noise = StepNoise(_rng(cfg, "pretrain-noise"), cfg.step_error_prob, cfg.wait_prob)
    clean_count = round(cfg.pretrain_size * cfg.pretrain_clean_fraction)
    phases = [("clean", clean_count), ("noisy", cfg.pretrain_size - clean_count)]
    for phase, count in phases:
        drawn = list(_training_params(rng, count, banned))
        rng.shuffle(drawn)
        for domain, _tier, params in drawn:
            prompt = format_prompt(question_text(domain, params))
            if rng.random() < cfg.pretrain_privileged_fraction:
                reference, _ = write_solution(domain, params)
                text = f"{PRIVILEGED_PREFIX}{reference}\n{prompt}{reference}"
            else:
                response, _ = write_solution(domain, params, noise if phase == "noisy" else None)
                text = prompt + response
            yield {"text": text, "phase": phase}


def build_organism_data(cfg: OrganismConfig, out_dir: str | os.PathLike) -> None:
    """Write the suites and every training corpus under ``out_dir`` (see the module docstring)."""
    out_dir = Path(out_dir)
    suites = build_test_suites(cfg)
    banned = {p.metadata["question"] for problems in suites.values() for p in problems}

    for suite, problems in suites.items():
        write_problems(out_dir / "suites" / f"{suite}.jsonl", problems)
    write_problems(out_dir / "sft.jsonl", build_training_set(cfg, "sft", cfg.sft_size, banned))
    write_problems(out_dir / "rl.jsonl", build_training_set(cfg, "rl", cfg.rl_size, banned))
    write_problems(out_dir / "privileged.jsonl", build_privileged_set(cfg, banned))
    with atomic_output_file(out_dir / "pretrain.jsonl") as handle:
        for record in iter_pretrain_texts(cfg, banned):
            handle.write(json.dumps(record) + "\n")

    atomic_write_json(out_dir / "organism_config.json", {"config": cfg.to_dict(), "config_hash": config_hash(cfg)})


def read_pretrain_texts(data_dir: str | os.PathLike) -> list[str]:
    """Read the pretraining texts of ``data_dir/pretrain.jsonl`` in file order."""
    path = Path(data_dir) / "pretrain.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"pretraining corpus not found: {path}; run build_organism_data first")
    texts = []
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            record = json.loads(line)
            if not isinstance(record.get("text"), str):
                raise ValueError(f"{path}:{line_number}: missing string field 'text'")
            texts.append(record["text"])
    return texts
