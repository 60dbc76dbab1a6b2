"""A run's entry in ``project.json``, written at the moments that matter.

The pipeline says what happened (started, planned, finished, ended badly); this
module decides what that looks like in the project's record, in one place.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import Abandoned, Canceled, Notice, ProjectGone, error_record
from ..records.project import ProjectFile, Shot
from ..render.model import Plan
from ..stamps import now_iso, sha256_hex
from ..states import JobState
from .delivered import Delivered
from .sources import gone
from .validate import ValidatedRequest

log = logging.getLogger(__name__)


class Journal:
    def __init__(self, request_path: Path, run_id: str) -> None:
        self.request_path = request_path
        self.run_id = run_id
        self.record = ProjectFile(request_path.parent)
        #: The run got as far as its first record: its project and request were there.
        self.began = False

    def started(self) -> None:
        self.began = True
        self.record.update(
            self.run_id,
            request_file=self.request_path.name,
            status=JobState.RUNNING,
            started_at=now_iso(),
            finished_at=None,
            error=None,
            warnings=[],
        )

    def planned(self, validated: ValidatedRequest, plans: list[Plan]) -> None:
        main = plans[0]
        self.record.update(
            self.run_id,
            request=validated.raw,
            request_sha256=sha256_hex(validated.content),
            settings=main.output.model_dump(),
            shots=_shots(main),
            strategy=main.strategy,
            planned_duration=round(main.duration, 6),
        )
        if validated.conform is not None:
            self.record.update(self.run_id, timeline=validated.conform.source.name)

    def finished(self, outputs: list[Delivered], timings: dict[str, float]) -> None:
        """Every output, published: the first is also the run's ``output`` (as a run
        with one output has always been recorded), each listed in ``outputs``."""
        project = self.request_path.parent
        main = outputs[0]
        self.record.update(
            self.run_id,
            status=JobState.FINISHED,
            output=_relative(main.export, project),
            report=main.report.to_dict(),
            segments={
                "encoded": main.segments["encoded"],
                "cached": main.segments["cached"],
                "copied": main.segments["copied"],
            },
            shots=_shots(main.plan, main, project),
            outputs=[_output(out, project) for out in outputs],
            finished_at=now_iso(),
            timings=timings,
            render_timings=main.segments.get("timings", {}),
        )

    def warned(self, notice: Notice) -> None:
        self.record.warn(self.run_id, notice)

    def replanned(self, plan: Plan) -> None:
        self.record.update(self.run_id, strategy=plan.strategy)

    @contextmanager
    def failures(self, timings: dict[str, float]) -> Iterator[None]:
        """Record whatever escapes the block as the run's end (then let it go on).

        An :class:`Abandoned` run records nothing: whoever ended its job has. A
        failure while the project folder or the request went away is that
        (``project_gone``, ``request_gone``), whatever error the missing files
        caused; a project that is gone gets no record (it is not re-created)."""
        try:
            yield
        except Abandoned:
            raise
        except BaseException as exc:
            canceled = isinstance(exc, Canceled | KeyboardInterrupt)
            error: BaseException = exc
            if self.began and not canceled and isinstance(exc, Exception):
                error = gone(self.request_path) or exc
            if not isinstance(error, ProjectGone):
                try:
                    self.record.update(
                        self.run_id,
                        status=JobState.CANCELED if canceled else JobState.FAILED,
                        error=error_record(error),
                        finished_at=now_iso(),
                        timings=timings,
                    )
                except OSError as record_failed:
                    log.warning("cannot record the end of %s: %s", self.run_id, record_failed)
            if error is not exc:
                raise error from exc
            raise


def _relative(path: Path, project: Path) -> str:
    return str(path.relative_to(project))


def _output(out: Delivered, project: Path) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": out.plan.output.name,
        "file": _relative(out.export, project),
        "strategy": out.plan.strategy,
        "settings": out.plan.output.model_dump(),
        "report": out.report.to_dict(),
        "segments": {k: out.segments[k] for k in ("encoded", "cached", "copied")},
    }
    if out.pictures is not None:
        entry["poster"] = _relative(out.pictures.poster, project)
        entry["sheet"] = _relative(out.pictures.sheet, project)
    if out.timeline is not None:
        entry["timeline"] = _relative(out.timeline, project)
    return entry


def _shots(plan: Plan, out: Delivered | None = None, project: Path | None = None) -> list[Shot]:
    """The cut as planned, piece by piece (the slate and gaps included); once
    rendered, with how each piece was made and its thumbnail."""
    rate = plan.output.frame_rate
    made = out.segments.get("made", []) if out else []
    thumbs = out.pictures.shots if out and out.pictures else []
    shots: list[Shot] = []
    for position, seg in enumerate(plan.segments):
        kind = "slate" if seg.slate else "gap" if seg.is_gap else "clip"
        shot = Shot(
            kind=kind,
            path=seg.label,
            frames=seg.frames,
            record_in=seg.first_frame,
            duration=round(float(seg.frames / rate), 6),
        )
        if kind == "clip":
            shot.update({"in": seg.start, "out": seg.end, "source": seg.info.to_dict()})
        if seg.speed != 1:
            shot["speed"] = float(seg.speed)
        if seg.blend_frames:
            shot["dissolve_frames"] = seg.blend_frames
        if position < len(made):
            shot["made"] = made[position]
        if position < len(thumbs) and project is not None:
            shot["thumbnail"] = _relative(thumbs[position], project)
        shots.append(shot)
    return shots
