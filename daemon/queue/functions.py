"""The only functions a worker runs: a job names one of these, or it is refused.

RQ imports whatever dotted name a job holds in Redis. Here a job's function and
callbacks are looked up in a fixed table instead, so a job naming anything else
(``os.system``, say) fails without importing or running it. The table also maps
the names that jobs queued by earlier versions hold (:data:`.names.LEGACY`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rq.job import Job

from ..errors import AssemblyError
from . import jobs, names

FUNCTIONS: dict[str, Callable[..., Any]] = {
    names.RUN_ASSEMBLY: jobs.run_assembly,
    names.ENCODE_PART: jobs.encode_part,
    names.JOIN_ASSEMBLY: jobs.join_assembly,
    names.ON_FAILURE: jobs.on_failure,
    names.ON_STOPPED: jobs.on_stopped,
}


class UnknownFunction(AssemblyError):
    code = "forged_job"


def resolve(name: str | None) -> Callable[..., Any]:
    """The function ``name`` stands for; :class:`UnknownFunction` if it is not ours."""
    target = names.LEGACY.get(name or "", name)
    found = FUNCTIONS.get(target or "")
    if found is None:
        raise UnknownFunction(f"this job names {name!r}, which is not an assemblyd job function")
    return found


class AssemblyJob(Job):
    """RQ's job, resolving its function and callbacks through :data:`FUNCTIONS`."""

    @property
    def func(self) -> Callable[..., Any]:
        return resolve(self.func_name)

    @property
    def failure_callback(self) -> Callable[..., Any] | None:
        return resolve(self._failure_callback_name) if self._failure_callback_name else None

    @property
    def stopped_callback(self) -> Callable[..., Any] | None:
        return resolve(self._stopped_callback_name) if self._stopped_callback_name else None

    @property
    def success_callback(self) -> Callable[..., Any] | None:
        return resolve(self._success_callback_name) if self._success_callback_name else None
