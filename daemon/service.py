"""``assemblyd up`` and ``assemblyd watch``: the daemon and its helpers, as one service.

One process owns everything it starts: the embedded redis-server (when no Redis URL
is configured), the worker processes, the watch loop and the web app. SIGINT or
SIGTERM stops them all in order; every child is also set to die
with this process, so even a SIGKILL leaves no redis-server, worker or ffmpeg.

A render interrupted by the shutdown is put back: its job is removed from Redis and
its status file says ``queued`` again, so the next start runs it from scratch.

Every worker gets the settings in force here, whole (flags, environment and TOML
as this process resolved them; see ``settings.child_environment``): the roots, the
cache, the Redis and its credentials, the job secret, the log level. With
``ffmpeg_threads = 0`` (automatic) and N workers, each worker's ffmpeg gets
``max(1, cores // N)`` threads, so that N renders at once share the cores.

The service supervises what it started. An embedded redis-server that dies is
restarted from its append-only file (more than ``MAX_REDIS_RESTARTS`` deaths in ten
minutes is a failure of the machinery: exit 1, for systemd). A worker that exits is
replaced; one that dies young (within ``WORKER_GRACE``) is replaced after
``worker_respawn_delay``, doubling with each young death in a row up to a minute,
and after ``worker_respawn_limit`` young deaths in a row by its own hand (a crash,
an exit; not a SIGKILL or SIGTERM from outside, such as the OOM killer's) the
service gives up and exits 1: a worker that cannot start will not start the next
time either. The watcher or the
web app stopping on an unexpected error is an exit 1 too. Only failures of this
machinery make the service exit non-zero; a bad request file never does.
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

from redis import RedisError

from .errors import ServiceError
from .lifecycle import die_with_parent
from .queue import signing
from .queue.connection import check, connect, embedded_dir, redis_options, shown_url
from .queue.embedded import EmbeddedRedis
from .queue.reaper import requeue_interrupted
from .queue.views import build_index
from .settings import Settings, child_environment
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


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def threads_per_worker(settings: Settings, workers: int) -> int:
    """ffmpeg threads for each of ``workers`` workers: the setting, or if it is 0
    (automatic) the cores shared out, at least one each."""
    if settings.ffmpeg_threads or workers <= 1:
        return settings.ffmpeg_threads
    return max(1, cores() // workers)


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
        self._respawn_at: list[float] = []
        self._young_deaths: list[int] = []
        self._crashes: list[int] = []  # young deaths in a row, not killed from outside
        self._worker_env: dict[str, str] = {}

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        self.stop_event.set()

    def _spawn_worker(self, url: str) -> subprocess.Popen[bytes]:
        # Own session, so that a terminal's Ctrl-C reaches only us and the
        # shutdown below happens in order; die_with_parent covers our own death.
        return subprocess.Popen(
            [sys.executable, "-m", "assemblyd", "worker"],
            env=self._worker_env,
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
        signing.job_secret(self.settings)  # there is one (made now if embedded), or say so
        embedded = (
            None
            if self.settings.redis_url
            else EmbeddedRedis(embedded_dir(self.settings), self.settings.roots)
        )
        url = embedded.start() if embedded else str(self.settings.redis_url)
        conn = connect(url, **redis_options(self.settings))
        check(conn, self.settings)  # wrong credentials or TLS: one line, exit 2, before anything
        try:
            build_index(conn, self.settings)
        except RedisError as exc:  # Redis away: the lists fill as jobs come
            log.warning("cannot index the jobs already in Redis yet: %s", exc)
        threads = threads_per_worker(self.settings, self.worker_count)
        self._worker_env = child_environment(self.settings, ffmpeg_threads=threads)
        watcher = Watcher(self.settings, Intake(conn, self.settings)) if self.watch else None
        thread = (
            threading.Thread(target=self._watch, args=(watcher,), name="watch") if watcher else None
        )
        server = None
        try:
            self.workers = [self._spawn_worker(url) for _ in range(self.worker_count)]
            now = time.monotonic()
            self._started = [now] * self.worker_count
            self._respawn_at = [0.0] * self.worker_count
            self._young_deaths = [0] * self.worker_count
            self._crashes = [0] * self.worker_count
            if thread:
                thread.start()
            if self.web:
                # The web app (and uvicorn) only when asked for: `assemblyd watch` stays lean.
                from assemblyd.web.server import WebServer

                server = WebServer(self.settings, url)
                server.start()
            print(
                f"assemblyd: up, redis {shown_url(url)}, {self.worker_count} worker(s)"
                + (f" ({threads} ffmpeg thread(s) each)" if threads else "")
                + f", roots {', '.join(map(str, self.settings.roots)) or '-'}"
                + (f", dashboard {server.url}" if server else ""),
                file=sys.stderr,
            )
            while not self.stop_event.wait(0.5):
                if embedded is not None:
                    self._supervise_redis(embedded)
                self._supervise_workers(url)
                if server is not None and not server.alive():
                    self.failure = ServiceError(f"the web app stopped: {server.error}")
                    log.error("%s", self.failure)
                    self.stop_event.set()
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
                path=str(embedded.state_dir / "redis.log"),
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
        first = self.settings.worker_respawn_delay
        for i, proc in enumerate(self.workers):
            if proc is not None:
                if proc.poll() is None:
                    continue
                lived = now - self._started[i]
                young = lived < WORKER_GRACE
                self._young_deaths[i] = self._young_deaths[i] + 1 if young else 0
                # Killed from outside (the OOM killer, an operator): no reason to
                # think the next one cannot start. Paused all the same, never given up.
                killed = proc.returncode in (-signal.SIGKILL, -signal.SIGTERM)
                if not young:
                    self._crashes[i] = 0
                elif not killed:
                    self._crashes[i] += 1
                self.workers[i] = None
                if self._crashes[i] >= self.settings.worker_respawn_limit:
                    self.failure = ServiceError(
                        f"a worker died {self._crashes[i]} times in a row within "
                        f"{WORKER_GRACE:.0f} s of starting (last exit status {proc.returncode}); "
                        "giving up (worker_respawn_limit). Its errors are above."
                    )
                    log.error("%s", self.failure)
                    self.stop_event.set()
                    return
                pause = first * 2 ** (self._young_deaths[i] - 1) if young else 0.0
                pause = min(pause, WORKER_PAUSE_MAX)
                self._respawn_at[i] = now + pause
                log.error(
                    "worker %s exited with %s; starting another%s",
                    proc.pid,
                    proc.returncode,
                    f" in {pause:.1f} s" if pause else "",
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
