"""Normalize: transcode one shot to exactly the output's picture format.

ffmpeg does in C what MoviePy does in Python: drop or repeat frames to the output
rate, scale to fit with the aspect ratio kept, pad with black to the canvas, and
encode. ``-frames:v`` plus a cloned tail make the segment exactly as many frames
long as the plan says, so segments join frame-exact. Segments carry no audio: the
soundtrack is made once for the whole timeline (see :mod:`daemon.soundtrack`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from . import ffmpeg
from .plan import Plan, Segment


def encoder_args(plan: Plan) -> list[str]:
    enc = plan.encoder
    args = ["-c:v", enc.video_codec, "-pix_fmt", enc.pix_fmt]
    if enc.x264_preset:
        args += ["-preset", enc.x264_preset]
    if enc.bitrate:
        args += ["-b:v", enc.bitrate]
    return args + [a for a in enc.extra if a != "+faststart" and a != "-movflags"]


def filter_graph(segment: Segment, plan: Plan) -> str:
    rate = plan.output.frame_rate
    width, height = plan.output.size
    (fit_w, fit_h), (x, y) = segment.fit, segment.offset
    return ",".join(
        [
            f"fps={rate.numerator}/{rate.denominator}",
            f"scale={fit_w}:{fit_h}:flags=bicubic",
            "setsar=1",
            f"pad={width}:{height}:{x}:{y}:black",
            # Sources a frame short of the planned count repeat their last frame.
            "tpad=stop_mode=clone:stop=-1",
            f"format={plan.encoder.pix_fmt}",
        ]
    )


def normalize(
    segment: Segment,
    plan: Plan,
    destination: Path,
    on_fraction: Callable[[float], None] | None = None,
    check_cancel: Callable[[], None] | None = None,
) -> Path:
    rate = plan.output.frame_rate
    args = [
        "-ss",
        f"{segment.start:.6f}",
        "-i",
        str(segment.source),
        "-map",
        "0:v:0",
        "-an",
        "-sn",
        "-dn",
        "-vf",
        filter_graph(segment, plan),
        "-frames:v",
        str(segment.frames),
        "-r",
        f"{rate.numerator}/{rate.denominator}",
        *encoder_args(plan),
        "-f",
        "mov" if plan.output.output_format == "mov" else "mp4",
        str(destination),
    ]
    ffmpeg.run(
        args,
        duration=float(segment.frames / rate),
        on_fraction=on_fraction,
        check_cancel=check_cancel,
        what=f"normalizing {segment.source.name}",
    )
    return destination
