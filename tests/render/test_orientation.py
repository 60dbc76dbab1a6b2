"""Phone clips and odd pixels: the picture sits, turns and fills the frame as it is
displayed, whichever engine renders it. Judged on decoded frames."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from assemblyd.pipeline.run import assemble
from assemblyd.settings import Settings
from tests import corpus
from tests.mediacheck import colour_error, frames_rgb, picture_box, quadrant_colours

OUT = {"resolution": "320x180", "fps": 24, "bitrate": "800k", "quality_preset": "draft"}
ENGINES = ["auto", "moviepy"]


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 320x180 H.264 clip that matches the output exactly: only its matrix differs."""
    folder = tmp_path_factory.mktemp("orientation")
    img = corpus.quads(320, 180, corpus.QUADRANTS)
    return corpus.encode(
        folder / "plain.mp4",
        [img] * 12,
        (320, 180),
        video=["-vf", corpus.TAG_709, "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "300k"],
    )


def render(project: Path, shot: dict[str, object], engine: str) -> tuple[Path, dict[str, object]]:
    request = project / "assembly.json"
    request.write_text(json.dumps({"shots": [shot], "output": OUT, "engine": engine}))
    result = assemble(request, Settings())
    entry = json.loads((project / "project.json").read_text())["assemblies"][-1]
    return result.export, entry


def expected_quadrants(rotation: int, mirrored: bool) -> dict[str, tuple[int, int, int]]:
    """The quadrant picture as ffmpeg's -display_rotation/-display_hflip describe it:
    turned counter-clockwise, then mirrored."""
    grid = np.array([["tl", "tr"], ["bl", "br"]])
    turned = np.rot90(grid, rotation // 90)
    shown = np.fliplr(turned) if mirrored else turned
    return {
        place: corpus.QUADRANTS[str(shown[r, c])]
        for place, (r, c) in {"tl": (0, 0), "tr": (0, 1), "bl": (1, 0), "br": (1, 1)}.items()
    }


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("mirrored", [False, True])
@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_a_display_matrix_turns_and_mirrors_the_picture(
    plain: Path, tmp_path: Path, rotation: int, mirrored: bool, engine: str
) -> None:
    project = tmp_path / "p"
    (project / "shots").mkdir(parents=True)
    corpus.with_matrix(plain, project / "shots" / "phone.mp4", rotation, mirrored)
    export, entry = render(project, {"path": "shots/phone.mp4"}, engine)
    frame = frames_rgb(export)[0]
    box = picture_box(frame)
    if rotation % 180:
        # 180x320 shown in 320x180: 101.25 wide, rounded to even; centred on an
        # even column (4:2:0 chroma).
        assert box == (108, 0, 102, 180), box
    else:
        assert box == (0, 0, 320, 180), box
    wanted = expected_quadrants(rotation, mirrored)
    seen = quadrant_colours(frame, box)
    assert all(colour_error(seen[q], wanted[q]) <= 12 for q in wanted), (seen, wanted)
    # Only an unturned, unmirrored clip that matches the output is copied.
    copied = rotation == 0 and not mirrored and engine == "auto"
    assert entry["strategy"] == ("copy" if copied else "normalize" if engine == "auto" else engine)


def test_the_turn_agrees_with_ffmpegs_own_autorotate(plain: Path, tmp_path: Path) -> None:
    """Our reading of the matrix is FFmpeg's: for every turn and mirror, the picture
    equals what ffmpeg itself shows when it applies the matrix."""
    for rotation in (90, 180, 270):
        for mirrored in (False, True):
            source = corpus.with_matrix(
                plain, tmp_path / f"m{rotation}{mirrored}.mp4", rotation, mirrored
            )
            shown = tmp_path / f"shown{rotation}{mirrored}.mp4"
            corpus.ffmpeg("-i", source, "-c:v", "libx264", "-preset", "ultrafast", shown)
            frame = frames_rgb(shown)[0]
            seen = quadrant_colours(frame, picture_box(frame))
            wanted = expected_quadrants(rotation, mirrored)
            assert all(colour_error(seen[q], wanted[q]) <= 12 for q in wanted), (rotation, mirrored)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    ("stored", "sar", "box"),
    [
        # HDV: 1440x1080 stored, 4:3 pixels, shown 16:9: fills the frame.
        ((240, 180), "4/3", (0, 0, 320, 180)),
        # DV NTSC: 720x480 stored, 8:9 pixels, shown 4:3: 240 wide, not 270.
        ((180, 120), "8/9", (40, 0, 240, 180)),
        # Anamorphic the other way: 2:1 pixels on a 16:9 frame, shown 32:9.
        ((160, 90), "2/1", (0, 44, 320, 90)),
    ],
)
def test_non_square_pixels_are_shown_at_their_shape(
    tmp_path: Path, engine: str, stored: tuple[int, int], sar: str, box: tuple[int, int, int, int]
) -> None:
    project = tmp_path / "p"
    width, height = stored
    corpus.encode(
        project / "shots" / "tape.mp4",
        [corpus.quads(width, height, corpus.QUADRANTS)] * 6,
        stored,
        video=["-vf", f"setsar={sar},{corpus.TAG_709}", "-c:v", "libx264", "-preset", "ultrafast"],
    )
    export, _entry = render(project, {"path": "shots/tape.mp4"}, engine)
    frame = frames_rgb(export)[0]
    found = picture_box(frame)
    assert all(abs(a - b) <= 1 for a, b in zip(found, box, strict=True)), (found, box)
    seen = quadrant_colours(frame, found)
    assert all(colour_error(seen[q], corpus.QUADRANTS[q]) <= 12 for q in seen), seen


def test_a_clip_matching_the_output_but_for_its_pixel_shape_is_not_copied(tmp_path: Path) -> None:
    project = tmp_path / "p"
    corpus.encode(
        project / "shots" / "wide.mp4",
        [corpus.quads(320, 180, corpus.QUADRANTS)] * 12,
        (320, 180),
        video=[
            "-vf",
            f"setsar=4/3,{corpus.TAG_709}",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-b:v",
            "300k",
        ],
    )
    export, entry = render(project, {"path": "shots/wide.mp4"}, "auto")
    assert entry["strategy"] == "normalize"
    # Shown 427x180: 320 wide, 135 high, rounded to even.
    assert picture_box(frames_rgb(export)[0]) == (0, 22, 320, 136)


@pytest.mark.parametrize("engine", ENGINES)
def test_odd_sizes_round_by_at_most_a_pixel_never_stretch(tmp_path: Path, engine: str) -> None:
    project = tmp_path / "p"
    (project / "cards").mkdir(parents=True)
    corpus.still(project / "cards" / "odd.png", corpus.quads(333, 111, corpus.QUADRANTS))
    export, _ = render(project, {"path": "cards/odd.png", "duration": 0.5}, engine)
    _x, y, w, h = picture_box(frames_rgb(export)[0])
    assert w == 320 and abs(h - 320 * 111 / 333) <= 1, (w, h)
    assert abs(y - (180 - h) / 2) <= 1
    shutil.rmtree(project)
