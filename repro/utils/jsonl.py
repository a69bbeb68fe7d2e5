"""Reading JSONL files line by line with errors that name the file and line."""

from __future__ import annotations

import json
import os
from typing import Any, Iterator


def iter_jsonl_objects(path: str | os.PathLike, error_type: type[Exception]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``("path:line", object)`` for each non-blank line of a JSONL file.

    Blank lines are skipped. A line that is not valid JSON, or is valid JSON but not an object,
    raises ``error_type`` with a message that starts with ``path:line``, so each caller keeps
    its own exception class.
    """
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}:{line_number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise error_type(f"{where}: invalid JSON ({error.msg}); fix or remove this line") from None
            if not isinstance(record, dict):
                raise error_type(f"{where}: expected a JSON object per line, got {type(record).__name__}")
            yield where, record
