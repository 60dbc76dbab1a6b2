"""A job as people look at it: its shots, outputs and pictures, read from the job's
entry in its project's ``project.json`` (the entry whose ``id`` is the job's id).

Nothing read here is trusted. The project comes from the job's meta in Redis, and
``project.json`` is a file any tool or person may edit. So every field is checked
for its shape and a wrong one is left out, never an error; and a file an entry names
is only handed out if it resolves, symlinks followed, to a regular file directly in
the project's ``exports/`` (pictures: ``exports/.thumbs/``), checked again on the
file descriptor that is then served, so a link swapped in meanwhile cannot leak
another file.
"""

from __future__ import annotations

import math
import os
import stat
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal, TypedDict

from ..errors import AssemblyError, Notice, describe
from ..records.files import MAX_RECORD_BYTES
from ..records.project import PROJECT_FILE
from ..settings import Settings, map_path
from ..untrusted import loads, read_regular
from .views import JobView

#: Bounds on what one entry may make us send: far above any real cut.
MAX_SHOTS = 5000
MAX_OUTPUTS = 16
MAX_WARNINGS = 200
MAX_TEXT = 1000
#: project.json holds other tools' keys too; deeper than this is refused unparsed.
MAX_DEPTH = 128
EXPORTS = "exports"
THUMBS = "exports/.thumbs"

FileKind = Literal["export", "poster", "sheet", "timeline", "thumbnail"]
#: Where each kind of file must be, and the media types it may have (by suffix).
_VIDEO = {".mp4": "video/mp4", ".mov": "video/quicktime"}
_PICTURE = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}
_KINDS: dict[FileKind, tuple[str, dict[str, str]]] = {
    "export": (EXPORTS, _VIDEO),
    "timeline": (EXPORTS, {".otio": "application/json"}),
    "poster": (THUMBS, _PICTURE),
    "sheet": (THUMBS, _PICTURE),
    "thumbnail": (THUMBS, _PICTURE),
}
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


@dataclass(frozen=True)
class Record:
    """The job's project folder (resolved) and its entry there, as read."""

    project: Path | None
    entry: dict[str, Any] | None
    problem: str | None = None


@dataclass(frozen=True)
class OpenedFile:
    """A file cleared for serving, held open: serve ``serve_path`` (the descriptor's
    own path where the system has one), then ``close()``."""

    fd: int
    path: Path
    stat: os.stat_result
    media_type: str

    @property
    def serve_path(self) -> Path:
        pinned = Path(f"/proc/self/fd/{self.fd}")
        return pinned if pinned.exists() else self.path

    def close(self) -> None:
        os.close(self.fd)


# ---------------------------------------------------------------- finding the entry


def project_folder(view: JobView, settings: Settings) -> Path | None:
    """The job's project on this machine, if it is a folder (inside a watch root,
    when there are roots: a tampered meta must not point us anywhere else)."""
    raw = view["project"]
    if not raw or "\x00" in raw:
        return None
    mapped = Path(map_path(raw, settings))
    if not mapped.is_absolute():
        return None
    try:
        project = mapped.resolve(strict=True)
        if not project.is_dir():
            return None
        roots = [root.resolve() for root in settings.roots]
    except (OSError, RuntimeError):
        return None
    if roots and not any(project.is_relative_to(root) for root in roots):
        return None
    return project


def record(view: JobView, settings: Settings) -> Record:
    project = project_folder(view, settings)
    if project is None:
        gone = "the job's project folder is not there" if view["project"] else None
        return Record(None, None, gone)
    entries, problem = _entries(project / PROJECT_FILE)
    return Record(project, entries.get(view["id"]), problem)


class _Cache:
    """Parsed project.json files by identity (inode, size, mtime): a dashboard asks
    for many pictures of one project at once, and the file can be megabytes."""

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self.lock = threading.Lock()
        self.items: OrderedDict[tuple[Any, ...], tuple[dict[str, dict[str, Any]], str | None]]
        self.items = OrderedDict()

    def get(self, key: tuple[Any, ...]) -> tuple[dict[str, dict[str, Any]], str | None] | None:
        with self.lock:
            found = self.items.get(key)
            if found is not None:
                self.items.move_to_end(key)
            return found

    def put(
        self, key: tuple[Any, ...], value: tuple[dict[str, dict[str, Any]], str | None]
    ) -> None:
        with self.lock:
            self.items[key] = value
            while len(self.items) > self.size:
                self.items.popitem(last=False)


_CACHE = _Cache()


def _entries(path: Path) -> tuple[dict[str, dict[str, Any]], str | None]:
    """The assembly entries of ``path`` by id, and what made it unreadable, if it was."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return {}, None
    except OSError as exc:
        return {}, f"{PROJECT_FILE} cannot be read: {exc.strerror or exc}"
    key = (str(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    found = _CACHE.get(key)
    if found is None:
        found = _parse(path)
        _CACHE.put(key, found)
    return found


def _parse(path: Path) -> tuple[dict[str, dict[str, Any]], str | None]:
    try:
        data = loads(read_regular(path, MAX_RECORD_BYTES), PROJECT_FILE, max_depth=MAX_DEPTH)
    except AssemblyError as exc:
        return {}, describe(exc)
    except OSError as exc:
        return {}, f"{PROJECT_FILE} cannot be read: {exc.strerror or exc}"
    assemblies = data.get("assemblies") if isinstance(data, dict) else None
    if not isinstance(assemblies, list):
        return {}, None if isinstance(data, dict) else f"{PROJECT_FILE} is not a JSON object"
    entries: dict[str, dict[str, Any]] = {}
    for entry in assemblies:
        if isinstance(entry, dict) and isinstance(entry.get("id"), str):
            entries.setdefault(entry["id"], entry)
    return entries, None


# ---------------------------------------------------------------- shapes


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


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object, limit: int) -> list[Any]:
    return value[:limit] if isinstance(value, list) else []


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
    for item in map(_dict, _list(value, 32)):
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
    for item in map(_dict, _list(value, MAX_WARNINGS)):
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
    shot = _dict(item)
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
        "thumbnail": _servable(project, shot.get("thumbnail"), "thumbnail"),
    }
    return found


def outputs_of(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """The entry's outputs; an entry from before several outputs has one, made of
    its ``output``, ``settings`` and ``report``."""
    outputs = entry.get("outputs")
    if isinstance(outputs, list):
        return [_dict(out) for out in outputs[:MAX_OUTPUTS]]
    if isinstance(entry.get("output"), str):
        return [
            {
                "file": entry["output"],
                "strategy": entry.get("strategy"),
                "settings": entry.get("settings"),
                "report": entry.get("report"),
                "segments": entry.get("segments"),
            }
        ]
    return []


def _output(index: int, out: dict[str, Any], project: Path | None) -> OutputDetail:
    settings, report = _dict(out.get("settings")), _dict(out.get("report"))
    segments = _dict(out.get("segments"))
    counts = {k: n for k in ("encoded", "cached", "copied") if (n := _int(segments.get(k)))}
    return OutputDetail(
        index=index,
        name=_text(out.get("name"), 80),
        file=_text(out.get("file")),
        available=_servable(project, out.get("file"), "export") is not None,
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
        poster=_servable(project, out.get("poster"), "poster"),
        sheet=_servable(project, out.get("sheet"), "sheet"),
        timeline=_servable(project, out.get("timeline"), "timeline"),
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
        for k, raw in list(_dict(entry.get("timings")).items())[:40]
        if (v := _float(raw, 0)) is not None
    }
    shots = _list(entry.get("shots"), MAX_SHOTS)
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


# ---------------------------------------------------------------- files


def _named(entry: dict[str, Any], kind: FileKind, index: int) -> object:
    """What the entry names as the ``kind`` file of output (or shot) ``index``."""
    if kind == "thumbnail":
        shots = _list(entry.get("shots"), MAX_SHOTS)
        return _dict(shots[index]).get("thumbnail") if index < len(shots) else None
    outputs = outputs_of(entry)
    key = "file" if kind == "export" else kind
    return outputs[index].get(key) if index < len(outputs) else None


def _resolve(project: Path, named: object, kind: FileKind) -> tuple[Path, str] | None:
    """The real path of the file ``named`` (relative to ``project``) and its media
    type, if that is a file of ``kind`` directly in the folder where it belongs."""
    if not isinstance(named, str) or not 0 < len(named) <= 1024 or "\x00" in named:
        return None
    relative = PurePosixPath(named)
    if relative.is_absolute() or ".." in relative.parts or "\\" in named:
        return None
    folder, types = _KINDS[kind]
    try:
        real = (project / relative).resolve(strict=True)
    except (OSError, RuntimeError):  # gone, or a symlink loop
        return None
    media_type = types.get(real.suffix.lower())
    if media_type is None or not _placed(real, project / folder):
        return None
    return real, media_type


def _placed(real: Path, folder: Path) -> bool:
    # Directly in the folder, and not a hidden file (partial exports are hidden).
    return real.parent == folder and not real.name.startswith(".")


def _servable(project: Path | None, named: object, kind: FileKind) -> str | None:
    """``named`` if it is a file that :func:`open_file` would serve (then its path
    relative to the project, as recorded), else None."""
    if project is None or _resolve(project, named, kind) is None:
        return None
    assert isinstance(named, str)
    return named


def meta_export(view: JobView, settings: Settings) -> Path | None:
    """The export the job's meta names (its first, at the address it has always
    had), if that is where an export belongs."""
    project = project_folder(view, settings)
    found = _resolve(project, view["export"], "export") if project else None
    return found[0] if found else None


def open_file(rec: Record, kind: FileKind, index: int) -> OpenedFile | None:
    """The ``kind`` file of output ``index`` (of shot ``index`` for a thumbnail),
    opened, if the entry names one that is where it belongs; else None."""
    if rec.project is None or rec.entry is None or not 0 <= index < MAX_SHOTS:
        return None
    found = _resolve(rec.project, _named(rec.entry, kind, index), kind)
    if found is None:
        return None
    real, media_type = found
    try:
        # O_NOFOLLOW: ``real`` has no links left; one that appeared since is refused.
        fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        # What was opened, by the descriptor: a folder swapped for a link between
        # the check above and the open would show here.
        opened = _fd_path(fd) or real
        folder = rec.project / _KINDS[kind][0]
        if stat.S_ISREG(st.st_mode) and _placed(opened, folder):
            return OpenedFile(fd, real, st, media_type)
    except OSError:
        pass
    os.close(fd)
    return None


def _fd_path(fd: int) -> Path | None:
    try:
        return Path(os.readlink(f"/proc/self/fd/{fd}"))
    except OSError:  # no /proc (macOS): the checks on the resolved path stand
        return None
