"""The progress sinks a job reports through: thin adapters from the pipeline's one
progress interface (:mod:`..pipeline.progress`) to the job's meta and live feed in
Redis, and to the status file beside the request."""

from __future__ import annotations

import logging
import time

from rq.job import Job

from ..errors import Abandoned, Notice
from ..pipeline.progress import Sink, Update
from ..records.status import StatusFile
from ..states import JobState, Stage
from . import meta as jobmeta
from .connection import UNREACHABLE
from .events import announce

log = logging.getLogger(__name__)


class RedisSink:
    """Progress into the job's meta and onto the live feed, throttled.

    Stage changes always go through; within a stage at most one update per
    ``interval`` seconds, so a 60 fps render does not flood Redis or browsers.
    Each write is refused once the job has ended (canceled, or failed by the reaper
    while this horse was merely slow): that raises :class:`Abandoned`, which stops
    the run. Put this sink first, so that nothing else hears from a stopped run.
    """

    def __init__(self, job: Job, interval: float) -> None:
        self.job, self.interval = job, interval
        self._last = 0.0
        self._stage: Stage | None = None
        self._away = False

    def __call__(self, update: Update) -> None:
        if update.notice is not None:
            notice = update.notice
            if not jobmeta.change(
                self.job, lambda meta: {"warnings": [*meta.get("warnings", []), notice]}
            ):
                raise Abandoned(str(self.job.meta["state"]))
            announce(self.job)
            return
        now = time.monotonic()
        if update.stage == self._stage and now - self._last < self.interval:
            return
        self._last, self._stage = now, update.stage
        try:
            if not jobmeta.update(self.job, stage=update.stage, progress=round(update.percent, 1)):
                raise Abandoned(str(self.job.meta["state"]))
            announce(self.job)
        except UNREACHABLE as exc:
            # Redis is away: render on. Progress resumes, and the end is recorded,
            # when it is back (see outcomes.mark_ended).
            if not self._away:
                log.warning("%s: Redis is unreachable (%s); rendering on", self.job.id, exc)
            self._away = True
            return
        self._away = False


class StatusSink:
    """Progress into the status file, at stage changes only: it may live on a NAS."""

    def __init__(self, status: StatusFile, job_id: str) -> None:
        self.status, self.job_id = status, job_id
        self._stage: Stage | None = None
        self._warnings: list[Notice] = []

    def __call__(self, update: Update) -> None:
        if update.notice is not None:
            self._warnings.append(update.notice)
            self.status.write(job_id=self.job_id, warnings=list(self._warnings))
            return
        if update.stage == self._stage or update.stage == Stage.DONE:
            return
        self._stage = update.stage
        try:
            self.status.write(
                job_id=self.job_id,
                state=JobState.RUNNING,
                stage=update.stage,
                progress=round(update.percent, 1),
                error=None,  # a rerun's: the last run's "interrupted" is over
            )
        except OSError as exc:
            # Progress for people, not a reason to stop: a full disk or a NAS hiccup
            # here decides nothing. The job's end is written by outcomes.mark_ended.
            log.warning("%s: cannot write %s: %s", self.job_id, self.status.path, exc)


class Rescaled:
    """A sink seen through a window of the bar: the join's 0-100 % becomes 90-100 %
    of its request's, and its re-validation is shown as rendering, not probing."""

    def __init__(self, sink: Sink, low: float, high: float) -> None:
        self.sink, self.low, self.high = sink, low, high

    def __call__(self, update: Update) -> None:
        stage = Stage.RENDER if update.stage in (Stage.PROBE, Stage.PLAN) else update.stage
        percent = self.low + (self.high - self.low) * update.percent / 100
        self.sink(Update(stage, percent, update.notice))
