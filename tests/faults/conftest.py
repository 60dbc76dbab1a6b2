"""Helpers for breaking things on purpose: the daemon as a studio runs it, and the
hostile files it must survive."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import stat
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from assemblyd.records.status import StatusFile
from tests.conftest import Daemon, clean_env

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
