"""``assemblyd worker``: an RQ worker with this project's settings and rules.

It is RQ's forking worker: each job runs in a work horse in its own process group,
so a stop command or a cold shutdown kills the horse and its ffmpeg children
together. Run as many as the machines have cores to spare; they may live on
different machines as long as they share the Redis and the job_secret, and see the
NAS (at the same path, or through ``path_map``).

What it adds to RQ's worker:

- **Only our jobs run.** Before anything of a job is imported or run, the job must
  name one of our functions and callbacks and carry a valid signature
  (:func:`.functions.refusal`). Otherwise it is refused: failed in RQ with the code
  ``forged_job``, logged, nothing run, no file touched.
- **A stopped job is canceled**, in RQ's canceled registry (RQ would call it
  "stopped" and file it with the failures).
- **A split request stays unfinished in RQ until its join ends** (see
  :mod:`.fanout`): after handing its work out it waits deferred on its join, and
  its last run only settles it in RQ as the request ended.
- Heartbeats that notice a dead worker in seconds, and survive a Redis away.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import threading
from types import TracebackType
from typing import Any

from redis import Redis
from redis.client import Pipeline
from rq import Queue, Worker
from rq.callbacks import execute_stopped_callback
from rq.exceptions import InvalidJobOperation
from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer
from rq.utils import now
from rq.worker import SHUTDOWN_SIGNAL

from .. import __version__
from ..errors import Abandoned, AssemblyError, ForgedJob, InternalError
from ..render.cache import cache_dir_for
from ..settings import Settings
from ..stamps import now_iso
from ..states import JobState
from . import fanout, signing
from . import meta as jobmeta
from .adapter import open_queue
from .connection import UNREACHABLE, open_redis, redis_url, refusal, shown_url
from .farm import SETUP_FIELD
from .functions import AssemblyJob, job_class
from .functions import refusal as job_refusal

log = logging.getLogger(__name__)


class AssemblyWorker(Worker):
    """RQ's forking worker, with the rules above.

    Heartbeats: RQ gives a started job ``min(timeout, job_monitoring_interval) + 60``
    seconds without a heartbeat before it counts it as abandoned. Heartbeats come
    every ``heartbeat_interval`` seconds, so three missed ones are proof enough; a
    studio should not wait over a minute to learn that its render died. Never less
    than ten seconds, though: on a machine whose cores ffmpeg keeps busy, or over a
    congested network, a beat can be a few seconds late, and a live job declared
    dead is a lost render (its horse notices and stops, see :mod:`.meta`).
    """

    _redis_away = False
    _settling = False
    job_secret: bytes = b""
    #: JSON of :func:`setup_of`, stored in RQ's worker hash at birth.
    work_setup = ""

    def register_birth(self) -> None:
        super().register_birth()  # type: ignore[no-untyped-call]
        if self.work_setup:
            self.connection.hset(self.key, SETUP_FIELD, self.work_setup)

    # -- only our jobs --------------------------------------------------------------
    def perform_job(self, job: Job, queue: Queue, execution: Execution) -> bool:
        refused = job_refusal(job, self.job_secret)
        if refused is not None:
            return self._refuse(job, queue, execution, refused)
        if fanout.handed_off(job):
            return self._settle(job, queue, execution)
        return bool(super().perform_job(job, queue, execution))

    def _refuse(self, job: Job, queue: Queue, execution: Execution, why: ForgedJob) -> bool:
        """Fail ``job`` in RQ with our reason, without importing or running anything of
        it (not its callbacks: RQ's own failure path would import them)."""
        log.error("worker %s refused job %s: %s [%s]", self.name, job.id, why.reason, why.code)
        self.prepare_job_execution(job, remove_from_intermediate_queue=len(self.queues) == 1)
        job.started_at = job.ended_at = now()
        job.retries_left = 0  # never retried
        job.webhooks = []  # nor announced to anyone it names
        job._status = JobStatus.FAILED
        # Recorded in its meta too, for the API; nothing else is believed of it (its
        # "request" could name any file): no status file, no project.json.
        meta = job.meta if isinstance(job.meta, dict) else {}
        if meta.get("request") or meta.get("state"):
            try:
                jobmeta.update(
                    job, state=JobState.FAILED, error=why.to_dict(), finished_at=now_iso()
                )
            except Exception:  # its meta may be anything
                log.warning("job %s: could not record the refusal in its meta", job.id)
        self.handle_job_failure(
            job, queue, exc_string=f"ForgedJob: {why.code}: {why.reason}", execution=execution
        )
        return False

    # -- stop means cancel ------------------------------------------------------------
    def _handle_stopped_job(self, job: Job, queue: Queue, execution: Execution) -> None:
        """RQ files a stopped job with the failures; a stop is how we cancel a running
        job, so it goes to RQ's canceled registry instead."""
        self._stopped_job_id = None
        log.info("worker %s: job %s stopped on request: canceled", self.name, job.id)
        try:
            execute_stopped_callback(job, self.death_penalty_class)  # ours, signed only
        except Exception:
            log.exception("job %s: its stop hook failed", job.id)
        self._end_canceled(job, execution)

    def _finalize_failure(
        self,
        job: Job,
        queue: Queue,
        execution: Execution,
        exc_info: tuple[type[BaseException] | None, BaseException | None, TracebackType | None],
    ) -> None:
        """A run that stopped itself because its job (or its request) was canceled
        meanwhile (it noticed before the stop command reached it) is canceled in RQ
        too, not failed; whoever canceled it has recorded everything else."""
        exc = exc_info[1]
        if isinstance(exc, Abandoned) and exc.state == JobState.CANCELED:
            log.info("worker %s: job %s stopped itself: canceled", self.name, job.id)
            self._end_canceled(job, execution)
            return
        super()._finalize_failure(job, queue, execution, exc_info)

    def _end_canceled(self, job: Job, execution: Execution) -> None:
        """End ``job``'s run in RQ as canceled: out of the started registry, into the
        canceled one, its rate-limit slot (if any) given back."""
        job.ended_at = now()
        with self.connection.pipeline() as pipe:
            self.cleanup_execution(job, pipeline=pipe, execution=execution)
            pipe.execute()
        _cancel_in_rq(job)
        self._release_slot_safely(job)

    def kill_horse(self, sig: signal.Signals = SHUTDOWN_SIGNAL) -> None:
        """RQ's, except with no horse: ``os.getpgid(0)`` is this worker's own process
        group, and RQ would kill it (a stop command racing the end of a job does)."""
        if not self.horse_pid:
            return
        super().kill_horse(sig)

    # -- split requests -------------------------------------------------------------
    def handle_job_success(
        self, job: Job, queue: Queue, started_job_registry: Any, execution: Execution
    ) -> None:
        if self._settling or not fanout.handed_off(job):
            super().handle_job_success(job, queue, started_job_registry, execution)
            return

        def cleanup(pipe: Pipeline) -> None:
            self.cleanup_execution(job, pipeline=pipe, execution=execution)

        outcome = fanout.wait_for_join(job, queue, cleanup)
        log.info("job %s handed its work out; %s", job.id, _WAITING[outcome])

    def _settle(self, job: Job, queue: Queue, execution: Execution) -> bool:
        """The last run of a split request: end it in RQ as the request ended."""
        self.prepare_job_execution(job, remove_from_intermediate_queue=len(self.queues) == 1)
        job.started_at = now()
        state = jobmeta.ended(job)
        if state == JobState.FINISHED:
            self._settling = True
            try:
                export = job.meta.get("export")
                self._finalize_success(job, queue, execution, {"export": export})
            finally:
                self._settling = False
            return True
        if state == JobState.CANCELED:
            self._end_canceled(job, execution)
            return False
        error = job.meta.get("error") if isinstance(job.meta, dict) else None
        ended: AssemblyError
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            code = str(error.get("code") or "failed")
            # What RQ shows (rq info, rq-dashboard): the request's own code and words.
            ended = AssemblyError(f"{code}: {error['message']}", code=code)
        else:
            ended = InternalError(
                RuntimeError("its join ended without recording the request's end")
            )
        self._finalize_failure(job, queue, execution, (type(ended), ended, None))
        return False

    # -- heartbeats -----------------------------------------------------------------
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


_WAITING = {
    "deferred": "it waits, deferred, for its join",
    "settle": "it has ended already and is settled next",
    "canceled": "it was canceled meanwhile",
}


def _cancel_in_rq(job: Job) -> None:
    try:
        if job.get_status(refresh=True) != JobStatus.CANCELED:
            job.cancel()
    except InvalidJobOperation:
        pass  # canceled meanwhile by someone else


def heartbeat_ttl(interval: float) -> int:
    """Seconds without a heartbeat after which a started job counts as abandoned."""
    return int(max(3 * interval, interval + 10))


def worker_name_for(pid: int) -> str:
    # Unique per process: RQ refuses a name whose previous owner's key still lives.
    return f"{socket.gethostname()}.{pid}"


def setup_of(settings: Settings) -> dict[str, Any]:
    """How this worker is set up, as `assemblyd status` shows it: what it really runs
    with (the log level in force, not only the one asked for)."""
    caches = {str(root): str(cache_dir_for(root / "project", settings)) for root in settings.roots}
    return {
        "version": __version__,
        "pid": os.getpid(),
        "ffmpeg_threads": settings.ffmpeg_threads,
        "log_level": logging.getLevelName(logging.getLogger().getEffectiveLevel()),
        "log_format": settings.log_format,
        "roots": [str(root) for root in settings.roots],
        "caches": caches,
        "path_map": settings.path_map,
    }


def wait_for_redis(
    conn: Redis,
    settings: Settings | None = None,
    stop: threading.Event | None = None,
    cap: float = 30.0,
) -> bool:
    """Block until Redis answers, retrying with backoff (1 s doubling up to ``cap``):
    a worker started while Redis is down waits rather than exits, so whoever
    supervises workers does not respawn them in a storm. False if ``stop`` was set.
    A Redis that answers but refuses us (credentials, TLS) raises at once
    (:class:`..errors.RedisRefused`): waiting would not help."""
    delay = 1.0
    stop = stop or threading.Event()
    while not stop.is_set():
        try:
            conn.ping()
            return True
        except UNREACHABLE as exc:
            refused = refusal(exc, settings) if settings is not None else None
            if refused is not None:
                raise refused from None
            log.warning("Redis is unreachable (%s); trying again in %.0f s", exc, delay)
            stop.wait(delay)
            delay = min(delay * 2, cap)
    return False


def run_worker(settings: Settings, burst: bool = False, max_jobs: int | None = None) -> bool:
    secret = signing.job_secret(settings)
    conn = open_redis(settings)
    wait_for_redis(conn, settings)
    worker = AssemblyWorker(
        [open_queue(conn, settings)],
        connection=conn,
        name=worker_name_for(os.getpid()),
        serializer=JSONSerializer,
        job_class=job_class(secret),
        job_monitoring_interval=settings.heartbeat_interval,
        default_result_ttl=settings.result_ttl,
    )
    worker.job_secret = secret
    setup = setup_of(settings)
    log.info(
        "worker %s on queue %s at %s: ffmpeg threads %s, log level %s, caches %s",
        worker.name,
        settings.queue_name,
        shown_url(redis_url(settings)),
        setup["ffmpeg_threads"] or "auto",
        setup["log_level"],
        ", ".join(setup["caches"].values()) or "in each project",
    )
    worker.work_setup = json.dumps(setup)
    return bool(
        worker.work(
            burst=burst, max_jobs=max_jobs, with_scheduler=False, logging_level=settings.log_level
        )
    )


__all__ = ["AssemblyJob", "AssemblyWorker", "run_worker"]
