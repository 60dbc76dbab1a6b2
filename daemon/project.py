"""``project.json``: the project's record of its assemblies.

Other tools own the rest of this file, so unknown keys are kept. Writers on several
machines may update it at once (two renders finishing in one project), so every
update is a read-modify-write under a lock file, written to a temporary file,
fsynced and moved into place with ``os.replace``: readers see the old or the new
file, never half of one.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from filelock import FileLock

log = logging.getLogger(__name__)

PROJECT_FILE = "project.json"
#: Long enough to outlast a slow NAS round trip, short enough to surface a stuck lock.
LOCK_TIMEOUT = 60.0


def _write_atomic(path: Path, data: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes the file private; keep the mode the project file had.
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


class ProjectFile:
    def __init__(self, project_dir: Path) -> None:
        self.path = Path(project_dir) / PROJECT_FILE
        self._lock = FileLock(str(Path(project_dir) / f".{PROJECT_FILE}.lock"), timeout=LOCK_TIMEOUT)

    def read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        if not isinstance(data, dict):
            raise ValueError("project.json does not hold a JSON object")
        return data

    def entries(self) -> list[dict[str, Any]]:
        return list(self.read().get("assemblies", []))

    def entry(self, entry_id: str) -> dict[str, Any] | None:
        return next((e for e in self.entries() if e.get("id") == entry_id), None)

    def update(self, entry_id: str, **fields: Any) -> dict[str, Any]:
        """Merge ``fields`` into the assembly entry ``entry_id`` (created if new)."""
        with self._lock:
            try:
                data = self.read()
            except ValueError as exc:
                # Keep the user's broken file rather than overwrite it.
                backup = self.path.with_name(f"{PROJECT_FILE}.broken-{int(time.time())}")
                os.replace(self.path, backup)
                log.warning("%s was unreadable (%s); moved to %s", self.path, exc, backup.name)
                data = {}
            assemblies = data.setdefault("assemblies", [])
            entry = next((e for e in assemblies if e.get("id") == entry_id), None)
            if entry is None:
                entry = {"id": entry_id}
                assemblies.append(entry)
            for key, value in fields.items():
                if isinstance(value, dict) and isinstance(entry.get(key), dict):
                    entry[key].update(value)
                else:
                    entry[key] = value
            _write_atomic(self.path, data)
            return dict(entry)
