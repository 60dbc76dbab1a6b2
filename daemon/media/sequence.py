"""Numbered image sequences: ``plates/sh010.%04d.dpx`` and the files behind it.

A sequence is named printf-style, the way FFmpeg and most pipelines write it. Its
frames are the files in that folder whose names match, numbered without gaps: a
missing frame is an error naming every missing number, never a silent jump.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

_PLACEHOLDER = re.compile(r"%(0?)(\d*)d")
#: Scene-linear, colour-managed formats: reading them without an OCIO transform would
#: give wrong colours, so they are refused rather than guessed at.
UNMANAGED_SUFFIXES = frozenset({".exr", ".hdr"})


def is_sequence(path: str) -> bool:
    return len(_PLACEHOLDER.findall(Path(path).name)) == 1 and "%" not in str(Path(path).parent)


@dataclass(frozen=True)
class Frames:
    first: int
    last: int
    missing: list[int]

    @property
    def count(self) -> int:
        return self.last - self.first + 1


def _regex(name: str) -> tuple[re.Pattern[str], str]:
    match = _PLACEHOLDER.search(name)
    assert match is not None
    before, after = name[: match.start()], name[match.end() :]
    return re.compile(re.escape(before) + r"(\d+)" + re.escape(after) + r"\Z"), match[0]


def find_frames(pattern: Path) -> Frames | None:
    """The frame numbers present for ``pattern``; None if there is none at all."""
    regex, placeholder = _regex(pattern.name)
    numbers = []
    try:
        with os.scandir(pattern.parent) as entries:
            for entry in entries:
                match = regex.match(entry.name)
                # Only names FFmpeg would read: %04d is 0007, not 007 or 00007.
                if match and placeholder % int(match[1]) == match[1] and entry.is_file():
                    numbers.append(int(match[1]))
    except (FileNotFoundError, NotADirectoryError):
        return None
    if not numbers:
        return None
    numbers.sort()
    present = set(numbers)
    missing = [n for n in range(numbers[0], numbers[-1] + 1) if n not in present]
    return Frames(numbers[0], numbers[-1], missing)


def frame_path(pattern: Path, number: int) -> Path:
    match = _PLACEHOLDER.search(pattern.name)
    assert match is not None
    return pattern.with_name(
        pattern.name[: match.start()] + (match[0] % number) + pattern.name[match.end() :]
    )


def describe_missing(numbers: list[int], most: int = 20) -> str:
    """``[1004, 1005, 1006, 1010]`` → ``1004-1006, 1010``."""
    runs: list[tuple[int, int]] = []
    for n in numbers:
        if runs and n == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], n)
        else:
            runs.append((n, n))
    text = [f"{a}-{b}" if b > a else str(a) for a, b in runs[:most]]
    if len(runs) > most:
        text.append(f"and {len(runs) - most} more gaps")
    return ", ".join(text)
