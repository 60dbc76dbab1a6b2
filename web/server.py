"""Serving the app with uvicorn: in a background thread (``assemblyd up``) or in the
foreground (``assemblyd web``).

uvicorn only installs signal handlers on the main thread, so a server on a
background thread leaves SIGINT/SIGTERM to the service that owns the process.
Streams (WebSocket, SSE) are ended by the live hub before uvicorn stops: uvicorn
would otherwise wait for them to finish, and they never do on their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from types import FrameType

import uvicorn
from starlette.applications import Starlette

from assemblyd.errors import AssemblyError
from assemblyd.settings import Settings

from .app import create_app
from .auth import is_loopback, redact_logs
from .state import WebState


class InsecureBind(AssemblyError):
    code = "insecure_bind"


def check_bind(settings: Settings) -> None:
    """No token, no network: anyone who reaches the port could start and cancel jobs."""
    if not settings.api_token and not is_loopback(settings.web_host):
        raise InsecureBind(
            f"refusing to serve on {settings.web_host} without an API token: anyone on the "
            "network could start and cancel jobs. Set ASSEMBLYD_API_TOKEN (or api_token in "
            "the config), or bind to 127.0.0.1."
        )


def _config(app: Starlette, settings: Settings) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=settings.web_host,
        port=settings.web_port,
        log_config=None,  # log through the process's logging setup, like the daemon
        access_log=True,
        proxy_headers=False,  # no trusted proxy: X-Forwarded-For is anyone's to forge
        server_header=False,
        ws_max_size=64 * 1024,  # clients send nothing we read
        # Job views are small and the network local: compressing each frame for
        # every client costs more CPU than it saves.
        ws_per_message_deflate=False,
        timeout_graceful_shutdown=3,
        lifespan="on",
    )


class _Server(uvicorn.Server):
    """uvicorn's server, which first ends the live streams when asked to stop."""

    loop: asyncio.AbstractEventLoop | None = None

    def __init__(self, config: uvicorn.Config, web: WebState) -> None:
        super().__init__(config)
        self.web = web

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        await super().startup(sockets)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # The streams end first, in their own words (a WebSocket's 1001 "going away",
        # an SSE stream's last line). uvicorn's shutdown would cut the WebSockets
        # still open with 1012, and on a busy machine end_streams() may not be done.
        await self.web.hub.close(drain=2.0)
        await super().shutdown(sockets)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """As uvicorn's, minus re-raising the signal once stopped: a stop that was
        asked for is a clean exit (status 0, as ``assemblyd up``), not a death by signal."""
        if threading.current_thread() is not threading.main_thread():
            yield  # only the main thread can take signals: the owner handles them
            return
        previous = {
            sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.end_streams()
        super().handle_exit(sig, frame)

    def end_streams(self) -> None:
        loop = self.loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(lambda: loop.create_task(self.web.hub.close()))


class WebServer:
    """The app on a background thread. ``start()`` returns once it is listening."""

    def __init__(self, settings: Settings, redis_url: str) -> None:
        check_bind(settings)
        self.settings = settings
        self.app = create_app(settings, redis_url)
        self.server = _Server(_config(self.app, settings), self.app.state.web)
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self._port: int | None = None

    def start(self, timeout: float = 15.0) -> None:
        redact_logs(self.settings.api_token)
        self.thread = threading.Thread(target=self._run, name="web", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise OSError(
                    f"the web app could not listen on {self._where()}"
                    + (f": {self.error}" if self.error else "")
                )
            time.sleep(0.02)
        _ = self.port  # read while the socket is open

    def _run(self) -> None:
        try:
            asyncio.run(self.server.serve())
        except BaseException as exc:  # uvicorn exits with SystemExit when it cannot bind
            self.error = exc

    def alive(self) -> bool:
        """Is the server still serving (its thread has not ended)?"""
        return self.thread is not None and self.thread.is_alive()

    def _where(self) -> str:
        return f"{self.settings.web_host}:{self.settings.web_port}"

    @property
    def port(self) -> int:
        """The port actually bound (``web_port = 0`` picks a free one); kept after stop()."""
        if self._port is None:
            self._port = int(self.server.servers[0].sockets[0].getsockname()[1])
        return self._port

    @property
    def url(self) -> str:
        host = self.settings.web_host
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}"

    def stop(self, timeout: float = 10.0) -> None:
        self.server.end_streams()
        self.server.should_exit = True
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(timeout)


def serve(settings: Settings, redis_url: str) -> int:
    """``assemblyd web``: serve in the foreground until SIGINT/SIGTERM."""
    try:
        check_bind(settings)
    except InsecureBind as exc:
        print(f"assemblyd: {exc}", file=sys.stderr)
        return 2
    redact_logs(settings.api_token)
    app = create_app(settings, redis_url)
    server = _Server(_config(app, settings), app.state.web)
    try:
        server.run()
    except SystemExit:  # uvicorn could not bind; it has logged why
        print(
            f"assemblyd: the web app could not listen on {settings.web_host}:{settings.web_port}",
            file=sys.stderr,
        )
        return 1
    return 0
