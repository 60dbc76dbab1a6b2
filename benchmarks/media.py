"""Media: checking an output after the clock stops (frames, picture size, audio sync)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fixtures import FPS, HEIGHT, WIDTH


@dataclass(frozen=True)
class Media:
    frames: int
    width: int
    height: int
    video_seconds: float
    audio_seconds: float | None


def inspect_media(path: Path) -> Media:
    """Count the video packets and find each stream's extent; decodes nothing."""
    import av

    with av.open(str(path)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        extent: dict[str, list[float]] = {"video": [], "audio": []}
        frames = 0
        for packet in container.demux(*[s for s in (video, audio) if s is not None]):
            if packet.pts is None or packet.time_base is None or packet.size == 0:
                continue
            begin = float(packet.pts * packet.time_base)
            end = float((packet.pts + (packet.duration or 0)) * packet.time_base)
            kind = packet.stream.type
            frames += kind == "video"
            span = extent[kind]
            span[:] = [min(span[0], begin), max(span[1], end)] if span else [begin, end]

        def length(kind: str) -> float | None:
            span = extent[kind]
            return span[1] - span[0] if span else None

        return Media(
            frames=frames,
            width=video.codec_context.width,
            height=video.codec_context.height,
            video_seconds=length("video") or 0.0,
            audio_seconds=length("audio"),
        )


def media_problems(path: Path, expected_frames: int, shots: int, av_sync: bool) -> list[str]:
    """What is wrong with an output: frames off by more than one per shot, wrong size,
    or (``av_sync``) no audio or audio and video ending more than a frame apart."""
    if not path.is_file() or path.stat().st_size == 0:
        return [f"no output at {path}"]
    media = inspect_media(path)
    problems = []
    if abs(media.frames - expected_frames) > shots:
        problems.append(f"{media.frames} frames, expected {expected_frames} (±{shots})")
    if (media.width, media.height) != (WIDTH, HEIGHT):
        problems.append(f"picture {media.width}x{media.height}, expected {WIDTH}x{HEIGHT}")
    if av_sync:
        if media.audio_seconds is None:
            problems.append("no audio stream")
        elif abs(media.audio_seconds - media.video_seconds) >= 1 / FPS:
            problems.append(
                f"audio {media.audio_seconds:.3f} s vs video {media.video_seconds:.3f} s"
            )
    return problems
