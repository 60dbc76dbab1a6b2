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

from ..conform.model import Conform, Event
from ..media.info import MediaInfo
from ..render.auto import copy_mismatch
from ..render.model import Segment
from ..render.presets import Encoder
from ..request.model import OutputSettings
from .plan import audio_streams, fit_inside


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
        offset=((canvas[0] - fit[0]) // 4 * 2, (canvas[1] - fit[1]) // 4 * 2),
        audio=audio_streams(info, None),
        mismatch=mismatch,
        label=event.label or event.media.name,
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
