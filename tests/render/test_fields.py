"""Interlaced sources (1080i50, 1080i59.94, DV) are deinterlaced before anything scales
them: no combing, and a frame per field where the output runs at the field rate.

The source is a white bar moving 6 pixels per field on grey, interlaced from 50p the
way a camera records: each frame holds two moments. Combed, the bar's edge zigzags
from one line to the next; deinterlaced, it is straight.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from assemblyd.pipeline.run import assemble
from assemblyd.settings import Settings
from tests import corpus
from tests.mediacheck import frames_rgb

STEP = 6  # pixels per field


def bar(position: int, width: int, height: int) -> corpus.Image:
    img = np.full((height, width, 3), 60, np.uint8)
    img[:, position : position + 24] = 235
    return img


@pytest.fixture(scope="module")
def interlaced(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("fields")
    found = {}
    for name, rate, order, size in (
        ("i50", 50, "tff", (320, 180)),  # 1080i50 in small
        ("i5994", "60000/1001", "bff", (320, 180)),  # 1080i59.94, bottom field first
    ):
        width, height = size
        found[name] = corpus.encode(
            folder / f"{name}.mp4",
            (bar(20 + STEP * n, width, height) for n in range(40)),
            size,
            rate,
            video=[
                "-vf",
                f"tinterlace=mode=interleave_{'top' if order == 'tff' else 'bottom'},"
                f"setfield={order},{corpus.TAG_709}",
                "-c:v", "libx264", "-preset", "ultrafast", "-crf", "12",
                "-flags", "+ilme+ildct", "-x264-params", f"{order}=1",
            ],
        )  # fmt: skip
    return found


def edges(frame: corpus.Image) -> np.ndarray:
    """Per line, the column where the bar starts."""
    rows = frame.astype(int).mean(axis=2) > 150
    return np.argmax(rows, axis=1)


def combing(frame: corpus.Image) -> int:
    """How far the bar's edge jumps between neighbouring lines (0: straight)."""
    found = edges(frame)
    return int(np.abs(np.diff(found[4:-4])).max())


def render(tmp_path: Path, source: Path, engine: str, fps: float, size: str) -> Path:
    project = tmp_path / "p"
    (project / "shots").mkdir(parents=True)
    (project / "shots" / source.name).write_bytes(source.read_bytes())
    request = project / "assembly.json"
    output = {"resolution": size, "fps": fps, "quality_preset": "draft", "bitrate": "2M"}
    request.write_text(
        json.dumps({"shots": [f"shots/{source.name}"], "output": output, "engine": engine})
    )
    return assemble(request, Settings()).export


def test_the_source_really_is_combed(interlaced):
    """The checks below have teeth: the source, shown as stored, zigzags."""
    assert combing(frames_rgb(interlaced["i50"])[5]) >= STEP


@pytest.mark.parametrize("engine", ["auto", "moviepy"])
@pytest.mark.parametrize("size", ["320x180", "640x360"])
def test_frame_rate_output_is_deinterlaced_before_scaling(tmp_path, interlaced, engine, size):
    export = render(tmp_path, interlaced["i50"], engine, 25, size)
    frames = frames_rgb(export)
    assert len(frames) == 20  # 0.8 s at 25
    assert max(combing(f) for f in frames[1:-1]) <= 2


@pytest.mark.parametrize("engine", ["auto", "moviepy"])
@pytest.mark.parametrize(("name", "fps"), [("i50", 50), ("i5994", 59.94)])
def test_field_rate_output_gets_a_frame_per_field(tmp_path, interlaced, engine, name, fps):
    export = render(tmp_path, interlaced[name], engine, fps, "320x180")
    frames = frames_rgb(export)
    assert len(frames) == 40
    positions = [int(np.median(edges(f))) for f in frames[2:-2]]
    # Each frame is the next field: the bar moves one field's step every frame.
    steps = np.diff(positions)
    assert np.all(np.abs(steps - STEP) <= 2), positions
    assert max(combing(f) for f in frames[2:-2]) <= 2


@pytest.mark.parametrize("engine", ["auto", "moviepy"])
def test_dv_ntsc_is_deinterlaced_and_shown_4_3(tmp_path, engine):
    """DV NTSC: 720x480, 8:9 pixels, bottom field first, 4:1:1 chroma, BT.601."""
    source = corpus.encode(
        tmp_path / "tape.mov",
        (bar(60 + 2 * STEP * n, 720, 480) for n in range(30)),
        (720, 480),
        "60000/1001",
        video=[
            "-vf", "tinterlace=mode=interleave_bottom,setfield=bff",
            "-c:v", "dvvideo", "-pix_fmt", "yuv411p",
        ],
    )  # fmt: skip
    export = render(tmp_path, source, engine, 29.97, "320x180")
    frames = frames_rgb(export)
    assert len(frames) == 15
    # 4:3 in a 16:9 frame: 240x180 between black bars, not 270 (square pixels).
    lit = frames[5].max(axis=2).max(axis=0) > 30
    cols = np.flatnonzero(lit)
    assert abs((cols[-1] - cols[0] + 1) - 240) <= 2 and abs(cols[0] - 40) <= 2
    assert max(combing(f[:, 44:276]) for f in frames[1:-1]) <= 2
