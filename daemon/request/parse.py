"""Reading a request document: bytes in, the model or every problem with it out.

The bytes may be anything (see :mod:`..untrusted`), and so may the JSON in them: a
shot list holding a number, an object where text belongs. Every problem comes
back as a :class:`~..errors.Problem` in plain words, never as pydantic's.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from ..errors import Problem, UnsafeInput
from ..untrusted import loads, read_regular
from .model import AssemblyRequest

#: What a request document is while it is being read: JSON, not yet trusted.
RawRequest = dict[str, Any]


def read_request_bytes(request_path: Path, limit: int) -> tuple[bytes | None, Problem | None]:
    """The bytes of a request file, or the problem that kept them from being read.

    Only a regular file of at most ``limit`` bytes is read; a symlink is followed
    only if it stays inside the project folder (the folder holding the request):
    shots are found relative to that folder, and a link must not make a request
    from elsewhere render media from elsewhere.
    """
    path = Path(os.path.abspath(request_path))
    try:
        real = Path(os.path.realpath(path))
        if not real.is_relative_to(os.path.realpath(path.parent)):
            return None, Problem(
                "outside_project",
                "the request file is a symlink leading outside the project folder; it was not read",
            )
        return read_regular(path, limit), None
    except FileNotFoundError:
        return None, Problem("missing_file", "the request file does not exist")
    except UnsafeInput as exc:
        return None, Problem(exc.code, f"the request file {exc.reason}")
    except OSError as exc:
        return None, Problem(
            "unreadable", f"the request file cannot be read: {exc.strerror or exc}"
        )


def read_request(
    request_path: Path, limit: int
) -> tuple[bytes, RawRequest, AssemblyRequest | None, list[Problem]]:
    """Read, parse and model-check the file: its bytes, the raw document (even when
    invalid), the model if valid, and every problem."""
    data, problem = read_request_bytes(request_path, limit)
    if data is None:
        assert problem is not None
        return b"", {}, None, [problem]
    return (data, *parse_request(data))


def parse_request(data: bytes) -> tuple[RawRequest, AssemblyRequest | None, list[Problem]]:
    """Parse and model-check request bytes; every problem, not just the first."""
    try:
        raw = loads(data, what="the request")
    except UnsafeInput as exc:
        return {}, None, [Problem(exc.code, exc.reason)]
    if not isinstance(raw, dict):
        reason = f'the request must be a JSON object with "shots", not {_kind(raw)}'
        return {}, None, [Problem("bad_json", reason)]
    try:
        return raw, AssemblyRequest.model_validate(raw), []
    except ValidationError as exc:
        return raw, None, _problems(exc.errors(), raw)


# --- pydantic's errors, in words -------------------------------------------------


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"the number {value:g}" if isinstance(value, float) else f"the number {value}"
    if isinstance(value, str):
        return f"the text {_quote(value)}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _quote(text: str, limit: int = 60) -> str:
    shown = json.dumps(text, ensure_ascii=False)
    return shown if len(shown) <= limit else shown[: limit - 4] + '..."'


def _printable(text: str) -> str:
    """A path as it can be shown in one line of a message."""
    if text.isprintable():
        return text
    return json.dumps(text, ensure_ascii=False)[1:-1]


def _num(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _reason(err: ErrorDetails, key: str | None, whole_shot: bool = False) -> str:
    """What is wrong, in words. ``key`` names the offending key inside a shot (the
    message then starts with it); ``whole_shot`` says the shot entry itself is wrong."""
    kind, value, ctx = err["type"], err.get("input"), err.get("ctx") or {}
    subject = f"'{key}' " if key else ""
    if kind == "value_error":
        return str(err["msg"]).removeprefix("Value error, ")
    if kind == "extra_forbidden":
        return f"unknown key '{key}'; check the spelling"
    if kind == "missing":
        return f"'{key}' is required"
    if kind in ("float_type", "int_type", "int_from_float", "float_parsing", "int_parsing"):
        return f"{subject}must be a number, not {_kind(value)}"
    if kind == "finite_number":
        return f"{subject}must be a finite number"
    if kind == "string_type":
        return f"{subject}must be text, not {_kind(value)}"
    if kind == "literal_error":
        return f"{subject}is {_kind(value)}; choose {ctx.get('expected', 'one of the choices')}"
    if kind == "greater_than_equal":
        return f"{subject}must be {_num(ctx.get('ge'))} or more, not {_kind(value)}"
    if kind == "greater_than":
        return f"{subject}must be more than {_num(ctx.get('gt'))}, not {_kind(value)}"
    if kind in ("less_than_equal", "less_than"):
        bound = ctx.get("le", ctx.get("lt"))
        return f"{subject}must be at most {_num(bound)}, not {_kind(value)}"
    if kind in ("string_too_short", "too_short"):
        if tuple(err["loc"]) == ("shots",):
            return "needs at least one shot"
        return f"{subject}must not be empty"
    if kind == "string_too_long":
        return f"{subject}is longer than {ctx.get('max_length')} characters"
    if kind == "string_pattern_mismatch":
        return f"{subject}holds a control character (a NUL, a newline...), which no file name has"
    if kind == "list_type":
        return f"{subject}must be a list, not {_kind(value)}"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        if whole_shot:
            return f'a shot is a path (text) or an object with "path", not {_kind(value)}'
        return f"{subject}must be an object, not {_kind(value)}"
    return f"{subject}has a value that is not allowed here ({_kind(value)})"


#: Names pydantic adds to a location for the member of a union it tried; not keys.
_UNION_MEMBERS = ("int", "float", "str")


def _location(err: ErrorDetails) -> list[str | int]:
    loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
    if err["type"] != "extra_forbidden" and len(loc) > 1 and loc[-1] in _UNION_MEMBERS:
        loc.pop()
    return loc


def _problems(errors: list[ErrorDetails], raw: RawRequest) -> list[Problem]:
    """One problem per thing wrong: a value that fits no member of a union (an fps
    of "24": neither an int nor a float) is one problem, not one per member."""
    found: list[Problem] = []
    for err in errors:
        problem = _problem(err, raw)
        if problem not in found:
            found.append(problem)
    return found


def _problem(err: ErrorDetails, raw: RawRequest) -> Problem:
    loc = _location(err)
    shots = raw.get("shots")
    if len(loc) >= 2 and loc[0] == "shots" and isinstance(loc[1], int):
        index = loc[1]
        inner = loc[2:]
        if inner and inner[0] in ("path", "object"):  # the tag of the shot's form
            inner = inner[1:]
        entry = shots[index] if isinstance(shots, list) and 0 <= index < len(shots) else None
        path = entry if isinstance(entry, str) else None
        if isinstance(entry, dict) and isinstance(entry.get("path"), str):
            path = entry["path"]
        key = ".".join(str(p) for p in inner) or None
        if key is None and err["type"] in ("string_too_short", "string_pattern_mismatch"):
            key = "path"  # a bare path is the shot's path
        return Problem(
            "invalid_shot",
            _reason(err, key, whole_shot=not inner),
            shot_index=index,
            path=_printable(path) if path else None,
        )
    code = "unknown_key" if err["type"] == "extra_forbidden" else "invalid_setting"
    if err["type"] == "missing":  # said of the object it is missing from
        key, field = str(loc[-1]), ".".join(str(p) for p in loc[:-1]) or None
        return Problem(code, _reason(err, key), field=field)
    named = str(loc[-1]) if err["type"] == "extra_forbidden" and loc else None
    return Problem(code, _reason(err, named), field=".".join(str(p) for p in loc) or None)
