"""The jobs users see, newest first: one sorted set per queue, for pages that cost O(page).

RQ keeps a job in its queue or in one of five registries, each in its own order and
mixed with the pieces of split requests; listing "the newest 50" from them means
reading every job of the month. Here each request's job id is also added, at
enqueue, to ``assemblyd:index:<queue>`` scored by the time it was queued (ms). A page
is one range read from there plus one pipelined read of its jobs. Entries whose job
Redis has expired (``result_ttl``, ``failure_ttl``) are dropped when a page meets
them, and everything older than both is trimmed at each first page.

A cursor names the last entry a page showed (``<score>:<job id>``), so new jobs
queued meanwhile never shift the pages that follow.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime

from redis import Redis

from ..settings import Settings

KEY = "assemblyd:index:"
_CURSOR = re.compile(r"^(?P<score>[0-9]{1,16}):(?P<id>[A-Za-z0-9_-]{1,200})$")


def key(queue: str) -> str:
    return KEY + queue


def score_of(queued_at: str | None) -> int:
    """Milliseconds since the epoch of an ISO time (0 if it is not one)."""
    try:
        return int(datetime.fromisoformat(str(queued_at)).timestamp() * 1000)
    except ValueError:
        return 0


@dataclass(frozen=True)
class Cursor:
    score: int
    job_id: str

    def __str__(self) -> str:
        return f"{self.score}:{self.job_id}"

    @classmethod
    def parse(cls, text: str) -> Cursor | None:
        """The cursor ``text`` stands for; None if it is not one."""
        match = _CURSOR.match(text)
        return cls(int(match["score"]), match["id"]) if match else None


def add(conn: Redis, settings: Settings, job_id: str, queued_at: str) -> None:
    conn.zadd(key(settings.queue_name), {job_id: score_of(queued_at)})


def remove(conn: Redis, queue: str, *job_ids: str) -> None:
    if job_ids:
        conn.zrem(key(queue), *job_ids)


def trim(conn: Redis, settings: Settings) -> None:
    """Drop entries older than any job Redis still keeps."""
    oldest = time.time() - max(settings.result_ttl, settings.failure_ttl) - 86400
    conn.zremrangebyscore(key(settings.queue_name), 0, int(oldest * 1000))


def after(conn: Redis, queue: str, cursor: Cursor | None, count: int) -> list[tuple[str, int]]:
    """Up to ``count`` entries (id, score), newest first, after ``cursor``."""
    top = "+inf" if cursor is None else str(cursor.score)
    found: list[tuple[str, int]] = []
    skip = 0
    while True:
        raw: list[tuple[bytes, float]] = conn.zrevrangebyscore(  # type: ignore[assignment]
            key(queue), top, "-inf", start=skip, num=count, withscores=True
        )
        batch = [(member.decode(), int(score)) for member, score in raw]
        for job_id, score in batch:
            # Entries of the cursor's own millisecond come in reverse id order; the
            # cursor's entry and those before it were on the page before.
            if cursor is not None and score == cursor.score and job_id >= cursor.job_id:
                continue
            found.append((job_id, score))
        if len(found) >= count or len(batch) < count:
            return found[:count]
        skip += len(batch)  # a page's worth of ties with the cursor: read on
