"""Input nobody vouches for: files found in watched folders, and JSON from anywhere.

A request file is whatever a user, a script or an attacker put in a folder: a FIFO
(opening one for reading blocks until someone writes to it), a device, a socket, a
symlink to anywhere, gigabytes of junk, or JSON nested a hundred thousand levels
deep (Python's parser recurses, and its recursion limit then becomes the daemon's
problem). Everything that reads such input goes through here: regular files only,
opened without blocking and read up to a limit; JSON checked for depth before it
is parsed. Each refusal is an :class:`~.errors.UnsafeInput` whose code says why.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from pathlib import Path
from typing import Any

from .errors import UnsafeInput

#: Deepest JSON accepted. A request is four levels deep ({"shots": [{"audio": [0]}]});
#: this leaves room for anything a person writes and none for a parser bomb.
MAX_JSON_DEPTH = 64

_KINDS = {
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFDIR: "a folder",
}


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def _not_regular(mode: int, path: Path) -> UnsafeInput:
    return UnsafeInput(
        f"is {file_kind(mode)}, not a regular file; it was not opened",
        code="not_a_regular_file",
        path=str(path),
    )


def _too_large(limit: int, path: Path) -> UnsafeInput:
    return UnsafeInput(
        f"is larger than {limit} bytes (max_request_bytes, or max_timeline_bytes for a "
        "timeline); it was not read",
        code="too_large",
        path=str(path),
    )


def read_regular(path: Path, limit: int) -> bytes:
    """The bytes of ``path`` (symlinks followed), if it is a regular file of at most
    ``limit`` bytes. Raises :class:`FileNotFoundError` if nothing is there, another
    :class:`OSError` if it cannot be read, :class:`UnsafeInput` if it must not be."""
    before = os.stat(path)
    if not stat.S_ISREG(before.st_mode):
        raise _not_regular(before.st_mode, path)  # never opened: a FIFO would block
    if before.st_size > limit:
        raise _too_large(limit, path)
    # O_NONBLOCK: if it was swapped for a FIFO since the stat, open() still returns.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        now = os.fstat(fd)
        if not stat.S_ISREG(now.st_mode):
            raise _not_regular(now.st_mode, path)
        chunks: list[bytes] = []
        total = 0
        while True:
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:  # it grew while we read
                raise _too_large(limit, path)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_start(path: Path, size: int) -> bytes:
    """The first ``size`` bytes of ``path``, if it is a regular file (whatever its
    length): enough to tell what a file is without reading all of it."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _not_regular(mode, path)  # O_NONBLOCK: a FIFO opened, never read
        return os.read(fd, size)
    finally:
        os.close(fd)


_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = b"[]{}"
_NOT_BRACKETS = bytes(b for b in range(256) if b not in _BRACKETS)


def json_depth(data: bytes) -> int:
    """How deeply the arrays and objects of a JSON text nest (brackets inside
    strings do not count). Iterative: safe on any input."""
    brackets = _STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    depth = deepest = 0
    for byte in brackets:
        if byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text} is too large")
    return value


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def loads(data: bytes, what: str = "the document", max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse JSON that anyone may have written: UTF-8, at most ``max_depth`` deep, no
    NaN or Infinity, no number too large for a float. :class:`UnsafeInput` (code
    ``bad_json`` or ``too_deep``) says what is wrong, in words."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UnsafeInput(f"{what} is not UTF-8 text", code="bad_json") from None
    # Cheap first: no more opening brackets than the limit, no deeper than it either.
    if data.count(b"[") + data.count(b"{") > max_depth and (depth := json_depth(data)) > max_depth:
        raise UnsafeInput(
            f"{what} nests arrays and objects {depth} levels deep; at most {max_depth} "
            "are accepted",
            code="too_deep",
        )
    try:
        return json.loads(text, parse_float=_finite, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise UnsafeInput(
            f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            code="bad_json",
        ) from None
    except RecursionError:  # the depth check makes this unreachable; kept as a guard
        raise UnsafeInput(f"{what} nests too deeply", code="too_deep") from None
    except ValueError as exc:  # NaN, 1e999, an integer of thousands of digits
        why = "a number in it has too many digits" if "digits" in str(exc) else str(exc)
        raise UnsafeInput(f"{what} is not usable JSON: {why}", code="bad_json") from None
