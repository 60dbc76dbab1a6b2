"""The planned sequence as a MoviePy clip, read one shot at a time.

``concatenate_videoclips`` wants every shot open before the first frame is written:
one ffmpeg reader per shot, plus MoviePy's ``compose`` canvas (about 2.4 GB for ten
1080p/720p shots on this project's benchmark). Here the video is a frame function
over the :class:`~.model.Plan`: a shot's reader is started when the write reaches
it and stopped when it moves on, so memory does not grow with the number of shots.

Each reader is ffmpeg running the shot through :mod:`.picture`, the same chain the
normalize strategy encodes, and handing over canvas-sized RGB frames at the output
rate. So both engines agree to the pixel on orientation, pixel shape, fields,
colour and frame rate; MoviePy is where frame-level work happens on top.
"""

from __future__ import annotations

import bisect
import subprocess

import numpy as np
import numpy.typing as npt
from moviepy import VideoClip

from ..errors import RenderError
from ..media import ffmpeg
from .model import Plan, Segment
from .picture import reader_args

Frame = npt.NDArray[np.uint8]


class FrameReader:
    """One segment's frames, in order, from an ffmpeg pipe."""

    def __init__(self, seg: Segment, plan: Plan) -> None:
        self.seg = seg
        self.width, self.height = plan.output.size
        self.size = self.width * self.height * 3
        cmd = ffmpeg.reader_cmd(
            *reader_args(seg, plan, "rgb24", rgb_out=True),
            *("-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"),
        )
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self.index = -1
        self.frame: Frame | None = None

    def get(self, index: int) -> Frame:
        """Frame ``index`` of the segment (the same one again is free)."""
        while self.index < index:
            data = self.proc.stdout.read(self.size) if self.proc.stdout else b""
            if len(data) < self.size:
                if self.frame is None:
                    raise RenderError(f"ffmpeg gave no frames: {self._stderr()}")
                break  # a frame short: the last one stands, as normalize's tpad does
            self.frame = np.frombuffer(data, np.uint8).reshape(self.height, self.width, 3)
            self.index += 1
        assert self.frame is not None
        return self.frame

    def _stderr(self) -> str:
        self.close()
        text = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
        lines = [ln for ln in text.splitlines() if ln.strip()]
        return lines[-1] if lines else f"exit status {self.proc.returncode}"

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()


class Timeline:
    """The plan's picture as a MoviePy clip (its sound is the cut's soundtrack file)."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.rate = plan.output.frame_rate
        self._starts = [s.first_frame for s in plan.segments]
        self._reader: FrameReader | None = None
        #: The shot being read, to name it if a reader fails.
        self.current_shot = plan.segments[0].shot_index if plan.segments else 0

    def _segment_at(self, frame: int) -> Segment:
        i = bisect.bisect_right(self._starts, frame) - 1
        return self.plan.segments[max(0, min(i, len(self.plan.segments) - 1))]

    def _video_frame(self, t: float) -> Frame:
        frame_no = round(t * self.rate)
        seg = self._segment_at(frame_no)
        self.current_shot = seg.shot_index
        index = min(frame_no - seg.first_frame, seg.frames - 1)
        reader = self._reader
        if reader is None or reader.seg is not seg or index < reader.index:
            self.close()
            reader = self._reader = FrameReader(seg, self.plan)
        return reader.get(index)

    def clip(self) -> VideoClip:
        duration = self.plan.duration
        video = VideoClip(frame_function=self._video_frame, duration=duration)
        # MoviePy iterates int(duration * fps) frames; a hair over the exact
        # duration keeps float rounding from dropping the last one.
        return video.with_duration(duration + 1e-6)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
