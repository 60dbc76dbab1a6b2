"""Which strategy renders a plan: the render stage's choice among its parts.

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

from dataclasses import replace
from pathlib import Path

from ..errors import Problem, ValidationFailed
from ..media.info import MediaInfo
from ..media.probe import keyframe_at
from ..request.model import EngineName, OutputSettings
from .model import Segment, Strategy
from .presets import Encoder

#: A copied shot may be this much above the requested bitrate.
BITRATE_SLACK = 1.25


def copy_mismatch(
    info: MediaInfo,
    source: Path,
    start: float,
    end: float,
    output: OutputSettings,
    encoder: Encoder,
    holes: int = 0,
) -> str:
    """Why the shot ``source[start:end]`` cannot be stream-copied into ``output``; "" if it can.

    A copy keeps every stored pixel as it is, so anything a viewer would see
    differently from how it is stored (a turn, a mirror, non-square pixels, fields,
    another colour space) rules it out.
    """
    if encoder.video_codec != "libx264":
        return f"the {output.output_format} {output.quality_preset} preset is not H.264"
    if output.burnins:
        return "burn-ins are drawn into the picture"
    if info.kind != "video":
        return f"it is a {info.kind}, not a video"
    if info.video_codec != "h264":
        return f"video is {info.video_codec}, not H.264"
    if info.pix_fmt != "yuv420p":
        return f"pixels are {info.pix_fmt}, not yuv420p"
    if info.orientation.rotation or info.orientation.mirrored:
        turned = f"turned {info.rotation} degrees" if info.rotation else ""
        mirrored = "mirrored" if info.orientation.mirrored else ""
        return f"its display matrix says {' and '.join(filter(None, [mirrored, turned]))}"
    if info.sar != 1:
        return f"its pixels are not square ({info.sar.numerator}:{info.sar.denominator})"
    if info.interlaced:
        return "it is interlaced"
    if not info.colour.is_bt709_limited:
        return f"its colour ({info.colour.tagged}) is not BT.709 limited range"
    if info.hidden_frames:
        return "an edit list hides its first frames (a piece cut with -c copy)"
    if holes:
        return f"its picture has {holes} gap(s) where frames were dropped or cut off"
    if (info.width, info.height) != output.size:
        return f"size {info.width}x{info.height} is not {output.resolution}"
    if info.frame_rate != output.frame_rate:
        return f"frame rate {info.frame_rate} is not {output.frame_rate}"
    if not info.header_has_duration:
        return "the file has no duration in its header"
    if not info.video_bit_rate or info.video_bit_rate > BITRATE_SLACK * output.bits_per_second:
        rate = f"{(info.video_bit_rate or 0) // 1000}k" if info.video_bit_rate else "unknown"
        return f"bitrate {rate} is over {BITRATE_SLACK:.0%} of {output.bitrate}"
    if start > 0 and not keyframe_at(source, info, start):
        return f"'in' {start:.3f} s is not on a keyframe"
    half = float(1 / info.frame_rate) / 2
    if end < info.duration - half and not keyframe_at(source, info, end):
        return f"'out' {end:.3f} s is not on a keyframe"
    return ""


def same_parameter_sets(segments: list[Segment]) -> list[Segment]:
    """Shots that each match the output can only be copied together if they share
    their H.264 parameter sets (and the stream id the join picks the picture by)."""
    if any(s.mismatch for s in segments):
        return segments
    if len({(s.info.extradata, s.info.video_stream_id) for s in segments}) <= 1:
        return segments
    reason = "shots come from different encoders (their H.264 parameter sets differ)"
    return [replace(s, mismatch=reason) for s in segments]


def choose(engine: EngineName, segments: list[Segment], request_path: str) -> Strategy:
    """The request's engine if it forces one, else copy when every segment can be copied."""
    if engine in ("moviepy", "normalize"):
        return "moviepy" if engine == "moviepy" else "normalize"
    mismatched = [s for s in segments if s.mismatch]
    if engine == "copy" and mismatched:
        raise ValidationFailed(
            request_path,
            [
                Problem(
                    "cannot_copy",
                    f"cannot be joined without re-encoding: {s.mismatch}",
                    shot_index=s.shot_index,
                    path=s.label,
                )
                for s in mismatched
            ],
        )
    return "normalize" if mismatched else "copy"
