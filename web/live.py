"""Live job views: one Redis pub/sub listener per process, fanned out to every client.

Workers publish a job view on :data:`assemblyd.queue.events.CHANNEL` at each change. The
:class:`Hub` holds the only subscription to it and hands each view to every
:class:`~web.mailbox.Subscriber` (a WebSocket or an SSE stream), which keeps only
the latest view per job: a slow client never makes the server hold more.

Every subscriber starts with a snapshot (the first page of jobs, newest first, or
its one job) and gets a fresh one whenever the listener reconnects after losing
Redis, since updates published while it was away are gone. Older jobs are the list
API's next pages (the snapshot carries the cursor). The Redis subscription lives only while someone
listens: the last client leaving drops it (after a short linger, which spares
reconnect churn when a dashboard reloads).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from starlette.concurrency import run_in_threadpool

from assemblyd.queue.events import CHANNEL
from assemblyd.queue.views import Page, parse_view

from .mailbox import Subscriber

log = logging.getLogger(__name__)

#: Quiet seconds before the listener pings Redis, and before it gives a silent one up.
PING_EVERY, DEAD_AFTER = 10.0, 25.0


class Hub:
    def __init__(
        self,
        redis_url: str,
        read_page: Callable[[str | None], Page],
        queue: str,
        linger: float = 5.0,
        options: dict[str, Any] | None = None,
    ) -> None:
        self.url, self.read_page, self.queue, self.linger = redis_url, read_page, queue, linger
        #: redis-py options besides the URL: password, TLS files.
        self.options = options or {}
        self.subscribers: set[Subscriber] = set()
        self._task: asyncio.Task[None] | None = None
        self._stop: asyncio.TimerHandle | None = None
        self._up = asyncio.Event()
        self._fetch: asyncio.Task[Page] | None = None
        self._failing = False  # the listener's last attempt failed: Redis is away
        self.closed = False

    @property
    def connected(self) -> bool:
        return self._up.is_set()

    @property
    def listening(self) -> bool:
        return self._task is not None and not self._task.done()

    def subscribe(self, job: str | None = None) -> Subscriber:
        sub = Subscriber(self, job)
        if self.closed:  # shutting down: the caller sees the end at once
            sub.close()
            return sub
        self.subscribers.add(sub)
        if self._stop:
            self._stop.cancel()
            self._stop = None
        if not self.listening:
            self._task = asyncio.create_task(self._listen(), name="live-listener")
        if self._failing:
            sub.status(False)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)
        if not self.subscribers and self.listening and self._stop is None:
            self._stop = asyncio.get_running_loop().call_later(self.linger, self._idle)

    def _idle(self) -> None:
        self._stop = None
        if not self.subscribers and self._task:
            self._task.cancel()
            self._task = None

    async def close(self, drain: float = 0.0) -> None:
        """End every stream; wait up to ``drain`` seconds for them to say goodbye."""
        self.closed = True
        for sub in list(self.subscribers):
            sub.close()
        if self._stop:
            self._stop.cancel()
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        deadline = asyncio.get_running_loop().time() + drain
        while self.subscribers and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)

    async def snapshot(self, job: str | None = None) -> Page:
        """The first page of jobs (read once for all who ask in the same moment: a
        read already under way is not joined, it may predate the caller's
        subscription), or ``job``'s own view."""
        if job is not None:
            await self._up.wait()
            return await run_in_threadpool(self.read_page, job)
        if self._fetch is None:
            self._fetch = asyncio.create_task(self._read())
        return await asyncio.shield(self._fetch)

    async def _read(self) -> Page:
        self._fetch = None
        await self._up.wait()  # subscribed first: no update can fall between the two
        return await run_in_threadpool(self.read_page, None)

    def _fan_out(self, data: bytes) -> None:
        try:
            view = parse_view(json.loads(data))
        except ValueError:
            view = None
        if view is None:
            log.warning("live updates: ignoring a message that is not a job view")
            return
        if view["queue"] != self.queue:
            return  # another queue sharing this Redis
        for sub in list(self.subscribers):
            sub.offer(view)

    def _set_up(self, up: bool) -> None:
        was, self._failing = self.connected, not up
        if up:
            self._up.set()
        else:
            self._up.clear()
        for sub in list(self.subscribers):
            sub.status(up)
            if up and not was:
                sub.resync()

    async def _listen(self) -> None:
        delay = 0.1
        loop = asyncio.get_running_loop()
        while True:
            # No retries inside redis-py: this loop reconnects, and must notice the
            # gap to send fresh snapshots.
            client = aioredis.Redis.from_url(
                self.url, retry=Retry(NoBackoff(), 0), socket_connect_timeout=5, **self.options
            )
            pubsub = client.pubsub()
            try:
                await pubsub.subscribe(CHANNEL)
                last = loop.time()
                while True:
                    msg = await pubsub.get_message(timeout=PING_EVERY)
                    if msg is None:
                        if loop.time() - last > DEAD_AFTER:
                            raise ConnectionError("Redis stopped answering")
                        await pubsub.ping()
                        continue
                    last = loop.time()
                    if msg["type"] == "subscribe":
                        delay = 0.1
                        self._set_up(True)
                    elif msg["type"] == "message":
                        self._fan_out(msg["data"])
            except asyncio.CancelledError:
                self._up.clear()
                self._failing = False
                raise
            except Exception as exc:  # Redis gone, or a bad message: never stop listening
                if self.connected:
                    log.warning("live updates: lost Redis (%s); reconnecting", exc)
                self._set_up(False)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
            finally:
                await asyncio.shield(_close(pubsub, client))


async def _close(pubsub: Any, client: aioredis.Redis) -> None:
    try:
        await pubsub.aclose()
        await client.aclose()
    except Exception:  # closing a dead connection may fail; there is nothing to save
        pass
