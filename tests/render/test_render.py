"""The render stage, judged by decoding what it wrote."""

from __future__ import annotations

import contextlib
import json
import shutil
import threading
from fractions import Fraction
from pathlib import Path

import numpy as np
import psutil
import pytest

from assemblyd.pipeline.run import assemble
from assemblyd.settings import Settings
from tests.conftest import CLIPS
from tests.mediacheck import audio_mono, dominant_hz, frame_rgb, measure, rms

# Ten shots: four sizes and aspect ratios, five frame rates, two without audio,
# a browser WebM without a duration header, and trims.
SEQUENCE: list[tuple[str, float | None, float | None]] = [
    ("wide24.mp4", None, None),
    ("wide30.mp4", None, None),
    ("portrait25.mp4", None, None),
    ("ntsc.mov", None, None),
    ("square50.mp4", None, None),
    ("long24.mp4", 0.5, 2.0),
    ("browser.webm", None, None),
    ("wide24.mp4", 0.25, None),
    ("wide30.mp4", None, 0.5),
    ("portrait25.mp4", 0.5, None),
]
RATE = 24


def _ffmpeg_children() -> list[psutil.Process]:
    return [
        p
        for p in psutil.Process().children(recursive=True)
        if "ffmpeg" in (p.name() + " ".join(p.cmdline()[:1]))
    ]


class ProcessWatch(threading.Thread):
    """Counts this process's live ffmpeg children while a render runs."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.most = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.02):
            with contextlib.suppress(psutil.Error):
                self.most = max(self.most, len(_ffmpeg_children()))


@pytest.fixture(scope="module", params=["auto", "moviepy"])
def sequence(request, tmp_path_factory, media):
    """Render the ten-shot sequence once per engine; the tests below examine the result.

    ``auto`` normalizes each shot with ffmpeg (the shots do not match the output);
    ``moviepy`` composes every frame in Python."""
    engine = request.param
    project = tmp_path_factory.mktemp("seq") / "seq010"
    (project / "shots").mkdir(parents=True)
    shots = []
    for name, cut_in, cut_out in SEQUENCE:
        shutil.copyfile(media / name, project / "shots" / name)
        entry: dict[str, object] = {"path": f"shots/{name}"}
        if cut_in is not None:
            entry["in"] = cut_in
        if cut_out is not None:
            entry["out"] = cut_out
        shots.append(entry)
    request_file = project / "assembly.json"
    request_file.write_text(
        json.dumps(
            {
                "engine": engine,
                "shots": shots,
                "output": {
                    "resolution": "320x180",
                    "fps": RATE,
                    "quality_preset": "draft",
                    "bitrate": "800k",
                },
            }
        )
    )
    watch = ProcessWatch()
    watch.start()
    try:
        result = assemble(request_file, Settings())
    finally:
        watch.stop.set()
        watch.join()
    assert result.plan.strategy == ("normalize" if engine == "auto" else engine)
    return result, watch.most, _ffmpeg_children()


def _expected_frames() -> list[int]:
    frames = []
    for name, cut_in, cut_out in SEQUENCE:
        length = CLIPS[name].get("duration", 1.0)
        frames.append(round(((cut_out or length) - (cut_in or 0.0)) * RATE))
    return frames


def test_ten_shots_become_one_mp4_of_the_summed_length(sequence):
    result, _, _ = sequence
    m = measure(result.export)
    assert result.export.name == "seq010.mp4"
    assert (m.video_codec, m.audio_codec, m.pix_fmt) == ("h264", "aac", "yuv420p")
    assert m.faststart
    assert (m.width, m.height) == (320, 180)
    assert m.rate == RATE
    expected = _expected_frames()
    # The sum of the trimmed durations, within one frame per shot.
    assert abs(m.frames - sum(expected)) <= len(expected)
    assert m.frames == result.plan.total_frames
    # Audio and picture end together.
    assert abs(m.audio_duration - m.video_duration) < 1 / RATE
    assert m.sample_rate == 48000 and m.channels == 2


def test_each_shot_keeps_its_sound_and_silent_shots_are_silent(sequence):
    result, _, _ = sequence
    samples, rate = audio_mono(result.export)
    for seg, (name, _, _) in zip(result.plan.segments, SEQUENCE, strict=True):
        # The middle of each segment, away from the cuts.
        a = int((seg.first_frame + seg.frames * 0.25) / RATE * rate)
        b = int((seg.first_frame + seg.frames * 0.75) / RATE * rate)
        window = samples[a:b]
        if CLIPS[name].get("audio", True):
            assert dominant_hz(window, rate) == pytest.approx(CLIPS[name]["tone"], abs=15), name
        else:
            assert rms(window) < 1e-3, f"{name} has no audio and must be silent"


def test_pictures_are_fitted_and_padded_not_stretched(sequence):
    result, _, _ = sequence
    segs = result.plan.segments
    # Portrait 90x160 into 320x180: full height, 102 px wide, black bars each side.
    portrait = frame_rgb(result.export, segs[2].first_frame + segs[2].frames // 2)
    assert portrait[:, :100].max() < 30 and portrait[:, -100:].max() < 30
    assert portrait[:, 120:200].mean() > 40
    # It fills the height: no small window in a black frame.
    assert portrait[2, 120:200].mean() > 40 and portrait[-3, 120:200].mean() > 40
    # 16:9 into 16:9 fills the whole frame.
    wide = frame_rgb(result.export, segs[0].first_frame + 5)
    for corner in (wide[:8, :8], wide[:8, -8:], wide[-8:, :8], wide[-8:, -8:]):
        assert corner.mean() > 20
    # Square 120x120: 180x180 in the middle.
    square = frame_rgb(result.export, segs[4].first_frame + 5)
    assert square[:, :60].max() < 30 and square[:, -60:].max() < 30
    assert np.abs(square[:, 75:245].astype(int)).mean() > 40


def test_readers_open_one_shot_at_a_time_and_none_are_left(sequence):
    _, most, left = sequence
    # The reader of the current shot, the next one opening, the encoder and the
    # soundtrack's encoder: a few, however many shots; never one per shot.
    assert 1 <= most <= 4
    assert left == []


def test_no_moviepy_temp_files_anywhere(sequence, tmp_path_factory):
    result, _, _ = sequence
    project = result.export.parent.parent
    leftovers = [p for p in project.rglob("*") if "TEMP_MPY" in p.name or ".partial." in p.name]
    assert leftovers == []
    assert sorted(p.name for p in (project / "exports").iterdir()) == [".thumbs", "seq010.mp4"]
    assert not list(Path.cwd().glob("*TEMP_MPY*"))


@pytest.mark.parametrize(
    ("output", "codecs", "rate"),
    [
        ({"output_format": "mov"}, ("h264", "aac", "yuv420p"), Fraction(24)),
        (
            {"output_format": "mov", "quality_preset": "high"},
            ("prores", "pcm_s24le", "yuv422p10le"),
            Fraction(24),
        ),
        ({"fps": 23.976}, ("h264", "aac", "yuv420p"), Fraction(24000, 1001)),
        (
            {"fps": 59.94, "quality_preset": "high"},
            ("h264", "aac", "yuv420p"),
            Fraction(60000, 1001),
        ),
        ({"fps": 25, "resolution": "256x144"}, ("h264", "aac", "yuv420p"), Fraction(25)),
    ],
)
def test_output_settings_reach_the_file(output, codecs, rate, add_shot, write_request, settings):
    shots = [add_shot("wide30.mp4"), add_shot("portrait25.mp4")]
    out = {"resolution": "320x180", **output}
    result = assemble(write_request(shots, out), settings)
    m = measure(result.export)
    assert result.export.suffix == "." + out.get("output_format", "mp4")
    assert (m.video_codec, m.audio_codec, m.pix_fmt) == codecs
    assert f"{m.width}x{m.height}" == out["resolution"]
    assert m.rate == rate
    assert m.frames == round(2 * rate)  # two one-second shots
    assert abs(m.audio_duration - m.video_duration) < float(1 / rate)


def test_bitrate_setting_controls_the_size(add_shot, write_request, settings, project):
    shots = [add_shot("long24.mp4")]
    sizes = {}
    for bitrate in ("150k", "1500k"):
        request = write_request(
            shots,
            {"resolution": "640x360", "bitrate": bitrate},
            filename=f"b{bitrate}.assembly.json",
        )
        sizes[bitrate] = assemble(request, settings).export.stat().st_size
    video_bits = {k: v * 8 / 3.0 for k, v in sizes.items()}
    assert video_bits["1500k"] > 4 * video_bits["150k"]
    assert video_bits["150k"] < 150_000 * 1.5 + 200_000  # audio is ~192k on top
