"""A job's meta in Redis, changed atomically, and never again once the job has ended.

Several processes write one job's meta: its work horse (progress), a cancel, the
reaper of a dead worker, the fan-out's parts and join. RQ's ``save_meta`` writes the
whole dict a process holds, so a horse that was declared dead while it was in fact
only slow (a heartbeat lost on a busy machine or network) would write "running"
over the reaper's "failed" and carry on rendering. Here every write reads, checks
and writes in one WATCH/MULTI transaction, and whoever ends a job has the last
word: later writes are refused, and the horse takes the refusal as its cue to stop
(see :class:`daemon.errors.Abandoned`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from redis.exceptions import WatchError
from rq.job import Job

from .status import TERMINAL


def change(job: Job, edit: Callable[[dict[str, Any]], dict[str, Any]]) -> bool:
    """Merge ``edit(current meta)`` into the job's meta, unless the job has ended.

    Returns False, writing nothing, if it had (or if the job is gone from Redis:
    writing then would leave a hash with nothing but meta). ``job.meta`` is left
    as stored.
    """
    conn = job.connection
    with conn.pipeline() as pipe:
        while True:
            try:
                pipe.watch(job.key)
                raw = cast(bytes | None, pipe.hget(job.key, "meta"))
                if raw is None and not pipe.exists(job.key):
                    job.meta = {**job.meta, "state": "deleted"}
                    return False
                meta: dict[str, Any] = job.serializer.loads(raw) if raw else {}
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
    return state if state in TERMINAL else None
