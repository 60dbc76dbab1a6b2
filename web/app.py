"""The Starlette app: routes, middleware, error handlers, and the live hub's lifetime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assemblyd.queue.connection import connect, redis_options
from assemblyd.settings import Settings

from . import api, details, metrics, pages, sse, submit, ws
from .auth import Guard
from .errors import HANDLERS, ApiError, error_response
from .live import Hub
from .openapi import openapi
from .state import WebState

STATIC = Path(__file__).with_name("static")
API = "/api/v1/assembly"


class BodyLimit:
    """Refuses request bodies over ``limit`` bytes with a JSON 413: by the declared
    Content-Length before reading anything, else while the body streams in."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.limit:
            await self._too_large()(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise ApiError(413, "request_too_large", self._message())
            return message

        await self.app(scope, counted, send)

    def _message(self) -> str:
        return f"the request body is over the {self.limit} byte limit (max_request_bytes)"

    def _too_large(self) -> Response:
        return error_response(413, "request_too_large", self._message())


async def dashboard(request: Request) -> Response:
    # no-cache: after an upgrade, the page must not run yesterday's script.
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


def routes() -> list[BaseRoute]:
    return [
        Route("/", dashboard, methods=["GET"]),
        Route("/healthz", api.healthz, methods=["GET"]),
        Route("/metrics", metrics.endpoint, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route(f"{API}/states", api.states, methods=["GET"]),
        Route(f"{API}/process", submit.process, methods=["POST"]),
        Route(f"{API}/jobs", api.list_jobs, methods=["GET"]),
        # One route, so that a 405 here lists both methods in its Allow header.
        Route(f"{API}/jobs/{{id}}", api.job, methods=["GET", "DELETE"]),
        Route(f"{API}/jobs/{{id}}/progress", sse.progress_stream, methods=["GET"]),
        *details.routes(API),
        Route("/jobs/{id}", pages.job_page, methods=["GET"]),
        Route(f"{API}/exports/{{id}}", api.get_export, methods=["GET"]),
        Route(f"{API}/projects", api.list_projects, methods=["GET"]),
        WebSocketRoute(f"{API}/ws", ws.live_socket),
        Route(f"{API}/ws", ws.plain_http, methods=["GET"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]


def create_app(settings: Settings, redis_url: str, *, linger: float = 5.0) -> Starlette:
    """The app for ``settings``; ``linger`` is how long the Redis subscription
    outlives its last client."""
    options = redis_options(settings)
    web = WebState(settings, connect(redis_url, **options))
    web.hub = Hub(redis_url, web.snapshot_page, settings.queue_name, linger, options)
    web.metrics = metrics.registry_for(web)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await web.hub.close()
        web.conn.close()

    app = Starlette(
        routes=routes(),
        middleware=[
            Middleware(Guard, token=settings.api_token),
            Middleware(BodyLimit, limit=settings.max_request_bytes),
        ],
        exception_handlers=HANDLERS,
        lifespan=lifespan,
    )
    app.state.web = web
    return app
