"""The watch loop: watchdog observers feed paths to :class:`~.intake.Intake`.

As in watchdog's own design (emitter → queue → dispatcher), the event handler only
filters and hands paths to a queue; everything else runs on the loop thread. The
loop also rescans the roots (inotify drops events when its queue overflows, and
nothing at all arrives while the daemon is down), reaps jobs whose worker died,
sweeps what dead runs left behind, and checks that the observers are alive: a
daemon that is running but deaf is worse than one that has crashed.

An inotify queue overflow is one rescan: the observer is replaced (after a short
debounce, once per burst) and the roots are walked again; the warning is said at
most once a minute. Redis going away is waited out with backoff, said once when
it goes and once when it is back. Anything else unexpected (a Redis that refuses
us, a bug) ends the loop with the error, for the service to exit non-zero.

With ``webhooks`` configured, the watcher also runs their sender
(:class:`~..queue.webhooks.Sender`), a thread of its own.
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
from watchdog.observers.api import DEFAULT_OBSERVER_TIMEOUT, BaseObserver
from watchdog.observers.inotify import InotifyEmitter, InotifyObserver
from watchdog.observers.inotify_c import InotifyEvent, InotifyFD
from watchdog.observers.polling import PollingObserverVFS

from ..queue.connection import UNREACHABLE, refusal
from ..queue.heartbeat import announce_watcher, forget_watcher
from ..queue.webhooks import Sender
from ..settings import Settings
from ..stamps import now_iso
from .intake import SKIP_DIRS, Intake, may_be_request

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
#: An overflow is acted on once the burst is over: this long without another one,
#: and never later than OVERFLOW_LATEST after the first.
OVERFLOW_QUIET, OVERFLOW_LATEST = 1.0, 10.0
#: The overflow warning is said at most this often (seconds).
OVERFLOW_WARN_EVERY = 60.0
#: Longest pause between attempts while Redis is away.
REDIS_BACKOFF_MAX = 10.0


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


def polled_filesystem(fstype: str) -> bool:
    """Network filesystems, and FUSE ones (sshfs, rclone, bindfs over a share...): on
    those inotify hears only what this machine writes through this mount."""
    return fstype in NETWORK_FILESYSTEMS or fstype == "fuse" or fstype.startswith("fuse.")


def observer_kind(root: Path, setting: str) -> str:
    if setting != "auto":
        return setting
    return "polling" if polled_filesystem(filesystem_type(root)) else "inotify"


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
                elif may_be_request(entry.name):
                    yield entry

    return listdir


class _OverflowReportingFD(InotifyFD):
    """watchdog's inotify reader, except on a queue overflow. watchdog rebuilds every
    watch in place; removing N watches queues N events, so with more folders than
    the queue holds (``max_queued_events``) the rebuild overflows it again, forever,
    at full CPU. Here an overflow is only reported: the watcher replaces the whole
    observer (a new inotify instance; closing the old one queues nothing for
    anyone) and rescans."""

    def __init__(self, on_overflow: Callable[[], None]) -> None:
        super().__init__()
        self._on_overflow = on_overflow

    def handle_event(self, event: InotifyEvent) -> None:
        if event.is_queue_overflow:
            self._on_overflow()  # only sets a flag: the watch loop acts on it
            return
        super().handle_event(event)


class OverflowReportingObserver(InotifyObserver):
    """An inotify observer whose overflows call ``on_overflow`` (see above)."""

    def __init__(self, on_overflow: Callable[[], None]) -> None:
        self._inotify_fd = _OverflowReportingFD(on_overflow)
        self._inotify_fd.start()
        BaseObserver.__init__(
            self, InotifyEmitter, timeout=DEFAULT_OBSERVER_TIMEOUT, inotify_fd=self._inotify_fd
        )


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
                if path and may_be_request(path):
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
        #: Set by the inotify reader on an overflow; the loop acts on it.
        self.overflowed = threading.Event()
        self.overflows = 0  # overflows seen (each burst is one rescan)
        self.rescans_after_overflow = 0
        self._overflow_first: float | None = None
        self._overflow_last = 0.0
        self._overflow_unsaid = 0
        self._overflow_said_at = -OVERFLOW_WARN_EVERY
        self.redis_away = False
        self._redis_delay = 0.5
        self.last_scan: str | None = None

    # -- observers --------------------------------------------------------------
    def _make(self, kind: str) -> BaseObserver:
        if kind == "polling":
            return PollingObserverVFS(
                os.stat,
                request_listing(self.settings.roots, self.settings.project_depth),
                polling_interval=self.settings.poll_interval,
            )
        return OverflowReportingObserver(self.overflowed.set)

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

    def _note_overflow(self) -> None:
        """Coalesce a burst of overflows into one replacement and rescan."""
        if not self.overflowed.is_set():
            return
        self.overflowed.clear()
        now = time.monotonic()
        self.overflows += 1
        self._overflow_unsaid += 1
        self._overflow_last = now
        if self._overflow_first is None:
            self._overflow_first = now
        if now - self._overflow_said_at >= OVERFLOW_WARN_EVERY:
            log.warning(
                "inotify dropped events (its queue overflowed%s); rescanning the roots",
                f" {self._overflow_unsaid} times" if self._overflow_unsaid > 1 else "",
            )
            self._overflow_said_at, self._overflow_unsaid = now, 0

    def _recover_from_overflow(self) -> None:
        first = self._overflow_first
        if first is None:
            return
        now = time.monotonic()
        if now - self._overflow_last < OVERFLOW_QUIET and now - first < OVERFLOW_LATEST:
            return
        self._overflow_first = None
        # A fresh inotify instance (watches for folders made while events were lost,
        # too), then one walk for the requests whose events were dropped.
        self.stop_observers()
        try:
            self.start_observers()
        except OSError as exc:
            log.error("cannot watch the roots: %s", exc)
            self.stop_observers()
        self.intake.scan()
        self.rescans_after_overflow += 1

    def _redis_lost(self, exc: RedisError) -> float:
        """Say it once; returns how long to wait before trying again."""
        if not self.redis_away:
            log.error("Redis is unreachable (%s); watching on, retrying with backoff", exc)
        self.redis_away = True
        self.intake.redis_was_away()
        self._redis_delay = min(self._redis_delay * 2, REDIS_BACKOFF_MAX)
        return self._redis_delay

    def _redis_back(self) -> None:
        if self.redis_away:
            log.warning("Redis is reachable again")
        self.redis_away = False
        self._redis_delay = 0.5

    def _guarded(self, what: str, action: Callable[[], object]) -> None:
        """Housekeeping that must not stop the watcher: an error is logged, and the
        next round tries again (Redis errors go to the loop, which waits them out)."""
        try:
            action()
        except RedisError:
            raise
        except Exception:
            log.exception("%s failed; trying again at the next round", what)

    # -- the loop ---------------------------------------------------------------
    def run(self) -> None:
        """Watch until :meth:`stop`; raises :class:`ObserverFailed` if watching is impossible."""
        for root in self.settings.roots:
            if not root.is_dir():
                raise ObserverFailed(f"watch root {root} is not a folder")
        self.start_observers()
        next_scan = 0.0  # catch-up: requests dropped while the daemon was down
        next_sweep = 0.0  # and what dead runs left, before anything new starts
        next_beat = 0.0
        sender = Sender(self.intake.conn, self.settings) if self.settings.webhooks else None
        if sender is not None:
            sender.start()
        try:
            while not self.stopping.is_set():
                self._drain(timeout=0.2)
                self._note_overflow()
                self._recover_from_overflow()
                try:
                    if time.monotonic() >= next_beat:
                        announce_watcher(
                            self.intake.conn,
                            self.name,
                            [str(r) for r in self.settings.roots],
                            self.observers_alive(),
                            self.last_scan,
                        )
                        next_beat = time.monotonic() + 1.0
                    if time.monotonic() >= next_scan:
                        self._guarded("reaping dead workers' jobs", self.intake.reap_abandoned)
                        self.intake.scan()
                        self.last_scan = now_iso()
                        next_scan = time.monotonic() + self.settings.rescan_interval
                        next_beat = 0.0  # say so at once (/metrics, assemblyd status)
                    if time.monotonic() >= next_sweep:
                        self._guarded("sweeping dead runs' leftovers", self.intake.sweep)
                        next_sweep = time.monotonic() + self.settings.sweep_interval
                    for path, outcome in self.intake.settle():
                        log.debug("%s: %s", path, outcome)
                    self._redis_back()
                except RedisError as exc:
                    refused = refusal(exc, self.settings)
                    if refused is not None:
                        raise refused from None  # waiting would not help: say what to fix
                    if not isinstance(exc, UNREACHABLE):
                        raise  # not "away": something unexpected; the service exits 1
                    # Keep watching; pending requests are retried when Redis is back.
                    delay = self._redis_lost(exc)
                    next_scan = time.monotonic() + min(delay, self.settings.rescan_interval)
                    self.stopping.wait(delay)
                self.check_observers()
        finally:
            if sender is not None:
                sender.stop()
                sender.join(timeout=self.settings.webhook_timeout + 5)
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
