"""Admission: a settled request file in, at most one job for its content out.

What happens is decided by the filesystem, which is the source of truth; Redis is
transport:

- status file terminal for this content → nothing (no retry loops; delete the status
  file to force a re-run);
- job already in Redis and not ended → nothing;
- request does not parse → status ``failed`` with every problem, no job;
- otherwise (new, edited, or lost by a Redis that restarted empty) → queue it.

The watcher admits what it sees settle; the API admits what it was sent.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from pathlib import Path

from redis import Redis

from ..errors import ValidationFailed
from ..records.status import StatusFile
from ..request.parse import parse_request
from ..settings import Settings
from ..stamps import sha256_hex
from ..states import TERMINAL, JobState, Stage
from .adapter import enqueue, exists, fetch, job_id_for
from .events import announce
from .views import view

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    QUEUED = "queued"
    KNOWN = "known"  # its job is already queued or running
    DONE = "done"  # its status file says this content has ended
    SYNCED = "synced"  # it had ended; the status file now says so
    INVALID = "invalid"  # the document is not a request; its status file says why
    GONE = "gone"  # the file disappeared before it could be read


def admit(conn: Redis, settings: Settings, path: Path) -> Outcome:
    """Decide what ``path`` needs, and do it."""
    try:
        content = path.read_bytes()
    except OSError:
        return Outcome.GONE
    job_id = job_id_for(path, content)
    sha = sha256_hex(content)
    status = StatusFile(path)
    recorded = status.read()
    if recorded.get("job_id") == job_id and recorded.get("state") in TERMINAL:
        return Outcome.DONE
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
        job.delete()
    _, _, problems = parse_request(content)
    if problems:
        error = ValidationFailed(str(path), problems).to_dict()
        status.write(
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
        job_id=job_id,
        request_sha256=sha,
        state=JobState.QUEUED,
        stage=Stage.QUEUED,
        progress=0.0,
        export=None,
        error=None,
    )
    queued = enqueue(conn, settings, path, content)
    if queued is None:
        return Outcome.KNOWN
    announce(queued)
    log.info("queued %s as %s", path, job_id)
    return Outcome.QUEUED
