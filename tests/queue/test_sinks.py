"""The queue's progress adapters: what a warning from the pipeline becomes in the
status file and in the job's meta, on a real Redis."""

from __future__ import annotations

from assemblyd.errors import Notice
from assemblyd.pipeline.progress import Progress
from assemblyd.queue import adapter, views
from assemblyd.queue.sinks import RedisSink, StatusSink
from assemblyd.records.status import StatusFile
from assemblyd.states import Stage


def test_a_warning_reaches_the_status_file_and_the_job_view(conn, service_settings, tmp_path):
    request = tmp_path / "assembly.json"
    request.write_text('{"shots": ["a.mp4"]}')
    job = adapter.enqueue(conn, service_settings, request, request.read_bytes())
    assert job is not None
    status = StatusFile(request)
    progress = Progress(RedisSink(job, 0.0), StatusSink(status, job.id))
    progress.within(Stage.RENDER, 0.5)
    first = Notice(code="copy_fell_back", message="the copy join failed; rendered again")
    second = Notice(code="effect_as_cut", message="event 3: a wipe is rendered as a cut")
    progress.warn(first)
    progress.warn(second)
    assert status.read()["warnings"] == [first, second]
    assert status.read()["stage"] == "render"  # a warning does not move the stage
    view = views.view(adapter.fetch(conn, job.id))
    assert view["warnings"] == [first, second]
    assert view["progress"] == progress.percent
