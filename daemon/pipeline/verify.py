"""Verify stage: probe the rendered file and hold it to the plan.

MoviePy does not check ffmpeg's exit status, so a render can "succeed" and leave a
file with a missing stream or half its frames. Nothing is published until this
stage has looked at the real file: codecs, size, frame rate, duration and A/V sync,
and what the output asked of it (start timecode, loudness).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error

from ..errors import VerifyError
from ..render import loudness
from ..render.loudness import Measured
from ..render.model import Plan
from ..settings import Settings

#: What every export declares: BT.709 primaries, transfer and matrix, limited range.
BT709 = (1, 1, 1, 1)


@dataclass(frozen=True)
class OutputReport:
    video_codec: str
    audio_codec: str
    width: int
    height: int
    frame_rate: Fraction
    video_duration: float
    audio_duration: float
    size_bytes: int
    #: Where each track starts; an offset between them is a sync error from the start.
    video_start: float = 0.0
    audio_start: float = 0.0
    #: Video frames in the file (counted, not computed) and the longest step between
    #: two of them, in frames: a join that leaves holes stretches the picture.
    frames: int = 0
    widest_step: float = 1.0
    #: Primaries, transfer, matrix and range as the file declares them.
    colour: tuple[int, int, int, int] = (1, 1, 1, 1)
    #: The start timecode a reader sees (the timecode track's), if any.
    timecode: str | None = None
    #: The sound as measured (EBU R128), when the output asks for a loudness.
    loudness: Measured | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "video_codec": self.video_codec,
            "audio_codec": self.audio_codec,
            "resolution": f"{self.width}x{self.height}",
            "fps": str(self.frame_rate),
            "video_duration": round(self.video_duration, 4),
            "audio_duration": round(self.audio_duration, 4),
            "size_bytes": self.size_bytes,
            "frames": self.frames,
            **({"timecode": self.timecode} if self.timecode else {}),
            **({"loudness": self.loudness.to_dict()} if self.loudness else {}),
        }


def _stream_duration(container: Any, stream: Any) -> float:
    if stream.duration:
        return float(stream.duration * stream.time_base)
    # Some muxers leave stream durations out; the packets tell the truth.
    end = 0.0
    for packet in container.demux(stream):
        if packet.pts is not None:
            end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
    container.seek(0)
    return end


def _count_frames(container: Any, stream: Any) -> tuple[int, float]:
    """Frames, and the widest gap between consecutive ones in frame durations."""
    times = sorted(p.pts for p in container.demux(stream) if p.pts is not None and p.size)
    container.seek(0)
    rate = stream.average_rate or stream.guessed_rate
    if len(times) < 2 or not rate:
        return len(times), 1.0
    step = float(max(b - a for a, b in itertools.pairwise(times)) * stream.time_base)
    return len(times), step * float(rate)


def _start(stream: Any) -> float:
    if stream.start_time is None or stream.time_base is None:
        return 0.0
    return float(stream.start_time * stream.time_base)


def _timecode(container: Any) -> str | None:
    """The file's start timecode, where readers look for it: a ``timecode`` tag on a
    stream (MOV and MP4 put the timecode track's there) or on the file."""
    for stream in container.streams:
        if value := stream.metadata.get("timecode"):
            return str(value)
    value = container.metadata.get("timecode")
    return str(value) if value else None


def inspect(path: Path) -> OutputReport:
    """Probe an export; raises :class:`VerifyError` if it has no video or no audio."""
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as exc:
        raise VerifyError(f"the rendered file cannot be opened: {exc}", path=str(path)) from exc
    try:
        if not container.streams.video or not container.streams.audio:
            raise VerifyError("the rendered file lacks a video or an audio stream", path=str(path))
        video, audio = container.streams.video[0], container.streams.audio[0]
        frames, widest = _count_frames(container, video)
        ctx = video.codec_context
        return OutputReport(
            video_codec=ctx.name,
            audio_codec=audio.codec_context.name,
            width=ctx.width,
            height=ctx.height,
            frame_rate=Fraction(video.average_rate or 0),
            video_duration=_stream_duration(container, video),
            audio_duration=_stream_duration(container, audio),
            size_bytes=path.stat().st_size,
            video_start=_start(video),
            audio_start=_start(audio),
            frames=frames,
            widest_step=widest,
            colour=(
                int(ctx.color_primaries),
                int(ctx.color_trc),
                int(ctx.colorspace),
                int(ctx.color_range),
            ),
            timecode=_timecode(container),
        )
    finally:
        container.close()


def verify(path: Path, plan: Plan, settings: Settings) -> OutputReport:
    """Check ``path`` against ``plan``; raise :class:`VerifyError` naming every mismatch."""
    report = inspect(path)
    rate = plan.output.frame_rate
    frame = float(1 / rate)
    width, height = plan.output.size
    wrong: list[str] = []
    if report.video_codec != plan.encoder.probe_codec:
        wrong.append(f"video codec is {report.video_codec}, expected {plan.encoder.probe_codec}")
    if report.audio_codec != plan.encoder.probe_audio_codec:
        wrong.append(
            f"audio codec is {report.audio_codec}, expected {plan.encoder.probe_audio_codec}"
        )
    if (report.width, report.height) != (width, height):
        wrong.append(f"picture is {report.width}x{report.height}, expected {width}x{height}")
    if report.frame_rate != rate:
        wrong.append(f"frame rate is {report.frame_rate}, expected {rate}")
    tolerance = settings.duration_tolerance_frames * frame * len(plan.segments)
    if abs(report.video_duration - plan.duration) > tolerance:
        wrong.append(f"video lasts {report.video_duration:.3f} s, expected {plan.duration:.3f} s")
    # AAC works in 1024-sample frames; anything under one video frame is in sync.
    if abs(report.audio_duration - report.video_duration) >= frame:
        wrong.append(
            f"audio ({report.audio_duration:.3f} s) and video ({report.video_duration:.3f} s) "
            "differ by more than a frame"
        )
    if report.frames != plan.total_frames:
        wrong.append(f"the picture has {report.frames} frames, planned {plan.total_frames}")
    if report.widest_step > 1.5:
        wrong.append(f"the picture has a hole of {report.widest_step:.1f} frames")
    if report.colour != BT709:
        wrong.append(
            "the picture is not tagged BT.709 limited range "
            f"(primaries, transfer, matrix, range = {report.colour})"
        )
    if abs(report.video_start - report.audio_start) > frame / 4:
        wrong.append(
            f"the picture starts {report.video_start - report.audio_start:+.3f} s from the sound"
        )
    wanted = plan.output.start_timecode
    if wanted and report.timecode != wanted:
        wrong.append(f"the file starts at timecode {report.timecode}, expected {wanted}")
    if wrong:
        raise VerifyError("the render does not match the plan: " + "; ".join(wrong), path=str(path))
    if plan.output.loudness is not None:
        # Measured on the file itself: the number a broadcaster's QC will find.
        measured = loudness.measure(path)
        loudness.check(measured, plan.output.loudness, path)
        report = replace(report, loudness=measured)
    return report
