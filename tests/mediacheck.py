"""Independent checks of rendered files: decode them fully with PyAV and measure.

Tests use this rather than the product's own verify stage, so a bug there cannot
hide a bug in the render.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


@dataclass(frozen=True)
class Measured:
    video_codec: str
    audio_codec: str | None
    pix_fmt: str
    width: int
    height: int
    rate: Fraction
    frames: int
    sample_rate: int
    channels: int
    samples: int
    faststart: bool

    @property
    def video_duration(self) -> float:
        return float(self.frames / self.rate)

    @property
    def audio_duration(self) -> float:
        return self.samples / self.sample_rate if self.sample_rate else 0.0


def measure(path: Path) -> Measured:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        a = c.streams.audio[0] if c.streams.audio else None
        frames = sum(1 for _ in c.decode(v))
        info = (
            v.codec_context.name,
            v.codec_context.pix_fmt,
            v.codec_context.width,
            v.codec_context.height,
            Fraction(v.average_rate),
        )
    samples, rate, channels, acodec = 0, 0, 0, None
    if a is not None:
        with av.open(str(path)) as c:
            a = c.streams.audio[0]
            acodec, rate, channels = (
                a.codec_context.name,
                a.codec_context.sample_rate,
                a.codec_context.channels,
            )
            samples = sum(f.samples for f in c.decode(a))
    head = path.read_bytes()[:4096]
    faststart = head.find(b"moov") != -1 and (
        head.find(b"mdat") == -1 or head.find(b"moov") < head.find(b"mdat")
    )
    return Measured(
        info[0],
        acodec,
        info[1],
        info[2],
        info[3],
        info[4],
        frames,
        rate,
        channels,
        samples,
        faststart,
    )


def frame_rgb(path: Path, index: int) -> np.ndarray:
    with av.open(str(path)) as c:
        for i, frame in enumerate(c.decode(video=0)):
            if i == index:
                return frame.to_ndarray(format="rgb24")
    raise IndexError(index)


def audio_mono(path: Path) -> tuple[np.ndarray, int]:
    """The whole audio track as mono float samples, and its rate."""
    with av.open(str(path)) as c:
        stream = c.streams.audio[0]
        rate = stream.codec_context.sample_rate
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        chunks = [
            out.to_ndarray().reshape(-1)
            for frame in c.decode(stream)
            for out in resampler.resample(frame)
        ]
        chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    return np.concatenate(chunks).astype(np.float64), rate


def dominant_hz(samples: np.ndarray, rate: int) -> float:
    if len(samples) < 256 or np.sqrt(np.mean(samples**2)) < 1e-4:
        return 0.0
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))])


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples**2))) if len(samples) else 0.0


def frames_rgb(path: Path) -> list[np.ndarray]:
    """Every frame of the first video stream, decoded to RGB."""
    with av.open(str(path)) as c:
        return [frame.to_ndarray(format="rgb24") for frame in c.decode(video=0)]


def picture_box(frame: np.ndarray, threshold: int = 30) -> tuple[int, int, int, int]:
    """(x, y, width, height) of what is not black: where the picture sits."""
    lit = frame.max(axis=2) > threshold
    rows, cols = np.flatnonzero(lit.any(axis=1)), np.flatnonzero(lit.any(axis=0))
    if not len(rows):
        return (0, 0, 0, 0)
    return int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)


def quadrant_colours(
    frame: np.ndarray, box: tuple[int, int, int, int]
) -> dict[str, tuple[int, int, int]]:
    """The mean colour at the middle of each quarter of ``box``."""
    x, y, w, h = box
    found = {}
    for name, (cx, cy) in {"tl": (1, 1), "tr": (3, 1), "bl": (1, 3), "br": (3, 3)}.items():
        px, py = x + w * cx // 4, y + h * cy // 4
        rx, ry = max(1, w // 16), max(1, h // 16)
        patch = frame[py - ry : py + ry + 1, px - rx : px + rx + 1].reshape(-1, 3)
        found[name] = tuple(int(v) for v in patch.mean(axis=0).round())  # type: ignore[assignment]
    return found


def colour_error(a: tuple[int, int, int], b: tuple[int, int, int]) -> int:
    return max(abs(int(x) - int(y)) for x, y in zip(a, b, strict=True))


def tags(path: Path) -> tuple[int, int, int, int, str]:
    """Primaries, transfer, matrix, range and pixel format of the video stream."""
    with av.open(str(path)) as c:
        ctx = c.streams.video[0].codec_context
        return (
            int(ctx.color_primaries),
            int(ctx.color_trc),
            int(ctx.colorspace),
            int(ctx.color_range),
            str(ctx.pix_fmt),
        )


def audio_stereo(path: Path) -> tuple[np.ndarray, np.ndarray, int]:
    """The whole audio track's left and right channels as float samples, and its rate."""
    with av.open(str(path)) as c:
        stream = c.streams.audio[0]
        rate = stream.codec_context.sample_rate
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=rate)
        chunks = [out.to_ndarray() for f in c.decode(stream) for out in resampler.resample(f)]
        chunks += [out.to_ndarray() for out in resampler.resample(None)]
    both = np.concatenate(chunks, axis=1).astype(np.float64)
    return both[0], both[1], rate


def tone_level(samples: np.ndarray, rate: int, hz: float) -> float:
    """The amplitude of the sine at ``hz`` in ``samples`` (a windowed FFT's peak)."""
    window = np.hanning(len(samples))
    spectrum = np.abs(np.fft.rfft(samples * window)) * 2 / window.sum()
    freqs = np.fft.rfftfreq(len(samples), 1 / rate)
    near = (freqs > hz - 8) & (freqs < hz + 8)
    return float(spectrum[near].max()) if near.any() else 0.0
