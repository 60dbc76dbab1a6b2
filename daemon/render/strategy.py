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
from .soundtrack import Soundtrack, soundtrack_key

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
    return render_all([plan], [destination], on_fraction, settings)[0]


def render_all(
    plans: list[Plan], destinations: list[Path], on_fraction: Progress, settings: Settings
) -> list[SegmentStats]:
    """Write each plan (the outputs of one request) to its destination.

    Normalized outputs of one picture size and rate are made together, from one
    decode of each shot; the others one after the other."""
    stats: list[SegmentStats | None] = [None] * len(plans)
    done = 0.0
    for group in _shared(plans):
        share = len(group) / len(plans)
        part = lambda f, d=done, s=share: on_fraction(d + s * f)  # noqa: E731
        if len(group) > 1:
            made = _normalize_together(
                [plans[i] for i in group], [destinations[i] for i in group], part, settings
            )
        else:
            (i,) = group
            made = [STRATEGIES[plans[i].strategy](plans[i], destinations[i], part, settings)]
        for i, one in zip(group, made, strict=True):
            stats[i] = one
        done += share
    return [one for one in stats if one is not None]


def _shared(plans: list[Plan]) -> list[list[int]]:
    """Which plans are rendered together (by index), in order."""
    groups: dict[object, list[int]] = {}
    for i, plan in enumerate(plans):
        together = plan.strategy == "normalize"
        key = (plan.output.size, plan.output.frame_rate) if together else ("alone", i)
        groups.setdefault(key, []).append(i)
    return list(groups.values())


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
    stats["made"] = ["copied"] * len(plan.segments)
    _join(
        plan, [copied(seg) for seg in plan.segments], sound, track, destination, on_fraction, stats
    )
    return stats


def _normalize(
    plan: Plan, destination: Path, on_fraction: Progress, settings: Settings
) -> SegmentStats:
    return _normalize_together([plan], [destination], on_fraction, settings)[0]


def _normalize_together(
    plans: list[Plan], destinations: list[Path], on_fraction: Progress, settings: Settings
) -> list[SegmentStats]:
    cache = _cache(destinations[0], settings)
    stats = [SegmentStats(encoded=0, cached=0, copied=0, timings={}) for _ in plans]
    # The sound is decoded and encoded on the side, while the picture is; outputs
    # with the same sound settings share one soundtrack.
    # Keyed once: a key reads the sources' fingerprints, which may change meanwhile
    # (that is caught before publishing, not here).
    keys = [soundtrack_key(plan, cache.base) for plan in plans]
    sounds: dict[str, Soundtrack] = {}
    for plan, key in zip(plans, keys, strict=True):
        if key not in sounds:
            sounds[key] = Soundtrack(plan, cache, key)
    try:
        items = normalized(plans, cache, settings, lambda f: on_fraction(SEGMENT_SHARE * f), stats)
        tracks = {key: sound.result() for key, sound in sounds.items()}
    except BaseException:
        for sound in sounds.values():
            sound.cancel()
        raise
    rest = (1 - SEGMENT_SHARE) / len(plans)
    for i, (plan, destination, key) in enumerate(zip(plans, destinations, keys, strict=True)):
        at = SEGMENT_SHARE + rest * i
        join_progress = lambda f, at=at: on_fraction(at + rest * f)  # noqa: E731
        _join(plan, items[i], sounds[key], tracks[key], destination, join_progress, stats[i])
    return stats


def _moviepy(
    plan: Plan, destination: Path, on_fraction: Progress, settings: Settings
) -> SegmentStats:
    from .compose import compose

    sound = Soundtrack(plan, _cache(destination, settings))
    # The picture alone, beside the partial export (its name, so a cleanup finds it).
    picture = destination.with_name(f"{destination.name}.picture.{destination.suffix[1:]}")
    stats = SegmentStats(encoded=len(plan.segments), cached=0, copied=0, timings={})
    stats["made"] = ["encoded"] * len(plan.segments)
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
