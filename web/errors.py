"""API errors: one JSON shape, ``{"code": ..., "message": ...}``, with stable codes.

Clients branch on ``code``; ``message`` is for people and may change wording.
The daemon's own errors (:mod:`assemblyd.errors`) carry their codes through unchanged.
"""

from __future__ import annotations

from typing import Any

from redis.exceptions import RedisError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from assemblyd.errors import (
    AlreadyProcessed,
    AssemblyError,
    JobAlreadyEnded,
    JobNotFound,
    RequestBusy,
    ServiceError,
    ValidationFailed,
    describe,
)

#: HTTP status of each daemon error the API lets through; others are 500.
_STATUS: dict[type[AssemblyError], int] = {
    JobNotFound: 404,
    JobAlreadyEnded: 409,
    RequestBusy: 409,
    AlreadyProcessed: 409,
    ValidationFailed: 422,
    ServiceError: 503,
}

#: Starlette's own HTTP errors (unknown path, wrong method) in our shape.
_HTTP_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    413: "request_too_large",
    426: "upgrade_required",
}


class ApiError(Exception):
    """An error answer: ``status``, a stable ``code``, a human ``message``, extra fields."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra

    def response(self) -> JSONResponse:
        return error_response(self.status, self.code, self.message, **self.extra)


def error_response(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"code": code, "message": message, **extra}, status_code=status)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _assembly_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AssemblyError)
    body: dict[str, Any] = {**exc.to_dict(), "message": describe(exc)}
    if isinstance(exc, RequestBusy):
        body["job_id"] = exc.job_id
    status = next((code for cls, code in _STATUS.items() if isinstance(exc, cls)), 500)
    return JSONResponse(body, status_code=status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
    response = error_response(exc.status_code, code, str(exc.detail))
    response.headers.update(exc.headers or {})  # a 405's Allow, for one
    return response


async def _redis_error(request: Request, exc: Exception) -> Response:
    # Redis is away (restarting, or unreachable): a temporary condition, not a bug.
    return error_response(
        503, "redis_unavailable", "Redis is unreachable; try again shortly", retry_after=5
    )


async def _internal_error(request: Request, exc: Exception) -> Response:
    # The traceback goes to the log (Starlette's ServerErrorMiddleware logs it);
    # the client gets the plain-words form, never a stack dump.
    return error_response(500, "internal_error", describe(exc))


HANDLERS = {
    ApiError: _api_error,
    AssemblyError: _assembly_error,
    HTTPException: _http_error,
    RedisError: _redis_error,
    Exception: _internal_error,
}
