"""Jobs whose worker is gone: failed when it died, put back when we stopped it.

RQ's workers notice a dead worker's job only every ten minutes; the watcher calls
:func:`reap_abandoned` at each of its rescans instead. :func:`requeue_interrupted`
is for ``assemblyd up``'s own shutdown: what its workers were rendering runs again
at the next start.
"""

from __future__ import annotations

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
from . import fanout
from .adapter import fetch
from .functions import AssemblyJob
from .worker import worker_name_for


def reap_abandoned(conn: Redis, settings: Settings) -> None:
    """Fail jobs whose worker stopped beating (its failure hook says so)."""
    registry = StartedJobRegistry(
        settings.queue_name,
        connection=conn,
        serializer=JSONSerializer,
        job_class=AssemblyJob,
        # The failure hook runs here, on the caller's thread: RQ's default alarm
        # based time limit only works on a main thread.
        death_penalty_class=TimerDeathPenalty,
    )
    registry.cleanup()


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
