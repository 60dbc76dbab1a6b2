"""What the render stage is given: a frame-exact plan, made by :mod:`..pipeline.plan`.

Everything here works in whole output frames. Each segment lasts a whole number
of frames and starts where the previous one ended, so cuts land on frame
boundaries and the sound, cut to the same boundaries, cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal, TypedDict

from ..request.model import OutputSettings
from .presets import Encoder

#: How a plan is rendered; see :mod:`.auto` for how one is chosen.
Strategy = Literal["copy", "normalize", "moviepy"]


@dataclass(frozen=True)
class Segment:
    shot_index: int
    source: Path
    #: Seconds into the source where this segment starts (the 'in' trim).
    start: float
    frames: int
    #: First output frame of this segment on the timeline.
    first_frame: int
    has_audio: bool
    source_rate: Fraction
    #: Size the picture is scaled to (aspect kept) and where it sits on the canvas.
    fit: tuple[int, int]
    offset: tuple[int, int]
    #: The source's header lacks a duration; readers must decode to find it.
    needs_scan: bool
    #: Seconds into the source where the segment ends (the 'out' trim or the end).
    end: float = 0.0
    #: Why this shot cannot be joined without re-encoding ("" if it can).
    mismatch: str = ""
    #: Where the source's first video frame sits on its own clock (seconds).
    source_start: float = 0.0
    #: The source's whole length; an ``end`` short of it is an 'out' trim.
    source_duration: float = 0.0
    #: The container's id of the source's video stream.
    stream_id: int = 0
    #: The shot's path as the request gives it, for messages.
    label: str = ""

    @property
    def last_frame(self) -> int:
        return self.first_frame + self.frames


@dataclass(frozen=True)
class Plan:
    output: OutputSettings
    encoder: Encoder
    segments: list[Segment]
    audio_rate: int
    strategy: Strategy = "normalize"

    @property
    def total_frames(self) -> int:
        return self.segments[-1].last_frame if self.segments else 0

    @property
    def duration(self) -> float:
        return float(self.total_frames / self.output.frame_rate)


class SegmentStats(TypedDict):
    """How the render got its segments; recorded per assembly in ``project.json``."""

    encoded: int
    cached: int
    copied: int
