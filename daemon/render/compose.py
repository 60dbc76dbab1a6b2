"""The MoviePy strategy: compose every frame in Python, encode with ffmpeg.

Slowest, but the place for frame-level work. Requested with ``"engine": "moviepy"``.
Its frames come from the same picture chain as normalize's (:mod:`.timeline`), and
its sound is the same soundtrack as the other strategies' (:mod:`.soundtrack`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import proglog
import psutil

from ..errors import AssemblyError, RenderError
from ..settings import Settings
from .model import Plan
from .picture import BT709_TAGS
from .timeline import Timeline

log = logging.getLogger(__name__)


def encoder_params(plan: Plan) -> list[str]:
    """ffmpeg output options MoviePy has no parameter for."""
    rate = plan.output.frame_rate
    exact = f"{rate.numerator}/{rate.denominator}"
    return [
        # MoviePy declares its raw input at "%.02f" fps (23.98 for 23.976). Number
        # the frames ourselves at the exact rate so the output is true CFR at
        # 24000/1001 and not a rate ffmpeg has to drop or duplicate frames for.
        # MoviePy hands over RGB frames: they become BT.709 limited range here, tagged
        # as such (left to itself, FFmpeg would use BT.601 and tag nothing).
        "-vf",
        f"setpts=N/({exact})/TB,scale=out_color_matrix=bt709:out_range=tv"
        f":flags=accurate_rnd+full_chroma_int,format={plan.encoder.pix_fmt},{BT709_TAGS}",
        "-r",
        exact,
        "-pix_fmt",
        plan.encoder.pix_fmt,
        *plan.encoder.extra,
    ]


def compose(
    plan: Plan,
    destination: Path,
    on_fraction: Callable[[float], None],
    settings: Settings,
) -> None:
    """Write ``plan``'s picture (no sound) to ``destination``. On failure,
    ``destination`` may hold junk: the caller owns it (a temporary name) and removes it."""
    enc = plan.encoder
    timeline = Timeline(plan)
    already_running = _ffmpeg_children()
    try:
        clip = timeline.clip()
        try:
            clip.write_videofile(
                str(destination),
                fps=float(plan.output.frame_rate),
                codec=enc.video_codec,
                bitrate=enc.bitrate,
                preset=enc.x264_preset or "medium",
                audio=False,
                threads=settings.ffmpeg_threads or None,
                ffmpeg_params=encoder_params(plan),
                logger=MoviePyBars(on_fraction),
            )
        finally:
            clip.close()
    except AssemblyError as exc:
        if exc.shot_index is None:
            exc.shot_index, exc.path = timeline.current_shot, _label(plan, timeline.current_shot)
        raise
    except Exception as exc:
        log.debug("render failed", exc_info=True)
        raise RenderError(
            f"rendering failed while reading this shot: {_first_line(exc)}",
            shot_index=timeline.current_shot,
            path=_label(plan, timeline.current_shot),
        ) from exc
    finally:
        timeline.close()
        _reap(_writers_of(destination, _ffmpeg_children() - already_running))


def _label(plan: Plan, shot_index: int) -> str:
    return next((s.label for s in plan.segments if s.shot_index == shot_index), "")


def _ffmpeg_children() -> set[psutil.Process]:
    found = set()
    for child in psutil.Process().children(recursive=True):
        try:
            if "ffmpeg" in child.name():
                found.add(child)
        except psutil.Error:
            continue
    return found


def _writers_of(destination: Path, found: set[psutil.Process]) -> set[psutil.Process]:
    """The ones writing ``destination``: MoviePy's. The soundtrack's ffmpeg runs
    alongside in this same process, and must be left to finish."""
    writers = set()
    for proc in found:
        try:
            if str(destination) in proc.cmdline():
                writers.add(proc)
        except psutil.Error:
            continue
    return writers


def _reap(strays: set[psutil.Process]) -> None:
    """Stop and reap ffmpeg processes MoviePy left running.

    MoviePy does not close its audio writer when a chunk fails, so after an error
    (or a cancel) the encoder would wait on its pipe until garbage collection.
    Only MoviePy's writer is stopped here (see :func:`_writers_of`); the frame
    readers are closed by the timeline, the soundtrack by the strategy.
    """
    for proc in strays:
        try:
            proc.terminate()
        except psutil.Error:
            continue
    _, alive = psutil.wait_procs(strays, timeout=5)
    for proc in alive:
        try:
            proc.kill()
        except psutil.Error:
            continue
    psutil.wait_procs(alive, timeout=5)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    lines = [ln for ln in text.splitlines() if ln.strip()]
    # ffmpeg's own complaint is usually the last line of MoviePy's message.
    return lines[-1] if len(lines) > 1 else lines[0]


class MoviePyBars(proglog.ProgressBarLogger):  # type: ignore[misc]
    """MoviePy's frame bar as a fraction of the picture's render."""

    def __init__(self, on_fraction: Callable[[float], None]) -> None:
        super().__init__()
        self._on_fraction = on_fraction

    def bars_callback(self, bar: str, attr: str, value: Any, old_value: Any = None) -> None:
        if attr != "index":
            return
        if bar == "frame_index":
            total = self.bars[bar].get("total") or 1
            self._on_fraction(min((value + 1) / total, 1.0))
