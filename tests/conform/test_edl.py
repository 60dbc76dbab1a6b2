"""EDLs as Avid, Premiere, Resolve and Nucoda write them, read against real media
with start timecodes; every event checked, and the frame each one starts on (and
ends on) read back from the media's picture."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import pytest

from assemblyd.conform.model import Conform
from assemblyd.conform.read import read_timeline
from assemblyd.settings import Settings
from tests.conform.conftest import SAMPLES, code_at

F = Fraction
#: number, kind, frames, media, first source frame, speed, dissolve_in
Row = tuple[int, str, int, str | None, int | None, Fraction, int]


def rows(conform: Conform) -> list[Row]:
    out = []
    for e in conform.events:
        first = None
        if e.media is not None:
            assert e.clock is not None
            exact = e.source_in * e.clock.rate
            assert exact.denominator == 1, f"event {e.number} starts between frames: {exact}"
            first = int(exact)
        name = e.media.name if e.media else None
        out.append((e.number, e.kind, e.frames, name, first, e.speed, e.dissolve_in))
    return out


def check_pictures(conform: Conform) -> int:
    """The frame drawn at each event's first and last source frame is the one the
    EDL names (``rows`` gives the number expected; codes are frame indices)."""
    checked = 0
    for index, e in enumerate(conform.events):
        if e.media is None:
            continue
        assert e.clock is not None
        first = int(e.source_in * e.clock.rate)
        assert code_at(e.media, e.source_in) == first, f"event {e.number}"
        if e.speed == 1:
            run_on = conform.events[index + 1].dissolve_in if index + 1 < len(conform.events) else 0
            last = e.source_in + F(e.frames + run_on - 1) / conform.rate
            assert code_at(e.media, last) == first + e.frames + run_on - 1, f"event {e.number}"
        checked += 1
    return checked


def messages(notices: object) -> list[str]:
    return [n["message"] for n in notices]  # type: ignore[attr-defined, index]


CUT24: list[Row] = [
    (1, "clip", 36, "shot_a.mov", 12, F(1), 0),
    (2, "clip", 60, "shot_b.mov", 6, F(1), 24),
    (3, "gap", 12, None, None, F(1), 0),
    (4, "clip", 36, "shot_c.mp4", 0, F(1), 0),
]


def renumbered(numbers: list[int]) -> list[Row]:
    return [(n, *row[1:]) for n, row in zip(numbers, CUT24, strict=True)]


@pytest.mark.parametrize(
    ("sample", "expected", "labels"),
    [
        ("cut24_avid.edl", CUT24, ["shot_a", "shot_b", "", "shot_c"]),
        # No BL event: the gap is a jump in record timecode, numbered 0.
        (
            "cut24_premiere.edl",
            renumbered([1, 2, 0, 3]),
            ["shot_a.mov", "shot_b.mov", "", "shot_c.mp4"],
        ),
        (
            "cut24_resolve.edl",
            renumbered([1, 2, 0, 3]),
            ["shot_a.mov", "shot_b.mov", "", "shot_c.mp4"],
        ),
        ("cut24_nucoda.edl", CUT24, ["take_a", "take_b", "", "take_c"]),
    ],
)
def test_the_same_cut_from_four_systems(
    place: Callable[..., Path],
    studio: Path,
    settings: Settings,
    sample: str,
    expected: list[Row],
    labels: list[str],
) -> None:
    conform = read_timeline(place(sample), studio, settings)
    assert rows(conform) == expected
    assert [e.label for e in conform.events] == labels
    assert conform.rate == 24
    assert conform.start_frame == 86400  # 01:00:00:00
    assert conform.frames == 144
    assert all(
        e.media is None or e.media.parent == (studio / "media").resolve() for e in conform.events
    )
    assert check_pictures(conform) == 3
    assert all(e.warnings == () for e in conform.events)


def test_avid_names_its_unmixed_audio_tracks(
    place: Callable[..., Path], studio: Path, settings: Settings
) -> None:
    conform = read_timeline(place("cut24_avid.edl"), studio, settings)
    assert conform.name == "CUT24 REEL1 V12"
    assert messages(conform.warnings) == [
        "audio track A3 (score_v3.wav) is not mixed: each event's sound comes from its own media",
        "audio track A4 (roomtone.wav) is not mixed: each event's sound comes from its own media",
    ]


def test_premiere_crlf_six_digit_events_and_its_none_channel(
    place: Callable[..., Path], studio: Path, settings: Settings
) -> None:
    raw = (SAMPLES / "cut24_premiere.edl").read_bytes()
    assert b"\r\n" in raw and b"000002  AX" in raw
    conform = read_timeline(place("cut24_premiere.edl"), studio, settings)
    # Premiere's NONE channel (its audio 3 and up) is sound, not a picture track on top.
    assert messages(conform.warnings) == [
        "audio track NONE (score_v3.wav) is not mixed: each event's sound comes from its own media"
    ]


def test_nucoda_header_notes_and_windows_paths(
    place: Callable[..., Path], studio: Path, settings: Settings
) -> None:
    assert "* PROJECT:" in (SAMPLES / "cut24_nucoda.edl").read_text().split("001")[0]
    conform = read_timeline(place("cut24_nucoda.edl"), studio, settings)
    (note,) = [n for n in conform.warnings if n["code"] == "media_relinked"]
    assert "S:\\grade\\CUT24\\shot_a.mov" in note["message"]


def test_speed_freeze_wipe_key_and_fade_from_black(
    place: Callable[..., Path], studio: Path, settings: Settings
) -> None:
    conform = read_timeline(place("speed24_avid.edl"), studio, settings)
    assert rows(conform) == [
        (1, "clip", 48, "shot_a.mov", 0, F(1, 2), 0),  # M2 012.0 at 24
        (2, "clip", 24, "shot_b.mov", 0, F(2), 0),  # M2 048.0
        (3, "clip", 24, "shot_b.mov", 10, F(0), 0),  # freeze on 02:00:00:10
        (4, "clip", 24, "shot_c.mp4", 0, F(1), 0),  # the wipe, as a cut
        (5, "clip", 12, "shot_a.mov", 72, F(1), 0),  # the key's background
        (0, "gap", 0, None, None, F(1), 0),  # the black a fade comes from
        (6, "clip", 12, "shot_c.mp4", 24, F(1), 12),
    ]
    by_number = {e.number: e for e in conform.events}
    assert [w["code"] for w in by_number[4].warnings] == ["transition_as_cut"]
    assert "(SMPTE_Wipe) is not rendered; it is a cut" in by_number[4].warnings[0]["message"]
    assert [w["code"] for w in by_number[5].warnings] == ["key_as_cut"]
    assert by_number[5].warnings[0]["message"].startswith("event 5: a key (K)")
    assert by_number[5].warnings[0]["shot_index"] == 4
    assert all(not e.warnings for n, e in by_number.items() if n not in (4, 5))
    assert messages(conform.warnings) == [
        "audio track A3 (vo_take2.wav) is not mixed: each event's sound comes from its own media"
    ]
    # Frames: the half-speed event starts on frame 0, the double-speed one plays
    # 0..46 (every other frame), the freeze holds frame 10.
    a, b, freeze = conform.events[:3]
    assert code_at(a.media, a.source_in) == 0  # type: ignore[arg-type]
    assert code_at(b.media, b.source_in + F(23, 24) * 2) == 46  # type: ignore[arg-type]
    assert code_at(freeze.media, freeze.source_in) == 10  # type: ignore[arg-type]
    check_pictures(conform)


@pytest.mark.parametrize("sample", ["df2997.edl", "df2997_cmx.edl"])
def test_drop_frame_2997_across_a_minute(
    place: Callable[..., Path], studio: Path, settings: Settings, sample: str
) -> None:
    """df2997.mov starts at 00:00:59;00: 00:00:59;28 is its frame 28, and the frame
    after 00:00:59;29 is 00:01:00;02, its frame 30. The CMX form writes ':' under
    FCM: DROP FRAME and means the same."""
    conform = read_timeline(place(sample), studio, settings)
    assert conform.rate == F(30000, 1001)
    assert conform.start_frame == 109690  # 01:00:59;28
    assert rows(conform) == [
        (1, "clip", 4, "df2997.mov", 28, F(1), 0),
        (2, "clip", 10, "df2997.mov", 30, F(1), 0),
        (3, "clip", 10, "df2997.mov", 0, F(1), 0),
    ]
    assert check_pictures(conform) == 3
    # Exact: 28 frames of 1001/30000 s, no float on the way.
    assert conform.events[0].source_in == F(28 * 1001, 30000)


def test_drop_frame_5994(place: Callable[..., Path], studio: Path, settings: Settings) -> None:
    conform = read_timeline(place("df5994.edl"), studio, settings)
    assert conform.rate == F(60000, 1001)
    assert conform.start_frame == 219382  # 01:00:59;58
    assert rows(conform) == [
        (1, "clip", 4, "df5994.mov", 58, F(1), 0),  # 59;58 59;59 1:00;04 1:00;05
        (2, "clip", 20, "df5994.mov", 60, F(1), 0),  # 00:01:00;04 is its frame 60
    ]
    assert check_pictures(conform) == 2


def test_non_drop_2997(place: Callable[..., Path], studio: Path, settings: Settings) -> None:
    conform = read_timeline(place("ndf2997.edl"), studio, settings)
    assert conform.rate == F(30000, 1001)
    assert conform.start_frame == 108000
    assert rows(conform) == [
        (1, "clip", 20, "ndf2997.mov", 30, F(1), 0),
        (2, "clip", 10, "ndf2997.mov", 29, F(1), 0),
    ]
    assert check_pictures(conform) == 2


def test_25_fps_from_its_mxf_media(
    place: Callable[..., Path], studio: Path, settings: Settings
) -> None:
    """No frames field reaches 24, so only the media tell 25 from 24."""
    conform = read_timeline(place("pal25.edl"), studio, settings)
    assert conform.rate == 25
    assert conform.start_frame == 900000  # 10:00:00:00
    assert rows(conform) == [
        (1, "clip", 15, "pal25.mxf", 5, F(1), 0),
        (2, "clip", 10, "pal25.mxf", 25, F(1), 0),
    ]
    assert check_pictures(conform) == 2
    assert conform.warnings == []


def test_23976_from_its_media(place: Callable[..., Path], studio: Path, settings: Settings) -> None:
    conform = read_timeline(place("film23976.edl"), studio, settings)
    assert conform.rate == F(24000, 1001)
    assert conform.start_frame == 86400
    assert rows(conform) == [(1, "clip", 24, "film23976.mp4", 6, F(1), 0)]
    assert conform.events[0].source_in == F(6 * 1001, 24000)
    assert check_pictures(conform) == 1


def test_the_requested_rate_decides_when_the_timecodes_allow_it(
    place: Callable[..., Path], studio: Path, settings: Settings
) -> None:
    path = place("film23976.edl")
    assert read_timeline(path, studio, settings, rate=F(24)).rate == 24
    # 29.97 is not what a drop-frame EDL can be at 24: the timecodes win, with a word.
    conform = read_timeline(place("df2997.edl"), studio, settings, rate=F(24))
    assert conform.rate == F(30000, 1001)
    assert [n["code"] for n in conform.warnings] == ["edl_rate"]


def test_m2_speed_counts_like_the_timecode_at_23976(
    place: Callable[..., Path], studio: Path, settings: Settings
) -> None:
    text = """TITLE: FILM M2
FCM: NON-DROP FRAME
001  FILM     V     C        01:00:00:00 01:00:00:12 01:00:00:00 01:00:01:00
M2   FILM         012.0                01:00:00:00
* FROM CLIP NAME:  film23976.mp4 (12.00 FPS)
"""
    conform = read_timeline(place("film_m2.edl", text), studio, settings)
    assert conform.rate == F(24000, 1001)
    assert rows(conform) == [(1, "clip", 24, "film23976.mp4", 0, F(1, 2), 0)]
