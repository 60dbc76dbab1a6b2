"""The segment cache: normalized shots, reused while nothing they depend on changes.

In a studio the same cut is assembled again and again with one or two shots
changed. A normalized segment is keyed by its source's identity (path, size, mtime
and inode: hashing terabytes of camera files would cost more than re-encoding),
its trims and frame count, every output setting that reaches the encoder, and
ffmpeg's version. Re-assembling after one shot changed re-encodes only that shot.

Where it lives: ``cache_dir`` if set; else ``<root>/.assemblyd-cache`` for a project
under a watch root, shared by every worker that mounts the root; else
``<project>/.assemblyd-cache``. Entries are written under a temporary name and
renamed into place, so a worker never reads half a segment. Past ``cache_max_bytes``
the least recently used entries go first (a hit refreshes an entry's mtime).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from filelock import FileLock

from ..lifecycle import process_tag
from ..media import ffmpeg
from ..settings import Settings
from .model import Plan, Segment

FORMAT_VERSION = 1
CACHE_DIR_NAME = ".assemblyd-cache"


def cache_dir_for(project: Path, settings: Settings) -> Path:
    if settings.cache_dir is not None:
        return settings.cache_dir
    for root in settings.roots:
        if project.is_relative_to(root):
            return root / CACHE_DIR_NAME
    return project / CACHE_DIR_NAME


class SegmentCache:
    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder = folder
        self.max_bytes = max_bytes

    def key(self, segment: Segment, plan: Plan) -> str:
        st = segment.source.stat()
        identity: dict[str, Any] = {
            "v": FORMAT_VERSION,
            "source": [str(segment.source), st.st_size, st.st_mtime_ns, st.st_ino],
            "start": segment.start,
            "frames": segment.frames,
            "fit": segment.fit,
            "offset": segment.offset,
            "output": plan.output.model_dump(),
            "encoder": asdict(plan.encoder),
            "ffmpeg": ffmpeg.version(),
        }
        blob = json.dumps(identity, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:32]

    def path(self, key: str, ext: str) -> Path:
        return self.folder / key[:2] / f"{key}.{ext}"

    def lookup(self, key: str, ext: str) -> Path | None:
        path = self.path(key, ext)
        try:
            _touch(path)  # recently used: evicted last
        except FileNotFoundError:
            return None
        return path

    def temp_path(self, key: str, ext: str) -> Path:
        final = self.path(key, ext)
        final.parent.mkdir(parents=True, exist_ok=True)
        # Named after its owner (host and pid): a sweep removes a dead one's (see
        # queue/housekeeping.py) and leaves a live one's alone.
        return final.with_name(f".{key}.{process_tag()}.tmp.{ext}")

    def store(self, temp: Path, key: str, ext: str) -> Path:
        final = self.path(key, ext)
        os.replace(temp, final)
        _touch(final)
        self.evict(keep=final)
        return final

    def entries(self) -> list[Path]:
        return [p for p in self.folder.glob("??/*") if not p.name.startswith(".")]

    def evict(self, keep: Path | None = None) -> list[Path]:
        """Delete least recently used entries until the cache fits its limit."""
        self.folder.mkdir(parents=True, exist_ok=True)
        removed: list[Path] = []
        with FileLock(str(self.folder / ".lock"), timeout=60):
            files = []
            for path in self.entries():
                try:
                    st = path.stat()
                except FileNotFoundError:
                    continue
                files.append((st.st_mtime_ns, st.st_size, path))
            total = sum(size for _, size, _ in files)
            for _, size, path in sorted(files):
                if total <= self.max_bytes:
                    break
                if path == keep:
                    continue
                path.unlink(missing_ok=True)
                removed.append(path)
                total -= size
        return removed


def _touch(path: Path) -> None:
    # An explicit nanosecond time: the filesystem's own clock ticks in milliseconds,
    # too coarse to order entries used in quick succession.
    now = time.time_ns()
    os.utime(path, ns=(now, now))
