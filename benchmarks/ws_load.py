"""Live-progress load: N WebSocket clients and an API poller against `assemblyd web`.

Starts a private redis-server and `assemblyd web` (its own process, as in
production) on loopback, queues ``--jobs`` real RQ jobs, then publishes their
progress the way a worker does (meta saved, then the job view published on the
events channel), ``--rate`` times a second per job, each view stamped with its
send time. Every client records, for every view it receives, the delay from that
stamp to its arrival. Clients keep only the latest view per job by design, so a
client that falls behind receives fewer views rather than older ones: the table
shows how many of the published views each client got ("delivered").

    .venv/bin/python benchmarks/ws_load.py                    # 200 clients, 8 jobs x 4/s, 20 s
    .venv/bin/python benchmarks/ws_load.py --clients 400 --jobs 16 --duration 30

Everything runs on this machine; the run stops by itself after ``--duration``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assemblyd.queue import adapter, events, views
from assemblyd.queue.connection import connect as redis_connect
from assemblyd.queue.embedded import EmbeddedRedis
from assemblyd.settings import load_settings
from assemblyd.stamps import now_iso

QUEUE = "bench-ws"
WS = "/api/v1/assembly/ws"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def publisher(url: str, job_ids: list[str], rate: float, seconds: float, out: Any) -> None:
    """What RedisSink does for every running job: save the meta, publish the view."""
    conn = redis_connect(url)
    jobs = [adapter.fetch(conn, job_id) for job_id in job_ids]
    interval = 1.0 / (rate * len(jobs))
    sent, start = 0, time.monotonic()
    while (elapsed := time.monotonic() - start) < seconds:
        job = jobs[sent % len(jobs)]
        job.meta.update(stage="render", progress=round(min(99.0, elapsed / seconds * 99), 1))
        job.save_meta()
        view = views.view(job)
        view["sent_at"] = time.time()
        conn.publish(events.CHANNEL, json.dumps(view))
        sent += 1
        # Absolute schedule: a slow publish does not slow the rate down.
        time.sleep(max(0.0, start + sent * interval - time.monotonic()))
    out.put((sent, time.monotonic() - start))


async def client(
    url: str,
    delays: list[float],
    counts: list[int],
    ready: asyncio.Event,
    opened: list[int],
    total: int,
    stop: asyncio.Event,
) -> None:
    async with connect(url, max_size=None, compression=None, open_timeout=60) as ws:
        json.loads(await ws.recv())  # the snapshot
        opened[0] += 1
        if opened[0] == total:
            ready.set()
        while not stop.is_set():
            try:
                raw = await asyncio.wait_for(ws.recv(), 0.5)
            except TimeoutError:
                continue
            now = time.time()
            message = json.loads(raw)
            if message["type"] != "update":
                continue
            for view in message["jobs"]:
                if "sent_at" in view and ready.is_set():
                    delays.append(now - view["sent_at"])
                    counts[0] += 1


def poller(base: str, job_ids: list[str], every: float, seconds: float, out: Any) -> None:
    """An API client polling the list and single jobs, in its own process: in the
    clients' event loop its timings would measure that loop, not the server."""
    latencies = []
    with httpx.Client(base_url=base, timeout=30) as http:
        start = time.monotonic()
        i = 0
        while time.monotonic() - start < seconds:
            path = (
                "/api/v1/assembly/jobs"
                if i % 2 == 0
                else f"/api/v1/assembly/jobs/{job_ids[i % len(job_ids)]}"
            )
            began = time.perf_counter()
            http.get(path).raise_for_status()
            latencies.append(time.perf_counter() - began)
            i += 1
            time.sleep(max(0.0, min(every, seconds - (time.monotonic() - start))))
    out.put(latencies)


async def drive(
    args: argparse.Namespace, base: str, redis_url: str, job_ids: list[str], server: psutil.Process
) -> dict[str, Any]:
    delays: list[float] = []
    counts, opened = [0], [0]
    ready, stop = asyncio.Event(), asyncio.Event()
    ws_url = "ws" + base[len("http") :] + WS
    rss_idle = server.memory_info().rss
    load_before = os.getloadavg()[0]
    t0 = time.monotonic()
    clients = [
        asyncio.create_task(client(ws_url, delays, counts, ready, opened, args.clients, stop))
        for _ in range(args.clients)
    ]
    await asyncio.wait_for(ready.wait(), 120)
    connect_s = time.monotonic() - t0
    spawn = mp.get_context("spawn")
    sent_q: Any = spawn.Queue()
    api_q: Any = spawn.Queue()
    pub = spawn.Process(
        target=publisher, args=(redis_url, job_ids, args.rate, args.duration, sent_q)
    )
    polling = spawn.Process(
        target=poller, args=(base, job_ids, args.poll_every, args.duration, api_q)
    )
    polling.start()
    me = psutil.Process()
    rss_peak, cpu_start, my_start = 0, server.cpu_times(), me.cpu_times()
    pub.start()
    started = time.monotonic()
    while pub.is_alive() and time.monotonic() - started < args.duration + 30:
        rss_peak = max(rss_peak, server.memory_info().rss)
        await asyncio.sleep(0.2)
    wall = time.monotonic() - started  # includes starting the publisher process
    await asyncio.sleep(1.0)  # let the last views arrive
    cpu_end, my_end = server.cpu_times(), me.cpu_times()
    stop.set()
    await asyncio.gather(*clients, return_exceptions=True)
    pub.join(10)
    sent, publishing = sent_q.get(timeout=10)
    api = api_q.get(timeout=30)
    polling.join(10)
    return {
        "delays": delays,
        "views": counts[0],
        "api": api,
        "connect_s": connect_s,
        "sent": sent,
        "wall": publishing,
        "load_before": load_before,
        "rss_idle": rss_idle,
        "rss_peak": rss_peak,
        "cpu": (cpu_end.user + cpu_end.system - cpu_start.user - cpu_start.system) / wall,
        "client_cpu": (my_end.user + my_end.system - my_start.user - my_start.system) / wall,
    }


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000)[int(q * 10) - 1] if len(values) > 1 else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=8, help="running jobs publishing progress")
    parser.add_argument(
        "--rate",
        type=float,
        default=4.0,
        help="updates per second per job (a worker's default is 4)",
    )
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of publishing")
    parser.add_argument(
        "--poll-every", type=float, default=0.25, help="seconds between the API poller's requests"
    )
    args = parser.parse_args()

    state = Path(tempfile.mkdtemp(prefix="asm-wsb-", dir="/tmp"))
    redis = EmbeddedRedis(state / "redis")
    server_proc: subprocess.Popen[bytes] | None = None
    try:
        redis_url = redis.start()
        secret = "ws-load-secret-0123456789abcdef"
        settings = load_settings(
            redis_url=redis_url, queue_name=QUEUE, state_dir=state, job_secret=secret
        )
        conn = redis_connect(redis_url)
        job_ids = []
        for i in range(args.jobs):
            request = state / "root" / f"shot{i:03d}" / "assembly.json"
            job = adapter.enqueue(conn, settings, request, b'{"shots": ["a.mp4"]}')
            assert job is not None
            job.meta.update(state="running", stage="render", started_at=now_iso())
            job.save_meta()
            job_ids.append(job.id)
        port = free_port()
        env = {
            **os.environ,
            "ASSEMBLYD_REDIS_URL": redis_url,
            "ASSEMBLYD_QUEUE_NAME": QUEUE,
            "ASSEMBLYD_JOB_SECRET": secret,
            "ASSEMBLYD_LOG_LEVEL": "INFO",
        }
        env.pop("ASSEMBLYD_API_TOKEN", None)
        with open(state / "web.log", "wb") as log:
            server_proc = subprocess.Popen(
                [sys.executable, "-m", "assemblyd", "web", "--port", str(port)],
                env=env,
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
            )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server_proc.poll() is not None:
                print((state / "web.log").read_text(), file=sys.stderr)
                raise SystemExit("the web app did not start")
            time.sleep(0.1)
        r = asyncio.run(drive(args, base, redis_url, job_ids, psutil.Process(server_proc.pid)))
    finally:
        if server_proc is not None:
            server_proc.terminate()
            server_proc.wait(30)
        redis.stop()
        if os.environ.get("WS_LOAD_LOG"):
            shutil.copyfile(state / "web.log", os.environ["WS_LOAD_LOG"])
        shutil.rmtree(state, ignore_errors=True)

    delays = [d * 1000 for d in r["delays"]]
    api = [a * 1000 for a in r["api"]]
    expected = r["sent"] * args.clients
    print(
        f"ws_load: {args.clients} WebSocket clients, {args.jobs} jobs x {args.rate:g} "
        f"updates/s for {r['wall']:.1f} s, API poll every {args.poll_every:g} s, "
        f"{os.cpu_count()} cores"
    )
    # Anything else running on the machine shows up in the delays: say how busy it was.
    print(
        f"  machine     load average {os.getloadavg()[0]:.2f} at the end "
        f"({r['load_before']:.2f} before the run)"
    )
    print(f"  connect     all {args.clients} clients got their snapshot in {r['connect_s']:.2f} s")
    print(f"  published   {r['sent']} views ({r['sent'] / r['wall']:.1f}/s)")
    print(
        f"  delivered   {r['views']} of {expected} client-views "
        f"({100 * r['views'] / max(expected, 1):.1f} %), {r['views'] / r['wall']:.0f} views/s"
    )
    if delays:
        print(
            f"  delay ms    p50 {pct(delays, 50):.1f}   p99 {pct(delays, 99):.1f}   "
            f"max {max(delays):.1f}"
        )
    if api:
        print(
            f"  API ms      p50 {pct(api, 50):.1f}   p99 {pct(api, 99):.1f}   ({len(api)} requests)"
        )
    print(
        f"  server      RSS {r['rss_idle'] / 2**20:.0f} MiB idle, "
        f"{r['rss_peak'] / 2**20:.0f} MiB peak; CPU {100 * r['cpu']:.0f} % of one core"
    )
    # All clients share one Python process: near 100 % here, the delays are the
    # clients' own queueing, not the server's.
    print(f"  clients     CPU {100 * r['client_cpu']:.0f} % of one core (one process)")
    ok = bool(delays) and pct(delays, 99) < 250
    print(f"  goal        p99 < 250 ms: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
