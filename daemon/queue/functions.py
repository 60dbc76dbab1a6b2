"""The only functions a worker runs: a job names one of these, signed, or it is refused.

RQ imports whatever dotted name a job holds in Redis (``os.system`` included), and
imports its callbacks by name too. Here a job's function and callbacks are looked up
in a fixed table instead, and the job must carry the signature its enqueuer made
with ``job_secret`` (:mod:`.signing`). :func:`refusal` says why a job may not run;
the worker asks it before anything of the job is imported or run (see
:mod:`.worker`), and :class:`AssemblyJob` asks it again whenever RQ reaches for a
function or a callback (the registry cleanups run failure callbacks in any
process). The table also maps the names jobs queued by 0.1 hold
(:data:`.names.LEGACY`); such jobs carry no signature, so they are refused too.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ClassVar

from rq.job import Job

from ..errors import ForgedJob
from . import jobs, names, signing

FUNCTIONS: dict[str, Callable[..., Any]] = {
    names.RUN_ASSEMBLY: jobs.run_assembly,
    names.ENCODE_PART: jobs.encode_part,
    names.JOIN_ASSEMBLY: jobs.join_assembly,
    names.ON_FAILURE: jobs.on_failure,
    names.ON_STOPPED: jobs.on_stopped,
}


class UnknownFunction(ForgedJob):
    """A job naming a function (or callback) that is not one of ours."""


def resolve(name: str | None) -> Callable[..., Any]:
    """The function ``name`` stands for; :class:`UnknownFunction` if it is not ours."""
    target = names.LEGACY.get(name or "", name)
    found = FUNCTIONS.get(target or "")
    if found is None:
        raise UnknownFunction(f"this job names {name!r}, which is not an assemblyd job function")
    return found


def refusal(job: Job, secret: bytes) -> ForgedJob | None:
    """Why ``job`` may not run (None if it may). Reads only its JSON: imports nothing."""
    try:
        func_name, instance = job.func_name, job.instance
    except Exception as exc:
        return ForgedJob(f"job {job.id}: its data cannot be read ({type(exc).__name__})")
    if instance is not None:
        return ForgedJob(f"job {job.id}: it names a method of an object; ours are functions")
    callbacks = [name for name in signing.callback_names(job) if name is not None]
    for name in [func_name, *callbacks]:
        try:
            resolve(name)
        except UnknownFunction as exc:
            return UnknownFunction(f"job {job.id}: {exc.reason}")
    mismatch = signing.mismatch(job, secret)
    if mismatch is not None:
        return ForgedJob(f"job {job.id}: {mismatch}")
    return None


class AssemblyJob(Job):
    """RQ's job, resolving its function and callbacks through :data:`FUNCTIONS`, and
    only for a job signed with :attr:`secret` (see :func:`job_class`).

    RQ's own webhooks (stored in the job, sent by whoever ends it) are never sent:
    a forged job must not make a worker or the watcher call out. assemblyd's
    webhooks are configured in the settings instead (:mod:`.webhooks`)."""

    secret: ClassVar[bytes | None] = None

    def _checked(self, name: str | None) -> Callable[..., Any]:
        if self.secret is None:
            raise ForgedJob(f"job {self.id}: no job_secret to check it with")
        refused = refusal(self, self.secret)
        if refused is not None:
            raise refused
        return resolve(name)

    @property
    def func(self) -> Callable[..., Any]:
        return self._checked(self.func_name)

    @property
    def failure_callback(self) -> Callable[..., Any] | None:
        name = self._failure_callback_name
        return self._checked(name) if name else None

    @property
    def stopped_callback(self) -> Callable[..., Any] | None:
        name = self._stopped_callback_name
        return self._checked(name) if name else None

    @property
    def success_callback(self) -> Callable[..., Any] | None:
        name = self._success_callback_name
        return self._checked(name) if name else None

    def send_webhooks(self, status: Any, *, exc_string: str | None = None) -> None:
        return None


@functools.cache
def job_class(secret: bytes) -> type[AssemblyJob]:
    """:class:`AssemblyJob` checking signatures with ``secret`` (one class per key)."""
    return type("AssemblyJob", (AssemblyJob,), {"secret": secret})
