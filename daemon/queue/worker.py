"""``assemblyd worker``: an RQ worker with this project's settings.

It is RQ's forking worker: each job runs in a work horse in its own process group,
so a stop command or a cold shutdown kills the horse and its ffmpeg children
together. Run as many as the machines have cores to spare; they may live on
different machines as long as they share the Redis and see the NAS at the same
path (or set ``path_map``).
"""

from __future__ import annotations

import logging
import os
import socket
import threading

from redis import Redis
from rq import Worker
from rq.executions import Execution
from rq.job import Job
from rq.serializers import JSONSerializer

from ..settings import Settings
from .adapter import open_queue
from .connection import UNREACHABLE, connect, redis_url
from .functions import AssemblyJob

log = logging.getLogger(__name__)


class AssemblyWorker(Worker):
    """RQ's forking worker, with a heartbeat that notices a dead worker in seconds.

    RQ gives a started job ``min(timeout, job_monitoring_interval) + 60`` seconds
    without a heartbeat before it counts it as abandoned. Heartbeats come every
    ``heartbeat_interval`` seconds, so three missed ones are proof enough; a
    studio should not wait over a minute to learn that its render died. Never less
    than ten seconds, though: on a machine whose cores ffmpeg keeps busy, or over a
    congested network, a beat can be a few seconds late, and a live job declared
    dead is a lost render (its horse notices and stops, see :mod:`.meta`).
    """

    _redis_away = False

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        return heartbeat_ttl(self.job_monitoring_interval)

    def maintain_heartbeats(self, job: Job, execution: Execution) -> None:
        """RQ's, except that a Redis gone away does not end the worker: that would kill
        its work horse, and the render with it. The horse renders on; the beats
        resume when Redis is back."""
        try:
            super().maintain_heartbeats(job, execution)
        except UNREACHABLE as exc:
            if not self._redis_away:  # said once per outage
                log.warning(
                    "worker %s: Redis is unreachable (%s); job %s renders on",
                    self.name,
                    exc,
                    job.id,
                )
            self._redis_away = True
            return
        self._redis_away = False


def heartbeat_ttl(interval: float) -> int:
    """Seconds without a heartbeat after which a started job counts as abandoned."""
    return int(max(3 * interval, interval + 10))


def worker_name_for(pid: int) -> str:
    # Unique per process: RQ refuses a name whose previous owner's key still lives.
    return f"{socket.gethostname()}.{pid}"


def wait_for_redis(conn: Redis, stop: threading.Event | None = None, cap: float = 30.0) -> bool:
    """Block until Redis answers, retrying with backoff (1 s doubling up to ``cap``):
    a worker started while Redis is down waits rather than exits, so whoever
    supervises workers does not respawn them in a storm. False if ``stop`` was set."""
    delay = 1.0
    stop = stop or threading.Event()
    while not stop.is_set():
        try:
            conn.ping()
            return True
        except UNREACHABLE as exc:
            log.warning("Redis is unreachable (%s); trying again in %.0f s", exc, delay)
            stop.wait(delay)
            delay = min(delay * 2, cap)
    return False


def run_worker(settings: Settings, burst: bool = False, max_jobs: int | None = None) -> bool:
    conn = connect(redis_url(settings))
    wait_for_redis(conn)
    worker = AssemblyWorker(
        [open_queue(conn, settings)],
        connection=conn,
        name=worker_name_for(os.getpid()),
        serializer=JSONSerializer,
        job_class=AssemblyJob,
        job_monitoring_interval=settings.heartbeat_interval,
        default_result_ttl=settings.result_ttl,
    )
    log.info("worker %s on queue %s", worker.name, settings.queue_name)
    return bool(
        worker.work(
            burst=burst, max_jobs=max_jobs, with_scheduler=False, logging_level=settings.log_level
        )
    )
