"""Session fixtures: tiny real media made with the bundled ffmpeg, and project folders."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from daemon.samples import make_clip
from daemon.settings import Settings

#: name -> make_clip arguments. Tiny on purpose: the suite renders dozens of times.
CLIPS: dict[str, dict[str, Any]] = {
    "wide24.mp4": {"size": (160, 90), "fps": 24, "tone": 440},
    "wide30.mp4": {"size": (320, 180), "fps": 30, "tone": 660},
    "portrait25.mp4": {"size": (90, 160), "fps": 25, "audio": False},
    "ntsc.mov": {"size": (160, 120), "fps": "30000/1001", "tone": 550, "sample_rate": 48000,
                 "channels": 1},
    "square50.mp4": {"size": (120, 120), "fps": 50, "tone": 880, "sample_rate": 22050},
    "long24.mp4": {"size": (160, 90), "fps": 24, "duration": 3.0, "tone": 330},
    "browser.webm": {"size": (160, 90), "fps": 30, "tone": 500, "sample_rate": 48000,
                     "streamed": True},
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
    (root / "audio_only.m4a").write_bytes(b"")
    _audio_only(root / "audio_only.m4a")
    return root


def _faststart(path: Path) -> None:
    import subprocess

    from daemon.samples import ffmpeg

    tmp = path.with_suffix(".tmp.mp4")
    subprocess.run(
        [ffmpeg(), "-v", "error", "-y", "-i", str(path), "-c", "copy", "-movflags", "+faststart",
         str(tmp)],
        check=True,
    )
    tmp.replace(path)


def _audio_only(path: Path) -> None:
    import subprocess

    from daemon.samples import ffmpeg

    subprocess.run(
        [ffmpeg(), "-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=440:duration=1",
         "-c:a", "aac", str(path)],
        check=True,
    )


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
