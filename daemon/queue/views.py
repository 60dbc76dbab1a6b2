"""The read model: what the CLI, the API and the dashboard show of jobs.

Meta comes back from Redis, where anyone who can reach it may have written; every
field is read defensively and shown in one typed shape, :class:`JobView`.

Lists come in pages (:func:`list_page`) read from the queue's index (:mod:`.index`):
a page costs one range read and one pipelined read of its jobs, whatever the number
of jobs Redis keeps.
"""

from __future__ import annotations

from typing import Any, TypedDict

from redis import Redis
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from ..errors import ErrorRecord, JobNotFound, Notice
from ..settings import Settings
from ..states import TERMINAL, JobState, Stage
from . import fanout, index
from .adapter import fetch, open_queue, valid_job_id

Cursor = index.Cursor

#: A page of jobs when none is asked for, and the most one may ask for.
PAGE, MAX_PAGE = 100, 500
#: With a filter, a page reads at most this many pages' worth of jobs; it may then
#: hold fewer matches than asked for, and ``next`` goes on from where it stopped.
SCAN_PAGES = 5


class JobView(TypedDict):
    id: str
    queue: str
    state: str
    stage: str
    progress: float
    project: str | None
    request: str | None
    export: str | None
    #: Every output's export (the first is ``export``), once finished.
    exports: list[str]
    error: ErrorRecord | None
    warnings: list[Notice]
    queued_at: str | None
    started_at: str | None
    finished_at: str | None
    worker: str | None


_RQ_STATE = {
    JobStatus.CREATED: JobState.QUEUED,
    JobStatus.QUEUED: JobState.QUEUED,
    JobStatus.DEFERRED: JobState.QUEUED,
    JobStatus.SCHEDULED: JobState.QUEUED,
    JobStatus.STARTED: JobState.RUNNING,
    JobStatus.FINISHED: JobState.FINISHED,
    JobStatus.FAILED: JobState.FAILED,
    JobStatus.STOPPED: JobState.CANCELED,
    JobStatus.CANCELED: JobState.CANCELED,
}


def _text(meta: dict[str, Any], key: str) -> str | None:
    value = meta.get(key)
    return value if isinstance(value, str) else None


def _texts(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)][:64] if isinstance(value, list) else []


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _error(value: object) -> ErrorRecord | None:
    if not isinstance(value, dict):
        return None
    code, message = value.get("code"), value.get("message")
    if not isinstance(code, str) or not isinstance(message, str):
        return None
    return value  # type: ignore[return-value]  # the keys that matter were checked


def _notices(value: object) -> list[Notice]:
    if not isinstance(value, list):
        return []
    found: list[Notice] = []
    for item in value:
        if not isinstance(item, dict):
            continue
        code, message = item.get("code"), item.get("message")
        if isinstance(code, str) and isinstance(message, str):
            found.append(Notice(code=code, message=message))
    return found


def _splitting(job: Job) -> bool:
    """A split request whose parts are rendering: its percent comes from theirs."""
    meta = job.meta if isinstance(job.meta, dict) else {}
    return (
        isinstance(meta.get("fanout"), dict)
        and meta.get("state") not in TERMINAL
        and meta.get("stage") == Stage.RENDER
        and not meta.get("joined_by")
    )


def view(job: Job, parts: dict[bytes, bytes] | None = None) -> JobView:
    """``job`` as users see it. ``parts`` is its parts' progress if already read
    (see :func:`views_of`); else it is read here when needed."""
    meta = job.meta if isinstance(job.meta, dict) else {}
    status = job.get_status(refresh=False)
    stored = _text(meta, "state")
    if stored in TERMINAL:
        # Our verdict is written before RQ's bookkeeping, and says "canceled"
        # where RQ says "stopped" or "failed".
        state = stored
    elif meta.get("fanout"):
        # Its RQ job ended when it handed the work to its parts; it runs on in them.
        state = stored or JobState.RUNNING
    else:
        state = _RQ_STATE.get(status, JobState.QUEUED) if status else stored or JobState.QUEUED
    progress = 100.0 if state == JobState.FINISHED else _number(meta.get("progress"))
    if state == JobState.RUNNING and _splitting(job):
        done = parts if parts is not None else fanout.parts_done(job.connection, job.id)
        progress = max(progress, fanout.progress_of(meta["fanout"], done))
    return JobView(
        id=job.id,
        queue=job.origin,
        state=str(state),
        stage=Stage.DONE if state == JobState.FINISHED else _text(meta, "stage") or str(state),
        progress=round(progress, 1),
        project=_text(meta, "project"),
        request=_text(meta, "request"),
        export=_text(meta, "export"),
        exports=_texts(meta.get("exports")),
        error=_error(meta.get("error")),
        warnings=_notices(meta.get("warnings")),
        queued_at=_text(meta, "queued_at"),
        started_at=_text(meta, "started_at"),
        finished_at=_text(meta, "finished_at"),
        worker=job.worker_name,
    )


def parse_view(data: object) -> JobView | None:
    """A view as it came over the live feed, if it has a view's shape; else None.
    Anyone who can publish on the channel can send anything."""
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        return None
    text = ("queue", "state", "stage")
    optional = ("project", "request", "export", "queued_at", "started_at", "finished_at", "worker")
    if not all(isinstance(data.get(k), str) for k in text):
        return None
    if not all(data.get(k) is None or isinstance(data.get(k), str) for k in optional):
        return None
    progress = data.get("progress")
    if isinstance(progress, bool) or not isinstance(progress, int | float):
        return None
    return JobView(
        id=data["id"],
        queue=data["queue"],
        state=data["state"],
        stage=data["stage"],
        progress=float(progress),
        project=data.get("project"),
        request=data.get("request"),
        export=data.get("export"),
        exports=_texts(data.get("exports")),
        error=_error(data.get("error")),
        warnings=_notices(data.get("warnings")),
        queued_at=data.get("queued_at"),
        started_at=data.get("started_at"),
        finished_at=data.get("finished_at"),
        worker=data.get("worker"),
    )


def is_piece(job: Job) -> bool:
    """A split request's part and join jobs act for it: users see the request only."""
    return isinstance(job.meta, dict) and bool(job.meta.get("parent"))


def visible_job(conn: Redis, settings: Settings, job_id: str) -> Job:
    """The job, if users may see it: on this queue (another queue sharing the Redis
    is someone else's business), and not a piece of another job."""
    job = fetch(conn, job_id)
    if job.origin != settings.queue_name or is_piece(job):
        raise JobNotFound(f"no job with id {job_id}")
    return job


def visible_view(conn: Redis, settings: Settings, job_id: str) -> JobView:
    return view(visible_job(conn, settings, job_id))


def views_of(conn: Redis, jobs: list[Job]) -> list[JobView]:
    """The views of ``jobs``, the progress of every split one read in one round trip."""
    splitting = [job for job in jobs if _splitting(job)]
    done = dict(
        zip(splitting, fanout.parts_done_many(conn, [j.id for j in splitting]), strict=True)
    )
    return [view(job, done.get(job)) for job in jobs]


class Page(TypedDict):
    jobs: list[JobView]
    #: Where the next page starts; None after the last.
    next: str | None


def list_page(
    conn: Redis,
    settings: Settings,
    state: str | None = None,
    project: str | None = None,
    cursor: index.Cursor | None = None,
    limit: int = PAGE,
) -> Page:
    """A page of jobs, newest first, after ``cursor``: at most ``limit`` of them in
    ``state`` and whose project contains ``project``. It reads at most
    ``SCAN_PAGES * limit`` jobs, so a page with a filter may hold fewer."""
    limit = max(1, min(limit, MAX_PAGE))
    queue = settings.queue_name
    if cursor is None:
        index.trim(conn, settings)
    budget = limit * (SCAN_PAGES if state or project else 1)
    found: list[JobView] = []
    position, scanned = cursor, 0
    while len(found) < limit and scanned < budget:
        want = min(limit, budget - scanned)
        entries = index.after(conn, queue, position, want)
        jobs = _fetch_many(conn, [job_id for job_id, _ in entries])
        gone = [job_id for (job_id, _), job in zip(entries, jobs, strict=True) if job is None]
        index.remove(conn, queue, *gone)
        shown = iter(views_of(conn, [job for job in jobs if job is not None]))
        for (job_id, score), job in zip(entries, jobs, strict=True):
            position, scanned = index.Cursor(score, job_id), scanned + 1
            if job is None:
                continue
            seen = next(shown)
            if job.origin != queue or is_piece(job):
                continue
            if state and seen["state"] != state:
                continue
            if project and not (seen["project"] and project in seen["project"]):
                continue
            found.append(seen)
            if len(found) == limit:
                break
        if len(entries) < want:
            return Page(jobs=found, next=None)  # the index is read to its end
    return Page(jobs=found, next=str(position) if position is not None else None)


def _fetch_many(conn: Redis, ids: list[str]) -> list[Job | None]:
    """The jobs (None where Redis has none, or holds something unreadable)."""
    wanted = [i for i in ids if valid_job_id(i)]
    try:
        found = Job.fetch_many(wanted, connection=conn, serializer=JSONSerializer)
    except (ValueError, TypeError, KeyError, UnicodeDecodeError):
        found = [_fetch_or_none(conn, i) for i in wanted]
    by_id = dict(zip(wanted, found, strict=True))
    return [by_id.get(i) for i in ids]


def build_index(conn: Redis, settings: Settings) -> int:
    """Index the jobs queued before the index existed (an upgrade): once per queue,
    O(every job) that one time. Returns how many were added."""
    marker = index.key(settings.queue_name) + ":built"
    if conn.exists(marker):
        return 0
    added = 0
    for job in all_jobs(conn, settings):
        meta = job.meta if isinstance(job.meta, dict) else {}
        queued = _text(meta, "queued_at")
        if queued:
            index.add(conn, settings, job.id, queued)
            added += 1
    conn.set(marker, "1")
    return added


def all_jobs(conn: Redis, settings: Settings) -> list[Job]:
    queue = open_queue(conn, settings)
    ids: list[str] = list(queue.get_job_ids())
    for registry in (
        queue.started_job_registry,
        queue.deferred_job_registry,
        queue.finished_job_registry,
        queue.failed_job_registry,
        queue.canceled_job_registry,
    ):
        ids += registry.get_job_ids(cleanup=False)
    # Whatever is in Redis is untrusted: an id no job could have is skipped, and so
    # is a job whose stored data cannot be read.
    jobs = _fetch_many(conn, list(dict.fromkeys(ids)))
    return [j for j in jobs if j is not None and not is_piece(j)]


def _fetch_or_none(conn: Redis, job_id: str) -> Job | None:
    try:
        return fetch(conn, job_id)
    except (JobNotFound, ValueError, TypeError, KeyError, UnicodeDecodeError):
        return None
