"""The cut as rendered, written as OpenTimelineIO: it reads back with OTIO as an
editor's system would import it, and as a timeline conforms to the same events."""

from __future__ import annotations

import json
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio

from assemblyd.conform.export import write_otio
from assemblyd.conform.model import RenderedEvent
from assemblyd.conform.read import read_timeline
from assemblyd.settings import Settings

F = Fraction


def rendered(conform) -> list[RenderedEvent]:  # type: ignore[no-untyped-def]
    starts = conform.record_starts()
    strategy = {"clip": "normalize", "gap": "black"}
    return [
        RenderedEvent(e, s, strategy[e.kind]) for e, s in zip(conform.events, starts, strict=True)
    ]


def test_written_otio_reads_back_with_otio(
    place: Callable[..., Path], studio: Path, settings: Settings
) -> None:
    conform = read_timeline(place("speed24_avid.edl"), studio, settings)
    out = studio / "exports" / "SPEED24.otio"
    out.parent.mkdir()
    write_otio(conform, rendered(conform), out)
    assert [p.name for p in out.parent.iterdir()] == ["SPEED24.otio"]  # no temporary left

    timeline = otio.adapters.read_from_file(str(out))
    assert timeline.name == "SPEED24"
    assert timeline.global_start_time == otio.opentime.RationalTime(86400, 24)
    (track,) = timeline.tracks
    kinds = [type(item).__name__ for item in track]
    assert kinds == ["Clip", "Clip", "Clip", "Clip", "Clip", "Gap", "Transition", "Clip"]
    clips = list(track.find_clips())
    assert [c.media_reference.target_url for c in clips] == [
        e.media.as_uri() for e in conform.events if e.media is not None
    ]
    # Source ranges on the media's own timecode: event 5 is shot_a's 01:00:03:00.
    fifth = clips[4]
    assert fifth.source_range.start_time.to_timecode() == "01:00:03:00"
    assert fifth.source_range.duration.value == 12
    assert fifth.metadata["assemblyd"]["source_timecode"] == "01:00:03:00"
    assert fifth.metadata["assemblyd"]["warnings"][0]["code"] == "key_as_cut"
    assert [type(e).__name__ for c in clips[:3] for e in c.effects] == [
        "LinearTimeWarp",
        "LinearTimeWarp",
        "FreezeFrame",
    ]
    assert clips[0].effects[0].time_scalar == 0.5
    fade = track[6]
    assert (fade.in_offset.value, fade.out_offset.value) == (0, 12)
    assert [c.metadata["assemblyd"]["strategy"] for c in clips] == ["normalize"] * 6
    assert timeline.metadata["assemblyd"]["warnings"][0]["code"] == "audio_not_mixed"
    # Record positions: what the render made, frame for frame.
    assert track.duration().value == conform.frames == 144
    assert [track.range_of_child_at_index(i).start_time.value for i in range(5)] == [
        0,
        48,
        72,
        96,
        120,
    ]
    json.loads(out.read_text())  # plain JSON: diffable by a later conform


def test_written_otio_conforms_to_the_same_events(
    place: Callable[..., Path], studio: Path, settings: Settings
) -> None:
    for sample in ("cut24_avid.edl", "df2997.edl", "speed24_avid.edl"):
        conform = read_timeline(place(sample), studio, settings)
        out = studio / "exports" / f"{Path(sample).stem}.otio"
        out.parent.mkdir(exist_ok=True)
        write_otio(conform, rendered(conform), out)
        again = read_timeline(out, studio, settings)
        keep = ("kind", "frames", "media", "source_in", "speed", "dissolve_in", "clock")
        assert [[getattr(e, k) for k in keep] for e in again.events] == [
            [getattr(e, k) for k in keep] for e in conform.events
        ], sample
        assert (again.rate, again.start_frame) == (conform.rate, conform.start_frame)
        # What was warned about is in the metadata, not lost; the new read adds none.
        assert all(not e.warnings for e in again.events)


def test_a_gap_in_the_render_is_written_as_a_gap(
    place: Callable[..., Path], studio: Path, settings: Settings
) -> None:
    conform = read_timeline(place("cut24_avid.edl"), studio, settings)
    used = [r for r in rendered(conform) if r.event.kind == "clip"]
    out = studio / "cut.otio"
    write_otio(conform, used, out)
    (track,) = otio.adapters.read_from_file(str(out)).tracks
    assert [type(i).__name__ for i in track] == ["Clip", "Transition", "Clip", "Gap", "Clip"]
    assert track[3].duration().value == 12
