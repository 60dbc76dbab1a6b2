"""No 500s and no tracebacks for bad input (issue 10, item 13)."""

from __future__ import annotations

import json
import subprocess
import sys
from urllib.parse import quote

import pytest

from assemblyd.queue import adapter, views
from assemblyd.records.status import StatusFile
from tests.conftest import make_project, request_doc, service_env, wait_for

API = "/api/v1/assembly"
ODD_IDS = ["a.b", "a b", "x:y", "asm-1;2", "ü", "a" * 300, "\u0000", "..", "%"]


@pytest.mark.parametrize("job_id", ODD_IDS)
def test_any_job_id_is_a_404_not_a_500(app, job_id):
    for method, path in [
        ("GET", f"jobs/{quote(job_id, safe='')}"),
        ("DELETE", f"jobs/{quote(job_id, safe='')}"),
        ("GET", f"jobs/{quote(job_id, safe='')}/progress"),
        ("GET", f"exports/{quote(job_id, safe='')}"),
        ("GET", f"jobs/{quote(job_id, safe='')}/details"),
        ("GET", f"jobs/{quote(job_id, safe='')}/poster"),
        ("GET", f"jobs/{quote(job_id, safe='')}/exports/0"),
        ("GET", f"jobs/{quote(job_id, safe='')}/exports/0/sheet"),
        ("GET", f"jobs/{quote(job_id, safe='')}/shots/0/thumbnail"),
    ]:
        response = app.http.request(method, f"{API}/{path}")
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["code"] in ("job_not_found", "not_found")


def test_nul_bytes_and_deep_nesting_in_a_submission_are_422(app, project_with):
    rel = project_with("seq010", ["wide24.mp4"])
    for body in (
        {"project": "seq\u0000010", "shots": ["shots/wide24.mp4"]},
        {"project": rel, "shots": ["shots/wide\u000024.mp4"]},
    ):
        response = app.http.post(f"{API}/process", json=body)
        assert response.status_code == 422, response.text
        assert "control character" in response.json()["message"]
    nested = b'{"project": "seq010", "shots": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    response = app.http.post(
        f"{API}/process", content=nested, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["problems"][0]["code"] == "too_deep"


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assemblyd", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_errors_are_one_line_with_documented_exit_codes(service_settings, tmp_path):
    env = service_env(service_settings)
    bad_level = _cli("--log-level", "foo", "jobs", env=env)
    assert bad_level.returncode == 2
    assert bad_level.stderr.strip().splitlines() == [
        "assemblyd: invalid setting log_level: 'foo' is not a log level; choose one of "
        "DEBUG, INFO, WARNING, ERROR, CRITICAL"
    ]
    no_redis = _cli(
        "jobs", env={**env, "ASSEMBLYD_REDIS_URL": f"unix://{tmp_path / 'no-such.sock'}"}
    )
    assert no_redis.returncode == 3
    (line,) = no_redis.stderr.strip().splitlines()
    assert line.startswith("assemblyd: cannot reach Redis at unix://")
    odd = _cli("cancel", "a.b", "--wait", "0", env=env)
    assert odd.returncode == 1
    assert odd.stderr.strip().splitlines() == ["assemblyd: no job with id a.b"]
    for run in (bad_level, no_redis, odd):
        assert "Traceback" not in run.stderr


def test_a_request_deleted_mid_render_fails_request_gone(
    watcher, workers, conn, root, media, service_settings
):
    """Reported as internal_error with a Python exception text before."""
    workers.start(1)
    watcher()
    shots = [f"long{i}.mp4" for i in range(4)]
    project = make_project(root, media, "seq130", [])
    for name in shots:
        (project / "shots" / name).write_bytes((media / "long24.mp4").read_bytes())
    request = project / "assembly.json"
    request.write_bytes(request_doc(shots, resolution="1280x720", quality_preset="high"))
    status = StatusFile(request)
    job_id = wait_for(lambda: status.read().get("job_id"), 20, "the job")
    # Split into parts, which read the request when they start.
    wait_for(lambda: adapter.fetch(conn, job_id).meta.get("fanout"), 60, "the hand-off")
    request.unlink()
    view = wait_for(
        lambda: (v := views.view(adapter.fetch(conn, job_id)))["state"] == "failed" and v,
        60,
        "the job to fail",
    )
    assert view["error"]["code"] == "request_gone", view["error"]
    assert "deleted" in view["error"]["message"]
    wait_for(lambda: not status.path.exists(), 10, "its status file to go with it")
    assert not (project / "exports").exists() or list((project / "exports").iterdir()) == []
    entry = json.loads((project / "project.json").read_text())["assemblies"][0]
    assert entry["status"] == "failed" and entry["error"]["code"] == "request_gone"
