"""The job queue: RQ on Redis, JSON-serialized, one job per request content.

Jobs are stored with RQ's JSON serializer, not pickle: anyone who can write to Redis
can enqueue work, but cannot make a worker run arbitrary code. The job function is
named by its dotted path and takes only strings.

A job's id is derived from the request file's path and a hash of its content, so
the same request seen twice (a duplicate event, a rescan, two watchers) is one job,
and an edited request is a new one.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redis import Redis
from rq import Callback, Queue
from rq.command import send_stop_job_command
from rq.exceptions import DuplicateJobError, InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from .errors import JobAlreadyEnded, JobNotFound
from .settings import Settings
from .status import TERMINAL

log = logging.getLogger(__name__)

#: Pub/sub channel carrying every job's state changes and progress, as job views.
CHANNEL = "assemblyd:events"

#: Each running watcher refreshes ``WATCHER_KEY + host:pid`` (TTL ``WATCHER_TTL``) so
#: that /healthz, in another process or on another machine, can tell it is alive.
WATCHER_KEY = "assemblyd:watcher:"
WATCHER_TTL = 10

_RQ_STATE = {
    JobStatus.CREATED: "queued",
    JobStatus.QUEUED: "queued",
    JobStatus.DEFERRED: "queued",
    JobStatus.SCHEDULED: "queued",
    JobStatus.STARTED: "running",
    JobStatus.FINISHED: "finished",
    JobStatus.FAILED: "failed",
    JobStatus.STOPPED: "canceled",
    JobStatus.CANCELED: "canceled",
}


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def content_sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def job_id_for(request_path: Path, content: bytes) -> str:
    digest = hashlib.sha256(str(request_path).encode() + b"\0" + content).hexdigest()
    return f"asm-{digest[:24]}"


def open_queue(conn: Redis, settings: Settings) -> Queue:
    return Queue(settings.queue_name, connection=conn, serializer=JSONSerializer)


def fetch(conn: Redis, job_id: str) -> Job:
    try:
        return Job.fetch(job_id, connection=conn, serializer=JSONSerializer)
    except NoSuchJobError as exc:
        raise JobNotFound(f"no job with id {job_id}") from exc


def exists(conn: Redis, job_id: str) -> bool:
    return bool(Job.exists(job_id, connection=conn))


def enqueue(conn: Redis, settings: Settings, request_path: Path, content: bytes) -> Job | None:
    """Queue ``request_path``; ``None`` if its job already exists."""
    job_id = job_id_for(request_path, content)
    meta = {
        "request": str(request_path),
        "project": str(request_path.parent),
        "request_sha256": content_sha256(content),
        "state": "queued",
        "stage": "queued",
        "progress": 0.0,
        "queued_at": now_iso(),
    }
    try:
        job = open_queue(conn, settings).enqueue(
            "daemon.jobs.run_assembly",
            str(request_path),
            job_id=job_id,
            job_timeout=settings.job_timeout,
            result_ttl=settings.result_ttl,
            failure_ttl=settings.failure_ttl,
            meta=meta,
            description=f"assemble {request_path}",
            on_failure=Callback("daemon.jobs.on_failure"),
            on_stopped=Callback("daemon.jobs.on_stopped"),
            unique=True,
        )
    except DuplicateJobError:
        return None
    publish(conn, view(job))
    return job


def view(job: Job) -> dict[str, Any]:
    """What the CLI, the API and the dashboard show of a job."""
    meta = job.meta or {}
    status = job.get_status(refresh=False)
    if meta.get("state") in TERMINAL:
        # Our verdict is written before RQ's bookkeeping, and says "canceled"
        # where RQ says "stopped" or "failed".
        state = meta["state"]
    elif meta.get("fanout"):
        # Its RQ job ended when it handed the work to its parts; it runs on in them.
        state = meta.get("state", "running")
    else:
        state = _RQ_STATE.get(status, "queued") if status else meta.get("state", "queued")
    progress = 100.0 if state == "finished" else float(meta.get("progress", 0.0))
    parts_running = meta.get("stage") == "render" and not meta.get("joined_by")
    if meta.get("fanout") and state == "running" and parts_running:
        from .fanout import progress_of

        progress = max(progress, progress_of(job.connection, meta, job.id))
    return {
        "id": job.id,
        "queue": job.origin,
        "state": state,
        "stage": "done" if state == "finished" else meta.get("stage", state),
        "progress": round(progress, 1),
        "project": meta.get("project"),
        "request": meta.get("request"),
        "export": meta.get("export"),
        "error": meta.get("error"),
        "queued_at": meta.get("queued_at"),
        "started_at": meta.get("started_at"),
        "finished_at": meta.get("finished_at"),
        "worker": job.worker_name,
    }


def publish(conn: Redis, job_view: dict[str, Any]) -> None:
    conn.publish(CHANNEL, json.dumps(job_view))


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
    jobs = Job.fetch_many(list(dict.fromkeys(ids)), connection=conn, serializer=JSONSerializer)
    # A split request's part and join jobs act for it: users see the request only.
    return [j for j in jobs if j is not None and not (j.meta or {}).get("parent")]


def list_views(
    conn: Redis, settings: Settings, state: str | None = None, project: str | None = None
) -> list[dict[str, Any]]:
    views = [view(job) for job in all_jobs(conn, settings)]
    if state:
        views = [v for v in views if v["state"] == state]
    if project:
        views = [v for v in views if v["project"] and project in v["project"]]
    return sorted(views, key=lambda v: v["queued_at"] or "", reverse=True)


def cancel(conn: Redis, job_id: str) -> str:
    """Cancel ``job_id``. Returns "canceled" (it never ran) or "stopping" (it is running)."""
    job = fetch(conn, job_id)
    state = view(job)["state"]
    if state in TERMINAL:
        raise JobAlreadyEnded(f"job {job_id} has already ended ({state})")
    from .jobs import mark_ended  # jobs imports the pipeline; keep the CLI light

    if job.meta.get("fanout"):
        from .fanout import cancel_children

        cancel_children(conn, job.meta)
        mark_ended(job, conn, "canceled", {"code": "canceled", "message": "canceled while running"})
        return "canceled"
    if state == "running":
        try:
            send_stop_job_command(conn, job_id, serializer=JSONSerializer)
            return "stopping"
        except InvalidJobOperation:
            pass  # picked up but not yet started: cancel it as a queued job
    job.cancel()
    mark_ended(job, conn, "canceled", {"code": "canceled", "message": "canceled before it started"})
    return "canceled"


def announce_watcher(conn: Redis, name: str, roots: list[str], observers_alive: bool) -> None:
    record = {"name": name, "roots": roots, "observers_alive": observers_alive, "at": now_iso()}
    conn.set(WATCHER_KEY + name, json.dumps(record), ex=WATCHER_TTL)


def live_watchers(conn: Redis) -> list[dict[str, Any]]:
    records = []
    for key in conn.scan_iter(match=WATCHER_KEY + "*"):
        raw = conn.get(key)
        if raw:
            records.append(json.loads(raw))
    return records
