"""Render stage: carry out the plan's strategy, writing one file.

``copy`` and ``normalize`` are ffmpeg's work (segments copied from the sources, or
normalized and cached, joined without re-encoding, with one soundtrack);
``moviepy`` composes every frame in Python (:mod:`.compose`, imported only when
used: MoviePy alone takes longer to import than a stream-copy join takes to run).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from ..settings import Settings
from .cache import SegmentCache, project_cache
from .copy import copied
from .join import ConcatItem, join
from .model import Plan, SegmentStats, Strategy
from .normalize import normalized
from .soundtrack import Soundtrack

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


def _cache(destination: Path, settings: Settings) -> SegmentCache:
    # destination is exports/.<name>.partial.<ext>: its project is two levels up.
    return project_cache(destination.parent.parent, settings)


def _copy(plan: Plan, destination: Path, on_fraction: Progress, settings: Settings) -> SegmentStats:
    sound = Soundtrack(plan, _cache(destination, settings))
    try:
        track = sound.result()
    except BaseException:
        sound.cancel()
        raise
    stats = SegmentStats(encoded=0, cached=0, copied=len(plan.segments), timings={})
    _join(
        plan, [copied(seg) for seg in plan.segments], sound, track, destination, on_fraction, stats
    )
    return stats


def _normalize(
    plan: Plan, destination: Path, on_fraction: Progress, settings: Settings
) -> SegmentStats:
    cache = _cache(destination, settings)
    stats = SegmentStats(encoded=0, cached=0, copied=0, timings={})
    # The sound is decoded and encoded on the side, while the picture is.
    sound = Soundtrack(plan, cache)
    try:
        items = normalized(plan, cache, settings, lambda f: on_fraction(SEGMENT_SHARE * f), stats)
        track = sound.result()
    except BaseException:
        sound.cancel()
        raise
    rest = 1 - SEGMENT_SHARE
    join_progress = lambda f: on_fraction(SEGMENT_SHARE + rest * f)  # noqa: E731
    _join(plan, items, sound, track, destination, join_progress, stats)
    return stats


def _moviepy(
    plan: Plan, destination: Path, on_fraction: Progress, settings: Settings
) -> SegmentStats:
    from .compose import compose

    sound = Soundtrack(plan, _cache(destination, settings))
    # The picture alone, beside the partial export (its name, so a cleanup finds it).
    picture = destination.with_name(f"{destination.name}.picture.{destination.suffix[1:]}")
    stats = SegmentStats(encoded=len(plan.segments), cached=0, copied=0, timings={})
    try:
        began = time.perf_counter()
        compose(plan, picture, lambda f: on_fraction(SEGMENT_SHARE * f), settings)
        stats["timings"]["picture"] = round(time.perf_counter() - began, 3)
        track = sound.result()
        rest = 1 - SEGMENT_SHARE
        item = ConcatItem(picture, duration=plan.duration)
        progress = lambda f: on_fraction(SEGMENT_SHARE + rest * f)  # noqa: E731
        _join(plan, [item], sound, track, destination, progress, stats)
    except BaseException:
        sound.cancel()
        raise
    finally:
        picture.unlink(missing_ok=True)
    return stats


def _join(
    plan: Plan,
    items: list[ConcatItem],
    sound: Soundtrack,
    track: Path,
    destination: Path,
    on_fraction: Progress,
    stats: SegmentStats,
) -> None:
    began = time.perf_counter()
    join(plan, items, track, destination, on_fraction)
    timings = stats.setdefault("timings", {})
    timings["soundtrack"] = round(sound.seconds, 3)
    timings["join"] = round(time.perf_counter() - began, 3)


STRATEGIES: dict[Strategy, Renderer] = {"copy": _copy, "normalize": _normalize, "moviepy": _moviepy}
