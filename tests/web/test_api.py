"""The job API end to end: real Redis, real RQ workers, real renders."""

from __future__ import annotations

from assemblyd.queue import adapter
from tests.conftest import wait_for
from tests.web.conftest import SMALL

API = "/api/v1/assembly"


def test_a_job_is_followed_to_its_export(app, workers, project_with, root):
    workers.start(1)
    rel = project_with("seq010", ["wide24.mp4", "wide30.mp4"])
    job_id = app.submit(rel, ["shots/wide24.mp4", "shots/wide30.mp4"], output=SMALL).json()["id"]
    view = wait_for(lambda: (v := app.job(job_id))["state"] == "finished" and v, 90, "the render")
    assert (view["stage"], view["progress"], view["error"]) == ("done", 100.0, None)
    assert view["export"] == "exports/seq010.mp4"
    assert view["project"] == str(root / "seq010")
    assert view["queued_at"] <= view["started_at"] <= view["finished_at"]

    export = root / "seq010" / "exports" / "seq010.mp4"
    inline = app.http.get(f"{API}/exports/{job_id}")
    assert inline.status_code == 200 and inline.content == export.read_bytes()
    assert inline.headers["content-type"] == "video/mp4"
    assert inline.headers["content-disposition"].startswith("inline")
    download = app.http.get(f"{API}/exports/{job_id}", params={"download": "1"})
    assert download.headers["content-disposition"].startswith("attachment")
    assert 'filename="seq010.mp4"' in download.headers["content-disposition"]
    # A player seeks with ranges.
    part = app.http.get(f"{API}/exports/{job_id}", headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and len(part.content) == 100

    finished = app.http.get(f"{API}/jobs", params={"state": "finished"}).json()["jobs"]
    assert [v["id"] for v in finished] == [job_id]
    assert app.http.delete(f"{API}/jobs/{job_id}").json()["code"] == "job_already_ended"
    export.unlink()
    gone = app.http.get(f"{API}/exports/{job_id}")
    assert (gone.status_code, gone.json()["code"]) == (404, "export_missing")


def test_unknown_jobs_are_404_everywhere(app):
    for method, path in [
        ("GET", "jobs/asm-nope"),
        ("DELETE", "jobs/asm-nope"),
        ("GET", "jobs/asm-nope/progress"),
        ("GET", "exports/asm-nope"),
    ]:
        response = app.http.request(method, f"{API}/{path}")
        assert response.status_code == 404, (method, path)
        assert response.json() == {"code": "job_not_found", "message": "no job with id asm-nope"}


def test_jobs_of_another_queue_are_not_ours(app, conn, service_settings, root):
    other = service_settings.model_copy(update={"queue_name": service_settings.queue_name + "-x"})
    job = adapter.enqueue(conn, other, root / "elsewhere" / "assembly.json", b"{}")
    assert job is not None
    assert app.http.get(f"{API}/jobs/{job.id}").status_code == 404
    assert app.http.delete(f"{API}/jobs/{job.id}").status_code == 404
    assert app.http.get(f"{API}/jobs").json()["jobs"] == []
    job.delete()


def test_cancel_a_queued_job_then_again(app, project_with):
    rel = project_with("seq020", ["wide24.mp4"])
    job_id = app.submit(rel, ["shots/wide24.mp4"], output=SMALL).json()["id"]
    response = app.http.delete(f"{API}/jobs/{job_id}")
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "canceled"
    assert response.json()["job"]["state"] == "canceled"
    assert response.json()["job"]["error"]["code"] == "canceled"
    again = app.http.delete(f"{API}/jobs/{job_id}")
    assert again.status_code == 409
    assert again.json()["code"] == "job_already_ended"
    assert "already ended (canceled)" in again.json()["message"]
    not_ready = app.http.get(f"{API}/exports/{job_id}")
    assert (not_ready.status_code, not_ready.json()["code"]) == (409, "export_not_ready")


def test_the_list_is_newest_first_and_filters(app, project_with):
    ids = []
    for name in ("alpha", "beta", "gamma"):
        rel = project_with(f"show/{name}", ["wide24.mp4"])
        ids.append(app.submit(rel, ["shots/wide24.mp4"], output=SMALL).json()["id"])
    listed = app.http.get(f"{API}/jobs").json()
    assert [v["id"] for v in listed["jobs"]] == ids[::-1] and listed["count"] == 3
    beta = app.http.get(f"{API}/jobs", params={"project": "beta"}).json()["jobs"]
    assert [v["id"] for v in beta] == [ids[1]]
    assert app.http.get(f"{API}/jobs", params={"state": "running"}).json()["jobs"] == []
    assert len(app.http.get(f"{API}/jobs", params={"state": "queued"}).json()["jobs"]) == 3
    bad = app.http.get(f"{API}/jobs", params={"state": "done"})
    assert bad.status_code == 422 and bad.json()["problems"][0]["field"] == "state"


def test_projects_lists_folders_below_the_roots(app, project_with, root):
    project_with("show/seq010", ["wide24.mp4"])
    (root / ".trash").mkdir()
    (root / "show" / "seq010" / "exports").mkdir()
    body = app.http.get(f"{API}/projects").json()
    assert body["roots"] == [str(root)]
    paths = [p["path"] for p in body["projects"]]
    assert paths == ["show", "show/seq010", "show/seq010/shots"]


def test_healthz_reports_redis_watcher_and_workers(app, watcher, workers):
    body = app.http.get("/healthz").json()
    assert body["redis"] is True
    assert body["workers"] == 0 and body["watcher_alive"] is False
    workers.start(2)
    watcher()
    wait_for(lambda: app.http.get("/healthz").json()["workers"] == 2, 30, "2 workers")
    body = wait_for(
        lambda: (b := app.http.get("/healthz").json())["watcher_alive"] and b,
        15,
        "the watcher's heartbeat",
    )
    assert set(body) == {"redis", "watchers", "watcher_alive", "workers", "clients"}
    assert body["watchers"][0]["observers_alive"] is True
