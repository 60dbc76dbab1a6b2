"""What a studio's monitoring sees: /metrics in Prometheus' format, webhooks signed and
retried (against real HTTP receivers, one of them down), and JSON log lines."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from assemblyd.queue import webhooks
from assemblyd.queue.admission import admit
from assemblyd.records.status import StatusFile
from assemblyd.settings import Webhook
from tests.conftest import make_project, request_doc, service_env, wait_for
from tests.farm.conftest import free_port

SECRET = "receiver-secret-0123456789"


class Receiver:
    """A real HTTP server that records what it is POSTed."""

    def __init__(self, port: int = 0) -> None:
        received: list[dict[str, Any]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append({"headers": dict(self.headers), "body": body})
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.received = received
        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def _render(root, media, conn, settings, name: str) -> StatusFile:  # type: ignore[no-untyped-def]
    shots = ["wide24.mp4", "wide30.mp4"]
    project = make_project(root, media, name, shots)
    request = project / "assembly.json"
    request.write_bytes(request_doc(shots))
    assert admit(conn, settings, request) == "queued"
    status = StatusFile(request)
    wait_for(lambda: status.read().get("state") == "finished", 120, "the render")
    return status


def _verified(delivery: dict[str, Any]) -> dict[str, Any]:
    """The delivery's JSON, once its signature checks out as a receiver checks it."""
    headers = {k.lower(): v for k, v in delivery["headers"].items()}
    signed = headers["x-assemblyd-timestamp"].encode() + b"." + delivery["body"]
    expected = "sha256=" + hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["x-assemblyd-signature"], expected)
    return json.loads(delivery["body"])  # type: ignore[no-any-return]


def test_metrics_after_a_render(start_app, workers, watcher, conn, root, media, service_settings):
    app = start_app()
    workers.start(1, ASSEMBLYD_FANOUT_MIN_SEGMENTS="0")
    watcher()
    _render(root, media, conn, service_settings, "m1")
    queue = service_settings.queue_name
    scanned = "assemblyd_watcher_last_scan_timestamp_seconds{"
    answer = wait_for(
        lambda: (m := app.http.get("/metrics")) and scanned in m.text and m, 10, "a scan"
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(answer.text)
        for s in family.samples
    }

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    assert value("assemblyd_redis_up") == 1
    assert value("assemblyd_queue_depth", queue=queue) == 0
    assert value("assemblyd_jobs", queue=queue, state="finished") == 1
    assert value("assemblyd_jobs_ended_total", queue=queue, state="finished") == 1
    assert value("assemblyd_render_seconds_count", queue=queue, strategy="normalize") == 1
    assert (
        value("assemblyd_render_seconds_bucket", queue=queue, strategy="normalize", le="+Inf") == 1
    )
    assert value("assemblyd_render_seconds_sum", queue=queue, strategy="normalize") > 0
    assert value("assemblyd_segments_total", queue=queue, how="encoded") == 2
    assert value("assemblyd_workers", queue=queue) == 1
    beats = [k for k in samples if k[0] == "assemblyd_watcher_up"]
    assert len(beats) == 1 and samples[beats[0]] == 1
    scans = [
        v for k, v in samples.items() if k[0] == "assemblyd_watcher_last_scan_timestamp_seconds"
    ]
    assert scans and scans[0] > 0, answer.text
    openmetrics = app.http.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
    assert openmetrics.text.rstrip().endswith("# EOF")


def test_webhooks_are_signed_filtered_and_retried_until_a_receiver_is_back(
    watcher, workers, conn, root, media, service_settings, receiver
):
    down = free_port()  # nobody listens here yet
    hooks = [
        {"url": receiver.url, "secret": SECRET},
        {"url": f"http://127.0.0.1:{down}/hook", "secret": SECRET, "events": ["finished"]},
        {"url": receiver.url + "/failures", "secret": SECRET, "events": ["failed"]},
    ]
    watcher(
        webhooks=[Webhook(**h) for h in hooks],
        webhook_retry_seconds=0.3,
        webhook_attempts=20,
        webhook_timeout=2.0,
    )
    workers.start(1, ASSEMBLYD_FANOUT_MIN_SEGMENTS="0")
    status = _render(root, media, conn, service_settings, "w1")  # a receiver down held up nothing
    job_id = status.read()["job_id"]
    (delivery,) = wait_for(lambda: receiver.received, 30, "the delivery")
    event = _verified(delivery)
    assert event["event"] == "finished" and event["job"]["id"] == job_id
    assert event["job"]["export"] == "exports/w1.mp4" and event["job"]["state"] == "finished"
    assert delivery["headers"]["X-Assemblyd-Event"] == "finished"
    # The one that is down is being retried, from Redis ...
    retries = webhooks.RETRIES + service_settings.queue_name
    wait_for(lambda: conn.zcard(retries) == 1, 30, "a retry scheduled")
    # ... until it is back, when the same delivery arrives.
    late = Receiver(down)
    try:
        (again,) = wait_for(lambda: late.received, 60, "the retried delivery")
        assert _verified(again)["job"]["id"] == job_id
        first_id = json.loads(conn.zrange(retries, 0, -1)[0])["id"] if conn.zcard(retries) else None
        assert first_id is None  # delivered: nothing left to retry
    finally:
        late.close()
    # The receiver of failures heard nothing of a finished job.
    assert all(d["headers"]["X-Assemblyd-Event"] == "finished" for d in receiver.received)
    assert len(receiver.received) == 1


def test_json_logs_are_one_object_per_line(service_settings):
    run = subprocess.run(
        [sys.executable, "-m", "assemblyd", "--log-format", "json", "worker", "--burst"],
        env={**service_env(service_settings), "ASSEMBLYD_LOG_LEVEL": "INFO"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    lines = [line for line in (run.stdout + run.stderr).splitlines() if line.strip()]
    assert len(lines) >= 3
    entries = [json.loads(line) for line in lines]  # every line, RQ's own included
    assert {"time", "level", "logger", "message"} <= set(entries[0])
    assert any(e["logger"] == "rq.worker" for e in entries)
    assert any(e["logger"] == "assemblyd.queue.worker" for e in entries)
