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
from ..records.project import ProjectFile
from ..render.model import Plan, SegmentStats
from ..stamps import now_iso, sha256_hex
from ..states import JobState
from .sources import gone
from .validate import ValidatedRequest
from .verify import OutputReport

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

    def planned(self, validated: ValidatedRequest, plan: Plan) -> None:
        self.record.update(
            self.run_id,
            request=validated.raw,
            request_sha256=sha256_hex(validated.content),
            settings=validated.request.main_output.model_dump(),
            shots=_shots(validated, plan),
            strategy=plan.strategy,
            planned_duration=round(plan.duration, 6),
        )

    def finished(
        self, export: Path, report: OutputReport, stats: SegmentStats, timings: dict[str, float]
    ) -> None:
        self.record.update(
            self.run_id,
            status=JobState.FINISHED,
            output=str(export.relative_to(self.request_path.parent)),
            report=report.to_dict(),
            segments={
                "encoded": stats["encoded"],
                "cached": stats["cached"],
                "copied": stats["copied"],
            },
            finished_at=now_iso(),
            timings=timings,
            render_timings=stats.get("timings", {}),
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


def _shots(validated: ValidatedRequest, plan: Plan) -> list[dict[str, Any]]:
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
