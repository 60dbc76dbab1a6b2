"""Validate stage: the request and every shot, with every problem reported at once.

An editor fixing a cut wants the whole list, not one error per round trip, so this
module keeps going after the first problem: the document is checked against the
models, and each shot that parses is checked on disk, whatever else is wrong.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import ValidationError

from ..conform.detect import is_timeline_file
from ..conform.model import Conform
from ..errors import ProbeError, Problem, ValidationFailed
from ..media.info import MediaInfo
from ..media.probe import check_decodes, probe
from ..media.sequence import describe_missing, find_frames, is_sequence
from ..request.model import FRAME_RATES, AssemblyRequest, Shot, shot_entry
from ..request.parse import RawRequest, parse_request, read_request, read_request_bytes
from ..settings import Settings

#: Shots probed at once. More would only queue on two cores and one NAS link.
PROBE_THREADS = 4

# "http:", "concat:", "pipe:", "file:", "data:" ... Anything shaped like a URL
# scheme or an FFmpeg protocol prefix; a relative path never starts like that.
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")


@dataclass(frozen=True)
class ProbedShot:
    """A shot that passed validation, with its resolved file and what is in it."""

    index: int
    entry: Shot
    source: Path
    info: MediaInfo
    start: float
    end: float
    #: Frames missing inside the used range (dropped, or cut off by ``-c copy``).
    holes: int = 0

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class ValidatedRequest:
    request_path: Path
    project_dir: Path
    request: AssemblyRequest
    raw: RawRequest
    #: The bytes validated: what the journal hashes, and what the job was queued for.
    content: bytes
    shots: list[ProbedShot]
    #: An editor's timeline, read (a timeline request: ``shots`` is then empty).
    conform: Conform | None = None


def _locate(project: Path, text: str) -> tuple[Path | None, str, str]:
    """The shot's file inside the project; else None with a problem code and reason."""
    if _SCHEME.match(text):
        scheme = text.split(":", 1)[0]
        return (
            None,
            "url_not_allowed",
            f"'{scheme}:' is a URL or an FFmpeg protocol; only files inside the project "
            "folder can be shots",
        )
    if PurePosixPath(text).is_absolute():
        return (
            None,
            "outside_project",
            "absolute paths are not allowed; give a path relative to the project",
        )
    root = project.resolve()
    sequence = is_sequence(text)
    # A sequence's frames are files beside its pattern: its folder must be inside.
    folder = (root / text).parent.resolve() if sequence else None
    source = folder / Path(text).name if folder else (root / text).resolve()
    if not source.is_relative_to(root):
        how = "through a symlink" if ".." not in PurePosixPath(text).parts else "with '..'"
        return None, "outside_project", f"leads outside the project folder ({how})"
    if sequence:
        frames = find_frames(source)
        if frames is None:
            return None, "missing_file", "no frame of this image sequence exists"
        if frames.missing:
            missing = describe_missing(frames.missing)
            return (
                None,
                "missing_frames",
                f"the sequence ({frames.first}-{frames.last}) is missing frame(s) {missing}",
            )
        return source, "", ""
    if not source.exists():
        return None, "missing_file", "file not found"
    if not source.is_file():
        return None, "not_a_file", "is not a regular file"
    if source.stat().st_size == 0:
        return None, "empty_file", "the file is empty (0 bytes)"
    return source, "", ""


def _shape_problems(shot: Shot, info: MediaInfo) -> list[str]:
    """What the shot's own keys ask that this kind of file cannot give."""
    wrong = []
    if info.kind == "still":
        if shot.duration is None:
            wrong.append("a still needs a 'duration' in seconds")
        if shot.in_ is not None or shot.out is not None:
            wrong.append("a still has no 'in' or 'out'; give its 'duration'")
    if shot.rate is not None and info.kind != "sequence":
        wrong.append(f"'rate' is for image sequences; this {info.kind} has its own")
    if isinstance(shot.audio, list):
        count = len(info.audio)
        for number in shot.audio:
            if number >= count:
                has = f"0-{count - 1}" if count > 1 else "0" if count else "none"
                wrong.append(f"audio stream {number} does not exist (this file's: {has})")
    return wrong


def check_shot(
    project: Path, index: int, shot: Shot, settings: Settings
) -> tuple[ProbedShot | None, list[Problem]]:
    """Every check one shot needs, from path safety down to decoding."""

    def problems(code: str, *reasons: str) -> tuple[None, list[Problem]]:
        return None, [Problem(code, r, shot_index=index, path=shot.path) for r in reasons]

    source, code, reason = _locate(project, shot.path)
    if source is None:
        return problems(code, reason)
    try:
        info = probe(source, shot.frame_rate)
    except ProbeError as exc:
        return problems(exc.code, exc.reason)
    if wrong := _shape_problems(shot, info):
        return problems("invalid_shot", *wrong)
    if info.kind == "still":
        assert shot.duration is not None
        return ProbedShot(index, shot, source, info, 0.0, shot.duration), []
    start = shot.in_ or 0.0
    end = shot.end if shot.end is not None else info.duration
    # Half a frame of slack: "out": 3.0 on a 2.99 s clip is what the editor meant.
    slack = float(0.5 / info.frame_rate)
    trims: list[str] = []
    if start >= info.duration:
        trims.append(
            f"'in' {start:.3f} s is not before the end of the shot ({info.duration:.3f} s)"
        )
    if shot.end is not None and shot.end > info.duration + slack:
        said = "'out'" if shot.out is not None else "'in' + 'duration'"
        trims.append(f"{said} {shot.end:.3f} s is past the end of the shot ({info.duration:.3f} s)")
    if trims:
        return problems("trim_out_of_range", *trims)
    end = min(end, info.duration)
    try:
        holes = check_decodes(source, info, start, end, full=settings.decode_check == "full")
    except ProbeError as exc:
        return problems(exc.code, exc.reason)
    return ProbedShot(index, shot, source, info, start, end, holes), []


def validate(
    request_path: Path,
    settings: Settings,
    on_shot: Callable[[int, int], None] | None = None,
    content: bytes | None = None,
) -> ValidatedRequest:
    """Check everything; raise :class:`ValidationFailed` listing every problem.

    ``content`` is the request's bytes when the caller has read them already (a job
    checks them against what it was queued for); else the file is read.
    """
    request_path = Path(request_path)
    # The folder holding the request file is the project, whatever a symlinked
    # request file points at (see read_request_bytes: it must stay inside).
    project = Path(os.path.abspath(request_path)).parent
    if is_timeline_file(request_path):
        # An editor's export dropped as it is: the timeline is the request.
        if content is None:
            content, problem = read_request_bytes(request_path, settings.max_timeline_bytes)
            if content is None:
                assert problem is not None
                raise ValidationFailed(str(request_path), [problem])
        return _timeline(request_path, project, None, {}, content, request_path, settings)
    if content is None:
        content, raw, request, problems = read_request(request_path, settings.max_request_bytes)
    else:
        raw, request, problems = parse_request(content)
    if request is not None and request.timeline is not None and not problems:
        timeline = project / request.timeline
        return _timeline(request_path, project, request, raw, content, timeline, settings)
    shots = raw.get("shots")
    entries: list[Any] = shots if isinstance(shots, list) else []
    shots_to_check: list[tuple[int, Shot]] = []
    for index, entry in enumerate(entries):
        try:
            shots_to_check.append((index, Shot.model_validate(shot_entry(entry))))
        except ValidationError:
            continue  # already reported by the document check
    probed: list[ProbedShot] = []
    # Probing waits on the disk (a NAS, often) and on FFmpeg's demuxers, which
    # release the GIL: a few at a time cut validation of a long list by half.
    with ThreadPoolExecutor(max_workers=PROBE_THREADS) as pool:
        checks = pool.map(
            lambda item: check_shot(project, item[0], item[1], settings), shots_to_check
        )
        for done, (ok, shot_problems) in enumerate(checks, start=1):
            problems += shot_problems
            if ok is not None:
                probed.append(ok)
            if on_shot:
                on_shot(done, len(entries))
    if problems or request is None:
        raise ValidationFailed(str(request_path), problems)
    return ValidatedRequest(request_path, project, request, raw, content, probed)


def _timeline(
    request_path: Path,
    project: Path,
    request: AssemblyRequest | None,
    raw: RawRequest,
    content: bytes,
    timeline: Path,
    settings: Settings,
) -> ValidatedRequest:
    """A timeline request: the conform reads the timeline and finds its media.

    A timeline dropped as it is gets the default outputs, at the timeline's own rate
    (an EDL's rate is then worked out by the conform; see :mod:`..conform.read`)."""
    # Imported here: OpenTimelineIO and its adapters take 0.2 s to import, and a
    # shot list never needs them (the CLI renders a copy join in about a second).
    from ..conform.read import read_timeline

    asked = request.main_output.frame_rate if request and _rate_given(raw) else None
    conform = read_timeline(timeline, project, settings, asked)
    if request is None:
        fps = next((f for f, r in FRAME_RATES.items() if r == conform.rate), None)
        if fps is None:
            problem = Problem(
                "unsupported_rate",
                f"the timeline runs at {float(conform.rate):.3f} fps, which is not an output "
                f"rate; name it in an assembly.json with an output 'fps'",
                path=timeline.name,
            )
            raise ValidationFailed(str(request_path), [problem])
        request = AssemblyRequest.model_validate(
            {"timeline": timeline.name, "output": {"fps": int(fps) if fps == int(fps) else fps}}
        )
    return ValidatedRequest(request_path, project, request, raw, content, [], conform)


def _rate_given(raw: RawRequest) -> bool:
    """Did the document say an output rate (else the timeline's own is used)?"""
    outputs = raw.get("outputs") or [raw.get("output") or {}]
    return any(isinstance(o, dict) and "fps" in o for o in outputs)
