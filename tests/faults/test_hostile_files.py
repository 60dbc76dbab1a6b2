"""One bad file never stops the daemon (issue 10, items 1, 2, 5, 10 and 11).

Each hostile request lands in its own project beside a good one: the bad one gets a
status file naming the file and the reason, the good one is queued, and the
watcher lives on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from assemblyd.errors import ValidationFailed
from assemblyd.pipeline.validate import validate
from assemblyd.queue import adapter
from assemblyd.queue.heartbeat import live_watchers
from tests.conftest import make_project, request_doc, service_env, wait_for
from tests.faults.conftest import (
    char_device,
    fifo,
    nested_json,
    problem_codes,
    status_of,
    unix_socket,
)


def _good_request_is_queued(root: Path, media: Path, name: str = "good") -> Path:
    project = make_project(root, media, name, ["wide24.mp4"])
    request = project / "assembly.json"
    request.write_bytes(request_doc(["wide24.mp4"]))
    wait_for(lambda: status_of(request).get("state") == "queued", 20, f"{name} to be queued")
    return request


def _failed(request: Path, timeout: float = 20) -> dict:
    wait_for(
        lambda: status_of(request).get("state") == "failed", timeout, f"{request} to be refused"
    )
    return status_of(request)["error"]


def _alive(w, conn) -> None:
    assert w.error is None, w.error
    assert w.thread.is_alive()
    assert any(b["observers_alive"] for b in live_watchers(conn))


def test_deeply_nested_json_is_refused_and_the_watcher_goes_on(watcher, conn, root, media):
    """Item 1: [ x 100000 made the watcher die with "maximum recursion depth"."""
    w = watcher()
    bomb = nested_json(make_project(root, media, "bomb", []) / "assembly.json")
    error = _failed(bomb)
    assert problem_codes(bomb) == ["too_deep"]
    assert str(bomb) in error["message"] and "levels deep" in error["message"]
    _good_request_is_queued(root, media)
    _alive(w, conn)


def test_a_fifo_request_is_never_opened(watcher, conn, root, media):
    """Item 2: a FIFO named assembly.json blocked the watcher in open() forever."""
    w = watcher()
    pipe = fifo(make_project(root, media, "pipe", []) / "assembly.json")
    error = _failed(pipe)
    assert problem_codes(pipe) == ["not_a_regular_file"]
    assert "FIFO" in error["message"] and str(pipe) in error["message"]
    _good_request_is_queued(root, media)
    _alive(w, conn)


def test_sockets_devices_and_oversized_files_are_refused(watcher, conn, root, media):
    w = watcher()
    sock_request = make_project(root, media, "sock", []) / "assembly.json"
    sock = unix_socket(sock_request)
    try:
        huge = make_project(root, media, "huge", []) / "assembly.json"
        huge.write_bytes(b" " * (w.watcher.settings.max_request_bytes + 1))
        cases = {sock_request: "not_a_regular_file", huge: "too_large"}
        device = char_device(make_project(root, media, "dev", []) / "assembly.json")
        if device is not None:
            cases[device] = "not_a_regular_file"
        for request, code in cases.items():
            _failed(request)
            assert problem_codes(request) == [code], request
        _good_request_is_queued(root, media)
        _alive(w, conn)
    finally:
        sock.close()


def test_a_symlinked_request_cannot_reach_outside_the_project(
    watcher, conn, root, media, tmp_path, service_settings
):
    """Item 5: a request file symlinked to JSON outside the root rendered media from
    outside the root."""
    outside = tmp_path / "outside"
    (outside / "shots").mkdir(parents=True)
    (outside / "shots" / "secret.mp4").write_bytes((media / "wide24.mp4").read_bytes())
    (outside / "assembly.json").write_bytes(request_doc(["secret.mp4"]))
    project = make_project(root, media, "linked", [])
    request = project / "assembly.json"
    request.symlink_to(outside / "assembly.json")

    with pytest.raises(ValidationFailed) as refused:
        validate(request, service_settings)
    assert [p.code for p in refused.value.problems] == ["outside_project"]

    w = watcher()
    error = _failed(request)
    assert problem_codes(request) == ["outside_project"]
    assert "symlink" in error["message"]
    assert adapter.open_queue(conn, w.watcher.settings).count == 0
    assert not (outside / "exports").exists()
    _alive(w, conn)


def test_a_request_symlinked_inside_its_project_is_fine(project, add_shot, settings):
    shot = add_shot("wide24.mp4")
    (project / "versions").mkdir()
    (project / "versions" / "v3.json").write_text(json.dumps({"shots": [shot]}))
    (project / "assembly.json").symlink_to(project / "versions" / "v3.json")
    validated = validate(project / "assembly.json", settings)
    assert validated.project_dir == project
    assert validated.request.export_name(validated.request_path) == project.name


def test_a_number_in_the_shot_list_is_a_problem_not_a_crash(watcher, conn, root, media):
    """Item 10: ["a.mp4", 5] stopped the daemon ("'int' object has no attribute 'get'")."""
    w = watcher()
    project = make_project(root, media, "numbers", ["wide24.mp4"])
    request = project / "assembly.json"
    request.write_text(json.dumps({"shots": ["shots/wide24.mp4", 5]}))
    error = _failed(request)
    assert (
        'shot 2: a shot is a path (text) or an object with "path", not the number 5'
        in (error["message"])
    )
    _good_request_is_queued(root, media)
    _alive(w, conn)
    run = subprocess.run(
        [sys.executable, "-m", "assemblyd", "validate", str(request)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr and "shot 2" in run.stderr


def test_an_empty_shot_path_is_invalid(watcher, conn, root, media):
    """Item 11: "shots": [""] passed validation as "OK, 0 shot(s)"."""
    project = make_project(root, media, "empty", [])
    request = project / "assembly.json"
    request.write_text(json.dumps({"shots": [""]}))
    run = subprocess.run(
        [sys.executable, "-m", "assemblyd", "validate", str(request)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2, run.stdout + run.stderr
    assert "shot 1: 'path' must not be empty" in run.stderr
    w = watcher()
    _failed(request)
    assert problem_codes(request) == ["invalid_shot"]
    assert adapter.open_queue(conn, w.watcher.settings).count == 0


def test_the_daemon_survives_hostile_files_at_start_and_while_running(
    daemon, root, media, short_state, service_settings
):
    """Items 1, 2 and 10 as systemd sees them: `assemblyd watch` died (exit 0, so
    Restart=on-failure did nothing) or hung, again at every start. Now it serves
    every other project, and stops cleanly on SIGTERM, FIFO or not."""
    hostile = {
        "bomb": lambda p: nested_json(p),
        "pipe": lambda p: fifo(p),
        "numbers": lambda p: p.write_text('{"shots": ["a.mp4", 5]}'),
        "junk": lambda p: p.write_bytes(os.urandom(4096)),
    }
    requests = {}
    for name, make in hostile.items():
        requests[name] = make_project(root, media, name, []) / "assembly.json"
        make(requests[name])  # present before the start: the catch-up scan meets them
    env = {k: v for k, v in service_env(service_settings).items() if k.startswith("ASSEMBLYD_")}
    d = daemon("watch", root, **{**env, "ASSEMBLYD_STABLE_SECONDS": "0.3"})
    for name, request in requests.items():
        wait_for(
            lambda r=request: status_of(r).get("state") == "failed", 30, f"{name} to be refused"
        )
    late = make_project(root, media, "late", []) / "assembly.json"
    nested_json(late)  # and one while it runs
    wait_for(lambda: status_of(late).get("state") == "failed", 30, "the late bomb")
    good = make_project(root, media, "good", ["wide24.mp4"]) / "assembly.json"
    good.write_bytes(request_doc(["wide24.mp4"]))
    wait_for(lambda: status_of(good).get("state") == "queued", 30, "the good request")
    assert d.running(), d.log
    assert d.stop(30) == 0, d.log
    assert "Traceback" not in d.log, d.log
