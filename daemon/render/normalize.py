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

Several outputs of one picture size and rate (a master and a review copy) are
encoded together: each reader decodes its shot once and hands the picture to every
output's encoder, each drawing its own burn-ins (see :mod:`.picture`).
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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ..errors import RenderError
from ..lifecycle import process_tag
from ..media import ffmpeg
from ..settings import Settings
from .cache import SegmentCache
from .join import ConcatItem
from .model import Plan, Segment, SegmentStats
from .picture import BT709_TAGS, Look, reader_graph

#: The folder an encoder writes its segments into, in the cache: ".encode.<owner>.<random>".
ENCODE_PREFIX = ".encode."

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


class _Reader:
    """One segment's ffmpeg: decoded once, handing raw frames over to each output's
    pipe (stdout for the first, pipes of our own for the others)."""

    def __init__(self, looks: list[Look]) -> None:
        extra = [os.pipe() for _ in looks[1:]]
        outputs: list[str] = []
        for i, look in enumerate(looks):
            target = "pipe:1" if i == 0 else f"pipe:{extra[i - 1][1]}"
            outputs += ["-map", f"[v{i}]", "-frames:v", str(look.segment.frames)]
            outputs += ["-f", "rawvideo", "-pix_fmt", look.pix_fmt, target]
        cmd = ffmpeg.reader_cmd(*reader_graph(looks), *outputs)
        try:
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=[w for _, w in extra],
            )
        except BaseException:
            for r, _ in extra:
                os.close(r)
            raise
        finally:
            for _, w in extra:
                os.close(w)  # the child holds them now; ours would hide its end
        assert self.proc.stdout is not None
        self.pipes: list[IO[bytes]] = [self.proc.stdout]
        self.pipes += [os.fdopen(r, "rb", buffering=0) for r, _ in extra]
        for pipe in self.pipes:
            with contextlib.suppress(OSError):  # a bigger pipe is an optimisation only
                _set_pipe_size(pipe.fileno())

    def wait(self) -> int:
        for pipe in self.pipes:
            pipe.close()
        return self.proc.wait()

    def stop(self) -> None:
        _stop(self.proc)
        for pipe in self.pipes:
            if not pipe.closed:
                pipe.close()


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


@dataclass(frozen=True)
class Target:
    """One output of an encode: its plan, the segments to encode (in step with the
    other outputs'), and the cache that keeps them."""

    plan: Plan
    work: list[Work]
    cache: SegmentCache


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
    return encode_together([Target(plan, work, cache)], settings, on_fraction, timings)[0]


def encode_together(
    targets: list[Target],
    settings: Settings,
    on_fraction: Callable[[float], None] | None = None,
    timings: dict[str, float] | None = None,
) -> list[list[Path]]:
    """:func:`encode_segments` for several outputs of one picture size and rate at
    once: each segment is decoded and normalized once, and split to one encoder per
    output (its own format, burn-ins and slate)."""
    if not targets[0].work:
        return [[] for _ in targets]
    folders: list[Path] = []
    try:
        for target in targets:
            target.cache.folder.mkdir(parents=True, exist_ok=True)
            # Beside the entries (same filesystem: renamed into place), hidden, named
            # after its owner: the sweep removes a dead process's (queue/housekeeping.py).
            prefix = f"{ENCODE_PREFIX}{process_tag()}."
            folders.append(Path(tempfile.mkdtemp(prefix=prefix, dir=target.cache.folder)))
        encoders = [
            _Encoder(_encoder(t.plan, t.work, folder, settings), on_fraction if i == 0 else None)
            for i, (t, folder) in enumerate(zip(targets, folders, strict=True))
        ]
        _feed(targets, encoders, timings)
        return [_stored(t, folder) for t, folder in zip(targets, folders, strict=True)]
    finally:
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)


def _feed(
    targets: list[Target], encoders: list[_Encoder], timings: dict[str, float] | None
) -> None:
    """Every segment of the work through its reader into the encoders, in order; then
    the encoders finished (or, if anything failed, stopped)."""
    work = targets[0].work
    sizes = [frame_bytes(t.plan) for t in targets]
    total = sum(item.segment.frames for item in work) * sizes[0]
    # The other outputs' frames are moved on threads of their own, in step: the
    # reader writes a frame to each output in turn and would stall on a full pipe.
    pool = ThreadPoolExecutor(len(targets) - 1) if len(targets) > 1 else None
    readers = [_Reader(_looks(targets, 0))]
    failed = False
    try:
        delivered, began = 0, time.perf_counter()
        for index, item in enumerate(work):
            # The next reader opens its source while this one is still being read.
            if index + 1 < len(work):
                readers.append(_Reader(_looks(targets, index + 1)))
            report = lambda moved, done=delivered: encoders[0].progress((done + moved) / total)  # noqa: E731
            _pass(readers[index], item.segment, encoders, sizes, pool, report)
            delivered += item.segment.frames * sizes[0]
            if timings is not None:
                now = time.perf_counter()
                timings[f"segment {item.segment.shot_index + 1}"] = round(now - began, 3)
                began = now
    except BaseException:
        failed = True
        raise
    finally:
        for reader in readers:  # no reader outlives the render, whatever stopped it
            reader.stop()
        try:
            for encoder in encoders:
                encoder.finish(failed=failed)
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)


def _looks(targets: list[Target], index: int) -> list[Look]:
    return [Look(t.work[index].segment, t.plan, t.plan.encoder.pix_fmt) for t in targets]


def _pass(
    reader: _Reader,
    segment: Segment,
    encoders: list[_Encoder],
    sizes: list[int],
    pool: ThreadPoolExecutor | None,
    report: Callable[[int], None],
) -> None:
    """One segment's frames from its reader to every encoder; raises if any output
    got fewer than planned, or the reader failed."""
    want = [segment.frames * size for size in sizes]
    sides = (
        [
            pool.submit(_count, reader.pipes[i], encoders[i].stdin, want[i])
            for i in range(1, len(want))
        ]
        if pool is not None
        else []
    )
    moved = 0
    for moved in _move(reader.pipes[0], encoders[0].stdin, want[0]):
        report(moved)
    got = min(
        [moved // sizes[0], *(f.result() // s for f, s in zip(sides, sizes[1:], strict=True))]
    )
    code = reader.wait()
    if got < segment.frames or code != 0:
        reason = _last_line(reader.proc) or f"it gave {got} of {segment.frames} frames"
        raise RenderError(
            f"reading failed: {reason}", shot_index=segment.shot_index, path=segment.label
        )


def _stored(target: Target, folder: Path) -> list[Path]:
    """The encoder's files, one per segment, moved into the cache."""
    ext = target.plan.output.output_format
    files = sorted(folder.glob(f"*.{ext}"))
    if len(files) != len(target.work):
        raise RenderError(f"the encoder wrote {len(files)} segments for {len(target.work)} shots")
    return [
        target.cache.store(path, item.key, ext)
        for path, item in zip(files, target.work, strict=True)
    ]


def _count(source: IO[bytes], target: IO[bytes], count: int) -> int:
    """Move up to ``count`` bytes; how many were."""
    return max(_move(source, target, count), default=0)


class _Encoder:
    """The one encoder: an ffmpeg reading raw frames on stdin, reporting progress."""

    def __init__(self, args: list[str], on_fraction: Callable[[float], None] | None) -> None:
        self.on_fraction = on_fraction
        self.errors: list[str] = []
        self.proc = subprocess.Popen(
            [ffmpeg.binary(), "-hide_banner", "-nostats", "-loglevel", "error", "-y", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        assert self.proc.stdin is not None
        self.stdin: IO[bytes] = self.proc.stdin
        with contextlib.suppress(OSError):  # a bigger pipe is an optimisation only
            _set_pipe_size(self.stdin.fileno())
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
    plans: list[Plan],
    cache: SegmentCache,
    settings: Settings,
    on_fraction: Callable[[float], None],
    stats: list[SegmentStats],
) -> list[list[ConcatItem]]:
    """Every segment of each plan (outputs of one size and rate, whose segments line
    up) normalized, from the cache where it can be; encodes the rest together, each
    distinct segment once (a shot used twice with the same trims is one segment)."""
    keys = [[cache.key(seg, plan) for seg in plan.segments] for plan in plans]
    found = [
        {key: cache.lookup(key, plan.output.output_format) for key in plan_keys}
        for plan, plan_keys in zip(plans, keys, strict=True)
    ]
    chosen: dict[tuple[str, ...], int] = {}
    for position in range(len(plans[0].segments)):
        combo = tuple(plan_keys[position] for plan_keys in keys)
        missing = any(f[k] is None for f, k in zip(found, combo, strict=True))
        if missing and combo not in chosen:
            chosen[combo] = position
    targets = [
        Target(plan, [Work(plan.segments[p], keys[i][p]) for p in chosen.values()], cache)
        for i, plan in enumerate(plans)
    ]
    made = encode_together(targets, settings, on_fraction, stats[0].setdefault("timings", {}))
    encoded = set(chosen.values())
    for i, (target, paths) in enumerate(zip(targets, made, strict=True)):
        found[i].update(zip((w.key for w in target.work), paths, strict=True))
        stats[i]["encoded"] += len(chosen)
        stats[i]["cached"] += len(plans[i].segments) - len(chosen)
        stats[i]["made"] = [
            "encoded" if p in encoded else "cached" for p in range(len(plans[i].segments))
        ]
    on_fraction(1.0)
    # Each segment takes exactly its frames on the timeline, whatever its file says.
    return [
        [
            ConcatItem(path, duration=float(seg.frames / plan.output.frame_rate))
            for seg, key in zip(plan.segments, plan_keys, strict=True)
            if (path := f[key]) is not None
        ]
        for plan, plan_keys, f in zip(plans, keys, found, strict=True)
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
