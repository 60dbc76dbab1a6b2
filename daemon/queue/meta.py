"""A job's meta in Redis, changed atomically, and never again once the job has ended.

Several processes write one job's meta: its work horse (progress), a cancel, the
reaper of a dead worker, the fan-out's parts and join. RQ's ``save_meta`` writes the
whole dict a process holds, so a horse that was declared dead while it was in fact
only slow (a heartbeat lost on a busy machine or network) would write "running"
over the reaper's "failed" and carry on rendering. Here every write reads, checks
and writes in one WATCH/MULTI transaction, and whoever ends a job has the last
word: later writes are refused, and the horse takes the refusal as its cue to stop
(see :class:`..errors.Abandoned`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypedDict, cast

from redis.exceptions import WatchError
from rq.job import Job

from ..errors import ErrorRecord
from ..states import TERMINAL

#: A split request's children: its part jobs, its join, the frames per shot index
#: (string keys: JSON) that weigh the parts' progress, and the request's percent
#: when they began ("from", kept as version 0.1 stored it).
FanOut = TypedDict(
    "FanOut", {"parts": list[str], "join": str, "frames": dict[str, int], "from": float}
)


class JobMeta(TypedDict, total=False):
    """What assemblyd keeps in an RQ job's meta. Read back from Redis, so every
    reader treats it as untrusted (see :mod:`.views`)."""

    request: str
    project: str
    request_sha256: str
    state: str
    stage: str
    progress: float
    queued_at: str
    started_at: str
    finished_at: str
    export: str | None
    exports: list[str]
    error: ErrorRecord | None
    #: Each shot's file as validation saw it ([size, mtime_ns, inode] by shot index):
    #: a split request's parts and join check they render the same files.
    sources: dict[str, list[int]]
    # A split request's own job:
    fanout: FanOut
    joined_by: str
    # Its part and join jobs:
    parent: str
    shot_index: int


Meta = dict[str, Any]  # as RQ hands it over: JSON from Redis


def change(job: Job, edit: Callable[[Meta], Meta]) -> bool:
    """Merge ``edit(current meta)`` into the job's meta, unless the job has ended.

    Returns False, writing nothing, if it had (or if the job is gone from Redis:
    writing then would leave a hash with nothing but meta). ``job.meta`` is left
    as stored.
    """
    conn = job.connection
    with conn.pipeline() as pipe:
        while True:
            try:
                pipe.watch(job.key)  # type: ignore[no-untyped-call]
                raw = cast(bytes | None, pipe.hget(job.key, "meta"))
                if raw is None and not pipe.exists(job.key):
                    job.meta = {**job.meta, "state": "deleted"}
                    return False
                stored: object = job.serializer.loads(raw) if raw else {}
                meta: Meta = stored if isinstance(stored, dict) else {}
                if meta.get("state") in TERMINAL:
                    job.meta = meta
                    return False
                meta.update(edit(meta))
                pipe.multi()
                pipe.hset(job.key, "meta", job.serializer.dumps(meta))
                pipe.execute()
                job.meta = meta
                return True
            except WatchError:
                # RQ touched the job hash meanwhile (a heartbeat, a status): read again.
                continue


def update(job: Job, **fields: Any) -> bool:
    """Set ``fields`` in the job's meta unless the job has ended; see :func:`change`."""
    return change(job, lambda _meta: fields)


def ended(job: Job) -> str | None:
    """The job's terminal state as stored now, or None while it lives."""
    state = job.get_meta(refresh=True).get("state")
    return state if isinstance(state, str) and state in TERMINAL else None
