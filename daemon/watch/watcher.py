"""The watch loop: watchdog observers feed paths to :class:`~.intake.Intake`.

As in watchdog's own design (emitter → queue → dispatcher), the event handler only
filters and hands paths to a queue; everything else runs on the loop thread. The
loop also rescans the roots (inotify drops events when its queue overflows, and
nothing at all arrives while the daemon is down), reaps jobs whose worker died,
and checks that the observers are alive: a daemon that is running but deaf is
worse than one that has crashed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
from redis import RedisError
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers.api import BaseObserver
from watchdog.observers.inotify import InotifyObserver
from watchdog.observers.polling import PollingObserverVFS

from ..queue.heartbeat import announce_watcher, forget_watcher
from ..request.model import is_request_file
from ..settings import Settings
from .intake import SKIP_DIRS, Intake

log = logging.getLogger(__name__)

#: Filesystems where inotify hears only this machine's writes.
NETWORK_FILESYSTEMS = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb",
        "smb2",
        "smb3",
        "smbfs",
        "sshfs",
        "fuse.sshfs",
        "9p",
        "afs",
        "ceph",
        "fuse.ceph",
        "glusterfs",
        "fuse.glusterfs",
        "lustre",
        "gpfs",
        "beegfs",
        "davfs",
        "fuse.rclone",
        "fuse.s3fs",
        "fuse.gcsfuse",
    }
)
#: More observer restarts than this within ten minutes means something is badly wrong:
#: exit non-zero and let systemd restart the whole daemon.
MAX_RESTARTS = 5


class ObserverFailed(RuntimeError):
    pass


def filesystem_type(path: Path) -> str:
    best, fstype = "", "unknown"
    target = str(path.resolve())
    for part in psutil.disk_partitions(all=True):
        mount = part.mountpoint.rstrip("/") or "/"
        if (target == mount or target.startswith(mount.rstrip("/") + "/")) and len(mount) > len(
            best
        ):
            best, fstype = mount, part.fstype
    return fstype


def observer_kind(root: Path, setting: str) -> str:
    if setting != "auto":
        return setting
    return "polling" if filesystem_type(root) in NETWORK_FILESYSTEMS else "inotify"


def request_listing(roots: list[Path], depth: int) -> Callable[[str | None], Iterator[Any]]:
    """``os.scandir`` for the polling observer, cut down to what can hold a request.

    Polling compares a snapshot of every listed entry each ``poll_interval``. A NAS
    root holds whole productions, hundreds of thousands of media files; listing only
    request files and the folders a project may be (no hidden ones, no ``exports/``,
    nothing deeper than ``project_depth``) keeps each poll to a few directory reads.
    """

    def listdir(path: str | None) -> Iterator[Any]:
        folder = Path(path or ".")
        root = next((r for r in roots if folder.is_relative_to(r)), folder)
        level = len(folder.relative_to(root).parts)
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.startswith(".") or entry.name in SKIP_DIRS:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    if level < depth:
                        yield entry
                elif is_request_file(entry.name):
                    yield entry

    return listdir


class RequestEvents(FileSystemEventHandler):
    """Filters events down to request-file paths and queues them. Nothing more:
    an exception escaping a handler would kill watchdog's dispatcher thread."""

    def __init__(self, inbox: queue.SimpleQueue[Path]) -> None:
        self.inbox = inbox

    def on_any_event(self, event: FileSystemEvent) -> None:
        try:
            if event.is_directory or event.event_type in ("deleted", "opened", "closed_no_write"):
                return
            for raw in (event.src_path, event.dest_path):
                path = os.fsdecode(raw)
                if path and is_request_file(path):
                    self.inbox.put(Path(path))
        except Exception:  # pragma: no cover - defensive: never let the thread die
            log.exception("event handler failed on %r", event)


class Watcher:
    def __init__(self, settings: Settings, intake: Intake) -> None:
        self.settings = settings
        self.intake = intake
        self.inbox: queue.SimpleQueue[Path] = queue.SimpleQueue()
        self.observers: dict[str, BaseObserver] = {}
        self.restarts: list[float] = []
        self.kinds = {root: observer_kind(root, settings.observer) for root in settings.roots}
        self.stopping = threading.Event()
        self.name = f"{socket.gethostname()}:{os.getpid()}"

    # -- observers --------------------------------------------------------------
    def _make(self, kind: str) -> BaseObserver:
        if kind == "polling":
            return PollingObserverVFS(
                os.stat,
                request_listing(self.settings.roots, self.settings.project_depth),
                polling_interval=self.settings.poll_interval,
            )
        return InotifyObserver()

    def start_observers(self) -> None:
        handler = RequestEvents(self.inbox)
        for kind in sorted(set(self.kinds.values())):
            observer = self._make(kind)
            for root, root_kind in self.kinds.items():
                if root_kind == kind:
                    observer.schedule(handler, str(root), recursive=True)
            observer.start()
            self.observers[kind] = observer
            log.info(
                "watching %s with %s", [str(r) for r, k in self.kinds.items() if k == kind], kind
            )

    def stop_observers(self) -> None:
        for observer in self.observers.values():
            observer.stop()
        for observer in self.observers.values():
            if observer.is_alive():
                observer.join(timeout=5)
        self.observers.clear()

    def observers_alive(self) -> bool:
        return bool(self.observers) and all(
            obs.is_alive() and obs.emitters and all(e.is_alive() for e in obs.emitters)
            for obs in self.observers.values()
        )

    def check_observers(self) -> None:
        if self.observers_alive():
            return
        now = time.monotonic()
        self.restarts = [t for t in self.restarts if now - t < 600] + [now]
        if len(self.restarts) > MAX_RESTARTS:
            raise ObserverFailed(f"file observers died {len(self.restarts)} times in ten minutes")
        log.error("a file observer died; restarting it and rescanning")
        self.stop_observers()
        try:
            self.start_observers()
        except OSError as exc:  # a root that vanished (NAS unmounted): retry next tick
            log.error("cannot watch the roots: %s", exc)
            self.stop_observers()
            return
        self.intake.scan()

    # -- the loop ---------------------------------------------------------------
    def run(self) -> None:
        """Watch until :meth:`stop`; raises :class:`ObserverFailed` if watching is impossible."""
        for root in self.settings.roots:
            if not root.is_dir():
                raise ObserverFailed(f"watch root {root} is not a folder")
        self.start_observers()
        next_scan = 0.0  # catch-up: requests dropped while the daemon was down
        next_beat = 0.0
        try:
            while not self.stopping.is_set():
                self._drain(timeout=0.2)
                try:
                    if time.monotonic() >= next_beat:
                        announce_watcher(
                            self.intake.conn,
                            self.name,
                            [str(r) for r in self.settings.roots],
                            self.observers_alive(),
                        )
                        next_beat = time.monotonic() + 1.0
                    if time.monotonic() >= next_scan:
                        self.intake.reap_abandoned()
                        self.intake.scan()
                        next_scan = time.monotonic() + self.settings.rescan_interval
                    for path, outcome in self.intake.settle():
                        log.debug("%s: %s", path, outcome)
                except RedisError as exc:
                    # Keep watching; pending requests are retried when Redis is back.
                    log.error("redis unavailable: %s", exc)
                    next_scan = time.monotonic() + min(5.0, self.settings.rescan_interval)
                    self.stopping.wait(1.0)
                self.check_observers()
        finally:
            self.stop_observers()
            with contextlib.suppress(RedisError):
                forget_watcher(self.intake.conn, self.name)

    def _drain(self, timeout: float) -> None:
        try:
            self.intake.offer(self.inbox.get(timeout=timeout))
            while True:
                self.intake.offer(self.inbox.get_nowait())
        except queue.Empty:
            pass

    def stop(self) -> None:
        self.stopping.set()
