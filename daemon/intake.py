"""Intake: from "a request file was seen" to "a job is queued", exactly once.

Events and scans only *offer* paths. A request is acted on once it has settled (its
size and mtime unchanged for ``stable_seconds`` of this machine's clock, which
copes with NAS clock skew) and it parses. What happens then is decided by the
filesystem, which is the source of truth; Redis is transport:

- status file terminal for this content → nothing (no retry loops; delete the status
  file to force a re-run);
- job already in Redis and not ended → nothing;
- request does not parse → status ``failed`` with every problem, no job;
- otherwise (new, edited, or lost by a Redis that restarted empty) → queue it.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from redis import Redis
from rq.registry import StartedJobRegistry
from rq.serializers import JSONSerializer
from rq.timeouts import TimerDeathPenalty

from . import jobqueue
from .errors import ValidationFailed
from .request import is_request_file
from .settings import Settings
from .status import TERMINAL, StatusFile
from .validate import parse_request

log = logging.getLogger(__name__)

#: Folders that never hold projects: our own output, and dot-folders (.git, .Trash…).
SKIP_DIRS = {"exports"}


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

    # -- which paths count ------------------------------------------------------
    def root_of(self, path: Path) -> Path | None:
        for root in self.settings.roots:
            if path.is_relative_to(root):
                return root
        return None

    def accepts(self, path: Path) -> bool:
        root = self.root_of(path)
        if root is None or not is_request_file(path):
            return False
        folders = path.relative_to(root).parts[:-1]
        if len(folders) > self.settings.project_depth:
            return False
        return not any(p.startswith(".") or p in SKIP_DIRS for p in folders)

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
                try:
                    done.append((path, self.process(path)))
                except OSError as exc:  # e.g. a read-only project folder: say so, carry on
                    log.error("cannot process %s: %s", path, exc)
                    done.append((path, "error"))
        return done

    def process(self, path: Path) -> str:
        """Decide what ``path`` needs; returns the outcome for the log."""
        try:
            content = path.read_bytes()
        except OSError:
            return "gone"
        job_id = jobqueue.job_id_for(path, content)
        sha = jobqueue.content_sha256(content)
        status = StatusFile(path)
        recorded = status.read()
        if recorded.get("job_id") == job_id and recorded.get("state") in TERMINAL:
            return "done"
        if jobqueue.exists(self.conn, job_id):
            job = jobqueue.fetch(self.conn, job_id)
            seen = jobqueue.view(job)
            if seen["state"] not in TERMINAL:
                return "known"
            if recorded.get("job_id") == job_id:
                # It ended while the status file could not be written (NAS away).
                status.write(
                    job_id=job_id,
                    state=seen["state"],
                    stage=seen["stage"],
                    progress=seen["progress"],
                    export=seen["export"],
                    error=seen["error"],
                )
                return "synced"
            # It ended, and someone deleted the status file: that means "run it again".
            job.delete()
        _, _, problems = parse_request(content)
        if problems:
            error = ValidationFailed(str(path), problems).to_dict()
            status.write(
                job_id=job_id,
                request_sha256=sha,
                state="failed",
                stage="probe",
                progress=0.0,
                export=None,
                error=error,
            )
            log.warning("%s is invalid: %s", path, error["message"])
            return "invalid"
        # The status goes first: a fast worker may write "running" before enqueue returns.
        status.write(
            job_id=job_id,
            request_sha256=sha,
            state="queued",
            stage="queued",
            progress=0.0,
            export=None,
            error=None,
        )
        if jobqueue.enqueue(self.conn, self.settings, path, content) is None:
            return "known"
        log.info("queued %s as %s", path, job_id)
        return "queued"

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
                    if is_request_file(name):
                        yield Path(folder) / name

    def scan(self) -> None:
        """Offer every request under the roots: catch-up at start, then periodically."""
        for path in self.walk():
            self.offer(path)

    def reap_abandoned(self) -> None:
        """Fail jobs whose worker died. RQ's workers do this only every ten minutes."""
        registry = StartedJobRegistry(
            self.settings.queue_name,
            connection=self.conn,
            serializer=JSONSerializer,
            # The failure hook runs here, on the watch thread: RQ's default alarm
            # based time limit only works on a main thread.
            death_penalty_class=TimerDeathPenalty,
        )
        registry.cleanup()


def _stat_key(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns
