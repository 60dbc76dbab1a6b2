"""Only our jobs run: a worker executes our job functions, signed by whoever queued
them with job_secret, and refuses anything else before importing any of it.

Every attack here goes through plain RQ against the shared Redis, as anyone who can
reach it could; each is refused by a real `assemblyd worker`, recorded as failed
with the code forged_job, logged, and never run. A canary module on the worker's
path proves that nothing a job names is even imported.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr
from rq import Callback
from rq.job import Job
from rq.registry import StartedJobRegistry
from rq.serializers import JSONSerializer

from assemblyd.queue import adapter, names, signing
from assemblyd.queue.functions import UnknownFunction, resolve
from assemblyd.queue.jobs import run_assembly
from assemblyd.queue.reaper import reap_abandoned
from assemblyd.records.status import StatusFile
from tests.conftest import make_project, request_doc, service_env

CANARY = """
from pathlib import Path
Path(__file__).with_name("imported").touch()

def hit(*args, **kwargs):
    Path(__file__).with_name("called").touch()
"""


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    """A module that leaves a file behind when imported, and another when called."""
    folder = tmp_path / "canary"
    folder.mkdir()
    (folder / "canary.py").write_text(CANARY)
    return folder


def _burst(settings, canary: Path | None = None) -> str:  # type: ignore[no-untyped-def]
    """`assemblyd worker --burst`; returns what it logged."""
    env = service_env(settings)
    if canary is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(canary), env.get("PYTHONPATH", "")])
    run = subprocess.run(
        [sys.executable, "-m", "assemblyd", "--log-level", "INFO", "worker", "--burst"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    return run.stdout + run.stderr


def _refused(job: Job, log: str) -> str:
    """Assert ``job`` was refused as forged: failed in RQ with our code, and logged."""
    assert job.get_status(refresh=True) == "failed"
    exc = job.latest_result().exc_string or ""  # type: ignore[union-attr]
    assert "forged_job" in exc, exc
    assert f"refused job {job.id}" in log and "forged_job" in log, log
    return exc


def test_old_and_new_names_resolve_and_nothing_else_does() -> None:
    assert resolve(names.RUN_ASSEMBLY) is run_assembly
    assert resolve("daemon.jobs.run_assembly") is run_assembly
    for legacy, current in names.LEGACY.items():
        assert resolve(legacy) is resolve(current)
    for name in ("os.system", "builtins.eval", "assemblyd.queue.jobs.log", "", None):
        with pytest.raises(UnknownFunction):
            resolve(name)


def test_os_system_through_plain_rq_is_refused_without_running(
    conn, service_settings, tmp_path: Path
):
    pwned = tmp_path / "pwned"
    job = adapter.open_queue(conn, service_settings).enqueue("os.system", f"touch {pwned}")
    log = _burst(service_settings)
    exc = _refused(job, log)
    assert "'os.system', which is not an assemblyd job function" in exc
    assert not pwned.exists()


def test_a_job_naming_any_module_is_refused_before_it_is_imported(conn, service_settings, canary):
    job = adapter.open_queue(conn, service_settings).enqueue("canary.hit")
    _refused(job, _burst(service_settings, canary))
    assert not (canary / "imported").exists()
    assert not (canary / "called").exists()


def test_a_signed_job_with_tampered_arguments_is_refused(conn, root, media, service_settings):
    """A real job of ours, its request path changed in Redis to another project's."""
    mine = make_project(root, media, "mine", ["wide24.mp4"])
    theirs = make_project(root, media, "theirs", ["wide24.mp4"])
    for project in (mine, theirs):
        (project / "assembly.json").write_bytes(request_doc(["wide24.mp4"]))
    content = (mine / "assembly.json").read_bytes()
    job = adapter.enqueue(conn, service_settings, mine / "assembly.json", content)
    assert job is not None
    assert signing.mismatch(job, signing.job_secret(service_settings)) is None  # signed
    tampered = Job.fetch(job.id, connection=conn, serializer=JSONSerializer)
    assert tampered.args == [str(mine / "assembly.json")]
    tampered.args = [str(theirs / "assembly.json")]
    tampered.save()  # plain RQ: meta, signature and all kept, only the argument changed
    exc = _refused(job, _burst(service_settings))
    assert "signature does not match" in exc
    for project in (mine, theirs):
        assert not (project / "exports").exists()  # nothing rendered, anywhere
    # Its request is not believed: no status file is written at the path it names.
    assert StatusFile(theirs / "assembly.json").read() == {}


def test_a_job_naming_a_forged_callback_is_refused_and_the_callback_never_runs(
    conn, root, media, service_settings, canary
):
    """RQ imports callbacks by name; a signed job given one more is not ours any more."""
    project = make_project(root, media, "cb", ["wide24.mp4"])
    (project / "assembly.json").write_bytes(request_doc(["wide24.mp4"]))
    job = adapter.enqueue(
        conn, service_settings, project / "assembly.json", (project / "assembly.json").read_bytes()
    )
    assert job is not None
    conn.hset(job.key, "success_callback_name", "canary.hit")
    conn.hset(job.key, "failure_callback_name", "canary.hit")
    exc = _refused(job, _burst(service_settings, canary))
    assert "'canary.hit', which is not an assemblyd job function" in exc
    assert not (canary / "imported").exists()


def test_an_unsigned_job_of_our_own_function_is_refused(conn, root, media, service_settings):
    """Jobs queued by 0.1 (or by anyone without the key) carry no signature."""
    project = make_project(root, media, "seq070", ["wide24.mp4"])
    content = request_doc(["wide24.mp4"])
    request = project / "assembly.json"
    request.write_bytes(content)
    job = adapter.open_queue(conn, service_settings).enqueue(
        "daemon.jobs.run_assembly",
        str(request),
        job_id=adapter.job_id_for(request, content),
        meta={"request": str(request), "project": str(project), "state": "queued"},
        on_failure=Callback("daemon.jobs.on_failure"),
        on_stopped=Callback("daemon.jobs.on_stopped"),
    )
    exc = _refused(job, _burst(service_settings))
    assert "carries no signature" in exc
    assert not (project / "exports").exists()
    # The API says so too, in the job's own words.
    stored = Job.fetch(job.id, connection=conn, serializer=JSONSerializer).meta
    assert stored["state"] == "failed" and stored["error"]["code"] == "forged_job"


def test_a_job_signed_with_another_secret_is_refused(conn, root, media, service_settings):
    project = make_project(root, media, "other-key", ["wide24.mp4"])
    (project / "assembly.json").write_bytes(request_doc(["wide24.mp4"]))
    other = service_settings.model_copy(
        update={"job_secret": SecretStr("another-secret-entirely-0123")}
    )
    job = adapter.enqueue(
        conn, other, project / "assembly.json", (project / "assembly.json").read_bytes()
    )
    assert job is not None
    assert "signature does not match" in _refused(job, _burst(service_settings))


def test_the_reaper_never_runs_a_forged_abandoned_jobs_callback(
    conn, service_settings, canary, monkeypatch
):
    """RQ's registry cleanup runs the failure callback of a job whose worker died, in
    whichever process cleans up: here the watcher's reaper."""
    monkeypatch.syspath_prepend(str(canary))
    queue = adapter.open_queue(conn, service_settings)
    job = queue.enqueue("canary.hit", on_failure=Callback("canary.hit"))
    job.set_status("started")
    registry = StartedJobRegistry(queue.name, connection=conn, serializer=JSONSerializer)
    with conn.pipeline() as pipe:
        pipe.zadd(registry.key, {f"{job.id}:forged": 1})  # expired long ago
        pipe.execute()
    conn.lrem(queue.key, 0, job.id)
    reap_abandoned(conn, service_settings)
    assert job.get_status(refresh=True) == "failed"
    assert not (canary / "imported").exists()
    assert not (canary / "called").exists()
