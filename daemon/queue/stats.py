"""Counters for ``GET /metrics``, kept in Redis by whoever does the work.

Renders run in work horses on any machine, the metrics are served by the web app:
the counters live in one Redis hash per queue, ``assemblyd:metrics:<queue>``, written
with one pipelined round trip per render (and per job end) and read whole by a
scrape. What is already in Redis (queue depth, RQ's registries, workers, watchers)
is read where it is, live, at each scrape (see ``assemblyd.web.metrics``).
"""

from __future__ import annotations

import logging
from typing import TypedDict

from redis import Redis
from redis.exceptions import RedisError

from ..settings import Settings

log = logging.getLogger(__name__)

KEY = "assemblyd:metrics:"
#: Upper bounds (seconds) of the render-time histogram: a copy join takes a second,
#: a normalize of a long cut an hour or more.
BUCKETS = (1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 21600.0)
SEGMENT_KINDS = ("encoded", "cached", "copied")


def key(queue: str) -> str:
    return KEY + queue


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)


def rendered(
    conn: Redis,
    settings: Settings,
    strategy: str,
    seconds: float,
    segments: dict[str, int],
) -> None:
    """Count one render: its seconds (by strategy) and how it got its segments.
    Never raises: a metric lost is no reason to fail a render."""
    name = key(settings.queue_name)
    try:
        with conn.pipeline(transaction=False) as pipe:
            for bound in (*BUCKETS, float("inf")):
                if seconds <= bound:
                    pipe.hincrby(name, f"render_bucket:{strategy}:{_le(bound)}", 1)
            pipe.hincrbyfloat(name, f"render_sum:{strategy}", seconds)
            pipe.hincrby(name, f"render_count:{strategy}", 1)
            for kind in SEGMENT_KINDS:
                if segments.get(kind):
                    pipe.hincrby(name, f"segments:{kind}", int(segments[kind]))
            pipe.execute()
    except RedisError as exc:
        log.warning("could not count a render in the metrics: %s", exc)


def ended(conn: Redis, queue: str, state: str) -> None:
    """Count a job's end, by its state."""
    try:
        conn.hincrby(key(queue), f"ended:{state}", 1)
    except RedisError as exc:
        log.warning("could not count a job's end in the metrics: %s", exc)


class Histogram(TypedDict):
    buckets: list[tuple[str, float]]
    sum: float
    count: float


class Counters(TypedDict):
    renders: dict[str, Histogram]
    segments: dict[str, float]
    ended: dict[str, float]


def read(conn: Redis, queue: str) -> Counters:
    """Every counter of ``queue``, in one read."""
    raw: dict[bytes, bytes] = conn.hgetall(key(queue))  # type: ignore[assignment]
    counters = Counters(renders={}, segments=dict.fromkeys(SEGMENT_KINDS, 0.0), ended={})
    values: dict[str, float] = {}
    for raw_name, raw_value in raw.items():
        try:
            values[raw_name.decode()] = float(raw_value)
        except (UnicodeDecodeError, ValueError):
            continue  # anyone who can write to Redis can write here
    strategies = {f.split(":")[1] for f in values if f.startswith("render_count:")}
    for strategy in sorted(strategies):
        buckets = [
            (_le(bound), values.get(f"render_bucket:{strategy}:{_le(bound)}", 0.0))
            for bound in (*BUCKETS, float("inf"))
        ]
        counters["renders"][strategy] = Histogram(
            buckets=buckets,
            sum=values.get(f"render_sum:{strategy}", 0.0),
            count=values.get(f"render_count:{strategy}", 0.0),
        )
    for name, value in values.items():
        kind, _, label = name.partition(":")
        if kind == "segments" and label in SEGMENT_KINDS:
            counters["segments"][label] = value
        elif kind == "ended" and label:
            counters["ended"][label] = value
    return counters
