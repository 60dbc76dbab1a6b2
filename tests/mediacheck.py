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
