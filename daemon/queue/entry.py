"""A job's entry in its project's ``project.json`` (the entry whose ``id`` is the
job's id), found and read as the untrusted input it is.

The project comes from the job's meta in Redis, where anyone who can reach it may
have written: it must be a folder inside a watch root. ``project.json`` is a file any
tool or person may edit: it must be a regular file of a bounded size and depth, and
what is in it is checked by whoever uses a field (:mod:`.details`, :mod:`.jobfiles`).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import AssemblyError, describe
from ..records.files import MAX_RECORD_BYTES
from ..records.project import PROJECT_FILE
from ..settings import Settings, map_path
from ..untrusted import loads, read_regular
from .views import JobView

#: project.json holds other tools' keys too; deeper than this is refused unparsed.
MAX_DEPTH = 128
#: Far above any real request (the request model allows 8).
MAX_OUTPUTS = 16

#: Parsed files are kept up to this size: a bigger one is read each time, so that
#: the cache's memory stays bounded (parsed JSON takes several times its bytes).
CACHED_BYTES = 8 * 1024 * 1024

Entries = tuple[dict[str, dict[str, Any]], str | None]


@dataclass(frozen=True)
class Record:
    """The job's project folder (resolved) and its entry there, as read; ``problem``
    says why there is none when the folder or the file was unusable."""

    project: Path | None
    entry: dict[str, Any] | None
    problem: str | None = None


def project_folder(view: JobView, settings: Settings) -> Path | None:
    """The job's project on this machine, if it is a folder (inside a watch root,
    when there are roots: a tampered meta must not point us anywhere else)."""
    raw = view["project"]
    if not raw or "\x00" in raw:
        return None
    mapped = Path(map_path(raw, settings))
    if not mapped.is_absolute():
        return None
    try:
        project = mapped.resolve(strict=True)
        if not project.is_dir():
            return None
        roots = [root.resolve() for root in settings.roots]
    except (OSError, RuntimeError):
        return None
    if roots and not any(project.is_relative_to(root) for root in roots):
        return None
    return project


def record(view: JobView, settings: Settings) -> Record:
    project = project_folder(view, settings)
    if project is None:
        if not view["project"]:
            return Record(None, None)
        return Record(None, None, "the job's project folder is not there (or not in a watch root)")
    entries, problem = _entries(project / PROJECT_FILE)
    return Record(project, entries.get(view["id"]), problem)


class _Cache:
    """Parsed project.json files by identity (inode, size, mtime): a dashboard asks
    for many pictures of one project at once, and the file can be megabytes."""

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self.lock = threading.Lock()
        self.items: OrderedDict[tuple[Any, ...], Entries] = OrderedDict()

    def get(self, key: tuple[Any, ...]) -> Entries | None:
        with self.lock:
            found = self.items.get(key)
            if found is not None:
                self.items.move_to_end(key)
            return found

    def put(self, key: tuple[Any, ...], value: Entries) -> None:
        with self.lock:
            self.items[key] = value
            while len(self.items) > self.size:
                self.items.popitem(last=False)


_CACHE = _Cache()


def _entries(path: Path) -> Entries:
    """The assembly entries of ``path`` by id, and what made it unreadable, if it was."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return {}, None
    except OSError as exc:
        return {}, f"{PROJECT_FILE} cannot be read: {exc.strerror or exc}"
    key = (str(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    found = _CACHE.get(key)
    if found is None:
        found = _parse(path)
        if st.st_size <= CACHED_BYTES:
            _CACHE.put(key, found)
    return found


def _parse(path: Path) -> Entries:
    try:
        data = loads(read_regular(path, MAX_RECORD_BYTES), PROJECT_FILE, max_depth=MAX_DEPTH)
    except AssemblyError as exc:
        return {}, describe(exc)
    except OSError as exc:
        return {}, f"{PROJECT_FILE} cannot be read: {exc.strerror or exc}"
    assemblies = data.get("assemblies") if isinstance(data, dict) else None
    if not isinstance(assemblies, list):
        return {}, None if isinstance(data, dict) else f"{PROJECT_FILE} is not a JSON object"
    entries: dict[str, dict[str, Any]] = {}
    for entry in assemblies:
        if isinstance(entry, dict) and isinstance(entry.get("id"), str):
            entries.setdefault(entry["id"], entry)
    return entries, None


def as_dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: object, limit: int) -> list[Any]:
    return value[:limit] if isinstance(value, list) else []


def outputs_of(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """The entry's outputs; an entry from before several outputs has one, made of
    its ``output``, ``settings`` and ``report``."""
    outputs = entry.get("outputs")
    if isinstance(outputs, list):
        return [as_dict(out) for out in outputs[:MAX_OUTPUTS]]
    if isinstance(entry.get("output"), str):
        return [
            {
                "file": entry["output"],
                "strategy": entry.get("strategy"),
                "settings": entry.get("settings"),
                "report": entry.get("report"),
                "segments": entry.get("segments"),
            }
        ]
    return []
