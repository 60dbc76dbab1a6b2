"""One render through the queue, as a render farm does it: an embedded Redis, N worker
processes, the request admitted as the watcher would. Prints, as JSON, the seconds
from admission to the job's end (start-up of Redis and the workers excluded) and
the job's final view. Used by ``strategies.py``'s ``scaleout`` case; runs alone too:

    python benchmarks/farm.py PROJECT/REQUEST.assembly.json --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path


def main() -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("request", type=Path)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--timeout", type=float, default=900)
    args = p.parse_args()

    from assemblyd.queue.admission import admit
    from assemblyd.queue.connection import connect
    from assemblyd.queue.embedded import EmbeddedRedis
    from assemblyd.queue.views import visible_view
    from assemblyd.settings import Settings
    from assemblyd.states import TERMINAL

    request = args.request.resolve()
    state = Path(tempfile.mkdtemp(prefix="asm-farm-", dir="/tmp"))
    server = EmbeddedRedis(state)
    url = server.start()
    queue = f"farm-{uuid.uuid4().hex[:8]}"
    secret = uuid.uuid4().hex * 2  # jobs are signed; the workers check with the same key
    settings = Settings(redis_url=url, queue_name=queue, roots=[request.parent], job_secret=secret)
    env = {**os.environ, "ASSEMBLYD_REDIS_URL": url, "ASSEMBLYD_QUEUE_NAME": queue}
    env["ASSEMBLYD_JOB_SECRET"] = secret
    env["ASSEMBLYD_ROOTS"] = json.dumps([str(request.parent)])
    env["ASSEMBLYD_LOG_LEVEL"] = "WARNING"
    workers = [
        subprocess.Popen([sys.executable, "-m", "assemblyd", "worker"], env=env)
        for _ in range(args.workers)
    ]
    conn = connect(url)
    try:
        deadline = time.monotonic() + 30
        while conn.scard(f"rq:workers:{queue}") < args.workers:  # every worker listening
            if time.monotonic() > deadline:
                raise SystemExit("workers did not start")
            time.sleep(0.05)
        began = time.perf_counter()
        outcome = admit(conn, settings, request)
        from assemblyd.queue.adapter import job_id_for

        job_id = job_id_for(request, request.read_bytes())
        view = visible_view(conn, settings, job_id)
        while view["state"] not in TERMINAL:
            if time.perf_counter() - began > args.timeout:
                raise SystemExit("the job did not end in time")
            time.sleep(0.05)
            view = visible_view(conn, settings, job_id)
        seconds = time.perf_counter() - began
        print(json.dumps({"seconds": seconds, "admitted": outcome, "view": view}))
        return 0 if view["state"] == "finished" else 1
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            worker.wait(30)
        server.stop()
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
