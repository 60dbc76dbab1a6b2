"""JSON files that several processes, on several machines, update in place.

Every update is a read-modify-write under a lock file, written to a temporary file,
fsynced and moved into place with ``os.replace``: readers see the old or the new
file, never half of one, and concurrent writers lose no update.

Nothing here creates a folder: a project moved or deleted while its job ran must
not reappear because the job had something left to say (a missing folder is a
:class:`FileNotFoundError` for the caller). And whatever sits at a record's path is
read as untrusted input: only a regular file, of a bounded size.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import UnsafeInput
from ..lifecycle import process_tag
from ..untrusted import read_regular

log = logging.getLogger(__name__)

#: Long enough to outlast a slow NAS round trip, short enough to surface a stuck lock.
LOCK_TIMEOUT = 60.0
#: Largest record read. project.json grows with every assembly (each with its shots'
#: details); a studio's busiest project stays far below this.
MAX_RECORD_BYTES = 64 * 1024 * 1024


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    # Named after its owner, like every temporary file: a sweep can tell a dead
    # writer's leftover from a write under way.
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.{process_tag()}.", suffix=".tmp", dir=path.parent
    )
    try:
        # mkstemp makes the file private; keep the mode the file had.
        try:
            mode = path.stat().st_mode & 0o777
        except FileNotFoundError:
            mode = 0o644
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, ensure_ascii=False)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: Path) -> dict[str, Any]:
    """The object in ``path``; ``{}`` if there is none. ValueError if it is not a JSON
    object, or not a regular file of at most :data:`MAX_RECORD_BYTES`."""
    try:
        data = json.loads(read_regular(path, MAX_RECORD_BYTES).decode("utf-8"))
    except FileNotFoundError:
        return {}
    except (UnsafeInput, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"{path.name} is unusable: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path.name} does not hold a JSON object")
    return data


def lock_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.lock")


@contextmanager
def locked(path: Path, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold ``path``'s lock file (``flock``, as the ``filelock`` package takes it, so
    older versions of assemblyd still exclude us). Raises FileNotFoundError rather
    than create a folder that is not there, TimeoutError after ``timeout``."""
    fd = os.open(lock_path(path), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
    try:
        deadline = time.monotonic() + timeout
        delay = 0.002
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"{lock_path(path)} stayed locked for {timeout:g} s"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
        yield
    finally:
        os.close(fd)  # releases the lock


def update_json(path: Path, change: Callable[[dict[str, Any]], bool | None]) -> dict[str, Any]:
    """Apply ``change`` to the object in ``path`` under its lock; returns the new object.
    ``change`` returning False means "nothing to write". FileNotFoundError if
    ``path``'s folder does not exist (it is never created)."""
    with locked(path):
        try:
            data = read_json(path)
        except ValueError as exc:
            # Keep the user's broken file rather than overwrite it.
            backup = path.with_name(f"{path.name}.broken-{int(time.time())}")
            os.replace(path, backup)
            log.warning("%s was unreadable (%s); moved to %s", path, exc, backup.name)
            data = {}
        if change(data) is not False:
            write_json_atomic(path, data)
        return data
