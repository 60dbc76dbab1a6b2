"""What a conform reads out of an editor's timeline: one flattened picture track of
events, each with its media inside the project and its source range on that
media's own clock.

Times on the record side (the timeline) are whole timeline frames; times on the
source side are exact seconds (:class:`~fractions.Fraction`) from the media's
first frame, so the render stage rounds once, at its own output rate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Literal

from ..errors import Notice
from ..media.info import MediaInfo

EventKind = Literal["clip", "gap"]


@dataclass(frozen=True)
class MediaClock:
    """The media's own clock, as read from the file: what source timecodes in the
    timeline are counted on. Kept so that a timeline written back out
    (:func:`.export.write_otio`) speaks the editor's source timecode again."""

    #: The media's picture rate (its timecode counts ``round(rate)`` labels a second).
    rate: Fraction
    #: The start timecode as a frame count at ``rate`` (0 without a timecode).
    start_frame: int
    #: The start timecode as the file writes it ("01:00:00;00"), or "" if it has none.
    timecode: str
    #: Frames of picture in the file.
    frames: int


@dataclass(frozen=True)
class Event:
    """One piece of the cut: a clip from one media file, or black and silence."""

    #: The editor's event number (EDL) or the 1-based position in :attr:`Conform.events`;
    #: 0 for an EDL gap that no event wrote (a jump in record timecode).
    number: int
    kind: EventKind
    #: Length on the record side in timeline frames; a dissolve's overlap is counted
    #: once, in the incoming event (see :attr:`dissolve_in`).
    frames: int
    #: The clip name, else the reel, as the editor knows it ("" for a plain gap).
    label: str
    #: The resolved media file inside the project; None for a gap.
    media: Path | None
    #: Seconds into the media's picture (0 = its first frame) where the event starts,
    #: source timecode already mapped through the media's start timecode.
    source_in: Fraction
    #: 1 normal, 0 a freeze frame (``source_in`` held), 2 twice as fast.
    speed: Fraction
    #: Frames of cross-dissolve from the previous event into this one, starting at
    #: this event's first frame: the previous event's media runs on (past its
    #: ``frames``) for this long, mixed into this one. 0 is a cut.
    dissolve_in: int
    #: What the render will not do as the editor cut it (a wipe shown as a cut ...).
    warnings: tuple[Notice, ...] = ()
    #: The media's own clock; None for a gap.
    clock: MediaClock | None = None
    #: What the probe found in the media (picture, sound); None for a gap.
    info: MediaInfo | None = None


@dataclass(frozen=True)
class Conform:
    """A timeline, read: one picture track as an editor sees it, top clip first."""

    #: The timeline file.
    source: Path
    #: The sequence's name (EDL ``TITLE:``), else the file's stem.
    name: str
    #: The timeline's rate, exact (24000/1001, not 23.976).
    rate: Fraction
    #: The record start timecode as a frame count at ``rate`` (01:00:00:00 at 24 is 86400).
    start_frame: int
    #: Events in record order; their ``frames`` add up to the timeline's length.
    events: list[Event]
    #: Warnings about the timeline as a whole (unmixed audio tracks, a guessed rate ...).
    warnings: list[Notice] = field(default_factory=list)

    @property
    def frames(self) -> int:
        return sum(event.frames for event in self.events)

    def record_starts(self) -> list[int]:
        """Each event's first frame on the record side, from 0."""
        starts, at = [], 0
        for event in self.events:
            starts.append(at)
            at += event.frames
        return starts


@dataclass(frozen=True)
class RenderedEvent:
    """An event as the render stage made it, for :func:`.export.write_otio`."""

    event: Event
    #: Its first frame in the export, from 0 (:meth:`Conform.record_starts`).
    record_start: int
    #: How the segment was made: "copy", "normalize", "moviepy", "black" ...
    strategy: str = ""
