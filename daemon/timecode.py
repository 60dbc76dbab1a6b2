"""SMPTE timecode: labels to frame counts and back, exactly, and a file's start timecode.

A timecode is a *label* on a frame: ``01:00:00:00`` at 24 fps is frame 86400 of
the clock. At the NTSC rates 29.97 and 59.94 the label runs at 30 (or 60) labels a
second while the picture runs at 30000/1001 (or 60000/1001) frames a second, so
labels drift from the wall clock by 3.6 s an hour. Drop-frame timecode (written
with a ``;`` before the frames) skips the first 2 (or 4) labels of every minute
but every tenth, which keeps the label within a frame of the wall clock. Both
labellings count the same frames; the arithmetic below is integer-only, so no
frame is lost to floating point however long the clock has run.

Rules, as editing systems and FFmpeg write timecode:

- ``;`` (anywhere) marks drop-frame; ``:`` non-drop. At a rate that has no drop
  frame (24, 25, 30 ...) a ``;`` is read as non-drop: FFmpeg writes
  ``01:00:00;00`` on a 30 fps file when asked to, and it means frame 108000.
- At 23.976 the label counts 24 a second (non-drop only), at 29.97 non-drop 30.
- A label whose frames are not below the label rate (``00:00:00:24`` at 24) or
  that drop-frame skips (``00:01:00;00``) is an error, not silently moved.

A file's start timecode is read by :mod:`.media.timecode`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

LABEL = re.compile(r"^\s*(\d{1,2})[:;.](\d{2})[:;.](\d{2})([:;.,])(\d{2,3})\s*$")


class TimecodeError(ValueError):
    """A label that does not name a frame at the given rate."""


def label_rate(rate: Fraction) -> int:
    """How many labels a second the timecode counts: 24 at 23.976, 30 at 29.97."""
    return max(1, round(rate))


def has_drop_frame(rate: Fraction) -> bool:
    """29.97, 59.94 (and 119.88): the NTSC multiples of 30 that drop-frame exists for."""
    nominal = label_rate(rate)
    return rate.denominator == 1001 and nominal % 30 == 0


def _dropped_per_minute(rate: Fraction) -> int:
    return label_rate(rate) // 15  # 2 at 29.97, 4 at 59.94


@dataclass(frozen=True)
class Timecode:
    hours: int
    minutes: int
    seconds: int
    frames: int
    drop: bool = False

    @classmethod
    def parse(cls, text: str) -> Timecode:
        """``HH:MM:SS:FF``, ``HH:MM:SS;FF`` (drop-frame) or ``HH;MM;SS;FF``."""
        match = LABEL.match(text)
        if not match:
            raise TimecodeError(f"'{text}' is not a timecode (HH:MM:SS:FF)")
        hours, minutes, seconds, frames = (int(match[i]) for i in (1, 2, 3, 5))
        if minutes > 59 or seconds > 59:
            raise TimecodeError(f"'{text}' is not a timecode: minutes and seconds run to 59")
        return cls(hours, minutes, seconds, frames, drop=";" in text)

    def __str__(self) -> str:
        last = ";" if self.drop else ":"
        return f"{self.hours:02d}:{self.minutes:02d}:{self.seconds:02d}{last}{self.frames:02d}"

    def frame(self, rate: Fraction) -> int:
        """The frame this label names on a clock running at ``rate`` (from 00:00:00:00)."""
        nominal = label_rate(rate)
        if self.frames >= nominal:
            raise TimecodeError(
                f"'{self}' has frame {self.frames}; at {_rate_text(rate)} fps labels run "
                f"to {nominal - 1}"
            )
        minutes = self.hours * 60 + self.minutes
        count = (minutes * 60 + self.seconds) * nominal + self.frames
        if not (self.drop and has_drop_frame(rate)):
            return count
        dropped = _dropped_per_minute(rate)
        if self.seconds == 0 and self.frames < dropped and self.minutes % 10:
            raise TimecodeError(
                f"'{self}' does not exist in drop-frame timecode: frames 00 to "
                f"{dropped - 1:02d} are skipped at the start of every minute but every tenth"
            )
        return count - dropped * (minutes - minutes // 10)


def to_frame(label: str | Timecode, rate: Fraction) -> int:
    """``label`` (text or parsed) as a frame count at ``rate``."""
    timecode = Timecode.parse(label) if isinstance(label, str) else label
    return timecode.frame(rate)


def from_frame(frame: int, rate: Fraction, drop: bool | None = None) -> Timecode:
    """The label of ``frame`` at ``rate``; drop-frame by default where it exists.
    Negative frames and frames past 24 hours are errors (no silent wrap)."""
    if frame < 0:
        raise TimecodeError(f"frame {frame} is before 00:00:00:00")
    nominal = label_rate(rate)
    drop = has_drop_frame(rate) if drop is None else drop and has_drop_frame(rate)
    count = frame
    if drop:
        dropped = _dropped_per_minute(rate)
        per_ten = 600 * nominal - 9 * dropped
        per_minute = 60 * nominal - dropped
        tens, rest = divmod(frame, per_ten)
        count += 9 * dropped * tens
        if rest >= dropped:
            count += dropped * ((rest - dropped) // per_minute)
    seconds, frames = divmod(count, nominal)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours >= 24:
        raise TimecodeError(f"frame {frame} is past 24 hours at {_rate_text(rate)} fps")
    return Timecode(hours, minutes, seconds, frames, drop)


def _rate_text(rate: Fraction) -> str:
    return f"{float(rate):.3f}".rstrip("0").rstrip(".")
