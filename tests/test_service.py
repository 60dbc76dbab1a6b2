"""`assemblyd up` as a process tree: it starts everything and leaves nothing behind."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
import pytest

from assemblyd.queue import adapter
from assemblyd.queue.admission import admit
from assemblyd.queue.connection import connect, embedded_dir
from assemblyd.queue.embedded import EmbeddedRedis
from assemblyd.records.status import StatusFile
from assemblyd.settings import Settings
from assemblyd.watch.intake import Intake
from tests.conftest import make_project, request_doc, wait_for


@pytest.fixture
def state_dir():
    path = Path(tempfile.mkdtemp(prefix="asm-up-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _up(root: Path, state: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSEMBLYD_")}
    env.update(
        ASSEMBLYD_STATE_DIR=str(state),
        ASSEMBLYD_STABLE_SECONDS="0.3",
        ASSEMBLYD_HEARTBEAT_INTERVAL="1",
        ASSEMBLYD_LOG_LEVEL="WARNING",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "assemblyd", "up", "--root", str(root), "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


LONG_SHOTS = [f"long{i}.mp4" for i in range(6)]


def _long_project(root: Path, media: Path, name: str) -> Path:
    """Six distinct 3 s shots to re-encode as 720p ProRes: a render worth interrupting."""
    project = make_project(root, media, name, [])
    for shot in LONG_SHOTS:
        shutil.copyfile(media / "long24.mp4", project / "shots" / shot)
    return project


def _long_render_under(
    up: subprocess.Popen[str], root: Path, media: Path, name: str
) -> tuple[Path, StatusFile, list[psutil.Process]]:
    """Drop a long request; return once ffmpeg runs, with every process of the tree."""
    project = _long_project(root, media, name)
    (project / "assembly.json").write_bytes(
        request_doc(LONG_SHOTS, resolution="1280x720", quality_preset="high", output_format="mov")
    )
    status = StatusFile(project / "assembly.json")
    wait_for(lambda: status.read().get("stage") == "render", 60, "the render to start")
    wait_for(lambda: "ffmpeg" in _names(_descendants_of_everything(_tree(up))), 30, "ffmpeg")
    return project, status, _descendants_of_everything(_tree(up))


def _tree(proc: subprocess.Popen[str]) -> list[psutil.Process]:
    return psutil.Process(proc.pid).children(recursive=True)


def _names(procs: list[psutil.Process]) -> str:
    out = []
    for p in procs:
        with contextlib.suppress(psutil.Error):
            out.append(" ".join(p.cmdline()))
    return " | ".join(out)


def _descendants_of_everything(procs: list[psutil.Process]) -> list[psutil.Process]:
    found = list(procs)
    for p in procs:
        with contextlib.suppress(psutil.Error):
            found += p.children(recursive=True)
    return found


def test_up_renders_a_drop_and_sigterm_stops_every_child(root, media, state_dir):
    up = _up(root, state_dir)
    try:
        wait_for(
            lambda: "redis-server" in _names(_tree(up)) and "worker" in _names(_tree(up)),
            30,
            "redis and a worker to start",
        )
        project = make_project(root, media, "seq010", ["wide24.mp4"])
        (project / "assembly.json").write_bytes(request_doc(["wide24.mp4"]))
        status = StatusFile(project / "assembly.json")
        wait_for(lambda: status.read().get("state") == "finished", 90, "the render")
        assert (project / "exports" / "seq010.mp4").is_file()
        data = embedded_dir(Settings(state_dir=state_dir, roots=[root]))
        assert (data / "appendonly.aof").exists() or (data / "appendonlydir").exists()
        children = _tree(up)
        up.send_signal(signal.SIGTERM)
        assert up.wait(30) == 0, up.stderr.read() if up.stderr else ""
        _, alive = psutil.wait_procs(children, timeout=10)
        assert alive == [], _names(alive)
    finally:
        if up.poll() is None:
            up.kill()


def test_sigterm_mid_render_kills_ffmpeg_and_requeues_the_job(root, media, state_dir):
    up = _up(root, state_dir)
    try:
        project, status, everything = _long_render_under(up, root, media, "seq020")
        up.send_signal(signal.SIGINT)  # Ctrl-C
        assert up.wait(30) == 0
        _, alive = psutil.wait_procs(everything, timeout=10)
        assert alive == [], _names(alive)
        assert status.read()["state"] == "queued"  # put back, not lost
        exports = project / "exports"
        assert not exports.exists() or list(exports.iterdir()) == []
    finally:
        if up.poll() is None:
            up.kill()
    # The next start picks it up again and finishes it.
    up = _up(root, state_dir)
    try:
        wait_for(lambda: status.read().get("state") == "finished", 120, "the rerun to finish")
    finally:
        up.send_signal(signal.SIGTERM)
        up.wait(30)


def test_sigkill_of_up_leaves_no_orphans(root, media, state_dir):
    up = _up(root, state_dir)
    _, _, everything = _long_render_under(up, root, media, "seq030")
    up.kill()
    up.wait(10)
    _, alive = psutil.wait_procs(everything, timeout=15)
    assert alive == [], _names(alive)


def test_redis_restarted_empty_gets_every_open_request_back(
    root, media, tmp_path, service_settings
):
    state = Path(tempfile.mkdtemp(prefix="asm-r-", dir="/tmp"))
    server = EmbeddedRedis(state)
    settings = service_settings.model_copy(update={"redis_url": server.start()})
    try:
        intake = Intake(connect(settings.redis_url), settings)
        open_project = make_project(root, media, "open", ["wide24.mp4"])
        done_project = make_project(root, media, "done", ["wide24.mp4"])
        for project in (open_project, done_project):
            (project / "assembly.json").write_bytes(request_doc(["wide24.mp4"]))
            assert admit(intake.conn, intake.settings, project / "assembly.json") == "queued"
        done = StatusFile(done_project / "assembly.json")
        done.write(job_id=done.read()["job_id"], state="finished")
        # Redis comes back with nothing in it.
        server.stop()
        shutil.rmtree(state)
        server.start()
        conn = connect(settings.redis_url)
        assert adapter.open_queue(conn, settings).count == 0
        intake = Intake(conn, settings)
        outcomes = {p.parent.name: admit(intake.conn, intake.settings, p) for p in intake.walk()}
        assert outcomes == {"open": "queued", "done": "done"}
        open_id = StatusFile(open_project / "assembly.json").read()["job_id"]
        assert adapter.open_queue(conn, settings).get_job_ids() == [open_id]
    finally:
        server.stop()
        shutil.rmtree(state, ignore_errors=True)
