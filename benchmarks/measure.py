"""Measuring: running a command while sampling its process tree, and the machine around it.

A command runs as its own subprocess. Wall time is ``time.perf_counter`` around it
(start-up included); peak memory is the largest RSS summed over the process and all
its descendants, sampled on a thread; CPU time is the user + system time of every
process in the tree that was waited for (``RUSAGE_CHILDREN``), which other load on
the machine inflates far less than wall time. ``others`` is the CPU time the rest of
the machine used meanwhile (all cores' busy time minus the tree's and this process's):
divided by the wall time, how many cores other work took from the run.
"""

from __future__ import annotations

import hashlib
import os
import resource
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

MB = 1024 * 1024
#: The repository root (benchmarks/ is one of its folders).
REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Measurement:
    wall: float
    peak_rss: int
    cpu: float
    others: float
    result: subprocess.CompletedProcess[str]
    #: The largest single process seen: (name, RSS in bytes).
    largest: tuple[str, int] = ("", 0)


def tree_memory(root: psutil.Process) -> tuple[int, tuple[str, int]]:
    """RSS of ``root`` and every descendant, in bytes (0 once the tree is gone), and the
    largest process of the tree: (name, RSS)."""
    total, largest = 0, ("", 0)
    try:
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0, largest
    for proc in procs:
        try:
            rss = proc.memory_info().rss
            if rss > largest[1]:
                largest = (proc.name(), rss)
        except psutil.Error:
            continue
        total += rss
    return total, largest


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _machine_busy() -> float:
    """CPU seconds every core has spent on anything but idling, since boot."""
    t = psutil.cpu_times()
    # Linux counts guest time in user time too.
    skip = ("idle", "iowait", "guest", "guest_nice")
    return float(sum(v for k, v in t._asdict().items() if k not in skip))


def measure(
    cmd: list[str],
    cwd: Path,
    interval: float = 0.05,
    env: dict[str, str] | None = None,
) -> Measurement:
    """Run ``cmd`` to completion (one at a time: CPU time is a process-wide delta)."""
    cpu_before, self_before, busy_before = _children_cpu(), _self_cpu(), _machine_busy()
    began = time.perf_counter()
    popen = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    root = psutil.Process(popen.pid)
    peak = 0
    largest = ("", 0)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak, largest
        while not done.is_set():
            total, biggest = tree_memory(root)
            peak = max(peak, total)
            largest = max(largest, biggest, key=lambda named: named[1])
            done.wait(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = popen.communicate()
    wall = time.perf_counter() - began
    done.set()
    sampler.join()
    result = subprocess.CompletedProcess(cmd, popen.returncode, stdout, stderr)
    cpu = _children_cpu() - cpu_before
    others = _machine_busy() - busy_before - cpu - (_self_cpu() - self_before)
    return Measurement(wall, peak, cpu, max(others, 0.0), result, largest)


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def busy_elsewhere() -> str:
    """Processes other than this one using a noticeable share of a core, over 0.5 s."""
    procs = [p for p in psutil.process_iter(["name"]) if p.pid != os.getpid()]
    for p in procs:
        try:
            p.cpu_percent(None)
        except psutil.Error:
            continue
    time.sleep(0.5)
    busy = []
    for p in procs:
        try:
            pct = p.cpu_percent(None)
        except psutil.Error:
            continue
        if pct >= 10:
            busy.append(f"{p.info['name']} {pct:.0f}%")
    return ", ".join(busy) or "none"


def daemon_fingerprint() -> str:
    """A hash of daemon/'s sources: to notice a change in the middle of a run."""
    digest = hashlib.sha256()
    for path in sorted((REPO / "daemon").rglob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:12]


def code_version() -> str:
    """The commit of the daemon/ being measured, and whether it has local changes."""
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO), "log", "-1", "--format=%h %s"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "daemon"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown commit"
    return f"{head}" + (" + uncommitted changes in daemon/" if dirty else "")
