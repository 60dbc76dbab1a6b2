"""The copy strategy's input: each shot's own packets, between its trims."""

from __future__ import annotations

from .join import ConcatItem
from .model import Segment


def copied(seg: Segment) -> ConcatItem:
    # The concat demuxer's in and out points are on the file's own clock.
    half_frame = float(1 / seg.source_rate) / 2
    trimmed_out = seg.end < seg.source_duration - half_frame
    return ConcatItem(
        seg.source,
        inpoint=seg.start + seg.source_start if seg.start > 0 else None,
        outpoint=seg.end + seg.source_start if trimmed_out else None,
        stream_id=seg.stream_id,
    )
