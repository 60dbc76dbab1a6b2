"""Real watchdog observers on temporary folders, feeding real Redis."""

from __future__ import annotations

import json
import os

import pytest

from assemblyd.queue import adapter
from assemblyd.records.status import StatusFile
from assemblyd.watch.watcher import ObserverFailed, Watcher, observer_kind
from tests.conftest import make_project, request_doc, wait_for


def _queued_ids(conn, settings) -> list[str]:
    return adapter.open_queue(conn, settings).get_job_ids()


@pytest.mark.parametrize("mode", ["inotify", "polling"])
def test_temp_then_rename_makes_exactly_one_job(mode, watcher, conn, root, media, service_settings):
    w = watcher(observer=mode)
    project = make_project(root, media, "sh010", ["wide24.mp4"])
    temp = project / ".assembly.json.tmp"
    temp.write_bytes(request_doc(["wide24.mp4"]))
    os.replace(temp, project / "assembly.json")
    status = StatusFile(project / "assembly.json")
    wait_for(lambda: status.read().get("state") == "queued", 15, "the request to be queued")
    # Duplicate events for the same content (an editor re-saving it) change nothing.
    os.utime(project / "assembly.json")
    (project / "assembly.json").write_bytes(request_doc(["wide24.mp4"]))
    w.watcher.intake.scan()
    wait_for(lambda: not w.watcher.intake.pending, 10, "the re-save to settle")
    assert len(_queued_ids(conn, w.watcher.settings)) == 1
    job_id = status.read()["job_id"]
    assert job_id == adapter.job_id_for(project / "assembly.json", request_doc(["wide24.mp4"]))


def test_a_slowly_written_request_is_read_only_when_complete(watcher, conn, root, media):
    w = watcher(stable_seconds=1.0)
    project = make_project(root, media, "sh020", ["wide24.mp4"])
    data = request_doc(["wide24.mp4"])
    request = project / "sh020.assembly.json"
    with request.open("wb") as fh:
        for i in range(0, len(data), 16):
            fh.write(data[i : i + 16])
            fh.flush()
            # Each chunk lands well inside the stability window.
            w.watcher.stopping.wait(0.3)
    status = StatusFile(request)
    wait_for(lambda: status.read().get("state") == "queued", 15, "the request to be queued")
    assert len(_queued_ids(conn, w.watcher.settings)) == 1


def test_an_edited_request_is_a_new_job(watcher, conn, root, media):
    w = watcher()
    project = make_project(root, media, "sh030", ["wide24.mp4", "wide30.mp4"])
    request = project / "assembly.json"
    request.write_bytes(request_doc(["wide24.mp4"]))
    status = StatusFile(request)
    first = wait_for(lambda: status.read().get("job_id"), 15, "the first job")
    request.write_bytes(request_doc(["wide24.mp4", "wide30.mp4"]))
    second = wait_for(lambda: (j := status.read().get("job_id")) != first and j, 15, "a new job")
    # The status is written just before the enqueue: wait for the queue itself.
    wait_for(lambda: set(_queued_ids(conn, w.watcher.settings)) == {first, second}, 10, "both")


def test_invalid_requests_get_a_clear_status_and_the_daemon_carries_on(watcher, conn, root, media):
    w = watcher()
    project = make_project(root, media, "sh040", ["wide24.mp4"])
    broken = project / "assembly.json"
    broken.write_text('{"shots": ["shots/wide24.mp4"], "output": {"fps": 26, "colour": "red"}}')
    other = project / "also.assembly.json"
    other.write_text("{not json")
    for path, says in ((broken, "unknown key 'colour'"), (other, "not valid JSON")):
        status = StatusFile(path)
        wait_for(lambda s=status: s.read().get("state") == "failed", 15, f"{path.name} to fail")
        assert says in status.read()["error"]["message"]
        assert str(path) in status.read()["error"]["message"]
    assert _queued_ids(conn, w.watcher.settings) == []
    # Fixing the file is enough: new content, new job. The watcher is still alive.
    broken.write_bytes(request_doc(["wide24.mp4"]))
    wait_for(lambda: StatusFile(broken).read().get("state") == "queued", 15, "the fix to queue")
    assert w.error is None


def test_requests_dropped_while_down_are_caught_up(watcher, conn, root, media):
    project = make_project(root, media, "sh050", ["wide24.mp4"])
    (project / "assembly.json").write_bytes(request_doc(["wide24.mp4"]))
    deep = root / "a" / "b" / "c" / "d"
    deep.mkdir(parents=True)
    (deep / "assembly.json").write_bytes(request_doc(["wide24.mp4"]))  # depth 4 > 3
    (project / "exports").mkdir()
    (project / "exports" / "assembly.json").write_bytes(request_doc(["wide24.mp4"]))
    w = watcher()
    wait_for(
        lambda: StatusFile(project / "assembly.json").read().get("state") == "queued",
        15,
        "the catch-up scan",
    )
    w.watcher.intake.scan()
    assert len(_queued_ids(conn, w.watcher.settings)) == 1
    assert not StatusFile(deep / "assembly.json").path.exists()
    assert not StatusFile(project / "exports" / "assembly.json").path.exists()


def test_a_dead_observer_is_noticed_and_replaced(watcher, root, media):
    w = watcher()
    for observer in list(w.watcher.observers.values()):
        observer.stop()  # what a crashed emitter thread looks like from outside
        observer.join(5)
    wait_for(w.watcher.observers_alive, 10, "the observer to be restarted")
    assert len(w.watcher.restarts) == 1
    project = make_project(root, media, "sh060", ["wide24.mp4"])
    (project / "assembly.json").write_bytes(request_doc(["wide24.mp4"]))
    wait_for(
        lambda: StatusFile(project / "assembly.json").read().get("state") == "queued",
        15,
        "a drop after the restart",
    )


def test_a_root_that_is_gone_stops_the_watcher_loudly(service_settings, conn, tmp_path):
    from assemblyd.watch.intake import Intake

    settings = service_settings.model_copy(update={"roots": [tmp_path / "missing"]})
    with pytest.raises(ObserverFailed, match="not a folder"):
        Watcher(settings, Intake(conn, settings)).run()


def test_network_filesystems_are_polled(tmp_path):
    assert observer_kind(tmp_path, "auto") == "inotify"  # tmp is a local disk here
    assert observer_kind(tmp_path, "polling") == "polling"
    from assemblyd.watch import watcher as module

    assert {"nfs", "nfs4", "cifs", "smb3"} <= module.NETWORK_FILESYSTEMS


def test_status_file_sits_beside_the_request(root):
    assert StatusFile(root / "assembly.json").path.name == "assembly.status.json"
    assert StatusFile(root / "x.assembly.json").path.name == "x.assembly.status.json"
    json.dumps({})


def test_rescans_catch_what_the_observer_missed(watcher, root, media):
    # A polled root whose poll never comes round: only the periodic rescan can see this.
    w = watcher(observer="polling", poll_interval=3600, rescan_interval=0.5)
    project = make_project(root, media, "sh070", ["wide24.mp4"])
    (project / "assembly.json").write_bytes(request_doc(["wide24.mp4"]))
    wait_for(
        lambda: StatusFile(project / "assembly.json").read().get("state") == "queued",
        15,
        "the rescan to find the request",
    )
    assert w.error is None


def test_watch_command_exits_non_zero_when_it_cannot_watch(service_settings, tmp_path):
    import subprocess
    import sys

    from tests.conftest import service_env

    run = subprocess.run(
        [sys.executable, "-m", "assemblyd", "watch", "--root", str(tmp_path / "gone")],
        env=service_env(service_settings),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1
    assert "not a folder" in run.stderr


def test_polling_lists_only_what_can_hold_a_request(root):
    from assemblyd.watch.watcher import request_listing

    (root / "show" / "seq" / "shot" / "deeper").mkdir(parents=True)
    (root / "show" / "assembly.json").write_text("{}")
    (root / "show" / "plate.exr").write_text("")
    (root / "show" / ".cache").mkdir()
    (root / "show" / "exports").mkdir()
    listdir = request_listing([root], depth=3)
    assert sorted(e.name for e in listdir(str(root / "show"))) == ["assembly.json", "seq"]
    assert [e.name for e in listdir(str(root / "show" / "seq" / "shot"))] == []  # depth 3
