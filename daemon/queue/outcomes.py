"""How a job ends: the verdict written everywhere once, and canceling.

A job's outcome is written to three places that must agree: its meta in Redis (for
the API), the status file beside the request (for people without a browser) and
``project.json`` (the project's record). Of several processes ending one job at
once (a cancel, the reaper, the job itself), the first wins everywhere. The winner
also counts the end for ``/metrics`` and hands it to the webhooks' outbox.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from redis import Redis
from rq.command import send_stop_job_command
from rq.exceptions import InvalidJobOperation
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from ..errors import (
    AssemblyError,
    Canceled,
    ErrorRecord,
    JobAlreadyEnded,
    ProjectGone,
    RequestGone,
    WorkerDied,
)
from ..pipeline.publish import remove_partials
from ..records.project import ProjectFile
from ..records.status import StatusFile
from ..settings import Settings, map_path
from ..stamps import now_iso
from ..states import TERMINAL, JobState, Stage
from . import fanout, stats, webhooks
from . import meta as jobmeta
from .adapter import fetch
from .connection import UNREACHABLE, retrying
from .events import publish
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
    exports: list[str] | None = None,
) -> None:
    """Record a terminal state everywhere, once. Safe to call from any process.

    Redis first (whoever ends the job first wins); if Redis is away, this waits for
    it (``redis_wait_seconds``). Then the files, unless the project is gone: a
    project moved or deleted is never re-created, and a request deleted loses its
    status file (kept, it would say "done" to the same request dropped again).
    """
    finished_at = now_iso()
    path = request_path(job, settings)
    status = StatusFile(path)
    # The filesystem is the source of truth: a verdict already in the status file
    # (written while Redis was away) is the one Redis gets.
    recorded = _status_of(status)
    if recorded.get("job_id") == job.id and recorded.get("state") in TERMINAL:
        state = JobState(str(recorded["state"]))
        kept_export, kept_error = recorded.get("export"), recorded.get("error")
        export = kept_export if isinstance(kept_export, str) else None
        kept = recorded.get("exports")
        exports = [e for e in kept if isinstance(e, str)] if isinstance(kept, list) else None
        error = None
        record: ErrorRecord | None = kept_error if isinstance(kept_error, dict) else None  # type: ignore[assignment]
    elif isinstance(error, WorkerDied) and (published := _published(path, job.id)):
        # Its worker died after the export was published and recorded in project.json
        # (and before Redis heard): the job did its work.
        state, export, error, record = JobState.FINISHED, published, None, None
    else:
        record = error.to_dict() if error else None
    exports = exports or ([export] if export else [])

    def meta_change(meta: jobmeta.Meta) -> jobmeta.Meta:
        progress = _percent(meta.get("progress"))
        fan = meta.get("fanout")
        if state != JobState.FINISHED and isinstance(fan, dict) and not meta.get("joined_by"):
            # Its parts' progress, kept: the bar stops where it was, not where the
            # hand-off left it (the parts' hash goes away with them).
            done = fanout.parts_done(job.connection, job.id)
            progress = max(progress, fanout.progress_of(fan, done))
        return {
            "state": state,
            "stage": Stage.DONE if state == JobState.FINISHED else meta.get("stage", state),
            "progress": 100.0 if state == JobState.FINISHED else round(progress, 1),
            "error": record,
            "export": export,
            "exports": exports,
            "finished_at": finished_at,
        }

    try:
        ended = retrying(lambda: jobmeta.change(job, meta_change), settings, f"record {job.id}")
    except UNREACHABLE:
        # Redis stayed away: the files still get the verdict, and Redis adopts it
        # from the status file when it is back (see above).
        _record_files(job, settings, path, state, record, exports, finished_at, error)
        raise
    if not ended:
        return
    if isinstance(job.meta.get("fanout"), dict):
        fanout.forget_progress(job.connection, job.id)
    _record_files(job, settings, path, state, record, exports, finished_at, error)
    final = view(job)
    publish(job.connection, final)
    if not job.meta.get("parent"):  # a request's end, not a piece's
        stats.ended(job.connection, job.origin, state)
        webhooks.announce_end(job.connection, job.origin, final)


def _percent(value: object) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if ok else 0.0  # type: ignore[arg-type]


def _published(path: Path, job_id: str) -> str | None:
    """The export ``project.json`` says this job published, if it is there."""
    try:
        entries = ProjectFile(path.parent).entries()
    except (OSError, ValueError):
        return None
    for entry in entries:
        output = entry.get("output")
        if (
            entry.get("id") == job_id
            and entry.get("status") == JobState.FINISHED
            and isinstance(output, str)
            and (path.parent / output).is_file()
        ):
            return output
    return None


def _status_of(status: StatusFile) -> dict[str, object]:
    try:
        return dict(status.read())
    except OSError:
        return {}


def _record_files(
    job: Job,
    settings: Settings,
    path: Path,
    state: JobState,
    record: ErrorRecord | None,
    exports: list[str],
    finished_at: str,
    error: AssemblyError | None,
) -> None:
    if isinstance(error, ProjectGone) or not path.parent.is_dir():
        log.info("job %s ended %s; its project %s is gone", job.id, state, path.parent)
        return
    try:
        if isinstance(error, RequestGone):
            StatusFile(path).forget(job.id)
        else:
            StatusFile(path).write(
                job_id=job.id,
                state=state,
                stage=str(job.meta.get("stage", state)),
                progress=_percent(job.meta.get("progress")),
                request_sha256=job.meta.get("request_sha256"),
                export=exports[0] if exports else None,
                exports=exports,
                error=record,
            )
        if state != JobState.FINISHED:
            remove_partials(path.parent, job.id)
            ProjectFile(path.parent).update(
                job.id, request_file=path.name, status=state, error=record, finished_at=finished_at
            )
    except FileNotFoundError:
        log.info("job %s ended %s; its project %s is gone", job.id, state, path.parent)
    except OSError:
        # The NAS may be unreachable from here; the daemon's rescan reconciles later.
        log.exception("could not record %s for job %s", state, job.id)


def cancel(conn: Redis, settings: Settings, job_id: str) -> str:
    """Cancel ``job_id``. Returns "canceled" (it never ran) or "stopping" (it is running)."""
    job = fetch(conn, job_id)
    state = view(job)["state"]
    if state in TERMINAL:
        raise JobAlreadyEnded(f"job {job_id} has already ended ({state})")
    if job.meta.get("fanout"):
        fanout.cancel_children(conn, job.meta)
        mark_ended(job, settings, JobState.CANCELED, Canceled("canceled while running"))
        # In RQ too, unless its worker is still handing off: that run sees the
        # verdict and settles it (see worker.AssemblyWorker).
        if job.get_status(refresh=True) in (JobStatus.DEFERRED, JobStatus.QUEUED):
            with contextlib.suppress(InvalidJobOperation):
                job.cancel()
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
