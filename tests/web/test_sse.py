"""GET /api/v1/assembly/jobs/{id}/progress: Server-Sent Events until the job ends."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.conftest import wait_for
from tests.web.conftest import LONG_OUTPUT, SMALL

API = "/api/v1/assembly"


def read_events(response: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    """Every (event name, data) until the server closes the stream."""
    events, name, data = [], "message", ""
    for line in response.iter_lines():
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data = line[5:].strip()
        elif line == "" and data:
            events.append((name, json.loads(data)))
            name, data = "message", ""
    return events


def test_progress_streams_until_the_job_finishes_then_the_stream_ends(app, workers, project_with):
    rel = project_with("seq010", ["wide24.mp4", "wide30.mp4"])
    job_id = app.submit(rel, ["shots/wide24.mp4", "shots/wide30.mp4"], output=SMALL).json()["id"]
    with app.http.stream("GET", f"{API}/jobs/{job_id}/progress") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        workers.start(1)
        events = read_events(response)  # returns only because the server closed it
    data = [d for name, d in events if name == "message"]
    assert data[0] == {
        "state": "queued",
        "stage": "queued",
        "progress": 0.0,
        "export": None,
        "error": None,
    }
    assert set(data[1]) == {"state", "stage", "progress", "export", "error"}
    assert data[-1]["state"] == "finished" and data[-1]["progress"] == 100.0
    assert data[-1]["export"] == "exports/seq010.mp4"
    percents = [d["progress"] for d in data]
    assert percents == sorted(percents)
    assert events[-1] == ("end", {})
    assert not app.hub.subscribers  # the stream's subscription went with it


def test_a_canceled_job_ends_its_stream(app, workers, long_project):
    workers.start(1)
    job_id = app.submit(*long_project("seq020"), output=LONG_OUTPUT).json()["id"]
    with app.http.stream("GET", f"{API}/jobs/{job_id}/progress") as response:
        lines = response.iter_lines()
        for line in lines:  # until the render is under way
            if line.startswith("data:") and json.loads(line[5:])["stage"] == "render":
                break
        # 202 "stopping" (the worker is told) or 200 "canceled" (a fanned-out job's
        # pieces are canceled at once): either way the stream must end.
        assert app.http.delete(f"{API}/jobs/{job_id}").status_code in (200, 202)
        rest = "\n".join(lines)
    assert '"state": "canceled"' in rest and rest.rstrip().endswith("event: end\ndata: {}")


def test_a_job_that_already_ended_gets_one_event(app, project_with):
    job_id = app.submit(
        project_with("seq030", ["wide24.mp4"]), ["shots/wide24.mp4"], output=SMALL
    ).json()["id"]
    app.http.delete(f"{API}/jobs/{job_id}")
    with app.http.stream("GET", f"{API}/jobs/{job_id}/progress") as response:
        events = read_events(response)
    assert [name for name, _ in events] == ["message", "end"]
    assert events[0][1]["state"] == "canceled"
    assert events[0][1]["error"]["code"] == "canceled"
    wait_for(lambda: not app.hub.subscribers, 5, "the subscription to go")


def test_unknown_job_is_a_json_404_not_a_stream(app):
    response = app.http.get(f"{API}/jobs/asm-nope/progress")
    assert response.status_code == 404 and response.json()["code"] == "job_not_found"
    assert not app.hub.subscribers


def test_a_client_leaving_mid_stream_frees_its_subscription(app, project_with):
    job_id = app.submit(
        project_with("seq040", ["wide24.mp4"]), ["shots/wide24.mp4"], output=SMALL
    ).json()["id"]
    with app.http.stream("GET", f"{API}/jobs/{job_id}/progress") as response:
        first = next(response.iter_lines())
        assert first.startswith("data:") and json.loads(first[5:])["state"] == "queued"
        assert len(app.hub.subscribers) == 1, first
    wait_for(lambda: not app.hub.subscribers, 10, "the stream's subscription to go")
