"""What a job reads must hold still: complete shots, and a project that is still there.

A shot copied onto the NAS while its request was dropped would be probed, planned
and rendered as far as it had been written: a short cut that looks finished. So
each shot's file is fingerprinted (size, modification time, inode) around
validation. A job whose shots changed during validation, or within the last
``source_settle_seconds``, waits (at most ``source_wait_seconds``) until they have
been quiet for that long, and validates again; it then renders only what it
validated: the fingerprints are checked again before anything is published. A
shot that does not settle, or changes later, fails the job with
``source_changed``, naming the shot.

A project folder can also be moved or deleted, or its request deleted, while the
job runs: :func:`gone` tells which, and the run ends ``project_gone`` or
``request_gone`` instead of with whatever error the vanished files caused.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from ..errors import AssemblyError, ProjectGone, RequestGone, SourceChanged, ValidationFailed
from ..request.model import AssemblyRequest
from ..settings import Settings

V = TypeVar("V")

#: How often a job looks at shots it waits for.
POLL = 0.25


@dataclass(frozen=True)
class Fingerprint:
    size: int
    mtime_ns: int
    inode: int

    def to_list(self) -> list[int]:
        return [self.size, self.mtime_ns, self.inode]

    @classmethod
    def from_list(cls, value: object) -> Fingerprint | None:
        """From :meth:`to_list`'s form, as read back from Redis (untrusted)."""
        if (
            isinstance(value, list)
            and len(value) == 3
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        ):
            return cls(*value)
        return None


#: Shot index -> fingerprint of its file, for the shots that are files.
Sources = dict[int, Fingerprint]


def fingerprint(path: Path) -> Fingerprint | None:
    try:
        st = path.stat()
    except (OSError, ValueError):
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return Fingerprint(st.st_size, st.st_mtime_ns, st.st_ino)


def shot_files(project: Path, request: AssemblyRequest | None) -> dict[int, Path]:
    """Each shot's file as validation resolves it (a shot that is not a plain file,
    such as an image sequence's pattern, simply has no fingerprint)."""
    if request is None:
        return {}
    root = Path(os.path.realpath(project))
    found: dict[int, Path] = {}
    for index, shot in enumerate(request.shot_list):
        try:
            found[index] = (root / shot.path).resolve()
        except (OSError, ValueError, RuntimeError):
            continue
    return found


def fingerprints(files: dict[int, Path]) -> Sources:
    return {i: fp for i, path in files.items() if (fp := fingerprint(path)) is not None}


def _label(request: AssemblyRequest | None, index: int) -> str | None:
    shots = request.shot_list if request is not None else []
    return shots[index].path if index < len(shots) else None


def validate_settled(
    validate_once: Callable[[], V],
    files: dict[int, Path],
    request: AssemblyRequest | None,
    settings: Settings,
    *,
    wall: Callable[[], float] = time.time,
    clock: Callable[[], float] = time.monotonic,
    pause: Callable[[float], None] = time.sleep,
) -> tuple[V, Sources]:
    """``validate_once()`` over shots that hold still, and their fingerprints.

    A validation during which a shot changed, or of a shot modified within the
    settle window (by this machine's clock, which may disagree with a NAS's: a
    shot seen quiet for a whole window here counts as settled), is not trusted:
    the job waits for its shots to be quiet for ``source_settle_seconds``, then
    validates again. A validation that failed while a shot was moving is retried
    the same way (a half-copied file looks damaged). Raises
    :class:`SourceChanged` naming a shot that did not settle in
    ``source_wait_seconds``.
    """
    settle = settings.source_settle_seconds
    deadline = clock() + settings.source_wait_seconds
    seen_quiet: Sources | None = None
    while True:
        before = fingerprints(files)
        failure: ValidationFailed | None = None
        try:
            validated = validate_once()
        except ValidationFailed as exc:
            failure = exc
        after = fingerprints(files)
        moving = [i for i in sorted(set(before) | set(after)) if before.get(i) != after.get(i)]
        recent = [i for i, fp in after.items() if wall() - fp.mtime_ns / 1e9 < settle]
        if not moving and (not recent or after == seen_quiet):
            if failure is not None:
                raise failure
            return validated, after
        # Wait for a whole quiet window, then validate what is there.
        last, quiet_since = after, clock()
        suspects = moving or recent
        while clock() - quiet_since < settle:
            if clock() >= deadline:
                index = suspects[0]
                raise SourceChanged(
                    f"the file is still being written (it changed within the last "
                    f"{settle:g} s) and did not settle within {settings.source_wait_seconds:g} s",
                    shot_index=index,
                    path=_label(request, index),
                )
            pause(min(POLL, settle))
            now = fingerprints(files)
            if now != last:
                suspects = [i for i in sorted(set(now) | set(last)) if now.get(i) != last.get(i)]
                last, quiet_since = now, clock()
        seen_quiet = last


def check_unchanged(
    files: dict[int, Path], expected: Sources, request: AssemblyRequest | None
) -> None:
    """Raise :class:`SourceChanged` for the first shot whose file is not as validated."""
    now = fingerprints(files)
    for index in sorted(expected):
        if now.get(index) != expected[index]:
            raise SourceChanged(
                "the file changed while the job used it (its size or modification time is "
                "not what validation saw); nothing was published",
                shot_index=index,
                path=_label(request, index),
            )


def gone(request_path: Path) -> AssemblyError | None:
    """:class:`ProjectGone` if the request's folder is no longer there (moved or
    deleted), :class:`RequestGone` if only the request file is; else None."""
    project = request_path.parent
    if not project.is_dir():
        return ProjectGone(str(project))
    if not os.path.lexists(request_path):
        return RequestGone(str(request_path))
    return None
