"""Probe stage: what is in a media file, and can it really be decoded?

PyAV (FFmpeg's libraries) answers; we never parse ffmpeg's stderr. Only local
files reach this module: :mod:`..pipeline.validate` has already refused URLs and paths
outside the project, and :func:`probe` refuses playlists and other demuxers that
would make FFmpeg open further files or URLs on its own.
"""

from __future__ import annotations

import itertools
import math
import struct
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error

from ..errors import ProbeError
from .info import FIELD_ORDERS, AudioTrack, Colour, Kind, MediaInfo, Orientation
from .sequence import UNMANAGED_SUFFIXES, Frames, find_frames, frame_path, is_sequence
from .timecode import start_frame, timecode_tag

# Demuxers that read *other* files or URLs named inside the input. A shot file must
# be media, not a recipe for fetching media.
_INDIRECT_FORMATS = {"hls", "applehttp", "concat", "ffconcat", "dash", "image2", "tee", "sdp"}
# Text playlists are sniffed before FFmpeg sees them, so the demuxer never starts.
_PLAYLIST_MAGIC = (b"#EXTM3U", b"ffconcat", b"[playlist]", b"<?xml", b"<MPD", b"#EXT")
# FFmpeg's own options for the open: local files only, whatever the name says.
_OPEN_OPTIONS = {"protocol_whitelist": "file"}
# Demuxers of single images: a still, shown for as long as its shot says.
_STILL_FORMATS = {
    "image2",
    "png_pipe",
    "jpeg_pipe",
    "tiff_pipe",
    "dpx_pipe",
    "bmp_pipe",
    "webp_pipe",
}


def _open(path: Path, sequence: Frames | None = None, rate: Fraction | None = None) -> Any:
    if sequence is not None:
        # The image2 demuxer reads the numbered files beside the pattern, and only those.
        first = frame_path(path, sequence.first)
        options = {
            **_OPEN_OPTIONS,
            "start_number": str(sequence.first),
            "framerate": str(rate or 24),
            "pattern_type": "sequence",
        }
        try:
            return av.open(str(path), format="image2", options=options)
        except av.error.FFmpegError as exc:
            raise ProbeError(
                f"is not an image sequence FFmpeg can read ({first.name}: {_ffmpeg_reason(exc)})",
                code="not_video",
            ) from exc
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
    name = container.format.name.split(",")[0]
    if name in _INDIRECT_FORMATS and not (name == "image2" and "%" not in path.name):
        container.close()
        raise ProbeError(
            f"is a '{container.format.name}' playlist, not media; list the media files themselves",
            code="playlist_not_allowed",
        )
    return container


def _ffmpeg_reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).strip().rstrip(".")


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


def _first_frame(container: Any, stream: Any) -> tuple[Any, bool]:
    """The first frame the decoder shows, and whether packets before it were hidden
    by an edit list (FFmpeg flags them as discarded)."""
    hidden = False
    ctx = stream.codec_context
    ctx.thread_count = 1  # one frame: threads cost more than they save
    try:
        for packet in container.demux(stream):
            hidden = hidden or bool(packet.is_discard)
            frames = packet.decode()
            if not frames and packet.is_keyframe and not hidden:
                # A keyframe alone makes a picture: flush it out rather than decode
                # the B-frames that would otherwise come first.
                frames = ctx.decode(None)
                if not frames:
                    break
            for frame in frames:
                return frame, hidden
        for frame in ctx.decode(None):
            return frame, hidden
    except av.error.FFmpegError as exc:
        raise ProbeError(
            f"cannot be decoded ({_ffmpeg_reason(exc)}); the file is damaged or truncated",
            code="corrupt",
        ) from exc
    finally:
        container.seek(0)
    raise ProbeError("no video frame can be decoded", code="corrupt")


def _orientation(stream: Any, frame: Any) -> Orientation:
    try:
        matrix = frame.side_data.get("DISPLAYMATRIX") if frame is not None else None
    except ValueError:
        # PyAV cannot list side data of a kind newer than itself (16-bit PNGs carry
        # one); FFmpeg's own reading of the turn is still there, without the mirror.
        return Orientation((round(frame.rotation / 90) * 90) % 360)
    if matrix is not None:
        return Orientation.from_matrix(struct.unpack("<9i", bytes(matrix)))
    # Older muxers wrote a clockwise "rotate" tag on the stream instead.
    tag = stream.metadata.get("rotate")
    try:
        return Orientation.from_tag(float(tag)) if tag is not None else Orientation()
    except ValueError:
        return Orientation()


def _field_order(ctx: Any, frame: Any) -> str:
    order = FIELD_ORDERS.get(int(ctx.field_order or 0))
    if order is None:  # unknown to the container: the frames say
        order = "interlaced" if frame is not None and frame.interlaced_frame else "progressive"
    return order


def _sar(stream: Any, ctx: Any) -> Fraction:
    """The shape of a stored pixel. The container's wins, as in FFmpeg, unless it says
    square where the bitstream does not: muxers write 1:1 without knowing better (a DV
    file in a MOV, say), while a non-square value is always somebody's decision."""
    values = [
        Fraction(v) for v in (stream.sample_aspect_ratio, ctx.sample_aspect_ratio) if v and v > 0
    ]
    return next((v for v in values if v != 1), Fraction(1))


def _audio_tracks(container: Any) -> tuple[AudioTrack, ...]:
    tracks = []
    for number, stream in enumerate(container.streams.audio):
        ctx = stream.codec_context
        layout = ctx.layout
        channels = int(layout.nb_channels if layout is not None else ctx.channels or 0)
        if channels and ctx.sample_rate:
            name = layout.name if layout is not None else f"{channels} channels"
            tracks.append(AudioTrack(number, channels, name, int(ctx.sample_rate), ctx.name))
    return tuple(tracks)


def probe(path: Path, rate: Fraction | None = None) -> MediaInfo:
    """Describe ``path``: a video, a still, or an image sequence's pattern (whose
    frames are read at ``rate``, default 24)."""
    if path.suffix.lower() in UNMANAGED_SUFFIXES:
        raise ProbeError(
            f"is a scene-linear {path.suffix} image; colour-managed formats are not "
            "handled (convert to DPX, TIFF or PNG with your colour pipeline)",
            code="unsupported_media",
        )
    sequence = find_frames(path) if is_sequence(str(path)) else None
    if is_sequence(str(path)) and sequence is None:
        raise ProbeError("no frames of this image sequence exist", code="missing_file")
    rate = rate or Fraction(24)
    container = _open(path, sequence, rate)
    try:
        if not container.streams.video:
            if container.streams.audio:
                raise ProbeError(
                    "has sound but no picture; audio-only files cannot be shots",
                    code="audio_only",
                )
            raise ProbeError("has no video stream", code="not_video")
        video = container.streams.video[0]
        ctx = video.codec_context
        if not ctx.width or not ctx.height:
            raise ProbeError("has a video stream without a picture size", code="not_video")
        name = container.format.name.split(",")[0]
        kind: Kind = "sequence" if sequence else "still" if name in _STILL_FORMATS else "video"
        first, hidden = _first_frame(container, video)
        if kind == "sequence":
            assert sequence is not None
            frame_rate, duration, has_duration = rate, float(sequence.count / rate), True
            start = 0.0
        elif kind == "still":
            frame_rate, duration, has_duration, start = Fraction(25), 0.0, True, 0.0
        else:
            frame_rate = Fraction(video.guessed_rate or video.average_rate or video.base_rate or 0)
            if frame_rate <= 0:
                raise ProbeError("has no usable frame rate", code="not_video")
            start = float(video.start_time * video.time_base) if video.start_time else 0.0
            duration, has_duration = _duration(container, video, start)
            # The picture's own clock: its first shown frame, which an edit list that
            # starts between two frames puts a little after the stream's start.
            if first is not None and first.time is not None and first.time > start:
                duration, start = duration - (first.time - start), float(first.time)
        fmt = first.format if first is not None else ctx.format
        pix_fmt = (fmt.name if fmt is not None else ctx.pix_fmt) or "unknown"
        return MediaInfo(
            path=str(path),
            format_name=container.format.name,
            kind=kind,
            duration=duration,
            width=ctx.width,
            height=ctx.height,
            frame_rate=frame_rate,
            pix_fmt=pix_fmt,
            bit_depth=max((c.bits for c in fmt.components), default=8) if fmt else 8,
            video_codec=ctx.name,
            video_bit_rate=ctx.bit_rate or container.bit_rate or None,
            header_has_duration=has_duration,
            orientation=_orientation(video, first),
            sar=_sar(video, ctx),
            field_order=_field_order(ctx, first) if kind == "video" else "progressive",
            colour=Colour.read(
                int(first.colorspace if first.colorspace != 2 else ctx.colorspace),
                int(first.color_trc if first.color_trc != 2 else ctx.color_trc),
                int(first.color_primaries if first.color_primaries != 2 else ctx.color_primaries),
                int(first.color_range or ctx.color_range),
                pix_fmt,
                ctx.height,
            ),
            audio=_audio_tracks(container) if kind == "video" else (),
            start_time=start,
            container_start=(container.start_time / av.time_base if container.start_time else 0.0),
            hidden_frames=hidden,
            extradata=bytes(ctx.extradata or b""),
            video_stream_id=int(video.id or 0),
            first_number=sequence.first if sequence else None,
            start_timecode=start_frame(timecode_tag(container), frame_rate),
        )
    finally:
        container.close()


def _duration(container: Any, video: Any, start: float) -> tuple[float, bool]:
    if video.duration:
        duration, has_duration = float(video.duration * video.time_base), True
    elif container.duration:
        duration, has_duration = container.duration / av.time_base - start, True
    else:
        duration, has_duration = _scan_video_end(container, video) - start, False
    if not math.isfinite(duration) or duration <= 0:
        raise ProbeError("contains no video frames", code="not_video")
    return duration, has_duration


def check_decodes(path: Path, info: MediaInfo, start: float, end: float, full: bool) -> int:
    """Read the used range of ``path`` and fail on damage or truncation; returns how
    many holes (dropped frames: steps of more than one and a half frames between
    consecutive pictures) the range has.

    Every packet of the range is demuxed (cheap: no decoding), so a file whose
    header promises more than its data holds (a truncated copy from a NAS, an
    interrupted upload) ends early here instead of freezing on its last frame in
    somebody's cut. Keyframes are decoded, or with ``full`` every frame. (Every
    frame of an image sequence is a keyframe: its first and last are decoded. A
    still was decoded by the probe.)
    """
    if info.kind == "still":
        return 0
    container = open_media(path, info)
    frame_dur = float(1 / info.frame_rate)
    decoded = 0
    last = -1.0
    times: list[float] = []
    try:
        stream = container.streams.video[0]
        if not full:
            # A handful of keyframes: decoder threads cost more than they save.
            stream.codec_context.thread_count = 1
        _seek(container, stream, info.start_time + start)
        final = None
        for packet in container.demux(stream):
            if packet.pts is None or packet.time_base is None:
                continue
            t = float(packet.pts * packet.time_base) - info.start_time
            last = max(last, t + float((packet.duration or 0) * packet.time_base))
            if start - frame_dur / 2 <= t < end and not packet.is_discard:
                times.append(t)
            keyframe = packet.is_keyframe and (info.kind == "video" or decoded == 0)
            if full or keyframe:
                decoded += len(packet.decode())
            else:
                final = packet
            if t >= end:
                break
        if final is not None and info.kind == "sequence":
            decoded += len(final.decode())
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
    times.sort()
    return sum(1 for a, b in itertools.pairwise(times) if b - a > 1.5 * frame_dur)


def open_media(path: Path, info: MediaInfo) -> Any:
    """Open what :func:`probe` described, the same way (an image sequence by its frames)."""
    if info.kind != "sequence":
        return _open(path)
    return _open(path, find_frames(path), info.frame_rate)


def _seek(container: Any, stream: Any, seconds: float) -> None:
    target = int(max(seconds, 0) / stream.time_base)
    container.seek(target, stream=stream, backward=True, any_frame=False)


def keyframe_at(path: Path, info: MediaInfo, seconds: float) -> bool:
    """Is there a keyframe within half a frame of ``seconds`` (shot time)?

    Demuxes a few packets, decodes nothing: cheap enough for every trim.
    """
    container = open_media(path, info)
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
