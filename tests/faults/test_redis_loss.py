"""Redis loss is survived (issue 10, item 3).

Killing the embedded redis-server left a zombie, /healthz at 503 and the job
`running` at 6 % forever; workers were respawned 122 times in 65 s, and SIGTERM
said "could not requeue interrupted jobs". Now `up` restarts it from its
append-only file, the workers and the watcher reconnect, the render that was under
way finishes, and the same holds for an external Redis that goes and comes back.
"""

from __future__ import annotations

import re
import shutil
import signal
import tempfile
from pathlib import Path

import httpx
import psutil
import pytest

from assemblyd.queue.embedded import EmbeddedRedis
from assemblyd.records.status import StatusFile
from tests.conftest import JOB_SECRET, make_project, request_doc, wait_for
from tests.faults.conftest import Daemon
from tests.mediacheck import measure

SHOTS = [f"long{i}.mp4" for i in range(4)]
#: Four 3 s shots into 640x360 ProRes by one worker: seconds of rendering to break into.
DOC = request_doc(SHOTS, resolution="640x360", quality_preset="high", output_format="mov")
ENV = {
    "ASSEMBLYD_STABLE_SECONDS": "0.3",
    "ASSEMBLYD_HEARTBEAT_INTERVAL": "1",
    "ASSEMBLYD_RESCAN_INTERVAL": "1",
    "ASSEMBLYD_FANOUT_MIN_SEGMENTS": "0",  # one horse renders it all
    "ASSEMBLYD_SOURCE_SETTLE_SECONDS": "0.1",
}


def _project(root: Path, media: Path, name: str) -> StatusFile:
    project = make_project(root, media, name, [])
    for shot in SHOTS:
        shutil.copyfile(media / "long24.mp4", project / "shots" / shot)
    (project / "assembly.json").write_bytes(DOC)
    return StatusFile(project / "assembly.json")


def _redis_servers(d: Daemon) -> list[psutil.Process]:
    found = []
    for proc in d.tree():
        try:
            if "redis-server" in proc.name() and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except psutil.Error:
            continue
    return found


def _zombies(d: Daemon) -> list[psutil.Process]:
    found = []
    for proc in d.tree():
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                found.append(proc)
        except psutil.Error:
            continue
    return found


def _dashboard(d: Daemon) -> str:
    match = wait_for(lambda: re.search(r"dashboard (http://\S+)", d.log), 30, "the dashboard")
    return match.group(1)


def _health(url: str) -> int:
    try:
        return httpx.get(f"{url}/healthz", timeout=10).status_code
    except httpx.HTTPError:
        return 0


def test_up_restarts_a_killed_embedded_redis_and_the_render_finishes(
    daemon, root, media, short_state
):
    d = daemon("up", root, "--port", "0", ASSEMBLYD_STATE_DIR=str(short_state), **ENV)
    url = _dashboard(d)
    status = _project(root, media, "seq030")
    wait_for(lambda: status.read().get("stage") == "render", 90, "the render to start")
    (first,) = _redis_servers(d)
    first.send_signal(signal.SIGKILL)
    second = wait_for(
        lambda: [p for p in _redis_servers(d) if p.pid != first.pid], 30, "a new redis-server"
    )
    assert len(second) == 1
    assert _zombies(d) == []  # the dead one was reaped
    wait_for(lambda: _health(url) == 200, 30, "/healthz to recover")
    wait_for(lambda: status.read().get("state") in ("finished", "failed"), 180, "the job to end")
    record = status.read()
    assert record["state"] == "finished", record  # the render survived the outage
    assert measure(status.request_path.parent / record["export"]).frames == 4 * 72
    assert d.log.count("starting another") <= 1, d.log  # no respawn storm
    assert d.running()
    assert d.stop(60) == 0, d.log
    assert "could not requeue" not in d.log and "Traceback" not in d.log, d.log


@pytest.fixture
def external_redis():
    state = Path(tempfile.mkdtemp(prefix="asm-x-", dir="/tmp"))
    server = EmbeddedRedis(state)
    server.start()
    yield server
    server.stop()
    shutil.rmtree(state, ignore_errors=True)


def test_an_external_redis_that_goes_and_comes_back(daemon, root, media, external_redis):
    d = daemon(
        "up",
        root,
        "--port",
        "0",
        ASSEMBLYD_REDIS_URL=external_redis.url,
        ASSEMBLYD_JOB_SECRET=JOB_SECRET,  # a shared Redis: every job is signed with it
        **ENV,
    )
    url = _dashboard(d)
    status = _project(root, media, "seq031")
    wait_for(lambda: status.read().get("stage") == "render", 90, "the render to start")
    assert external_redis.proc is not None
    external_redis.proc.send_signal(signal.SIGKILL)  # it goes away ...
    external_redis.proc.wait()
    wait_for(lambda: _health(url) == 503, 30, "/healthz to see it gone")
    external_redis.start()  # ... and comes back, from its append-only file
    wait_for(lambda: _health(url) == 200, 30, "/healthz to recover")
    wait_for(lambda: status.read().get("state") in ("finished", "failed"), 180, "the job to end")
    record = status.read()
    assert record["state"] == "finished", record
    assert d.log.count("starting another") <= 1, d.log
    assert d.running()
    assert d.stop(60) == 0, d.log
    assert "Traceback" not in d.log, d.log
