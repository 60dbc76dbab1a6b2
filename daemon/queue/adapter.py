"""The RQ adapter: queues and jobs on Redis, JSON-serialized, one job per request content.

A job's id is derived from the request file's path and a hash of its content, so
the same request seen twice (a duplicate event, a rescan, two watchers) is one job,
and an edited request is a new one. Jobs name their function by a dotted name from
:mod:`.names` and take only strings and numbers, and every job is signed with
``job_secret`` (:mod:`.signing`): a worker runs nothing else.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from redis import Redis
from rq import Callback, Queue
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job
from rq.serializers import JSONSerializer

from ..errors import JobNotFound
from ..settings import Settings
from ..stamps import now_iso, sha256_hex
from ..states import JobState, Stage
from . import index, names, signing
from .meta import JobMeta

#: What a job id may be (RQ refuses others; ours are asm-<hex>, -partNNNN, -join).
_JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,200}$")


def valid_job_id(job_id: object) -> bool:
    return isinstance(job_id, str) and _JOB_ID.fullmatch(job_id) is not None


def _shown(job_id: str) -> str:
    return job_id if job_id.isprintable() and len(job_id) <= 200 else json.dumps(job_id[:200])


def job_id_for(request_path: Path, content: bytes) -> str:
    digest = sha256_hex(str(request_path).encode() + b"\0" + content)
    return f"asm-{digest[:24]}"


def open_queue(conn: Redis, settings: Settings) -> Queue:
    return Queue(settings.queue_name, connection=conn, serializer=JSONSerializer)


def fetch(conn: Redis, job_id: str) -> Job:
    """The job, or :class:`JobNotFound` (also for an id no job could have)."""
    if not valid_job_id(job_id):
        raise JobNotFound(f"no job with id {_shown(job_id)}")
    try:
        return Job.fetch(job_id, connection=conn, serializer=JSONSerializer)
    except NoSuchJobError:
        raise JobNotFound(f"no job with id {job_id}") from None


def exists(conn: Redis, job_id: str) -> bool:
    return valid_job_id(job_id) and bool(Job.exists(job_id, connection=conn))


def job_options(settings: Settings) -> dict[str, Any]:
    """What every job of ours is created with (``Queue.create_job``'s keyword arguments)."""
    return {
        "timeout": settings.job_timeout,
        "result_ttl": settings.result_ttl,
        "failure_ttl": settings.failure_ttl,
        "on_failure": Callback(names.ON_FAILURE),
        "on_stopped": Callback(names.ON_STOPPED),
    }


def enqueue_signed(
    queue: Queue,
    settings: Settings,
    func_name: str,
    *args: str | int,
    unique: bool = False,
    **options: Any,
) -> Job:
    """Create the job, sign it with ``job_secret``, and queue it (``options`` are
    ``Queue.create_job``'s; :func:`job_options` are added)."""
    job = queue.create_job(func_name, args=args, **{**job_options(settings), **options})
    signing.sign(job, signing.job_secret(settings))
    return queue.enqueue_job(job, unique=unique)


def enqueue(conn: Redis, settings: Settings, request_path: Path, content: bytes) -> Job | None:
    """Queue ``request_path``; ``None`` if its job already exists."""
    meta = JobMeta(
        request=str(request_path),
        project=str(request_path.parent),
        request_sha256=sha256_hex(content),
        state=JobState.QUEUED,
        stage=Stage.QUEUED,
        progress=0.0,
        queued_at=now_iso(),
    )
    try:
        job = enqueue_signed(
            open_queue(conn, settings),
            settings,
            names.RUN_ASSEMBLY,
            str(request_path),
            job_id=job_id_for(request_path, content),
            meta=dict(meta),
            description=f"assemble {request_path}",
            unique=True,
        )
    except DuplicateJobError:
        return None
    index.add(conn, settings, job.id, meta["queued_at"])
    return job
