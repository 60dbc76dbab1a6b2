"""Jobs end to end: a real watcher, real Redis, real RQ workers, real renders."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import zlib

import psutil

from assemblyd.errors import AssemblyError
from assemblyd.queue import adapter, events, names, views
from assemblyd.queue.admission import admit
from assemblyd.queue.outcomes import mark_ended
from assemblyd.records.status import StatusFile
from assemblyd.states import JobState
from tests.conftest import cancel_with_cli, make_project, request_doc, service_env, wait_for
from tests.mediacheck import measure

LONG = ["long24.mp4"] * 8  # 24 s of 640x360 ProRes: long enough to interrupt
LONG_DOC = request_doc(LONG, resolution="640x360", quality_preset="high", output_format="mov")


def _state(status: StatusFile) -> str | None:
    return status.read().get("state")


def _render_started(root, media, name: str, doc: bytes = LONG_DOC) -> tuple:
    """Drop ``doc`` into a new project of ``long24.mp4`` and wait until it renders.
    Returns the project folder, its status file and the job id."""
    project = make_project(root, media, name, ["long24.mp4"])
    request = project / "assembly.json"
    request.write_bytes(doc)
    status = StatusFile(request)
    job_id = wait_for(
        lambda: status.read().get("stage") == "render" and status.read()["job_id"],
        60,
        "the render to start",
    )
    return project, status, job_id


def _renders_of(project) -> list[psutil.Process]:
    """ffmpeg processes anywhere on the machine working on this project's files."""
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        try:
            if "ffmpeg" in (proc.info["name"] or "") and str(project) in " ".join(
                proc.info["cmdline"] or []
            ):
                found.append(proc)
        except psutil.Error:
            continue
    return found


class Listener(threading.Thread):
    """Records every message on the progress channel with its arrival time."""

    def __init__(self, conn) -> None:
        super().__init__(daemon=True)
        self.channel = conn.pubsub(ignore_subscribe_messages=True)
        self.channel.subscribe(events.CHANNEL)
        self.events: list[tuple[float, dict]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            message = self.channel.get_message(timeout=0.1)
            if message:
                self.events.append((time.monotonic(), json.loads(message["data"])))
        self.channel.close()


def test_a_dropped_request_is_rendered_and_reported_everywhere(
    watcher, workers, conn, root, media, service_settings
):
    workers.start(1)
    listener = Listener(conn)
    listener.start()
    watcher()
    project = make_project(root, media, "seq010", ["wide24.mp4", "portrait25.mp4", "wide30.mp4"])
    request = project / "assembly.json"
    request.write_bytes(request_doc(["wide24.mp4", "portrait25.mp4", "wide30.mp4"]))
    status = StatusFile(request)
    wait_for(lambda: _state(status) == "finished", 90, "the job to finish")
    record = status.read()
    wait_for(lambda: any(e["state"] == "finished" for _, e in listener.events), 10, "the event")
    listener.stop.set()
    listener.join()

    assert record["export"] == "exports/seq010.mp4" and record["progress"] == 100.0
    m = measure(project / record["export"])
    assert (m.width, m.height, m.frames) == (320, 180, 72)
    job = adapter.fetch(conn, record["job_id"])
    view = views.view(job)
    assert (view["state"], view["progress"], view["stage"]) == ("finished", 100.0, "done")
    assert job.timeout == service_settings.job_timeout
    assert job.result_ttl == service_settings.result_ttl
    assert job.failure_ttl == service_settings.failure_ttl
    # Three shots to re-encode: the request was split into part jobs and a join.
    assert len(job.meta["fanout"]["parts"]) == 3
    # Stored as JSON, not pickle: nothing in Redis can make a worker run code.
    stored = json.loads(zlib.decompress(conn.hget(f"rq:job:{job.id}", "data")))
    assert stored[0] == names.RUN_ASSEMBLY and stored[2] == [str(request)]
    (entry,) = json.loads((project / "project.json").read_text())["assemblies"]
    assert (entry["id"], entry["status"]) == (job.id, "finished")

    mine = [(t, e) for t, e in listener.events if e["id"] == job.id]
    assert mine[0][1]["state"] == "queued" and mine[-1][1]["state"] == "finished"
    percents = [e["progress"] for _, e in mine]
    assert percents == sorted(percents) and percents[-1] == 100.0
    assert len({e["stage"] for _, e in mine}) >= 3
    # Throttled: stage changes always go out; within a stage, at most one message per
    # progress_interval in any second, plus one as each part finishes.
    pairs = zip(mine[1:], mine[:-1], strict=True)
    same_stage = [t for (t, e), (_, before) in pairs if e["stage"] == before["stage"]]
    busiest = max(sum(1 for u in same_stage if t <= u < t + 1) for t in same_stage)
    allowed = 1 / service_settings.progress_interval + len(job.meta["fanout"]["parts"]) + 1
    assert busiest <= allowed, [(round(t - mine[0][0], 3), e["stage"]) for t, e in mine]


def test_a_request_that_fails_validation_is_not_retried(watcher, workers, conn, root, media):
    workers.start(1)
    w = watcher()
    project = make_project(root, media, "seq020", ["wide24.mp4"])
    request = project / "assembly.json"
    request.write_bytes(request_doc(["wide24.mp4", "gone.mp4"]))
    status = StatusFile(request)
    wait_for(lambda: _state(status) == "failed", 60, "the job to fail")
    error = status.read()["error"]
    assert error["code"] == "invalid_request"
    assert "shot 2 (shots/gone.mp4): file not found" in error["message"]
    # Rescans keep seeing it; it stays one failed job.
    for _ in range(3):
        assert admit(conn, w.watcher.settings, request) == "done"
    assert len(views.all_jobs(conn, w.watcher.settings)) == 1
    assert not (project / "exports").exists() or not list((project / "exports").iterdir())


def test_cancelling_a_queued_job_means_it_never_runs(
    watcher, workers, conn, root, media, service_settings
):
    watcher()  # no worker yet: the job waits in the queue
    project = make_project(root, media, "seq030", ["wide24.mp4"])
    request = project / "assembly.json"
    request.write_bytes(request_doc(["wide24.mp4"]))
    status = StatusFile(request)
    job_id = wait_for(lambda: _state(status) == "queued" and status.read()["job_id"], 15, "queued")
    run = cancel_with_cli(service_settings, job_id)
    assert run.returncode == 0, run.stderr
    assert f"{job_id}: canceled" in run.stdout
    assert _state(status) == "canceled"
    workers.start(1)
    wait_for(lambda: views.view(adapter.fetch(conn, job_id))["state"] == "canceled", 10)
    assert adapter.open_queue(conn, service_settings).count == 0
    assert not (project / "exports").exists()
    (entry,) = json.loads((project / "project.json").read_text())["assemblies"]
    assert entry["status"] == "canceled"


def test_cancelling_a_running_job_stops_ffmpeg_and_publishes_nothing(
    watcher, workers, conn, root, media, service_settings
):
    workers.start(1)
    watcher()
    project, status, job_id = _render_started(root, media, "seq040")
    wait_for(lambda: _renders_of(project), 30, "ffmpeg to be running")
    run = cancel_with_cli(service_settings, job_id)
    assert run.returncode == 0, run.stdout + run.stderr
    assert views.view(adapter.fetch(conn, job_id))["state"] == "canceled"
    wait_for(lambda: _state(status) == "canceled", 10, "the status file to say canceled")
    wait_for(lambda: not _renders_of(project), 10, "ffmpeg to be gone")
    assert list((project / "exports").iterdir()) == []
    (entry,) = json.loads((project / "project.json").read_text())["assemblies"]
    assert entry["status"] == "canceled"


def test_a_sigkilled_worker_fails_its_job_and_cleans_up(
    watcher, workers, conn, root, media, service_settings
):
    (worker,) = workers.start(1)
    watcher()
    project, status, job_id = _render_started(root, media, "seq050")
    wait_for(lambda: list((project / "exports").glob(".*partial*")), 30, "a partial file")
    worker.send_signal(signal.SIGKILL)
    # heartbeat_interval is 1 s: 10 s without beats (the floor), then a reconcile (1 s).
    wait_for(lambda: _state(status) == "failed", 30, "the job to be failed")
    error = status.read()["error"]
    assert error["code"] == "worker_died" and "died" in error["message"]
    wait_for(lambda: not _renders_of(project), 10, "the orphaned render to stop")
    assert list((project / "exports").iterdir()) == []
    assert views.view(adapter.fetch(conn, job_id))["state"] == "failed"
    (entry,) = json.loads((project / "project.json").read_text())["assemblies"]
    assert entry["status"] == "failed" and entry["error"]["code"] == "worker_died"


def test_a_live_job_declared_dead_stops_and_leaves_the_verdict_alone(
    watcher, workers, conn, root, media, service_settings
):
    """The reaper can be wrong: a worker whose heartbeats were only late. Its horse
    must stop at its next progress update, remove its partial files, publish nothing
    and not write "running" over the verdict anywhere."""
    (worker,) = workers.start(1)
    watcher()
    project, status, job_id = _render_started(root, media, "seq055")
    wait_for(lambda: _renders_of(project), 30, "ffmpeg to be running")
    error = AssemblyError("declared dead by the test", code="worker_died")
    verdict = error.to_dict()
    mark_ended(adapter.fetch(conn, job_id), service_settings, JobState.FAILED, error)

    job = adapter.fetch(conn, job_id)
    wait_for(lambda: job.get_status(refresh=True) == "failed", 30, "the horse to give up")
    wait_for(lambda: not _renders_of(project), 10, "its ffmpeg to be gone")
    assert list((project / "exports").iterdir()) == []
    assert job.get_meta(refresh=True)["state"] == "failed"
    assert job.meta["error"] == verdict
    assert status.read()["state"] == "failed" and status.read()["error"] == verdict
    (entry,) = json.loads((project / "project.json").read_text())["assemblies"]
    assert entry["status"] == "failed" and entry["error"] == verdict
    assert worker.poll() is None  # the worker itself lives on


def _horses_of(worker: subprocess.Popen[bytes]) -> list[psutil.Process]:
    try:
        return psutil.Process(worker.pid).children()
    except psutil.NoSuchProcess:
        return []


def test_a_stalled_worker_loses_its_job_and_its_horse_stops_cleanly(
    watcher, workers, conn, root, media, service_settings
):
    """The same, the way it happens: the worker is frozen (SIGSTOP: a VM paused, a
    machine swapping) past its heartbeats while its horse renders on, unsupervised.
    The reaper fails the job; the horse must stop on its own, not publish later."""
    (worker,) = workers.start(1, ASSEMBLYD_FANOUT_MIN_SEGMENTS="0")  # one horse does it all
    watcher()
    # Twelve distinct segments in 1080p ProRes: about twice what the reaper needs
    # (unstopped, the render takes 20 s or more here).
    shots = [{"path": "shots/long24.mp4", "in": i / 100} for i in range(12)]
    output = {"resolution": "1920x1080", "quality_preset": "high", "output_format": "mov"}
    doc = json.dumps({"shots": shots, "output": output}).encode()
    project, status, job_id = _render_started(root, media, "seq056", doc)
    (horse,) = wait_for(lambda: _horses_of(worker), 10, "the work horse")
    worker.send_signal(signal.SIGSTOP)
    try:
        wait_for(lambda: _state(status) == "failed", 40, "the reaper to fail the job")
    finally:
        worker.send_signal(signal.SIGCONT)
    assert status.read()["error"]["code"] == "worker_died"
    # A horse that rendered on would take many seconds more, then publish.
    wait_for(lambda: not horse.is_running(), 10, "the horse to stop by itself")
    assert not _renders_of(project)
    assert list((project / "exports").iterdir()) == []
    job = adapter.fetch(conn, job_id)
    assert job.get_meta(refresh=True)["state"] == "failed"
    assert job.meta["error"]["code"] == "worker_died"
    assert _state(status) == "failed"
    (entry,) = json.loads((project / "project.json").read_text())["assemblies"]
    assert entry["status"] == "failed" and entry["error"]["code"] == "worker_died"
    assert worker.poll() is None


def test_jobs_command_lists_state_and_percent(watcher, conn, root, media, service_settings):
    watcher()
    project = make_project(root, media, "seq060", ["wide24.mp4"])
    (project / "assembly.json").write_bytes(request_doc(["wide24.mp4"]))
    status = StatusFile(project / "assembly.json")
    job_id = wait_for(lambda: status.read().get("job_id"), 15, "queued")
    run = subprocess.run(
        [sys.executable, "-m", "assemblyd", "jobs"],
        env=service_env(service_settings),
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert job_id in run.stdout and "queued" in run.stdout and "0.0%" in run.stdout
    listed = json.loads(
        subprocess.run(
            [sys.executable, "-m", "assemblyd", "jobs", "--json", "--state", "queued"],
            env=service_env(service_settings),
            capture_output=True,
            text=True,
        ).stdout
    )
    assert [v["id"] for v in listed] == [job_id]
