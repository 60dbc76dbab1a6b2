"""What runs inside RQ: the assembly job, its fan-out pieces, and its end-of-life hooks.

The job runs in RQ's work horse (a forked child of the worker, in its own process
group, so stopping the job kills ffmpeg too). Its progress reaches Redis (and from
there the web) and the status file through :mod:`.sinks`; its verdict is written
by :mod:`.outcomes`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path
from types import TracebackType

from redis import Redis
from rq import get_current_job
from rq.exceptions import AbandonedJobError
from rq.job import Job
from rq.timeouts import JobTimeoutException

from ..conform.detect import is_timeline_file, request_limit
from ..errors import (
    Abandoned,
    AssemblyError,
    Canceled,
    InternalError,
    RenderError,
    RequestGone,
    SourceChanged,
    Superseded,
    TimedOut,
    ValidationFailed,
    WorkerDied,
    as_assembly_error,
)
from ..lifecycle import die_with_parent
from ..pipeline.plan import make_plan, segment_for
from ..pipeline.progress import STAGES, Progress
from ..pipeline.publish import remove_partials
from ..pipeline.run import Prepared, Result, execute, prepare
from ..pipeline.sources import Fingerprint, Sources, fingerprint, gone
from ..pipeline.validate import check_shot, validate
from ..records.status import StatusFile
from ..render.cache import cache_dir_for, project_cache
from ..render.model import Plan, Segment
from ..render.normalize import encode_segment
from ..render.presets import encoder_for
from ..request.parse import parse_request, read_request_bytes
from ..settings import Settings, current, map_path
from ..stamps import now_iso, sha256_hex
from ..states import JobState, Stage
from . import fanout, housekeeping, stats
from . import meta as jobmeta
from .adapter import fetch
from .events import announce
from .outcomes import mark_ended, request_path
from .sinks import RedisSink, Rescaled, StatusSink

log = logging.getLogger(__name__)


def _current_job() -> Job:
    job = get_current_job()
    if job is None:
        raise RuntimeError("this function runs inside an RQ job")
    return job


def _split(job: Job, settings: Settings, prepared: Prepared) -> bool:
    """Fan a normalize plan out over the workers, if enough of it is to encode."""
    plan, path = prepared.plan, prepared.validated.request_path
    if plan.strategy != "normalize" or not settings.fanout_min_segments:
        return False
    if not fanout.splittable(prepared.validated, prepared.plans):
        return False
    cache = project_cache(path.parent, settings)
    todo = fanout.uncached(plan, cache)
    if len(todo) < settings.fanout_min_segments:
        return False
    start = STAGES[Stage.RENDER][0]
    # What validation saw of each shot: the parts and the join render nothing else.
    sources = {str(i): fp.to_list() for i, fp in prepared.sources.items()}
    if not jobmeta.update(job, sources=sources):
        raise Abandoned(str(job.meta["state"]))
    # The parts and the join get the request as it was queued (the watcher's path,
    # signed): each worker maps it to its own view of the NAS (path_map).
    fanout.launch(job, job.connection, settings, Path(str(job.args[0])), todo, start)
    StatusFile(path).write(
        job_id=job.id, state=JobState.RUNNING, stage=Stage.RENDER, progress=start
    )
    announce(job)
    log.info("%s: %d shot(s) handed to part jobs", job.id, len(todo))
    return True


def queued_content(path: Path, settings: Settings, meta: jobmeta.Meta) -> bytes:
    """The request's bytes, if they are still the ones ``meta`` (the request's job)
    was queued for. Raises :class:`Superseded` if they changed (the new content is
    its own job), ``project_gone``/``request_gone`` if they are not there."""
    content, problem = read_request_bytes(path, request_limit(path, settings))
    if content is None and problem is not None and problem.code == "missing_file":
        raise gone(path) or RequestGone(str(path))
    expected = meta.get("request_sha256")
    if isinstance(expected, str) and sha256_hex(content or b"") != expected:
        raise Superseded(str(path))
    return content or b""


def _end_early(job: Job, settings: Settings, exc: AssemblyError) -> None:
    state = JobState.SUPERSEDED if isinstance(exc, Superseded) else JobState.FAILED
    mark_ended(job, settings, state, exc)


def run_assembly(request_file: str) -> dict[str, object]:
    """The RQ job: assemble one request and publish its export."""
    # If the worker dies (SIGKILL, OOM, power), this horse must not render on
    # unsupervised; its ffmpeg children then see their pipes close and exit.
    die_with_parent()
    job = _current_job()
    settings = current()
    path = Path(map_path(request_file, settings))
    status = StatusFile(path)
    started = jobmeta.update(
        job, state=JobState.RUNNING, stage=Stage.PROBE, progress=0.0, started_at=now_iso()
    )
    if not started:
        return {"skipped": job.meta["state"]}  # ended before it began: nothing to do
    try:
        content = queued_content(path, settings, job.meta)
    except Superseded as exc:
        _end_early(job, settings, exc)
        log.info("%s: %s", job.id, exc.reason)
        return {"superseded": str(path)}
    except AssemblyError as exc:
        _end_early(job, settings, exc)
        raise
    announce(job)
    progress = Progress(RedisSink(job, settings.progress_interval), StatusSink(status, job.id))
    progress.within(Stage.PROBE, 0.0)  # "running" in the status file, as every stage is
    try:
        prepared = prepare(path, settings, progress, run_id=job.id, content=content)
        if _split(job, settings, prepared):
            return {"fanout": fanout.children(job.meta)}
        result = execute(prepared, settings, progress)
    except AssemblyError as exc:
        _end_early(job, settings, exc)
        raise
    _count_render(job, settings, result)
    return {"exports": _finished(job, settings, path, result)}


def _finished(job: Job, settings: Settings, path: Path, result: Result) -> list[str]:
    """Record ``job`` finished with every export of ``result``; returns them."""
    exports = [str(out.export.relative_to(path.parent)) for out in result.outputs]
    mark_ended(job, settings, JobState.FINISHED, export=exports[0], exports=exports)
    return exports


def _count_render(job: Job, settings: Settings, result: Result, by_parts: int = 0) -> None:
    """Count the render for /metrics. A join takes from the cache the segments its
    parts (``by_parts``) encoded a moment ago: they count as encoded, not cached."""
    got = result.segments
    moved = min(by_parts, got["cached"])
    counts = {
        "encoded": got["encoded"] + moved,
        "cached": got["cached"] - moved,
        "copied": got["copied"],
    }
    seconds = float(result.timings.get(Stage.RENDER.value, 0.0))
    stats.rendered(job.connection, settings, result.plan.strategy, seconds, counts)


def encode_part(request_file: str, parent_id: str, shot_index: int) -> dict[str, object]:
    """A part job: normalize one shot of ``parent_id``'s request into the cache."""
    die_with_parent()
    job = _current_job()
    settings = current()
    path = Path(map_path(request_file, settings))
    try:
        return _encode_part(job, settings, path, parent_id, shot_index)
    except Abandoned:
        raise
    except Exception as exc:
        # A project moved or a request deleted under the part: say that, not what
        # the missing files made fail.
        missing = gone(path)
        if missing is not None:
            raise missing from exc
        raise


def _encode_part(
    job: Job, settings: Settings, path: Path, parent_id: str, shot_index: int
) -> dict[str, object]:
    conn = job.connection
    # Fetched once: its view comes from its meta, which ended() re-reads each time.
    parent = fetch(conn, parent_id)
    content = queued_content(path, settings, parent.meta)
    validated = _validated_fingerprint(parent.meta, shot_index)
    segment, plan = _part_segment(path, settings, content, shot_index)
    _same_source(segment.source, validated, shot_index, segment.label)
    cache = project_cache(path.parent, settings)
    key = cache.key(segment, plan)
    last = [0.0]

    def report(fraction: float) -> None:
        now = time.monotonic()
        if fraction >= 1.0 or now - last[0] >= settings.progress_interval:
            last[0] = now
            if (state := jobmeta.ended(parent)) and state != JobState.FINISHED:
                raise Abandoned(state)  # the request failed or was canceled: stop
            fanout.report_part(conn, parent_id, shot_index, fraction)
            announce(parent)

    if cache.lookup(key, plan.output.output_format) is None:
        stored = encode_segment(segment, plan, cache, key, settings, report)
        try:
            _same_source(segment.source, validated, shot_index, segment.label)
        except SourceChanged:
            stored.unlink(missing_ok=True)  # encoded from a file that moved under it
            raise
    report(1.0)
    return {"shot_index": shot_index, "key": key}


def _part_segment(
    path: Path, settings: Settings, content: bytes, shot_index: int
) -> tuple[Segment, Plan]:
    """The segment a part encodes, planned as its request's job planned it.

    A shot list's shot is probed alone; an editor's timeline is read again (the
    segment of an event depends on its neighbours: a dissolve's handle)."""
    _, request, problems = (None, None, []) if is_timeline_file(path) else parse_request(content)
    if request is not None and request.timeline is None:
        shot = request.shot_list[shot_index]
        probed, problems = check_shot(path.parent, shot_index, shot, settings)
        if probed is None:
            raise ValidationFailed(str(path), problems)
        encoder = encoder_for(request.main_output, settings)
        segment = segment_for(probed, request.main_output, encoder, want_copy=False)
        return segment, Plan(request.main_output, encoder, [segment], settings.audio_sample_rate)
    if problems:
        raise ValidationFailed(str(path), problems)
    whole = make_plan(validate(path, settings, content=content), settings)
    found = next((s for s in whole.segments if s.shot_index == shot_index), None)
    if found is None:
        raise RenderError(f"the timeline has no event at position {shot_index + 1}")
    return found, replace(whole, segments=[found])


def _validated_fingerprint(meta: jobmeta.Meta, shot_index: int) -> Fingerprint | None:
    sources = meta.get("sources")
    if not isinstance(sources, dict):
        return None
    return Fingerprint.from_list(sources.get(str(shot_index)))


def _same_source(source: Path, validated: Fingerprint | None, shot_index: int, label: str) -> None:
    if validated is not None and fingerprint(source) != validated:
        raise SourceChanged(
            "the file changed while the job used it (its size or modification time is not "
            "what validation saw); nothing was published",
            shot_index=shot_index,
            path=label,
        )


def _parent_sources(meta: jobmeta.Meta) -> Sources:
    sources = meta.get("sources")
    if not isinstance(sources, dict):
        return {}
    found: Sources = {}
    for key, value in sources.items():
        fp = Fingerprint.from_list(value)
        if fp is not None and isinstance(key, str) and key.isdigit():
            found[int(key)] = fp
    return found


def join_assembly(request_file: str, parent_id: str) -> dict[str, object]:
    """The join job: every part is in the cache; assemble and publish as the parent."""
    die_with_parent()
    job = _current_job()
    settings = current()
    parent = fetch(job.connection, parent_id)
    path = Path(map_path(request_file, settings))
    # From here on the join's own progress counts, not the parts'.
    if not jobmeta.update(parent, stage=Stage.RENDER, progress=fanout.JOIN_FROM, joined_by=job.id):
        return {"skipped": parent.meta["state"]}
    progress = Progress(
        Rescaled(RedisSink(parent, settings.progress_interval), fanout.JOIN_FROM, 100.0),
        StatusSink(StatusFile(path), parent_id),
    )
    try:
        content = queued_content(path, settings, parent.meta)
        prepared = prepare(path, settings, progress, run_id=parent_id, content=content)
        expected = _parent_sources(parent.meta)
        labels = {seg.shot_index: seg.label for seg in prepared.plan.segments}
        for index in sorted(expected):
            _same_source(
                prepared.files.get(index, Path("/nonexistent")),
                expected[index],
                index,
                labels.get(index, f"shot {index + 1}"),
            )
        result = execute(prepared, settings, progress)
    except AssemblyError as exc:
        _end_early(parent, settings, exc)
        raise
    _count_render(job, settings, result, by_parts=len(fanout.children(parent.meta)) - 1)
    return {"exports": _finished(parent, settings, path, result)}


def on_failure(
    job: Job,
    connection: Redis,
    exc_type: type[BaseException] | None,
    exc_value: BaseException | None,
    traceback: TracebackType | None,
) -> None:
    """RQ's failure hook: runs in the horse after an exception, or in whoever
    cleans the started-job registry after a worker died."""
    settings = current()
    error: AssemblyError
    if exc_type is not None and issubclass(exc_type, JobTimeoutException):
        error = TimedOut(job.timeout)
    elif exc_type is not None and issubclass(exc_type, AbandonedJobError):
        error = WorkerDied()  # its heartbeats stopped: see .reaper
    elif exc_value is not None:
        error = as_assembly_error(exc_value)
    else:
        error = InternalError(RuntimeError("the job failed without saying why"))
    parent_id = job.meta.get("parent")
    if parent_id:
        shot = job.meta.get("shot_index")
        if isinstance(error, WorkerDied) and isinstance(shot, int) and job.retries_left:
            # A part whose worker died runs once more, on whichever worker takes it
            # (RQ queues it again right after this hook); only a second death fails it.
            log.warning("%s: its worker died; shot %d runs again", job.id, shot + 1)
            return
        job.retries_left = 0  # a part that failed by itself would fail again
        # A part or the join: the request fails, naming the shot; the rest stops.
        parent = fetch(connection, str(parent_id))
        if isinstance(shot, int) and error.shot_index is None:
            error.shot_index = shot
        fanout.cancel_children(connection, parent.meta, spare=job.id)
        _end_early(parent, settings, error)
        fanout.release(connection, parent)  # its join will never end: settle it
        return
    _end_early(job, settings, error)


def on_stopped(job: Job, connection: Redis) -> None:
    """RQ's stop hook: the worker killed the horse's process group on request."""
    settings = current()
    if job.meta.get("parent"):
        # Canceling the request stopped this child and already marked the request.
        # The kill may have landed after that mark's cleanup: clean up again. A part
        # killed mid-encode leaves its segment's temporary file in the cache.
        path = request_path(job, settings)
        remove_partials(path.parent, str(job.meta["parent"]))
        housekeeping.sweep_cache(cache_dir_for(path.parent, settings), settings)
        return
    mark_ended(job, settings, JobState.CANCELED, Canceled("canceled while running"))
