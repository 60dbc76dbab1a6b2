"""A media file's start timecode, read with PyAV from where FFmpeg exposes it: the
video stream's ``timecode`` tag (MOV and MP4 with a ``tmcd`` track), the ``tmcd``
data stream's, or the container's (MXF writes it there; Matroska as ``TIMECODE``).
The arithmetic of timecodes is :mod:`..timecode`'s."""

from __future__ import annotations

from pathlib import Path

import av
import av.error

from ..timecode import LABEL, Timecode, TimecodeError, from_frame, label_rate, to_frame

__all__ = [
    "Timecode",
    "TimecodeError",
    "from_frame",
    "label_rate",
    "read_start_timecode",
    "to_frame",
]


def read_start_timecode(path: Path) -> str | None:
    """The start timecode ``path`` carries, as written (``01:00:00;00``), or None.

    Only for files that already passed :func:`.probe.probe` (which refuses playlists
    and other indirect inputs); the open is limited to local files all the same."""
    try:
        container = av.open(str(path), options={"protocol_whitelist": "file"})
    except (av.error.FFmpegError, OSError):
        return None
    try:
        tags: list[dict[str, str]] = [dict(s.metadata) for s in container.streams.video]
        tags += [dict(s.metadata) for s in container.streams.data]
        tags.append(dict(container.metadata))
    finally:
        container.close()
    for found in tags:
        for key in ("timecode", "TIMECODE"):
            text = found.get(key)
            if text and LABEL.match(text):
                return text.strip()
    return None
