"""The soundtrack: every shot's audio, sample-exact on the frame-exact timeline.

Joining separately encoded AAC segments clicks and drifts at every join (each one
carries its own priming and padding), so the audio is never joined encoded. Each
shot's sound is decoded with PyAV, resampled to one rate, cut or padded with
silence to exactly the samples of its frames, and appended to one PCM stream,
which the join encodes once. Segment boundaries come from the cumulative frame
count, so rounding never accumulates across a hundred cuts.

The encoded soundtrack is a file of its own, made while the picture is encoded (or
copied) and joined to it without re-encoding; it is cached per cut, so assembling
the same shots with the same trims again reuses it.

Which of a shot's streams sound, and how (see :func:`..pipeline.plan.audio_streams`):

- a stream of two or more channels is downmixed to stereo the ITU way
  (L = FL + 0.707·FC + 0.707·BL [+ 0.707·SL], R likewise; the LFE is left out);
- a mono stream sounds in both channels at full level;
- several streams (a camera's mono tracks) are mixed, each at 1/√N, so that
  unrelated sources keep their loudness;
- the sum is clipped at full scale, never wrapped.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import IO, Protocol

import av
import numpy as np
import numpy.typing as npt

from ..errors import Canceled
from ..media import ffmpeg
from . import loudness
from .cache import SegmentCache, sha_key, source_identity
from .model import Plan, Segment

CHANNELS = 2
BYTES_PER_SAMPLE = 2 * CHANNELS  # s16, stereo
PCM_FORMAT = ["-f", "s16le", "-ac", str(CHANNELS)]
#: Samples mixed at a time: small enough that memory does not grow with a shot.
CHUNK = 16384

Samples = npt.NDArray[np.float32]  # (n, 2), -1..1


def sample_at(frame: int, plan: Plan) -> int:
    return round(Fraction(frame) * plan.audio_rate / plan.output.frame_rate)


def _stream(segment: Segment, number: int, samples: int, rate: int) -> Iterator[Samples]:
    """Exactly ``samples`` stereo samples of audio stream ``number``, from the
    segment's first picture frame on: silence where the stream has no sound."""
    info = segment.info
    # On the file's clock: the sound that plays with the segment's first frame.
    wanted_from = segment.start + info.start_time
    written = 0
    with av.open(str(segment.source)) as container:
        stream = container.streams.audio[number]
        mono = info.audio[number].channels == 1
        if wanted_from > 0:
            unit = stream.time_base or Fraction(1, rate)
            container.seek(int(wanted_from / unit), stream=stream, backward=True)
        resampler = av.AudioResampler(format="flt", layout="mono" if mono else "stereo", rate=rate)
        skip: int | None = None
        for frame in container.decode(stream):
            if skip is None:
                pts, tb = frame.pts, frame.time_base
                first = float(pts * tb) if pts is not None and tb is not None else 0.0
                skip = round((wanted_from - first) * rate)
                if skip < 0:  # the sound starts after the picture: lead with silence
                    lead = min(-skip, samples)
                    yield np.zeros((lead, 2), np.float32)
                    written, skip = lead, 0
            for chunk in resampler.resample(frame):
                data = np.asarray(chunk.to_ndarray(), np.float32).reshape(-1, 1 if mono else 2)
                if skip:
                    cut = min(skip, len(data))
                    data, skip = data[cut:], skip - cut
                data = data[: samples - written]
                if len(data):
                    written += len(data)
                    yield np.repeat(data, 2, axis=1) if mono else data
            if written >= samples:
                break
    if written < samples:
        yield np.zeros((samples - written, 2), np.float32)


def _silence(samples: int) -> Iterator[Samples]:
    for start in range(0, samples, CHUNK):
        yield np.zeros((min(CHUNK, samples - start), 2), np.float32)


def _take(chunks: Iterator[Samples], samples: int) -> tuple[Samples, Iterator[Samples]]:
    """The first ``samples`` of ``chunks`` as one block, and the rest as they come."""
    got: list[Samples] = []
    count = 0
    for chunk in chunks:
        got.append(chunk)
        count += len(chunk)
        if count >= samples:
            break
    block = np.concatenate(got) if got else np.zeros((0, 2), np.float32)

    def rest() -> Iterator[Samples]:
        if len(block) > samples:
            yield block[samples:]
        yield from chunks

    return block[:samples], rest()


def _mixed(segment: Segment, samples: int, rate: int, fps: Fraction) -> Iterator[Samples]:
    """The segment's sound: a dissolve's first frames cross-fade from the outgoing
    shot's sound to this one's, linearly, sample by sample."""
    sound = _sound(segment, samples, rate)
    if segment.blend_from is None or not segment.blend_frames:
        yield from sound
        return
    span = min(samples, round(Fraction(segment.blend_frames) * rate / fps))
    outgoing = segment.blend_from.handle(segment.blend_frames, fps)
    tail, _ = _take(_sound(outgoing, span, rate), span)
    head, rest = _take(sound, span)
    fade = np.linspace(0.0, 1.0, span, dtype=np.float32)[:, None]
    yield tail * (1 - fade) + head * fade
    yield from rest


def _sound(segment: Segment, samples: int, rate: int) -> Iterator[Samples]:
    """The segment's chosen streams, summed chunk by chunk. Silence for a gap, and
    for a speed change or a freeze (their sound is not kept)."""
    if not segment.audio or segment.speed != 1:
        yield from _silence(samples)
        return
    streams = [_stream(segment, n, samples, rate) for n in segment.audio]
    if len(streams) == 1:
        yield from streams[0]
        return
    gain = np.float32(1 / np.sqrt(len(streams)))
    pending: list[Samples] = [np.zeros((0, 2), np.float32) for _ in streams]
    done = 0
    while done < samples:
        want = min(CHUNK, samples - done)
        for i, stream in enumerate(streams):
            while len(pending[i]) < want:
                pending[i] = np.concatenate([pending[i], next(stream)])
        mix = sum((p[:want] for p in pending), np.zeros((want, 2), np.float32)) * gain
        pending = [p[want:] for p in pending]
        done += want
        yield mix


def _pcm(block: Samples) -> bytes:
    return (np.clip(block, -1.0, 1.0) * 32767).astype("<i2").tobytes()


class Sink(Protocol):
    def write(self, data: bytes, /) -> int: ...


def write_pcm(plan: Plan, out: Sink) -> None:
    """Write the whole timeline's sound to ``out`` as raw s16le stereo at ``plan.audio_rate``."""
    for segment in plan.segments:
        first, last = sample_at(segment.first_frame, plan), sample_at(segment.last_frame, plan)
        for block in _mixed(segment, last - first, plan.audio_rate, plan.output.frame_rate):
            out.write(_pcm(block))


#: Container of the encoded soundtrack, by audio codec (joined into the output as is).
SOUND_EXT = {"aac": "m4a", "pcm_s24le": "mov"}


def soundtrack_key(plan: Plan, base: Path | None = None) -> str:
    """What the soundtrack depends on: every segment's source, streams, trims and
    place on the timeline, the rates, and the audio encoder's settings."""
    enc = plan.encoder
    identity = {
        "kind": "soundtrack",
        "codec": [enc.audio_codec, enc.audio_bitrate, enc.audio_extra, plan.audio_rate],
        "loudness": plan.output.loudness.model_dump() if plan.output.loudness else None,
        "fps": str(plan.output.frame_rate),
        "segments": [
            [
                source_identity(s, base) if s.audio else None,
                list(s.audio),
                s.start,
                s.info.start_time,
                s.first_frame,
                s.frames,
                str(s.speed),
                s.blend_frames,
                (
                    source_identity(s.blend_from, base)
                    if s.blend_from and s.blend_from.audio
                    else None
                ),
                s.blend_from.end if s.blend_from else None,
            ]
            for s in plan.segments
        ],
        "ffmpeg": ffmpeg.version(),
    }
    return sha_key(json.dumps(identity, sort_keys=True, default=str))


class Soundtrack(threading.Thread):
    """The cut's sound, encoded on a thread of its own while the picture is made.

    :meth:`result` waits for it; :meth:`cancel` stops it (the render failed)."""

    def __init__(self, plan: Plan, cache: SegmentCache, key: str | None = None) -> None:
        """``key`` is :func:`soundtrack_key` of ``plan`` under ``cache.base``, if the
        caller has it already (it stats every source)."""
        super().__init__(name="soundtrack", daemon=True)
        self.plan, self.cache = plan, cache
        self.ext = SOUND_EXT[plan.encoder.audio_codec]
        self.key = key if key is not None else soundtrack_key(plan, cache.base)
        self.path: Path | None = None
        self.error: BaseException | None = None
        #: How long it took (0 when it came from the cache).
        self.seconds = 0.0
        self._canceled = threading.Event()
        self.start()

    def run(self) -> None:
        began = time.perf_counter()
        try:
            found = self.cache.lookup(self.key, self.ext)
            self.path = found if found is not None else self._encode()
            self.seconds = 0.0 if found is not None else time.perf_counter() - began
        except BaseException as exc:
            self.error = exc

    def _encode(self) -> Path:
        enc = self.plan.encoder
        temp = self.cache.temp_path(self.key, self.ext)
        bitrate = ["-b:a", enc.audio_bitrate] if enc.audio_bitrate else []
        pcm = [*PCM_FORMAT, "-ar", str(self.plan.audio_rate)]
        level: list[str] = []
        target = self.plan.output.loudness
        if target is not None:
            # Two passes over the timeline's sound: measure it, then one gain (and the
            # peaks limited) to bring it to the target.
            measured = loudness.first_pass(pcm, self._feed, target)
            level = loudness.second_pass(target, measured, self.plan.audio_rate)
        try:
            ffmpeg.run(
                [
                    *pcm,
                    "-i",
                    "pipe:0",
                    *level,
                    "-c:a",
                    enc.audio_codec,
                    *bitrate,
                    *enc.audio_extra,
                    "-f",
                    "mov" if self.ext == "mov" else "mp4",
                    str(temp),
                ],
                what="encoding the soundtrack",
                feed=self._feed,
            )
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return self.cache.store(temp, self.key, self.ext)

    def _feed(self, pipe: IO[bytes]) -> None:
        write_pcm(self.plan, _Checked(pipe, self._canceled))

    def cancel(self) -> None:
        self._canceled.set()
        self.join()

    def result(self) -> Path:
        self.join()
        if self.error is not None:
            raise self.error
        assert self.path is not None
        return self.path


class _Checked:
    """A pipe that refuses to be written once the render was given up."""

    def __init__(self, pipe: IO[bytes], canceled: threading.Event) -> None:
        self.pipe, self.canceled = pipe, canceled

    def write(self, data: bytes, /) -> int:
        if self.canceled.is_set():
            raise Canceled("the render stopped")
        return self.pipe.write(data)
