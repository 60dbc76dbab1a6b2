"""Scale-out over RQ: part jobs on several workers, one join, one request."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys

from rq.job import Job
from rq.serializers import JSONSerializer

from assemblyd.queue import adapter, views
from assemblyd.queue.admission import admit
from assemblyd.queue.reaper import reap_abandoned
from assemblyd.records.status import StatusFile
from tests.conftest import cancel_with_cli, make_project, request_doc, service_env, wait_for
from tests.mediacheck import measure

SHOTS = ["wide24.mp4", "wide30.mp4", "portrait25.mp4", "square50.mp4", "ntsc.mov"]


def _drop(root, media, conn, settings, name, shots, **output):
    project = make_project(root, media, name, sorted(set(shots)))
    request = project / "assembly.json"
    request.write_bytes(request_doc(shots, **output))
    assert admit(conn, settings, request) == "queued"
    return project, request, StatusFile(request)


def test_parts_run_on_several_workers_and_add_up(workers, conn, root, media, service_settings):
    workers.start(2)
    project, _, status = _drop(root, media, conn, service_settings, "fan1", SHOTS)
    job_id = status.read()["job_id"]
    seen = []
    wait_for(
        lambda: (
            seen.append(views.view(adapter.fetch(conn, job_id))) or seen[-1]["state"] == "finished"
        ),
        120,
        "the fanned-out job",
    )
    parent = adapter.fetch(conn, job_id)
    parts = [adapter.fetch(conn, i) for i in parent.meta["fanout"]["parts"]]
    assert len(parts) == len(SHOTS)
    assert len({p.worker_name for p in parts}) == 2  # both workers took a share
    join = adapter.fetch(conn, parent.meta["fanout"]["join"])
    # RQ records the join as finished just after it has published and told everyone.
    wait_for(lambda: join.get_status(refresh=True) == "finished", 10, "the join's bookkeeping")
    assert min(j.ended_at for j in parts) <= join.started_at  # the join waited for them
    percents = [v["progress"] for v in seen]
    assert percents == sorted(percents) and percents[-1] == 100.0
    assert any(6 < p < 90 for p in percents)  # the parts' share showed up as they ran
    m = measure(project / status.read()["export"])
    assert m.frames == 24 * 4 + 23 and (m.width, m.height) == (320, 180)


def test_canceling_the_request_cancels_every_part(workers, conn, root, media, service_settings):
    workers.start(1)
    long_shots = [f"long{i}.mp4" for i in range(4)]
    project = make_project(root, media, "fan2", [])
    for name in long_shots:
        (project / "shots" / name).write_bytes((media / "long24.mp4").read_bytes())
    request = project / "assembly.json"
    request.write_bytes(request_doc(long_shots, resolution="1280x720", quality_preset="high"))
    assert admit(conn, service_settings, request) == "queued"
    status = StatusFile(request)
    job_id = status.read()["job_id"]
    wait_for(lambda: adapter.fetch(conn, job_id).meta.get("fanout"), 60, "the hand-off")
    parent = adapter.fetch(conn, job_id)
    first = parent.meta["fanout"]["parts"][0]
    wait_for(lambda: adapter.fetch(conn, first).get_status() == "started", 30, "a part")
    start = views.view(adapter.fetch(conn, job_id))["progress"]
    wait_for(
        lambda: views.view(adapter.fetch(conn, job_id))["progress"] > start, 60, "the parts' share"
    )
    shown = views.view(adapter.fetch(conn, job_id))["progress"]
    run = cancel_with_cli(service_settings, job_id)
    assert run.returncode == 0, run.stderr
    assert status.read()["state"] == "canceled"
    # The bar stays where the parts had taken it, in Redis and in the status file.
    assert views.view(adapter.fetch(conn, job_id))["progress"] >= shown
    assert status.read()["progress"] >= shown
    children = [
        adapter.fetch(conn, i)
        for i in adapter.fetch(conn, job_id).meta["fanout"]["parts"]
        + [parent.meta["fanout"]["join"]]
    ]
    wait_for(
        lambda: all(c.get_status(refresh=True) in ("stopped", "canceled") for c in children),
        15,
        "every child to stop",
    )
    assert adapter.fetch(conn, parent.meta["fanout"]["join"]).get_status() == "canceled"
    assert not (project / "exports").exists() or list((project / "exports").iterdir()) == []
    (entry,) = json.loads((project / "project.json").read_text())["assemblies"]
    assert entry["status"] == "canceled"


def test_a_failing_part_fails_the_request_naming_its_shot(conn, root, media, service_settings):
    project, _, status = _drop(root, media, conn, service_settings, "fan3", SHOTS[:3])
    env = service_env(service_settings)
    # One worker takes only the request's own job: it plans and hands off.
    subprocess.run(
        [sys.executable, "-m", "assemblyd", "worker", "--burst", "--max-jobs", "1"],
        env=env,
        check=True,
        timeout=120,
    )
    job_id = status.read()["job_id"]
    parent = adapter.fetch(conn, job_id)
    assert len(parent.meta["fanout"]["parts"]) == 3
    # Before the parts run, shot 2 is damaged on the NAS.
    (project / "shots" / "wide30.mp4").write_bytes(b"\0" * 4096)
    subprocess.run(
        [sys.executable, "-m", "assemblyd", "worker", "--burst"], env=env, check=True, timeout=120
    )
    record = status.read()
    assert record["state"] == "failed"
    assert record["error"]["shot_index"] == 1 and "shot 2" in record["error"]["message"]
    join = adapter.fetch(conn, parent.meta["fanout"]["join"])
    assert join.get_status() in ("canceled", "deferred")  # it never ran
    assert not (project / "exports").exists() or list((project / "exports").iterdir()) == []
    # In RQ the request failed too, with its reason; nothing is left waiting.
    rq_parent = Job.fetch(job_id, connection=conn, serializer=JSONSerializer)
    assert rq_parent.get_status() == "failed"
    exc = rq_parent.latest_result().exc_string or ""  # type: ignore[union-attr]
    assert "invalid_request" in exc and "shot 2" in exc, exc
    queue = adapter.open_queue(conn, service_settings)
    assert queue.deferred_job_registry.get_job_ids(cleanup=False) == []


def _rq(conn, job_id):  # type: ignore[no-untyped-def]
    return Job.fetch(job_id, connection=conn, serializer=JSONSerializer)


def test_a_part_whose_worker_dies_runs_once_more_and_dies_only_twice(
    workers, conn, root, media, service_settings
):
    """Render farms re-run a task whose node died, once: a second death of the same
    part fails the request, naming its shot."""
    shots = ["long0.mp4", "long1.mp4"]
    project = make_project(root, media, "fan4", [])
    for name in shots:
        shutil.copyfile(media / "long24.mp4", project / "shots" / name)
    request = project / "assembly.json"
    request.write_bytes(request_doc(shots, resolution="1280x720", quality_preset="high"))
    assert admit(conn, service_settings, request) == "queued"
    job_id = StatusFile(request).read()["job_id"]
    (first,) = workers.start(1)
    wait_for(lambda: adapter.fetch(conn, job_id).meta.get("fanout"), 60, "the hand-off")
    part_id = adapter.fetch(conn, job_id).meta["fanout"]["parts"][0]
    part = _rq(conn, part_id)

    def dies_under(worker) -> str:  # type: ignore[no-untyped-def]
        wait_for(lambda: part.get_status(refresh=True) == "started", 60, "the part to run")
        name = _rq(conn, part_id).worker_name
        worker.send_signal(signal.SIGKILL)  # the whole node: its horse and ffmpeg follow
        worker.wait()
        return str(name)

    def reaped(status: str) -> bool:
        reap_abandoned(conn, service_settings)  # as the watcher does at each rescan
        return part.get_status(refresh=True) == status

    died_on = dies_under(first)
    wait_for(lambda: reaped("queued"), 60, "the part to be queued again")
    assert views.view(adapter.fetch(conn, job_id))["state"] == "running"  # not failed
    assert part.get_status(refresh=True) == "queued"
    (second,) = workers.start(1)
    assert dies_under(second) != died_on  # ran again, elsewhere
    wait_for(lambda: reaped("failed"), 60, "the second death to be noticed")
    record = StatusFile(request).read()
    assert record["state"] == "failed", record
    assert record["error"]["code"] == "worker_died" and record["error"]["shot_index"] == 0
    # A worker settles the request in RQ as it ended; nothing is left behind.
    subprocess.run(
        [sys.executable, "-m", "assemblyd", "worker", "--burst"],
        env=service_env(service_settings),
        check=True,
        timeout=120,
    )
    assert _rq(conn, job_id).get_status() == "failed"
    assert not (project / "exports").exists() or list((project / "exports").iterdir()) == []


def test_a_timeline_fans_out_by_event(workers, conn, root, service_settings):
    """Each event's segment is a part (a dissolve's with its outgoing handle); the
    join finds them all cached and conforms frame-accurately."""
    from tests import corpus
    from tests.mediacheck import frames_rgb

    project = root / "fan_edl"
    video = ["-vf", corpus.TAG_709, "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0"]
    images = (corpus.coded(n, 160, 90) for n in range(72))
    tc = ["-timecode", "01:00:00:00"]
    corpus.encode(project / "media" / "a.mov", images, (160, 90), 24, video=video + tc)
    edl = project / "fan.edl"
    edl.write_text(
        "TITLE: FAN\nFCM: NON-DROP FRAME\n"
        "001  A        V     C        01:00:00:00 01:00:00:12 01:00:00:00 01:00:00:12\n"
        "* FROM CLIP NAME:  a.mov\n"
        "002  A        V     C        01:00:01:00 01:00:01:12 01:00:00:12 01:00:01:00\n"
        "* FROM CLIP NAME:  a.mov\n"
        "003  A        V     C        01:00:01:12 01:00:01:12 01:00:01:00 01:00:01:00\n"
        "003  A        V     D    006 01:00:00:12 01:00:00:18 01:00:01:00 01:00:01:06\n"
        "* FROM CLIP NAME:  a.mov\n"
        "* TO CLIP NAME:  a.mov\n"
    )
    workers.start(2)
    assert admit(conn, service_settings, edl) == "queued"
    status = StatusFile(edl)
    wait_for(lambda: status.read().get("state") == "finished", 180, "the conform")
    parent = adapter.fetch(conn, status.read()["job_id"])
    assert len(parent.meta["fanout"]["parts"]) == 3  # one per event
    codes = [corpus.read_code(f) for f in frames_rgb(project / status.read()["export"])]
    assert codes[:24] == list(range(12)) + list(range(24, 36))
    assert codes[-1] == 17  # the dissolve ends on the incoming event's last frame


def test_several_outputs_render_in_one_job(workers, conn, root, media, service_settings):
    workers.start(2)
    project = make_project(root, media, "fan3", SHOTS)
    request = project / "assembly.json"
    outputs = [
        {"name": "a", "resolution": "320x180"},
        {"name": "b", "resolution": "160x90", "output_format": "mov"},
    ]
    doc = {"shots": [f"shots/{s}" for s in SHOTS], "outputs": outputs}
    request.write_text(json.dumps(doc))
    assert admit(conn, service_settings, request) == "queued"
    status = StatusFile(request)
    wait_for(lambda: status.read().get("state") == "finished", 180, "the job")
    assert status.read()["exports"] == ["exports/fan3_a.mp4", "exports/fan3_b.mov"]
    job = adapter.fetch(conn, status.read()["job_id"])
    assert "fanout" not in job.meta  # a part renders one output: not split
    assert views.view(job)["exports"] == status.read()["exports"]
    for export, size in zip(status.read()["exports"], [(320, 180), (160, 90)], strict=True):
        m = measure(project / export)
        assert (m.width, m.height) == size and m.frames == 24 * 4 + 23
