"""Stills (title cards, slates) and numbered image sequences (plates) as shots."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from assemblyd.errors import ValidationFailed
from assemblyd.pipeline.run import assemble
from assemblyd.settings import Settings
from tests import corpus
from tests.mediacheck import colour_error, frames_rgb, measure, picture_box, quadrant_colours

OUT = {"resolution": "320x180", "fps": 24, "quality_preset": "draft"}


def request(project: Path, shots: list[object], engine: str = "auto") -> Path:
    path = project / "assembly.json"
    path.write_text(json.dumps({"shots": shots, "output": OUT, "engine": engine}))
    return path


@pytest.mark.parametrize("engine", ["auto", "moviepy"])
@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("title.png", []),
        ("title.jpg", ["-q:v", "2"]),
        ("title.tif", ["-pix_fmt", "rgb24"]),
        ("title16.png", ["-pix_fmt", "rgb48be"]),
    ],
)
def test_a_still_with_a_duration_is_a_shot(tmp_path, engine, name, args):
    project = tmp_path / "p"
    (project / "cards").mkdir(parents=True)
    corpus.still(project / "cards" / name, corpus.quads(320, 180, corpus.QUADRANTS), args)
    export = assemble(
        request(project, [{"path": f"cards/{name}", "duration": 1.5}], engine), Settings()
    ).export
    m = measure(export)
    assert m.frames == 36 and abs(m.audio_duration - 1.5) < 1 / 24  # silence under a card
    frame = frames_rgb(export)[-1]
    box = picture_box(frame)
    assert box == (0, 0, 320, 180)
    seen = quadrant_colours(frame, box)
    assert all(colour_error(seen[q], corpus.QUADRANTS[q]) <= 10 for q in seen), seen


@pytest.mark.parametrize("engine", ["auto", "moviepy"])
def test_an_image_sequence_plays_its_frames_in_order_at_its_rate(tmp_path, engine):
    project = tmp_path / "p"
    plates = project / "plates"
    plates.mkdir(parents=True)
    for n in range(12):  # numbered from 1001, as plates are
        corpus.still(plates / f"sh010.{1001 + n:04d}.png", corpus.coded(n, 320, 180))
    shots = [
        {"path": "plates/sh010.%04d.png", "rate": 12},
        {"path": "plates/sh010.%04d.png", "rate": 24, "in": 0.25},
    ]
    result = assemble(request(project, shots, engine), Settings())
    codes = [corpus.read_code(f) for f in frames_rgb(result.export)]
    # At 12 fps into 24, each plate twice; at 24 from 0.25 s, plates 6 to 11 once.
    assert codes == [n for n in range(12) for _ in (0, 1)] + list(range(6, 12))


def test_a_ten_bit_dpx_sequence(tmp_path):
    project = tmp_path / "p"
    plates = project / "plates"
    plates.mkdir(parents=True)
    for n in range(6):
        corpus.still(
            plates / f"bg.{n:03d}.dpx",
            corpus.quads(320, 180, corpus.QUADRANTS),
            ["-pix_fmt", "gbrp10le"],
        )
    export = assemble(
        request(project, [{"path": "plates/bg.%03d.dpx", "rate": 24}]), Settings()
    ).export
    frame = frames_rgb(export)[0]
    assert measure(export).frames == 6
    seen = quadrant_colours(frame, picture_box(frame))
    assert all(colour_error(seen[q], corpus.QUADRANTS[q]) <= 10 for q in seen), seen


def test_missing_frames_are_all_named_at_once(tmp_path):
    project = tmp_path / "p"
    plates = project / "plates"
    plates.mkdir(parents=True)
    for n in [1001, 1002, 1003, 1007, 1008, 1010]:
        corpus.still(plates / f"sh020.{n:04d}.png", corpus.coded(n, 64, 36))
    (project / "cards").mkdir()
    corpus.still(project / "cards" / "slate.png", corpus.quads(64, 36, corpus.QUADRANTS))
    shots = [
        {"path": "plates/sh020.%04d.png", "rate": 24},
        "cards/slate.png",  # a still without a duration
        {"path": "plates/nothing.%04d.png"},
        {"path": "cards/slate.png", "duration": 2, "in": 1},
    ]
    with pytest.raises(ValidationFailed) as err:
        assemble(request(project, shots), Settings())
    reasons = {p.shot_index: p.reason for p in err.value.problems}
    assert reasons[0] == "the sequence (1001-1010) is missing frame(s) 1004-1006, 1009"
    assert reasons[1] == "a still needs a 'duration' in seconds"
    assert reasons[2] == "no frame of this image sequence exists"
    assert reasons[3] == "a still has no 'in' or 'out'; give its 'duration'"


def test_validate_reports_stills_and_sequences(tmp_path):
    project = tmp_path / "p"
    (project / "plates").mkdir(parents=True)
    (project / "cards").mkdir()
    for n in range(24):
        corpus.still(project / "plates" / f"a.{n:04d}.png", corpus.coded(n, 64, 36))
    corpus.still(project / "cards" / "end.png", corpus.quads(64, 36, corpus.QUADRANTS))
    path = request(
        project,
        [{"path": "plates/a.%04d.png", "rate": 24}, {"path": "cards/end.png", "duration": 2}],
    )
    out = subprocess.run(
        [sys.executable, "-m", "assemblyd", "validate", str(path)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert "OK, 2 shot(s), 3.00 s (72 frames)" in out.stdout
