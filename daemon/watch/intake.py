"""Intake: from "a request file was seen" to "it is admitted", once it has settled.

Events and scans only *offer* paths. A request is acted on once it has settled (its
size and mtime unchanged for ``stable_seconds`` of this machine's clock, which
copes with NAS clock skew); what happens then is :func:`..queue.admission.admit`'s
decision. A request that cannot be handled (a bug, an input nobody foresaw) fails
alone: its status file says so, and the watcher goes on with the others.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from redis import Redis, RedisError

from ..conform.detect import is_timeline_file, may_be_timeline, request_limit
from ..errors import error_record
from ..queue import housekeeping
from ..queue.adapter import job_id_for
from ..queue.admission import admit
from ..queue.reaper import reap_abandoned
from ..queue.worker import heartbeat_ttl
from ..records.project import PROJECT_FILE
from ..records.status import StatusFile
from ..request.model import is_request_file
from ..request.parse import read_request_bytes
from ..settings import Settings
from ..stamps import sha256_hex
from ..states import JobState, Stage

log = logging.getLogger(__name__)

#: Folders that never hold projects: our own output, and dot-folders (.git, .Trash…).
SKIP_DIRS = {"exports"}


def may_be_request(name: str | Path) -> bool:
    """By its name alone (what an event handler may look at): a request file, or an
    editor's timeline (EDL, XML, OTIO, AAF) dropped as one."""
    return is_request_file(name) or may_be_timeline(name)


def _inside_a_project(path: Path, root: Path) -> bool:
    """Is the folder holding this timeline a folder of a project above it (its
    ``edit/``, say), whose assembly.json may name it? Then it is that project's
    material, not a request of its own."""
    folder = path.parent
    while folder != root and folder.is_relative_to(root):
        folder = folder.parent
        try:
            with os.scandir(folder) as entries:
                if any(e.name == PROJECT_FILE or is_request_file(e.name) for e in entries):
                    return True
        except OSError:
            return False
    return False


@dataclass
class _Pending:
    stat: tuple[int, int]
    since: float


class Intake:
    def __init__(
        self, conn: Redis, settings: Settings, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.conn, self.settings, self.clock = conn, settings, clock
        self.pending: dict[Path, _Pending] = {}
        #: No reaping before this: after Redis was away, live workers need a beat
        #: or two to renew heartbeats that expired meanwhile.
        self.reap_after = 0.0

    # -- which paths count ------------------------------------------------------
    def root_of(self, path: Path) -> Path | None:
        for root in self.settings.roots:
            if path.is_relative_to(root):
                return root
        return None

    def accepts(self, path: Path) -> bool:
        root = self.root_of(path)
        if root is None or not may_be_request(path):
            return False
        folders = path.relative_to(root).parts[:-1]
        if len(folders) > self.settings.project_depth:
            return False
        if any(p.startswith(".") or p in SKIP_DIRS for p in folders):
            return False
        if is_request_file(path):
            return True
        return is_timeline_file(path) and not _inside_a_project(path, root)

    # -- offers and settling ------------------------------------------------------
    def offer(self, path: Path) -> None:
        if not self.accepts(path):
            return
        key = _stat_key(path)
        if key is None:
            self.pending.pop(path, None)
            return
        known = self.pending.get(path)
        if known is None or known.stat != key:
            self.pending[path] = _Pending(key, self.clock())

    def settle(self) -> list[tuple[Path, str]]:
        """Process every pending request that has stopped changing."""
        done: list[tuple[Path, str]] = []
        now = self.clock()
        for path, pending in list(self.pending.items()):
            key = _stat_key(path)
            if key is None:
                del self.pending[path]
            elif key != pending.stat:
                self.pending[path] = _Pending(key, now)
            elif now - pending.since >= self.settings.stable_seconds:
                del self.pending[path]
                # Asked again: a timeline offered as it was written may since have
                # turned out to be a project's own (its assembly.json came next).
                if self.accepts(path):
                    done.append((path, self._admit(path, key)))
        return done

    def _admit(self, path: Path, key: tuple[int, int]) -> str:
        try:
            return admit(self.conn, self.settings, path)
        except RedisError:
            # Redis is away: keep it, settled, for when Redis is back.
            self.pending[path] = _Pending(key, self.clock() - self.settings.stable_seconds)
            raise
        except OSError as exc:  # e.g. a read-only project folder: say so, carry on
            log.error("cannot process %s: %s", path, exc)
            return "error"
        except Exception as exc:  # a bug, or an input nobody foresaw: this request only
            log.exception("cannot process %s", path)
            self._report(path, exc)
            return "error"

    def _report(self, path: Path, exc: Exception) -> None:
        """Write the failure into the request's status file, for the job id of its
        content (so that the next rescan finds it done, not a new failure)."""
        content, _ = read_request_bytes(path, request_limit(path, self.settings))
        try:
            StatusFile(path).write(
                claim=True,
                job_id=job_id_for(path, content or b""),
                request_sha256=sha256_hex(content or b""),
                state=JobState.FAILED,
                stage=Stage.QUEUED,
                progress=0.0,
                export=None,
                error=error_record(exc),
            )
        except Exception as write_failed:  # the status file itself is unusable
            log.error("cannot write the status of %s: %s", path, write_failed)

    # -- scans ------------------------------------------------------------------
    def walk(self) -> Iterator[Path]:
        for root in self.settings.roots:
            base_depth = len(root.parts)
            for folder, dirs, files in os.walk(root):
                depth = len(Path(folder).parts) - base_depth
                dirs[:] = (
                    []
                    if depth >= self.settings.project_depth
                    else [d for d in dirs if not d.startswith(".") and d not in SKIP_DIRS]
                )
                for name in files:
                    if may_be_request(name):
                        yield Path(folder) / name

    def scan(self) -> None:
        """Offer every request under the roots: catch-up at start, then periodically."""
        for path in self.walk():
            self.offer(path)

    def reap_abandoned(self) -> None:
        """Fail jobs whose worker died. RQ's workers do this only every ten minutes."""
        if self.clock() >= self.reap_after:
            reap_abandoned(self.conn, self.settings)

    def redis_was_away(self) -> None:
        """Redis did not answer: hold the reaper until live workers have beaten again."""
        interval = self.settings.heartbeat_interval
        self.reap_after = self.clock() + heartbeat_ttl(interval) + interval

    def projects(self) -> set[Path]:
        """The folders holding a request file."""
        return {path.parent for path in self.walk()}

    def sweep(self) -> int:
        """Remove what dead runs left and settle their project.json entries (see
        :mod:`..queue.housekeeping`)."""
        return housekeeping.sweep(self.conn, self.settings, sorted(self.projects()))


def _stat_key(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns
