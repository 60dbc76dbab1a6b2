"""Jobs whose worker is gone: failed when it died, put back when we stopped it.

RQ's workers notice a dead worker's job only every ten minutes; the watcher calls
:func:`reap_abandoned` at each of its rescans instead. It also rescues jobs a worker
took off the queue and died before starting (RQ parks a job it dequeues in an
"intermediate" list until it starts; a worker SIGKILLed in between strands it
there): they never ran, so they go back on the queue. :func:`requeue_interrupted`
is for ``assemblyd up``'s own shutdown: what its workers were rendering runs again
at the next start.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from redis import Redis
from rq.registry import StartedJobRegistry
from rq.serializers import JSONSerializer
from rq.timeouts import TimerDeathPenalty

from ..errors import Interrupted, JobNotFound
from ..pipeline.publish import remove_partials
from ..records.project import ProjectFile
from ..records.status import StatusFile
from ..settings import Settings, map_path
from ..states import JobState, Stage
from . import fanout, signing
from .adapter import fetch, open_queue, valid_job_id
from .functions import job_class
from .worker import heartbeat_ttl, worker_name_for

log = logging.getLogger(__name__)


def reap_abandoned(conn: Redis, settings: Settings) -> None:
    """Fail jobs whose worker stopped beating (its failure hook says so)."""
    registry = StartedJobRegistry(
        settings.queue_name,
        connection=conn,
        serializer=JSONSerializer,
        # Callbacks only of jobs signed with our key: a forged abandoned job must not
        # make the watcher run anything (RQ imports callbacks by name).
        job_class=job_class(signing.job_secret(settings)),
        # The failure hook runs here, on the caller's thread: RQ's default alarm
        # based time limit only works on a main thread.
        death_penalty_class=TimerDeathPenalty,
    )
    registry.cleanup()
    rescue_stranded(conn, settings)


def rescue_stranded(conn: Redis, settings: Settings) -> list[str]:
    """Put back on the queue the jobs that a dead worker dequeued but never started.

    A live worker starts what it dequeues within milliseconds; one found parked on
    two passes at least ``heartbeat_ttl`` apart belongs to no one."""
    queue = open_queue(conn, settings)
    parked = queue.intermediate_queue
    started = set(queue.started_job_registry.get_job_ids(cleanup=False))
    grace = heartbeat_ttl(settings.heartbeat_interval)
    rescued: list[str] = []
    for job_id in parked.get_job_ids():
        if job_id in started:
            continue
        if not valid_job_id(job_id):
            parked.remove(job_id)
            continue
        if parked.set_first_seen(job_id):
            continue  # seen for the first time: give its worker the benefit of the doubt
        first = parked.get_first_seen(job_id)
        if first is None or time.time() - first.timestamp() < grace:
            continue
        parked.remove(job_id)
        conn.delete(parked.get_first_seen_key(job_id))
        try:
            fetch(conn, job_id)
        except JobNotFound:
            continue
        queue.push_job_id(job_id, at_front=True)
        rescued.append(job_id)
        log.warning(
            "job %s was dequeued by a worker that died before starting it; queued again", job_id
        )
    return rescued


def requeue_interrupted(conn: Redis, settings: Settings, worker_pids: list[int]) -> list[str]:
    """Put back the jobs our stopped workers were running: the next start redoes them."""
    ours = {worker_name_for(pid) for pid in worker_pids}
    registry = StartedJobRegistry(settings.queue_name, connection=conn, serializer=JSONSerializer)
    requeued: list[str] = []
    for job_id in registry.get_job_ids(cleanup=False):
        try:
            job = fetch(conn, job_id)
        except JobNotFound:
            continue
        if job.worker_name not in ours:
            continue
        # A part or the join of a split request: it is the request that goes back.
        try:
            root = fetch(conn, str(job.meta["parent"])) if job.meta.get("parent") else job
        except JobNotFound:
            continue
        if root.id in requeued or not isinstance(root.meta.get("request"), str):
            continue
        request = Path(map_path(str(root.meta["request"]), settings))
        fanout.delete_family(conn, root)
        if not request.parent.is_dir():
            requeued.append(root.id)
            continue  # its project was moved or deleted meanwhile: nothing to put back
        StatusFile(request).write(
            job_id=root.id,
            state=JobState.QUEUED,
            stage=Stage.QUEUED,
            progress=0.0,
            error=Interrupted().to_dict(),
        )
        remove_partials(request.parent, root.id)
        ProjectFile(request.parent).update(root.id, status="interrupted")
        requeued.append(root.id)
    return requeued
