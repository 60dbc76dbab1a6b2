"""An inotify overflow is one rescan (issue 10, item 6).

After an overflow the watcher looped at 100 % CPU, logging "Inotify queue
overflowed" over and over, and never recovered: watchdog rebuilds its watches in
place, and with more folders than the kernel's queue holds, removing them
overflows the queue again. The watcher now replaces the observer once per burst,
rescans, and goes quiet.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import psutil
import pytest

from assemblyd.queue.heartbeat import live_watchers
from tests.conftest import make_project, request_doc, service_env, wait_for
from tests.faults.conftest import status_of

QUEUE_LIMIT = Path("/proc/sys/fs/inotify/max_queued_events")


def _queue_limit() -> int:
    try:
        return int(QUEUE_LIMIT.read_text())
    except (OSError, ValueError):
        pytest.skip("no inotify here (/proc/sys/fs/inotify/max_queued_events)")


def _overflow_lines(log: str) -> int:
    return sum("overflowed" in line for line in log.splitlines())


def test_an_overflow_is_one_rescan_and_the_watcher_goes_quiet(
    daemon, conn, root, media, service_settings
):
    limit = _queue_limit()
    if limit > 100_000:
        pytest.skip(f"max_queued_events is {limit}: too many folders to make for this test")
    # More folders than the queue holds: what a production tree on a NAS has.
    tree = root / "show" / "plates"
    for i in range(limit + 500):
        os.makedirs(tree / f"{i // 200:03d}" / f"{i:05d}")
    env = {k: v for k, v in service_env(service_settings).items() if k.startswith("ASSEMBLYD_")}
    d = daemon(
        "watch",
        root,
        "--observer",
        "inotify",
        **{**env, "ASSEMBLYD_STABLE_SECONDS": "0.3", "ASSEMBLYD_RESCAN_INTERVAL": "3600"},
    )
    watcher = psutil.Process(d.proc.pid)
    wait_for(lambda: any(b["observers_alive"] for b in live_watchers(conn)), 60, "the watches")
    # The watcher is frozen while events pile up past the kernel's queue.
    watcher.send_signal(signal.SIGSTOP)
    try:
        burst = root / "show" / "burst"
        burst.mkdir()
        for i in range(limit + 1000):
            (burst / f"f{i}").touch()
        missed = make_project(root, media, "missed", ["wide24.mp4"]) / "assembly.json"
        missed.write_bytes(request_doc(["wide24.mp4"]))  # its event is among the lost
    finally:
        watcher.send_signal(signal.SIGCONT)
    wait_for(lambda: _overflow_lines(d.log), 60, "the overflow to be noticed")
    # One rescan finds what the lost events would have said (the periodic rescan is
    # an hour away), and the fresh watches hear new drops again.
    wait_for(lambda: status_of(missed).get("state") == "queued", 60, "the rescan")
    after = make_project(root, media, "after", ["wide24.mp4"]) / "assembly.json"
    after.write_bytes(request_doc(["wide24.mp4"]))
    wait_for(lambda: status_of(after).get("state") == "queued", 60, "a drop after the overflow")

    said, cpu, began = _overflow_lines(d.log), sum(watcher.cpu_times()[:2]), time.monotonic()
    # Quiet: another drop is handled, and meanwhile nothing overflows again, nothing spins.
    for name in ("later", "later2", "later3"):
        later = make_project(root, media, name, ["wide24.mp4"]) / "assembly.json"
        later.write_bytes(request_doc(["wide24.mp4"]))
        wait_for(lambda r=later: status_of(r).get("state") == "queued", 60, f"the drop {name}")
    busy = (sum(watcher.cpu_times()[:2]) - cpu) / (time.monotonic() - began)
    assert _overflow_lines(d.log) == said, d.log[-2000:]
    assert said <= 2, d.log[-2000:]  # the warning is said once per burst, not per overflow
    assert busy < 0.5, f"the watcher used {busy:.0%} of a core while idle"
    assert d.running()
    assert d.stop(30) == 0
