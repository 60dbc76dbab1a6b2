"""What cannot be conformed is said at once, event by event: a source range outside
its media, a timecode its media's clock does not have, a file that is not media, a
timeline the adapter cannot read (with the adapter's own words)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import opentimelineio as otio
import pytest

from assemblyd.conform.read import read_timeline
from assemblyd.errors import ValidationFailed
from assemblyd.settings import Settings


def problems_of(path: Path, studio: Path, settings: Settings) -> list[tuple[str, str | None, str]]:
    with pytest.raises(ValidationFailed) as failed:
        read_timeline(path, studio, settings)
    return [(p.code, p.field or p.path, p.reason) for p in failed.value.problems]


RANGES = """TITLE: RANGES
FCM: NON-DROP FRAME
001  SHOT_A   V     C        01:00:03:12 01:00:05:00 01:00:00:00 01:00:01:12
* FROM CLIP NAME:  shot_a.mov
002  SHOT_A   V     C        00:59:59:00 01:00:00:12 01:00:01:12 01:00:03:00
* FROM CLIP NAME:  shot_a.mov
003  SHOT_B   V     C        02:00:01:00 02:00:03:00 01:00:03:00 01:00:05:00
* FROM CLIP NAME:  shot_b.mov
004  SHOT_B   V     C        02:00:03:00 02:00:03:00 01:00:05:00 01:00:05:00
004  SHOT_C   V     D    024 00:00:00:00 00:00:01:00 01:00:05:00 01:00:06:00
* FROM CLIP NAME:  shot_c.mp4
005  SHOT_C   V     C        00:00:01:00 00:00:02:00 01:00:06:00 01:00:07:00
* FROM CLIP NAME:  shot_c.mp4
"""


def test_source_ranges_outside_their_media(
    place: Callable[..., Path], studio: Path, settings: Settings
) -> None:
    """shot_a runs 01:00:00:00-01:00:04:00, shot_b 02:00:00:00-02:00:03:00, shot_c
    (no timecode) 00:00:00:00-00:00:02:00."""
    found = problems_of(place("ranges.edl", RANGES), studio, settings)
    assert [(code, where) for code, where, _ in found] == [
        ("source_out_of_range", "event 1"),  # runs past the end
        ("source_out_of_range", "event 2"),  # starts before the first frame
        ("source_out_of_range", "event 3"),  # ends at the last frame, but the dissolve runs on
    ]
    assert found[0][2] == (
        "'shot_a.mov': source 01:00:03:12 to 01:00:05:00 is outside its media "
        "media/shot_a.mov, which runs 01:00:00:00 to 01:00:04:00 (96 frames)"
    )
    assert "source 00:59:59:00 to 01:00:00:12" in found[1][2]
    assert "(with 24 frames run on under the next dissolve)" in found[2][2]
    # Event 5 ends on shot_c's last frame exactly: inside.


def test_a_timecode_the_media_clock_does_not_have(
    place: Callable[..., Path], studio: Path, settings: Settings
) -> None:
    """pal25.mxf counts 25 labels a second; an EDL read at 29.97 naming frame 27 of it."""
    text = """TITLE: WRONG CLOCK
FCM: NON-DROP FRAME
001  NDF2997  V     C        01:00:00:27 01:00:01:00 01:00:00:00 01:00:00:03
* FROM CLIP NAME:  ndf2997.mov
002  PAL25    V     C        10:00:00:27 10:00:01:00 01:00:00:03 01:00:00:06
* FROM CLIP NAME:  pal25.mxf
"""
    found = problems_of(place("clock.edl", text), studio, settings)
    assert [(code, where) for code, where, _ in found] == [("bad_timecode", "event 2")]
    assert "at 25 fps labels run to 24" in found[0][2]


def test_a_file_that_is_not_media(
    place: Callable[..., Path], studio: Path, settings: Settings
) -> None:
    (studio / "media" / "notes.mov").write_text("call the colourist")
    text = (
        "TITLE: T\n"
        "001  X        V     C        00:00:00:00 00:00:01:00 01:00:00:00 01:00:01:00\n"
        "* FROM CLIP NAME:  notes.mov\n"
    )
    found = problems_of(place("notes.edl", text), studio, settings)
    assert [(code, where) for code, where, _ in found] == [("not_video", "event 1")]
    assert found[0][2].startswith("'notes.mov': media/notes.mov is not a video")


@pytest.mark.parametrize(
    ("name", "text", "says"),
    [
        (
            "mismatch.edl",
            "TITLE: T\n001  X  V  C  01:00:00:00 01:00:02:00 01:00:00:00 01:00:01:00\n",
            "the cmx_3600 adapter could not read it: EDLParseError: Source and record duration",
        ),
        (
            "broken.xml",
            "<?xml version='1.0'?><xmeml version='5'><sequence><name>x</name></sequence",
            "the fcp_xml adapter could not read it: ParseError",
        ),
        (
            "broken.otio",
            '{"OTIO_SCHEMA": "Timeline.1", "tracks": ',
            "the otio_json adapter could not read it",
        ),
        ("empty.fcpxml", "", "not well-formed XML"),
    ],
)
def test_an_unreadable_timeline_names_the_file_and_the_adapter(
    place: Callable[..., Path], studio: Path, settings: Settings, name: str, text: str, says: str
) -> None:
    found = problems_of(place(name, text), studio, settings)
    assert len(found) == 1
    code, where, reason = found[0]
    assert code in ("unreadable_timeline",) and where == f"edit/{name}"
    assert says in reason


def test_an_xml_that_is_not_fcp7_is_not_a_timeline(
    place: Callable[..., Path], studio: Path, settings: Settings
) -> None:
    found = problems_of(place("grade.xml", "<ColorDecisionList/>"), studio, settings)
    assert [c for c, _, _ in found] == ["unsupported_timeline"]


@pytest.mark.parametrize("name", ["big.edl", "big.otio", "big.xml"])
def test_a_timeline_over_max_timeline_bytes_is_not_read(
    place: Callable[..., Path], studio: Path, settings: Settings, name: str
) -> None:
    """A timeline that a request names (not read at the door, as a dropped one is)
    is held to the same bound before any adapter reads it."""
    small = settings.model_copy(update={"max_timeline_bytes": 1000})
    text = (
        f"<xmeml version='5'><!-- {'x' * 2000} --></xmeml>"
        if name.endswith(".xml")
        else RANGES * 10
    )
    found = problems_of(place(name, text), studio, small)
    assert [(code, where) for code, where, _ in found] == [("too_large", f"edit/{name}")]
    assert "larger than 1000 bytes" in found[0][2]


def test_two_spellings_of_an_event_number(
    place: Callable[..., Path], studio: Path, settings: Settings
) -> None:
    """cmx_3600 1.0.0 fails with an AttributeError on "002" and "2" in one dissolve;
    the lines are given one spelling before it reads them."""
    text = """TITLE: SPELLING
001  SHOT_A   V     C        01:00:00:00 01:00:01:00 01:00:00:00 01:00:01:00
* FROM CLIP NAME:  shot_a.mov
002  SHOT_A   V     C        01:00:01:00 01:00:01:00 01:00:01:00 01:00:01:00
2    SHOT_B   V     D    012 02:00:00:00 02:00:01:00 01:00:01:00 01:00:02:00
* FROM CLIP NAME:  shot_b.mov
"""
    with pytest.raises(AttributeError):
        otio.adapters.read_from_string(text, "cmx_3600", rate=24)
    conform = read_timeline(place("spelling.edl", text), studio, settings)
    assert [(e.number, e.frames, e.dissolve_in) for e in conform.events] == [
        (1, 24, 0),
        (2, 24, 12),
    ]
