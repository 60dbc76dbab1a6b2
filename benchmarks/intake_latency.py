"""How long from a request landing in a project to its job being queued?

Runs the real watcher (inotify, then polling) against a private redis-server on a
temporary root, drops requests the way an editor or rsync does (write a temp name,
rename into place) and times rename -> job in Redis. The settle window
(``stable_seconds``) and the poll interval are the settings' defaults unless given,
because that is what a studio gets; the figures are dominated by them by design.

    .venv/bin/python benchmarks/intake_latency.py [--drops 10] [--stable 2.0] [--poll 2.0]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

from assemblyd.queue import adapter
from assemblyd.queue.connection import connect
from assemblyd.queue.embedded import EmbeddedRedis
from assemblyd.settings import load_settings
from assemblyd.watch.intake import Intake
from assemblyd.watch.watcher import Watcher


def measure(mode: str, drops: int, stable: float, poll: float, workdir: Path) -> list[float]:
    root = workdir / mode
    root.mkdir()
    server = EmbeddedRedis(Path(tempfile.mkdtemp(prefix="asm-b-", dir="/tmp")))
    url = server.start()
    settings = load_settings(
        redis_url=url,
        roots=[root],
        observer=mode,
        stable_seconds=stable,
        poll_interval=poll,
        queue_name=f"bench-{mode}",
        state_dir=workdir / "state",
        job_secret="intake-latency-secret-0123456789",  # jobs are signed
    )
    conn = connect(url)
    watcher = Watcher(settings, Intake(conn, settings))
    thread = threading.Thread(target=watcher.run, daemon=True)
    thread.start()
    delays = []
    try:
        while not watcher.observers_alive():
            time.sleep(0.01)
        for i in range(drops):
            project = root / f"p{i:03d}"
            project.mkdir()
            content = f'{{"shots": ["shots/sh{i:03d}.mp4"]}}'.encode()
            temp = project / ".assembly.json.tmp"
            temp.write_bytes(content)
            request = project / "assembly.json"
            job_id = adapter.job_id_for(request, content)
            began = time.perf_counter()
            os.replace(temp, request)
            deadline = began + 60
            while not adapter.exists(conn, job_id):
                if time.perf_counter() > deadline:
                    raise SystemExit(f"{mode}: drop {i} was not queued within 60 s")
                time.sleep(0.005)
            delays.append(time.perf_counter() - began)
    finally:
        watcher.stop()
        thread.join(10)
        server.stop()
    return delays


def main() -> None:
    defaults = load_settings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drops", type=int, default=10)
    parser.add_argument("--stable", type=float, default=defaults.stable_seconds)
    parser.add_argument("--poll", type=float, default=defaults.poll_interval)
    args = parser.parse_args()
    print(f"drops: {args.drops} per mode, stable_seconds={args.stable}, poll_interval={args.poll}")
    print(f"{'mode':<8} {'median s':>9} {'min s':>7} {'max s':>7}  {'median - stable':>15}")
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("inotify", "polling"):
            d = measure(mode, args.drops, args.stable, args.poll, Path(tmp))
            med = statistics.median(d)
            print(f"{mode:<8} {med:9.3f} {min(d):7.3f} {max(d):7.3f}  {med - args.stable:15.3f}")


if __name__ == "__main__":
    main()
