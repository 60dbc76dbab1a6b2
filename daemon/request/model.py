"""The request document: what an editor or a pipeline script drops into a project.

This is a public contract (users, the daemon and the API all rely on it), so the
models are strict: unknown keys are errors, so a typo like ``"bitrte"`` is caught
instead of silently ignored, and nothing is coerced (``"in": true`` is not a one
second trim, ``"fps": "24"`` is not 24). ``config/assembly.schema.json`` is
generated from these models (:mod:`.schema`), with the same format rules as
patterns, so that an editor's schema validator and ``assemblyd validate`` agree;
a test holds the two to one corpus of requests.
"""

from __future__ import annotations

import os
import re
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    field_validator,
    model_validator,
)

from ..timecode import Timecode, TimecodeError, has_drop_frame

REQUEST_SUFFIX = ".assembly.json"
REQUEST_NAME = "assembly.json"
#: An editor's timeline: OpenTimelineIO (plain and zipped), CMX 3600 EDL, Final Cut
#: Pro 7 XML (xmeml; other XML is not a timeline), FCPXML and AAF.
TIMELINE_SUFFIXES = (".otio", ".otioz", ".edl", ".xml", ".fcpxml", ".aaf")

#: Frame rates a studio actually delivers at. The NTSC ones are stored as exact
#: fractions: 23.976 is not 23976/1000, and rounding it drifts a frame every
#: ~40 seconds against the audio.
FRAME_RATES: dict[float, Fraction] = {
    23.976: Fraction(24000, 1001),
    24: Fraction(24),
    25: Fraction(25),
    29.97: Fraction(30000, 1001),
    30: Fraction(30),
    48: Fraction(48),
    50: Fraction(50),
    59.94: Fraction(60000, 1001),
    60: Fraction(60),
}

FormatName = Literal["mp4", "mov"]
PresetName = Literal["draft", "standard", "high"]
EngineName = Literal["auto", "copy", "normalize", "moviepy"]

# The format rules, each written once: enforced by the validators below and carried
# into the JSON Schema as patterns. ASCII digits only ([0-9], not \\d: Python's \\d
# also matches other scripts' digits). The validators explain what is wrong; the
# patterns are the final word on what is right.
#: An even number of pixels from 16 to 8192, without leading zeros.
_EVEN_SIDE = (
    r"(?:1[68]|[2-9][02468]|[1-9][0-9][02468]|[1-7][0-9]{2}[02468]"
    r"|80[0-9][02468]|81[0-8][02468]|819[02])"
)
RESOLUTION_PATTERN = rf"^{_EVEN_SIDE}x{_EVEN_SIDE}$"
#: A positive number of bits per second, with an optional k or M.
BITRATE_PATTERN = r"^(?=[0-9.]*[1-9])[0-9]{1,9}(?:\.[0-9]{1,3})?[kKmM]?$"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
#: A shot path: not empty, and no control characters (a NUL cannot be in a file name).
SHOT_PATH_PATTERN = r"^[^\x00-\x1f\x7f]+$"

_BITRATE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)([kKmM]?)$")
_RESOLUTION = re.compile(r"^([0-9]+)x([0-9]+)$")
_NAME = re.compile(NAME_PATTERN)

#: No coercion anywhere ("24" is not 24, true is not 1), and only finite numbers.
_STRICT = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


def is_request_file(path: Path | str) -> bool:
    """``assembly.json`` or ``<anything>.assembly.json``, and not hidden."""
    name = Path(path).name
    if name.startswith("."):
        return False
    return name == REQUEST_NAME or (
        name.endswith(REQUEST_SUFFIX) and len(name) > len(REQUEST_SUFFIX)
    )


BurninField = Literal[
    "shot", "source_file", "source_timecode", "record_timecode", "frame", "date", "project", "text"
]
Position = Literal[
    "top_left", "top_center", "top_right", "center", "bottom_left", "bottom_center", "bottom_right"
]


class Burnin(BaseModel):
    """One line of text burnt into the picture of an output."""

    model_config = _STRICT

    field: BurninField = Field(
        description=(
            "What it shows: the shot's name, its source file, the source timecode, the "
            "record timecode, the frame counter, today's date, the project, or 'text'."
        )
    )
    text: str | None = Field(
        None, max_length=200, description="The words of a 'text' burn-in, e.g. CONFIDENTIAL: ACME."
    )
    position: Position = Field(
        "bottom_left", description="A corner or centre of the title-safe area."
    )
    size: float = Field(
        0.04, ge=0.015, le=0.2, description="Letter height, as a share of the frame's."
    )
    box: bool = Field(True, description="A half-transparent black box behind the text.")

    @model_validator(mode="after")
    def _text_when_text(self) -> Burnin:
        if (self.field == "text") != (self.text is not None):
            raise ValueError("'text' is given with field 'text', and only then")
        if self.text is not None and any(ord(c) < 32 for c in self.text):
            raise ValueError("'text' is one line, without control characters")
        return self


class Loudness(BaseModel):
    """A loudness target for the soundtrack: EBU R128 (-23) or web (-16, -14)."""

    model_config = _STRICT

    integrated: float = Field(ge=-40, le=-5, description="Integrated loudness, LUFS.")
    true_peak: float = Field(-1.0, ge=-9, le=0, description="Ceiling for true peaks, dBTP.")


class Slate(BaseModel):
    """A card before the cut: project, name, version, date, duration, shot count."""

    model_config = _STRICT

    seconds: float = Field(5.0, gt=0, le=30, description="How long it shows, with silence.")
    version: str | None = Field(None, max_length=40, description="e.g. v003.")
    line: str | None = Field(None, max_length=120, description="A line of your own.")


class OutputSettings(BaseModel):
    """What the export looks like. Every field has a default."""

    model_config = _STRICT

    output_format: FormatName = Field("mp4", description="Container: mp4 or mov.")
    resolution: str = Field(
        "1920x1080",
        description="WIDTHxHEIGHT, both even, 16 to 8192 (H.264 in yuv420p needs even sizes).",
        json_schema_extra={"pattern": RESOLUTION_PATTERN},
    )
    bitrate: str = Field(
        "5000k",
        description="Video bitrate, e.g. 5000k or 8M.",
        json_schema_extra={"pattern": BITRATE_PATTERN},
    )
    fps: int | float = Field(
        24,
        description="Output frame rate; NTSC rates are kept exact.",
        json_schema_extra={"enum": list(FRAME_RATES)},
    )
    quality_preset: PresetName = Field("standard", description="draft, standard or high.")
    name: str | None = Field(
        None,
        max_length=40,
        json_schema_extra={"pattern": NAME_PATTERN},
        description=(
            "In 'outputs': this output's part of the export's name, e.g. 'master' gives "
            "seq010_master.mov. Required when there are several outputs."
        ),
    )
    burnins: list[Burnin] = Field(
        default_factory=list, max_length=12, description="Text burnt into this output's picture."
    )
    loudness: Loudness | None = Field(
        None, description="Bring the sound to this loudness (EBU R128 -23, web -16 or -14)."
    )
    start_timecode: str | None = Field(
        None,
        json_schema_extra={"pattern": r"^[0-9]{2}:[0-5][0-9]:[0-5][0-9][:;][0-9]{2}$"},
        description=(
            "The timecode of the first frame, written as a timecode track editors read, "
            "e.g. 01:00:00:00 (01:00:00;00 drop-frame at 29.97 and 59.94)."
        ),
    )

    @field_validator("name")
    @classmethod
    def _output_name(cls, value: str | None) -> str | None:
        if value is not None and not _NAME.match(value):
            raise ValueError(f"'{value}' is not a usable name; use letters, digits, '.', '_', '-'")
        return value

    @model_validator(mode="after")
    def _timecode_fits_the_rate(self) -> OutputSettings:
        if self.start_timecode is not None:
            try:
                timecode = Timecode.parse(self.start_timecode)
                timecode.frame(self.frame_rate)
            except TimecodeError as exc:
                raise ValueError(f"start_timecode: {exc}") from None
            if timecode.drop and not has_drop_frame(self.frame_rate):
                raise ValueError(
                    f"start_timecode '{self.start_timecode}' is drop-frame, which only 29.97 "
                    "and 59.94 have; write it with ':'"
                )
        return self

    @field_validator("resolution")
    @classmethod
    def _even_resolution(cls, value: str) -> str:
        match = _RESOLUTION.match(value)
        if not match or value.endswith("\n"):
            raise ValueError(f"'{value}' is not WIDTHxHEIGHT, e.g. 1920x1080")
        if any(side != "0" and side.startswith("0") for side in (match[1], match[2])):
            raise ValueError(f"'{value}': write the sizes without leading zeros")
        width, height = int(match[1]), int(match[2])
        if not (16 <= width <= 8192 and 16 <= height <= 8192):
            raise ValueError(f"'{value}' is out of range; each side must be 16 to 8192 pixels")
        if width % 2 or height % 2:
            raise ValueError(
                f"'{value}' has an odd side; H.264 in yuv420p needs even sizes, "
                f"e.g. {width + width % 2}x{height + height % 2}"
            )
        if not re.fullmatch(RESOLUTION_PATTERN, value):  # pragma: no cover - said above
            raise ValueError(f"'{value}' is not WIDTHxHEIGHT, e.g. 1920x1080")
        return value

    @field_validator("fps")
    @classmethod
    def _known_rate(cls, value: float) -> float:
        if float(value) not in FRAME_RATES:
            choices = ", ".join(f"{r:g}" for r in FRAME_RATES)
            raise ValueError(f"{value:g} fps is not offered; choose one of {choices}")
        return value

    @field_validator("bitrate")
    @classmethod
    def _bitrate(cls, value: str) -> str:
        if not re.fullmatch(BITRATE_PATTERN, value):
            raise ValueError(
                f"'{value}' is not a bitrate; use a positive number with an optional k or M "
                "suffix, e.g. 5000k or 8M"
            )
        return value

    @property
    def size(self) -> tuple[int, int]:
        width, height = self.resolution.split("x")
        return int(width), int(height)

    @property
    def frame_rate(self) -> Fraction:
        return FRAME_RATES[float(self.fps)]

    @property
    def bits_per_second(self) -> int:
        match = _BITRATE.match(self.bitrate)
        assert match
        scale = {"": 1, "k": 1_000, "m": 1_000_000}[match[2].lower()]
        return int(float(match[1]) * scale)


class Shot(BaseModel):
    """One shot: a file relative to the project, optionally trimmed (seconds).

    The file is a video, a still (PNG, JPEG, TIFF: give it a ``duration``) or a
    numbered image sequence written printf-style (``plates/sh010.%04d.dpx``: give
    it a ``rate``).
    """

    model_config = ConfigDict(**_STRICT, populate_by_name=True)

    path: str = Field(
        min_length=1,
        max_length=4096,
        pattern=SHOT_PATH_PATTERN,
        description=(
            "File path relative to the project folder. An image sequence is written "
            "with its frame number as %d or %0Nd, e.g. plates/sh010.%04d.dpx."
        ),
    )
    in_: Annotated[float | None, Field(alias="in", ge=0, description="Trim start, seconds.")] = None
    out: Annotated[float | None, Field(gt=0, description="Trim end, seconds.")] = None
    duration: Annotated[
        float | None,
        Field(
            gt=0,
            description=(
                "Seconds the shot lasts. Required for a still; for a video or a "
                "sequence, an alternative to 'out' (counted from 'in')."
            ),
        ),
    ] = None
    rate: Annotated[
        float | None,
        Field(
            gt=0,
            le=240,
            description=(
                "Frames per second of an image sequence (23.976, 29.97 and 59.94 are "
                "taken as the exact NTSC rates). Default 24."
            ),
        ),
    ] = None
    audio: Annotated[
        Literal["mute"] | list[Annotated[int, Field(ge=0)]] | None,
        Field(
            description=(
                "Which sound to use: 'mute', or the audio streams to mix, numbered from "
                "0 in the file's order. Default: the first stream with two or more "
                "channels (downmixed to stereo), else every mono stream mixed."
            )
        ),
    ] = None

    @model_validator(mode="after")
    def _ordered(self) -> Shot:
        if self.in_ is not None and self.out is not None and self.out <= self.in_:
            raise ValueError(f"'out' ({self.out} s) must be after 'in' ({self.in_} s)")
        if self.out is not None and self.duration is not None:
            raise ValueError("give 'out' or 'duration', not both")
        return self

    @property
    def end(self) -> float | None:
        """The trim end in seconds, from 'out' or 'in' + 'duration'."""
        if self.duration is not None:
            return (self.in_ or 0.0) + self.duration
        return self.out

    @property
    def frame_rate(self) -> Fraction | None:
        """``rate`` as an exact fraction (NTSC rates exact)."""
        if self.rate is None:
            return None
        return FRAME_RATES.get(self.rate) or Fraction(self.rate).limit_denominator(1001)


def shot_entry(value: Any) -> Any:
    """A shot as written (a bare path, or an object) in the object form."""
    return {"path": value} if isinstance(value, str) else value


#: A shot written as a bare path: the same rules as ``Shot.path``.
ShotPath = Annotated[
    str, StringConstraints(min_length=1, max_length=4096, pattern=SHOT_PATH_PATTERN)
]


def _shot_form(value: Any) -> str:
    return "path" if isinstance(value, str) else "object"


#: A shot as written: a path, or an object. Told apart by type, so that a problem with
#: an object shot is not also reported as "not a string" (and the reverse).
ShotEntry = Annotated[
    Annotated[ShotPath, Tag("path")] | Annotated[Shot, Tag("object")],
    Discriminator(_shot_form),
]


class AssemblyRequest(BaseModel):
    """The whole ``assembly.json`` document: shots in order, or an editor's timeline."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        strict=True,
        allow_inf_nan=False,
        json_schema_extra={"oneOf": [{"required": ["shots"]}, {"required": ["timeline"]}]},
    )

    schema_: str | None = Field(
        None,
        alias="$schema",
        description="The JSON Schema this document follows, for editors; ignored by assemblyd.",
    )
    name: str | None = Field(
        None,
        max_length=120,
        json_schema_extra={"pattern": NAME_PATTERN},
        description=(
            "Base name of the export. Default: the request file's name without "
            "'.assembly.json', or the project folder's name for a plain assembly.json."
        ),
    )
    shots: list[ShotEntry] | None = Field(
        None, min_length=1, description="Shots in order. Give 'shots' or 'timeline'."
    )
    timeline: str | None = Field(
        None,
        min_length=1,
        description=(
            "An editor's timeline to conform, relative to the project folder: an EDL, "
            "OpenTimelineIO (.otio, .otioz), Final Cut Pro 7 XML, FCPXML or AAF file. "
            "Give 'shots' or 'timeline'."
        ),
    )
    output: OutputSettings | None = Field(
        None, description="What the export looks like (one output). Default: every default."
    )
    outputs: list[OutputSettings] | None = Field(
        None,
        min_length=1,
        max_length=8,
        description=(
            "Several outputs from one render (a master and a review copy, say), each "
            "with its 'name'. Instead of 'output'."
        ),
    )
    slate: Slate | None = Field(None, description="A card before the cut, counted in its length.")
    engine: EngineName = Field(
        "auto",
        description=(
            "How to render. 'auto': join without re-encoding when every shot already "
            "matches the output, else normalize each shot with ffmpeg and join. 'copy': "
            "never re-encode the picture (fails naming the shots that do not match). "
            "'normalize': always re-encode. 'moviepy': MoviePy composition, frame by frame."
        ),
    )

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str | None) -> str | None:
        if value is not None and not _NAME.match(value):
            raise ValueError(
                f"'{value}' is not a usable file name; use letters, digits, '.', '_' and '-', "
                "starting with a letter or digit"
            )
        return value

    @field_validator("timeline")
    @classmethod
    def _timeline_file(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if re.match(r"^[A-Za-z][A-Za-z0-9+.\-]*:", value) or value.startswith(("/", "\\")):
            raise ValueError(
                f"'{value}' is not a path relative to the project folder; the timeline "
                "must be a file inside the project"
            )
        if not value.lower().endswith(TIMELINE_SUFFIXES):
            kinds = ", ".join(TIMELINE_SUFFIXES)
            raise ValueError(f"'{value}' is not a timeline file; use one of {kinds}")
        return value

    @model_validator(mode="after")
    def _shots_or_timeline(self) -> AssemblyRequest:
        if self.shots is None and self.timeline is None:
            raise ValueError(
                "give 'shots' (the shots in order) or 'timeline' (an editor's timeline file)"
            )
        if self.shots is not None and self.timeline is not None:
            raise ValueError("give 'shots' or 'timeline', not both")
        if self.output is not None and self.outputs is not None:
            raise ValueError("give 'output' or 'outputs', not both")
        if self.outputs is not None and len(self.outputs) > 1:
            names = [o.name for o in self.outputs]
            if None in names:
                raise ValueError("with several outputs, each needs a 'name' (master, review ...)")
            if len(set(names)) != len(names):
                raise ValueError(f"output names must differ: {', '.join(map(str, names))}")
        return self

    @property
    def all_outputs(self) -> list[OutputSettings]:
        """Every output asked for: ``outputs``, else ``output``, else the defaults."""
        if self.outputs is not None:
            return list(self.outputs)
        return [self.output if self.output is not None else OutputSettings.model_validate({})]

    @property
    def main_output(self) -> OutputSettings:
        """The first output: what planning, probing and the copy decision start from."""
        return self.all_outputs[0]

    @property
    def shot_list(self) -> list[Shot]:
        return [Shot.model_validate(shot_entry(s)) for s in self.shots or []]

    def export_name(self, request_path: Path, output: OutputSettings | None = None) -> str:
        """The export's base name; an output of several adds its own, after a '_'."""
        base = self.name or default_export_name(request_path)
        if (
            output is not None
            and output.name
            and self.outputs is not None
            and len(self.outputs) > 1
        ):
            return f"{base}_{output.name}"
        return base


def default_export_name(request_path: Path) -> str:
    name = request_path.name
    if name != REQUEST_NAME and name.endswith(REQUEST_SUFFIX):
        return name[: -len(REQUEST_SUFFIX)]
    if not name.endswith(".json") and Path(name).stem:
        return Path(name).stem  # an editor's timeline dropped as it is: reel1_v12.edl
    # The folder holding the request as it is named, not a symlink's target's folder.
    return Path(os.path.abspath(request_path)).parent.name or "assembly"
