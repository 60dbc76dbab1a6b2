"""`assemblyd up` as studios run it: what it was given reaches every worker, its
Redis belongs to its roots, and it exits non-zero when its machinery fails."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from assemblyd.queue.connection import embedded_dir, open_redis
from assemblyd.queue.farm import farm_status
from assemblyd.records.status import StatusFile
from assemblyd.service import Service, cores
from assemblyd.settings import Settings
from assemblyd.watch.watcher import Watcher
from tests.conftest import Daemon, clean_env, make_project, request_doc, wait_for
from tests.farm.conftest import LIMITED, LIMITED_PASSWORD, Server


@pytest.fixture
def state() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="asm-u-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


class Up(Daemon):
    """`assemblyd up` in its own process, its stderr in a file."""

    def url(self) -> str:
        found = wait_for(lambda: re.search(r"dashboard (http://\S+)", self.log), 30, "up")
        return found.group(1)

    def stop(self, timeout: float = 60) -> int:
        children = self.tree()
        code = super().stop(timeout)
        _, alive = psutil.wait_procs(children, timeout=10)
        assert alive == [], alive  # no orphans
        return code


@pytest.fixture
def up(tmp_path: Path) -> Iterator[Any]:
    started: list[Up] = []

    def start(*args: str, **env: str) -> Up:
        clean = clean_env(
            ASSEMBLYD_STABLE_SECONDS="0.3", ASSEMBLYD_SOURCE_SETTLE_SECONDS="0.1", **env
        )
        u = Up(list(args), clean, tmp_path / f"up-{len(started)}.log")
        started.append(u)
        return u

    yield start
    for u in started:
        if u.proc.poll() is None:
            u.stop()


def _rendered(project: Path, shots: list[str]) -> Path:
    request = project / "assembly.json"
    request.write_bytes(request_doc(shots))
    status = StatusFile(request)
    wait_for(lambda: status.read().get("state") in ("finished", "failed"), 120, "the render")
    assert status.read()["state"] == "finished", status.read()
    return project / str(status.read()["export"])


# --- 3. one effective configuration in every process -------------------------------


def test_what_up_is_given_reaches_its_workers(up, root, media, state, tmp_path):
    """Flags (--root, --threads, --log-level), the environment and the TOML file."""
    config = tmp_path / "assemblyd.toml"
    config.write_text("fanout_min_segments = 0\nprogress_interval = 0.1\n")
    u = up(
        "--log-level",
        "DEBUG",
        "up",
        "--root",
        str(root),
        "--threads",
        "3",
        "--no-web",
        ASSEMBLYD_STATE_DIR=str(state),
        ASSEMBLYD_CONFIG=str(config),
        ASSEMBLYD_HEARTBEAT_INTERVAL="2",
    )
    project = make_project(root, media, "seq010", ["wide24.mp4", "wide30.mp4"])
    _rendered(project, ["wide24.mp4", "wide30.mp4"])
    # The segment cache is the root's, as documented, not the project's.
    entries = list((root / ".assemblyd-cache").glob("??/*.mp4"))
    assert len(entries) == 2, entries
    assert not (project / ".assemblyd-cache").exists()
    # The worker says what it runs with (from its own settings, in RQ's worker hash).
    conn = open_redis(Settings(state_dir=state, roots=[root]))
    (worker,) = farm_status(conn, Settings(roots=[root]))["workers"]
    setup = worker["setup"]
    assert setup["ffmpeg_threads"] == 3
    assert setup["log_level"] == "DEBUG"
    assert setup["caches"] == {str(root): str(root / ".assemblyd-cache")}
    # And really logs at that level (rq.worker lines come from workers only).
    assert re.search(r"DEBUG rq\.worker: Worker \S+: (sent heartbeat|dequeueing)", u.log), u.log
    assert u.stop() == 0


def test_up_shares_the_cores_among_its_workers(up, root, state):
    u = up("up", "--root", str(root), "--workers", "2", "--no-web", ASSEMBLYD_STATE_DIR=str(state))
    conn = open_redis(Settings(state_dir=state, roots=[root]))
    workers = wait_for(
        lambda: (w := farm_status(conn, Settings(roots=[root]))["workers"]) and len(w) == 2 and w,
        30,
        "two workers",
    )
    assert [w["setup"]["ffmpeg_threads"] for w in workers] == [max(1, cores() // 2)] * 2
    assert u.stop() == 0


# --- 4. isolation -------------------------------------------------------------------


def _listed(url: str) -> list[str]:
    return [
        v["project"] for v in httpx.get(f"{url}/api/v1/assembly/jobs", timeout=30).json()["jobs"]
    ]


def test_two_studios_on_one_machine_never_see_each_others_jobs(up, tmp_path, media, state):
    a, b, c = (tmp_path / name for name in ("studio-a", "studio-b", "studio-c"))
    # At the same time, with the same state_dir (the default one, in real life).
    up_a = up("up", "--root", str(a), "--port", "0", ASSEMBLYD_STATE_DIR=str(state))
    up_b = up("up", "--root", str(b), "--port", "0", ASSEMBLYD_STATE_DIR=str(state))
    url_a, url_b = up_a.url(), up_b.url()
    _rendered(make_project(a, media, "film", ["wide24.mp4"]), ["wide24.mp4"])
    _rendered(make_project(b, media, "promo", ["wide24.mp4"]), ["wide24.mp4"])
    assert _listed(url_a) == [str(a / "film")]
    assert _listed(url_b) == [str(b / "promo")]
    assert embedded_dir(Settings(state_dir=state, roots=[a])) != embedded_dir(
        Settings(state_dir=state, roots=[b])
    )
    assert up_a.stop() == 0
    # One after the other: a new studio folder starts empty ...
    up_c = up("up", "--root", str(c), "--port", "0", ASSEMBLYD_STATE_DIR=str(state))
    assert _listed(up_c.url()) == []
    assert up_c.stop() == 0
    # ... and a studio that comes back finds its own jobs, kept.
    again = up("up", "--root", str(a), "--port", "0", ASSEMBLYD_STATE_DIR=str(state))
    assert _listed(again.url()) == [str(a / "film")]
    data = embedded_dir(Settings(state_dir=state, roots=[a]))
    assert json.loads((data / "roots.json").read_text())["roots"] == [str(a)]
    assert again.stop() == 0
    assert up_b.stop() == 0


# --- 6. supervision -----------------------------------------------------------------

CRASH_AT_START = """
import os
if os.environ.get("ASSEMBLYD_EFFECTIVE_SETTINGS"):  # only up's workers: a broken install
    os._exit(5)
"""


def test_a_worker_that_crashes_at_start_is_respawned_with_backoff_then_up_exits_1(
    up, root, state, tmp_path
):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "sitecustomize.py").write_text(CRASH_AT_START)
    u = up(
        "up",
        "--root",
        str(root),
        "--no-web",
        ASSEMBLYD_STATE_DIR=str(state),
        ASSEMBLYD_WORKER_RESPAWN_DELAY="0.2",
        ASSEMBLYD_WORKER_RESPAWN_LIMIT="4",
        PYTHONPATH=str(broken),
    )
    assert u.proc.wait(60) == 1, u.log
    pauses = [float(p) for p in re.findall(r"exited with 5; starting another in ([\d.]+) s", u.log)]
    assert pauses == [0.2, 0.4, 0.8], u.log  # doubling, not every half second forever
    assert "giving up (worker_respawn_limit)" in u.log
    assert u.stop() == 1


def test_the_watcher_exits_non_zero_when_redis_refuses_it(password_redis: Server, root, tmp_path):
    """An ACL user without SET: the watcher's first heartbeat is refused. Waiting
    would not help; it says what is wrong and exits non-zero for systemd."""
    env = password_redis.env(
        ASSEMBLYD_REDIS_URL=f"redis://{LIMITED}@127.0.0.1:{password_redis.port}/0",
        ASSEMBLYD_REDIS_PASSWORD=LIMITED_PASSWORD,
        ASSEMBLYD_LOG_LEVEL="WARNING",
    )
    run = subprocess.run(
        [sys.executable, "-m", "assemblyd", "watch", "--root", str(root)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1, run.stderr
    assert "lacks a permission" in run.stderr and "Traceback" not in run.stderr, run.stderr


class _Broken(Watcher):
    def run(self) -> None:
        raise ValueError("something nobody foresaw")


def test_up_exits_1_when_its_watcher_dies_of_anything(root, state, monkeypatch):
    monkeypatch.setattr("assemblyd.service.Watcher", _Broken)
    settings = Settings(roots=[root], state_dir=state)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        assert Service(settings, workers=0).run() == 1
    finally:  # the service took SIGINT and SIGTERM over for this process: give them back
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
