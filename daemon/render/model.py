"""What the render stage is given: a frame-exact plan, made by :mod:`..pipeline.plan`.

Everything here works in whole output frames. Each segment lasts a whole number
of frames and starts where the previous one ended, so cuts land on frame
boundaries and the sound, cut to the same boundaries, cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Literal, NotRequired, TypedDict

from ..media.info import MediaInfo
from ..request.model import OutputSettings
from .presets import Encoder

#: How a plan is rendered; see :mod:`.auto` for how one is chosen.
Strategy = Literal["copy", "normalize", "moviepy"]


@dataclass(frozen=True)
class Segment:
    shot_index: int
    source: Path
    #: What the probe found in the source.
    info: MediaInfo
    #: Seconds into the source's picture where this segment starts (the 'in' trim).
    start: float
    #: Seconds into the source's picture where it ends (the 'out' trim or the end).
    end: float
    frames: int
    #: First output frame of this segment on the timeline.
    first_frame: int
    #: Size the picture is scaled to (aspect kept) and where it sits on the canvas.
    fit: tuple[int, int]
    offset: tuple[int, int]
    #: The source's audio streams mixed into the soundtrack (none: silence).
    audio: tuple[int, ...] = ()
    #: Why this shot cannot be joined without re-encoding ("" if it can).
    mismatch: str = ""
    #: The shot's path as the request gives it, for messages.
    label: str = ""
    #: Source seconds per timeline second: 2 plays twice as fast, 0 holds the first
    #: frame (a freeze).
    speed: Fraction = Fraction(1)
    #: A cross-dissolve from the previous shot over this segment's first
    #: ``blend_frames`` frames: ``blend_from`` is that shot, continuing past its out
    #: point (its handle).
    blend_from: Segment | None = None
    blend_frames: int = 0
    #: The slate's lines (a generated card: black, these lines, silence).
    slate: tuple[str, ...] = ()

    @property
    def has_audio(self) -> bool:
        return bool(self.audio)

    @property
    def is_gap(self) -> bool:
        return self.info.kind == "black"

    def handle(self, frames: int, rate: Fraction) -> Segment:
        """This shot continuing past its end for ``frames`` more frames (at the output
        ``rate``): what a dissolve into the next shot shows of it."""
        end = self.end + float(frames / rate * self.speed)
        return replace(
            self, start=self.end, end=end, frames=frames, blend_from=None, blend_frames=0
        )

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
    #: The project's name, for burn-ins.
    project: str = ""

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
    #: Seconds of the render's parts: each encoded segment ("segment 3"), the
    #: soundtrack (made alongside, so it overlaps the rest), the join.
    timings: NotRequired[dict[str, float]]
    #: How each segment of the plan was made, in order: "copied", "encoded" or "cached".
    made: NotRequired[list[str]]
