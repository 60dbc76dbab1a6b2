"""Render stage: carry out the plan's strategy, writing one file.

``copy`` and ``normalize`` are ffmpeg's work (segments copied from the sources, or
normalized and cached, joined without re-encoding, with one soundtrack);
``moviepy`` composes every frame in Python (:mod:`.compose`, imported only when
used: MoviePy alone takes longer to import than a stream-copy join takes to run).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..settings import Settings
from .cache import SegmentCache, cache_dir_for
from .copy import copied
from .join import join
from .model import Plan, SegmentStats, Strategy
from .normalize import normalized

Progress = Callable[[float], None]
Renderer = Callable[[Plan, Path, Progress, Settings], SegmentStats]

#: The segments' share of the render's progress; the join (with the soundtrack) has the rest.
SEGMENT_SHARE = 0.88


def render(
    plan: Plan, destination: Path, on_fraction: Progress, settings: Settings
) -> SegmentStats:
    """Write ``plan`` to ``destination`` (a temporary name the caller cleans up).

    Returns how many segments were encoded, taken from the cache, or copied.
    """
    return STRATEGIES[plan.strategy](plan, destination, on_fraction, settings)


def _copy(plan: Plan, destination: Path, on_fraction: Progress, settings: Settings) -> SegmentStats:
    join(plan, [copied(seg) for seg in plan.segments], destination, on_fraction)
    return SegmentStats(encoded=0, cached=0, copied=len(plan.segments))


def _normalize(
    plan: Plan, destination: Path, on_fraction: Progress, settings: Settings
) -> SegmentStats:
    # destination is exports/.<name>.partial.<ext>: its project is two levels up.
    cache = SegmentCache(
        cache_dir_for(destination.parent.parent, settings), settings.cache_max_bytes
    )
    stats = SegmentStats(encoded=0, cached=0, copied=0)
    items = normalized(plan, cache, lambda f: on_fraction(SEGMENT_SHARE * f), stats)
    join(plan, items, destination, lambda f: on_fraction(SEGMENT_SHARE + (1 - SEGMENT_SHARE) * f))
    return stats


def _moviepy(
    plan: Plan, destination: Path, on_fraction: Progress, settings: Settings
) -> SegmentStats:
    from .compose import compose

    compose(plan, destination, on_fraction, settings)
    return SegmentStats(encoded=len(plan.segments), cached=0, copied=0)


STRATEGIES: dict[Strategy, Renderer] = {"copy": _copy, "normalize": _normalize, "moviepy": _moviepy}
