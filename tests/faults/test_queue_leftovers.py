"""A job renders the bytes it was queued for (issue 10, item 8), and a split request
leaves nothing of itself behind (item 9)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time

from assemblyd.queue import adapter, views
from assemblyd.queue.admission import admit
from assemblyd.records.status import StatusFile
from tests.conftest import make_project, request_doc, service_env, wait_for
from tests.mediacheck import measure

PARTS_KEY = "assemblyd:parts:"


def _burst(settings, *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "assemblyd", "worker", "--burst", *args],
        env=service_env(settings),
        check=True,
        timeout=180,
    )


def test_a_request_edited_after_queueing_is_superseded_and_the_edit_renders_once(
    watcher, conn, root, media, service_settings
):
    """Item 8: the old job rendered the new content, then the new job rendered it
    again; the old content never. Now the old job ends `superseded` without
    rendering, and the edit is its own job: one export, of the edit."""
    w = watcher()
    project = make_project(root, media, "seq080", ["wide24.mp4"])
    request = project / "assembly.json"
    status = StatusFile(request)
    request.write_bytes(request_doc(["wide24.mp4"]))
    first = wait_for(lambda: status.read().get("job_id"), 20, "the first job")
    edit = request_doc(["wide24.mp4", "wide24.mp4"])
    request.write_bytes(edit)
    second = adapter.job_id_for(request, edit)
    wait_for(lambda: status.read().get("job_id") == second, 20, "the edit to be queued")
    # The status file is written first (a fast worker may start at once): the job follows.
    queue = adapter.open_queue(conn, w.watcher.settings)
    wait_for(lambda: set(queue.get_job_ids()) == {first, second}, 20, "both jobs in the queue")

    _burst(service_settings)
    old = views.view(adapter.fetch(conn, first))
    assert old["state"] == "superseded", old
    assert old["error"] is not None and old["error"]["code"] == "superseded"
    record = status.read()
    assert (record["job_id"], record["state"]) == (second, "finished")
    exports = sorted(p.name for p in (project / "exports").iterdir() if p.name != ".thumbs")
    assert exports == ["seq080.mp4"]
    assert measure(project / "exports" / "seq080.mp4").frames == 48  # the edit: two shots


def test_a_split_request_leaves_no_progress_and_no_children_behind(
    conn, root, media, service_settings
):
    """Item 9: the parts' progress hash was never deleted (a re-run's bar started at
    about 90 %), and deleting the request's job left its part and join jobs."""
    shots = ["wide24.mp4", "wide30.mp4", "square50.mp4"]
    project = make_project(root, media, "seq090", shots)
    request = project / "assembly.json"
    request.write_bytes(request_doc(shots))
    assert admit(conn, service_settings, request) == "queued"
    status = StatusFile(request)
    job_id = status.read()["job_id"]
    _burst(service_settings)
    assert status.read()["state"] == "finished"
    parent = adapter.fetch(conn, job_id)
    children = [*parent.meta["fanout"]["parts"], parent.meta["fanout"]["join"]]
    assert conn.exists(PARTS_KEY + job_id) == 0

    # "Run it again": the status file is deleted, the same content is the same job.
    status.path.unlink()
    (project / "exports" / "seq090.mp4").unlink()
    # The workers know no roots: the cache is the project's. Emptied, so that it splits again.
    shutil.rmtree(project / ".assemblyd-cache")
    assert admit(conn, service_settings, request) == "queued"
    assert [c for c in children if adapter.exists(conn, c)] == []
    # The re-run's own job plans and hands off; its bar starts where a new one does.
    _burst(service_settings, "--max-jobs", "1")
    rerun = views.view(adapter.fetch(conn, job_id))
    assert rerun["state"] == "running" and rerun["progress"] < 10, rerun
    _burst(service_settings)
    wait_for(lambda: status.read().get("state") == "finished", 30, "the re-run")
    assert conn.exists(PARTS_KEY + job_id) == 0


def test_a_job_stranded_by_a_worker_killed_while_dequeuing_runs(
    conn, root, media, service_settings
):
    """Found by the soak: a worker SIGKILLed between taking a job off the queue and
    starting it left the job parked in RQ's intermediate list, `queued` forever (RQ
    looks there every ten minutes, and then fails it). The reaper puts it back."""
    from assemblyd.queue.reaper import reap_abandoned

    project = make_project(root, media, "seq095", ["wide24.mp4"])
    request = project / "assembly.json"
    request.write_bytes(request_doc(["wide24.mp4"]))
    assert admit(conn, service_settings, request) == "queued"
    queue = adapter.open_queue(conn, service_settings)
    parked = queue.intermediate_queue
    # What a worker's dequeue does (LMOVE) just before it is killed ...
    job_id = conn.lmove(queue.key, parked.key, "RIGHT", "LEFT").decode()
    assert queue.count == 0 and parked.get_job_ids() == [job_id]
    reap_abandoned(conn, service_settings)  # first sighting: maybe a live worker's
    assert parked.get_job_ids() == [job_id]
    # ... and as it is found a heartbeat TTL later (the first sighting, dated back).
    conn.set(parked.get_first_seen_key(job_id), time.time() - 60)
    reap_abandoned(conn, service_settings)
    assert parked.get_job_ids() == [] and queue.get_job_ids() == [job_id]
    _burst(service_settings)
    assert StatusFile(request).read()["state"] == "finished"
