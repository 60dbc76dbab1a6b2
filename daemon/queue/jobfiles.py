"""A job's files, served safely: its exports, their posters, contact sheets and
timelines, and its shots' thumbnails.

A file is handed out only if the job's entry in project.json names it and it
resolves, symlinks followed, to a regular, non-hidden file directly in the
project's ``exports/`` (pictures: ``exports/.thumbs/``) with a suffix of its kind.
It is then opened without following a last link and checked again by its
descriptor, which is what gets served: a link swapped in after the check leaks
nothing.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from ..settings import Settings
from .entry import as_dict, as_list, outputs_of, project_folder, record
from .views import JobView

EXPORTS = "exports"
THUMBS = "exports/.thumbs"
#: More shots than this in one entry are not looked at.
MAX_SHOTS = 5000

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


def _named(entry: dict[str, Any], kind: FileKind, index: int) -> object:
    """What the entry names as the ``kind`` file of output (or shot) ``index``."""
    if kind == "thumbnail":
        shots = as_list(entry.get("shots"), MAX_SHOTS)
        return as_dict(shots[index]).get("thumbnail") if index < len(shots) else None
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


def servable(project: Path | None, named: object, kind: FileKind) -> str | None:
    """``named`` if it is a file that :func:`open_file` would serve (then its path
    relative to the project, as recorded), else None."""
    if project is None or _resolve(project, named, kind) is None:
        return None
    assert isinstance(named, str)
    return named


def open_meta_export(view: JobView, settings: Settings) -> OpenedFile | None:
    """The export the job's meta names (its first, at the address it has always
    had), opened, if that is where an export belongs; else None."""
    project = project_folder(view, settings)
    return _open(project, view["export"], "export") if project else None


def open_file(view: JobView, settings: Settings, kind: FileKind, index: int) -> OpenedFile | None:
    """The ``kind`` file of output ``index`` (of shot ``index`` for a thumbnail) of
    ``view``'s job, opened, if its entry names one that is where it belongs; else None."""
    if not 0 <= index < MAX_SHOTS:
        return None
    rec = record(view, settings)
    if rec.project is None or rec.entry is None:
        return None
    return _open(rec.project, _named(rec.entry, kind, index), kind)


def _open(project: Path, named: object, kind: FileKind) -> OpenedFile | None:
    """``named`` opened, if it is a ``kind`` file where one belongs in ``project``, and
    is still there (no link, no swapped folder) once open."""
    found = _resolve(project, named, kind)
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
        folder = project / _KINDS[kind][0]
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
