"""Intake: from "a request file was seen" to "it is admitted", once it has settled.

Events and scans only *offer* paths. A request is acted on once it has settled (its
size and mtime unchanged for ``stable_seconds`` of this machine's clock, which
copes with NAS clock skew); what happens then is :func:`..queue.admission.admit`'s
decision.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from redis import Redis

from ..queue.admission import admit
from ..queue.reaper import reap_abandoned
from ..request.model import is_request_file
from ..settings import Settings

log = logging.getLogger(__name__)

#: Folders that never hold projects: our own output, and dot-folders (.git, .Trash…).
SKIP_DIRS = {"exports"}


@dataclass
class _Pending:
    stat: tuple[int, int]
    since: float


class Intake:
    def __init__(
        self, conn: Redis, settings: Settings, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.conn, self.settings, self.clock = conn, settings, clock
        self.pending: dict[Path, _Pending] = {}

    # -- which paths count ------------------------------------------------------
    def root_of(self, path: Path) -> Path | None:
        for root in self.settings.roots:
            if path.is_relative_to(root):
                return root
        return None

    def accepts(self, path: Path) -> bool:
        root = self.root_of(path)
        if root is None or not is_request_file(path):
            return False
        folders = path.relative_to(root).parts[:-1]
        if len(folders) > self.settings.project_depth:
            return False
        return not any(p.startswith(".") or p in SKIP_DIRS for p in folders)

    # -- offers and settling ------------------------------------------------------
    def offer(self, path: Path) -> None:
        if not self.accepts(path):
            return
        key = _stat_key(path)
        if key is None:
            self.pending.pop(path, None)
            return
        known = self.pending.get(path)
        if known is None or known.stat != key:
            self.pending[path] = _Pending(key, self.clock())

    def settle(self) -> list[tuple[Path, str]]:
        """Process every pending request that has stopped changing."""
        done: list[tuple[Path, str]] = []
        now = self.clock()
        for path, pending in list(self.pending.items()):
            key = _stat_key(path)
            if key is None:
                del self.pending[path]
            elif key != pending.stat:
                self.pending[path] = _Pending(key, now)
            elif now - pending.since >= self.settings.stable_seconds:
                del self.pending[path]
                try:
                    done.append((path, admit(self.conn, self.settings, path)))
                except OSError as exc:  # e.g. a read-only project folder: say so, carry on
                    log.error("cannot process %s: %s", path, exc)
                    done.append((path, "error"))
        return done

    # -- scans ------------------------------------------------------------------
    def walk(self) -> Iterator[Path]:
        for root in self.settings.roots:
            base_depth = len(root.parts)
            for folder, dirs, files in os.walk(root):
                depth = len(Path(folder).parts) - base_depth
                dirs[:] = (
                    []
                    if depth >= self.settings.project_depth
                    else [d for d in dirs if not d.startswith(".") and d not in SKIP_DIRS]
                )
                for name in files:
                    if is_request_file(name):
                        yield Path(folder) / name

    def scan(self) -> None:
        """Offer every request under the roots: catch-up at start, then periodically."""
        for path in self.walk():
            self.offer(path)

    def reap_abandoned(self) -> None:
        """Fail jobs whose worker died. RQ's workers do this only every ten minutes."""
        reap_abandoned(self.conn, self.settings)


def _stat_key(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns
