"""WS /api/v1/assembly/ws: live job views, all jobs or ``?job=ID``.

Messages, all JSON text frames:

- ``{"type": "snapshot", "jobs": [view, ...], "next": cursor}``: the first page of
  jobs (newest first; ``?job=ID``: that job) right after connecting, and again after
  a Redis outage. It replaces what the client knew. ``next`` is the list API's
  cursor for older jobs (``GET /api/v1/assembly/jobs?cursor=...``), null if none.
- ``{"type": "update", "jobs": [view, ...]}``: views that changed, one per job
  (the latest: a client that fell behind skips the steps it missed).
- ``{"type": "status", "redis": false|true}``: Redis went away / came back.

Authentication and the Origin check happen in :mod:`web.auth`, before the handshake.
"""

from __future__ import annotations

import asyncio
import json

from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.websockets import WebSocket, WebSocketDisconnect

from assemblyd.errors import JobNotFound

from .auth import deny_websocket
from .mailbox import Batch, Subscriber
from .state import web_state

#: Close code when the server shuts down.
GOING_AWAY = 1001


def encode(batch: Batch) -> str:
    if batch.kind == "status":
        return json.dumps({"type": "status", "redis": batch.redis})
    if batch.kind == "snapshot":
        return json.dumps({"type": "snapshot", "jobs": batch.jobs, "next": batch.next})
    return json.dumps({"type": batch.kind, "jobs": batch.jobs})


async def plain_http(request: Request) -> Response:
    """The socket's address asked over plain HTTP: say what it is (not a 404)."""
    return JSONResponse(
        {"code": "upgrade_required", "message": "this is a WebSocket: connect with ws://"},
        status_code=426,
        headers={"Upgrade": "websocket", "Connection": "Upgrade"},
    )


async def live_socket(websocket: WebSocket) -> None:
    web = web_state(websocket)
    job = websocket.query_params.get("job") or None
    if job is not None:
        try:
            await run_in_threadpool(web.own_job, job)
        except JobNotFound as exc:
            body = {"code": exc.code, "message": str(exc)}
            await websocket.receive()  # websocket.connect, before answering it
            await deny_websocket(
                JSONResponse(body, status_code=404), websocket.scope, websocket.send
            )
            return
        except RedisError:
            pass  # Redis is away: subscribe anyway; the client hears so, then catches up
    sub = web.hub.subscribe(job)
    leaving: asyncio.Task[None] | None = None
    try:
        await websocket.accept()
        # Reading is only for noticing the client leave: it closes the mailbox, which
        # ends the loop below. (Waiting on both per batch would cost a task each time.)
        leaving = asyncio.create_task(_until_disconnect(websocket, sub))
        while (batch := await sub.next()) is not None:
            await websocket.send_text(encode(batch))
        if web.hub.closed:
            await websocket.close(GOING_AWAY)
    except (WebSocketDisconnect, OSError, RuntimeError):
        # The client vanished mid-send (a send racing its disconnect is a RuntimeError
        # in Starlette): nothing to tell anyone.
        pass
    finally:
        if leaving is not None:
            leaving.cancel()
        web.hub.unsubscribe(sub)


async def _until_disconnect(websocket: WebSocket, sub: Subscriber) -> None:
    try:
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass
    finally:
        sub.close()
