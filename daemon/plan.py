"""Plan stage: from probed shots and output settings to an exact, frame-counted timeline.

Everything downstream works in whole output frames. Each shot lasts
``round(trimmed seconds x fps)`` frames, its audio lasts exactly as long, and the
segments are laid end to end; so cuts land on frame boundaries, the audio cannot
drift against the picture across joins, and the total is the sum of the shots to
within one frame per shot.

The plan also picks the render strategy, from the probed shots and the request:

``copy``
    Every shot already is what the output needs: H.264, yuv420p, the output's size
    and exact frame rate, no rotation, a video bitrate at most 125 % of the requested
    one (a copy must not be much bigger than what was asked for; a lower bitrate is
    fine: re-encoding cannot add back quality), trims that fall on keyframes, and
    the same codec parameter sets as the other shots (an MP4 track has one set for
    the whole track, so shots from different encoders cannot share it). The
    pictures are joined without re-encoding; only the audio is encoded, once.
``normalize``
    Each shot is transcoded by ffmpeg to exactly the output format (scaled to fit,
    padded, frame rate conformed, exact frame count), cached, and the segments are
    joined without re-encoding again. Used when any shot does not match.
``moviepy``
    MoviePy composes every frame in Python: for frame-level work. Only on request.

``"engine"`` in the request forces one (``copy`` fails naming the shots that do
not match).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

from .errors import Problem, ValidationFailed
from .presets import Encoder, encoder_for
from .probe import keyframe_at
from .request import OutputSettings
from .settings import Settings
from .validate import ProbedShot, ValidatedRequest

#: A copied shot may be this much above the requested bitrate.
BITRATE_SLACK = 1.25


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

    @property
    def last_frame(self) -> int:
        return self.first_frame + self.frames


@dataclass(frozen=True)
class Plan:
    output: OutputSettings
    encoder: Encoder
    segments: list[Segment]
    audio_rate: int
    strategy: str = "normalize"

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


def copy_mismatch(shot: ProbedShot, output: OutputSettings, encoder: Encoder) -> str:
    """Why ``shot`` cannot be stream-copied into ``output``; "" if it can."""
    info = shot.info
    if encoder.video_codec != "libx264":
        return f"the {output.output_format} {output.quality_preset} preset is not H.264"
    if info.video_codec != "h264":
        return f"video is {info.video_codec}, not H.264"
    if info.pix_fmt != "yuv420p":
        return f"pixels are {info.pix_fmt}, not yuv420p"
    if info.rotation:
        return f"rotated {info.rotation} degrees"
    if (info.width, info.height) != output.size:
        return f"size {info.width}x{info.height} is not {output.resolution}"
    if info.frame_rate != output.frame_rate:
        return f"frame rate {info.frame_rate} is not {output.frame_rate}"
    if not info.header_has_duration:
        return "the file has no duration in its header"
    if not info.video_bit_rate or info.video_bit_rate > BITRATE_SLACK * output.bits_per_second:
        rate = f"{(info.video_bit_rate or 0) // 1000}k" if info.video_bit_rate else "unknown"
        return f"bitrate {rate} is over {BITRATE_SLACK:.0%} of {output.bitrate}"
    if shot.start > 0 and not keyframe_at(shot.source, info, shot.start):
        return f"'in' {shot.start:.3f} s is not on a keyframe"
    half = float(1 / info.frame_rate) / 2
    if shot.end < info.duration - half and not keyframe_at(shot.source, info, shot.end):
        return f"'out' {shot.end:.3f} s is not on a keyframe"
    return ""


def same_encoder(validated: ValidatedRequest, segments: list[Segment]) -> list[Segment]:
    """Shots that each match the output can only be copied together if they share
    their H.264 parameter sets (and the stream id the join picks the picture by)."""
    if any(s.mismatch for s in segments):
        return segments
    if len({(s.info.extradata, s.info.video_stream_id) for s in validated.shots}) <= 1:
        return segments
    reason = "shots come from different encoders (their H.264 parameter sets differ)"
    return [replace(s, mismatch=reason) for s in segments]


def choose_strategy(validated: ValidatedRequest, segments: list[Segment]) -> str:
    engine = validated.request.engine
    if engine in ("moviepy", "normalize"):
        return engine
    mismatched = [(i, s) for i, s in enumerate(segments) if s.mismatch]
    if engine == "copy" and mismatched:
        raise ValidationFailed(
            str(validated.request_path),
            [
                Problem(
                    "cannot_copy",
                    f"cannot be joined without re-encoding: {s.mismatch}",
                    shot_index=s.shot_index,
                    path=validated.shots[i].entry.path,
                )
                for i, s in mismatched
            ],
        )
    return "normalize" if mismatched else "copy"


def segment_for(
    shot: ProbedShot,
    output: OutputSettings,
    encoder: Encoder,
    first_frame: int = 0,
    want_copy: bool = True,
) -> Segment:
    # A shot shorter than half a frame would vanish; keep at least one frame.
    frames = max(1, round(Fraction(shot.duration) * output.frame_rate))
    canvas = output.size
    fit = fit_inside(shot.info.display_size, canvas)
    return Segment(
        shot_index=shot.index,
        source=shot.source,
        start=shot.start,
        frames=frames,
        first_frame=first_frame,
        has_audio=shot.info.has_audio,
        source_rate=shot.info.frame_rate,
        fit=fit,
        offset=((canvas[0] - fit[0]) // 2, (canvas[1] - fit[1]) // 2),
        needs_scan=not shot.info.header_has_duration,
        end=shot.end,
        mismatch=copy_mismatch(shot, output, encoder) if want_copy else "",
        source_start=shot.info.start_time,
        source_duration=shot.info.duration,
        stream_id=shot.info.video_stream_id,
    )


def make_plan(validated: ValidatedRequest, settings: Settings) -> Plan:
    output = validated.request.output
    encoder = encoder_for(output, settings)
    want_copy = validated.request.engine in ("auto", "copy")
    segments: list[Segment] = []
    cursor = 0
    for shot in validated.shots:
        segments.append(segment_for(shot, output, encoder, cursor, want_copy))
        cursor += segments[-1].frames
    if want_copy:
        segments = same_encoder(validated, segments)
    return Plan(
        output=output,
        encoder=encoder,
        segments=segments,
        audio_rate=settings.audio_sample_rate,
        strategy=choose_strategy(validated, segments),
    )
