"""Process lifetime helpers: children that cannot outlive their parent, the owner
tags that let a sweep tell a dead process's temporary files from a live one's, and
handing freed memory back."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import signal
import socket
import sys
from functools import cache

import psutil

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Ask the kernel to send ``sig`` to this process when its parent dies.

    Used in ``preexec_fn`` for redis-server and workers, and by the RQ work horse:
    if the daemon or a worker is SIGKILLed, nothing it started keeps running.
    Linux only; elsewhere this is a no-op and orderly shutdown has to suffice.
    """
    if not sys.platform.startswith("linux"):
        return
    _libc().prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)


@cache
def _libc() -> ctypes.CDLL:
    # find_library runs ldconfig in a subprocess: once per process is enough.
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def release_freed_memory() -> None:
    """Give memory that was freed back to the system (glibc's ``malloc_trim``).

    FFmpeg's decoders allocate frame-sized buffers; once glibc has seen one freed it
    serves the next from its heap rather than a fresh mapping, and a heap fragmented
    by a hundred probes or thumbnails keeps its high-water mark: 230 MB after probing
    100 1080p shots, 38 MB once trimmed. Called after those stages, it keeps a long
    job's (and a long-lived worker's) footprint to what it is using. A no-op where
    the C library has no ``malloc_trim`` (musl, macOS)."""
    if not sys.platform.startswith("linux"):
        return
    trim = getattr(_libc(), "malloc_trim", None)
    if trim is not None:
        trim(0)


def process_tag() -> str:
    """``<host>-<pid>``: who owns a temporary file, written into its name, so that a
    sweep can tell a dead process's leftovers from a live one's work. The host part
    is letters and digits only (names split on dots and dashes stay parseable)."""
    host = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:32] or "host"
    return f"{host}-{os.getpid()}"


_TAG = re.compile(r"^(?P<host>[A-Za-z0-9]+)-(?P<pid>[0-9]+)$")


def owner_gone(tag: str, since: float) -> bool | None:
    """Is the process ``tag`` names gone? ``since`` is when its file last changed.
    None when it cannot be told here (another host's process, or no tag)."""
    match = _TAG.match(tag)
    if match is None or match["host"] != process_tag().rsplit("-", 1)[0]:
        return None
    try:
        proc = psutil.Process(int(match["pid"]))
        # A pid reused by a process born after the file was last written is not its owner.
        return proc.create_time() > since + 1.0 or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:  # ZombieProcess included
        return True
    except psutil.AccessDenied:  # someone else's process: alive
        return False
