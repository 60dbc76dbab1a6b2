"""Helpers for breaking things on purpose: the daemon as a studio runs it, and the
hostile files it must survive."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from assemblyd.records.status import StatusFile

# The real app on a loopback port (tests/web's fixtures), for the API's faults.
from tests.web.conftest import app, project_with, start_app  # noqa: F401


def status_of(request: Path) -> dict[str, Any]:
    return dict(StatusFile(request).read())


def problem_codes(request: Path) -> list[str]:
    error = status_of(request).get("error") or {}
    return [p["code"] for p in error.get("problems", [])]


@pytest.fixture
def short_state() -> Iterator[Path]:
    """A state dir short enough for a Unix socket path."""
    path = Path(tempfile.mkdtemp(prefix="asm-f-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without the suite's ASSEMBLYD_* settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSEMBLYD_")}
    env.update(extra)
    return env


class Daemon:
    """`assemblyd up` (or `watch`) as a process, with its stderr in a file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log_path = log
        self._log = log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "assemblyd", *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def running(self) -> bool:
        return self.proc.poll() is None

    def tree(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def stop(self, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            self._log.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._log.close()


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Callable[..., Daemon]]:
    """Start `assemblyd <command> --root ROOT ...`; everything is stopped afterwards,
    and nothing it started may outlive it."""
    started: list[Daemon] = []

    def start(command: str, root: Path, *args: str, **env: str) -> Daemon:
        log = tmp_path / f"{command}-{len(started)}.log"
        d = Daemon(
            [command, "--root", str(root), *args],
            clean_env(**{"ASSEMBLYD_LOG_LEVEL": "WARNING", **env}),
            log,
        )
        started.append(d)
        return d

    yield start
    for d in started:
        children = d.tree()
        with contextlib.suppress(subprocess.TimeoutExpired):
            d.stop(30)
        d.kill()
        _, alive = psutil.wait_procs(children, timeout=10)
        for proc in alive:
            with contextlib.suppress(psutil.Error):
                proc.kill()


# --- hostile files ----------------------------------------------------------------


def nested_json(path: Path, depth: int = 100_000) -> Path:
    path.write_bytes(b"[" * depth + b"]" * depth)
    return path


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def unix_socket(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    return sock


def char_device(path: Path) -> Path | None:
    """A character device node (the same as /dev/null), if this process may make one."""
    try:
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 3))
    except (PermissionError, OSError):
        return None
    return path
