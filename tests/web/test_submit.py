"""POST /api/v1/assembly/process: a submission is a dropped file, written safely."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from assemblyd.queue import adapter
from assemblyd.queue.admission import admit
from assemblyd.records.status import StatusFile
from tests.web.conftest import SMALL


def _leftovers(folder: Path) -> list[str]:
    """Our hidden temp files (the status file's lock is the daemon's, as for a drop)."""
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_a_submission_writes_the_request_and_queues_it_like_a_drop(
    app, project_with, root, conn, service_settings
):
    rel = project_with("show/seq010", ["wide24.mp4"])
    response = app.submit(rel, ["shots/wide24.mp4"], output=SMALL)
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["state"] == "queued" and job["progress"] == 0.0
    assert response.headers["location"] == f"/api/v1/assembly/jobs/{job['id']}"
    request = root / "show" / "seq010" / "assembly.json"
    content = request.read_bytes()
    assert json.loads(content) == {"shots": ["shots/wide24.mp4"], "output": SMALL}
    # The job-id rule of a dropped file: path and content.
    assert job["id"] == adapter.job_id_for(request, content)
    assert job["project"] == str(request.parent) and job["request"] == str(request)
    assert StatusFile(request).read()["state"] == "queued"
    assert _leftovers(request.parent) == []
    # The watcher, seeing the file later, finds the job already there.

    assert admit(conn, service_settings, request) == "known"


def test_the_same_request_twice_is_the_same_job(app, project_with):
    rel = project_with("seq020", ["wide24.mp4"])
    first = app.submit(rel, ["shots/wide24.mp4"], output=SMALL)
    again = app.submit(rel, ["shots/wide24.mp4"], output=SMALL)
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["id"] == first.json()["id"]
    assert app.http.get("/api/v1/assembly/jobs").json()["count"] == 1


def test_a_named_request_gets_its_own_file(app, project_with, root):
    rel = project_with("seq030", ["wide24.mp4"])
    response = app.submit(rel, ["shots/wide24.mp4"], name="seq030_v2", output=SMALL)
    assert response.status_code == 202, response.text
    assert (root / "seq030" / "seq030_v2.assembly.json").is_file()
    assert not (root / "seq030" / "assembly.json").exists()


def test_every_problem_comes_back_and_nothing_is_left_behind(app, project_with, root):
    rel = project_with("seq040", ["wide24.mp4", "empty.mp4"])
    response = app.submit(
        rel,
        [
            "shots/wide24.mp4",
            "shots/gone.mp4",
            "shots/empty.mp4",
            "../secret.mp4",
            "http://127.0.0.1:9/x.mp4",
            {"path": "shots/wide24.mp4", "in": 9.0},
        ],
        output={"resolution": "1921x1080", "bitrte": "5M"},
    )
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "invalid_request"
    by_shot = {p["shot_index"]: p["code"] for p in body["problems"] if "shot_index" in p}
    assert by_shot == {
        1: "missing_file",
        2: "empty_file",
        3: "outside_project",
        4: "url_not_allowed",
        5: "trim_out_of_range",
    }
    fields = {p.get("field") for p in body["problems"] if "shot_index" not in p}
    assert fields == {"output.resolution", "output.bitrte"}
    assert "shot 2 (shots/gone.mp4): file not found" in body["message"]
    assert "seq040/assembly.json is not valid (7 problem(s))" in body["message"]
    assert sorted(p.name for p in (root / "seq040").iterdir()) == ["shots"]  # not even a temp
    assert app.http.get("/api/v1/assembly/jobs").json()["jobs"] == []


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", "\u00e9".encode("latin-1")])
def test_a_body_that_is_not_a_json_object_is_422(app, body):
    response = app.http.post("/api/v1/assembly/process", content=body)
    assert response.status_code == 422
    assert response.json()["problems"][0]["code"] == "bad_json"


def test_project_must_be_a_folder_inside_a_watch_root(app, root, tmp_path, project_with):
    outside = tmp_path / "outside"
    (outside / "shots").mkdir(parents=True)
    os.symlink(outside, root / "escape")
    project_with("real", ["wide24.mp4"])
    (root / "real" / "file.txt").write_text("x")
    (root / ".hidden").mkdir()
    expected = {
        "../outside": "outside_root",
        "real/../../outside": "outside_root",
        str(outside): "outside_root",
        "escape": "outside_root",
        "": "invalid_setting",
        "nowhere": "project_not_found",
        "real/file.txt": "project_not_found",
        ".hidden": "ignored_folder",
        "real/exports": "ignored_folder",
        "a/b/c/d": "too_deep",
    }
    for project, code in expected.items():
        response = app.submit(project, ["shots/wide24.mp4"])
        assert response.status_code == 422, (project, response.text)
        (problem,) = response.json()["problems"]
        assert (problem["code"], problem["field"]) == (code, "project"), project
    assert app.submit(None, ["x"]).json()["problems"][0]["code"] == "invalid_setting"
    assert list(outside.iterdir()) == [outside / "shots"]  # nothing written through the link


def test_the_root_index_picks_among_several_roots(start_app, tmp_path, media):
    from tests.conftest import make_project

    first, second = tmp_path / "r1", tmp_path / "r2"
    make_project(first, media, "p", ["wide24.mp4"])
    make_project(second, media, "p", ["wide24.mp4"])
    app = start_app(roots=[first, second])
    assert app.submit("p", ["shots/wide24.mp4"], output=SMALL).json()["project"] == str(first / "p")
    chosen = app.submit("p", ["shots/wide24.mp4"], output=SMALL, root=1)
    assert chosen.status_code == 202 and chosen.json()["project"] == str(second / "p")
    bad = app.submit("p", ["shots/wide24.mp4"], root=2).json()["problems"][0]
    assert (bad["code"], bad["field"]) == ("invalid_setting", "root")


def test_a_live_request_is_not_overwritten(app, project_with, root):
    rel = project_with("seq050", ["wide24.mp4", "wide30.mp4"])
    first = app.submit(rel, ["shots/wide24.mp4"], output=SMALL)
    assert first.status_code == 202
    other = app.submit(rel, ["shots/wide30.mp4"], output=SMALL)
    assert other.status_code == 409
    assert other.json()["code"] == "request_busy" and other.json()["job_id"] == first.json()["id"]
    assert json.loads((root / "seq050" / "assembly.json").read_text())["shots"] == [
        "shots/wide24.mp4"
    ]
    # Once that job has ended, a new content is a new job (as editing a dropped file is).
    assert app.http.delete(f"/api/v1/assembly/jobs/{first.json()['id']}").status_code == 200
    again = app.submit(rel, ["shots/wide30.mp4"], output=SMALL)
    assert again.status_code == 202 and again.json()["id"] != first.json()["id"]


def test_without_watch_roots_nothing_can_be_submitted(start_app):
    app = start_app(roots=[])
    problem = app.submit("p", ["x.mp4"]).json()["problems"][0]
    assert problem["code"] == "no_roots"
