"""Process lifetime helpers: children that cannot outlive their parent."""

from __future__ import annotations

import ctypes
import ctypes.util
import signal
import sys

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Ask the kernel to send ``sig`` to this process when its parent dies.

    Used in ``preexec_fn`` for redis-server and workers, and by the RQ work horse:
    if the daemon or a worker is SIGKILLed, nothing it started keeps running.
    Linux only; elsewhere this is a no-op and orderly shutdown has to suffice.
    """
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
