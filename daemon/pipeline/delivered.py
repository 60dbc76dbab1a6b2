"""One output of a run as it went out: the published file and what was checked and made."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..render.model import Plan, SegmentStats
from .pictures import Pictures
from .verify import OutputReport


@dataclass(frozen=True)
class Delivered:
    export: Path
    report: OutputReport
    plan: Plan
    segments: SegmentStats
    #: Its poster, contact sheet and shot thumbnails (None if they could not be made).
    pictures: Pictures | None = None
    #: The cut as rendered, as OpenTimelineIO (timeline requests).
    timeline: Path | None = None
