"""What the probe found in a media file: the facts every later stage reads.

The picture is described as stored *and* as displayed: phones store a display
matrix (rotation, mirroring), HDV and DV store non-square pixels, interlaced
cameras store fields. Every size, crop and orientation decision downstream starts
from :attr:`MediaInfo.display_size`, never from the stored size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal

#: What a shot's picture comes from; "black" is generated (a gap in an edit).
Kind = Literal["video", "still", "sequence", "black"]

#: PyAV's colour enums (FFmpeg's AVCOL_*), as the names FFmpeg's filters take.
_MATRIX = {1: "bt709", 5: "bt601", 6: "bt601", 9: "bt2020", 10: "bt2020", 0: "rgb"}
_TRANSFER = {16: "pq", 18: "hlg"}
_PRIMARIES = {1: "bt709", 5: "bt601", 6: "bt601", 7: "bt601", 9: "bt2020"}
_RANGE = {1: "tv", 2: "pc"}
#: Field order as FFmpeg numbers it: progressive, then top or bottom first.
FIELD_ORDERS = {1: "progressive", 2: "tff", 3: "bff", 4: "tff", 5: "bff"}


@dataclass(frozen=True)
class Colour:
    """How the source's pixel values are to be read, with the defaults players use
    for untagged files (BT.601 for SD, BT.709 for HD, limited range for YUV)."""

    matrix: str  # bt709 | bt601 | bt2020 | rgb
    range: str  # tv (limited) | pc (full)
    transfer: str  # sdr | hlg | pq
    primaries: str  # bt709 | bt601 | bt2020
    #: What the file said, for project.json ("unknown" where it said nothing).
    tagged: str = ""

    @property
    def hdr(self) -> bool:
        return self.transfer in ("hlg", "pq")

    @property
    def is_bt709_limited(self) -> bool:
        """Already what every output is: nothing to convert."""
        return (self.matrix, self.range, self.transfer) == ("bt709", "tv", "sdr")

    @classmethod
    def read(
        cls,
        matrix: int,
        transfer: int,
        primaries: int,
        colour_range: int,
        pix_fmt: str,
        height: int,
    ) -> Colour:
        rgb = pix_fmt.startswith(("rgb", "bgr", "gbr", "argb", "abgr", "rgba", "bgra", "gray"))
        hd = height >= 600
        tagged = (
            f"matrix {_MATRIX.get(matrix, 'unknown')}, transfer "
            f"{_TRANSFER.get(transfer, 'sdr' if transfer in (1, 6, 14, 15) else 'unknown')}, "
            f"primaries {_PRIMARIES.get(primaries, 'unknown')}, range "
            f"{_RANGE.get(colour_range, 'unknown')}"
        )
        if rgb:
            found_matrix = "rgb"
        else:
            found_matrix = _MATRIX.get(matrix) or ("bt709" if hd else "bt601")
            if found_matrix == "rgb":  # a YUV file tagged RGB: the tag is wrong
                found_matrix = "bt709" if hd else "bt601"
        if colour_range in _RANGE:
            found_range = _RANGE[colour_range]
        else:
            found_range = "pc" if rgb or pix_fmt.startswith("yuvj") else "tv"
        return cls(
            matrix=found_matrix,
            range=found_range,
            transfer=_TRANSFER.get(transfer, "sdr"),
            primaries=_PRIMARIES.get(primaries)
            or ("bt2020" if transfer in _TRANSFER else "bt709" if hd or rgb else "bt601"),
            tagged=tagged,
        )


@dataclass(frozen=True)
class AudioTrack:
    #: Its number among the file's audio streams, from 0 (what a shot's "audio" lists).
    number: int
    channels: int
    layout: str
    sample_rate: int
    codec: str


@dataclass(frozen=True)
class Orientation:
    """How to turn the stored picture into the displayed one: mirror it left to
    right (``mirrored``) and then turn it ``rotation`` degrees counter-clockwise."""

    rotation: int = 0
    mirrored: bool = False

    @property
    def turned(self) -> bool:
        """Width and height trade places."""
        return self.rotation % 180 != 0

    @classmethod
    def from_matrix(cls, matrix: tuple[int, ...] | None) -> Orientation:
        """From FFmpeg's 3x3 display matrix (16.16 fixed point, row-major), which maps
        a stored pixel (p, q) to the displayed (a*p + c*q, b*p + d*q)."""
        if matrix is None or len(matrix) != 9:
            return cls()
        signs = tuple(_sign(v) for v in (matrix[0], matrix[1], matrix[3], matrix[4]))
        for mirrored in (False, True):
            for turns in range(4):
                if _matrix_of(turns, mirrored) == signs:
                    return cls(90 * turns, mirrored)
        return cls()  # not a multiple of 90 degrees: shown as stored

    @classmethod
    def from_tag(cls, degrees: float) -> Orientation:
        """The old ``rotate`` tag: clockwise degrees."""
        return cls((-round(degrees / 90) * 90) % 360)


def _sign(value: int) -> int:
    return 0 if abs(value) < 1 << 15 else (1 if value > 0 else -1)


def _matrix_of(turns: int, mirrored: bool) -> tuple[int, int, int, int]:
    """(a, b, c, d) of mirroring (if asked) and then ``turns`` quarter turns
    counter-clockwise, in image coordinates (y grows downwards)."""
    # Where the stored axes p = (1, 0) and q = (0, 1) end up.
    p, q = ((-1, 0) if mirrored else (1, 0)), (0, 1)
    for _ in range(turns):
        p, q = (p[1], -p[0]), (q[1], -q[0])
    return p[0], p[1], q[0], q[1]


@dataclass(frozen=True)
class MediaInfo:
    path: str
    format_name: str
    kind: Kind
    #: Seconds of picture (0 for a still: its shot says how long it lasts).
    duration: float
    #: As stored.
    width: int
    height: int
    frame_rate: Fraction
    pix_fmt: str
    bit_depth: int
    video_codec: str
    video_bit_rate: int | None
    header_has_duration: bool
    orientation: Orientation = field(default_factory=Orientation)
    #: The shape of a stored pixel (width / height); 1 for square pixels.
    sar: Fraction = Fraction(1)
    field_order: str = "progressive"
    colour: Colour = field(default_factory=lambda: Colour("bt709", "tv", "sdr", "bt709"))
    audio: tuple[AudioTrack, ...] = ()
    #: Where the first shown video frame sits on the file's timeline (seconds).
    start_time: float = 0.0
    #: Where the file's timeline starts (its earliest stream): FFmpeg seeks from here.
    container_start: float = 0.0
    #: Frames before the first shown one that the decoder needs but an edit list
    #: hides (a piece cut from a longer recording with ``-c copy``). Such a file
    #: cannot be joined without re-encoding: the hidden frames would show.
    hidden_frames: bool = False
    #: The codec's parameter sets (avcC for H.264). Shots can only be joined
    #: without re-encoding when these are identical.
    extradata: bytes = b""
    #: The container's id of the video stream (an MP4 track ID).
    video_stream_id: int = 0
    #: An image sequence's first frame number.
    first_number: int | None = None
    #: The file's start timecode as a frame count at its own rate (a tmcd track or a
    #: timecode tag); None if it has none.
    start_timecode: int | None = None

    @classmethod
    def black(cls, rate: Fraction, size: tuple[int, int]) -> MediaInfo:
        """No file: black picture, no sound (a gap in an edit)."""
        width, height = size
        return cls(
            path="",
            format_name="lavfi",
            kind="black",
            duration=0.0,
            width=width,
            height=height,
            frame_rate=rate,
            pix_fmt="yuv420p",
            bit_depth=8,
            video_codec="none",
            video_bit_rate=None,
            header_has_duration=True,
        )

    @property
    def rotation(self) -> int:
        return self.orientation.rotation

    @property
    def interlaced(self) -> bool:
        return self.field_order in ("tff", "bff")

    @property
    def has_audio(self) -> bool:
        return bool(self.audio)

    @property
    def display_size(self) -> tuple[Fraction, Fraction]:
        """The picture as a viewer sees it: stored size times the pixel shape, then
        turned. Exact, so that fitting it into a frame rounds only once."""
        width, height = Fraction(self.width) * self.sar, Fraction(self.height)
        return (height, width) if self.orientation.turned else (width, height)

    def to_dict(self) -> dict[str, object]:
        first = self.audio[0] if self.audio else None
        return {
            "format": self.format_name,
            "kind": self.kind,
            "duration": round(self.duration, 6),
            "width": self.width,
            "height": self.height,
            "sar": str(self.sar),
            "rotation": self.orientation.rotation,
            "mirrored": self.orientation.mirrored,
            "field_order": self.field_order,
            "colour": self.colour.tagged,
            "fps": str(self.frame_rate),
            "pix_fmt": self.pix_fmt,
            "video_codec": self.video_codec,
            "has_audio": self.has_audio,
            "audio_streams": len(self.audio),
            "audio_codec": first.codec if first else None,
            "sample_rate": first.sample_rate if first else None,
            "channels": first.channels if first else None,
        }
