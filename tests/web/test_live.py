"""The live hub when Redis goes away and comes back."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect as ws_connect

from assemblyd.queue import adapter, events
from assemblyd.queue.connection import connect
from assemblyd.queue.embedded import EmbeddedRedis
from tests.web.conftest import SMALL

WS = "/api/v1/assembly/ws"


@pytest.fixture
def private_redis():
    state = Path(tempfile.mkdtemp(prefix="asm-web-", dir="/tmp"))
    server = EmbeddedRedis(state)
    server.start()
    yield server
    server.stop()
    shutil.rmtree(state, ignore_errors=True)


def test_after_a_redis_restart_clients_get_a_fresh_snapshot(start_app, private_redis, project_with):
    app = start_app(redis_url=private_redis.url)
    job_id = app.submit(
        project_with("seq010", ["wide24.mp4"]), ["shots/wide24.mp4"], output=SMALL
    ).json()["id"]
    with ws_connect(app.ws_url + WS, open_timeout=10) as ws:

        def recv() -> dict[str, Any]:
            message: dict[str, Any] = json.loads(ws.recv(timeout=30))
            return message

        assert [(v["id"], v["progress"]) for v in recv()["jobs"]] == [(job_id, 0.0)]
        # A change whose message the client never gets, as one published while
        # the listener was cut off would be.
        conn = connect(private_redis.url)
        job = adapter.fetch(conn, job_id)
        job.meta.update(progress=42.0)
        job.save_meta()
        private_redis.stop()
        assert recv() == {"type": "status", "redis": False}
        health = httpx.get(app.url + "/healthz", timeout=30)
        assert health.status_code == 503 and health.json()["redis"] is False
        private_redis.start()
        conn = connect(private_redis.url)
        assert recv() == {"type": "status", "redis": True}
        fresh = recv()
        assert fresh["type"] == "snapshot"  # the appendonly file brought the job back
        assert [(v["id"], v["progress"]) for v in fresh["jobs"]] == [(job_id, 42.0)]
        events.publish(conn, {**fresh["jobs"][0], "progress": 43.0})
        assert recv()["jobs"][0]["progress"] == 43.0
        assert httpx.get(app.url + "/healthz", timeout=30).json()["redis"] is True


def test_a_client_that_connects_while_redis_is_away_hears_so(start_app, private_redis):
    app = start_app(redis_url=private_redis.url)
    private_redis.stop()
    with ws_connect(app.ws_url + WS, open_timeout=10) as ws:
        assert json.loads(ws.recv(timeout=30)) == {"type": "status", "redis": False}
        private_redis.start()
        assert json.loads(ws.recv(timeout=30)) == {"type": "status", "redis": True}
        assert json.loads(ws.recv(timeout=30)) == {"type": "snapshot", "jobs": [], "next": None}
