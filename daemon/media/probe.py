"""Probe stage: what is in a media file, and can it really be decoded?

PyAV (FFmpeg's libraries) answers; we never parse ffmpeg's stderr. Only local
files reach this module: :mod:`..pipeline.validate` has already refused URLs and paths
outside the project, and :func:`probe` refuses playlists and other demuxers that
would make FFmpeg open further files or URLs on its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error

from ..errors import ProbeError

# Demuxers that read *other* files or URLs named inside the input. A shot file must
# be media, not a recipe for fetching media.
_INDIRECT_FORMATS = {"hls", "applehttp", "concat", "ffconcat", "dash", "image2", "tee", "sdp"}
# Text playlists are sniffed before FFmpeg sees them, so the demuxer never starts.
_PLAYLIST_MAGIC = (b"#EXTM3U", b"ffconcat", b"[playlist]", b"<?xml", b"<MPD", b"#EXT")
# FFmpeg's own options for the open: local files only, whatever the name says.
_OPEN_OPTIONS = {"protocol_whitelist": "file"}


@dataclass(frozen=True)
class MediaInfo:
    path: str
    format_name: str
    duration: float
    width: int
    height: int
    rotation: int
    frame_rate: Fraction
    pix_fmt: str
    video_codec: str
    video_bit_rate: int | None
    has_audio: bool
    audio_codec: str | None
    sample_rate: int | None
    channels: int | None
    header_has_duration: bool
    #: Where the first video frame sits on the file's timeline (seconds).
    start_time: float = 0.0
    #: The codec's parameter sets (avcC for H.264). Shots can only be joined
    #: without re-encoding when these are identical.
    extradata: bytes = b""
    #: The container's id of the video stream (an MP4 track ID).
    video_stream_id: int = 0

    @property
    def display_size(self) -> tuple[int, int]:
        """Size as shown, after the rotation FFmpeg applies on decode."""
        if self.rotation % 180:
            return self.height, self.width
        return self.width, self.height

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format_name,
            "duration": round(self.duration, 6),
            "width": self.width,
            "height": self.height,
            "rotation": self.rotation,
            "fps": str(self.frame_rate),
            "pix_fmt": self.pix_fmt,
            "video_codec": self.video_codec,
            "has_audio": self.has_audio,
            "audio_codec": self.audio_codec,
            "sample_rate": self.sample_rate,
            "channels": self.channels,
        }


def _open(path: Path) -> Any:
    try:
        with path.open("rb") as fh:
            head = fh.read(64).lstrip()
    except OSError as exc:
        raise ProbeError(f"cannot be read: {exc.strerror}", code="unreadable") from exc
    if head.startswith(_PLAYLIST_MAGIC):
        raise ProbeError(
            "is a playlist or text file, not media; list the media files themselves",
            code="playlist_not_allowed",
        )
    try:
        container = av.open(str(path), options=_OPEN_OPTIONS)
    except av.error.FFmpegError as exc:
        raise ProbeError(
            f"is not a video FFmpeg can read ({_ffmpeg_reason(exc)})", code="not_video"
        ) from exc
    if container.format.name.split(",")[0] in _INDIRECT_FORMATS:
        container.close()
        raise ProbeError(
            f"is a '{container.format.name}' playlist, not media; list the media files themselves",
            code="playlist_not_allowed",
        )
    return container


def _ffmpeg_reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).strip().rstrip(".")


def _rotation(stream: Any) -> int:
    # PyAV exposes the display matrix as frame side data; the stream-level tag is
    # the portable place older muxers wrote it.
    tag = stream.metadata.get("rotate")
    if tag is not None:
        try:
            return int(float(tag)) % 360
        except ValueError:
            return 0
    return 0


def _scan_video_end(container: Any, stream: Any) -> float:
    """Duration by demuxing every packet: for files whose header has none (browser WebM)."""
    end = 0.0
    for packet in container.demux(stream):
        if packet.pts is None or packet.time_base is None:
            continue
        frame_end = packet.pts + (packet.duration or 0)
        end = max(end, float(frame_end * packet.time_base))
    container.seek(0)
    return end


def probe(path: Path) -> MediaInfo:
    """Open ``path`` and describe its first video and audio streams."""
    container = _open(path)
    try:
        if not container.streams.video:
            raise ProbeError("has no video stream", code="not_video")
        video = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        rate = video.guessed_rate or video.average_rate or video.base_rate
        if not rate or rate <= 0:
            raise ProbeError("has no usable frame rate", code="not_video")
        start = float(video.start_time * video.time_base) if video.start_time else 0.0
        if video.duration:
            duration = float(video.duration * video.time_base)
            header_has_duration = True
        elif container.duration:
            duration = container.duration / av.time_base - start
            header_has_duration = True
        else:
            duration = _scan_video_end(container, video) - start
            header_has_duration = False
        if not math.isfinite(duration) or duration <= 0:
            raise ProbeError("contains no video frames", code="not_video")
        ctx = video.codec_context
        if not ctx.width or not ctx.height:
            raise ProbeError("has a video stream without a picture size", code="not_video")
        return MediaInfo(
            path=str(path),
            format_name=container.format.name,
            duration=duration,
            width=ctx.width,
            height=ctx.height,
            rotation=_rotation(video),
            frame_rate=Fraction(rate),
            pix_fmt=ctx.pix_fmt or "unknown",
            video_codec=ctx.name,
            video_bit_rate=ctx.bit_rate or container.bit_rate or None,
            has_audio=audio is not None,
            audio_codec=audio.codec_context.name if audio else None,
            sample_rate=audio.codec_context.sample_rate if audio else None,
            channels=audio.codec_context.channels if audio else None,
            header_has_duration=header_has_duration,
            start_time=start,
            extradata=bytes(ctx.extradata or b""),
            video_stream_id=int(video.id or 0),
        )
    finally:
        container.close()


def check_decodes(path: Path, info: MediaInfo, start: float, end: float, full: bool) -> None:
    """Read the used range of ``path`` and fail on damage or truncation.

    Every packet of the range is demuxed (cheap: no decoding), so a file whose
    header promises more than its data holds (a truncated copy from a NAS, an
    interrupted upload) ends early here instead of freezing on its last frame in
    somebody's cut. Keyframes are decoded, or with ``full`` every frame.
    """
    container = _open(path)
    frame_dur = float(1 / info.frame_rate)
    decoded = 0
    last = -1.0
    try:
        stream = container.streams.video[0]
        if not full:
            # A handful of keyframes: decoder threads cost more than they save.
            stream.codec_context.thread_count = 1
        _seek(container, stream, info.start_time + start)
        for packet in container.demux(stream):
            if packet.pts is None or packet.time_base is None:
                continue
            t = float(packet.pts * packet.time_base) - info.start_time
            last = max(last, t + float((packet.duration or 0) * packet.time_base))
            if full or packet.is_keyframe:
                decoded += len(packet.decode())
            if t >= end:
                break
        decoded += len(stream.codec_context.decode(None))  # drain the decoder's delay
    except av.error.FFmpegError as exc:
        raise ProbeError(
            f"cannot be decoded ({_ffmpeg_reason(exc)}); the file is damaged or truncated",
            code="corrupt",
        ) from exc
    finally:
        container.close()
    if decoded == 0:
        raise ProbeError(
            f"no video frame could be decoded at {start:.2f} s (damaged or truncated file)",
            code="corrupt",
        )
    # Two frames of slack: a shot's last frame starts one frame before its end.
    if last < end - 2 * frame_dur - 0.05:
        raise ProbeError(
            f"ends early: video data stops at {max(last, 0):.2f} s of the "
            f"{end:.2f} s needed; the file is truncated or damaged",
            code="truncated",
        )


def _seek(container: Any, stream: Any, seconds: float) -> None:
    target = int(max(seconds, 0) / stream.time_base)
    container.seek(target, stream=stream, backward=True, any_frame=False)


def keyframe_at(path: Path, info: MediaInfo, seconds: float) -> bool:
    """Is there a keyframe within half a frame of ``seconds`` (shot time)?

    Demuxes a few packets, decodes nothing: cheap enough for every trim.
    """
    container = _open(path)
    try:
        stream = container.streams.video[0]
        half = float(1 / info.frame_rate) / 2
        _seek(container, stream, info.start_time + seconds)
        for packet in container.demux(stream):
            if packet.pts is None:
                continue
            t = float(packet.pts * packet.time_base) - info.start_time
            if packet.is_keyframe and abs(t - seconds) <= half:
                return True
            if t > seconds + half:
                return False
        return False
    finally:
        container.close()
