"""JSON files that several processes, on several machines, update in place.

Every update is a read-modify-write under a lock file, written to a temporary file,
fsynced and moved into place with ``os.replace``: readers see the old or the new
file, never half of one, and concurrent writers lose no update.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from filelock import FileLock

log = logging.getLogger(__name__)

#: Long enough to outlast a slow NAS round trip, short enough to surface a stuck lock.
LOCK_TIMEOUT = 60.0


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
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
    """The object in ``path``; ``{}`` if there is none. ValueError if it is not JSON."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{path.name} does not hold a JSON object")
    return data


def lock_for(path: Path) -> FileLock:
    return FileLock(str(path.with_name(f".{path.name}.lock")), timeout=LOCK_TIMEOUT)


def update_json(path: Path, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Apply ``change`` to the object in ``path`` under its lock; returns the new object."""
    with lock_for(path):
        try:
            data = read_json(path)
        except ValueError as exc:
            # Keep the user's broken file rather than overwrite it.
            backup = path.with_name(f"{path.name}.broken-{int(time.time())}")
            os.replace(path, backup)
            log.warning("%s was unreadable (%s); moved to %s", path, exc, backup.name)
            data = {}
        change(data)
        write_json_atomic(path, data)
        return data
