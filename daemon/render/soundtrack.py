"""The soundtrack: every shot's audio, sample-exact on the frame-exact timeline.

Joining separately encoded AAC segments clicks and drifts at every join (each one
carries its own priming and padding), so the audio is never joined encoded. Each
shot's sound is decoded with PyAV, resampled to one rate and layout, cut or padded
with silence to exactly the samples of its frames, and appended to one PCM file,
which the join encodes once. Segment boundaries come from the cumulative frame
count, so rounding never accumulates across a hundred cuts.
"""

from __future__ import annotations

from fractions import Fraction
from typing import IO

import av

from .model import Plan, Segment

CHANNELS = 2
BYTES_PER_SAMPLE = 2 * CHANNELS  # s16, stereo
PCM_FORMAT = ["-f", "s16le", "-ac", str(CHANNELS)]


def sample_at(frame: int, plan: Plan) -> int:
    return round(Fraction(frame) * plan.audio_rate / plan.output.frame_rate)


def _write_shot(out: IO[bytes], segment: Segment, samples: int, rate: int) -> int:
    """Write ``samples`` of the shot from ``segment.start`` on; returns samples written."""
    wanted_from = segment.start + segment.source_start  # on the container's clock
    written = 0
    with av.open(str(segment.source)) as container:
        stream = container.streams.audio[0]
        if wanted_from > 0:
            unit = stream.time_base or Fraction(1, rate)
            container.seek(int(wanted_from / unit), stream=stream, backward=True)
        resampler = av.AudioResampler(format="s16", layout="stereo", rate=rate)
        skip: int | None = None
        for frame in container.decode(stream):
            if skip is None:
                pts, tb = frame.pts, frame.time_base
                first = float(pts * tb) if pts is not None and tb is not None else 0.0
                skip = round((wanted_from - first) * rate)
                if skip < 0:  # the sound starts after the picture: lead with silence
                    lead = min(-skip, samples)
                    out.write(bytes(lead * BYTES_PER_SAMPLE))
                    written, skip = lead, 0
            for chunk in resampler.resample(frame):
                data = bytes(chunk.planes[0])[: chunk.samples * BYTES_PER_SAMPLE]
                if skip:
                    cut = min(skip, chunk.samples)
                    data, skip = data[cut * BYTES_PER_SAMPLE :], skip - cut
                take = min(len(data) // BYTES_PER_SAMPLE, samples - written)
                out.write(data[: take * BYTES_PER_SAMPLE])
                written += take
            if written >= samples:
                break
    return written


def write_pcm(plan: Plan, out: IO[bytes]) -> None:
    """Write the whole timeline's sound to ``out`` as raw s16le stereo at ``plan.audio_rate``."""
    for segment in plan.segments:
        first, last = sample_at(segment.first_frame, plan), sample_at(segment.last_frame, plan)
        samples = last - first
        written = 0
        if segment.has_audio:
            written = _write_shot(out, segment, samples, plan.audio_rate)
        out.write(bytes((samples - written) * BYTES_PER_SAMPLE))  # silence to the cut
