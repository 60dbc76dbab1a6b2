"""Which Redis, and how to talk to it.

With no ``redis_url`` configured, every process of one machine meets at the embedded
server's Unix socket in ``state_dir`` (see :mod:`.embedded`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

import redis

from ..settings import Settings

log = logging.getLogger(__name__)

SOCKET_NAME = "redis.sock"
T = TypeVar("T")

#: What "Redis is away" looks like to redis-py (a server loading its AOF included).
UNREACHABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


def redis_url(settings: Settings) -> str:
    if settings.redis_url:
        return settings.redis_url
    return f"unix://{settings.state_dir / SOCKET_NAME}"


def connect(url: str) -> redis.Redis:
    # redis-py's default 5 s socket timeout, retried ten times, turns a blocking
    # read into a minute-long hang; fail fast on connect, wait freely on reads.
    return redis.Redis.from_url(url, socket_connect_timeout=5, health_check_interval=30)


def retrying(action: Callable[[], T], settings: Settings, what: str) -> T:
    """``action()``, tried again with backoff while Redis is unreachable, for at most
    ``redis_wait_seconds``; then the last error is raised."""
    deadline = time.monotonic() + settings.redis_wait_seconds
    delay = 0.25
    warned = False
    while True:
        try:
            return action()
        except UNREACHABLE as exc:
            if time.monotonic() + delay > deadline:
                raise
            if not warned:
                log.warning("Redis is unreachable (%s); will %s when it is back", exc, what)
                warned = True
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
