"""A worker runs our job functions, by today's names or by those jobs queued by
version 0.1 hold, and nothing else."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from rq import Callback

from assemblyd.queue import adapter, names
from assemblyd.queue.functions import UnknownFunction, resolve
from assemblyd.queue.jobs import run_assembly
from assemblyd.records.status import StatusFile
from tests.conftest import make_project, request_doc, service_env


def test_old_and_new_names_resolve_and_nothing_else_does() -> None:
    assert resolve(names.RUN_ASSEMBLY) is run_assembly
    assert resolve("daemon.jobs.run_assembly") is run_assembly
    for legacy, current in names.LEGACY.items():
        assert resolve(legacy) is resolve(current)
    for name in ("os.system", "builtins.eval", "assemblyd.queue.jobs.log", "", None):
        with pytest.raises(UnknownFunction):
            resolve(name)


def _burst(settings) -> None:  # type: ignore[no-untyped-def]
    subprocess.run(
        [sys.executable, "-m", "assemblyd", "worker", "--burst"],
        env=service_env(settings),
        check=True,
        timeout=120,
    )


def test_a_job_queued_under_its_old_name_still_renders(conn, root, media, service_settings):
    """Jobs in Redis at an upgrade name `daemon.jobs.run_assembly`: they still run."""
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
    _burst(service_settings)
    assert job.get_status(refresh=True) == "finished"
    assert (project / "exports" / "seq070.mp4").is_file()
    assert StatusFile(request).read()["state"] == "finished"


def test_a_job_naming_anything_else_is_refused_without_running(
    conn, service_settings, tmp_path: Path
):
    pwned = tmp_path / "pwned"
    job = adapter.open_queue(conn, service_settings).enqueue("os.system", f"touch {pwned}")
    _burst(service_settings)
    assert job.get_status(refresh=True) == "failed"
    assert "not an assemblyd job function" in (job.latest_result().exc_string or "")
    assert not pwned.exists()
