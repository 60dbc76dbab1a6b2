"""Plan stage: from probed shots and output settings to an exact, frame-counted timeline.

Everything downstream works in whole output frames. Each shot lasts
``round(trimmed seconds x fps)`` frames, its audio lasts exactly as long, and the
segments are laid end to end; so cuts land on frame boundaries, the audio cannot
drift against the picture across joins, and the total is the sum of the shots to
within one frame per shot.

The plan names the render strategy. Only the MoviePy composition exists today;
faster strategies slot in here without touching validate, verify or publish.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from .presets import Encoder, encoder_for
from .request import OutputSettings
from .settings import Settings
from .validate import ValidatedRequest


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

    @property
    def last_frame(self) -> int:
        return self.first_frame + self.frames


@dataclass(frozen=True)
class Plan:
    output: OutputSettings
    encoder: Encoder
    segments: list[Segment]
    audio_rate: int
    strategy: str = "moviepy"

    @property
    def total_frames(self) -> int:
        return self.segments[-1].last_frame if self.segments else 0

    @property
    def duration(self) -> float:
        return float(self.total_frames / self.output.frame_rate)


def fit_inside(src: tuple[int, int], canvas: tuple[int, int]) -> tuple[int, int]:
    """The largest even size with ``src``'s aspect ratio that fits in ``canvas``."""
    (sw, sh), (cw, ch) = src, canvas
    scale = min(cw / sw, ch / sh)
    width = min(cw, max(2, round(sw * scale / 2) * 2))
    height = min(ch, max(2, round(sh * scale / 2) * 2))
    return width, height


def make_plan(validated: ValidatedRequest, settings: Settings) -> Plan:
    output = validated.request.output
    rate = output.frame_rate
    canvas = output.size
    segments: list[Segment] = []
    cursor = 0
    for shot in validated.shots:
        # A shot shorter than half a frame would vanish; keep at least one frame.
        frames = max(1, round(Fraction(shot.duration) * rate))
        fit = fit_inside(shot.info.display_size, canvas)
        segments.append(
            Segment(
                shot_index=shot.index,
                source=shot.source,
                start=shot.start,
                frames=frames,
                first_frame=cursor,
                has_audio=shot.info.has_audio,
                source_rate=shot.info.frame_rate,
                fit=fit,
                offset=((canvas[0] - fit[0]) // 2, (canvas[1] - fit[1]) // 2),
                needs_scan=not shot.info.header_has_duration,
            )
        )
        cursor += frames
    return Plan(
        output=output,
        encoder=encoder_for(output, settings),
        segments=segments,
        audio_rate=settings.audio_sample_rate,
    )
