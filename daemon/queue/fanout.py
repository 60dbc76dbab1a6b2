"""Scale-out: a request's shots normalized by many workers at once, then one join.

When a worker's plan says *normalize* and several segments are not in the cache,
it does not encode them itself. It enqueues one **part** job per missing segment
(any worker on any machine sharing the Redis and the NAS can take it; the result
lands in the shared segment cache) and a **join** job that depends on all of them
(RQ dependencies). The join is a normal assembly that finds every segment cached.

The request's own job stays the one users see: its id, its status file, its
``project.json`` entry. Its percent adds up the parts' progress (weighted by their
frames) and then the join's. If a part fails, the request fails naming that shot,
its siblings are canceled and the join never runs; canceling the request cancels
all of them. A part whose worker died (a node SIGKILLed, a power cut) runs once
more, on whichever worker takes it: only the same part dying twice fails the request.

In RQ too the request's job lasts as long as the request: once it has handed its
work out, its worker puts it back as *deferred* on its join (RQ's state for a job
waiting on another), and when the request has ended a worker takes it once more to
settle it in RQ as the request ended: finished, failed or canceled (see
:mod:`.worker`). ``rq info`` and rq-dashboard never show it finished while its
parts render.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from redis import Redis
from redis.client import Pipeline
from redis.exceptions import WatchError
from rq import Queue, Retry
from rq.command import send_stop_job_command
from rq.exceptions import InvalidJobOperation
from rq.job import Dependency, Job, JobStatus
from rq.serializers import JSONSerializer

from ..errors import Abandoned, JobNotFound
from ..pipeline.validate import ValidatedRequest
from ..render.cache import SegmentCache
from ..render.model import Plan, Segment
from ..settings import Settings
from . import index, names
from . import meta as jobmeta
from .adapter import enqueue_signed, fetch, open_queue
from .meta import FanOut

PARTS_KEY = "assemblyd:parts:"
#: The parts fill the request's bar up to here; the join does the rest.
JOIN_FROM = 90.0
#: Runs a part gets when its worker dies under it: render farms re-run a task once.
PART_ATTEMPTS = 2


def launch(
    parent: Job,
    conn: Redis,
    settings: Settings,
    request: Path,
    todo: list[Segment],
    start_percent: float,
) -> list[str]:
    """Enqueue a part job per segment in ``todo`` and the join after them."""
    # A re-run of the same request (same job id) starts from nothing, not from the
    # fractions its last run left.
    forget_progress(conn, parent.id)
    queue = open_queue(conn, settings)
    parts = [
        enqueue_signed(
            queue,
            settings,
            names.ENCODE_PART,
            str(request),
            parent.id,
            seg.shot_index,
            job_id=f"{parent.id}-part{seg.shot_index:04d}",
            meta={"parent": parent.id, "request": str(request), "shot_index": seg.shot_index},
            description=f"normalize shot {seg.shot_index + 1} of {request}",
            # A part whose worker died runs once more (see jobs.on_failure); one that
            # failed by itself does not (a bad shot stays bad).
            # First in line when it does: its siblings may be done, the request waits.
            retry=Retry(max=PART_ATTEMPTS - 1, enqueue_at_front=True),
        )
        for seg in todo
    ]
    join = enqueue_signed(
        queue,
        settings,
        names.JOIN_ASSEMBLY,
        str(request),
        parent.id,
        job_id=f"{parent.id}-join",
        depends_on=Dependency(jobs=parts),
        meta={"parent": parent.id, "request": str(request)},
        description=f"join {request}",
    )
    fan: FanOut = {
        "parts": [p.id for p in parts],
        "join": join.id,
        "frames": {str(s.shot_index): s.frames for s in todo},
        "from": start_percent,
    }
    if not jobmeta.update(parent, fanout=fan, stage="render", progress=start_percent):
        # Canceled while the parts were being queued: take them back.
        cancel_children(conn, {"fanout": fan})
        raise Abandoned(parent.meta["state"])
    return [p.id for p in parts] + [join.id]


def splittable(validated: ValidatedRequest, plans: list[Plan]) -> bool:
    """Can part jobs make this request's segments? A part renders for the first
    output only, so a request with several does not split. A part of a timeline
    reads the whole timeline again (an event's segment depends on its neighbours),
    so it knows each segment's place in the cut; a part of a shot list probes its
    one shot, and does not: burn-ins (which count the cut's frames) and a slate
    (which shifts them) keep a shot list in one job."""
    if len(plans) != 1:
        return False
    if validated.conform is not None:
        return True
    return validated.request.slate is None and not validated.request.main_output.burnins


def uncached(plan: Plan, cache: SegmentCache) -> list[Segment]:
    """Segments to encode: not in the cache, and each distinct segment once (a shot
    used twice with the same trims is one segment)."""
    ext = plan.output.output_format
    todo: dict[str, Segment] = {}
    for seg in plan.segments:
        key = cache.key(seg, plan)
        if key not in todo and cache.lookup(key, ext) is None:
            todo[key] = seg
    return list(todo.values())


def forget_progress(conn: Redis, parent_id: str) -> None:
    """Drop the parts' progress of ``parent_id`` (its request ended, or runs again)."""
    conn.delete(PARTS_KEY + parent_id)


def delete_family(conn: Redis, job: Job) -> None:
    """Delete ``job`` with its part and join jobs and their progress: nothing of a
    split request outlives it."""
    for child_id in children(job.meta if isinstance(job.meta, dict) else {}):
        try:
            fetch(conn, child_id).delete()
        except JobNotFound:
            continue
    forget_progress(conn, job.id)
    index.remove(conn, job.origin, job.id)
    job.delete()


def report_part(conn: Redis, parent_id: str, shot_index: int, fraction: float) -> None:
    conn.hset(PARTS_KEY + parent_id, str(shot_index), f"{fraction:.4f}")
    conn.expire(PARTS_KEY + parent_id, 7 * 86400)


def parts_done(conn: Redis, parent_id: str) -> dict[bytes, bytes]:
    """What each part of ``parent_id`` has done so far, as stored."""
    return conn.hgetall(PARTS_KEY + parent_id)  # type: ignore[return-value]


def parts_done_many(conn: Redis, parent_ids: list[str]) -> list[dict[bytes, bytes]]:
    """:func:`parts_done` for several requests, in one round trip."""
    if not parent_ids:
        return []
    with conn.pipeline(transaction=False) as pipe:
        for parent_id in parent_ids:
            pipe.hgetall(PARTS_KEY + parent_id)
        return list(pipe.execute())


def progress_of(fan: dict[str, Any], stored: dict[bytes, bytes]) -> float:
    """The parent's percent while its parts run: their frames done, weighted.
    ``fan`` and ``stored`` are read back from Redis: anything malformed counts as no
    progress."""
    try:
        frames = {str(k): int(n) for k, n in dict(fan["frames"]).items()}
        start = float(fan["from"])
        done = {k.decode(): float(v) for k, v in stored.items()}
    except (KeyError, TypeError, ValueError, UnicodeDecodeError, AttributeError):
        return 0.0
    total = sum(frames.values()) or 1
    finished = sum(n * min(max(done.get(k, 0.0), 0.0), 1.0) for k, n in frames.items())
    return start + (JOIN_FROM - start) * finished / total


def children(meta: dict[str, Any]) -> list[str]:
    fan = meta.get("fanout")
    if not isinstance(fan, dict):
        return []
    ids = [*fan.get("parts", []), fan.get("join")]
    return [i for i in ids if isinstance(i, str) and i]


def cancel_children(conn: Redis, meta: dict[str, Any], spare: str | None = None) -> None:
    """Stop running children and cancel waiting ones (all but ``spare``)."""
    for child_id in children(meta):
        if child_id == spare:
            continue
        try:
            child = fetch(conn, child_id)
        except JobNotFound:
            continue  # expired or deleted: nothing left to stop
        status = child.get_status(refresh=True)
        if status == JobStatus.STARTED:
            try:
                send_stop_job_command(conn, child_id, serializer=JSONSerializer)
            except InvalidJobOperation:
                child.cancel()
        elif status in (JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED):
            child.cancel()


# --- the request's own job in RQ, while its children work ------------------------------


def handed_off(job: Job) -> bool:
    """Has ``job`` handed its work to parts and a join (its meta names them)?"""
    fan = job.meta.get("fanout") if isinstance(job.meta, dict) else None
    return isinstance(fan, dict) and isinstance(fan.get("join"), str)


#: RQ states of a join that has not ended yet.
_PENDING = {
    JobStatus.CREATED,
    JobStatus.QUEUED,
    JobStatus.DEFERRED,
    JobStatus.SCHEDULED,
    JobStatus.STARTED,
    JobStatus.READY_TO_ENQUEUE,
}


def wait_for_join(job: Job, queue: Queue, cleanup: Callable[[Pipeline], None]) -> str:
    """Put a request that has just handed off (its first run is over; ``cleanup``
    adds that run's bookkeeping to the transaction) back in RQ as deferred on its
    join; or, if the request or its join has ended already, straight back on the
    queue to be settled. Returns "deferred", "settle" or "canceled" (it was canceled
    in RQ meanwhile: nothing to wait for)."""
    join_id = str(job.meta["fanout"]["join"])
    join_key = Job.key_for(join_id)
    with job.connection.pipeline() as pipe:
        while True:
            try:
                pipe.watch(join_key, job.key)  # type: ignore[no-untyped-call]
                status = pipe.hget(join_key, "status")
                canceled = pipe.hget(job.key, "status") == JobStatus.CANCELED.value.encode()
                join_status = status.decode() if isinstance(status, bytes) else None
                waiting = join_status in _PENDING and jobmeta.ended(job) is None
                pipe.multi()
                cleanup(pipe)
                if canceled:
                    outcome = "canceled"
                elif waiting:
                    job._dependency_ids = [join_id]
                    job.allow_dependency_failures = True  # a failed join settles it too
                    job.set_status(JobStatus.DEFERRED, pipeline=pipe)
                    job.register_dependency(pipeline=pipe)  # RQ queues it when the join ends
                    # The meta is the request's, written by others meanwhile: never clobbered.
                    job.save(pipeline=pipe, include_meta=False)
                    outcome = "deferred"
                else:
                    job.set_status(JobStatus.QUEUED, pipeline=pipe)
                    queue.push_job_id(job.id, pipeline=pipe)
                    outcome = "settle"
                pipe.execute()
                return outcome
            except WatchError:
                continue


def release(conn: Redis, parent: Job) -> bool:
    """Queue a deferred request to be settled now: it ended while its join never
    will (a part failed, so the join was canceled). False if it was not waiting."""
    queue = Queue(parent.origin, connection=conn, serializer=JSONSerializer)
    join = children(parent.meta if isinstance(parent.meta, dict) else {})[-1:]
    with conn.pipeline() as pipe:
        while True:
            try:
                pipe.watch(parent.key)  # type: ignore[no-untyped-call]
                if pipe.hget(parent.key, "status") != JobStatus.DEFERRED.value.encode():
                    return False
                pipe.multi()
                pipe.zrem(queue.deferred_job_registry.key, parent.id)
                for join_id in join:
                    pipe.srem(Job.dependents_key_for(join_id), parent.id)
                pipe.hset(parent.key, "status", JobStatus.QUEUED.value)
                queue.push_job_id(parent.id, pipeline=pipe)
                pipe.execute()
                return True
            except WatchError:
                continue
