"""Admission: a settled request file in, at most one job for its content out.

What happens is decided by the filesystem, which is the source of truth; Redis is
transport:

- status file terminal for this content → nothing (no retry loops; delete the status
  file to force a re-run). A project folder that was moved keeps its status file:
  a finished one whose export came along is done too;
- job already in Redis and not ended → nothing;
- request cannot be read (a FIFO, a device, too large, a symlink out of the
  project) or does not parse → status ``failed`` with every problem, no job;
- otherwise (new, edited, or lost by a Redis that restarted empty) → queue it.

The watcher admits what it sees settle; the API admits what it was sent.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from pathlib import Path

from redis import Redis

from ..conform.detect import is_timeline_file, request_limit
from ..errors import ValidationFailed
from ..records.status import StatusFile, StatusRecord
from ..request.parse import parse_request, read_request_bytes
from ..settings import Settings
from ..stamps import sha256_hex
from ..states import TERMINAL, JobState, Stage
from .adapter import enqueue, exists, fetch, job_id_for
from .events import announce
from .fanout import delete_family
from .views import view

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    QUEUED = "queued"
    KNOWN = "known"  # its job is already queued or running
    DONE = "done"  # its status file says this content has ended
    SYNCED = "synced"  # it had ended; the status file now says so
    INVALID = "invalid"  # the document is not a request; its status file says why
    GONE = "gone"  # the file disappeared before it could be read


def _finished_here(recorded: StatusRecord, sha: str, project: Path) -> bool:
    """The status says this content finished, and its export is in this folder: the
    project was moved (or copied, exports and all) after its job ended."""
    export = recorded.get("export")
    return (
        recorded.get("state") == JobState.FINISHED
        and recorded.get("request_sha256") == sha
        and isinstance(export, str)
        and (project / export).is_file()
    )


def admit(conn: Redis, settings: Settings, path: Path) -> Outcome:
    """Decide what ``path`` needs, and do it."""
    content, unreadable = read_request_bytes(path, request_limit(path, settings))
    if unreadable is not None and unreadable.code == "missing_file":
        return Outcome.GONE
    job_id = job_id_for(path, content or b"")
    sha = sha256_hex(content or b"")
    status = StatusFile(path)
    recorded = status.read()
    if recorded.get("job_id") == job_id and recorded.get("state") in TERMINAL:
        return Outcome.DONE
    if _finished_here(recorded, sha, path.parent):
        return Outcome.DONE
    moved = _moved_run(conn, status, recorded, job_id, sha, path.parent)
    if moved is not None:
        return moved
    if exists(conn, job_id):
        job = fetch(conn, job_id)
        seen = view(job)
        if seen["state"] not in TERMINAL:
            return Outcome.KNOWN
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
            return Outcome.SYNCED
        # It ended, and someone deleted the status file: that means "run it again".
        delete_family(conn, job)
    # A timeline is read by its job (it takes the conform room, and the media's probes);
    # a shot list is checked here, so that a malformed one never takes a worker.
    problems = [unreadable] if unreadable is not None else []
    if not problems and not is_timeline_file(path):
        problems = parse_request(content or b"")[2]
    if problems:
        error = ValidationFailed(str(path), problems).to_dict()
        status.write(
            claim=True,
            job_id=job_id,
            request_sha256=sha,
            state=JobState.FAILED,
            stage=Stage.PROBE,
            progress=0.0,
            export=None,
            error=error,
        )
        log.warning("%s is invalid: %s", path, error["message"])
        return Outcome.INVALID
    # The status goes first: a fast worker may write "running" before enqueue returns.
    status.write(
        claim=True,
        job_id=job_id,
        request_sha256=sha,
        state=JobState.QUEUED,
        stage=Stage.QUEUED,
        progress=0.0,
        export=None,
        error=None,
    )
    queued = enqueue(conn, settings, path, content or b"")
    if queued is None:
        return Outcome.KNOWN
    announce(queued)
    log.info("queued %s as %s", path, job_id)
    return Outcome.QUEUED


def _moved_run(
    conn: Redis, status: StatusFile, recorded: StatusRecord, job_id: str, sha: str, project: Path
) -> Outcome | None:
    """A status file that came along with a moved project, for a run of this very
    content under the old path. While that run lasts, wait for its verdict (it
    fails ``project_gone``, or had already published here); once it finished with
    its export here, that is this request's export. Otherwise (None) admit anew."""
    other = recorded.get("job_id")
    if (
        not isinstance(other, str)
        or other == job_id
        or recorded.get("request_sha256") != sha
        or recorded.get("state") in TERMINAL
        or not exists(conn, other)
    ):
        return None
    seen = view(fetch(conn, other))
    if seen["state"] not in TERMINAL:
        return Outcome.KNOWN
    export = seen["export"]
    if seen["state"] == JobState.FINISHED and export and (project / export).is_file():
        status.write(
            job_id=other,
            state=seen["state"],
            stage=seen["stage"],
            progress=seen["progress"],
            export=export,
            error=None,
        )
        return Outcome.SYNCED
    return None
