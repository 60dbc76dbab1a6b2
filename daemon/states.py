"""The states a job goes through, and the stages of its work: one definition each.

The CLI, the status file, Redis, the API and the dashboard (which fetches them from
``GET /api/v1/assembly/states``) all use these values.
"""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELED = "canceled"
    #: The request file changed after the job was queued; the new content is its own job.
    SUPERSEDED = "superseded"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


#: A job in one of these has ended; its record is never changed again.
TERMINAL: frozenset[str] = frozenset(
    {JobState.FINISHED, JobState.FAILED, JobState.CANCELED, JobState.SUPERSEDED}
)


class Stage(StrEnum):
    """Where a job is. ``queued`` before a worker takes it, ``done`` once published."""

    QUEUED = "queued"
    PROBE = "probe"
    PLAN = "plan"
    RENDER = "render"
    VERIFY = "verify"
    PUBLISH = "publish"
    DONE = "done"


def is_terminal(state: object) -> bool:
    return isinstance(state, str) and state in TERMINAL
