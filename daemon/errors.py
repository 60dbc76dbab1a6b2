"""The error hierarchy.

Every failure the user can cause or meet is an :class:`AssemblyError` with a stable
``code``. Errors carry data (the code, the shot index, the path) rather than
pre-baked prose, and :func:`describe` is the single place where they become the
words a user reads: in the terminal, in the status file, in ``project.json`` and
over the API. :func:`error_record` is the one shape they are stored in.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import NotRequired, TypedDict


class ProblemRecord(TypedDict):
    code: str
    reason: str
    shot_index: NotRequired[int]
    path: NotRequired[str]
    field: NotRequired[str]


class ErrorRecord(TypedDict):
    """An error as stored in Redis, the status file and ``project.json``, and as sent
    over the API: ``code`` is stable, ``message`` is for people."""

    code: str
    message: str
    path: NotRequired[str]
    shot_index: NotRequired[int]
    problems: NotRequired[list[ProblemRecord]]


class Notice(TypedDict):
    """Something the user should know about a render that still went through (a
    fallback, an effect rendered as a cut): a stable code and words for people."""

    code: str
    message: str
    shot_index: NotRequired[int]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request: a shot, a setting or the file itself."""

    code: str
    reason: str
    shot_index: int | None = None
    path: str | None = None
    field: str | None = None

    def __str__(self) -> str:
        if self.shot_index is not None:
            where = f"shot {self.shot_index + 1}"
            if self.path:
                where += f" ({self.path})"
        elif self.field:
            where = self.field
        else:
            where = self.path or "request"
        return f"{where}: {self.reason}"

    def to_dict(self) -> ProblemRecord:
        record = ProblemRecord(code=self.code, reason=self.reason)
        if self.shot_index is not None:
            record["shot_index"] = self.shot_index
        if self.path is not None:
            record["path"] = self.path
        if self.field is not None:
            record["field"] = self.field
        return record


class AssemblyError(Exception):
    """Base of everything assemblyd raises on purpose."""

    code = "assembly_error"

    def __init__(
        self,
        reason: str,
        *,
        path: str | None = None,
        shot_index: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = path
        self.shot_index = shot_index
        if code:
            self.code = code

    def to_dict(self) -> ErrorRecord:
        record = ErrorRecord(code=self.code, message=describe(self))
        if self.path is not None:
            record["path"] = self.path
        if self.shot_index is not None:
            record["shot_index"] = self.shot_index
        return record


class ValidationFailed(AssemblyError):
    """The request or its shots are not usable; nothing was rendered."""

    code = "invalid_request"

    def __init__(self, request_path: str, problems: list[Problem]) -> None:
        super().__init__(f"{len(problems)} problem(s)", path=request_path)
        self.problems = problems

    def to_dict(self) -> ErrorRecord:
        record = super().to_dict()
        record["problems"] = [p.to_dict() for p in self.problems]
        return record


class ProbeError(AssemblyError):
    """A media file could not be opened, decoded or understood."""

    code = "unreadable_media"


class RenderError(AssemblyError):
    """ffmpeg or MoviePy failed while writing the export."""

    code = "render_failed"


class VerifyError(AssemblyError):
    """The rendered file does not match what the plan promised."""

    code = "verify_failed"


class PublishError(AssemblyError):
    """The verified render could not be moved into exports/."""

    code = "publish_failed"


class Canceled(AssemblyError):
    """Someone asked for the job to stop."""

    code = "canceled"

    def __init__(self, reason: str = "the job was canceled") -> None:
        super().__init__(reason)


class Abandoned(Canceled):
    """This run's job was ended by someone else (a cancel, or the reaper, which took
    its worker for dead); the run stops, and whoever ended the job has the last word."""

    code = "abandoned"

    def __init__(self, state: str) -> None:
        super().__init__(f"the job was already {state} elsewhere; this run stopped")
        self.state = state


class TimedOut(AssemblyError):
    code = "timeout"

    def __init__(self, seconds: float | None) -> None:
        super().__init__(f"the render ran past job_timeout ({seconds:g} s) and was stopped")


class WorkerDied(AssemblyError):
    code = "worker_died"

    def __init__(self) -> None:
        super().__init__(
            "the worker running this job died (killed or crashed); its partial files "
            "were removed. Delete the status file to run the request again."
        )


class Interrupted(AssemblyError):
    """A shutdown stopped the job; it is put back and runs again at the next start."""

    code = "interrupted"

    def __init__(self) -> None:
        super().__init__("interrupted by a shutdown; runs again at start")


class SourceChanged(AssemblyError):
    """A shot's file changed (or was still being written) while the job used it."""

    code = "source_changed"


class ProjectGone(AssemblyError):
    """The project folder was moved or deleted while its job ran."""

    code = "project_gone"

    def __init__(self, project: str) -> None:
        super().__init__(
            "the project folder was moved or deleted while the job ran; nothing was "
            "published. A moved project is picked up again where it now is.",
            path=project,
        )


class RequestGone(AssemblyError):
    """The request file was deleted while its job ran."""

    code = "request_gone"

    def __init__(self, request: str) -> None:
        super().__init__(
            "the request file was deleted while its job ran; nothing was published",
            path=request,
        )


class Superseded(AssemblyError):
    """The request file changed after the job was queued: the new content is its own job."""

    code = "superseded"

    def __init__(self, request: str) -> None:
        super().__init__(
            "the request file changed after this job was queued; the new content "
            "runs as its own job",
            path=request,
        )


class RunLost(AssemblyError):
    """A run's record says running, but its job is nowhere (settled at the next start)."""

    code = "run_lost"

    def __init__(self) -> None:
        super().__init__(
            "this run stopped without recording how (its worker, the daemon or Redis "
            "died while it ran); nothing was published"
        )


class UnsafeInput(AssemblyError):
    """A file or a document that must not be read or parsed as it is: not a regular
    file, too large, nested too deeply. ``code`` says which."""

    code = "unsafe_input"


class JobNotFound(AssemblyError):
    code = "job_not_found"


class JobAlreadyEnded(AssemblyError):
    code = "job_already_ended"


class RequestBusy(AssemblyError):
    """A submission would replace a request whose job has not ended."""

    code = "request_busy"

    def __init__(self, reason: str, job_id: str) -> None:
        super().__init__(reason)
        self.job_id = job_id


class AlreadyProcessed(AssemblyError):
    code = "already_processed"


class WriteFailed(AssemblyError):
    """A file the daemon must write (a submitted request) could not be written."""

    code = "write_failed"


class ServiceError(AssemblyError):
    """The daemon's own machinery cannot work: Redis unreachable, a socket taken."""

    code = "service_error"


class RedisUnavailable(ServiceError):
    """Redis does not answer (down, restarting, or the URL is wrong)."""

    code = "redis_unavailable"


class BadSettings(AssemblyError):
    """A setting (flag, environment variable or TOML key) has a value that cannot work."""

    code = "bad_settings"


class RedisRefused(BadSettings):
    """Redis answered but refused us: wrong credentials, a certificate that does not
    verify, a user without the rights it needs. Waiting will not help; the message
    names the settings to fix. ``code`` says which: ``redis_auth_failed``,
    ``redis_tls_failed`` or ``redis_no_permission``."""

    code = "redis_refused"


class ForgedJob(AssemblyError):
    """A job in Redis that this project did not queue: it names a function that is not
    one of ours, or its signature does not match its function, arguments and id.
    It is refused without importing or running anything."""

    code = "forged_job"


class StorageError(AssemblyError):
    """A file could not be read or written: a full disk (``disk_full``), a NAS gone
    read-only or away (``storage_error``)."""

    code = "storage_error"

    def __init__(self, exc: OSError) -> None:
        full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
        what = exc.strerror or str(exc)
        super().__init__(
            f"{what}; nothing was published" if full else f"cannot read or write a file: {what}",
            path=str(exc.filename) if exc.filename else None,
            code="disk_full" if full else None,
        )


class InternalError(AssemblyError):
    """Anything that is not an :class:`AssemblyError`: a bug, or the environment."""

    code = "internal_error"

    def __init__(self, exc: BaseException) -> None:
        super().__init__(f"internal error: {type(exc).__name__}: {exc}")


def describe(exc: BaseException) -> str:
    """The message a user reads for ``exc``: what went wrong, where, and why."""
    if isinstance(exc, ValidationFailed):
        lines = [f"{exc.path} is not valid ({len(exc.problems)} problem(s)):"]
        lines += [f"  - {p}" for p in exc.problems]
        return "\n".join(lines)
    if isinstance(exc, AssemblyError):
        if exc.shot_index is not None:
            where = f"shot {exc.shot_index + 1}"
            if exc.path:
                where += f" ({exc.path})"
            return f"{where}: {exc.reason}"
        if exc.path:
            return f"{exc.path}: {exc.reason}"
        return exc.reason
    # Anything else is a bug or an environment failure; say so plainly rather
    # than dumping a traceback on a user who cannot act on it.
    return InternalError(exc).reason


def as_assembly_error(exc: BaseException) -> AssemblyError:
    """``exc`` as one of ours: Ctrl-C is a cancel, anything unexpected an internal error."""
    if isinstance(exc, AssemblyError):
        return exc
    if isinstance(exc, KeyboardInterrupt):
        return Canceled("interrupted")
    if isinstance(exc, OSError) and exc.errno is not None:
        return StorageError(exc)
    return InternalError(exc)


def error_record(exc: BaseException) -> ErrorRecord:
    return as_assembly_error(exc).to_dict()
