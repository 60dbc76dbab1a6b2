"""The same cut as FCP 7 XML, FCPXML, OpenTimelineIO and AAF (the AAF written here
by the adapter's own writer) gives the events the Avid EDL gives."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import opentimelineio as otio
import pytest

from assemblyd.conform.read import read_timeline
from assemblyd.settings import Settings
from tests.conform.test_edl import CUT24, check_pictures, messages, rows

F = Fraction
POSITIONS = [(i + 1, *row[1:]) for i, row in enumerate(CUT24)]


def _same_cut(conform: Any) -> None:
    assert rows(conform) == POSITIONS
    assert conform.rate == 24
    assert conform.start_frame == 86400
    assert conform.name == "CUT24 REEL1 V12"
    assert check_pictures(conform) == 3


def test_fcp7_xml(place: Callable[..., Path], studio: Path, settings: Settings) -> None:
    """Premiere's and Resolve's XML: a centred 24-frame dissolve (12 before the cut,
    12 after) is the same as the EDL's D 024 that starts 12 frames earlier."""
    conform = read_timeline(place("cut24_fcp7.xml"), studio, settings)
    _same_cut(conform)
    assert [e.label for e in conform.events] == ["shot_a", "shot_b", "", "shot_c"]
    # The paths are the editor's machine's: found by name, and said so.
    assert [n["code"] for n in conform.warnings] == ["media_relinked", "audio_not_mixed"]
    assert "/Volumes/EDIT%20RAID/CUT24/media/shot_a.mov" in conform.warnings[0]["message"]
    assert messages(conform.warnings)[1].startswith("audio track A1 (score_v3) is not mixed")


def test_otio_with_paths_inside_the_project(
    place: Callable[..., Path], studio: Path, settings: Settings
) -> None:
    conform = read_timeline(place("cut24.otio"), studio, settings)
    _same_cut(conform)
    assert [n["code"] for n in conform.warnings] == ["audio_not_mixed"]  # nothing relinked


def test_fcpxml_without_its_transition(
    place: Callable[..., Path], studio: Path, settings: Settings
) -> None:
    """otio-fcpx-xml-adapter drops transitions (the dissolve is a cut at its centre,
    said in a warning) and ignores tcStart (the sequence starts at 01:00:00:00)."""
    conform = read_timeline(place("cut24.fcpxml"), studio, settings)
    assert rows(conform) == [
        (1, "clip", 48, "shot_a.mov", 12, F(1), 0),
        (2, "clip", 48, "shot_b.mov", 18, F(1), 0),
        (3, "gap", 12, None, None, F(1), 0),
        (4, "clip", 36, "shot_c.mp4", 0, F(1), 0),
    ]
    assert conform.start_frame == 86400
    assert conform.rate == 24
    codes = [n["code"] for n in conform.warnings]
    assert codes[0] == "fcpxml_transitions_not_read"
    assert "1 transition(s) are rendered as cuts" in conform.warnings[0]["message"]
    assert check_pictures(conform) == 3


def test_fcpxml_at_an_ntsc_rate_is_refused_not_conformed_a_frame_off(
    place: Callable[..., Path], studio: Path, settings: Settings
) -> None:
    from assemblyd.errors import ValidationFailed

    text = (Path(__file__).parent / "samples" / "cut24.fcpxml").read_text()
    path = place(
        "ntsc.fcpxml", text.replace('frameDuration="100/2400s"', 'frameDuration="1001/24000s"')
    )
    with pytest.raises(ValidationFailed) as failed:
        read_timeline(path, studio, settings)
    (problem,) = failed.value.problems
    assert problem.code == "unsupported_timeline"
    assert "truncates" in problem.reason


def _aaf_dissolve(transition: Any) -> None:
    """What the AAF writer needs to write a dissolve (the standard OperationDef)."""
    transition.metadata["AAF"] = {
        "CutPoint": int(transition.in_offset.value),
        "PointList": [{"Time": 0.0, "Value": 0.0}, {"Time": 1.0, "Value": 1.0}],
        "OperationGroup": {
            "Operation": {
                "Identification": "0c3bea40-fc05-11d2-8a29-0050040ef7d2",
                "Name": "Video Dissolve",
                "Description": "",
                "IsTimeWarp": False,
                "Bypass": 1,
                "NumberInputs": 2,
                "OperationCategory": "OperationCategory_Effect",
                "DataDefinition": {"Name": "Picture"},
            }
        },
    }


def test_aaf_written_by_the_adapter_reads_back(
    place: Callable[..., Path], studio: Path, settings: Settings, tmp_path: Path
) -> None:
    timeline = otio.adapters.read_from_file(str(place("cut24.otio")))
    for track in list(timeline.tracks):
        if track.kind != otio.schema.TrackKind.Video:
            timeline.tracks.remove(track)
    for transition in timeline.find_children(descended_from_type=otio.schema.Transition):
        _aaf_dissolve(transition)
    scratch = tmp_path / "cut24.aaf"  # a failed write leaves a partial file
    otio.adapters.write_to_file(timeline, str(scratch), use_empty_mob_ids=True)
    path = studio / "edit" / "cut24.aaf"
    scratch.replace(path)
    conform = read_timeline(path, studio, settings)
    assert rows(conform) == POSITIONS
    assert conform.start_frame == 86400
    assert check_pictures(conform) == 3


def test_the_edl_and_the_xml_agree_event_by_event(
    place: Callable[..., Path], studio: Path, settings: Settings
) -> None:
    edl = read_timeline(place("cut24_avid.edl"), studio, settings)
    xml = read_timeline(place("cut24_fcp7.xml"), studio, settings)
    keep = ("kind", "frames", "media", "source_in", "speed", "dissolve_in", "clock")
    for a, b in zip(edl.events, xml.events, strict=True):
        assert {k: getattr(a, k) for k in keep} == {k: getattr(b, k) for k in keep}
