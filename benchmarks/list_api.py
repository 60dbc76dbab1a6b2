"""The read side with a month of jobs: the list API and a WebSocket snapshot against
10,000 ended jobs in Redis.

Starts a private redis-server, seeds ``--jobs`` ended jobs (finished, failed and
canceled; now and then a split request with its parts; see tests/seed.py), starts
`assemblyd web` as its own process (as in production), then times over loopback:

- ``GET /api/v1/assembly/jobs`` (the first page, 100 jobs), ``--requests`` times;
- every later page, following the cursor to the end (``?cursor=``, 100 a page);
- a filtered page (``?state=failed``, 20 a page);
- a WebSocket snapshot: from opening the socket to the snapshot's arrival.

Prints p50/p99 of each (goals: list p99 < 50 ms, snapshot < 100 ms).

    .venv/bin/python benchmarks/list_api.py
    .venv/bin/python benchmarks/list_api.py --jobs 50000 --requests 500
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from websockets.sync.client import connect as ws_connect

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from assemblyd.queue.connection import connect  # noqa: E402
from assemblyd.queue.embedded import EmbeddedRedis  # noqa: E402
from assemblyd.settings import load_settings  # noqa: E402
from benchmarks.ws_load import free_port  # noqa: E402
from tests.seed import seed_ended_jobs  # noqa: E402

QUEUE = "bench-list"
SECRET = "benchmark-secret-0123456789abcdef"
API = "/api/v1/assembly/jobs"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def line(name: str, seconds: list[float], goal: float) -> str:
    p50, p99 = percentile(seconds, 50) * 1000, percentile(seconds, 99) * 1000
    verdict = "met" if p99 < goal else "MISSED"
    return (
        f"{name:<34} n={len(seconds):>4}  p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  "
        f"max {max(seconds) * 1000:7.2f} ms  (goal p99 < {goal:.0f} ms: {verdict})"
    )


def main() -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--jobs", type=int, default=10_000)
    p.add_argument("--requests", type=int, default=300)
    p.add_argument("--snapshots", type=int, default=200)
    args = p.parse_args()

    state = Path(tempfile.mkdtemp(prefix="asm-bl-", dir="/tmp"))
    server = EmbeddedRedis(state)
    url = server.start()
    web: subprocess.Popen[bytes] | None = None
    try:
        conn = connect(url)
        settings = load_settings(redis_url=url, queue_name=QUEUE, job_secret=SECRET)
        began = time.perf_counter()
        seed_ended_jobs(conn, settings, args.jobs)
        seeded = time.perf_counter() - began
        keys = conn.dbsize()
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("ASSEMBLYD_")}
        env.update(
            ASSEMBLYD_REDIS_URL=url,
            ASSEMBLYD_QUEUE_NAME=QUEUE,
            ASSEMBLYD_JOB_SECRET=SECRET,
            ASSEMBLYD_LOG_LEVEL="WARNING",
        )
        web = subprocess.Popen(
            [sys.executable, "-m", "assemblyd", "web", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        http = httpx.Client(base_url=base, timeout=30)
        deadline = time.monotonic() + 30
        while True:
            try:
                if http.get("/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("assemblyd web did not start")
            time.sleep(0.1)

        def timed(path: str, **params: str) -> tuple[float, dict]:  # type: ignore[type-arg]
            t = time.perf_counter()
            answer = http.get(path, params=params)
            elapsed = time.perf_counter() - t
            assert answer.status_code == 200, answer.text
            return elapsed, answer.json()

        for _ in range(10):  # warm-up: connections, the index's first trim
            timed(API)
        first = [timed(API)[0] for _ in range(args.requests)]
        pages, cursor, shown = [], None, 0
        while True:
            elapsed, body = timed(API, **({"cursor": cursor} if cursor else {}))
            pages.append(elapsed)
            shown += len(body["jobs"])
            cursor = body["next"]
            if cursor is None:
                break
        filtered = [timed(API, state="failed", limit="20")[0] for _ in range(args.requests)]

        snapshots = []
        ws_url = f"ws://127.0.0.1:{port}/api/v1/assembly/ws"

        def snapshot() -> float:
            t = time.perf_counter()
            with ws_connect(ws_url) as ws:
                message = ws.recv(timeout=30)
                elapsed = time.perf_counter() - t
            assert '"snapshot"' in str(message)
            return elapsed

        # The first client starts the app's Redis subscription (later ones share it
        # while any client is connected, and for 5 s after the last leaves).
        cold = snapshot()
        for _ in range(args.snapshots):
            snapshots.append(snapshot())

        print(
            f"list API and snapshot with {args.jobs} ended jobs in Redis "
            f"({keys} keys; seeded in {seeded:.1f} s), `assemblyd web` over loopback, "
            f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}"
        )
        print(line("GET /jobs (first page, 100)", first, 50))
        print(line("GET /jobs?cursor= (100 a page)", pages, 50) + f"  [{shown} jobs listed]")
        print(line("GET /jobs?state=failed&limit=20", filtered, 50))
        print(line("WebSocket snapshot (connect+first)", snapshots, 100))
        first_client = "WebSocket snapshot, first client"
        print(f"{first_client:<34} {cold * 1000:7.2f} ms (it subscribes to Redis)")
        return 0
    finally:
        if web is not None:
            web.terminate()
            web.wait(30)
        server.stop()
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
