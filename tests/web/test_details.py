"""A job's details and files (issue 14, item 6): what the job page reads, and what it
links to, from a real render with two outputs; and that nothing in project.json or
Redis can make the app hand out any file but the job's own."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from rq.job import Job
from rq.serializers import JSONSerializer

from assemblyd.queue import jobfiles
from assemblyd.records.files import MAX_RECORD_BYTES
from tests.conftest import wait_for

API = "/api/v1/assembly"
SECRET = b"root:x:0:0:the secret nobody may read\n"


def _write(path: Path, data: Any) -> None:
    """As the worker writes it: a new file moved into place."""
    tmp = path.with_name(".project.json.test.tmp")
    tmp.write_bytes(data if isinstance(data, bytes) else json.dumps(data).encode())
    os.replace(tmp, path)


def _get(app: Any, path: str, **kw: Any) -> Any:
    return app.http.get(f"{API}/jobs/{path}", **kw)


def test_the_details_of_a_job_with_two_outputs_and_its_files(app, deliver):
    done = deliver("show/seq040")
    body = _get(app, f"{done.job_id}/details").json()
    assert body["recorded"] is True and body["record_problem"] is None
    assert body["job"]["state"] == "finished" and body["project_path"] == "show/seq040"
    assert body["strategy"] == "normalize" and body["duration"] == pytest.approx(3.0)
    assert set(body["timings"]) >= {"probe", "plan", "render", "verify", "publish"}

    shots = body["shots"]
    assert [s["path"] for s in shots] == [
        "shots/wide24.mp4",
        "shots/portrait25.mp4",
        "shots/wide30.mp4",
    ]
    assert [s["kind"] for s in shots] == ["clip"] * 3
    assert [s["made"] for s in shots] == ["encoded"] * 3
    assert [s["record_in"] for s in shots] == [0, 24, 48]
    assert [s["duration"] for s in shots] == [1.0, 1.0, 1.0]
    assert shots[1]["source"] == {"resolution": "90x160", "fps": "25", "codec": "h264"}

    master, review = body["outputs"]
    assert (master["name"], master["file"], master["format"]) == (
        "master",
        "exports/seq040_master.mov",
        "mov",
    )
    assert (review["name"], review["file"], review["format"]) == (
        "review",
        "exports/seq040_review.mp4",
        "mp4",
    )
    for out in (master, review):
        on_disk = done.project / out["file"]
        assert out["available"] is True
        assert out["size_bytes"] == on_disk.stat().st_size
        assert (out["resolution"], out["fps"], out["video_codec"]) == ("320x180", "24", "h264")
        assert out["frames"] == 72 and out["segments"] == {"encoded": 3}
    assert master["loudness"] is None and master["burnins"] == []
    assert review["loudness_target"]["integrated"] == -16
    assert abs(review["loudness"]["integrated"] + 16) <= 1  # measured on the export
    assert review["burnins"][0] == {
        "field": "text",
        "text": "CONFIDENTIAL: ACME",
        "position": "top_center",
    }

    # Every URL serves the file the entry names, with its type.
    for out, kind in ((master, "video/quicktime"), (review, "video/mp4")):
        response = app.http.get(out["url"])
        assert response.status_code == 200 and response.headers["content-type"] == kind
        assert response.content == (done.project / out["file"]).read_bytes()
        assert response.headers["content-disposition"].startswith("inline")
        attached = app.http.get(out["download_url"])
        assert attached.headers["content-disposition"] == (
            f'attachment; filename="{Path(out["file"]).name}"'
        )
        part = app.http.get(out["url"], headers={"Range": "bytes=10-19"})
        assert part.status_code == 206 and part.content == response.content[10:20]
        for picture in ("poster", "sheet"):
            image = app.http.get(out[f"{picture}_url"])
            assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
            assert image.content == (done.project / out[picture]).read_bytes()
            assert image.content[:2] == b"\xff\xd8"
        assert out["timeline_url"] is None  # a shot list, not a timeline request
    for shot in shots:
        image = app.http.get(shot["thumbnail_url"])
        assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
        assert image.content == (done.project / shot["thumbnail"]).read_bytes()
    poster = app.http.get(body["poster_url"])
    assert body["poster_url"] == f"{API}/jobs/{done.job_id}/exports/0/poster"
    assert poster.content == (done.project / master["poster"]).read_bytes()
    assert _get(app, f"{done.job_id}/poster").content == poster.content
    # The first export, where it always was.
    assert (
        app.http.get(f"{API}/exports/{done.job_id}").content
        == (done.project / "exports/seq040_master.mov").read_bytes()
    )


def test_each_shot_has_a_thumbnail_of_its_own(app, deliver):
    import av

    done = deliver("show/seq046")
    shots = _get(app, f"{done.job_id}/details").json()["shots"]
    pictures = [app.http.get(s["thumbnail_url"]).content for s in shots]
    assert len(set(pictures)) == 3
    # The portrait shot sits between black bars.
    with av.open(str(done.project / shots[1]["thumbnail"])) as picture:
        frame = next(picture.decode(video=0)).to_ndarray(format="gray")
    assert frame[:, :20].mean() < 20 and frame[:, frame.shape[1] // 2].mean() > 40


def test_a_queued_job_has_details_but_no_files_yet(app, project_with):
    rel = project_with("seq041", ["wide24.mp4"])  # no worker: it stays queued
    job_id = app.submit(rel, ["shots/wide24.mp4"]).json()["id"]
    body = _get(app, f"{job_id}/details").json()
    assert body["job"]["state"] == "queued"
    assert (body["recorded"], body["shots"], body["outputs"], body["poster_url"]) == (
        False,
        [],
        [],
        None,
    )
    refused = _get(app, f"{job_id}/exports/0")
    assert refused.status_code == 409 and refused.json()["code"] == "export_not_ready"
    for path in ("poster", "exports/0/poster", "exports/0/sheet", "shots/0/thumbnail"):
        missing = _get(app, f"{job_id}/{path}")
        assert missing.status_code == 404 and missing.json()["code"] == "file_missing", path


@pytest.mark.parametrize(
    "path",
    [
        "asm-0123456789abcdef01234567/details",
        "asm-0123456789abcdef01234567/exports/0",
        "asm-0123456789abcdef01234567/exports/0/poster",
        "asm-0123456789abcdef01234567/shots/0/thumbnail",
    ],
)
def test_an_unknown_job_is_a_404(app, path):
    response = _get(app, path)
    assert response.status_code == 404 and response.json()["code"] == "job_not_found"


def test_an_index_that_is_no_number_or_an_odd_path_is_a_404(app):
    for path in (
        "x/exports/-1",
        "x/exports/a",
        "x/exports/0x1/poster",
        "x/shots/../thumbnail",
        "..%2F..%2Fetc/details",
        "%2e%2e/exports/0",
    ):
        response = _get(app, path)
        assert response.status_code == 404, path
        assert response.json()["code"] in ("not_found", "job_not_found"), path


# ---------------------------------------------------------------- hostile records


#: A job's file addresses: the exports, and the rest (pictures, the timeline).
EXPORTS = ["exports/0", "exports/0?download=1", "exports/1"]
OTHERS = ["poster", "exports/0/poster", "exports/0/sheet", "exports/0/timeline"]
OTHERS += ["exports/1/poster", "shots/0/thumbnail", "shots/1/thumbnail", "shots/2/thumbnail"]


def _all_files(app: Any, job_id: str) -> dict[str, Any]:
    return {path: _get(app, f"{job_id}/{path}") for path in EXPORTS + OTHERS}


def _assert_nothing_leaks(app: Any, job_id: str, what: str) -> dict[str, Any]:
    for response in _all_files(app, job_id).values():
        assert response.status_code in (200, 404), (what, response.url, response.text)
        assert SECRET not in response.content, (what, response.url)
    details_ = _get(app, f"{job_id}/details")
    assert details_.status_code == 200, (what, details_.text)
    assert SECRET.decode() not in details_.text
    body: dict[str, Any] = details_.json()
    return body


def test_a_tampered_project_json_never_hands_out_another_file(app, deliver, tmp_path):
    """Paths in the entry that lead out of exports/ (or .thumbs/), by '..', by being
    absolute, or through a symlink, get a 404 and no URL; the real files still work."""
    done = deliver("show/seq042")
    project, exports = done.project, done.project / "exports"
    outside = tmp_path / "outside"
    outside.mkdir()
    for name in ("secret.mp4", "secret.jpg", "seq042_master.mov"):
        (outside / name).write_bytes(SECRET)
    (project / "secret.mp4").write_bytes(SECRET)
    (exports / "link.mp4").symlink_to(outside / "secret.mp4")
    (exports / ".thumbs" / "evil.jpg").symlink_to("/etc/passwd")
    (exports / ".thumbs" / "away.jpg").symlink_to(outside / "secret.jpg")
    (exports / ".seq042.partial.mp4").write_bytes(SECRET)
    (exports / "sub").mkdir()
    (exports / "sub" / "deep.mp4").write_bytes(SECRET)
    (exports / "loop.mp4").symlink_to(exports / "loop.mp4")
    record = project / "project.json"
    original = record.read_bytes()
    hostile: list[Any] = [
        "/etc/passwd",
        str(outside / "secret.mp4"),
        "../../../../../../etc/passwd",
        "exports/../secret.mp4",
        "exports/../../../outside/secret.mp4",
        "exports/link.mp4",
        "exports/.seq042.partial.mp4",
        "exports/sub/deep.mp4",
        "exports/loop.mp4",
        "secret.mp4",
        "exports/",
        "exports/seq042_master.mov\x00.jpg",
        "exports\\..\\secret.mp4",
        "",
        None,
        42,
        ["exports/seq042_master.mov"],
        {"file": "x"},
    ]
    pictures_only: list[Any] = [
        "exports/.thumbs/evil.jpg",
        "exports/.thumbs/away.jpg",
        "exports/.thumbs/../../secret.mp4",
        "exports/.thumbs/../seq042_master.mov",
        "exports/seq042_review.mp4",  # an export, but no picture
        "project.json",
    ]
    for bad, pictures in [(b, False) for b in hostile] + [(b, True) for b in pictures_only]:
        data = json.loads(original)
        entry = next(e for e in data["assemblies"] if e["id"] == done.job_id)
        for out in entry["outputs"]:
            out["poster"] = out["sheet"] = bad
            if not pictures:
                out["file"] = out["timeline"] = bad
        for shot in entry["shots"]:
            shot["thumbnail"] = bad
        _write(record, data)
        body = _assert_nothing_leaks(app, done.job_id, repr(bad))
        for out in body["outputs"]:
            assert out["poster_url"] is out["sheet_url"] is out["timeline_url"] is None, bad
            assert out["available"] is pictures and (out["url"] is None) is not pictures, bad
        assert all(s["thumbnail_url"] is None for s in body["shots"]), bad
        for path, response in _all_files(app, done.job_id).items():
            served = pictures and path in EXPORTS  # the exports themselves were not touched
            assert response.status_code == (200 if served else 404), (bad, path)

    # Folders swapped for links to elsewhere: the same names, not the same place.
    _write(record, original)
    for folder in (exports / ".thumbs", exports):
        kept = folder.with_name(folder.name + ".kept")
        folder.rename(kept)
        fake = outside / folder.name
        fake.mkdir()
        for name in os.listdir(kept):
            (fake / name).write_bytes(SECRET)
        folder.symlink_to(fake)
        _assert_nothing_leaks(app, done.job_id, f"{folder.name} is a link")
        folder.unlink()
        kept.rename(folder)
    # And the real files, named as the worker named them, are still served.
    body = _assert_nothing_leaks(app, done.job_id, "restored")
    assert [o["available"] for o in body["outputs"]] == [True, True]
    assert (
        app.http.get(body["outputs"][1]["url"]).content
        == (exports / "seq042_review.mp4").read_bytes()
    )


JUNK: list[tuple[str, bytes]] = [
    ("not JSON", b'{"assemblies": [ {"id": '),
    ("not UTF-8", b"\xff\xfe\x00{"),
    ("a list", b"[]"),
    ("a number", b"42"),
    ("too deep", b"[" * 100_000 + b"]" * 100_000),
    ("NaN", b'{"assemblies": [{"id": "ID", "planned_duration": NaN}]}'),
    ("a huge number", b'{"assemblies": [{"id": "ID", "planned_duration": 1e999}]}'),
    ("assemblies not a list", b'{"assemblies": {"ID": {}}}'),
    ("entries not objects", b'{"assemblies": [1, "ID", null, ["ID"]]}'),
]
WRONG_TYPES = {
    "id": "ID",
    "status": ["finished"],
    "strategy": {"x": 1},
    "planned_duration": -5,
    "timings": {"probe": "fast", "render": 1e300, "x": True, "y": 2**70},
    "warnings": [1, {"code": 2, "message": "m"}, {"code": "c"}, {"code": "ok", "message": "kept"}],
    "shots": [
        1,
        None,
        {
            "kind": "secret",
            "made": "stolen",
            "frames": "24",
            "duration": float("1e308"),
            "in": True,
            "record_in": 2**80,
            "source": {"width": -1, "height": "x", "fps": 24, "video_codec": None},
        },
    ],
    "outputs": [None, 5, {"name": 7, "report": [], "settings": "x", "segments": {"encoded": "3"}}],
}


def test_a_broken_project_json_is_a_record_problem_never_a_500(app, deliver):
    done = deliver("show/seq043")
    record = done.project / "project.json"
    for what, data in JUNK:
        _write(record, data.replace(b"ID", done.job_id.encode()))
        body = _assert_nothing_leaks(app, done.job_id, what)
        assert body["job"]["id"] == done.job_id
        assert (body["shots"], body["outputs"], body["duration"]) == ([], [], None), what
        if what not in ("assemblies not a list", "entries not objects"):
            assert body["record_problem"], what
    _write(record, {"assemblies": [{**WRONG_TYPES, "id": done.job_id}]})
    body = _assert_nothing_leaks(app, done.job_id, "wrong types")
    assert body["recorded"] is True
    assert (body["status"], body["strategy"], body["duration"]) == (None, None, None)
    assert body["timings"] == {}
    assert body["warnings"] == [{"code": "ok", "message": "kept"}]
    assert [s["index"] for s in body["shots"]] == [0, 1, 2]
    odd = body["shots"][2]
    assert odd["kind"] is odd["made"] is odd["frames"] is odd["in"] is odd["record_in"] is None
    assert odd["duration"] is None and odd["source"] == {
        "resolution": None,
        "fps": None,
        "codec": None,
    }
    assert [o["name"] for o in body["outputs"]] == [None, None, None]
    assert body["outputs"][2]["segments"] == {}

    # Not a regular file: a folder, a FIFO (never opened: it would block), too large.
    def too_large() -> None:
        record.touch()
        os.truncate(record, MAX_RECORD_BYTES + 1)

    for make in (record.mkdir, lambda: os.mkfifo(record), too_large):
        record.unlink()
        make()
        body = _assert_nothing_leaks(app, done.job_id, "not a regular file")
        assert body["recorded"] is False and body["record_problem"], body
        if record.is_dir():
            record.rmdir()
            record.touch()


def test_a_tampered_redis_meta_never_hands_out_another_file(app, deliver, conn, tmp_path):
    """The job's project in Redis moved to a folder outside the watch roots (which
    has its own project.json naming its own files), or to /etc: nothing is served."""
    done = deliver("show/seq044")
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "exports" / ".thumbs").mkdir(parents=True)
    (elsewhere / "exports" / "seq044_master.mov").write_bytes(SECRET)
    (elsewhere / "exports" / ".thumbs" / "p.jpg").write_bytes(SECRET)
    (elsewhere / "project.json").write_text(
        json.dumps(
            {
                "assemblies": [
                    {
                        "id": done.job_id,
                        "outputs": [
                            {"file": "exports/seq044_master.mov", "poster": "exports/.thumbs/p.jpg"}
                        ],
                        "shots": [{"thumbnail": "exports/.thumbs/p.jpg"}],
                    }
                ]
            }
        )
    )
    (done.project.parent / "innocent").symlink_to(elsewhere)
    job = Job.fetch(done.job_id, connection=conn, serializer=JSONSerializer)
    for project in (
        str(elsewhere),
        str(done.project.parent / "innocent"),
        "/etc",
        "/",
        "relative/path",
        "",
        f"{done.project}/../../../../etc",
    ):
        job.meta.update(project=project, export="exports/seq044_master.mov")
        job.save_meta()
        wait_for(lambda p=project: app.job(done.job_id)["project"] == p, 10, "the meta")
        body = _assert_nothing_leaks(app, done.job_id, project)
        assert body["outputs"] == [] and body["recorded"] is False, project
        if project:
            assert body["record_problem"], project
        assert app.http.get(f"{API}/exports/{done.job_id}").status_code == 404


def test_a_link_swapped_in_after_the_check_is_not_followed(app, deliver, tmp_path, monkeypatch):
    """The race: the path was checked, then the file (or a folder on its way) is
    replaced by a link to elsewhere before it is opened. What is served is what was
    opened, and that is checked on its descriptor."""
    done = deliver("show/seq045")
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(SECRET)
    thumbs = done.project / "exports" / ".thumbs"
    view = app.job(done.job_id)
    opened = jobfiles.open_file(view, app.web.settings, "poster", 0)
    assert opened is not None and opened.stat.st_size > 0
    opened.close()

    checked = jobfiles._resolve

    def swap_file_after_check(project: Path, named: object, kind: Any) -> Any:
        found = checked(project, named, kind)
        assert found is not None
        found[0].unlink()
        found[0].symlink_to(secret)
        return found

    monkeypatch.setattr(jobfiles, "_resolve", swap_file_after_check)
    assert jobfiles.open_file(view, app.web.settings, "poster", 0) is None

    def swap_folder_after_check(project: Path, named: object, kind: Any) -> Any:
        found = checked(project, named, kind)
        assert found is not None
        away = tmp_path / "away"
        away.mkdir()
        (away / found[0].name).write_bytes(SECRET)
        thumbs.rename(thumbs.with_name(".thumbs.kept"))
        thumbs.symlink_to(away)
        return found

    monkeypatch.setattr(jobfiles, "_resolve", swap_folder_after_check)
    assert jobfiles.open_file(view, app.web.settings, "sheet", 0) is None


def test_the_export_route_serves_what_it_opened_too(app, deliver, tmp_path, monkeypatch):
    """`GET /exports/{id}` (the job's first export, by its meta) goes through the same
    open-and-recheck: an export swapped for a link after the check is not served."""
    done = deliver("show/seq047")
    secret = tmp_path / "secret.mp4"
    secret.write_bytes(SECRET)
    assert app.http.get(f"{API}/exports/{done.job_id}").status_code == 200
    checked = jobfiles._resolve

    def swap_file_after_check(project: Path, named: object, kind: Any) -> Any:
        found = checked(project, named, kind)
        assert found is not None
        found[0].unlink()
        found[0].symlink_to(secret)
        return found

    monkeypatch.setattr(jobfiles, "_resolve", swap_file_after_check)
    answer = app.http.get(f"{API}/exports/{done.job_id}")
    assert answer.status_code == 404, answer.text
    assert SECRET not in answer.content
