"""A job as people look at it: the job, and from its entry in project.json its
shots, outputs, warnings and pictures, in one typed shape for the job page.

Every field of the entry is checked for its shape and range; a wrong one is null
(or left out of a list), never an error, and a missing or unreadable record is said
in ``record_problem`` rather than failing: the job itself still shows.
"""

from __future__ import annotations

import math
from pathlib import Path, PurePosixPath
from typing import Any, TypedDict

from ..errors import Notice
from ..settings import Settings
from .entry import as_dict, as_list, outputs_of, record
from .jobfiles import MAX_SHOTS, servable
from .views import JobView

#: Bounds on what one entry may make us send.
MAX_WARNINGS = 200
MAX_TEXT = 1000
_MADE = frozenset({"copied", "encoded", "cached"})
_SHOT_KINDS = frozenset({"clip", "gap", "slate"})


class SourceDetail(TypedDict):
    resolution: str | None
    fps: str | None
    codec: str | None


#: A piece of the cut: ``made`` says how (copied, encoded, cached) once rendered;
#: ``thumbnail`` is the picture's path in the project when one can be served.
ShotDetail = TypedDict(
    "ShotDetail",
    {
        "index": int,
        "kind": str | None,
        "path": str | None,
        "frames": int | None,
        "record_in": int | None,
        "duration": float | None,
        "in": float | None,
        "out": float | None,
        "speed": float | None,
        "dissolve_frames": int | None,
        "made": str | None,
        "source": SourceDetail | None,
        "thumbnail": str | None,
    },
)


class Loudness(TypedDict):
    integrated: float | None
    range: float | None
    true_peak: float | None


class BurninDetail(TypedDict):
    field: str
    text: str | None
    position: str | None


class OutputDetail(TypedDict):
    index: int
    name: str | None
    #: The export, relative to the project; ``available``: it can be served now.
    file: str | None
    available: bool
    format: str | None
    quality_preset: str | None
    strategy: str | None
    size_bytes: int | None
    resolution: str | None
    fps: str | None
    video_codec: str | None
    audio_codec: str | None
    duration: float | None
    frames: int | None
    timecode: str | None
    #: Measured on the export (only when the output asked for a loudness target).
    loudness: Loudness | None
    loudness_target: Loudness | None
    burnins: list[BurninDetail]
    segments: dict[str, int]
    poster: str | None
    sheet: str | None
    timeline: str | None


class JobDetails(TypedDict):
    job: JobView
    #: The project's path below its watch root (for people), else as recorded.
    project_path: str | None
    #: The job has an entry in project.json; if not, ``record_problem`` may say why.
    recorded: bool
    record_problem: str | None
    status: str | None
    strategy: str | None
    duration: float | None
    timings: dict[str, float]
    warnings: list[Notice]
    shots: list[ShotDetail]
    outputs: list[OutputDetail]


def _text(value: object, limit: int = MAX_TEXT) -> str | None:
    return value[:limit] if isinstance(value, str) else None


def _int(value: object, low: int = 0, high: int = 2**53) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if low <= value <= high else None


def _float(value: object, low: float = -1e12, high: float = 1e12) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, int) and not -(2**53) <= value <= 2**53:
        return None
    number = float(value)
    return number if math.isfinite(number) and low <= number <= high else None


def _loudness(value: object) -> Loudness | None:
    if not isinstance(value, dict):
        return None
    found = Loudness(
        integrated=_float(value.get("integrated"), -200, 100),
        range=_float(value.get("range"), 0, 200),
        true_peak=_float(value.get("true_peak"), -200, 100),
    )
    return found if any(v is not None for v in found.values()) else None


def _burnins(value: object) -> list[BurninDetail]:
    found: list[BurninDetail] = []
    for item in map(as_dict, as_list(value, 32)):
        field = _text(item.get("field"), 40)
        if field:
            found.append(
                BurninDetail(
                    field=field,
                    text=_text(item.get("text"), 200),
                    position=_text(item.get("position"), 40),
                )
            )
    return found


def _warnings(value: object) -> list[Notice]:
    found: list[Notice] = []
    for item in map(as_dict, as_list(value, MAX_WARNINGS)):
        code, message = _text(item.get("code"), 80), _text(item.get("message"))
        if code and message is not None:
            notice = Notice(code=code, message=message)
            index = _int(item.get("shot_index"), -1, MAX_SHOTS)
            if index is not None:
                notice["shot_index"] = index
            found.append(notice)
    return found


def _source(value: object) -> SourceDetail | None:
    if not isinstance(value, dict):
        return None
    width, height = _int(value.get("width"), 1, 65536), _int(value.get("height"), 1, 65536)
    return SourceDetail(
        resolution=f"{width}x{height}" if width and height else None,
        fps=_text(value.get("fps"), 20),
        codec=_text(value.get("video_codec"), 40),
    )


def _shot(index: int, item: object, project: Path | None) -> ShotDetail:
    shot = as_dict(item)
    kind, made = shot.get("kind"), shot.get("made")
    found: ShotDetail = {
        "index": index,
        "kind": kind if kind in _SHOT_KINDS else None,
        "path": _text(shot.get("path")),
        "frames": _int(shot.get("frames")),
        "record_in": _int(shot.get("record_in")),
        "duration": _float(shot.get("duration"), 0),
        "in": _float(shot.get("in"), 0),
        "out": _float(shot.get("out"), 0),
        "speed": _float(shot.get("speed"), -1e6, 1e6),
        "dissolve_frames": _int(shot.get("dissolve_frames")),
        "made": made if made in _MADE else None,
        "source": _source(shot.get("source")),
        "thumbnail": servable(project, shot.get("thumbnail"), "thumbnail"),
    }
    return found


def _output(index: int, out: dict[str, Any], project: Path | None) -> OutputDetail:
    settings, report = as_dict(out.get("settings")), as_dict(out.get("report"))
    segments = as_dict(out.get("segments"))
    counts = {k: n for k in ("encoded", "cached", "copied") if (n := _int(segments.get(k)))}
    return OutputDetail(
        index=index,
        name=_text(out.get("name"), 80),
        file=_text(out.get("file")),
        available=servable(project, out.get("file"), "export") is not None,
        format=_text(settings.get("output_format"), 20),
        quality_preset=_text(settings.get("quality_preset"), 20),
        strategy=_text(out.get("strategy"), 40),
        size_bytes=_int(report.get("size_bytes")),
        resolution=_text(report.get("resolution"), 40),
        fps=_text(report.get("fps"), 20),
        video_codec=_text(report.get("video_codec"), 40),
        audio_codec=_text(report.get("audio_codec"), 40),
        duration=_float(report.get("video_duration"), 0),
        frames=_int(report.get("frames")),
        timecode=_text(report.get("timecode"), 20),
        loudness=_loudness(report.get("loudness")),
        loudness_target=_loudness(settings.get("loudness")),
        burnins=_burnins(settings.get("burnins")),
        segments=counts,
        poster=servable(project, out.get("poster"), "poster"),
        sheet=servable(project, out.get("sheet"), "sheet"),
        timeline=servable(project, out.get("timeline"), "timeline"),
    )


def _below_root(project: str | None, settings: Settings) -> str | None:
    if project is None:
        return None
    for root in settings.roots:
        path = PurePosixPath(project)
        if path.is_relative_to(root) and path != PurePosixPath(root):
            return path.relative_to(root).as_posix()
    return project


def job_details(view: JobView, settings: Settings) -> JobDetails:
    """What the job page shows of ``view``'s job: never an error for a missing or
    broken record (the job itself still shows, with ``record_problem``)."""
    rec = record(view, settings)
    entry = rec.entry or {}
    timings = {
        k[:40]: v
        for k, raw in list(as_dict(entry.get("timings")).items())[:40]
        if (v := _float(raw, 0)) is not None
    }
    shots = as_list(entry.get("shots"), MAX_SHOTS)
    return JobDetails(
        job=view,
        project_path=_below_root(view["project"], settings),
        recorded=rec.entry is not None,
        record_problem=rec.problem,
        status=_text(entry.get("status"), 40),
        strategy=_text(entry.get("strategy"), 40),
        duration=_float(entry.get("planned_duration"), 0),
        timings=timings,
        warnings=_warnings(entry.get("warnings")),
        shots=[_shot(i, shot, rec.project) for i, shot in enumerate(shots)],
        outputs=[_output(i, out, rec.project) for i, out in enumerate(outputs_of(entry))],
    )
