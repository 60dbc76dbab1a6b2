"""``assemblyd up`` and ``assemblyd watch``: the daemon and its helpers, as one service.

One process owns everything it starts: the embedded redis-server (when no Redis URL
is configured), the worker processes, the watch loop and the web app. SIGINT or
SIGTERM stops them all in order; every child is also set to die
with this process, so even a SIGKILL leaves no redis-server, worker or ffmpeg.

A render interrupted by the shutdown is put back: its job is removed from Redis and
its status file says ``queued`` again, so the next start runs it from scratch.

The service supervises what it started. An embedded redis-server that dies is
restarted from its append-only file (more than ``MAX_REDIS_RESTARTS`` deaths in ten
minutes is a failure of the machinery: exit 1, for systemd). A worker that exits is
replaced, after a pause that doubles while replacements keep dying young (a Redis
away, a broken install): never a respawn storm. Only failures of this machinery
make the service exit non-zero; a bad request file never does.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from types import FrameType

from redis import RedisError

from .errors import ServiceError
from .lifecycle import die_with_parent
from .queue.connection import connect
from .queue.embedded import EmbeddedRedis
from .queue.reaper import requeue_interrupted
from .settings import Settings
from .watch.intake import Intake
from .watch.watcher import Watcher

log = logging.getLogger(__name__)

#: RQ treats a second SIGTERM more than a second after the first as "stop now".
_COLD_SHUTDOWN_AFTER = 1.5
#: More embedded redis-server deaths than this in ten minutes: give up, exit 1.
MAX_REDIS_RESTARTS = 5
#: A worker that lived this long died of something new: replace it at once.
#: Younger deaths double the pause before the next replacement, up to the cap.
WORKER_GRACE, WORKER_PAUSE_MAX = 60.0, 60.0


class Service:
    def __init__(
        self, settings: Settings, workers: int, watch: bool = True, web: bool = False
    ) -> None:
        self.settings = settings
        self.worker_count = workers
        self.watch = watch
        self.web = web
        self.stop_event = threading.Event()
        self.workers: list[subprocess.Popen[bytes] | None] = []
        self.failure: BaseException | None = None
        self.redis_deaths: list[float] = []
        self.respawns = 0  # workers replaced (for tests and logs)
        self._started: list[float] = []
        self._pause: list[float] = []
        self._respawn_at: list[float] = []

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        self.stop_event.set()

    def _spawn_worker(self, url: str) -> subprocess.Popen[bytes]:
        # The roots too: a worker finds the shared segment cache (<root>/.assemblyd-cache)
        # through them, as the watcher's housekeeping does.
        roots = json.dumps([str(root) for root in self.settings.roots])
        env = {**os.environ, "ASSEMBLYD_REDIS_URL": url, "ASSEMBLYD_ROOTS": roots}
        # Own session, so that a terminal's Ctrl-C reaches only us and the
        # shutdown below happens in order; die_with_parent covers our own death.
        return subprocess.Popen(
            [sys.executable, "-m", "assemblyd", "worker"],
            env=env,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )

    def _watch(self, watcher: Watcher) -> None:
        try:
            watcher.run()
        except BaseException as exc:  # surfaced by run(): the service exits non-zero
            log.error("watcher stopped: %s", exc)
            self.failure = exc
            self.stop_event.set()

    def run(self) -> int:
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        embedded = None if self.settings.redis_url else EmbeddedRedis(self.settings.state_dir)
        url = embedded.start() if embedded else str(self.settings.redis_url)
        conn = connect(url)
        watcher = Watcher(self.settings, Intake(conn, self.settings)) if self.watch else None
        thread = (
            threading.Thread(target=self._watch, args=(watcher,), name="watch") if watcher else None
        )
        server = None
        try:
            self.workers = [self._spawn_worker(url) for _ in range(self.worker_count)]
            now = time.monotonic()
            self._started = [now] * self.worker_count
            self._pause = [0.0] * self.worker_count
            self._respawn_at = [0.0] * self.worker_count
            if thread:
                thread.start()
            if self.web:
                # The web app (and uvicorn) only when asked for: `assemblyd watch` stays lean.
                from assemblyd.web.server import WebServer

                server = WebServer(self.settings, url)
                server.start()
            print(
                f"assemblyd: up, redis {url}, {self.worker_count} worker(s), "
                f"roots {', '.join(map(str, self.settings.roots)) or '-'}"
                + (f", dashboard {server.url}" if server else ""),
                file=sys.stderr,
            )
            while not self.stop_event.wait(0.5):
                if embedded is not None:
                    self._supervise_redis(embedded)
                self._supervise_workers(url)
        finally:
            if server:
                server.stop()
            if watcher and thread and thread.is_alive():
                watcher.stop()
                thread.join(timeout=10)
            pids = [p.pid for p in self.workers if p is not None]
            self._stop_workers()
            try:
                requeue_interrupted(conn, self.settings, pids)
            except RedisError as exc:
                log.warning(
                    "Redis is unreachable (%s): jobs interrupted by this shutdown are "
                    "settled at the next start",
                    exc,
                )
            except Exception:
                log.exception("could not requeue interrupted jobs")
            if embedded:
                embedded.stop()
        # Any failure of our own machinery is a non-zero exit, for systemd to restart us.
        return 1 if self.failure is not None else 0

    def _supervise_redis(self, embedded: EmbeddedRedis) -> None:
        """Restart a dead embedded redis-server from its append-only file."""
        if embedded.alive():
            return
        now = time.monotonic()
        self.redis_deaths = [t for t in self.redis_deaths if now - t < 600] + [now]
        if len(self.redis_deaths) > MAX_REDIS_RESTARTS:
            self.failure = ServiceError(
                f"the embedded redis-server died {len(self.redis_deaths)} times in ten "
                "minutes; see its log",
                path=str(self.settings.state_dir / "redis.log"),
            )
            log.error("%s", self.failure)
            self.stop_event.set()
            return
        log.error(
            "the embedded redis-server exited (%s); restarting it from its append-only file",
            embedded.exit_status(),
        )
        try:
            embedded.start()
        except ServiceError as exc:  # tried again at the next tick, counted as a death
            log.error("could not restart redis-server: %s", exc)

    def _supervise_workers(self, url: str) -> None:
        now = time.monotonic()
        for i, proc in enumerate(self.workers):
            if proc is not None:
                if proc.poll() is None:
                    continue
                lived = now - self._started[i]
                pause = 0.0 if lived >= WORKER_GRACE else max(1.0, self._pause[i] * 2)
                self._pause[i] = min(pause, WORKER_PAUSE_MAX)
                self._respawn_at[i] = now + self._pause[i]
                self.workers[i] = None
                log.error(
                    "worker %s exited with %s; starting another%s",
                    proc.pid,
                    proc.returncode,
                    f" in {self._pause[i]:.0f} s" if self._pause[i] else "",
                )
            if now >= self._respawn_at[i]:
                self.workers[i] = self._spawn_worker(url)
                self._started[i] = now
                self.respawns += 1

    def _stop_workers(self) -> None:
        alive = [p for p in self.workers if p is not None and p.poll() is None]
        for proc in alive:
            proc.send_signal(signal.SIGTERM)  # warm: an idle worker exits at once
        deadline = time.monotonic() + _COLD_SHUTDOWN_AFTER
        while time.monotonic() < deadline and any(p.poll() is None for p in alive):
            time.sleep(0.05)
        for proc in alive:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # cold: RQ kills the horse's process group
        for proc in alive:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
