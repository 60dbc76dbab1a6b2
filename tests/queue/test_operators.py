"""RQ's own tools tell the truth about our jobs: rq info, rq-dashboard, and RQ's
registries themselves (canceled is canceled; a split request is not finished while
its parts render). Real workers, a real rq-dashboard process, real HTTP."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from rq.job import Job
from rq.serializers import JSONSerializer

from assemblyd.errors import Canceled
from assemblyd.queue import adapter
from assemblyd.queue.admission import admit
from assemblyd.queue.outcomes import mark_ended
from assemblyd.records.status import StatusFile
from assemblyd.states import JobState
from tests.conftest import (
    cancel_with_cli,
    make_project,
    request_doc,
    service_env,
    wait_for,
)

LONG = [f"long{i}.mp4" for i in range(4)]


def _rq(conn, job_id: str) -> Job:
    return Job.fetch(job_id, connection=conn, serializer=JSONSerializer)


def _long_split_request(root: Path, media: Path, conn, settings, name: str) -> tuple[Path, str]:
    project = make_project(root, media, name, [])
    for shot in LONG:
        shutil.copyfile(media / "long24.mp4", project / "shots" / shot)
    request = project / "assembly.json"
    request.write_bytes(request_doc(LONG, resolution="1280x720", quality_preset="high"))
    assert admit(conn, settings, request) == "queued"
    return project, str(StatusFile(request).read()["job_id"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def rq_dashboard(redis_url: str):  # type: ignore[no-untyped-def]
    """rq-dashboard 0.9 with RQ's JSON serializer and our fix module, on loopback."""
    exe = Path(sys.executable).with_name("rq-dashboard")
    if not exe.exists():
        pytest.fail(
            "rq-dashboard is not installed: it is in the test extra (pip install -e .[test])"
        )
    port = _free_port()
    proc = subprocess.Popen(
        [
            str(exe),
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "-u",
            redis_url,
            "-j",
            "-c",
            "assemblyd.queue.dashboard_fix",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(f"{base}/0/data/queues.json", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(up, 30, "rq-dashboard to answer")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_rq_dashboard_and_rq_info_show_a_busy_farm_and_a_cancel_lands_in_canceled(
    workers, conn, root, media, service_settings, redis_url, rq_dashboard
):
    workers.start(1)
    queue = service_settings.queue_name
    _, job_id = _long_split_request(root, media, conn, service_settings, "ops1")
    parent = _rq(conn, job_id)
    wait_for(lambda: parent.get_status(refresh=True) == "deferred", 60, "the hand-off")
    fan = adapter.fetch(conn, job_id).meta["fanout"]
    join_id = fan["join"]
    first = fan["parts"][0]
    wait_for(lambda: _rq(conn, first).get_status(refresh=True) == "started", 60, "a part")

    # While its parts render, the request is deferred on its join: never finished.
    assert parent.get_status(refresh=True) == "deferred"
    assert parent.dependency_ids == [join_id]
    assert job_id in adapter.open_queue(conn, service_settings).deferred_job_registry.get_job_ids()

    def get(path: str) -> dict:  # type: ignore[type-arg]
        answer = httpx.get(f"{rq_dashboard}/0/data/{path}", timeout=30)
        assert answer.status_code == 200, (path, answer.text[:500])
        return answer.json()  # type: ignore[no-any-return]

    queues = {q["name"]: q for q in get("queues.json")["queues"]}
    assert queue in queues
    (worker,) = [w for w in get("workers.json")["workers"] if queue in w["queues"]]
    assert worker["state"] == "busy"  # a busy worker: 500 without the fix module
    deferred = [j["id"] for j in get(f"jobs/{queue}/deferred/20/asc/1.json")["jobs"]]
    assert job_id in deferred and join_id in deferred
    started = [j["id"] for j in get(f"jobs/{queue}/started/20/asc/1.json")["jobs"]]
    assert first in started
    for registry in ("queued", "finished", "failed", "canceled", "scheduled"):
        get(f"jobs/{queue}/{registry}/20/asc/1.json")
    # Jobs that depend on others: 500 without the fix module.
    assert get(f"job/{job_id}.json")["depends_on"] == [join_id]
    assert sorted(get(f"job/{join_id}.json")["depends_on"]) == sorted(fan["parts"])

    info = subprocess.run(
        [
            str(Path(sys.executable).with_name("rq")),
            "info",
            "-S",
            "json",
            "--job-class",
            "assemblyd.queue.functions.AssemblyJob",
            "-u",
            redis_url,
            queue,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert info.returncode == 0, info.stderr
    assert queue in info.stdout and "1 executing" in info.stdout, info.stdout
    assert "busy" in info.stdout and "Traceback" not in info.stderr

    run = cancel_with_cli(service_settings, job_id)
    assert run.returncode == 0, run.stderr
    family = [job_id, join_id, *fan["parts"]]
    wait_for(
        lambda: all(_rq(conn, i).get_status(refresh=True) == "canceled" for i in family),
        30,
        "the request and every piece to be canceled in RQ",
    )
    registry = adapter.open_queue(conn, service_settings)
    canceled = set(registry.canceled_job_registry.get_job_ids())
    assert set(family) <= canceled  # the running part too: RQ would file it as "stopped"
    assert not set(family) & set(registry.failed_job_registry.get_job_ids(cleanup=False))
    assert not set(family) & set(registry.deferred_job_registry.get_job_ids(cleanup=False))
    listed = [j["id"] for j in get(f"jobs/{queue}/canceled/20/asc/1.json")["jobs"]]
    assert job_id in listed and first in listed
    assert get(f"job/{first}.json")["status"] == "canceled"


def test_a_canceled_running_job_is_in_rqs_canceled_registry(
    workers, conn, root, media, service_settings
):
    workers.start(1, ASSEMBLYD_FANOUT_MIN_SEGMENTS="0")
    _, job_id = _long_split_request(root, media, conn, service_settings, "ops2")
    job = _rq(conn, job_id)
    wait_for(lambda: job.get_status(refresh=True) == "started", 60, "the render to start")
    run = cancel_with_cli(service_settings, job_id)
    assert run.returncode == 0, run.stderr
    assert job.get_status(refresh=True) == "canceled"
    queue = adapter.open_queue(conn, service_settings)
    assert queue.canceled_job_registry.get_job_ids() == [job_id]
    assert queue.failed_job_registry.get_job_ids(cleanup=False) == []
    assert queue.started_job_registry.get_job_ids(cleanup=False) == []


def test_a_split_request_ends_in_rq_after_its_join(workers, conn, root, media, service_settings):
    workers.start(1)
    shots = ["wide24.mp4", "wide30.mp4", "portrait25.mp4"]
    project = make_project(root, media, "ops3", shots)
    request = project / "assembly.json"
    request.write_bytes(request_doc(shots))
    assert admit(conn, service_settings, request) == "queued"
    job_id = str(StatusFile(request).read()["job_id"])
    parent = _rq(conn, job_id)
    seen: list[str] = []

    def ended() -> bool:
        seen.append(parent.get_status(refresh=True).value)
        return seen[-1] in ("finished", "failed")

    wait_for(ended, 120, "the request to end in RQ")
    assert seen[-1] == "finished"
    join = _rq(conn, adapter.fetch(conn, job_id).meta["fanout"]["join"])
    wait_for(lambda: join.get_status(refresh=True) == "finished", 10, "the join's bookkeeping")
    parent = _rq(conn, job_id)
    # Before, the request's job finished the moment it had queued its parts, long
    # before they (and the join) rendered anything.
    assert join.ended_at is not None and parent.ended_at is not None
    assert parent.ended_at >= join.ended_at
    queue = adapter.open_queue(conn, service_settings)
    assert job_id in queue.finished_job_registry.get_job_ids()
    assert queue.deferred_job_registry.get_job_ids(cleanup=False) == []
    assert StatusFile(request).read()["state"] == "finished"


def test_version_and_status(workers, watcher, conn, service_settings):
    version = subprocess.run(
        [sys.executable, "-m", "assemblyd", "--version"], capture_output=True, text=True
    )
    assert version.returncode == 0 and version.stdout.startswith("assemblyd "), version
    env = service_env(service_settings)

    def status() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "assemblyd", "status"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    lonely = status()
    assert lonely.returncode == 1  # no worker, no watcher: said, and not healthy
    assert "NONE" in lonely.stdout
    workers.start(1)
    watcher()
    wait_for(lambda: status().returncode == 0, 30, "a healthy farm")
    shown = status().stdout
    assert "redis" in shown and "up" in shown
    assert f"queue     {service_settings.queue_name}: 0 waiting" in shown
    assert "watcher" in shown and "alive" in shown
    assert "worker    " in shown and "threads auto" in shown


def test_a_part_that_sees_its_request_canceled_first_ends_canceled_in_rq(
    workers, conn, root, media, service_settings
):
    """The stop command and the part's own check race: a part that notices first (its
    next progress report) stops itself, and is canceled in RQ all the same."""
    workers.start(1)
    _, job_id = _long_split_request(root, media, conn, service_settings, "ops4")
    wait_for(lambda: adapter.fetch(conn, job_id).meta.get("fanout"), 60, "the hand-off")
    part = adapter.fetch(conn, job_id).meta["fanout"]["parts"][0]
    wait_for(lambda: _rq(conn, part).get_status(refresh=True) == "started", 60, "the part")
    # Canceled as a cancel records it, but without the stop command: only the part's
    # own check can end it now.
    mark_ended(adapter.fetch(conn, job_id), service_settings, JobState.CANCELED, Canceled())
    wait_for(lambda: _rq(conn, part).get_status(refresh=True) == "canceled", 60, "the part")
    queue = adapter.open_queue(conn, service_settings)
    assert part in queue.canceled_job_registry.get_job_ids()
    assert part not in queue.failed_job_registry.get_job_ids(cleanup=False)
