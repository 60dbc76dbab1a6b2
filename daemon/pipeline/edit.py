"""An editor's timeline as a plan: the conform's events laid out as segments.

The conform room reads the EDL, XML, AAF or OTIO and finds the media
(:mod:`..conform`); here each event becomes a segment on the output's frame grid.
Clips keep their source ranges and speed; gaps are black and silent; a dissolve is
the incoming segment blending in from the outgoing one's handle. Whatever the
render cannot copy (a dissolve, a speed change, a gap) makes the plan encode, and
a cut-only timeline of matching media still copies.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from pathlib import Path

from ..conform.model import Conform, Event, RenderedEvent
from ..errors import Notice
from ..media.info import MediaInfo
from ..render.auto import copy_mismatch
from ..render.model import Plan, Segment, SegmentStats
from ..render.presets import Encoder
from ..request.model import OutputSettings
from .layout import audio_streams, centred, fit_inside


def _clip(event: Event, output: OutputSettings, encoder: Encoder, want_copy: bool) -> Segment:
    info = event.info
    assert info is not None and event.media is not None
    rate = output.frame_rate
    start = float(event.source_in)
    end = start + float(Fraction(event.frames) / rate * event.speed)
    fit = fit_inside(info.display_size, output.size)
    canvas = output.size
    mismatch = ""
    if event.speed != 1:
        mismatch = "a speed change or freeze frame is rendered"
    elif event.dissolve_in:
        mismatch = "a dissolve is rendered"
    elif want_copy:
        mismatch = copy_mismatch(info, event.media, start, end, output, encoder)
    return Segment(
        shot_index=0,
        source=event.media,
        info=info,
        start=start,
        end=end,
        frames=event.frames,
        first_frame=0,
        fit=fit,
        offset=centred(fit, canvas),
        audio=audio_streams(info, None),
        mismatch=mismatch,
        label=event.label or event.media.name,
        speed=event.speed,
    )


def _gap(event: Event, output: OutputSettings) -> Segment:
    black = MediaInfo.black(output.frame_rate, output.size)
    return Segment(
        shot_index=0,
        source=black_source(),
        info=black,
        start=0.0,
        end=0.0,
        frames=event.frames,
        first_frame=0,
        fit=output.size,
        offset=(0, 0),
        mismatch="a gap is rendered (black)",
        label=f"gap ({event.frames} frames)",
    )


def black_source() -> Path:
    """Where a gap's picture comes from: nowhere on disk."""
    return Path("black")


def timeline_segments(
    conform: Conform, output: OutputSettings, encoder: Encoder, want_copy: bool
) -> list[Segment]:
    """The events as segments, laid end to end (shot_index = the event's position)."""
    segments: list[Segment] = []
    previous: Segment | None = None
    first = 0
    for index, event in enumerate(conform.events):
        seg = (
            _gap(event, output) if event.kind == "gap" else _clip(event, output, encoder, want_copy)
        )
        if event.dissolve_in and previous is not None:
            seg = replace(seg, blend_from=previous, blend_frames=event.dissolve_in)
        seg = replace(seg, shot_index=index, first_frame=first)
        previous = seg
        if seg.frames > 0:  # a fade from black brings a 0-frame gap: blended from, not shown
            segments.append(seg)
            first += seg.frames
    return segments


def event_files(conform: Conform) -> dict[int, Path]:
    """Each event's media file, by the event's position: fingerprinted like shots."""
    return {i: e.media for i, e in enumerate(conform.events) if e.media is not None}


def conform_notices(conform: Conform) -> list[Notice]:
    """What the render will not do as the editor cut it: the timeline's warnings and
    each event's, every one once, naming its event."""
    notices = list(conform.warnings)
    for index, event in enumerate(conform.events):
        for notice in event.warnings:
            at = notice.get("shot_index", index)
            notices.append(Notice(code=notice["code"], message=notice["message"], shot_index=at))
    return notices


def rendered_events(conform: Conform, plan: Plan, stats: SegmentStats) -> list[RenderedEvent]:
    """The events as ``plan`` placed them in the export (after a slate, if any), and
    how each was made."""
    made = stats.get("made", [])
    cut_start = next((s.first_frame for s in plan.segments if not s.slate), 0)
    rendered = []
    for position, seg in enumerate(plan.segments):
        if seg.slate:
            continue
        how = made[position] if position < len(made) else plan.strategy
        event = conform.events[seg.shot_index]
        rendered.append(RenderedEvent(event, seg.first_frame - cut_start, how))
    return rendered
