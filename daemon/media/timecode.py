"""A media file's start timecode, read with PyAV from where FFmpeg exposes it: the
video stream's ``timecode`` tag (MOV and MP4 with a ``tmcd`` track), the ``tmcd``
data stream's, or the container's (MXF writes it there; Matroska as ``TIMECODE``).
The arithmetic of timecodes is :mod:`..timecode`'s."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error

from ..timecode import LABEL, TimecodeError, to_frame


def read_start_timecode(path: Path) -> str | None:
    """The start timecode ``path`` carries, as written (``01:00:00;00``), or None.

    Only for files that already passed :func:`.probe.probe` (which refuses playlists
    and other indirect inputs); the open is limited to local files all the same."""
    try:
        container = av.open(str(path), options={"protocol_whitelist": "file"})
    except (av.error.FFmpegError, OSError):
        return None
    try:
        return timecode_tag(container)
    finally:
        container.close()


def timecode_tag(container: Any) -> str | None:
    """The start timecode an open container carries, as written, or None."""
    tags: list[dict[str, str]] = [dict(s.metadata) for s in container.streams.video]
    tags += [dict(s.metadata) for s in container.streams.data]
    tags.append(dict(container.metadata))
    for found in tags:
        for key in ("timecode", "TIMECODE"):
            text = found.get(key)
            if text and LABEL.match(text):
                return text.strip()
    return None


def start_frame(tag: str | None, rate: Fraction) -> int | None:
    """A start timecode label as a frame count on the file's own clock, or None if
    it has none or it does not read at ``rate``."""
    if tag is None:
        return None
    try:
        return to_frame(tag, rate)
    except TimecodeError:
        return None
