"""Sources like a studio's, made with the bundled ffmpeg: phone clips with display
matrices, HDV and DV pixel shapes, pieces cut with ``-c copy``, BT.601, full range,
HLG and PQ, interlaced, multi-track and surround sound, stills and sequences.

Pictures are built in numpy and piped to ffmpeg, so a test knows exactly what each
frame holds and can read it back from a decoded frame:

- ``quadrants``: four colours, one per quarter, to see where the picture sits and
  which way up it is;
- ``patches``: 75 % red, green and blue and mid grey, to check colour;
- ``coded``: the frame number as 16 black/white columns (and their inverse below,
  a self-check), plus a white "pop" band on some frames whose sound is a beep, to
  check which source frame is shown and that sound and picture are in sync.
"""

from __future__ import annotations

import subprocess
import tempfile
import wave
from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np
import numpy.typing as npt

from assemblyd.media.ffmpeg import binary

Image = npt.NDArray[np.uint8]

QUADRANTS = {
    "tl": (220, 40, 40),
    "tr": (40, 220, 40),
    "bl": (40, 40, 220),
    "br": (220, 220, 40),
}
PATCHES = {"tl": (191, 0, 0), "tr": (128, 128, 128), "bl": (0, 191, 0), "br": (0, 0, 191)}
BITS = 16
#: Frames of the coded pattern that pop (white band, beep): every half second at 24 fps.
POP_EVERY, POP_AT = 12, 6
BT709 = "setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709:range=tv"
TAG_709 = f"scale=out_color_matrix=bt709:out_range=tv,format=yuv420p,{BT709}"


def ffmpeg(*args: str | Path) -> None:
    subprocess.run([binary(), "-v", "error", "-y", *map(str, args)], check=True)


def quads(width: int, height: int, colours: dict[str, tuple[int, int, int]]) -> Image:
    img = np.empty((height, width, 3), np.uint8)
    h, w = height // 2, width // 2
    img[:h, :w], img[:h, w:] = colours["tl"], colours["tr"]
    img[h:, :w], img[h:, w:] = colours["bl"], colours["br"]
    return img


def coded(number: int, width: int, height: int) -> Image:
    """Frame ``number`` as columns of bits (top two thirds) and a pop band below."""
    img = np.full((height, width, 3), 100, np.uint8)
    bits = (number >> np.arange(BITS)) & 1
    cols = np.repeat(bits, -(-width // BITS))[:width].astype(np.uint8) * 255
    third = height // 3
    img[:third] = cols[None, :, None]
    img[third : 2 * third] = (255 - cols)[None, :, None]
    if number % POP_EVERY == POP_AT:
        img[2 * third :] = 255
    return img


def read_code(frame: Image) -> int | None:
    """The number :func:`coded` drew, from a decoded frame of any size; None if the
    self-check fails (not a coded frame, or a blend of two)."""
    gray = frame.astype(float).mean(axis=2)
    height, width = gray.shape
    third = height / 3

    def cells(top: float, bottom: float) -> npt.NDArray[np.bool_]:
        return np.array(
            [
                gray[
                    int(top + (bottom - top) / 4) : int(bottom - (bottom - top) / 4) + 1,
                    int(width * i / BITS + width / BITS / 4) : int(
                        width * (i + 1) / BITS - width / BITS / 4
                    )
                    + 1,
                ].mean()
                > 127.5
                for i in range(BITS)
            ]
        )

    top, bottom = cells(0, third), cells(third, 2 * third)
    if not np.all(top != bottom):
        return None
    return int((top.astype(int) << np.arange(BITS)).sum())


def popped(frame: Image) -> bool:
    height = frame.shape[0]
    return bool(frame[int(height * 0.75) :, :].mean() > 200)


def pops_audio(frames: int, rate: float, sample_rate: int = 48000) -> npt.NDArray[np.float32]:
    """Silence, with a one-frame 1 kHz beep on every popping frame."""
    total = round(frames / rate * sample_rate)
    audio = np.zeros(total, np.float32)
    t = np.arange(total) / sample_rate
    for n in range(frames):
        if n % POP_EVERY == POP_AT:
            a, b = round(n / rate * sample_rate), round((n + 1) / rate * sample_rate)
            audio[a:b] = 0.5 * np.sin(2 * np.pi * 1000 * t[a:b])
    return audio


def tone(
    seconds: float, hz: float, sample_rate: int = 48000, amp: float = 0.3
) -> npt.NDArray[np.float32]:
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    return (amp * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def write_wav(
    path: Path, channels: Sequence[npt.NDArray[np.float32]], sample_rate: int = 48000
) -> Path:
    data = np.stack([np.clip(c, -1, 1) for c in channels], axis=1)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(len(channels))
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes((data * 32767).astype("<i2").tobytes())
    return path


def encode(
    path: Path,
    images: Iterable[Image],
    size: tuple[int, int],
    rate: str | float = 24,
    *,
    video: Sequence[str] = ("-vf", TAG_709, "-c:v", "libx264", "-preset", "ultrafast"),
    audio: Sequence[Path] = (),
    audio_args: Sequence[str] = ("-c:a", "aac"),
    before: Sequence[str] = (),
) -> Path:
    """Pipe ``images`` (RGB) to ffmpeg with the given encoding; ``audio`` are WAV files
    muxed as one stream each."""
    path.parent.mkdir(parents=True, exist_ok=True)
    width, height = size
    cmd = [binary(), "-v", "error", "-y", *before]
    cmd += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", str(rate)]
    cmd += ["-i", "pipe:0"]
    for wav in audio:
        cmd += ["-i", str(wav)]
    cmd += ["-map", "0:v"] + [arg for i in range(len(audio)) for arg in ("-map", f"{i + 1}:a")]
    cmd += [*video, *(audio_args if audio else []), "-shortest", str(path)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    assert proc.stdin is not None
    for img in images:
        proc.stdin.write(np.ascontiguousarray(img).tobytes())
    proc.stdin.close()
    assert proc.wait() == 0, cmd
    return path


def still(path: Path, image: Image, args: Sequence[str] = ()) -> Path:
    return encode(
        path, [image], (image.shape[1], image.shape[0]), 1, video=[*args, "-frames:v", "1"]
    )


def coded_clip(
    path: Path,
    frames: int,
    size: tuple[int, int] = (320, 180),
    rate: float = 24,
    *,
    gop: int = 12,
    bitrate: str = "300k",
    audio_codec: str = "aac",
) -> Path:
    """A coded-pattern clip with pops in sound and picture; H.264 tagged BT.709,
    GOP ``gop`` with B-frames, AAC: a camera file or an editor's export."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = write_wav(Path(tmp) / "pops.wav", [pops_audio(frames, rate)] * 2)
        video = [
            "-vf", TAG_709, "-c:v", "libx264", "-preset", "veryfast", "-b:v", bitrate,
            "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0", "-bf", "2",
        ]  # fmt: skip
        return encode(
            path,
            (coded(n, *size) for n in range(frames)),
            size,
            rate,
            video=video,
            audio=[wav],
            audio_args=["-c:a", audio_codec],
        )


def with_matrix(source: Path, path: Path, rotation: int, mirrored: bool) -> Path:
    """``source`` stream-copied with a display matrix: ``rotation`` degrees
    counter-clockwise, mirrored first; as a phone writes it."""
    flags = ["-display_rotation", str(rotation)] + (["-display_hflip"] if mirrored else [])
    ffmpeg(*flags, "-i", source, "-c", "copy", path)
    return path


def held_last_frame(path: Path, frames: int, hold: int, rate: int = 24) -> Path:
    """Coded frames ``0 .. frames - hold - 1``, the last of them held for ``hold + 1``
    frame durations: a variable-frame-rate file, as phones write when motion stops."""
    import av

    shown = frames - hold
    audio = pops_audio(frames, rate)
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=rate)
        video.width, video.height, video.pix_fmt = 320, 180, "yuv420p"
        video.options = {"preset": "ultrafast", "bf": "0"}
        video.codec_context.time_base = Fraction(1, rate)
        video.codec_context.color_primaries = video.codec_context.color_trc = 1
        video.codec_context.colorspace, video.codec_context.color_range = 1, 1
        sound = out.add_stream("aac", rate=48000, layout="stereo")
        packets = []
        for n in range(shown):
            frame = av.VideoFrame.from_ndarray(coded(n, 320, 180), format="rgb24")
            frame = frame.reformat(format="yuv420p", dst_colorspace=1, dst_color_range=1)
            frame.pts = n
            packets += video.encode(frame)
        packets += video.encode(None)
        if hold:
            packets[-1].duration = hold + 1
        for packet in packets:
            out.mux(packet)
        samples = np.stack([audio, audio]).astype(np.float32)
        chunk = 1024
        for start in range(0, samples.shape[1], chunk):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(samples[:, start : start + chunk]),
                format="fltp",
                layout="stereo",
            )
            frame.sample_rate, frame.pts = 48000, start
            out.mux(sound.encode(frame))
        out.mux(sound.encode(None))
    return path
