"""The pipeline: validate/probe → plan, then render → verify → publish.

:func:`prepare` checks the request and plans it; :func:`execute` carries a plan out
and publishes the export. The CLI runs both in-process (:func:`assemble`); the
queue runs them inside a job, and may hand a prepared plan to several workers
instead of executing it itself. Either way ``project.json`` tells what happened.

A request may ask for several outputs (a master and a review copy): they are
planned from the same probe, rendered together where they can share a decode, each
verified, and published all or none.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..conform.detect import is_timeline_file, request_limit
from ..errors import Notice, RenderError, ValidationFailed, VerifyError, describe
from ..lifecycle import release_freed_memory
from ..render.model import Plan, SegmentStats
from ..render.strategy import render_all
from ..request.parse import parse_request, read_request_bytes
from ..settings import Settings
from ..states import Stage
from .delivered import Delivered
from .edit import conform_notices, event_files, rendered_events
from .journal import Journal
from .pictures import make_pictures
from .plan import make_plans
from .progress import Progress
from .publish import partial_path, publish
from .sources import (
    Sources,
    check_unchanged,
    fingerprints,
    gone,
    shot_files,
    validate_settled,
)
from .validate import ValidatedRequest, validate
from .verify import OutputReport, verify

log = logging.getLogger(__name__)


@dataclass
class Stopwatch:
    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: Stage) -> Iterator[None]:
        began = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name.value] = round(time.perf_counter() - began, 3)


@dataclass(frozen=True)
class Prepared:
    """A checked request and its plans (one per output), ready to execute (here or
    elsewhere)."""

    run_id: str
    validated: ValidatedRequest
    plans: list[Plan]
    journal: Journal
    watch: Stopwatch
    #: Each shot's file, and its fingerprint when validated: checked again before publishing.
    files: dict[int, Path] = field(default_factory=dict)
    sources: Sources = field(default_factory=dict)

    @property
    def plan(self) -> Plan:
        """The first output's plan (the only one, for most requests)."""
        return self.plans[0]


@dataclass(frozen=True)
class Result:
    run_id: str
    outputs: list[Delivered]
    timings: dict[str, float]

    @property
    def export(self) -> Path:
        return self.outputs[0].export

    @property
    def report(self) -> OutputReport:
        return self.outputs[0].report

    @property
    def plan(self) -> Plan:
        return self.outputs[0].plan

    @property
    def segments(self) -> SegmentStats:
        return self.outputs[0].segments


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


def prepare(
    request_path: Path,
    settings: Settings,
    progress: Progress | None = None,
    run_id: str | None = None,
    content: bytes | None = None,
) -> Prepared:
    """Validate ``request_path`` (every shot probed, once they hold still) and plan it.

    ``content`` is the request's bytes if the caller has read them (a job checks them
    against what it was queued for); else the file is read, once. Raises
    :class:`~..errors.ValidationFailed` listing every problem, after recording it in
    ``project.json``.
    """
    request_path = Path(request_path).absolute()
    progress = progress or Progress()
    journal = Journal(request_path, run_id or new_run_id())
    watch = Stopwatch()
    if content is None:
        content, problem = read_request_bytes(request_path, request_limit(request_path, settings))
        if content is None:  # nothing to record a run of
            assert problem is not None
            raise ValidationFailed(str(request_path), [problem])
    data = content
    with journal.failures(watch.seconds):
        journal.started()
        with watch.stage(Stage.PROBE):
            timeline = is_timeline_file(request_path)
            model = None if timeline else parse_request(data)[1]
            files = shot_files(request_path.parent, model)
            validated, sources = validate_settled(
                lambda: validate(
                    request_path,
                    settings,
                    on_shot=lambda i, n: progress.within(Stage.PROBE, i / n),
                    content=data,
                ),
                files,
                model,
                settings,
            )
            if validated.conform is not None:
                # The media were found by reading the timeline: from here on they
                # must hold still as shots do.
                files = event_files(validated.conform)
                sources = fingerprints(files)
                for notice in conform_notices(validated.conform):
                    journal.warned(notice)
                    progress.warn(notice)
            release_freed_memory()  # the probes' decoders: not to be held through the render
        with watch.stage(Stage.PLAN):
            plans = make_plans(validated, settings)
            progress.within(Stage.PLAN, 1.0)
        journal.planned(validated, plans)
    return Prepared(journal.run_id, validated, plans, journal, watch, files, sources)


def execute(prepared: Prepared, settings: Settings, progress: Progress | None = None) -> Result:
    """Render, verify and publish every output of a prepared request.

    All or nothing: each output is verified, then all are published; if one fails
    (or its publishing does), none stays published, the partial renders are removed,
    and the failure is recorded in ``project.json`` and raised.
    """
    progress = progress or Progress()
    validated, plans, watch = prepared.validated, prepared.plans, prepared.watch
    request = validated.request
    names = [request.export_name(validated.request_path, plan.output) for plan in plans]
    partials: list[Path] = []
    published: list[Path] = []
    with prepared.journal.failures(watch.seconds):
        try:
            for name, plan in zip(names, plans, strict=True):
                ext = plan.output.output_format
                partials.append(partial_path(validated.project_dir, name, ext, prepared.run_id))
            try:
                stats, reports = _render_and_verify(prepared, plans, partials, settings, progress)
            except (RenderError, VerifyError) as exc:
                if request.engine != "auto" or all(p.strategy != "copy" for p in plans):
                    raise
                # `auto` never fails where normalize would succeed: a copy join that
                # does not hold up is rendered again, encoded, and the record says why.
                notice = Notice(
                    code="copy_fell_back",
                    message=f"the copy join failed its checks ({describe(exc)}); "
                    "rendered again with normalize",
                )
                prepared.journal.warned(notice)
                progress.warn(notice)
                for partial in partials:
                    partial.unlink(missing_ok=True)
                plans = [replace(p, strategy="normalize") for p in plans]
                stats, reports = _render_and_verify(prepared, plans, partials, settings, progress)
                prepared.journal.replanned(plans[0])
            with watch.stage(Stage.PUBLISH):
                # A stage change always reaches every sink: the queue's last chance to
                # say this job was ended elsewhere before its export becomes public.
                progress.within(Stage.PUBLISH, 0.0)
                check_unchanged(prepared.files, prepared.sources, request)
                if (missing := gone(validated.request_path)) is not None:
                    raise missing  # never publish into a project that moved or lost its request
                for partial, name, plan in zip(partials, names, plans, strict=True):
                    published.append(publish(partial, name, plan.output.output_format))
                partials.clear()
        except BaseException:
            for path in published:  # one output failed to go out: none stays out
                path.unlink(missing_ok=True)
            raise
        finally:
            for partial in partials:
                partial.unlink(missing_ok=True)
        outputs = [
            Delivered(export, report, plan, made)
            for export, report, plan, made in zip(published, reports, plans, stats, strict=True)
        ]
        # Recorded as soon as it is out: a worker that dies from here on (making the
        # pictures) has done its work all the same, and the reaper reads it here.
        _record_finished(prepared, outputs)
        outputs = [_extras(prepared, out, progress) for out in outputs]
        _record_finished(prepared, outputs)  # with the pictures and the timeline
    progress.finish()
    return Result(prepared.run_id, outputs, watch.seconds)


def _record_finished(prepared: Prepared, outputs: list[Delivered]) -> None:
    try:
        prepared.journal.finished(outputs, prepared.watch.seconds)
    except OSError as exc:
        # Published: the project was moved just after. The exports went with it.
        log.warning("%s: published, but project.json could not be updated: %s", outputs, exc)


def _extras(prepared: Prepared, out: Delivered, progress: Progress) -> Delivered:
    """The pictures of a published export, and the timeline it rendered. The export is
    out already: a failure here is a warning, never the run's end."""
    pictures = timeline = None
    began = time.perf_counter()
    try:
        pictures = make_pictures(out.export, out.plan)
    except (RenderError, OSError) as exc:
        notice = Notice(code="pictures_failed", message=f"{out.export.name}: {describe(exc)}")
        prepared.journal.warned(notice)
        progress.warn(notice)
    finally:
        release_freed_memory()  # a long-lived worker's next job starts from what it uses
    seconds = prepared.watch.seconds
    seconds["pictures"] = round(seconds.get("pictures", 0.0) + time.perf_counter() - began, 3)
    conform = prepared.validated.conform
    if conform is not None:
        from ..conform.export import write_otio  # only a conform needs OpenTimelineIO

        timeline = out.export.with_suffix(".otio")
        try:
            write_otio(conform, rendered_events(conform, out.plan, out.segments), timeline)
        except (OSError, ValueError) as exc:
            timeline = None
            notice = Notice(code="timeline_failed", message=f"{out.export.name}: {exc}")
            prepared.journal.warned(notice)
            progress.warn(notice)
    return replace(out, pictures=pictures, timeline=timeline)


def _render_and_verify(
    prepared: Prepared,
    plans: list[Plan],
    partials: list[Path],
    settings: Settings,
    progress: Progress,
) -> tuple[list[SegmentStats], list[OutputReport]]:
    watch = prepared.watch
    with watch.stage(Stage.RENDER):
        stats = render_all(plans, partials, lambda f: progress.within(Stage.RENDER, f), settings)
    # Rendered from what was validated, or not published at all.
    check_unchanged(prepared.files, prepared.sources, prepared.validated.request)
    with watch.stage(Stage.VERIFY):
        reports = []
        for i, (plan, partial) in enumerate(zip(plans, partials, strict=True)):
            progress.within(Stage.VERIFY, i / len(plans))
            reports.append(verify(partial, plan, settings))
        progress.within(Stage.VERIFY, 1.0)
    return stats, reports


def assemble(
    request_path: Path,
    settings: Settings,
    progress: Progress | None = None,
    run_id: str | None = None,
) -> Result:
    """Everything for ``request_path``, in this process."""
    progress = progress or Progress()
    return execute(prepare(request_path, settings, progress, run_id), settings, progress)
