"""The pipeline: validate/probe → plan, then render → verify → publish.

:func:`prepare` checks the request and plans it; :func:`execute` carries a plan out
and publishes the export. The CLI runs both in-process (:func:`assemble`); the
queue runs them inside a job, and may hand a prepared plan to several workers
instead of executing it itself. Either way ``project.json`` tells what happened.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..errors import Notice, RenderError, ValidationFailed, VerifyError, describe
from ..render.model import Plan, SegmentStats
from ..render.strategy import render
from ..request.parse import parse_request, read_request_bytes
from ..settings import Settings
from ..states import Stage
from .journal import Journal
from .plan import make_plan
from .progress import Progress
from .publish import partial_path, publish
from .sources import Sources, check_unchanged, gone, shot_files, validate_settled
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
    """A checked request and its plan, ready to execute (here or elsewhere)."""

    run_id: str
    validated: ValidatedRequest
    plan: Plan
    journal: Journal
    watch: Stopwatch
    #: Each shot's file, and its fingerprint when validated: checked again before publishing.
    files: dict[int, Path] = field(default_factory=dict)
    sources: Sources = field(default_factory=dict)


@dataclass(frozen=True)
class Result:
    run_id: str
    export: Path
    report: OutputReport
    plan: Plan
    segments: SegmentStats
    timings: dict[str, float]


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
        content, problem = read_request_bytes(request_path, settings.max_request_bytes)
        if content is None:  # nothing to record a run of
            assert problem is not None
            raise ValidationFailed(str(request_path), [problem])
    data = content
    with journal.failures(watch.seconds):
        journal.started()
        with watch.stage(Stage.PROBE):
            _, model, _ = parse_request(data)
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
        with watch.stage(Stage.PLAN):
            plan = make_plan(validated, settings)
            progress.within(Stage.PLAN, 1.0)
        journal.planned(validated, plan)
    return Prepared(journal.run_id, validated, plan, journal, watch, files, sources)


def execute(prepared: Prepared, settings: Settings, progress: Progress | None = None) -> Result:
    """Render, verify and publish a prepared request; returns the published export.

    On failure nothing is published: the partial render is removed, the failure is
    recorded in ``project.json`` and raised.
    """
    progress = progress or Progress()
    validated, plan, watch = prepared.validated, prepared.plan, prepared.watch
    request = validated.request
    name = request.export_name(validated.request_path)
    ext = request.main_output.output_format
    partial: Path | None = None
    with prepared.journal.failures(watch.seconds):
        try:
            partial = partial_path(validated.project_dir, name, ext, prepared.run_id)
            try:
                stats, report = _render_and_verify(prepared, plan, partial, settings, progress)
            except (RenderError, VerifyError) as exc:
                if plan.strategy != "copy" or request.engine != "auto":
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
                partial.unlink(missing_ok=True)
                plan = replace(plan, strategy="normalize")
                stats, report = _render_and_verify(prepared, plan, partial, settings, progress)
                prepared.journal.replanned(plan)
            with watch.stage(Stage.PUBLISH):
                # A stage change always reaches every sink: the queue's last chance to
                # say this job was ended elsewhere before its export becomes public.
                progress.within(Stage.PUBLISH, 0.0)
                check_unchanged(prepared.files, prepared.sources, request)
                if (missing := gone(validated.request_path)) is not None:
                    raise missing  # never publish into a project that moved or lost its request
                final = publish(partial, name, ext)
                partial = None
        finally:
            if partial is not None:
                partial.unlink(missing_ok=True)
        try:
            prepared.journal.finished(final, report, stats, watch.seconds)
        except OSError as exc:
            # Published: the project was moved just after. The export went with it.
            log.warning("%s: published, but project.json could not be updated: %s", final, exc)
    progress.finish()
    return Result(prepared.run_id, final, report, plan, stats, watch.seconds)


def _render_and_verify(
    prepared: Prepared, plan: Plan, partial: Path, settings: Settings, progress: Progress
) -> tuple[SegmentStats, OutputReport]:
    watch = prepared.watch
    with watch.stage(Stage.RENDER):
        stats = render(plan, partial, lambda f: progress.within(Stage.RENDER, f), settings)
    # Rendered from what was validated, or not published at all.
    check_unchanged(prepared.files, prepared.sources, prepared.validated.request)
    with watch.stage(Stage.VERIFY):
        progress.within(Stage.VERIFY, 0.0)
        report = verify(partial, plan, settings)
        progress.within(Stage.VERIFY, 1.0)
    return stats, report


def assemble(
    request_path: Path,
    settings: Settings,
    progress: Progress | None = None,
    run_id: str | None = None,
) -> Result:
    """Everything for ``request_path``, in this process."""
    progress = progress or Progress()
    return execute(prepare(request_path, settings, progress, run_id), settings, progress)
