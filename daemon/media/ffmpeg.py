"""Running the bundled ffmpeg: progress, and a clear error when it fails.

Progress comes from ffmpeg's machine-readable ``-progress`` stream (key=value lines),
not from parsing its human log. The process is always waited for, after a failure
or an interruption too, so no ffmpeg outlives the stage that started it. (A job is
canceled by killing its work horse's process group, ffmpeg included.)
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
from collections.abc import Callable, Sequence
from functools import cache
from typing import IO

from ..errors import RenderError


@cache
def binary() -> str:
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


@cache
def version() -> str:
    """ffmpeg's version line: part of every cache key, since encoders change."""
    out = subprocess.run([binary(), "-version"], capture_output=True, text=True, check=True)
    return out.stdout.splitlines()[0]


def reader_cmd(*args: str) -> list[str]:
    """An ffmpeg that only writes frames to a pipe of ours: no stdin, errors only."""
    return [binary(), "-nostdin", "-hide_banner", "-loglevel", "error", *args]


def run(
    args: Sequence[str],
    *,
    duration: float | None = None,
    on_fraction: Callable[[float], None] | None = None,
    what: str = "ffmpeg",
    feed: Callable[[IO[bytes]], None] | None = None,
    loglevel: str = "error",
) -> list[str]:
    """Run ffmpeg with ``args``; report ``0..1`` of ``duration`` seconds of output.

    ``feed``, if given, writes ffmpeg's standard input (``pipe:0``) on its own
    thread, so that producing the input and encoding it overlap. Returns what ffmpeg
    logged (at ``loglevel``: measuring filters print their results at "info").
    """
    cmd = [
        binary(),
        "-hide_banner",
        "-nostats",
        "-loglevel",
        loglevel,
        "-y",
        "-progress",
        "pipe:1",
        "-stats_period",
        "0.25",
        *args,
    ]
    if feed is None:
        cmd.insert(1, "-nostdin")
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.PIPE if feed else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    errors: list[str] = []
    # stderr is drained on its own thread: a chatty ffmpeg must never block on a full pipe.
    reader = threading.Thread(
        target=lambda: errors.extend(ln.decode(errors="replace") for ln in proc.stderr or []),
        daemon=True,
    )
    reader.start()
    feeder = _Feeder(feed, proc.stdin) if feed and proc.stdin else None
    try:
        for raw in proc.stdout or []:
            key, _, value = raw.decode(errors="replace").strip().partition("=")
            if key == "out_time_us" and duration and on_fraction and value.isdigit():
                on_fraction(min(int(value) / 1e6 / duration, 1.0))
        code = proc.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        reader.join(timeout=5)
        if feeder:
            feeder.join(timeout=30)
    if feeder and feeder.error:
        raise feeder.error
    if code != 0:
        detail = next((e.strip() for e in reversed(errors) if e.strip()), f"exit status {code}")
        raise RenderError(f"{what} failed: {detail}")
    return errors


class _Feeder(threading.Thread):
    """Writes ffmpeg's stdin; keeps the producer's exception for the caller."""

    def __init__(self, feed: Callable[[IO[bytes]], None], pipe: IO[bytes]) -> None:
        super().__init__(daemon=True)
        self.feed, self.pipe = feed, pipe
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            self.feed(self.pipe)
        except BrokenPipeError:
            pass  # ffmpeg stopped reading: its own error says why
        except BaseException as exc:
            self.error = exc
        finally:
            with contextlib.suppress(OSError):
                self.pipe.close()
