"""Normalize: shots re-encoded to exactly the output's picture format, one encoder for all.

Each shot to encode is read by its own ffmpeg, which runs it through
:mod:`.picture` (fields, rate, orientation, HDR, size and colour, canvas) and hands
over raw frames, exactly as many as the plan says. The readers take turns, one after
another, writing into **one** encoder, whose frames are cut into one file per shot:
an IDR frame is forced at every shot boundary and the segment muxer splits there.

One encoder for the whole cut keeps x264's look-ahead and rate control running
across the cuts, as a single plain ffmpeg re-encode would, instead of filling and
draining them once per shot; every file still holds one shot, which the
:mod:`.cache` keeps, so a re-assembly encodes only what changed. The encoder's
settings are the same whatever it encodes, so its parameter sets are too: a shot
encoded later joins the cached ones.

The kernel moves the frames from a reader's pipe to the encoder's (``splice``), and
the next reader starts while the previous one finishes, so the encoder never waits
on a process start. Segments carry no audio: the soundtrack is made once for the
whole timeline (see :mod:`.soundtrack`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ..errors import RenderError
from ..media import ffmpeg
from ..settings import Settings
from .cache import SegmentCache
from .join import ConcatItem
from .model import Plan, Segment, SegmentStats
from .picture import BT709_TAGS, reader_args

#: Bytes per pixel of the raw frames passed from readers to the encoder.
_BYTES_PER_PIXEL = {"yuv420p": 1.5, "yuv422p10le": 4.0}
_PIPE_SIZE = 1 << 20  # F_SETPIPE_SZ: fewer, larger moves
_F_SETPIPE_SZ = 1031


def encoder_args(plan: Plan, settings: Settings) -> list[str]:
    enc = plan.encoder
    args = ["-c:v", enc.video_codec, "-pix_fmt", enc.pix_fmt]
    if enc.x264_preset:
        args += ["-preset", enc.x264_preset]
    if enc.bitrate:
        args += ["-b:v", enc.bitrate]
    if settings.ffmpeg_threads:
        args += ["-threads", str(settings.ffmpeg_threads)]
    return args + [a for a in enc.extra if a not in ("+faststart", "-movflags")]


@dataclass(frozen=True)
class Work:
    segment: Segment
    key: str


def frame_bytes(plan: Plan) -> int:
    width, height = plan.output.size
    return int(width * height * _BYTES_PER_PIXEL[plan.encoder.pix_fmt])


def _reader(seg: Segment, plan: Plan) -> subprocess.Popen[bytes]:
    cmd = [
        ffmpeg.binary(),
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        *reader_args(seg, plan, plan.encoder.pix_fmt),
        "-f",
        "rawvideo",
        "-pix_fmt",
        plan.encoder.pix_fmt,
        "pipe:1",
    ]
    proc = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    if proc.stdout is not None:
        with contextlib.suppress(OSError):  # a bigger pipe is an optimisation only
            _set_pipe_size(proc.stdout.fileno())
    return proc


def _set_pipe_size(fd: int) -> None:
    import fcntl

    fcntl.fcntl(fd, _F_SETPIPE_SZ, _PIPE_SIZE)


def _move(source: IO[bytes], target: IO[bytes], count: int) -> Iterator[int]:
    """Move up to ``count`` bytes from one pipe to the other; yields bytes moved so far."""
    moved = 0
    src, dst = source.fileno(), target.fileno()
    while moved < count:
        try:
            step = os.splice(src, dst, min(count - moved, _PIPE_SIZE))
        except OSError:  # no splice here (not Linux, or not pipes): copy through us
            data = os.read(src, min(count - moved, _PIPE_SIZE))
            step = os.write(dst, data) if data else 0
        if step == 0:
            return
        moved += step
        yield moved


def _encoder(plan: Plan, work: list[Work], folder: Path, settings: Settings) -> list[str]:
    width, height = plan.output.size
    rate = plan.output.frame_rate
    # Frame numbers where each segment after the first begins.
    starts = []
    total = 0
    for item in work[:-1]:
        total += item.segment.frames
        starts.append(total)
    ext = plan.output.output_format
    split = (
        [
            "-force_key_frames",
            "expr:" + "+".join(f"eq(n,{n})" for n in starts),
            "-f",
            "segment",
            "-segment_frames",
            ",".join(map(str, starts)),
            "-reset_timestamps",
            "1",
        ]
        if starts
        else ["-f", "segment", "-segment_time", "99999999"]
    )
    return [
        "-f",
        "rawvideo",
        "-pix_fmt",
        plan.encoder.pix_fmt,
        "-s",
        f"{width}x{height}",
        "-framerate",
        f"{rate.numerator}/{rate.denominator}",
        "-i",
        "pipe:0",
        # Raw frames carry no colour tags: say what the readers made.
        "-vf",
        BT709_TAGS,
        *encoder_args(plan, settings),
        *split,
        "-segment_format",
        "mov" if ext == "mov" else "mp4",
        str(folder / f"%06d.{ext}"),
    ]


def encode_segments(
    plan: Plan,
    work: list[Work],
    cache: SegmentCache,
    settings: Settings,
    on_fraction: Callable[[float], None] | None = None,
    timings: dict[str, float] | None = None,
) -> list[Path]:
    """Encode every segment of ``work`` with one encoder; store each in the cache.
    ``timings`` gets the seconds each segment took to pass through ("segment N")."""
    if not work:
        return []
    size = frame_bytes(plan)
    total = sum(item.segment.frames for item in work) * size
    ext = plan.output.output_format
    cache.folder.mkdir(parents=True, exist_ok=True)
    # Beside the entries (same filesystem: renamed into place), hidden and per process.
    folder = Path(tempfile.mkdtemp(prefix=f".encode.{os.getpid()}.", dir=cache.folder))
    failure: list[BaseException] = []
    try:
        encoder = _Encoder(_encoder(plan, work, folder, settings), plan, on_fraction)
        assert encoder.stdin is not None
        with contextlib.suppress(OSError):
            _set_pipe_size(encoder.stdin.fileno())
        delivered = 0
        readers = [_reader(work[0].segment, plan)]
        try:
            began = time.perf_counter()
            for index, item in enumerate(work):
                reader = readers[-1]
                # The next reader opens its source while this one is still being read.
                if index + 1 < len(work):
                    readers.append(_reader(work[index + 1].segment, plan))
                want = item.segment.frames * size
                moved = 0
                assert reader.stdout is not None
                for moved in _move(reader.stdout, encoder.stdin, want):
                    encoder.progress((delivered + moved) / total)
                reader.stdout.close()
                code = reader.wait()
                if moved < want:
                    reason = (
                        _last_line(reader)
                        or f"it gave {moved // size} of {item.segment.frames} frames"
                    )
                    raise RenderError(
                        f"reading failed: {reason}",
                        shot_index=item.segment.shot_index,
                        path=item.segment.label,
                    )
                if code != 0:
                    raise RenderError(
                        f"reading failed: {_last_line(reader)}",
                        shot_index=item.segment.shot_index,
                        path=item.segment.label,
                    )
                delivered += want
                if timings is not None:
                    now = time.perf_counter()
                    timings[f"segment {item.segment.shot_index + 1}"] = round(now - began, 3)
                    began = now
        except BaseException as exc:
            failure.append(exc)
            raise
        finally:
            for proc in readers:  # no reader outlives the render, whatever stopped it
                _stop(proc)
            encoder.finish(failed=bool(failure))
        files = sorted(folder.glob(f"*.{ext}"))
        if len(files) != len(work):
            raise RenderError(f"the encoder wrote {len(files)} segments for {len(work)} shots")
        return [cache.store(path, item.key, ext) for path, item in zip(files, work, strict=True)]
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class _Encoder:
    """The one encoder: an ffmpeg reading raw frames on stdin, reporting progress."""

    def __init__(
        self, args: list[str], plan: Plan, on_fraction: Callable[[float], None] | None
    ) -> None:
        self.on_fraction = on_fraction
        self.errors: list[str] = []
        self.proc = subprocess.Popen(
            [ffmpeg.binary(), "-hide_banner", "-nostats", "-loglevel", "error", "-y", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.stdin = self.proc.stdin
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        if self.proc.stderr is not None:
            self.errors.extend(ln.decode(errors="replace") for ln in self.proc.stderr)

    def progress(self, fraction: float) -> None:
        if self.on_fraction is not None:
            self.on_fraction(min(fraction, 1.0))

    def finish(self, failed: bool) -> None:
        """Close the input and wait; on failure, stop it at once."""
        if failed:
            self.proc.kill()
        with contextlib.suppress(OSError):
            if self.stdin is not None:
                self.stdin.close()
        code = self.proc.wait()
        self._reader.join(timeout=5)
        if not failed and code != 0:
            detail = next((e.strip() for e in reversed(self.errors) if e.strip()), f"exit {code}")
            raise RenderError(f"encoding the segments failed: {detail}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None and not pipe.closed:
            pipe.close()


def _last_line(proc: subprocess.Popen[bytes]) -> str:
    text = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def normalized(
    plan: Plan,
    cache: SegmentCache,
    settings: Settings,
    on_fraction: Callable[[float], None],
    stats: SegmentStats,
) -> list[ConcatItem]:
    """Every segment normalized, from the cache where it can be; encodes the rest (each
    distinct segment once: a shot used twice with the same trims is one segment)."""
    ext = plan.output.output_format
    keys = [cache.key(seg, plan) for seg in plan.segments]
    found = {key: cache.lookup(key, ext) for key in keys}
    work: dict[str, Work] = {}
    for seg, key in zip(plan.segments, keys, strict=True):
        if found[key] is None and key not in work:
            work[key] = Work(seg, key)
    timings = stats.setdefault("timings", {})
    made = encode_segments(plan, list(work.values()), cache, settings, on_fraction, timings)
    found.update(zip(work, made, strict=True))
    stats["encoded"] += len(work)
    stats["cached"] += len(plan.segments) - len(work)
    on_fraction(1.0)
    rate = plan.output.frame_rate
    # Each segment takes exactly its frames on the timeline, whatever its file says.
    return [
        ConcatItem(path, duration=float(seg.frames / rate))
        for seg, key in zip(plan.segments, keys, strict=True)
        if (path := found[key]) is not None
    ]


def encode_segment(
    seg: Segment,
    plan: Plan,
    cache: SegmentCache,
    key: str,
    settings: Settings,
    on_fraction: Callable[[float], None] | None = None,
) -> Path:
    """Normalize one segment into the cache (a fan-out part job's work)."""
    (path,) = encode_segments(plan, [Work(seg, key)], cache, settings, on_fraction)
    return path
