import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def handed_cases() -> dict:
    """Known-fault cases keyed by id (tests/data/handed_cases.jsonl)."""
    cases = {}
    for line in (DATA / "handed_cases.jsonl").read_text().splitlines():
        if line.strip():
            case = json.loads(line)
            cases[case["id"]] = case
    return cases
