"""Moved or deleted projects, and what dead runs leave behind (issue 10, item 7).

A project folder renamed mid-render: the dead job re-created the old folder (with
a status file and a project.json), the moved project.json kept a `running` entry
forever, and a temporary file stayed in the segment cache; a SIGKILL of `up` left
one too. Now the job ends `project_gone` without touching the filesystem, the
moved project renders where it now is, its stale entry is settled, and the
leftovers of dead runs are swept at start (and every sweep_interval).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from assemblyd.queue import adapter, views
from assemblyd.queue.connection import open_redis
from assemblyd.records.status import StatusFile
from assemblyd.settings import Settings
from tests.conftest import make_project, request_doc, wait_for
from tests.faults.conftest import status_of

SHOTS = [f"long{i}.mp4" for i in range(4)]
#: Split into four parts (one per shot), each seconds of 640x360 ProRes.
DOC = request_doc(SHOTS, resolution="640x360", quality_preset="high", output_format="mov")
ENV = {
    "ASSEMBLYD_STABLE_SECONDS": "0.3",
    "ASSEMBLYD_HEARTBEAT_INTERVAL": "1",
    "ASSEMBLYD_RESCAN_INTERVAL": "1",
    "ASSEMBLYD_SWEEP_INTERVAL": "1",
    "ASSEMBLYD_SOURCE_SETTLE_SECONDS": "0.1",
}


def _project(root: Path, media: Path, name: str) -> Path:
    project = make_project(root, media, name, [])
    for shot in SHOTS:
        shutil.copyfile(media / "long24.mp4", project / "shots" / shot)
    (project / "assembly.json").write_bytes(DOC)
    return project


def cache_temps(root: Path) -> set[Path]:
    """What a segment cache under ``root`` holds mid-write: temporary entries (the
    soundtrack's), and the folders encoders write their segments into."""
    return {
        p
        for p in root.rglob(".*")
        if ".assemblyd-cache" in p.parts and (".tmp." in p.name or p.name.startswith(".encode."))
    }


def encoding(root: Path) -> set[Path]:
    """The folders of segments being encoded, in a cache under ``root``."""
    return {p for p in cache_temps(root) if p.name.startswith(".encode.")}


def partials(root: Path) -> set[Path]:
    return {p for p in root.rglob(".*partial*") if "exports" in p.parts}


def _entries(project: Path) -> dict[str, dict]:
    data = json.loads((project / "project.json").read_text())
    return {e["id"]: e for e in data["assemblies"]}


def test_a_project_renamed_mid_render(daemon, root, media, short_state):
    d = daemon("up", root, "--port", "0", ASSEMBLYD_STATE_DIR=str(short_state), **ENV)
    project = _project(root, media, "seq070")
    status = StatusFile(project / "assembly.json")
    job_id = wait_for(
        lambda: status.read().get("stage") == "render" and status.read()["job_id"],
        90,
        "the render to start",
    )
    wait_for(lambda: cache_temps(root), 60, "a segment being encoded")
    moved = project.rename(root / "seq070-moved")

    conn = open_redis(Settings(state_dir=short_state, roots=[root]))
    gone = wait_for(
        lambda: (v := views.view(adapter.fetch(conn, job_id)))["state"] == "failed" and v,
        60,
        "the job to end",
    )
    assert gone["error"]["code"] == "project_gone", gone["error"]
    # The moved request is picked up where it now is, and rendered once.
    request = moved / "assembly.json"
    wait_for(lambda: status_of(request).get("state") == "finished", 180, "the moved project")
    assert [p.name for p in (moved / "exports").iterdir() if p.name != ".thumbs"] == [
        "seq070-moved.mov"
    ]  # named after its folder
    # The moved project.json's entry of the dead job is settled, with its reason.
    wait_for(lambda: _entries(moved)[job_id]["status"] == "failed", 30, "the stale entry")
    assert _entries(moved)[job_id]["error"]["code"] == "project_gone"
    wait_for(lambda: not cache_temps(root) and not partials(root), 30, "no leftovers")
    assert not project.exists()  # never re-created
    assert d.stop(60) == 0, d.log
    assert not project.exists()


def test_sigkill_of_up_leaves_nothing_after_the_next_start(daemon, root, media, short_state):
    d = daemon("up", root, "--port", "0", ASSEMBLYD_STATE_DIR=str(short_state), **ENV)
    project = _project(root, media, "seq071")
    status = StatusFile(project / "assembly.json")
    job_id = wait_for(
        lambda: status.read().get("stage") == "render" and status.read()["job_id"],
        90,
        "the render to start",
    )
    # The encoder's folder lasts the whole encode (a soundtrack's temporary file may
    # be done before the kill lands, so it proves nothing).
    left = wait_for(lambda: encoding(root), 60, "a segment being encoded")
    d.kill()  # SIGKILL: no cleanup at all
    assert cache_temps(root) & left  # what a killed encoder leaves

    again = daemon("up", root, "--port", "0", ASSEMBLYD_STATE_DIR=str(short_state), **ENV)
    wait_for(lambda: not cache_temps(root) & left, 30, "the dead run's temporary files to go")
    # Its job is settled (its worker died with the daemon), and nothing half-done stays.
    wait_for(lambda: status.read().get("state") in ("failed", "finished"), 120, "the job to end")
    conn = open_redis(Settings(state_dir=short_state, roots=[root]))
    assert views.view(adapter.fetch(conn, job_id))["state"] == status.read()["state"]
    wait_for(lambda: _entries(project)[job_id]["status"] != "running", 30, "its entry")
    wait_for(lambda: not partials(root), 30, "no partial export")
    assert again.stop(60) == 0, again.log
