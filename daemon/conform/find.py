"""Finding each clip's media inside the project.

The rules, in order; the first that gives an answer decides:

1. **The clip's path.** Its target URL (OTIO, FCP XML, FCPXML, AAF), or the path
   an EDL names in ``* FROM CLIP:``, ``* FROM FILE:`` or ``* SOURCE FILE:``, when
   it names an existing file that, symlinks resolved, is inside the project. A
   relative path is taken from the timeline's folder. A path that leads outside is
   never opened; the clip goes on to the rules below, which only look inside.
2. **Exact file name** in the media folders (setting ``media_dirs``): the name in
   the clip's path, or its clip name (EDL ``* FROM CLIP NAME:``), as written.
3. **Name without extension**, ignoring case: ``shot_a`` or ``shot_a.mxf`` find
   ``shot_a.mov``.
4. **Reel** (EDLs), ignoring case: a file named after the reel, or starting with
   it and ``_``, ``-`` or ``.``: reel ``A001C003`` finds ``A001C003_220101_R2AB.mov``.

Two files answering the same rule is an ambiguity, reported with both; the rules
are not tried further, so a wrong file is never picked silently.

The media folders are listed once per read (projects hold thousands of files).
The listing does not enter hidden folders, ``exports/`` (the project's own
renders) or symlinked folders, and skips hidden files, timelines and request
files; a file that is a symlink leading outside the project is listed only to be
refused by name.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from urllib.parse import unquote, urlsplit

from ..errors import Problem
from ..request.model import TIMELINE_SUFFIXES

#: Files in a project that are never a clip's media.
NOT_MEDIA = {*TIMELINE_SUFFIXES, ".json", ".txt", ".md", ".log", ".lock", ".tmp", ".csv", ".pdf"}
EXPORTS = "exports"
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
_WINDOWS = re.compile(r"^[A-Za-z]:[\\/]|^\\\\")
#: What editing systems append to a clip name: Avid's speed " (47.60 FPS)", the
#: freeze frame's " FF".
_NAME_SUFFIX = re.compile(r"(\s+\(-?\d+(?:\.\d+)?\s*FPS\))?(\s+FF)?\s*$", re.IGNORECASE)
#: Reels that name no media (Premiere and Resolve write AX for "auxiliary").
_NO_REEL = {"", "AX", "BL", "BLACK", "BARS", "NONE"}


@dataclass(frozen=True)
class ClipRef:
    """What a timeline says about one clip's media."""

    #: The clip as the editor knows it (for messages).
    label: str
    #: Paths or URLs the timeline gives, most trusted first.
    paths: tuple[str, ...] = ()
    #: Clip names.
    names: tuple[str, ...] = ()
    reel: str = ""


@dataclass(frozen=True)
class Found:
    path: Path | None
    #: How it was found: "path", "name", "stem" or "reel"; else a problem code.
    how: str
    reason: str = ""


def clean_name(name: str) -> str:
    return _NAME_SUFFIX.sub("", name).strip()


def path_of(text: str, base: Path) -> Path | None:
    """The local path a URL or path names (relative ones from ``base``); None for
    URLs of other schemes, remote hosts and Windows paths."""
    text = text.strip()
    if not text or _WINDOWS.match(text):
        return None
    scheme = _SCHEME.match(text)
    if scheme:
        if scheme[1].lower() != "file":
            return None
        parts = urlsplit(text)
        if parts.netloc not in ("", "localhost"):
            return None
        text = unquote(parts.path)
        if re.match(r"^/[A-Za-z]:/", text):
            return None
    path = Path(text)
    return path if path.is_absolute() else base / path


def base_name(text: str) -> str:
    """The file name at the end of a path or URL, whatever its slashes."""
    text = text.strip()
    if _SCHEME.match(text) and not _WINDOWS.match(text):
        text = unquote(urlsplit(text).path)
    name = PureWindowsPath(text).name if "\\" in text else PurePosixPath(text).name
    return name


def _stem(name: str) -> str:
    stem = PurePosixPath(name).stem if "." in name.lstrip(".") else name
    return stem.casefold()


class MediaIndex:
    """The project's media folders, listed once."""

    def __init__(self, project: Path, media_dirs: Sequence[Path]) -> None:
        self.root = project.resolve()
        self.problems: list[Problem] = []
        self.folders: list[Path] = []
        #: Listed file -> its resolved path, or None when that leads outside.
        self._files: dict[Path, Path | None] = {}
        seen: set[Path] = set()
        for entry in media_dirs or [Path(".")]:
            folder = (self.root / entry).resolve()
            if not folder.is_relative_to(self.root):
                self.problems.append(
                    Problem(
                        "outside_project",
                        f"media_dirs entry '{entry}' leads outside the project folder",
                        field="media_dirs",
                    )
                )
                continue
            if folder in seen:
                continue
            seen.add(folder)
            self.folders.append(folder)
            if folder.is_dir():
                self._walk(folder)
        self._by_name: dict[str, list[Path]] = {}
        self._by_stem: dict[str, list[Path]] = {}
        self._by_reel: dict[str, list[Path]] = {}
        for listed in self._files:
            name = listed.name
            self._by_name.setdefault(name, []).append(listed)
            stem = _stem(name)
            self._by_stem.setdefault(stem, []).append(listed)
            for prefix in _reel_prefixes(stem):
                self._by_reel.setdefault(prefix, []).append(listed)

    def _walk(self, folder: Path) -> None:
        exports = self.root / EXPORTS
        for top, dirs, files in os.walk(folder, followlinks=False):
            here = Path(top)
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and here / d != exports)
            for name in sorted(files):
                if name.startswith(".") or Path(name).suffix.lower() in NOT_MEDIA:
                    continue
                listed = here / name
                if listed in self._files:
                    continue
                resolved = listed.resolve()
                inside = resolved.is_relative_to(self.root) and resolved.is_file()
                if not inside and resolved.is_relative_to(self.root):
                    continue  # a broken link, a socket
                self._files[listed] = resolved if inside else None

    def __len__(self) -> int:
        return len(self._files)

    def relative(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    def find(self, ref: ClipRef, timeline_dir: Path) -> Found:
        """The media of ``ref`` by the rules of the module doc."""
        outside: list[str] = []
        for text in ref.paths:
            path = path_of(text, timeline_dir)
            if path is None:
                continue
            resolved = path.resolve()
            if not resolved.is_relative_to(self.root):
                outside.append(text)
            elif resolved.is_file():
                return Found(resolved, "path")
        names = _unique(base_name(p) for p in ref.paths)
        names += [n for n in _unique(clean_name(n) for n in ref.names) if n not in names]
        names = [n for n in names if n]
        stems = _unique(_stem(n) for n in names)
        reel = ref.reel.strip()
        rules: list[tuple[str, str, list[Path]]] = [
            ("name", "file name", _all(self._by_name, names)),
            ("stem", "name without extension", _all(self._by_stem, stems)),
        ]
        if reel.upper() not in _NO_REEL:
            rules.append(("reel", "reel", self._by_reel.get(reel.casefold(), [])))
        refused: list[Path] = []
        for how, rule, matches in rules:
            usable = [m for m in matches if self._files[m] is not None]
            refused += [m for m in matches if self._files[m] is None]
            if len(usable) == 1:
                target = self._files[usable[0]]
                assert target is not None
                return Found(target, how)
            if len(usable) > 1:
                listed = ", ".join(self.relative(m) for m in usable[:6])
                more = f" and {len(usable) - 6} more" if len(usable) > 6 else ""
                return Found(
                    None,
                    "ambiguous_media",
                    f"{_describe(ref)}: several files match by {rule}: {listed}{more}; "
                    "rename one or narrow media_dirs",
                )
        looked = _looked_for(names, stems, reel if reel.upper() not in _NO_REEL else "")
        where = ", ".join(self.relative(f) or "." for f in self.folders) or "none"
        if refused:
            return Found(
                None,
                "outside_project",
                f"{_describe(ref)}: {self.relative(refused[0])} leads outside the project "
                "folder (through a symlink)",
            )
        if outside:
            return Found(
                None,
                "outside_project",
                f"{_describe(ref)}: its path {outside[0]} is outside the project folder, "
                f"and no file matches {looked} in the media folders ({where})",
            )
        return Found(
            None,
            "missing_media",
            f"{_describe(ref)}: no file matches {looked} in the media folders ({where})",
        )


def _describe(ref: ClipRef) -> str:
    if not ref.label or ref.label == ref.reel:
        return f"reel {ref.reel}"
    reel = f" (reel {ref.reel})" if ref.reel and ref.reel.upper() not in _NO_REEL else ""
    return f"'{ref.label}'{reel}"


def _looked_for(names: list[str], stems: list[str], reel: str) -> str:
    said = [f"the name '{n}'" for n in names]
    said += [f"the stem '{s}'" for s in stems if s not in {n.casefold() for n in names}]
    said += [f"the reel '{reel}'"] if reel else []
    if not said:
        return "nothing (the timeline names no file, clip or reel)"
    return ", ".join(said[:-1]) + (" or " if len(said) > 1 else "") + said[-1]


def _reel_prefixes(stem: str) -> Iterable[str]:
    yield stem
    for index, char in enumerate(stem):
        if char in "_-." and index:
            yield stem[:index]


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(i for i in items if i))


def _all(index: dict[str, list[Path]], keys: list[str]) -> list[Path]:
    return list(dict.fromkeys(p for k in keys for p in index.get(k, [])))
