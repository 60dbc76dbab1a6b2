"""The assemblyd command as a user runs it: a real subprocess."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from tests.conftest import service_env
from tests.mediacheck import measure


def _assemblyd(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assemblyd", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_render_prints_the_export_and_shows_a_bar(project, add_shot, write_request, tmp_path):
    request = write_request(
        [add_shot("wide24.mp4"), add_shot("square50.mp4")],
        {"resolution": "320x180"},
        filename="sc010.assembly.json",
    )
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    run = _assemblyd("render", str(request), cwd=workdir)
    assert run.returncode == 0, run.stderr
    export = Path(run.stdout.strip())
    assert export == project / "exports" / "sc010.mp4"
    assert measure(export).frames == 48
    assert "100%" in run.stderr and "render" in run.stderr
    assert list(workdir.iterdir()) == []  # no MoviePy temp audio in the working directory


def test_render_of_a_bad_request_exits_2_naming_the_file(project, write_request, tmp_path):
    request = write_request(["shots/none.mov", "ftp://example/x.mov"], {"fps": 26})
    run = _assemblyd("render", str(request), cwd=tmp_path)
    assert run.returncode == 2
    assert str(request) in run.stderr
    assert "shot 1 (shots/none.mov): file not found" in run.stderr
    assert "shot 2 (ftp://example/x.mov): 'ftp:' is a URL" in run.stderr
    assert "output.fps" in run.stderr
    assert not (project / "exports").exists()


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_sigterm_cancels_a_render_and_leaves_nothing(project, add_shot, write_request, tmp_path):
    request = write_request(
        [add_shot("long24.mp4")] * 8, {"resolution": "640x360", "quality_preset": "high"}
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "assemblyd", "render", str(request)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    parent = psutil.Process(proc.pid)

    def encoding():
        kids = parent.children(recursive=True)
        return kids if any("ffmpeg" in k.name() for k in kids) else None

    children = _wait_for(encoding, 60, "the video encoder to start")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "canceled" in err
    _, alive = psutil.wait_procs(children, timeout=10)
    assert alive == []
    assert list((project / "exports").iterdir()) == []
    (entry,) = json.loads((project / "project.json").read_text())["assemblies"]
    assert entry["status"] == "canceled"


def test_rendering_a_shot_list_loads_neither_redis_nor_opentimelineio(
    project, add_shot, write_request, tmp_path
):
    """The one-off render path starts in what it uses: the Redis client and
    OpenTimelineIO are a third of a cold start and a shot list needs neither."""
    request = write_request([add_shot("wide24.mp4")], {"resolution": "320x180"})
    script = (
        "import sys\n"
        "from assemblyd.cli import main\n"
        f"code = main(['render', {str(request)!r}, '-q'])\n"
        "loaded = sorted({m.split('.')[0] for m in sys.modules} & {'redis', 'rq', "
        "'opentimelineio', 'starlette', 'uvicorn', 'moviepy'})\n"
        "print(code, loaded)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=180
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == "0 []", run.stdout


def test_a_redis_error_mid_command_is_one_line_and_exit_3(service_settings, conn):
    """A Redis that answers the connection but refuses a command on the way (here its
    job index is the wrong type, as a stray write to a shared Redis leaves it): one
    line naming Redis and exit 3, not a traceback."""
    from assemblyd.queue.index import key

    conn.set(key(service_settings.queue_name), "not a sorted set")
    run = subprocess.run(
        [sys.executable, "-m", "assemblyd", "jobs"],
        env=service_env(service_settings),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 3, (run.returncode, run.stdout, run.stderr)
    assert run.stderr.startswith("assemblyd: Redis: "), run.stderr
    assert "WRONGTYPE" in run.stderr and "Traceback" not in run.stderr
