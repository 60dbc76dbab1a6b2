"""Which Redis, and how to talk to it.

With no ``redis_url`` configured, every process of one machine meets at the embedded
server's Unix socket in ``state_dir`` (see :mod:`.embedded`).
"""

from __future__ import annotations

import redis

from ..settings import Settings

SOCKET_NAME = "redis.sock"


def redis_url(settings: Settings) -> str:
    if settings.redis_url:
        return settings.redis_url
    return f"unix://{settings.state_dir / SOCKET_NAME}"


def connect(url: str) -> redis.Redis:
    # redis-py's default 5 s socket timeout, retried ten times, turns a blocking
    # read into a minute-long hang; fail fast on connect, wait freely on reads.
    return redis.Redis.from_url(url, socket_connect_timeout=5, health_check_interval=30)
