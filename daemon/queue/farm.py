"""The farm as operators see it: Redis, the watchers, the workers (and how each is
set up), the queue's depth and RQ's registries, read in O(workers) for
``assemblyd status``, ``/healthz`` and ``/metrics``."""

from __future__ import annotations

import json
from typing import Any, TypedDict

from redis import Redis
from redis.exceptions import RedisError
from rq import Worker
from rq.serializers import JSONSerializer

from ..settings import Settings
from . import stats
from .adapter import open_queue
from .heartbeat import WatcherBeat, live_watchers

#: Field of RQ's worker hash where our worker says how it is set up (see .worker).
SETUP_FIELD = "assemblyd"


class Health(TypedDict):
    redis: bool
    watchers: list[WatcherBeat]
    watcher_alive: bool
    workers: int


def health(conn: Redis, settings: Settings) -> Health:
    """Is Redis up, is a watcher alive, how many workers serve this queue."""
    try:
        conn.ping()
        watchers = live_watchers(conn)
        workers = Worker.count(connection=conn, queue=open_queue(conn, settings))
    except (RedisError, OSError):
        return Health(redis=False, watchers=[], watcher_alive=False, workers=0)
    return Health(
        redis=True,
        watchers=watchers,
        watcher_alive=any(w["observers_alive"] for w in watchers),
        workers=workers,
    )


class WorkerInfo(TypedDict):
    name: str
    state: str
    job: str | None
    #: How it is set up (threads, log level, caches...), as it said at birth.
    setup: dict[str, Any]


class FarmStatus(TypedDict):
    """Everything ``assemblyd status`` and ``/metrics`` show, read in O(workers)."""

    redis: bool
    queue: str
    #: Jobs waiting in the queue for a worker.
    depth: int
    #: RQ jobs (requests and their parts) per RQ state.
    rq: dict[str, int]
    workers: list[WorkerInfo]
    watchers: list[WatcherBeat]
    counters: stats.Counters | None


def farm_status(conn: Redis, settings: Settings) -> FarmStatus:
    """The queue, its workers and watchers, and the counters, as Redis has them now.
    Registries are counted without RQ's cleanup, which could run failure callbacks."""
    queue = open_queue(conn, settings)
    try:
        with conn.pipeline(transaction=False) as pipe:
            pipe.llen(queue.key)
            for registry in (
                queue.deferred_job_registry,
                queue.scheduled_job_registry,
                queue.started_job_registry,
                queue.finished_job_registry,
                queue.failed_job_registry,
                queue.canceled_job_registry,
            ):
                pipe.zcard(registry.key)
            depth, deferred, scheduled, started, finished, failed, canceled = pipe.execute()
        found = Worker.all(connection=conn, queue=queue, serializer=JSONSerializer)
        setups = _setups(conn, [w.key for w in found])
        workers = [
            WorkerInfo(
                name=w.name,
                state=str(w.get_state()),
                job=w.get_current_job_id(),
                setup=setup,
            )
            for w, setup in zip(found, setups, strict=True)
        ]
        watchers = live_watchers(conn)
        counters = stats.read(conn, settings.queue_name)
    except (RedisError, OSError):
        return FarmStatus(
            redis=False,
            queue=settings.queue_name,
            depth=0,
            rq={},
            workers=[],
            watchers=[],
            counters=None,
        )
    rq = {
        "queued": int(depth),
        "deferred": int(deferred),
        "scheduled": int(scheduled),
        "started": int(started),
        "finished": int(finished),
        "failed": int(failed),
        "canceled": int(canceled),
    }
    return FarmStatus(
        redis=True,
        queue=settings.queue_name,
        depth=int(depth),
        rq=rq,
        workers=workers,
        watchers=watchers,
        counters=counters,
    )


def _setups(conn: Redis, keys: list[str]) -> list[dict[str, Any]]:
    with conn.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.hget(key, SETUP_FIELD)
        raw = pipe.execute()
    setups: list[dict[str, Any]] = []
    for value in raw:
        try:
            loaded = json.loads(value) if value else {}
        except ValueError:
            loaded = {}
        setups.append(loaded if isinstance(loaded, dict) else {})
    return setups
