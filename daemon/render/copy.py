"""The copy strategy's input: each shot's own packets, between its trims.

The picture's own clock governs: a piece whose picture starts after its sound
(an edit list, a B-frame delay, a cut off a longer file) enters at its first
picture frame, and lasts exactly its planned frames, however long its sound runs.
"""

from __future__ import annotations

from .join import ConcatItem
from .model import Segment


def copied(seg: Segment) -> ConcatItem:
    info = seg.info
    # The concat demuxer's points are on the file's own clock.
    inpoint = seg.start + info.start_time
    length = float(seg.frames / info.frame_rate)
    return ConcatItem(
        seg.source,
        inpoint=inpoint if inpoint > 0 else None,
        outpoint=inpoint + length,
        duration=length,
        stream_id=info.video_stream_id,
    )
