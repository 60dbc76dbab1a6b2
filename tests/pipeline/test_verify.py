"""Verify holds a rendered file to its plan; broken files never reach exports/."""

import subprocess

import pytest

from assemblyd.errors import VerifyError
from assemblyd.media.ffmpeg import binary as ffmpeg
from assemblyd.pipeline.run import assemble
from assemblyd.pipeline.verify import verify


@pytest.fixture
def rendered(add_shot, write_request, settings):
    result = assemble(
        write_request([add_shot("wide24.mp4")] * 2, {"resolution": "320x180"}), settings
    )
    return result


def _remux(src, dst, *args):
    subprocess.run(
        [ffmpeg(), "-v", "error", "-y", *args, "-i", str(src), "-c", "copy", str(dst)], check=True
    )
    return dst


def test_the_real_render_passes(rendered, settings):
    report = verify(rendered.export, rendered.plan, settings)
    assert (report.width, report.height, report.video_codec) == (320, 180, "h264")


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda src, dst: _remux(src, dst, "-t", "1.0"), "expected 2.000 s"),
        (lambda src, dst: _remux(src, dst, "-an"), "lacks a video or an audio stream"),
        (
            lambda src, dst: subprocess.run(
                [
                    ffmpeg(),
                    "-v",
                    "error",
                    "-y",
                    "-i",
                    str(src),
                    "-itsoffset",
                    "0.1",
                    "-i",
                    str(src),
                    "-map",
                    "1:v",
                    "-map",
                    "0:a",
                    "-c",
                    "copy",
                    str(dst),
                ],
                check=True,
            ),
            "the picture starts +0.100 s from the sound",
        ),
    ],
)
def test_broken_renders_are_refused(rendered, settings, tmp_path, make, says):
    bad = tmp_path / "bad.mp4"
    make(rendered.export, bad)
    with pytest.raises(VerifyError) as err:
        verify(bad, rendered.plan, settings)
    assert says in str(err.value)
