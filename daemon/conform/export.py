"""The cut as rendered, written back out as OpenTimelineIO (``exports/<name>.otio``).

One picture track, in the shape an editing system imports: each event a clip
whose media reference is the resolved file (a ``file://`` URL) with its range on
the media's own timecode clock, so its source range reads as the editor's source
timecode; gaps; each dissolve as an OTIO ``SMPTE_Dissolve`` before the clip it
leads into (``in_offset`` 0, ``out_offset`` its length: the form the render used);
speed changes as ``LinearTimeWarp`` and freeze frames as ``FreezeFrame``. Under
``metadata["assemblyd"]``: the timeline it came from and its warnings, and per
event its number, strategy, exact source in and warnings, so that a later
conform can be compared with it event by event.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from typing import Any

import opentimelineio as otio

from ..errors import Notice
from ..timecode import TimecodeError, from_frame
from .model import Conform, Event, RenderedEvent

__all__ = ["RenderedEvent", "timeline_of", "write_otio"]


def write_otio(conform: Conform, used: list[RenderedEvent], path: Path) -> None:
    """Write the rendered cut to ``path`` (atomically: a temporary file, renamed)."""
    text = otio.adapters.write_to_string(timeline_of(conform, used), "otio_json")
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def timeline_of(conform: Conform, used: list[RenderedEvent]) -> Any:
    """The OTIO Timeline :func:`write_otio` writes."""
    rate = float(conform.rate)
    timeline = otio.schema.Timeline(
        name=conform.name,
        global_start_time=otio.opentime.RationalTime(conform.start_frame, rate),
    )
    timeline.metadata["assemblyd"] = {
        "timeline": str(conform.source),
        "rate": str(conform.rate),
        "warnings": [_notice(n) for n in conform.warnings],
    }
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    at = 0
    for rendered in sorted(used, key=lambda r: r.record_start):
        event = rendered.event
        if rendered.record_start < at:
            raise ValueError(
                f"event {event.number} starts at frame {rendered.record_start}, inside the "
                f"event before it (which ends at frame {at})"
            )
        if rendered.record_start > at:
            track.append(otio.schema.Gap(duration=_frames(rendered.record_start - at, rate)))
        if event.dissolve_in:
            if len(track) == 0:
                track.append(otio.schema.Gap(duration=_frames(0, rate)))  # from black
            track.append(
                otio.schema.Transition(
                    name="Cross Dissolve",
                    transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
                    in_offset=_frames(0, rate),
                    out_offset=_frames(event.dissolve_in, rate),
                )
            )
        track.append(_item(event, rendered.strategy, rate))
        at = rendered.record_start + event.frames
    timeline.tracks.append(track)
    return timeline


def _frames(count: int, rate: float) -> Any:
    return otio.opentime.RationalTime(count, rate)


def _item(event: Event, strategy: str, rate: float) -> Any:
    metadata: dict[str, Any] = {
        "event": event.number,
        "strategy": strategy,
        "warnings": [_notice(n) for n in event.warnings],
    }
    if event.kind == "gap" or event.media is None:
        gap = otio.schema.Gap(duration=_frames(event.frames, rate))
        gap.metadata["assemblyd"] = metadata
        return gap
    clock = event.clock
    media_rate = clock.rate if clock else Fraction(rate)
    start_frame = clock.start_frame if clock else 0
    first = start_frame + event.source_in * media_rate
    metadata |= {"source_in": str(event.source_in), "speed": str(event.speed)}
    if clock is not None:
        metadata["source_timecode"] = _timecode(round(first), clock.rate, clock.timecode)
    available = None
    if clock is not None and clock.frames:
        available = otio.opentime.TimeRange(
            otio.opentime.RationalTime(start_frame, float(media_rate)),
            otio.opentime.RationalTime(clock.frames, float(media_rate)),
        )
    clip = otio.schema.Clip(
        name=event.label or event.media.name,
        media_reference=otio.schema.ExternalReference(
            target_url=event.media.as_uri(), available_range=available
        ),
        source_range=otio.opentime.TimeRange(
            otio.opentime.RationalTime(float(first), float(media_rate)),
            _frames(event.frames, rate),
        ),
    )
    if event.speed == 0:
        clip.effects.append(otio.schema.FreezeFrame())
    elif event.speed != 1:
        clip.effects.append(otio.schema.LinearTimeWarp(time_scalar=float(event.speed)))
    clip.metadata["assemblyd"] = metadata
    return clip


def _timecode(frame: int, rate: Fraction, written: str) -> str:
    try:
        return str(from_frame(frame, rate, drop=";" in written))
    except TimecodeError:
        return ""


def _notice(notice: Notice) -> dict[str, Any]:
    return dict(notice)
