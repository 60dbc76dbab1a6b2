"""The planned sequence as MoviePy clips that open one shot at a time.

``concatenate_videoclips`` wants every shot open before the first frame is written:
one ffmpeg reader per shot, plus MoviePy's ``compose`` canvas (about 2.4 GB for ten
1080p/720p shots on this project's benchmark). Here the video and audio clips are
frame functions over the :class:`~.model.Plan`: a shot's reader is opened when
the write reaches it and closed when it moves on, so memory does not grow with the
number of shots and frames stream straight from the reader to the encoder.

Scaling is done by ffmpeg inside the reader (MoviePy's ``target_resolution``), the
black letterbox is a cheap array copy here, and frame-rate conforming falls out of
sampling each source at output frame times.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import numpy as np
from moviepy import AudioClip, AudioFileClip, VideoClip, VideoFileClip

from .model import Plan, Segment

R = TypeVar("R", VideoFileClip, AudioFileClip)


class _OneAtATime(Generic[R]):
    """Keeps at most one source reader open; the write only moves forward."""

    def __init__(self, opener: Callable[[Segment], R]) -> None:
        self._opener = opener
        self._segment: Segment | None = None
        self._clip: R | None = None

    def get(self, segment: Segment) -> R:
        if self._segment is not segment or self._clip is None:
            self.close()
            self._clip = self._opener(segment)
            self._segment = segment
        return self._clip

    def close(self) -> None:
        if self._clip is not None:
            self._clip.close()
        self._clip = None
        self._segment = None


class Timeline:
    """Video and audio of a plan as MoviePy clips. Use as a context manager."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.rate = plan.output.frame_rate
        self.width, self.height = plan.output.size
        self._starts = [s.first_frame for s in plan.segments]
        self._video = _OneAtATime(self._open_video)
        self._audio = _OneAtATime(self._open_audio)
        #: The shot being read, to name it if a reader fails.
        self.current_shot = 0

    # -- readers ---------------------------------------------------------------
    def _open_video(self, seg: Segment) -> VideoFileClip:
        clip = VideoFileClip(
            str(seg.source),
            audio=False,
            target_resolution=seg.fit,
            decode_file=seg.needs_scan,
        )
        # MoviePy reads the rate from ffmpeg's banner, rounded to 2 decimals
        # ("23.98"); frame lookup with that drifts a frame every couple of
        # minutes on NTSC footage. ffmpeg emits frames at the exact guessed rate,
        # which is what the probe measured.
        clip.reader.fps = float(seg.source_rate)
        return clip

    def _open_audio(self, seg: Segment) -> AudioFileClip:
        return AudioFileClip(
            str(seg.source), fps=self.plan.audio_rate, nbytes=2, decode_file=seg.needs_scan
        )

    def _segment_at(self, frame: int) -> Segment:
        i = bisect.bisect_right(self._starts, frame) - 1
        return self.plan.segments[max(0, min(i, len(self.plan.segments) - 1))]

    # -- frame functions --------------------------------------------------------
    def _video_frame(self, t: float) -> np.ndarray:
        frame_no = round(t * self.rate)
        seg = self._segment_at(frame_no)
        self.current_shot = seg.shot_index
        local = seg.start + float((frame_no - seg.first_frame) / self.rate)
        picture = np.asarray(self._video.get(seg).get_frame(local), dtype=np.uint8)
        if picture.shape[1] == self.width and picture.shape[0] == self.height:
            return picture
        canvas = np.zeros((self.height, self.width, 3), dtype=np.uint8)
        x, y = seg.offset
        h, w = min(picture.shape[0], self.height - y), min(picture.shape[1], self.width - x)
        canvas[y : y + h, x : x + w] = picture[:h, :w, :3]
        return canvas

    def _audio_frame(self, t: Any) -> np.ndarray:
        tt = np.atleast_1d(np.asarray(t, dtype=float))
        out = np.zeros((len(tt), 2))
        frames = np.floor(tt * float(self.rate) + 1e-9).astype(int)
        for seg in self._segments_between(int(frames.min()), int(frames.max())):
            mask = (frames >= seg.first_frame) & (frames < seg.last_frame)
            if not seg.has_audio or not mask.any():
                continue
            self.current_shot = seg.shot_index
            reader = self._audio.get(seg)
            local = seg.start + (tt[mask] - float(seg.first_frame / self.rate))
            # Audio tracks can end before the picture; the rest stays silent.
            inside = local < reader.duration
            if inside.any():
                samples = reader.get_frame(local[inside])
                target = np.flatnonzero(mask)[inside]
                out[target] = samples.reshape(len(target), -1)[:, :2]
        return out if np.ndim(t) else out[0]

    def _segments_between(self, first: int, last: int) -> list[Segment]:
        lo = bisect.bisect_right(self._starts, first) - 1
        hi = bisect.bisect_right(self._starts, last)
        return self.plan.segments[max(lo, 0) : hi]

    # -- clips -------------------------------------------------------------------
    def clip(self) -> VideoClip:
        duration = self.plan.duration
        video = VideoClip(frame_function=self._video_frame, duration=duration)
        # MoviePy iterates int(duration * fps) frames; a hair over the exact
        # duration keeps float rounding from dropping the last one.
        video = video.with_duration(duration + 1e-6)
        audio = AudioClip(
            frame_function=self._audio_frame, duration=duration, fps=self.plan.audio_rate
        )
        return video.with_audio(audio)

    def close(self) -> None:
        self._video.close()
        self._audio.close()

    def __enter__(self) -> Timeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
