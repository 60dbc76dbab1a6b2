"""``assemblyd up`` and ``assemblyd watch``: the daemon and its helpers, as one service.

One process owns everything it starts: the embedded redis-server (when no Redis URL
is configured), the worker processes and the watch loop (and, with issue 4, the web
app). SIGINT or SIGTERM stops them all in order; every child is also set to die
with this process, so even a SIGKILL leaves no redis-server, worker or ffmpeg.

A render interrupted by the shutdown is put back: its job is removed from Redis and
its status file says ``queued`` again, so the next start runs it from scratch.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from redis import Redis
from rq.registry import StartedJobRegistry
from rq.serializers import JSONSerializer

from . import fanout, jobqueue
from .errors import JobNotFound
from .intake import Intake
from .lifecycle import die_with_parent
from .project import ProjectFile
from .publish import remove_partials
from .redis_server import EmbeddedRedis, connect
from .settings import Settings, map_path
from .status import StatusFile
from .watcher import ObserverFailed, Watcher
from .worker import worker_name_for

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
            [sys.executable, "-m", "daemon", "worker"],
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
                from web.server import WebServer

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
        return 1 if isinstance(self.failure, ObserverFailed | OSError) else 0

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


def requeue_interrupted(conn: Redis, settings: Settings, worker_pids: list[int]) -> list[str]:
    """Put back the jobs our stopped workers were running: the next start redoes them."""
    ours = {worker_name_for(pid) for pid in worker_pids}
    registry = StartedJobRegistry(settings.queue_name, connection=conn, serializer=JSONSerializer)
    requeued = []
    for job_id in registry.get_job_ids(cleanup=False):
        try:
            job = jobqueue.fetch(conn, job_id)
        except JobNotFound:
            continue
        if job.worker_name not in ours:
            continue
        # A part or the join of a split request: it is the request that goes back.
        root = jobqueue.fetch(conn, job.meta["parent"]) if job.meta.get("parent") else job
        if root.id in requeued:
            continue
        for child_id in fanout.children(root.meta):
            with contextlib.suppress(JobNotFound):
                jobqueue.fetch(conn, child_id).delete()
        request = Path(map_path(root.meta["request"], settings))
        root.delete()
        StatusFile(request).write(
            job_id=root.id,
            state="queued",
            stage="queued",
            progress=0.0,
            error={
                "code": "interrupted",
                "message": "interrupted by a shutdown; runs again at start",
            },
        )
        remove_partials(request.parent, root.id)
        ProjectFile(request.parent).update(root.id, status="interrupted")
        requeued.append(root.id)
    return requeued
