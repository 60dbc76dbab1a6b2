"""Reading a request document: bytes in, the model or every problem with it out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from ..errors import Problem
from .model import AssemblyRequest

#: What a request document is while it is being read: JSON, not yet trusted.
RawRequest = dict[str, Any]


def read_request(
    request_path: Path,
) -> tuple[bytes, RawRequest, AssemblyRequest | None, list[Problem]]:
    """Read, parse and model-check the file: its bytes, the raw document (even when
    invalid), the model if valid, and every problem."""
    try:
        data = request_path.read_bytes()
    except FileNotFoundError:
        return b"", {}, None, [Problem("missing_file", "the request file does not exist")]
    except OSError as exc:
        return b"", {}, None, [Problem("unreadable", f"the request file cannot be read: {exc}")]
    return (data, *parse_request(data))


def parse_request(data: bytes) -> tuple[RawRequest, AssemblyRequest | None, list[Problem]]:
    """Parse and model-check request bytes; every problem, not just the first."""
    try:
        raw = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        return {}, None, [Problem("bad_json", "not UTF-8 text")]
    except json.JSONDecodeError as exc:
        reason = f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        return {}, None, [Problem("bad_json", reason)]
    if not isinstance(raw, dict):
        return {}, None, [Problem("bad_json", "the request must be a JSON object")]
    try:
        return raw, AssemblyRequest.model_validate(raw), []
    except ValidationError as exc:
        return raw, None, [_problem_from_pydantic(err, raw) for err in exc.errors()]


def _problem_from_pydantic(err: ErrorDetails, raw: RawRequest) -> Problem:
    loc = [p for p in err["loc"] if p not in ("str", "Shot", "function-after[_ordered(), Shot]")]
    reason = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        reason = f"unknown key '{loc[-1]}'; check the spelling"
    elif err["type"] == "missing":
        reason = f"'{loc[-1]}' is required"
    if len(loc) >= 2 and loc[0] == "shots" and isinstance(loc[1], int):
        entry = raw.get("shots", [])[loc[1]]
        path = entry if isinstance(entry, str) else (entry or {}).get("path")
        return Problem(
            "invalid_shot", reason, shot_index=loc[1], path=path if isinstance(path, str) else None
        )
    field = ".".join(str(p) for p in loc) or None
    code = "unknown_key" if err["type"] == "extra_forbidden" else "invalid_setting"
    return Problem(code, reason, field=field)
