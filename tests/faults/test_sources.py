"""Sources must be complete (issue 10, item 4): a shot still being written was
rendered silently truncated (an MPEG-TS copy under way: a 7.6 s export of a 30 s
shot, "finished"). Now a job waits for its shots to hold still, or fails with
``source_changed`` naming the shot; and a shot that changes during the render
fails it too, with nothing published.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from assemblyd.errors import AssemblyError
from assemblyd.media.ffmpeg import binary as ffmpeg
from assemblyd.media.samples import make_clip
from assemblyd.pipeline.progress import Progress, Update
from assemblyd.pipeline.run import assemble
from assemblyd.queue import adapter
from assemblyd.queue.admission import admit
from assemblyd.records.status import StatusFile
from assemblyd.states import Stage
from tests.conftest import make_project, request_doc, service_env
from tests.mediacheck import measure

#: 24 fps, 2 s: 48 frames when complete.
FRAMES = 48


@pytest.fixture(scope="module")
def transport_stream(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A 2 s MPEG-TS clip, what cameras and broadcast tools write."""
    folder = tmp_path_factory.mktemp("ts")
    clip = make_clip(folder / "clip.mp4", size=(160, 90), fps=24, duration=2.0)
    ts = folder / "clip.ts"
    subprocess.run(
        [ffmpeg(), "-v", "error", "-y", "-i", str(clip), "-c", "copy", "-f", "mpegts", str(ts)],
        check=True,
    )
    return ts.read_bytes()


class SlowCopy(threading.Thread):
    """Writes ``data`` to ``path`` the way a copy over a network does: a first part
    at once, the rest in small pieces, ``pause`` seconds apart."""

    def __init__(self, path: Path, data: bytes, pieces: int, pause: float) -> None:
        super().__init__(daemon=True)
        self.path, self.data, self.pieces, self.pause = path, data, pieces, pause
        self.stop = threading.Event()
        self.head = len(data) // 3
        path.write_bytes(data[: self.head])

    def run(self) -> None:
        rest = self.data[self.head :]
        step = -(-len(rest) // self.pieces)
        with self.path.open("ab") as fh:
            for i in range(0, len(rest), step):
                if self.stop.wait(self.pause):
                    return
                fh.write(rest[i : i + step])
                fh.flush()


def _request(project: Path, shot: str) -> Path:
    request = project / "assembly.json"
    request.write_text(json.dumps({"shots": [shot], "output": {"resolution": "320x180"}}))
    return request


def test_a_shot_still_being_copied_is_waited_for_then_rendered_whole(
    project, settings, transport_stream
):
    copy = SlowCopy(project / "shots" / "growing.ts", transport_stream, pieces=5, pause=0.2)
    request = _request(project, "shots/growing.ts")
    copy.start()
    try:
        fast = settings.model_copy(
            update={"source_settle_seconds": 0.6, "source_wait_seconds": 60.0}
        )
        result = assemble(request, fast)
    finally:
        copy.stop.set()
        copy.join()
    assert measure(result.export).frames == FRAMES  # all of it, not the part first seen


def test_a_shot_that_never_settles_fails_naming_it(project, settings, transport_stream):
    # A copy that trickles on for far longer than the job will wait.
    copy = SlowCopy(project / "shots" / "growing.ts", transport_stream, pieces=400, pause=0.1)
    request = _request(project, "shots/growing.ts")
    copy.start()
    try:
        impatient = settings.model_copy(
            update={"source_settle_seconds": 0.5, "source_wait_seconds": 1.5}
        )
        with pytest.raises(AssemblyError) as failed:
            assemble(request, impatient)
    finally:
        copy.stop.set()
        copy.join()
    assert failed.value.code == "source_changed"
    assert failed.value.shot_index == 0 and failed.value.path == "shots/growing.ts"
    assert "still being written" in str(failed.value)
    assert not (project / "exports").exists() or list((project / "exports").iterdir()) == []


def test_a_shot_changed_during_the_render_publishes_nothing(project, add_shot, settings):
    shot = add_shot("wide24.mp4")
    other = add_shot("wide30.mp4")
    request = project / "assembly.json"
    request.write_text(json.dumps({"shots": [shot, other], "output": {"resolution": "320x180"}}))
    touched: list[Update] = []

    def touch_second_shot(update: Update) -> None:
        if update.stage == Stage.RENDER and not touched:
            touched.append(update)
            with (project / other).open("ab") as fh:  # a re-export landing mid-render
                fh.write(b"\0" * 1024)

    with pytest.raises(AssemblyError) as failed:
        assemble(request, settings, Progress(touch_second_shot))
    assert touched
    assert failed.value.code == "source_changed"
    assert (failed.value.shot_index, failed.value.path) == (1, other)
    assert list((project / "exports").iterdir()) == []
    (entry,) = json.loads((project / "project.json").read_text())["assemblies"]
    assert entry["status"] == "failed" and entry["error"]["code"] == "source_changed"


def test_a_part_job_refuses_a_shot_changed_since_validation(conn, root, media, service_settings):
    """A split request: the shot changes between the request's validation and the part
    that encodes it. The request fails naming the shot; nothing is published."""
    shots = ["wide24.mp4", "wide30.mp4", "square50.mp4"]
    project = make_project(root, media, "split", shots)
    request = project / "assembly.json"
    request.write_bytes(request_doc(shots))
    assert admit(conn, service_settings, request) == "queued"
    env = service_env(service_settings)
    # One worker takes only the request's own job: it validates, plans and hands off.
    subprocess.run(
        [sys.executable, "-m", "assemblyd", "worker", "--burst", "--max-jobs", "1"],
        env=env,
        check=True,
        timeout=120,
    )
    parent = adapter.fetch(conn, StatusFile(request).read()["job_id"])
    assert len(parent.meta["fanout"]["parts"]) == 3
    with (project / "shots" / "wide30.mp4").open("ab") as fh:
        fh.write(b"\0" * 1024)  # still playable, but not the file that was validated
    subprocess.run(
        [sys.executable, "-m", "assemblyd", "worker", "--burst"], env=env, check=True, timeout=120
    )
    record = StatusFile(request).read()
    assert record["state"] == "failed", record
    assert record["error"]["code"] == "source_changed"
    assert record["error"]["shot_index"] == 1 and "shots/wide30.mp4" in record["error"]["message"]
    assert not (project / "exports").exists() or list((project / "exports").iterdir()) == []
