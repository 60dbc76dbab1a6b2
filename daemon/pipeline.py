"""The pipeline: validate/probe → plan → render → verify → publish.

One function runs the stages in order and keeps ``project.json`` truthful about
what happened. The CLI calls it in-process; the queue worker calls it inside a job.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .errors import Abandoned, AssemblyError, Canceled, describe
from .plan import Plan, make_plan
from .progress import Progress
from .project import ProjectFile
from .publish import partial_path, publish
from .render import render
from .settings import Settings
from .validate import ValidatedRequest, validate
from .verify import OutputReport, verify


@dataclass(frozen=True)
class Result:
    run_id: str
    export: Path
    report: OutputReport
    plan: Plan
    timings: dict[str, float]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


def content_hash(request_path: Path) -> str:
    return hashlib.sha256(request_path.read_bytes()).hexdigest()


def error_record(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, AssemblyError):
        return exc.to_dict()
    if isinstance(exc, KeyboardInterrupt):
        return Canceled("interrupted").to_dict()
    return {"code": "internal_error", "message": describe(exc)}


class _Stopwatch:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        began = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(time.perf_counter() - began, 3)


def _shots_record(validated: ValidatedRequest, plan: Plan) -> list[dict[str, Any]]:
    return [
        {
            "path": shot.entry.path,
            "in": shot.start,
            "out": shot.end,
            "duration": round(shot.duration, 6),
            "frames": seg.frames,
            "source": shot.info.to_dict(),
        }
        for shot, seg in zip(validated.shots, plan.segments, strict=True)
    ]


def assemble(
    request_path: Path,
    settings: Settings,
    progress: Progress | None = None,
    run_id: str | None = None,
    check_cancel: Callable[[], None] | None = None,
    hand_off: Callable[[Plan], bool] | None = None,
) -> Result | None:
    """Run every stage for ``request_path`` and publish the export.

    ``hand_off`` may take the plan elsewhere (the queue fans it out to several
    workers): if it returns True, this returns None after the plan stage.
    Raises an :class:`~daemon.errors.AssemblyError` (or ``KeyboardInterrupt``) on
    failure, after recording it in ``project.json`` and removing partial output.
    """
    request_path = Path(request_path).absolute()
    project_dir = request_path.parent
    progress = progress or Progress()
    run_id = run_id or new_run_id()
    record = ProjectFile(project_dir)
    watch = _Stopwatch()
    record.update(
        run_id,
        request_file=request_path.name,
        status="running",
        started_at=now_iso(),
        finished_at=None,
        error=None,
    )
    partial: Path | None = None
    try:
        with watch.stage("probe"):
            validated = validate(
                request_path, settings, on_shot=lambda i, n: progress.within("probe", i / n)
            )
        request = validated.request
        record.update(
            run_id,
            request=validated.raw,
            request_sha256=content_hash(request_path),
            settings=request.output.model_dump(),
        )
        with watch.stage("plan"):
            plan = make_plan(validated, settings)
            progress.within("plan", 1.0)
        record.update(
            run_id,
            shots=_shots_record(validated, plan),
            strategy=plan.strategy,
            planned_duration=round(plan.duration, 6),
        )
        if hand_off is not None and hand_off(plan):
            return None
        name = request.export_name(request_path)
        ext = request.output.output_format
        partial = partial_path(project_dir, name, ext, run_id)
        with watch.stage("render"):
            segments = render(plan, partial, progress, settings, check_cancel)
        with watch.stage("verify"):
            progress.within("verify", 0.0)
            report = verify(partial, plan, settings)
            progress.within("verify", 1.0)
        with watch.stage("publish"):
            # A stage change always reaches every sink: the queue's last chance to
            # say this job was ended elsewhere before its export becomes public.
            progress.within("publish", 0.0)
            final = publish(partial, name, ext)
            partial = None
        record.update(
            run_id,
            status="finished",
            output=str(final.relative_to(project_dir)),
            report=report.to_dict(),
            segments=segments,
            finished_at=now_iso(),
            timings=watch.seconds,
        )
        progress.finish()
        return Result(run_id, final, report, plan, watch.seconds)
    except BaseException as exc:
        if partial is not None:
            partial.unlink(missing_ok=True)
        if isinstance(exc, Abandoned):
            raise  # whoever ended the job has recorded it
        canceled = isinstance(exc, Canceled | KeyboardInterrupt)
        record.update(
            run_id,
            status="canceled" if canceled else "failed",
            error=error_record(exc),
            finished_at=now_iso(),
            timings=watch.seconds,
        )
        raise


def check(request_path: Path, settings: Settings) -> ValidatedRequest:
    """Validate only (``assemblyd validate``); nothing is written anywhere."""
    return validate(Path(request_path), settings)
