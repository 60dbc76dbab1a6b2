"""A shared Redis as the README sets it up: TLS with client certificates, an ACL user
with a password. A worker and the web app work through it; a wrong password, an
untrusted certificate or a missing job secret is one line naming the setting."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import httpx

from assemblyd.web.server import WebServer
from tests.conftest import make_project, wait_for
from tests.farm.conftest import ACL_RULES, Server

SMALL = {"resolution": "320x180", "quality_preset": "draft"}


def _assemblyd(
    *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assemblyd", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_a_worker_and_the_web_app_work_through_tls_and_an_acl_user(
    tls_redis: Server, root: Path, media: Path
):
    queue = f"tls-{uuid.uuid4().hex[:8]}"
    settings = tls_redis.settings(roots=[root], queue_name=queue, web_port=0)
    server = WebServer(settings, str(settings.redis_url))
    server.start()
    env = tls_redis.env(
        ASSEMBLYD_QUEUE_NAME=queue,
        ASSEMBLYD_ROOTS=json.dumps([str(root)]),
        ASSEMBLYD_LOG_LEVEL="WARNING",
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "assemblyd", "worker"], env=env, stdin=subprocess.DEVNULL
    )
    try:
        http = httpx.Client(base_url=server.url, timeout=60)
        health = http.get("/healthz").json()
        assert health["redis"] is True
        wait_for(lambda: http.get("/healthz").json()["workers"] == 1, 30, "the worker")
        make_project(root, media, "tls1", ["wide24.mp4"])
        answer = http.post(
            "/api/v1/assembly/process",
            json={"project": "tls1", "shots": ["shots/wide24.mp4"], "output": SMALL},
        )
        assert answer.status_code == 202, answer.text
        job_id = answer.json()["id"]
        done = wait_for(
            lambda: (
                (v := http.get(f"/api/v1/assembly/jobs/{job_id}").json())["state"]
                in ("finished", "failed")
                and v
            ),
            120,
            "the render through TLS",
        )
        assert done["state"] == "finished", done
        assert (root / "tls1" / "exports" / "tls1.mp4").is_file()
        listed = http.get("/api/v1/assembly/jobs").json()
        assert [v["id"] for v in listed["jobs"]] == [job_id]
        assert "assemblyd_redis_up 1.0" in http.get("/metrics").text
        # The CLI's read side too, through the same settings.
        status = _assemblyd("status", env=env)
        assert "redis     rediss://assemblyd@127.0.0.1" in status.stdout, status
        assert PASSWORD_SHOWN not in status.stdout
    finally:
        worker.terminate()
        worker.wait(30)
        server.stop()


PASSWORD_SHOWN = "farm-password"


def _one_line(run: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert "Traceback" not in run.stderr, run.stderr
    assert len(lines) == 1, run.stderr
    return lines[0]


def test_a_wrong_password_is_one_line_naming_the_setting(tls_redis: Server, tmp_path: Path):
    env = tls_redis.env(
        ASSEMBLYD_REDIS_PASSWORD="not-the-password",
        ASSEMBLYD_ROOTS=json.dumps([str(tmp_path)]),
        ASSEMBLYD_LOG_LEVEL="WARNING",
    )
    for command in (["worker"], ["web", "--port", "0"], ["status"], ["jobs"]):
        run = _assemblyd(*command, env=env)
        assert run.returncode == 2, (command, run.stderr)
        line = _one_line(run)
        assert "refused the credentials" in line and "redis_password" in line, line
        assert "not-the-password" not in line  # the secret itself is never printed


def test_a_server_certificate_that_does_not_verify_is_one_line_naming_the_tls_settings(
    tls_redis: Server, tmp_path: Path
):
    import trustme

    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(other)
    env = tls_redis.env(ASSEMBLYD_REDIS_CA_CERTS=str(other), ASSEMBLYD_LOG_LEVEL="WARNING")
    run = _assemblyd("worker", env=env)
    assert run.returncode == 2, run.stderr
    line = _one_line(run)
    assert "TLS" in line and "redis_ca_certs" in line, line


def test_a_shared_redis_without_a_job_secret_is_refused_at_start(password_redis: Server):
    env = password_redis.env(ASSEMBLYD_LOG_LEVEL="WARNING")
    del env["ASSEMBLYD_JOB_SECRET"]
    for command in (["worker"], ["web", "--port", "0"]):
        run = _assemblyd(*command, env=env)
        assert run.returncode == 2, (command, run.stderr)
        assert "job_secret is not set" in _one_line(run)


def test_a_job_secret_too_short_is_refused(password_redis: Server):
    run = _assemblyd("worker", env=password_redis.env(ASSEMBLYD_JOB_SECRET="short"))
    assert run.returncode == 2
    assert "invalid setting job_secret" in _one_line(run)


def test_the_readmes_acl_user_is_the_one_these_tests_use():
    """The README's users.acl line is what every farm test runs with, word for word."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    (line,) = [
        line for line in readme.splitlines() if line.startswith("user assemblyd on >PASSWORD ")
    ]
    assert line.split()[4:] == ACL_RULES
