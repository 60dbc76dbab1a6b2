"""Who may use the app: the API token, same-origin browsers, and no token in the logs.

With ``api_token`` set, everything but ``/healthz`` (and the stylesheet the sign-in
page needs) needs it: ``Authorization: Bearer``, the ``assemblyd_token`` cookie, or
(GET and WebSocket only, for browsers that cannot set headers on those) ``?token=``.
Opening a page (``/``, a job's ``/jobs/ID``) with ``?token=...`` sets the cookie and
redirects to the page without it, so the token leaves the address bar and history.

Without a token the app only ever binds to loopback (see :mod:`web.server`), and it
also insists on a loopback ``Host``: a web page cannot then reach it through DNS
rebinding. Browsers' cross-site requests are refused by ``Origin`` for WebSockets
(before the handshake is accepted) and for anything that changes state.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import re
from contextvars import ContextVar
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

COOKIE = "assemblyd_token"
#: Needing no token: health checks, and the stylesheet, without which the sign-in
#: page would be unstyled (it holds nothing about jobs).
OPEN_PATHS = frozenset({"/healthz", "/static/app.css"})
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_COOKIE_MAX_AGE = 30 * 86400  # a dashboard on a second screen should survive a reboot
_LOGIN_PAGE = Path(__file__).with_name("static") / "login.html"


def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_page(path: str) -> bool:
    """The dashboard's HTML pages: a browser without the token gets the sign-in form
    there, which brings it back to the same page."""
    return path == "/" or (path.startswith("/jobs/") and "/" not in path[len("/jobs/") :])


def _hostname(netloc: str) -> str:
    return urlsplit(f"//{netloc}").hostname or ""


class Guard:
    """ASGI middleware in front of every route."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app, self.token = app, token or None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        denial = self._deny(scope, headers)
        if denial is None and self.token and scope["path"] not in OPEN_PATHS:
            denial = self._authenticate(scope, headers)
        if denial is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await _refuse_websocket(denial, scope, receive, send)
        else:
            await denial(scope, receive, send)

    def _deny(self, scope: Scope, headers: Headers) -> Response | None:
        host = headers.get("host", "")
        if not self.token and not is_loopback(_hostname(host)):
            return _error(
                403, "forbidden_host", "without api_token this server only answers to localhost"
            )
        origin = headers.get("origin")
        checks_origin = scope["type"] == "websocket" or scope.get("method") not in _SAFE_METHODS
        if checks_origin and origin is not None and urlsplit(origin).netloc.lower() != host.lower():
            return _error(
                403,
                "forbidden_origin",
                f"requests from {origin} are not allowed; open the dashboard itself",
            )
        return None

    def _authenticate(self, scope: Scope, headers: Headers) -> Response | None:
        assert self.token
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        auth = headers.get("authorization", "")
        offered = [auth[7:].strip()] if auth[:7].lower() == "bearer " else []
        offered.append(cookie_parser(headers.get("cookie", "")).get(COOKIE, ""))
        by_query = scope["type"] == "websocket" or scope.get("method") in _SAFE_METHODS
        if by_query:
            offered.append(query.get("token", ""))
        if not any(o and hmac.compare_digest(o.encode(), self.token.encode()) for o in offered):
            if is_page(scope["path"]) and "text/html" in headers.get("accept", ""):
                return HTMLResponse(_LOGIN_PAGE.read_text(), status_code=401)
            return _error(
                401,
                "unauthorized",
                "this server needs its API token (Authorization: Bearer <token>)",
            )
        if scope["type"] == "http" and is_page(scope["path"]) and "token" in query:
            # Trade the token in the URL for a cookie, and drop it from the address bar.
            rest = urlencode([(k, v) for k, v in query.items() if k != "token"])
            page = scope["path"] + (f"?{rest}" if rest else "")
            response = RedirectResponse(page, status_code=303)
            response.set_cookie(
                COOKIE, self.token, max_age=_COOKIE_MAX_AGE, httponly=True, samesite="strict"
            )
            return response
        return None


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status)


#: Set in the connection's task when we answer a WebSocket handshake with an HTTP
#: error. uvicorn's websockets-sansio protocol then wrongly logs "ASGI callable
#: returned without completing handshake." at ERROR (Kludex/uvicorn PR #3138); the
#: log filter drops that line for denied connections only, so alerting on
#: uvicorn errors is not set off by every expired dashboard cookie.
WS_DENIED: ContextVar[bool] = ContextVar("ws_denied", default=False)
_SPURIOUS = "ASGI callable returned without completing handshake."


async def deny_websocket(response: Response, scope: Scope, send: Send) -> None:
    """Answer the handshake with ``response`` (after websocket.connect was received)."""
    if "websocket.http.response" in scope.get("extensions", {}):
        WS_DENIED.set(True)
        await response(scope, _nothing, send)  # a real HTTP 4xx with our JSON body
    else:
        await send({"type": "websocket.close", "code": 1008})  # servers answer HTTP 403


async def _nothing() -> Message:
    return {"type": "websocket.disconnect", "code": 1006}


async def _refuse_websocket(response: Response, scope: Scope, receive: Receive, send: Send) -> None:
    """Refuse before the handshake completes: the browser never gets an open socket."""
    await receive()  # websocket.connect
    await deny_websocket(response, scope, send)


class RedactTokens(logging.Filter):
    """Blanks ``token=`` query values and the token itself in uvicorn's log lines
    (its access log, and the WebSocket lines it writes to ``uvicorn.error``), and
    drops uvicorn's spurious error after a WebSocket denial (see ``WS_DENIED``)."""

    _QUERY = re.compile(r"(?i)([?&]token=)[^&\s\"']*")

    def __init__(self) -> None:
        super().__init__()
        self.tokens: set[str] = set()

    def redact(self, text: str) -> str:
        text = self._QUERY.sub(r"\1***", text)
        for token in self.tokens:
            text = text.replace(token, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == _SPURIOUS and WS_DENIED.get():
            return False
        if isinstance(record.msg, str):
            record.msg = self.redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(self.redact(a) if isinstance(a, str) else a for a in record.args)
        return True


_REDACT = RedactTokens()


def redact_logs(token: str | None) -> None:
    """Install the filter on uvicorn's loggers (idempotent; tokens accumulate)."""
    if token:
        _REDACT.tokens.add(token)
    for name in ("uvicorn.access", "uvicorn.error"):
        logger = logging.getLogger(name)
        if _REDACT not in logger.filters:
            logger.addFilter(_REDACT)
