"""A studio's media for conform tests: coded clips (the frame number drawn in the
picture, :func:`tests.corpus.coded`) carrying start timecodes the way cameras and
editing systems write them, made once per session with the bundled ffmpeg."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import pytest

from tests import corpus

SAMPLES = Path(__file__).parent / "samples"
SIZE = (160, 90)
X264 = ["-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-g", "12"]
MPEG2 = ["-c:v", "mpeg2video", "-q:v", "2"]

#: name -> (rate, frames, start timecode or None, codec arguments)
MEDIA: dict[str, tuple[str, int, str | None, list[str]]] = {
    "shot_a.mov": ("24", 96, "01:00:00:00", X264),
    "shot_b.mov": ("24", 72, "02:00:00:00", X264),
    "shot_c.mp4": ("24", 48, None, X264),
    "df2997.mov": ("30000/1001", 90, "00:00:59;00", X264),
    "df5994.mov": ("60000/1001", 120, "00:00:59;00", X264),
    "ndf2997.mov": ("30000/1001", 60, "01:00:00:00", X264),
    "pal25.mxf": ("25", 50, "10:00:00:00", MPEG2),
    "film23976.mp4": ("24000/1001", 48, "01:00:00:00", X264),
}


def make_coded(path: Path, rate: str, frames: int, timecode: str | None, codec: list[str]) -> Path:
    video = ["-vf", corpus.TAG_709, *codec] + (["-timecode", timecode] if timecode else [])
    images = (corpus.coded(n, *SIZE) for n in range(frames))
    return corpus.encode(path, images, SIZE, rate, video=video)


@pytest.fixture(scope="session")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The media, made once; projects link them in (hard links stay inside)."""
    folder = tmp_path_factory.mktemp("conform-media")
    for name, (rate, frames, timecode, codec) in MEDIA.items():
        make_coded(folder / name, rate, frames, timecode, codec)
    return folder


@pytest.fixture
def studio(tmp_path: Path, library: Path) -> Path:
    """A project folder with every medium under media/."""
    project = tmp_path / "project"
    (project / "media").mkdir(parents=True)
    for name in MEDIA:
        os.link(library / name, project / "media" / name)
    return project


@pytest.fixture
def place(studio: Path) -> Callable[..., Path]:
    """Put a sample timeline (or text) into the project; @PROJECT@ becomes its path."""

    def put(name: str, text: str | None = None, folder: str = "edit") -> Path:
        target = studio / folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if text is None:
            data = (SAMPLES / name).read_bytes()
            target.write_bytes(data.replace(b"@PROJECT@", str(studio).encode()))
        else:
            target.write_text(text)
        return target

    return put


_CODES: dict[Path, list[tuple[Fraction, int | None]]] = {}


def code_at(path: Path, seconds: Fraction) -> int | None:
    """The frame number drawn in the frame of ``path`` shown at ``seconds`` from its
    first frame (the frame whose time is nearest)."""
    if path not in _CODES:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            decoded = [
                (Fraction(frame.pts * stream.time_base), frame.to_ndarray(format="rgb24"))
                for frame in container.decode(stream)
            ]
        first = decoded[0][0]
        _CODES[path] = [(t - first, corpus.read_code(img)) for t, img in decoded]
    return min(_CODES[path], key=lambda tc: abs(tc[0] - seconds))[1]


def copy_media(studio: Path, name: str, to: str) -> Path:
    target = studio / to
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(studio / "media" / name, target)
    return target
