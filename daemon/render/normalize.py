"""Normalize: transcode one shot to exactly the output's picture format.

ffmpeg runs the shot through :mod:`.picture` (fields, rate, orientation, HDR,
size and colour, canvas) and encodes it. ``-frames:v`` plus a cloned tail make the
segment exactly as many frames long as the plan says, so segments join
frame-exact. Segments carry no audio: the soundtrack is made once for the whole
timeline (see :mod:`.soundtrack`). Normalized segments live in the :mod:`.cache`;
a re-assembly encodes only what changed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..errors import RenderError
from ..media import ffmpeg
from .cache import SegmentCache
from .join import ConcatItem
from .model import Plan, Segment, SegmentStats
from .picture import input_args, picture_chain


def encoder_args(plan: Plan) -> list[str]:
    enc = plan.encoder
    args = ["-c:v", enc.video_codec, "-pix_fmt", enc.pix_fmt]
    if enc.x264_preset:
        args += ["-preset", enc.x264_preset]
    if enc.bitrate:
        args += ["-b:v", enc.bitrate]
    return args + [a for a in enc.extra if a != "+faststart" and a != "-movflags"]


def normalize(
    segment: Segment,
    plan: Plan,
    destination: Path,
    on_fraction: Callable[[float], None] | None = None,
) -> Path:
    rate = plan.output.frame_rate
    args = [
        *input_args(segment, rate),
        "-map",
        "0:v:0",
        "-an",
        "-sn",
        "-dn",
        "-vf",
        picture_chain(segment, plan, plan.encoder.pix_fmt),
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
        what=f"normalizing {segment.source.name}",
    )
    return destination


def normalized(
    plan: Plan,
    cache: SegmentCache,
    on_fraction: Callable[[float], None],
    stats: SegmentStats,
) -> list[ConcatItem]:
    """Every segment normalized, from the cache where it can be; encodes the rest."""
    ext = plan.output.output_format
    keys = [cache.key(seg, plan) for seg in plan.segments]
    hits = [cache.lookup(key, ext) for key in keys]
    total = sum(seg.frames for seg, hit in zip(plan.segments, hits, strict=True) if not hit) or 1
    done = 0
    items = []
    for seg, key, hit in zip(plan.segments, keys, hits, strict=True):
        if hit is None:

            def report(fraction: float, before: int = done, frames: int = seg.frames) -> None:
                on_fraction((before + fraction * frames) / total)

            hit = encode_segment(seg, plan, cache, key, report)
            done += seg.frames
            stats["encoded"] += 1
        else:
            stats["cached"] += 1
        # Each segment takes exactly its frames on the timeline, whatever its file says.
        items.append(ConcatItem(hit, duration=float(seg.frames / plan.output.frame_rate)))
    on_fraction(1.0)
    return items


def encode_segment(
    seg: Segment,
    plan: Plan,
    cache: SegmentCache,
    key: str,
    on_fraction: Callable[[float], None] | None = None,
) -> Path:
    """Normalize one segment into the cache (atomically) and return its path."""
    ext = plan.output.output_format
    temp = cache.temp_path(key, ext)
    try:
        normalize(seg, plan, temp, on_fraction)
    except RenderError as exc:
        temp.unlink(missing_ok=True)
        raise RenderError(exc.reason, shot_index=seg.shot_index, path=seg.label) from exc
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return cache.store(temp, key, ext)
