"""What runs inside RQ: the assembly job, its progress adapters and its end-of-life hooks.

The job runs in RQ's work horse (a forked child of the worker, in its own process
group, so stopping the job kills ffmpeg too). Its outcome is written to three
places that must agree: the RQ job's meta (for the API), the status file beside the
request (for people without a browser) and ``project.json`` (the project's record).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from redis import Redis
from rq import get_current_job
from rq.job import Job
from rq.timeouts import JobTimeoutException

from . import fanout, jobmeta
from .cache import SegmentCache, cache_dir_for
from .errors import Abandoned, AssemblyError, ValidationFailed
from .jobqueue import CHANNEL, fetch, now_iso, view
from .lifecycle import die_with_parent
from .pipeline import assemble, error_record
from .plan import Plan, segment_for
from .presets import encoder_for
from .progress import STAGES, Progress, Update
from .project import ProjectFile
from .publish import remove_partials
from .render import encode_segment
from .request import AssemblyRequest
from .settings import current, map_path
from .status import StatusFile
from .validate import check_shot

log = logging.getLogger(__name__)


class RedisSink:
    """Progress into the job's meta and onto the pub/sub channel, throttled.

    Stage changes always go through; within a stage at most one update per
    ``interval`` seconds, so a 60 fps render does not flood Redis or browsers.
    Each write is refused once the job has ended (canceled, or failed by the reaper
    while this horse was merely slow): that raises :class:`Abandoned`, which stops
    the run. Put this sink first, so that nothing else hears from a stopped run.
    """

    def __init__(self, job: Job, conn: Redis, interval: float) -> None:
        self.job, self.conn, self.interval = job, conn, interval
        self._last = 0.0
        self._stage = ""

    def __call__(self, update: Update) -> None:
        now = time.monotonic()
        if update.stage == self._stage and now - self._last < self.interval:
            return
        self._last, self._stage = now, update.stage
        if not jobmeta.update(self.job, stage=update.stage, progress=round(update.percent, 1)):
            raise Abandoned(self.job.meta["state"])
        self.conn.publish(CHANNEL, json.dumps(view(self.job)))


class StatusSink:
    """Progress into the status file, at stage changes only: it may live on a NAS."""

    def __init__(self, status: StatusFile, job_id: str) -> None:
        self.status, self.job_id = status, job_id
        self._stage = ""

    def __call__(self, update: Update) -> None:
        if update.stage == self._stage or update.stage == "done":
            return
        self._stage = update.stage
        self.status.write(
            job_id=self.job_id,
            state="running",
            stage=update.stage,
            progress=round(update.percent, 1),
        )


class Rescaled:
    """A sink seen through a window of the bar: the join's 0-100 % becomes 90-100 %
    of its request's, and its re-validation is shown as rendering, not probing."""

    def __init__(self, sink: Any, low: float, high: float) -> None:
        self.sink, self.low, self.high = sink, low, high

    def __call__(self, update: Update) -> None:
        stage = "render" if update.stage in ("probe", "plan") else update.stage
        self.sink(Update(stage, self.low + (self.high - self.low) * update.percent / 100))


def _request_path(job: Job) -> Path:
    return Path(map_path(job.meta["request"], current()))


def _hand_off(job: Job, conn: Redis, path: Path) -> Any:
    """The pipeline's hand-off hook: fan a normalize plan out over the workers."""
    settings = current()

    def hand_off(plan: Plan) -> bool:
        if plan.strategy != "normalize" or not settings.fanout_min_segments:
            return False
        cache = SegmentCache(cache_dir_for(path.parent, settings), settings.cache_max_bytes)
        todo = fanout.uncached(plan, cache)
        if len(todo) < settings.fanout_min_segments:
            return False
        fanout.launch(job, conn, settings, path, todo, STAGES["render"][0])
        StatusFile(path).write(
            job_id=job.id, state="running", stage="render", progress=STAGES["render"][0]
        )
        conn.publish(CHANNEL, json.dumps(view(job)))
        log.info("%s: %d shot(s) handed to part jobs", job.id, len(todo))
        return True

    return hand_off


def run_assembly(request_path: str) -> dict[str, Any]:
    """The RQ job: assemble one request and publish its export."""
    # If the worker dies (SIGKILL, OOM, power), this horse must not render on
    # unsupervised; its ffmpeg children then see their pipes close and exit.
    die_with_parent()
    job = get_current_job()
    assert job is not None, "run_assembly runs inside an RQ job"
    conn = job.connection
    settings = current()
    path = Path(map_path(request_path, settings))
    status = StatusFile(path)
    if not jobmeta.update(job, state="running", stage="probe", progress=0.0, started_at=now_iso()):
        return {"skipped": job.meta["state"]}  # ended before it began: nothing to do
    status.write(job_id=job.id, state="running", stage="probe", progress=0.0, error=None)
    conn.publish(CHANNEL, json.dumps(view(job)))
    progress = Progress(
        RedisSink(job, conn, settings.progress_interval), StatusSink(status, job.id)
    )
    try:
        result = assemble(
            path, settings, progress, run_id=job.id, hand_off=_hand_off(job, conn, path)
        )
    except AssemblyError as exc:
        mark_ended(job, conn, "failed", exc.to_dict())
        raise
    if result is None:
        return {"fanout": fanout.children(job.meta)}
    export = str(result.export.relative_to(path.parent))
    mark_ended(job, conn, "finished", export=export)
    return {"export": str(result.export), "report": result.report.to_dict()}


def encode_part(request_path: str, parent_id: str, shot_index: int) -> dict[str, Any]:
    """A part job: normalize one shot of ``parent_id``'s request into the cache."""
    die_with_parent()
    job = get_current_job()
    assert job is not None
    conn, settings = job.connection, current()
    path = Path(map_path(request_path, settings))
    request = AssemblyRequest.model_validate_json(path.read_bytes())
    probed, problems = check_shot(path.parent, shot_index, request.shot_list[shot_index], settings)
    if probed is None:
        raise ValidationFailed(str(path), problems)
    encoder = encoder_for(request.output, settings)
    segment = segment_for(probed, request.output, encoder, want_copy=False)
    plan = Plan(request.output, encoder, [segment], settings.audio_sample_rate)
    cache = SegmentCache(cache_dir_for(path.parent, settings), settings.cache_max_bytes)
    key = cache.key(segment, plan)
    last = [0.0]
    # Fetched once: its view comes from its meta, which ended() re-reads each time.
    parent = fetch(conn, parent_id)

    def report(fraction: float) -> None:
        now = time.monotonic()
        if fraction >= 1.0 or now - last[0] >= settings.progress_interval:
            last[0] = now
            if (state := jobmeta.ended(parent)) and state != "finished":
                raise Abandoned(state)  # the request failed or was canceled: stop
            fanout.report_part(conn, parent_id, shot_index, fraction)
            conn.publish(CHANNEL, json.dumps(view(parent)))

    if cache.lookup(key, request.output.output_format) is None:
        encode_segment(segment, plan, cache, key, report)
    report(1.0)
    return {"shot_index": shot_index, "key": key}


def join_assembly(request_path: str, parent_id: str) -> dict[str, Any]:
    """The join job: every part is in the cache; assemble and publish as the parent."""
    die_with_parent()
    job = get_current_job()
    assert job is not None
    conn, settings = job.connection, current()
    parent = fetch(conn, parent_id)
    path = Path(map_path(request_path, settings))
    # From here on the join's own progress counts, not the parts'.
    if not jobmeta.update(parent, stage="render", progress=fanout.JOIN_FROM, joined_by=job.id):
        return {"skipped": parent.meta["state"]}
    progress = Progress(
        Rescaled(RedisSink(parent, conn, settings.progress_interval), fanout.JOIN_FROM, 100.0),
        StatusSink(StatusFile(path), parent_id),
    )
    try:
        result = assemble(path, settings, progress, run_id=parent_id)
    except AssemblyError as exc:
        mark_ended(parent, conn, "failed", exc.to_dict())
        raise
    assert result is not None
    mark_ended(parent, conn, "finished", export=str(result.export.relative_to(path.parent)))
    return {"export": str(result.export)}


def mark_ended(
    job: Job,
    conn: Redis,
    state: str,
    error: dict[str, Any] | None = None,
    export: str | None = None,
) -> None:
    """Record a terminal state everywhere, once. Safe to call from any process:
    of several at once (a cancel, the reaper, the job itself), the first wins."""
    finished_at = now_iso()
    ended = jobmeta.change(
        job,
        lambda meta: {
            "state": state,
            "stage": "done" if state == "finished" else meta.get("stage", state),
            "progress": 100.0 if state == "finished" else meta.get("progress", 0.0),
            "error": error,
            "export": export,
            "finished_at": finished_at,
        },
    )
    if not ended:
        return
    try:
        path = _request_path(job)
        StatusFile(path).write(
            job_id=job.id,
            state=state,
            stage=job.meta["stage"],
            progress=job.meta["progress"],
            request_sha256=job.meta.get("request_sha256"),
            export=export,
            error=error,
        )
        if state != "finished":
            remove_partials(path.parent, job.id)
            ProjectFile(path.parent).update(
                job.id, request_file=path.name, status=state, error=error, finished_at=finished_at
            )
    except OSError:
        # The NAS may be unreachable from here; the daemon's rescan reconciles later.
        log.exception("could not record %s for job %s", state, job.id)
    conn.publish(CHANNEL, json.dumps(view(job)))


def on_failure(
    job: Job,
    connection: Redis,
    exc_type: type[BaseException] | None,
    exc_value: BaseException | None,
    traceback: TracebackType | None,
) -> None:
    """RQ's failure hook: runs in the horse after an exception, or in whoever
    cleans the started-job registry after a worker died."""
    if exc_type is not None and issubclass(exc_type, JobTimeoutException):
        error = {
            "code": "timeout",
            "message": f"the render ran past job_timeout ({job.timeout} s) and was stopped",
        }
    elif exc_type is not None and exc_type.__name__ == "AbandonedJobError":
        error = {
            "code": "worker_died",
            "message": (
                "the worker running this job died (killed or crashed); its partial files "
                "were removed. Delete the status file to run the request again."
            ),
        }
    elif exc_value is not None:
        error = error_record(exc_value)
    else:
        error = {"code": "internal_error", "message": "the job failed"}
    parent_id = job.meta.get("parent")
    if parent_id:
        # A part or the join: the request fails, naming the shot; the rest stops.
        parent = fetch(connection, parent_id)
        shot = job.meta.get("shot_index")
        if shot is not None and "shot_index" not in error:
            message = f"shot {shot + 1}: {error.get('message', '')}"
            error = {**error, "shot_index": shot, "message": message}
        fanout.cancel_children(connection, parent.meta, spare=job.id)
        mark_ended(parent, connection, "failed", error)
        return
    mark_ended(job, connection, "failed", error)


def on_stopped(job: Job, connection: Redis) -> None:
    """RQ's stop hook: the worker killed the horse's process group on request."""
    parent_id = job.meta.get("parent")
    if parent_id:
        # Canceling the request stopped this child and already marked the request.
        # The kill may have landed after that mark's cleanup: clean up again.
        remove_partials(_request_path(job).parent, parent_id)
        return
    mark_ended(
        job, connection, "canceled", {"code": "canceled", "message": "canceled while running"}
    )
