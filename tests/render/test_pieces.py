"""Pieces cut from a longer recording with ``-c copy``: their picture starts after
their sound, edit lists hide frames, their sound runs past the picture. Every source
frame must land where the plan says, with its sound, in every strategy.

The source is a coded pattern: each frame shows its number, and every twelfth
frame pops (a white band, and a one-frame beep in the sound).
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest

from assemblyd.pipeline.run import assemble
from assemblyd.settings import Settings
from tests import corpus
from tests.mediacheck import audio_mono, frames_rgb

OUT = {"resolution": "320x180", "fps": 24, "bitrate": "800k", "quality_preset": "draft"}


@pytest.fixture(scope="module")
def pieces(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 4 s recording and pieces of it, cut the ways editors and cameras cut."""
    folder = tmp_path_factory.mktemp("pieces")
    long = corpus.coded_clip(folder / "long.mp4", 96)
    found = {"long": long}
    # An editor's pre-cut: the picture starts mid-GOP (frame 30; on a frame, so that
    # the piece itself is in sync) and an edit list hides the frames before it.
    corpus.ffmpeg("-ss", "1.25", "-i", long, "-t", "1.0", "-c", "copy", folder / "hidden.mp4")
    found["hidden"] = folder / "hidden.mp4"
    # The same, told to make timestamps start at 0: the whole GOP shows, the picture
    # starts after the sound, and the B-frames cut off at the end leave holes.
    for name, at in (("gappy_a", "0.6"), ("gappy_b", "2.1")):
        corpus.ffmpeg(
            "-ss", at, "-i", long, "-t", "0.9", "-c", "copy",
            "-avoid_negative_ts", "make_zero", folder / f"{name}.mp4",
        )  # fmt: skip
        found[name] = folder / f"{name}.mp4"
    # A camera's file split: the segment muxer cuts at keyframes; each piece's sound
    # runs a few milliseconds past its picture.
    corpus.ffmpeg(
        "-i", long, "-c", "copy", "-f", "segment", "-segment_time", "1",
        "-reset_timestamps", "1", folder / "split%d.mp4",
    )  # fmt: skip
    for i in range(4):
        found[f"split{i}"] = folder / f"split{i}.mp4"
    # Without an edit list the picture starts at its B-frame delay, after the sound
    # (remuxed from MPEG-TS, or written by muxers that write none). With PCM sound,
    # which has no encoder delay of its own to lose on the way.
    pcm = corpus.coded_clip(folder / "long.mov", 96, audio_codec="pcm_s16le")
    corpus.ffmpeg(
        "-i", pcm, "-c", "copy", "-f", "segment", "-segment_time", "1",
        "-reset_timestamps", "1", folder / "pcm%d.mov",
    )  # fmt: skip
    for i in range(4):
        late = folder / f"late{i}.mov"
        corpus.ffmpeg("-i", folder / f"pcm{i}.mov", "-c", "copy", "-use_editlist", "0", late)
        found[f"late{i}"] = late
    found["held"] = corpus.held_last_frame(folder / "held.mp4", 24, hold=4)
    found["unheld"] = corpus.held_last_frame(folder / "unheld.mp4", 24, hold=0)
    return found


def _first_code(path: Path) -> int:
    """The frame number the source itself shows first."""
    with av.open(str(path)) as c:
        code = corpus.read_code(next(c.decode(video=0)).to_ndarray(format="rgb24"))
    assert code is not None
    return code


def _frames_in(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def render(
    tmp_path: Path, pieces: dict[str, Path], names: list[str], engine: str
) -> tuple[Path, dict[str, object]]:
    project = tmp_path / "p"
    (project / "shots").mkdir(parents=True)
    for name in names:
        (project / "shots" / pieces[name].name).write_bytes(pieces[name].read_bytes())
    request = project / "assembly.json"
    shots = [f"shots/{pieces[n].name}" for n in names]
    request.write_text(json.dumps({"shots": shots, "output": OUT, "engine": engine}))
    result = assemble(request, Settings())
    entry = json.loads((project / "project.json").read_text())["assemblies"][-1]
    return result.export, entry


def check_sync(export: Path) -> list[int]:
    """Every popping frame has its beep, to within half a frame; returns the codes."""
    frames = frames_rgb(export)
    codes = [corpus.read_code(f) for f in frames]
    pops = [i for i, f in enumerate(frames) if corpus.popped(f)]
    samples, rate = audio_mono(export)
    loud = np.flatnonzero(np.abs(samples) > 0.25)
    # Beep onsets: a loud sample after at least half a frame of quiet.
    onsets = [int(s) for k, s in enumerate(loud) if k == 0 or s - loud[k - 1] > rate / 48]
    heard = [s / rate * 24 for s in onsets]
    assert len(heard) == len(pops), (pops, heard)
    assert all(abs(h - p) < 0.5 for h, p in zip(heard, pops, strict=True)), (pops, heard)
    return [c if c is not None else -1 for c in codes]


@pytest.mark.parametrize("engine", ["auto", "normalize", "moviepy"])
def test_a_cameras_split_files_join_back_frame_exact(tmp_path, pieces, engine):
    names = [f"split{i}" for i in range(4)]
    export, entry = render(tmp_path, pieces, names, engine)
    assert entry["strategy"] == ("copy" if engine == "auto" else engine)
    codes = check_sync(export)
    # The recording again, every frame once, in order: nothing stretched or dropped.
    assert codes == list(range(96))


@pytest.mark.parametrize("engine", ["auto", "normalize", "moviepy"])
def test_pieces_whose_picture_starts_after_their_sound(tmp_path, pieces, engine):
    # (Not the first piece: the segment muxer drops its first 83 ms of sound.)
    names = ["late1", "late3", "late2"]
    for name in names:  # what makes these pieces what they are
        with av.open(str(pieces[name])) as c:
            assert c.streams.video[0].start_time > 0 == c.streams.audio[0].start_time
    export, entry = render(tmp_path, pieces, names, engine)
    assert entry["strategy"] == ("copy" if engine == "auto" else engine)
    codes = check_sync(export)
    assert codes == list(range(24, 48)) + list(range(72, 96)) + list(range(48, 72))


@pytest.mark.parametrize("engine", ["auto", "moviepy"])
def test_pieces_with_holes_or_hidden_frames_are_encoded(tmp_path, pieces, engine):
    names = ["gappy_a", "hidden", "gappy_b"]
    export, entry = render(tmp_path, pieces, names, engine)
    # Copying would show the hidden frames and keep the holes: auto encodes.
    assert entry["strategy"] == ("normalize" if engine == "auto" else engine)
    assert not entry["warnings"]  # known before rendering, not found out by failing
    codes = check_sync(export)
    starts = [0]
    for shot in entry["shots"][:-1]:
        starts.append(starts[-1] + shot["frames"])
    assert len(codes) == starts[-1] + entry["shots"][-1]["frames"]
    for start, name in zip(starts, names, strict=True):
        assert codes[start] == _first_code(pieces[name]), (name, codes[start])
    # Within each piece, source frames in order; a hole shows the frame before it.
    for start, shot in zip(starts, entry["shots"], strict=True):
        run = codes[start : start + shot["frames"]]
        assert run == sorted(run) and run[-1] - run[0] <= len(run) + 2, run


def test_a_copy_join_that_fails_its_checks_is_rendered_again_encoded(tmp_path, pieces):
    """A clip whose last frame is held (variable frame rate, as phones write it)
    looks copyable, but a copy would end frames short. `auto` must not fail where
    normalize succeeds: it renders again, says so, and publishes one export."""
    export, entry = render(tmp_path, pieces, ["unheld", "held"], "auto")
    assert entry["strategy"] == "normalize"
    (warning,) = entry["warnings"]
    assert warning["code"] == "copy_fell_back" and "frames" in warning["message"]
    codes = check_sync(export)
    held = entry["shots"][1]["frames"]
    assert codes[:24] == list(range(24))
    # The held frame stands for its whole time, as a player shows it.
    assert codes[24:] == list(range(20)) + [19] * (held - 20)
    exports = sorted(p.name for p in export.parent.iterdir() if p.name != ".thumbs")
    assert exports == [export.name]  # one export, no partial files
