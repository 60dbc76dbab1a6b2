"""Timecode labels to frames and back, exactly, at every rate a studio delivers;
and the start timecode of real files."""

from __future__ import annotations

import random
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest

from assemblyd.media.timecode import read_start_timecode
from assemblyd.timecode import Timecode, TimecodeError, from_frame, to_frame
from tests.conform.conftest import MEDIA

F = Fraction


@pytest.mark.parametrize(
    ("label", "rate", "frame"),
    [
        ("01:00:00:00", F(24000, 1001), 86400),
        ("01:00:00:00", F(24), 86400),
        ("01:00:10:00", F(24), 86640),
        ("10:00:00:00", F(25), 900000),
        ("01:00:10:00", F(25), 90250),
        ("01:00:00;00", F(30000, 1001), 107892),  # drop frame
        ("01:00:00:00", F(30000, 1001), 108000),  # non-drop at 29.97
        ("00:10:00;00", F(30000, 1001), 17982),
        ("23:59:59;29", F(30000, 1001), 2589407),
        ("01:00:00:00", F(30), 108000),
        ("01:00:00;00", F(30), 108000),  # ';' at a rate without drop frame: non-drop
        ("01:00:00:00", F(50), 180000),
        ("01:00:00;00", F(60000, 1001), 215784),
        ("00:01:00;04", F(60000, 1001), 3600),
        ("01:00:00:00", F(60), 216000),
    ],
)
def test_labels_are_frames(label: str, rate: Fraction, frame: int) -> None:
    assert to_frame(label, rate) == frame
    back = from_frame(frame, rate, drop=";" in label)
    assert to_frame(back, rate) == frame
    if ";" in label and rate.denominator == 1001:
        assert str(back) == label


@pytest.mark.parametrize(
    ("before", "rate", "after"),
    [
        ("00:00:59;29", F(30000, 1001), "00:01:00;02"),  # ;00 and ;01 are skipped
        ("00:01:59;29", F(30000, 1001), "00:02:00;02"),
        ("00:09:59;29", F(30000, 1001), "00:10:00;00"),  # but not at every tenth minute
        ("00:59:59;29", F(30000, 1001), "01:00:00;00"),
        ("00:00:59;59", F(60000, 1001), "00:01:00;04"),  # 59.94 skips four
        ("00:19:59;59", F(60000, 1001), "00:20:00;00"),
        ("00:00:59:29", F(30000, 1001), "00:01:00:00"),  # non-drop skips nothing
        ("00:00:59:23", F(24000, 1001), "00:01:00:00"),
        ("00:00:59:24", F(25), "00:01:00:00"),
    ],
)
def test_the_frame_after_a_minute_boundary(before: str, rate: Fraction, after: str) -> None:
    drop = ";" in before
    assert str(from_frame(to_frame(before, rate) + 1, rate, drop=drop)) == after
    assert to_frame(after, rate) - to_frame(before, rate) == 1


@pytest.mark.parametrize("rate", [F(30000, 1001), F(60000, 1001)])
def test_drop_frame_agrees_with_opentimelineio_over_a_day(rate: Fraction) -> None:
    """An independent implementation, on every frame of the first 20 minutes and on
    a spread of frames up to 24 hours."""
    day = round(24 * 3600 * rate)
    frames = [*range(0, round(1200 * rate)), *random.Random(13).sample(range(day), 5000)]
    for frame in frames:
        label = otio.opentime.to_timecode(
            otio.opentime.RationalTime(frame, float(rate)), float(rate)
        )
        assert str(from_frame(frame, rate)) == label
        assert to_frame(label, rate) == frame


@pytest.mark.parametrize(
    ("label", "rate", "says"),
    [
        ("00:01:00;00", F(30000, 1001), "does not exist in drop-frame"),
        ("00:01:00;03", F(60000, 1001), "does not exist in drop-frame"),
        ("00:00:00:24", F(24), "labels run to 23"),
        ("00:00:00:25", F(25), "labels run to 24"),
        ("00:61:00:00", F(24), "run to 59"),
        ("1:00:00", F(24), "not a timecode"),
    ],
)
def test_labels_that_name_no_frame_are_refused(label: str, rate: Fraction, says: str) -> None:
    with pytest.raises(TimecodeError, match=says):
        to_frame(label, rate)


def test_no_silent_wrap_or_negative() -> None:
    with pytest.raises(TimecodeError):
        from_frame(-1, F(24))
    with pytest.raises(TimecodeError):
        from_frame(24 * 3600 * 24, F(24))
    assert str(from_frame(24 * 3600 * 24 - 1, F(24))) == "23:59:59:23"


def test_timecode_text() -> None:
    assert Timecode.parse("01;00;00;00").drop
    assert not Timecode.parse("01:00:00:00").drop
    assert str(Timecode.parse("1:02:03:04")) == "01:02:03:04"


@pytest.mark.parametrize("name", sorted(MEDIA))
def test_start_timecode_of_real_files(library: Path, name: str) -> None:
    """MOV and MP4 (tmcd track), MXF (container tag), and none at all."""
    rate, _, written, _ = MEDIA[name]
    assert read_start_timecode(library / name) == written
    if written:
        expected = {
            "01:00:00:00": 86400 if rate in ("24", "24000/1001") else 108000,
            "02:00:00:00": 172800,
            "00:00:59;00": 59 * 30 if rate == "30000/1001" else 59 * 60,
            "10:00:00:00": 900000,
        }[written]
        assert to_frame(written, Fraction(rate)) == expected


def test_a_file_that_is_not_media_has_no_timecode(tmp_path: Path) -> None:
    text = tmp_path / "notes.mov"
    text.write_text("not a movie")
    assert read_start_timecode(text) is None
