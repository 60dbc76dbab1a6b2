"""Serving: the background WebServer of `assemblyd up`, and `assemblyd web` alone."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from assemblyd.errors import AssemblyError
from assemblyd.web.server import InsecureBind, WebServer, check_bind, serve
from tests.conftest import service_env, wait_for
from tests.web.conftest import SMALL


def test_port_zero_gets_a_real_port_and_stop_frees_it(app):
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", app.url) and app.server.port != 0
    assert app.http.get("/healthz").status_code == 200
    app.server.stop()
    assert not app.server.thread.is_alive()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", app.server.port), 2):
        pass


def test_stop_ends_open_streams_at_once(app, project_with):
    job_id = app.submit(
        project_with("seq010", ["wide24.mp4"]), ["shots/wide24.mp4"], output=SMALL
    ).json()["id"]
    with (
        ws_connect(app.ws_url + "/api/v1/assembly/ws", open_timeout=10) as ws,
        app.http.stream("GET", f"/api/v1/assembly/jobs/{job_id}/progress") as sse,
    ):
        ws.recv(timeout=10)
        lines = sse.iter_lines()
        assert next(lines).startswith("data:")
        started = time.monotonic()
        app.server.stop()
        assert list(lines) == [""]  # the stream ended cleanly
        assert time.monotonic() - started < 5
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001  # going away
    assert not app.server.thread.is_alive()


def test_a_busy_port_is_a_clear_error(start_app, service_settings, redis_url):
    app = start_app()
    taken = service_settings.model_copy(update={"web_port": app.server.port})
    server = WebServer(taken, redis_url)
    with pytest.raises(OSError, match=f"could not listen on 127.0.0.1:{app.server.port}"):
        server.start()


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "studio-nas"])
def test_no_token_no_network(service_settings, redis_url, host, capsys):
    settings = service_settings.model_copy(update={"web_host": host, "web_port": 0})
    with pytest.raises(InsecureBind, match="without an API token") as refused:
        WebServer(settings, redis_url)
    assert isinstance(refused.value, AssemblyError) and refused.value.code == "insecure_bind"
    assert serve(settings, redis_url) == 2
    assert "ASSEMBLYD_API_TOKEN" in capsys.readouterr().err
    check_bind(settings.model_copy(update={"api_token": "t0ken"}))  # with a token: fine


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1"])
def test_loopback_needs_no_token(service_settings, host):
    check_bind(service_settings.model_copy(update={"web_host": host}))


def _web_command(service_settings, *args: str) -> subprocess.Popen[str]:
    env = {**service_env(service_settings), "ASSEMBLYD_LOG_LEVEL": "INFO"}
    env.pop("ASSEMBLYD_API_TOKEN", None)
    return subprocess.Popen(
        [sys.executable, "-m", "assemblyd", "web", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_the_web_command_refuses_a_network_bind_without_token(service_settings):
    proc = _web_command(service_settings, "--host", "0.0.0.0", "--port", "0")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "refusing to serve on 0.0.0.0 without an API token" in err


def test_the_web_command_serves_until_sigterm(service_settings, root, project_with):
    proc = _web_command(service_settings, "--port", "0", "--root", str(root))
    try:
        assert proc.stderr is not None
        url = None
        for line in proc.stderr:  # uvicorn says where it listens
            if match := re.search(r"running on (http://\S+)", line):
                url = match[1]
                break
        assert url, "the server never said it was listening"
        health = httpx.get(url + "/healthz", timeout=30).json()
        assert health["redis"] is True
        rel = project_with("seq010", ["wide24.mp4"])
        response = httpx.post(
            url + "/api/v1/assembly/process",
            timeout=60,
            json={"project": rel, "shots": ["shots/wide24.mp4"]},
        )
        assert response.status_code == 202, response.text
        with httpx.stream(
            "GET", f"{url}/api/v1/assembly/jobs/{response.json()['id']}/progress", timeout=30
        ) as sse:
            lines = sse.iter_lines()
            assert json.loads(next(lines)[5:])["state"] == "queued"
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)  # with a stream open: it must not hang
            assert proc.wait(30) == 0
        assert time.monotonic() - started < 10
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    wait_for(lambda: proc.poll() is not None, 5, "the server to exit")
