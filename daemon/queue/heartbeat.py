"""Liveness of the watchers, kept in Redis.

Each running watcher refreshes ``WATCHER_KEY + host:pid`` (TTL ``WATCHER_TTL``) so
that /healthz, in another process or on another machine, can tell it is alive.
"""

from __future__ import annotations

import json
from typing import TypedDict

from redis import Redis

from ..stamps import now_iso

WATCHER_KEY = "assemblyd:watcher:"
WATCHER_TTL = 10


class WatcherBeat(TypedDict):
    name: str
    roots: list[str]
    observers_alive: bool
    at: str
    #: When it last walked its roots (a full rescan), if it has.
    last_scan: str | None


def announce_watcher(
    conn: Redis, name: str, roots: list[str], observers_alive: bool, last_scan: str | None = None
) -> None:
    beat = WatcherBeat(
        name=name, roots=roots, observers_alive=observers_alive, at=now_iso(), last_scan=last_scan
    )
    conn.set(WATCHER_KEY + name, json.dumps(beat), ex=WATCHER_TTL)


def forget_watcher(conn: Redis, name: str) -> None:
    conn.delete(WATCHER_KEY + name)


def live_watchers(conn: Redis) -> list[WatcherBeat]:
    beats: list[WatcherBeat] = []
    for key in conn.scan_iter(match=WATCHER_KEY + "*"):
        raw = conn.get(key)
        try:
            beat = json.loads(raw) if raw else None
        except ValueError:
            continue
        if isinstance(beat, dict) and isinstance(beat.get("name"), str):
            beats.append(
                WatcherBeat(
                    name=beat["name"],
                    roots=[r for r in beat.get("roots", []) if isinstance(r, str)],
                    observers_alive=beat.get("observers_alive") is True,
                    at=str(beat.get("at", "")),
                    last_scan=beat["last_scan"] if isinstance(beat.get("last_scan"), str) else None,
                )
            )
    return beats
