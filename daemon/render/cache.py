"""The segment cache: normalized shots, reused while nothing they depend on changes.

In a studio the same cut is assembled again and again with one or two shots
changed. A normalized segment is keyed by its source's identity (path, size, mtime
and inode: hashing terabytes of camera files would cost more than re-encoding; the
path relative to the watch root, so that machines mounting the NAS at different
paths share the entries),
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
from datetime import date
from pathlib import Path
from typing import Any

from filelock import FileLock

from ..lifecycle import process_tag
from ..media import ffmpeg
from ..media.sequence import frame_path
from ..settings import Settings
from .model import Plan, Segment

#: Bumped whenever what a key stands for changes (2: the picture chain of .picture;
#: 3: sources named relative to their watch root).
FORMAT_VERSION = 3
CACHE_DIR_NAME = ".assemblyd-cache"


def cache_dir_for(project: Path, settings: Settings) -> Path:
    if settings.cache_dir is not None:
        return settings.cache_dir
    for root in settings.roots:
        if project.is_relative_to(root):
            return root / CACHE_DIR_NAME
    return project / CACHE_DIR_NAME


def cache_base_for(project: Path, settings: Settings) -> Path:
    """What keys name a project's sources relative to: the watch root holding it
    (the same wherever a machine mounts the NAS, see ``path_map``), else the project."""
    for root in settings.roots:
        if project.is_relative_to(root):
            return root
    return project


def project_cache(project: Path, settings: Settings) -> SegmentCache:
    """The segment cache a project's renders use."""
    return SegmentCache(
        cache_dir_for(project, settings),
        settings.cache_max_bytes,
        cache_base_for(project, settings),
    )


class SegmentCache:
    def __init__(self, folder: Path, max_bytes: int, base: Path | None = None) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        #: Sources are named relative to this in keys (absolute without it).
        self.base = base

    def key(self, segment: Segment, plan: Plan) -> str:
        identity: dict[str, Any] = {
            "v": FORMAT_VERSION,
            "picture": _picture(segment, self.base),
            "drawn": _drawn(segment, plan),
            "output": plan.output.model_dump(),
            "encoder": asdict(plan.encoder),
            "ffmpeg": ffmpeg.version(),
        }
        return sha_key(json.dumps(identity, sort_keys=True, default=str))

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
        final.parent.mkdir(parents=True, exist_ok=True)
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


def _picture(segment: Segment, base: Path | None = None) -> dict[str, Any]:
    """Everything the segment's frames depend on, a dissolve's outgoing shot included."""
    picture: dict[str, Any] = {
        "source": None if segment.is_gap else source_identity(segment, base),
        "rate": str(segment.info.frame_rate),
        "start": segment.start,
        "frames": segment.frames,
        "fit": segment.fit,
        "offset": segment.offset,
        "speed": str(segment.speed),
    }
    if segment.blend_from is not None and segment.blend_frames:
        picture["blend"] = [_picture(segment.blend_from, base), segment.blend_frames]
    return picture


def _drawn(segment: Segment, plan: Plan) -> list[object]:
    """What is drawn over the segment that is not in the output settings: the slate's
    lines, and the burn-ins' own values (its place on the timeline, names, the day)."""
    if segment.slate:
        return list(segment.slate)
    if not plan.output.burnins:
        return []
    return [segment.first_frame, segment.label, segment.source.name, plan.project, date.today()]


def sha_key(identity: str) -> str:
    return hashlib.sha256(identity.encode()).hexdigest()[:32]


def source_identity(segment: Segment, base: Path | None = None) -> list[object]:
    """The source file's identity: its path (relative to ``base`` when under it),
    size, mtime and inode; for an image sequence, its frame range and every frame's
    size and mtime."""
    info = segment.info
    name = portable(segment.source, base)
    if info.kind != "sequence" or info.first_number is None:
        st = segment.source.stat()
        return [name, st.st_size, st.st_mtime_ns, st.st_ino]
    last = info.first_number + round(info.duration * info.frame_rate) - 1
    sizes, newest = 0, 0
    for number in range(info.first_number, last + 1):
        st = frame_path(segment.source, number).stat()
        sizes, newest = sizes + st.st_size, max(newest, st.st_mtime_ns)
    return [name, info.first_number, last, sizes, newest]


def portable(path: Path, base: Path | None) -> str:
    """``path`` as every machine names it: relative to ``base`` (a watch root) if under it."""
    if base is not None and path.is_relative_to(base):
        return path.relative_to(base).as_posix()
    return str(path)


def _touch(path: Path) -> None:
    # An explicit nanosecond time: the filesystem's own clock ticks in milliseconds,
    # too coarse to order entries used in quick succession.
    now = time.time_ns()
    os.utime(path, ns=(now, now))
