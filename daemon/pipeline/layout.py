"""Where a shot's picture sits in the frame and which of its sound is heard: the
planning rules every kind of request (shots, timelines) shares."""

from __future__ import annotations

from fractions import Fraction
from typing import Literal

from ..media.info import MediaInfo


def fit_inside(src: tuple[Fraction, Fraction], canvas: tuple[int, int]) -> tuple[int, int]:
    """The largest even size with ``src``'s aspect ratio that fits in ``canvas``.

    ``src`` is the displayed size (stored size times pixel shape, turned), exact; it is
    rounded once, to even numbers (4:2:0 needs them), so the picture's shape is off
    by at most a pixel, never stretched.
    """
    (sw, sh), (cw, ch) = src, canvas
    scale = min(Fraction(cw) / sw, Fraction(ch) / sh)
    width = min(cw, max(2, round(sw * scale / 2) * 2))
    height = min(ch, max(2, round(sh * scale / 2) * 2))
    return width, height


def audio_streams(info: MediaInfo, choice: Literal["mute"] | list[int] | None) -> tuple[int, ...]:
    """Which of the source's audio streams the soundtrack mixes.

    By default the first stream with two or more channels (5.1 and 7.1 are
    downmixed to stereo); a file with only mono streams, as cameras record them, gets
    all of them mixed. A shot may say ``"mute"`` or list the streams itself.
    """
    if choice == "mute":
        return ()
    if choice is not None:
        return tuple(choice)
    wide = [track.number for track in info.audio if track.channels >= 2]
    return (wide[0],) if wide else tuple(track.number for track in info.audio)


def centred(fit: tuple[int, int], canvas: tuple[int, int]) -> tuple[int, int]:
    """Where a picture of size ``fit`` sits in ``canvas``: centred, on even pixels (4:2:0
    chroma cannot start a picture on an odd one)."""
    return (canvas[0] - fit[0]) // 4 * 2, (canvas[1] - fit[1]) // 4 * 2
