"""Render stage: carry out the plan's strategy, writing one file.

``copy`` and ``normalize`` are ffmpeg's work (segments from the cache or freshly
normalized, joined without re-encoding, one soundtrack); ``moviepy`` composes every
frame in Python (:mod:`daemon.compose`, imported only when used: MoviePy alone
takes longer to import than a stream-copy join takes to run).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .cache import SegmentCache, cache_dir_for
from .errors import RenderError
from .join import Part, join
from .normalize import normalize
from .plan import Plan, Segment
from .progress import Progress
from .settings import Settings

# The segments' share of the render bar; the join (with the soundtrack) has the rest.
_SEGMENT_SHARE = {"normalize": 0.88, "copy": 0.0}


def render(
    plan: Plan,
    destination: Path,
    progress: Progress,
    settings: Settings,
    check_cancel: Callable[[], None] | None = None,
) -> dict[str, int]:
    """Write ``plan`` to ``destination`` (a temporary name the caller cleans up).

    Returns how many segments were encoded, taken from the cache, or copied.
    """
    if plan.strategy == "moviepy":
        from .compose import compose

        compose(plan, destination, progress, settings, check_cancel)
        return {"encoded": len(plan.segments), "cached": 0, "copied": 0}
    share = _SEGMENT_SHARE[plan.strategy]
    stats = {"encoded": 0, "cached": 0, "copied": 0}
    if plan.strategy == "copy":
        parts = [_copied(seg) for seg in plan.segments]
        stats["copied"] = len(parts)
    else:
        cache = SegmentCache(
            cache_dir_for(destination.parent.parent, settings), settings.cache_max_bytes
        )
        parts = segments(
            plan, cache, lambda f: progress.within("render", share * f), check_cancel, stats
        )
    join(
        plan,
        parts,
        destination,
        lambda f: progress.within("render", share + (1 - share) * f),
        check_cancel,
    )
    return stats


def _copied(seg: Segment) -> Part:
    # The concat demuxer's in and out points are on the file's own clock.
    half_frame = float(1 / seg.source_rate) / 2
    trimmed_out = seg.end < seg.source_duration - half_frame
    return Part(
        seg.source,
        inpoint=seg.start + seg.source_start if seg.start > 0 else None,
        outpoint=seg.end + seg.source_start if trimmed_out else None,
        stream_id=seg.stream_id,
    )


def segments(
    plan: Plan,
    cache: SegmentCache,
    on_fraction: Callable[[float], None],
    check_cancel: Callable[[], None] | None = None,
    stats: dict[str, int] | None = None,
) -> list[Part]:
    """Every segment normalized, from the cache where it can be; encodes the rest."""
    stats = stats if stats is not None else {}
    ext = plan.output.output_format
    keys = [cache.key(seg, plan) for seg in plan.segments]
    hits = [cache.lookup(key, ext) for key in keys]
    total = sum(seg.frames for seg, hit in zip(plan.segments, hits, strict=True) if not hit) or 1
    done = 0
    parts = []
    for seg, key, hit in zip(plan.segments, keys, hits, strict=True):
        if hit is None:

            def report(fraction: float, before: int = done, frames: int = seg.frames) -> None:
                on_fraction((before + fraction * frames) / total)

            hit = encode_segment(seg, plan, cache, key, report, check_cancel)
            done += seg.frames
            stats["encoded"] = stats.get("encoded", 0) + 1
        else:
            stats["cached"] = stats.get("cached", 0) + 1
        parts.append(Part(hit))
    on_fraction(1.0)
    return parts


def encode_segment(
    seg: Segment,
    plan: Plan,
    cache: SegmentCache,
    key: str,
    on_fraction: Callable[[float], None] | None = None,
    check_cancel: Callable[[], None] | None = None,
) -> Path:
    """Normalize one segment into the cache (atomically) and return its path."""
    ext = plan.output.output_format
    temp = cache.temp_path(key, ext)
    try:
        normalize(seg, plan, temp, on_fraction, check_cancel)
    except RenderError as exc:
        temp.unlink(missing_ok=True)
        raise RenderError(exc.reason, shot_index=seg.shot_index, path=str(seg.source)) from exc
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return cache.store(temp, key, ext)
