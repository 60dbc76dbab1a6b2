"""WS /api/v1/assembly/ws: snapshot, live updates, slow clients, disconnects."""

from __future__ import annotations

import base64
import json
import os
import socket
import threading
from contextlib import ExitStack
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from assemblyd.queue import events
from assemblyd.queue.views import JobView
from tests.conftest import wait_for
from tests.web.conftest import SMALL

WS = "/api/v1/assembly/ws"


def recv(ws: ClientConnection, timeout: float = 30) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(ws.recv(timeout=timeout))
    return message


def test_a_snapshot_then_every_change_until_the_job_ends(app, workers, project_with):
    rel = project_with("seq010", ["wide24.mp4", "wide30.mp4"])
    job_id = app.submit(rel, ["shots/wide24.mp4", "shots/wide30.mp4"], output=SMALL).json()["id"]
    with ws_connect(app.ws_url + WS, open_timeout=10) as ws:
        first = recv(ws)
        assert first["type"] == "snapshot"
        assert [(v["id"], v["state"]) for v in first["jobs"]] == [(job_id, "queued")]
        workers.start(1)
        seen = []
        while not seen or seen[-1]["state"] != "finished":
            message = recv(ws, 90)
            assert message["type"] == "update"
            seen += [v for v in message["jobs"] if v["id"] == job_id]
    assert seen[0]["state"] == "running"
    percents = [v["progress"] for v in seen]
    assert percents == sorted(percents) and percents[-1] == 100.0
    assert len({v["stage"] for v in seen}) >= 4  # probe, plan, render, ... done
    assert seen[-1]["export"] == "exports/seq010.mp4"


def test_one_job_only_with_the_job_parameter(app, conn, project_with):
    ids = [
        app.submit(project_with(n, ["wide24.mp4"]), ["shots/wide24.mp4"], output=SMALL).json()["id"]
        for n in ("a", "b")
    ]
    with ws_connect(f"{app.ws_url}{WS}?job={ids[1]}", open_timeout=10) as ws:
        assert [v["id"] for v in recv(ws)["jobs"]] == [ids[1]]
        for job_id in ids:  # a change to each; only b's comes through
            events.publish(conn, {**app.job(job_id), "progress": 50.0, "state": "running"})
        message = recv(ws)
        assert [(v["id"], v["progress"]) for v in message["jobs"]] == [(ids[1], 50.0)]
    with pytest.raises(InvalidStatus) as refused:
        ws_connect(f"{app.ws_url}{WS}?job=asm-nope", open_timeout=10)
    assert refused.value.response.status_code == 404
    assert json.loads(refused.value.response.body)["code"] == "job_not_found"


def _stalled_client(url: str) -> socket.socket:
    """A WebSocket client that completes the handshake and then never reads."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a tiny window fills fast
    sock.connect((host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET {WS} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)  # byte by byte: leave the frames that follow unread
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def _view(
    queue: str, job_id: str, state: str, progress: float, request: str | None = None
) -> JobView:
    return JobView(
        id=job_id,
        queue=queue,
        state=state,
        stage="render",
        progress=progress,
        project=None,
        request=request,
        export=None,
        error=None,
        warnings=[],
        queued_at="2026-01-01T00:00:00",
        started_at=None,
        finished_at=None,
        worker=None,
    )


def test_a_client_that_never_reads_costs_one_view_per_job(app, conn):
    stalled = _stalled_client(app.url)
    try:
        wait_for(lambda: len(app.hub.subscribers) == 1, 10, "the stalled client to subscribe")
        (slow,) = app.hub.subscribers
        with ws_connect(app.ws_url + WS, open_timeout=10) as fast:
            assert recv(fast)["type"] == "snapshot"
            jobs, padding = 3, "x" * 8000  # 40 MB in all: far more than any socket buffer
            queue = app.web.settings.queue_name
            for i in range(5000):
                view = _view(queue, f"asm-slow-{i % jobs}", "running", i / 50, request=padding)
                events.publish(conn, view)
            events.publish(conn, _view(queue, "asm-slow-0", "finished", 100.0))
            # The fast client is not held up by the stalled one: it gets the last state.
            last: dict[str, Any] = {}
            while last.get("asm-slow-0", {}).get("state") != "finished":
                for view in recv(fast)["jobs"]:
                    last[view["id"]] = view
        # The stalled client really is stuck behind (its views wait) ...
        assert slow.pending and not slow.closed
        # ... and what waits for it never exceeded one view per job.
        assert len(slow.pending) <= jobs
        assert slow.pending["asm-slow-0"]["state"] == "finished"  # latest state wins
    finally:
        stalled.close()
    wait_for(lambda: not app.hub.subscribers, 30, "the stalled client to be dropped")


def test_leaving_frees_the_subscription_and_redis_channel(app, conn):
    def numsub() -> int:
        count: int = dict(conn.pubsub_numsub(events.CHANNEL))[events.CHANNEL.encode()]
        return count

    app.hub.linger = 0.3
    before = numsub()
    with ExitStack() as stack:
        clients = [
            stack.enter_context(ws_connect(app.ws_url + WS, open_timeout=10)) for _ in range(3)
        ]
        for ws in clients:
            assert recv(ws)["type"] == "snapshot"
        assert len(app.hub.subscribers) == 3
        assert numsub() == before + 1  # one Redis subscription for the whole process
        clients[0].close()
        wait_for(lambda: len(app.hub.subscribers) == 2, 10, "one subscriber to go")
    wait_for(lambda: not app.hub.subscribers, 10, "every subscriber to go")
    wait_for(lambda: numsub() == before, 10, "the Redis subscription to be dropped")
    assert not app.hub.listening
    # A client that vanishes without a close handshake is dropped too.
    sock = _stalled_client(app.url)
    wait_for(lambda: len(app.hub.subscribers) == 1, 10, "the raw client to subscribe")
    sock.shutdown(socket.SHUT_RDWR)
    sock.close()
    wait_for(lambda: not app.hub.subscribers, 10, "the vanished client to be dropped")


def test_many_clients_at_once_all_get_the_snapshot(app, project_with):
    job_id = app.submit(
        project_with("seq", ["wide24.mp4"]), ["shots/wide24.mp4"], output=SMALL
    ).json()["id"]
    results: list[list[str]] = []

    def client() -> None:
        with ws_connect(app.ws_url + WS, open_timeout=20) as ws:
            results.append([v["id"] for v in recv(ws)["jobs"]])

    threads = [threading.Thread(target=client) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == [[job_id]] * 40
