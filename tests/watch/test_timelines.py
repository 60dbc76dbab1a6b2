"""An editor's timeline dropped into a project is a request: the real watcher sees it,
a real worker conforms it, and the status file and project.json say so like for any
request. A timeline kept in a project's own folders is that project's material."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from assemblyd.queue import adapter
from assemblyd.records.status import StatusFile
from tests import corpus
from tests.conftest import wait_for
from tests.mediacheck import frames_rgb, measure

SIZE = (160, 90)
EDL = """TITLE:   DROPPED
FCM: NON-DROP FRAME
001  SHOT_A   V     C        01:00:00:12 01:00:01:00 01:00:00:00 01:00:00:12
* FROM CLIP NAME:  shot_a.mov
002  BL       V     C        00:00:00:00 00:00:00:06 01:00:00:12 01:00:00:18
003  SHOT_A   V     C        01:00:01:00 01:00:01:12 01:00:00:18 01:00:01:06
* FROM CLIP NAME:  shot_a.mov
"""


@pytest.fixture
def reel(root: Path) -> Path:
    project = root / "show" / "reel1"
    video = ["-vf", corpus.TAG_709, "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0"]
    video += ["-timecode", "01:00:00:00"]
    images = (corpus.coded(n, *SIZE) for n in range(48))
    corpus.encode(project / "media" / "shot_a.mov", images, SIZE, 24, video=video)
    return project


def test_a_dropped_edl_is_conformed(watcher, workers, reel):
    watcher()
    workers.start(1)
    edl = reel / "reel1_v3.edl"
    edl.write_text(EDL)
    status = StatusFile(edl)
    assert status.path.name == "reel1_v3.edl.status.json"
    wait_for(lambda: status.read().get("state") == "finished", 120, "the conform to finish")
    record = status.read()
    assert record["export"] == "exports/reel1_v3.mp4" and record["exports"] == [record["export"]]
    export = reel / record["export"]
    assert measure(export).frames == 30
    codes = [corpus.read_code(f) for f in frames_rgb(export)]
    assert codes[:12] == list(range(12, 24)) and codes[18:] == list(range(24, 36))
    assert all(f.max() < 30 for f in frames_rgb(export)[12:18])  # the black gap
    entry = json.loads((reel / "project.json").read_text())["assemblies"][-1]
    assert entry["request_file"] == "reel1_v3.edl" and entry["timeline"] == "reel1_v3.edl"


def test_a_timeline_inside_a_project_is_its_material_not_a_request(watcher, conn, reel):
    """The project's assembly.json names edit/cut.edl: one job, the assembly.json's;
    the EDL gets no status file of its own. An XML that is not FCP 7's, and a FIFO
    named like an XML, are not timelines: ignored, and the watcher carries on."""
    w = watcher()
    (reel / "edit").mkdir()
    (reel / "edit" / "cut.edl").write_text(EDL)
    (reel / "notes.xml").write_text("<?xml version='1.0'?><notes><n>call the lab</n></notes>")
    os.mkfifo(reel / "stuck.xml")
    request = reel / "assembly.json"
    request.write_text(json.dumps({"timeline": "edit/cut.edl", "output": {"resolution": "160x90"}}))
    wait_for(lambda: StatusFile(request).read().get("state") == "queued", 30, "the request")
    w.watcher.intake.scan()
    wait_for(lambda: not w.watcher.intake.pending, 15, "every offer to settle")
    queued = adapter.open_queue(conn, w.watcher.settings).get_job_ids()
    assert queued == [StatusFile(request).read()["job_id"]]
    assert not (reel / "edit" / "cut.edl.status.json").exists()
    assert not (reel / "notes.xml.status.json").exists()
    assert not (reel / "stuck.xml.status.json").exists()
    assert w.thread.is_alive() and w.error is None


def test_a_fifo_named_like_an_edl_is_refused_by_name(watcher, reel):
    w = watcher()
    os.mkfifo(reel / "trap.edl")
    status = StatusFile(reel / "trap.edl")
    wait_for(lambda: status.read().get("state") == "failed", 30, "the refusal")
    error = status.read()["error"]
    assert error is not None and error["code"] == "invalid_request"
    assert [p["code"] for p in error["problems"]] == ["not_a_regular_file"]
    assert "FIFO" in error["message"] and "trap.edl" in error["message"]
    assert w.thread.is_alive() and w.error is None
