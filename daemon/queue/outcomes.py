"""How a job ends: the verdict written everywhere once, and canceling.

A job's outcome is written to three places that must agree: its meta in Redis (for
the API), the status file beside the request (for people without a browser) and
``project.json`` (the project's record). Of several processes ending one job at
once (a cancel, the reaper, the job itself), the first wins everywhere.
"""

from __future__ import annotations

import logging
from pathlib import Path

from redis import Redis
from rq.command import send_stop_job_command
from rq.exceptions import InvalidJobOperation
from rq.job import Job
from rq.serializers import JSONSerializer

from ..errors import AssemblyError, Canceled, ErrorRecord, JobAlreadyEnded
from ..pipeline.publish import remove_partials
from ..records.project import ProjectFile
from ..records.status import StatusFile
from ..settings import Settings, map_path
from ..stamps import now_iso
from ..states import TERMINAL, JobState, Stage
from . import fanout
from . import meta as jobmeta
from .adapter import fetch
from .events import announce
from .views import view

log = logging.getLogger(__name__)


def request_path(job: Job, settings: Settings) -> Path:
    """The job's request file, as this machine sees it."""
    return Path(map_path(str(job.meta["request"]), settings))


def mark_ended(
    job: Job,
    settings: Settings,
    state: JobState,
    error: AssemblyError | None = None,
    export: str | None = None,
) -> None:
    """Record a terminal state everywhere, once. Safe to call from any process."""
    finished_at = now_iso()
    record: ErrorRecord | None = error.to_dict() if error else None
    ended = jobmeta.change(
        job,
        lambda meta: {
            "state": state,
            "stage": Stage.DONE if state == JobState.FINISHED else meta.get("stage", state),
            "progress": 100.0 if state == JobState.FINISHED else meta.get("progress", 0.0),
            "error": record,
            "export": export,
            "finished_at": finished_at,
        },
    )
    if not ended:
        return
    try:
        path = request_path(job, settings)
        StatusFile(path).write(
            job_id=job.id,
            state=state,
            stage=str(job.meta["stage"]),
            progress=float(job.meta["progress"]),
            request_sha256=job.meta.get("request_sha256"),
            export=export,
            error=record,
        )
        if state != JobState.FINISHED:
            remove_partials(path.parent, job.id)
            ProjectFile(path.parent).update(
                job.id, request_file=path.name, status=state, error=record, finished_at=finished_at
            )
    except OSError:
        # The NAS may be unreachable from here; the daemon's rescan reconciles later.
        log.exception("could not record %s for job %s", state, job.id)
    announce(job)


def cancel(conn: Redis, settings: Settings, job_id: str) -> str:
    """Cancel ``job_id``. Returns "canceled" (it never ran) or "stopping" (it is running)."""
    job = fetch(conn, job_id)
    state = view(job)["state"]
    if state in TERMINAL:
        raise JobAlreadyEnded(f"job {job_id} has already ended ({state})")
    if job.meta.get("fanout"):
        fanout.cancel_children(conn, job.meta)
        mark_ended(job, settings, JobState.CANCELED, Canceled("canceled while running"))
        return "canceled"
    if state == JobState.RUNNING:
        try:
            send_stop_job_command(conn, job_id, serializer=JSONSerializer)
            return "stopping"
        except InvalidJobOperation:
            pass  # picked up but not yet started: cancel it as a queued job
    job.cancel()
    mark_ended(job, settings, JobState.CANCELED, Canceled("canceled before it started"))
    return "canceled"
