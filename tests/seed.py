"""Many ended jobs in Redis at once, as a month of a busy farm leaves them: for the
pagination tests and ``benchmarks/list_api.py``.

Each is a real RQ job of ours (our function, signed, JSON), in the registry of its RQ
state with a TTL, with a meta as a worker leaves it, and in the list index; a few
are split requests (with their parts, which users never see in lists). Written
with pipelines: 10,000 take a few seconds.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from redis import Redis
from rq.job import JobStatus

from assemblyd.queue import adapter, index, names, signing
from assemblyd.settings import Settings

#: Our end state -> RQ's (superseded requests end as RQ successes).
RQ_STATUS = {
    "finished": JobStatus.FINISHED,
    "failed": JobStatus.FAILED,
    "canceled": JobStatus.CANCELED,
}
STATES = ("finished",) * 8 + ("failed", "canceled")


def seed_ended_jobs(
    conn: Redis,
    settings: Settings,
    count: int,
    start: datetime | None = None,
    prefix: str = "asm-seed",
    states: tuple[str, ...] = STATES,
    batch: int = 500,
) -> list[str]:
    """Seed ``count`` ended jobs queued one second apart from ``start``; returns their
    ids, oldest first."""
    queue = adapter.open_queue(conn, settings)
    secret = signing.job_secret(settings)
    start = start or datetime.now(UTC) - timedelta(seconds=count + 60)
    registries = {
        JobStatus.FINISHED: queue.finished_job_registry,
        JobStatus.FAILED: queue.failed_job_registry,
        JobStatus.CANCELED: queue.canceled_job_registry,
    }
    ids: list[str] = []
    for first in range(0, count, batch):
        with conn.pipeline() as pipe:
            for i in range(first, min(first + batch, count)):
                state = states[i % len(states)]
                queued = (start + timedelta(seconds=i)).isoformat(timespec="milliseconds")
                project = f"/srv/projects/show/seq{i // 10:04d}"
                request = f"{project}/assembly.json"
                job_id = f"{prefix}-{i:08d}"
                meta = {
                    "request": request,
                    "project": project,
                    "request_sha256": "0" * 64,
                    "state": state,
                    "stage": "done" if state == "finished" else "render",
                    "progress": 100.0 if state == "finished" else 40.0,
                    "queued_at": queued,
                    "started_at": queued,
                    "finished_at": queued,
                    "export": "exports/cut.mp4" if state == "finished" else None,
                    "error": None
                    if state == "finished"
                    else {"code": state, "message": f"the job was {state}"},
                }
                if i % 50 == 0:  # now and then a split request, with its parts
                    meta["fanout"] = {
                        "parts": [f"{job_id}-part0000"],
                        "join": f"{job_id}-join",
                        "frames": {"0": 24},
                        "from": 6.0,
                    }
                job = queue.create_job(
                    names.RUN_ASSEMBLY,
                    args=(request,),
                    job_id=job_id,
                    meta=meta,
                    **adapter.job_options(settings),
                )
                signing.sign(job, secret)
                status = RQ_STATUS[state]
                job.set_status(status, pipeline=pipe)
                job.ended_at = datetime.now(UTC)
                job.save(pipeline=pipe)
                pipe.expire(job.key, settings.failure_ttl)
                registries[status].add(job, ttl=settings.failure_ttl, pipeline=pipe)
                if "fanout" in meta:
                    part = queue.create_job(
                        names.ENCODE_PART,
                        args=(request, job_id, 0),
                        job_id=f"{job_id}-part0000",
                        meta={"parent": job_id, "request": request, "shot_index": 0},
                        **adapter.job_options(settings),
                    )
                    signing.sign(part, secret)
                    part.set_status(JobStatus.FINISHED, pipeline=pipe)
                    part.save(pipeline=pipe)
                    registries[JobStatus.FINISHED].add(
                        part, ttl=settings.failure_ttl, pipeline=pipe
                    )
                pipe.zadd(index.key(settings.queue_name), {job_id: index.score_of(queued)})
                ids.append(job_id)
            pipe.execute()
    return ids
