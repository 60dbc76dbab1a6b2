"""``assemblyd up`` and ``assemblyd watch``: the daemon and its helpers, as one service.

One process owns everything it starts: the embedded redis-server (when no Redis URL
is configured), the worker processes, the watch loop and the web app. SIGINT or
SIGTERM stops them all in order; every child is also set to die
with this process, so even a SIGKILL leaves no redis-server, worker or ffmpeg.

A render interrupted by the shutdown is put back: its job is removed from Redis and
its status file says ``queued`` again, so the next start runs it from scratch.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from types import FrameType

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


class Service:
    def __init__(
        self, settings: Settings, workers: int, watch: bool = True, web: bool = False
    ) -> None:
        self.settings = settings
        self.worker_count = workers
        self.watch = watch
        self.web = web
        self.stop_event = threading.Event()
        self.workers: list[subprocess.Popen[bytes]] = []
        self.failure: BaseException | None = None

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        self.stop_event.set()

    def _spawn_worker(self, url: str) -> subprocess.Popen[bytes]:
        env = {**os.environ, "ASSEMBLYD_REDIS_URL": url}
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
                for i, proc in enumerate(self.workers):
                    if proc.poll() is not None:
                        log.error(
                            "worker %s exited with %s; starting another", proc.pid, proc.returncode
                        )
                        self.workers[i] = self._spawn_worker(url)
        finally:
            if server:
                server.stop()
            if watcher and thread and thread.is_alive():
                watcher.stop()
                thread.join(timeout=10)
            pids = [p.pid for p in self.workers]
            self._stop_workers()
            try:
                requeue_interrupted(conn, self.settings, pids)
            except Exception:
                log.exception("could not requeue interrupted jobs")
            if embedded:
                embedded.stop()
        # Any failure of our own machinery is a non-zero exit, for systemd to restart us.
        return 1 if self.failure is not None else 0

    def _stop_workers(self) -> None:
        alive = [p for p in self.workers if p.poll() is None]
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
