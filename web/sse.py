"""GET /api/v1/assembly/jobs/{id}/progress: one job's progress as Server-Sent Events.

Each event's data is ``{"state", "stage", "progress", "export", "error"}``; the
first is the job's state at once, then one per change. At a terminal state the
stream sends that state, an ``end`` event, and closes. (EventSource reconnects
on its own when a stream closes: listen for ``end`` and call ``close()``.)
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from assemblyd.queue.views import JobView
from assemblyd.states import TERMINAL

from .mailbox import Batch, Subscriber
from .state import web_state

#: Seconds of quiet before a comment line: proxies drop idle streams, and writing
#: is how a server notices a client that vanished.
KEEPALIVE = 15.0
_FIELDS = ("state", "stage", "progress", "export", "error")


async def progress_stream(request: Request) -> Response:
    web = web_state(request)
    job_id = request.path_params["id"]
    # Subscribed before reading the state: a change in between is not lost.
    sub = web.hub.subscribe(job_id)
    try:
        first = await run_in_threadpool(web.own_view, job_id)
    except BaseException:
        web.hub.unsubscribe(sub)
        raise

    async def events() -> AsyncIterator[str]:
        try:
            async for chunk in _stream(sub, first):
                yield chunk
        finally:
            web.hub.unsubscribe(sub)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _stream(sub: Subscriber, first: JobView) -> AsyncIterator[str]:
    last = {k: first.get(k) for k in _FIELDS}
    yield f"data: {json.dumps(last)}\n\n"
    if last["state"] in TERMINAL:
        yield "event: end\ndata: {}\n\n"
        return
    upcoming: asyncio.Task[Batch | None] = asyncio.ensure_future(sub.next())
    try:
        while True:
            # Not wait_for: cancelling next() on a timeout could drop a snapshot.
            done, _ = await asyncio.wait({upcoming}, timeout=KEEPALIVE)
            if not done:
                yield ": keep-alive\n\n"
                continue
            batch = upcoming.result()
            if batch is None:
                return  # the server is shutting down
            if batch.kind == "status":
                yield f"event: status\ndata: {json.dumps({'redis': batch.redis})}\n\n"
            for view in batch.jobs:
                event = {k: view.get(k) for k in _FIELDS}
                if event != last:
                    last = event
                    yield f"data: {json.dumps(event)}\n\n"
            if last["state"] in TERMINAL:
                yield "event: end\ndata: {}\n\n"
                return
            upcoming = asyncio.ensure_future(sub.next())
    finally:
        upcoming.cancel()
