"""One client's mailbox: the latest view per job, and what else it must be told.

A stalled client costs one view per job however many updates go by, and gets the
newest state of each when it catches up. Besides views, a mailbox carries "send a
fresh snapshot" (on connect, and after Redis came back) and "Redis is down/up".
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Literal, Protocol

from redis.exceptions import RedisError

from assemblyd.queue.views import JobView, Page
from assemblyd.states import TERMINAL, JobState

View = JobView
_RANK = {state.value: 2 if state in TERMINAL else 1 for state in JobState} | {JobState.QUEUED: 0}


class Source(Protocol):
    """Where a mailbox gets its snapshots (the live hub)."""

    @property
    def connected(self) -> bool: ...

    async def snapshot(self, job: str | None) -> Page: ...


def supersedes(new: View, old: View) -> bool:
    """Whether ``new`` is a later state of the job than ``old``. A snapshot read races
    with updates; this keeps a bar from stepping back. A new ``queued_at`` is a new
    run of the same request (requeued after a shutdown), which always wins."""
    if new.get("queued_at") != old.get("queued_at"):
        return str(new.get("queued_at") or "") >= str(old.get("queued_at") or "")
    return (_RANK.get(new.get("state", ""), 0), new.get("progress") or 0) >= (
        _RANK.get(old.get("state", ""), 0),
        old.get("progress") or 0,
    )


@dataclass
class Batch:
    kind: Literal["snapshot", "update", "status"]
    jobs: list[View] = field(default_factory=list)
    redis: bool | None = None
    #: A snapshot is the first page of jobs; this is where the next starts (the
    #: list API's cursor), None if there is no more.
    next: str | None = None


class Subscriber:
    """One client's mailbox: latest view per job, plus 'snapshot due' and 'Redis up/down'."""

    def __init__(self, hub: Source, job: str | None) -> None:
        self.hub, self.job = hub, job
        self.pending: dict[str, View] = {}
        self.closed = False
        self._resync = True
        self._status: bool | None = None
        self._told = True  # clients assume Redis is up until told otherwise
        self._wake = asyncio.Event()

    def offer(self, view: View) -> None:
        if self.job is not None and view.get("id") != self.job:
            return
        old = self.pending.pop(view["id"], None)
        self.pending[view["id"]] = old if old and not supersedes(view, old) else view
        self._wake.set()

    def resync(self) -> None:
        self._resync = True
        self._wake.set()

    def status(self, up: bool) -> None:
        """Queue 'Redis is up/down' for the client, only if it changes what it was told."""
        believed = self._told if self._status is None else self._status
        if up != believed:
            self._status = None if up == self._told else up
            self._wake.set()

    def close(self) -> None:
        self.closed = True
        self._wake.set()

    async def next(self) -> Batch | None:
        """The next batch to send; ``None`` once the hub closes."""
        while not self.closed:
            if self._status is not None:
                self._told, self._status = self._status, None
                return Batch("status", redis=self._told)
            if self._resync and self.hub.connected:
                self._resync = False
                try:
                    page = await self.hub.snapshot(self.job)
                except (RedisError, OSError):
                    self._resync = True  # the listener's reconnect asks again
                    await self._sleep(1.0)
                    continue
                return Batch("snapshot", self._merge(page["jobs"]), next=page["next"])
            if self.pending and not self._resync:
                batch, self.pending = list(self.pending.values()), {}
                return Batch("update", batch)
            self._wake.clear()
            await self._wake.wait()
        return None

    def _merge(self, jobs: list[View]) -> list[View]:
        rows = []
        for view in jobs:
            if self.job is not None and view["id"] != self.job:
                continue
            newer = self.pending.pop(view["id"], None)
            rows.append(newer if newer and supersedes(newer, view) else view)
        return rows  # views of jobs the snapshot did not know yet stay pending

    async def _sleep(self, seconds: float) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
