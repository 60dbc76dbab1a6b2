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

from rq import Worker
from rq.job import Job
from rq.serializers import JSONSerializer

from ..settings import Settings
from .adapter import open_queue
from .connection import connect, redis_url
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

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        return heartbeat_ttl(self.job_monitoring_interval)


def heartbeat_ttl(interval: float) -> int:
    """Seconds without a heartbeat after which a started job counts as abandoned."""
    return int(max(3 * interval, interval + 10))


def worker_name_for(pid: int) -> str:
    # Unique per process: RQ refuses a name whose previous owner's key still lives.
    return f"{socket.gethostname()}.{pid}"


def run_worker(settings: Settings, burst: bool = False, max_jobs: int | None = None) -> bool:
    conn = connect(redis_url(settings))
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
