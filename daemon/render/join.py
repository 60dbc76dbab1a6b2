"""Join: lay the video segments end to end without re-encoding, add the soundtrack.

ffmpeg's concat demuxer reads the segments one after another (memory does not grow
with their number) and copies their packets; the soundtrack, encoded once over the
whole timeline (:mod:`.soundtrack`), is copied in beside them. ``+faststart`` puts
the index first for players that stream.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..media import ffmpeg
from .model import Plan


@dataclass(frozen=True)
class ConcatItem:
    """One entry of ffmpeg's concat list: a file, optionally between two points."""

    path: Path
    inpoint: float | None = None
    outpoint: float | None = None
    #: How much of the timeline this entry takes: the next starts right after it,
    #: whatever the file's own (longest-stream) duration says.
    duration: float | None = None
    #: Take only this stream from the file (copied sources also carry sound).
    stream_id: int | None = None


def _quote(path: Path) -> str:
    # The concat list's own quoting: single quotes, with ' written as '\''.
    return "'" + str(path).replace("'", "'\\''") + "'"


def write_list(items: list[ConcatItem], destination: Path) -> Path:
    lines = ["ffconcat version 1.0"]
    ids = {item.stream_id for item in items}
    if len(ids) == 1 and None not in ids:
        # Declaring the picture as the only stream keeps the files' sound out of the
        # demuxer's timing: otherwise an AAC track's priming (a slightly negative
        # start) would push the picture 20-odd ms behind the new soundtrack.
        lines += ["stream", f"exact_stream_id {ids.pop()}"]
    for item in items:
        lines.append(f"file {_quote(item.path.absolute())}")
        if item.inpoint is not None:
            lines.append(f"inpoint {item.inpoint:.6f}")
        if item.outpoint is not None:
            lines.append(f"outpoint {item.outpoint:.6f}")
        if item.duration is not None:
            lines.append(f"duration {item.duration:.6f}")
    destination.write_text("\n".join(lines) + "\n")
    return destination


def _tags(plan: Plan) -> list[str]:
    """Copied H.264 says BT.709 in its own parameter sets, as an encoded one does:
    a copy is only chosen for BT.709 limited-range sources, many of which are
    untagged (players then guess, and guess differently)."""
    if plan.encoder.video_codec != "libx264":
        return []
    return [
        "-bsf:v",
        "h264_metadata=colour_primaries=1:transfer_characteristics=1:"
        "matrix_coefficients=1:video_full_range_flag=0",
    ]


def join(
    plan: Plan,
    items: list[ConcatItem],
    soundtrack: Path,
    destination: Path,
    on_fraction: Callable[[float], None] | None = None,
) -> Path:
    """Lay ``items`` end to end and add ``soundtrack``: both copied, nothing re-encoded."""
    listing = write_list(items, destination.with_name(destination.name + ".ffconcat"))
    try:
        ffmpeg.run(
            [
                "-f",
                "concat",
                "-safe",
                "0",
                "-i",
                str(listing),
                "-i",
                str(soundtrack),
                "-map",
                "0:v:0",
                "-map",
                "1:a:0",
                "-c",
                "copy",
                *_tags(plan),
                # A timecode track (tmcd) editors and ffmpeg read back.
                *(["-timecode", plan.output.start_timecode] if plan.output.start_timecode else []),
                "-movflags",
                "+faststart",
                "-f",
                "mov" if plan.output.output_format == "mov" else "mp4",
                str(destination),
            ],
            duration=plan.duration,
            on_fraction=on_fraction,
            what="joining the segments",
        )
    finally:
        listing.unlink(missing_ok=True)
    return destination
