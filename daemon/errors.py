"""The error hierarchy.

Every failure the user can cause or meet is one of these. They carry data (a code,
the shot index, the path) rather than pre-baked prose, and :func:`describe` is the
single place where they become the words a user reads: in the terminal, in the
status file, in ``project.json`` and over the API.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


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

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


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

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"code": self.code, "message": describe(self)}
        if self.path is not None:
            data["path"] = self.path
        if self.shot_index is not None:
            data["shot_index"] = self.shot_index
        return data


class ValidationFailed(AssemblyError):
    """The request or its shots are not usable; nothing was rendered."""

    code = "invalid_request"

    def __init__(self, request_path: str, problems: list[Problem]) -> None:
        super().__init__(f"{len(problems)} problem(s)", path=request_path)
        self.problems = problems

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["problems"] = [p.to_dict() for p in self.problems]
        return data


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


class JobNotFound(AssemblyError):
    code = "job_not_found"


class JobAlreadyEnded(AssemblyError):
    code = "job_already_ended"


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
    return f"internal error: {type(exc).__name__}: {exc}"
