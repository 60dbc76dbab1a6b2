"""Reading an editor's timeline into a :class:`.model.Conform`.

:func:`read_timeline` reads the file with OpenTimelineIO's adapters
(:mod:`.timeline`), flattens its picture tracks (:mod:`.flatten`), finds every
clip's media inside the project (:mod:`.find`), reads each media file's start
timecode and length, and places every event on its media. Like shot validation
it keeps going after a problem, and raises :class:`~assemblyd.errors.ValidationFailed`
naming every one: each missing, ambiguous or unreadable media with its event
number and what was looked for, each source range outside its media.

The rate of an EDL (which does not state it), in order:

1. the rate the caller gives (the request's ``output.fps``), when the EDL's
   timecodes allow it;
2. drop-frame timecode (a ``;``, or ``FCM: DROP FRAME``): 29.97, or 59.94 when a
   frames field reaches 30;
3. the frame rate most of its picture media share, when the timecodes allow it;
4. otherwise the first rate the timecodes allow, of 24, 23.976, 25, 29.97, 30,
   50, 59.94, 60, 48, with a warning.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from ..errors import Notice, ProbeError, Problem, UnsafeInput, ValidationFailed
from ..media.info import MediaInfo
from ..media.probe import probe
from ..media.timecode import read_start_timecode
from ..settings import Settings
from ..timecode import TimecodeError, from_frame, to_frame
from ..untrusted import read_regular
from . import edl
from .detect import format_of
from .find import ClipRef, Found, MediaIndex
from .flatten import Segment, flatten, pieces_of
from .model import Conform, Event, MediaClock
from .timeline import Clip, Loaded, Unreadable, load

#: Media files probed at once (as validation does: the disk is the limit).
PROBE_THREADS = 4


def read_timeline(
    path: Path, project: Path, settings: Settings, rate: Fraction | None = None
) -> Conform:
    """Read the timeline at ``path`` (inside ``project``; a relative path is taken
    from the project, as a request's ``timeline`` is) into events.

    ``rate`` is the rate the request asks for (``output.fps``); only an EDL, which
    does not state its own, uses it (see the module doc)."""
    return _Reader(Path(path), Path(project), settings).read(rate)


@dataclass(frozen=True)
class _Media:
    info: MediaInfo
    clock: MediaClock


class _Reader:
    def __init__(self, path: Path, project: Path, settings: Settings) -> None:
        self.root = project.resolve()
        self.path = path if path.is_absolute() else self.root / path
        self.settings = settings
        self.problems: list[Problem] = []
        self.notices: list[Notice] = []
        self._index: MediaIndex | None = None
        self._found: dict[ClipRef, Found] = {}
        self._media: dict[Path, _Media | ProbeError] = {}

    @property
    def shown_path(self) -> str:
        try:
            return self.path.relative_to(self.root).as_posix()
        except ValueError:
            return str(self.path)

    def fail(self, code: str, reason: str) -> ValidationFailed:
        self.problems.append(Problem(code, reason, path=self.shown_path))
        return ValidationFailed(str(self.path), self.problems)

    @property
    def index(self) -> MediaIndex:
        if self._index is None:
            self._index = MediaIndex(self.root, self.settings.media_dirs)
            self.problems += self._index.problems
        return self._index

    # --- the read ----------------------------------------------------------------

    def read(self, rate: Fraction | None) -> Conform:
        source = self.path.resolve()
        if not source.is_relative_to(self.root):
            raise self.fail("outside_project", "the timeline leads outside the project folder")
        if not source.is_file():
            raise self.fail("missing_file", "the timeline file does not exist")
        found = format_of(source)
        if found is None:
            raise self.fail(
                "unsupported_timeline",
                "is not a timeline: use .otio, .otioz, .edl, .xml (Final Cut Pro 7), "
                ".fcpxml or .aaf",
            )
        fmt, adapter, _ = found
        try:
            # Bounded and regular files only, as a request is: a timeline named by an
            # assembly.json was not read at the door, and an adapter reads all it is given.
            data = read_regular(source, self.settings.max_timeline_bytes)
        except UnsafeInput as exc:
            raise self.fail(exc.code, f"the timeline {exc.reason}") from None
        except OSError as exc:
            raise self.fail("unreadable", f"the timeline cannot be read: {exc}") from None
        try:
            loaded = self._load_edl(source, data, adapter, rate) if fmt == "edl" else None
            if loaded is None:
                loaded = load(source, fmt, adapter, Fraction(24))
        except Unreadable as exc:
            raise self.fail(exc.code, exc.reason) from None
        except OSError as exc:
            raise self.fail("unreadable", f"the timeline cannot be read: {exc}") from None
        if not loaded.video:
            raise self.fail("no_picture", "the timeline has no picture track")
        segments = self._segments(loaded)
        if not segments or sum(s.frames for s in segments) == 0:
            raise self.fail("no_picture", "the timeline's picture tracks are empty")
        numbers = [self._number(fmt, s, i) for i, s in enumerate(segments)]
        self._resolve(segments, numbers)
        self._probe_all()
        events = self._events(loaded, segments, numbers)
        self.notices += self._timeline_notices(loaded, events)
        if self.problems:
            raise ValidationFailed(str(self.path), self.problems)
        return Conform(
            source=source,
            name=loaded.name or source.stem,
            rate=loaded.rate,
            start_frame=loaded.start_frame,
            events=events,
            warnings=self.notices,
        )

    def _load_edl(self, source: Path, data: bytes, adapter: str, asked: Fraction | None) -> Loaded:
        prepared = edl.prepare(edl.decode(data))
        candidates = edl.candidate_rates(prepared)
        if not candidates:
            raise Unreadable(
                "unreadable_timeline",
                f"its timecodes count frames up to {prepared.top_frame}, more than any "
                "supported rate",
            )
        if asked is not None and asked in candidates:
            return load(source, "edl", adapter, asked, prepared)
        if asked is not None:
            self.notices.append(
                Notice(
                    code="edl_rate",
                    message=(
                        f"the requested {_fps(asked)} fps does not fit the EDL's timecodes; "
                        f"it is read at {_fps(candidates[0])} fps"
                    ),
                )
            )
        # The first rate it reads at (a 25 fps EDL's durations disagree at 24) ...
        loaded, first_error = None, None
        for candidate in candidates:
            try:
                loaded = load(source, "edl", adapter, candidate, prepared)
                break
            except Unreadable as exc:
                first_error = first_error or exc
        if loaded is None:
            assert first_error is not None
            raise first_error
        if len(candidates) == 1:
            return loaded
        # ... unless most of its picture media run at another rate its timecodes allow.
        segments = self._segments(loaded)
        self._resolve(segments, None)
        self._probe_all()
        rates = Counter(
            media.clock.rate
            for found in self._found.values()
            if found.path is not None
            and isinstance(media := self._media.get(found.path), _Media)
            and media.clock.rate in candidates
        )
        if not rates:
            self.notices.append(
                Notice(
                    code="edl_rate",
                    message=(
                        f"the EDL's rate is not known from its timecodes or media; it is "
                        f"read at {_fps(loaded.rate)} fps"
                    ),
                )
            )
            return loaded
        best = max(rates, key=lambda r: (rates[r], -candidates.index(r)))
        if best == loaded.rate:
            return loaded
        try:
            return load(source, "edl", adapter, best, prepared)
        except Unreadable as exc:
            self.notices.append(
                Notice(
                    code="edl_rate",
                    message=(
                        f"most of the EDL's media run at {_fps(best)} fps, but it does not "
                        f"read at that rate ({exc.reason}); it is read at {_fps(loaded.rate)} fps"
                    ),
                )
            )
            return loaded

    def _segments(self, loaded: Loaded) -> list[Segment]:
        tracks = [pieces_of(track, level, loaded.rate) for level, track in enumerate(loaded.video)]
        end = max((p.end for pieces in tracks for p in pieces), default=0)
        return flatten(tracks, 0, end, loaded.rate)

    @staticmethod
    def _number(fmt: str, segment: Segment, index: int) -> int:
        if fmt != "edl":
            return index + 1
        item = segment.piece.item if segment.piece else None
        return item.number or 0 if item is not None else 0

    # --- media -------------------------------------------------------------------

    def _resolve(self, segments: list[Segment], numbers: list[int] | None) -> None:
        """Find every clip's media; with ``numbers``, report what is not found."""
        reported: set[int] = set()
        for index, segment in enumerate(segments):
            item = segment.piece.item if segment.piece else None
            if not isinstance(item, Clip):
                continue
            if item.unsupported:
                found = Found(None, "unsupported_media", f"'{item.ref.label}': {item.unsupported}")
            elif item.ref in self._found:
                found = self._found[item.ref]
            else:
                found = self.index.find(item.ref, self.path.parent)
                self._found[item.ref] = found
            if numbers is not None and found.path is None and id(item) not in reported:
                reported.add(id(item))
                self.problems.append(
                    Problem(found.how, found.reason, field=f"event {numbers[index]}")
                )

    def _probe_all(self) -> None:
        todo = sorted(
            {f.path for f in self._found.values() if f.path is not None} - set(self._media)
        )
        with ThreadPoolExecutor(max_workers=PROBE_THREADS) as pool:
            for path, media in zip(todo, pool.map(_describe, todo), strict=True):
                self._media[path] = media

    # --- events ------------------------------------------------------------------

    def _events(self, loaded: Loaded, segments: list[Segment], numbers: list[int]) -> list[Event]:
        events: list[Event] = []
        rate = loaded.rate
        for index, segment in enumerate(segments):
            number = numbers[index]
            notices = tuple(
                Notice(code=code, message=f"event {number}: {message}", shot_index=index)
                for code, message in segment.notices
            )
            item = segment.piece.item if segment.piece else None
            if not isinstance(item, Clip):
                events.append(
                    Event(
                        number,
                        "gap",
                        segment.frames,
                        "",
                        None,
                        Fraction(0),
                        Fraction(1),
                        segment.dissolve_in,
                        notices,
                    )
                )
                continue
            found = self._found.get(item.ref)
            media = self._media.get(found.path) if found and found.path else None
            label = item.ref.label
            if isinstance(media, ProbeError):
                assert found is not None and found.path is not None
                self.problems.append(
                    Problem(
                        media.code,
                        f"'{label}': {self.index.relative(found.path)} {media.reason}",
                        path=self.index.relative(found.path),
                        field=f"event {number}",
                    )
                )
                continue
            if media is None or found is None or found.path is None:
                continue  # reported by _resolve
            source_in = self._source_in(item, segment, media, number)
            if source_in is None:
                continue
            handle = segments[index + 1].dissolve_in if index + 1 < len(segments) else 0
            self._check_range(item, segment, media, source_in, handle, rate, number, found.path)
            events.append(
                Event(
                    number,
                    "clip",
                    segment.frames,
                    label,
                    found.path,
                    source_in,
                    item.speed,
                    segment.dissolve_in,
                    notices,
                    media.clock,
                    media.info,
                )
            )
        return events

    def _source_in(
        self, item: Clip, segment: Segment, media: _Media, number: int
    ) -> Fraction | None:
        clock = media.clock
        start = item.start
        if start.label is not None:
            try:
                on_clock = to_frame(start.label, clock.rate)
            except TimecodeError as exc:
                self.problems.append(
                    Problem(
                        "bad_timecode",
                        f"'{item.ref.label}': source in {start.label} is not a timecode of its "
                        f"media's {_fps(clock.rate)} fps clock: {exc}",
                        field=f"event {number}",
                    )
                )
                return None
            first = Fraction(on_clock - clock.start_frame) / clock.rate
        elif start.relative:
            first = start.seconds
        else:
            first = start.seconds - Fraction(clock.start_frame) / clock.rate
        return first + segment.offset * item.speed

    def _check_range(
        self,
        item: Clip,
        segment: Segment,
        media: _Media,
        source_in: Fraction,
        handle: int,
        rate: Fraction,
        number: int,
        path: Path,
    ) -> None:
        if media.info.kind == "still":
            return
        clock = media.clock
        if item.speed == 0:
            used = 1 / clock.rate
        else:
            used = Fraction(segment.frames + handle) / rate * item.speed
        end = source_in + used
        length = Fraction(clock.frames) / clock.rate
        slack = Fraction(1, 2) / clock.rate
        if source_in >= -slack and end <= length + slack:
            return
        shown = self.index.relative(path)
        what = f"source {self._tc(clock, source_in)} to {self._tc(clock, end)}"
        if handle:
            what += f" (with {handle} frames run on under the next dissolve)"
        if segment.dissolve_in and segment.offset < 0:
            what += f" (from {segment.dissolve_in} frames before its cut, for its dissolve)"
        self.problems.append(
            Problem(
                "source_out_of_range",
                f"'{item.ref.label}': {what} is outside its media {shown}, which runs "
                f"{self._tc(clock, Fraction(0))} to {self._tc(clock, length)} "
                f"({clock.frames} frames)",
                path=shown,
                field=f"event {number}",
            )
        )

    @staticmethod
    def _tc(clock: MediaClock, seconds: Fraction) -> str:
        frame = clock.start_frame + round(seconds * clock.rate)
        if frame < 0:
            return f"{-frame} frames before 00:00:00:00"
        try:
            return str(from_frame(frame, clock.rate, drop=";" in clock.timecode))
        except TimecodeError:
            return f"frame {frame}"

    def _timeline_notices(self, loaded: Loaded, events: Iterable[Event]) -> list[Notice]:
        notices = [Notice(code=code, message=message) for code, message in loaded.notices]
        relinked = [
            ref for ref, f in self._found.items() if ref.paths and f.path and f.how != "path"
        ]
        if relinked:
            notices.append(
                Notice(
                    code="media_relinked",
                    message=(
                        f"{len(relinked)} clip(s) name a path that is not in the project "
                        f"(such as {relinked[0].paths[0]}); their media were found by name "
                        "in the media folders"
                    ),
                )
            )
        shown = {e.label.casefold() for e in events if e.kind == "clip"}
        shown |= {e.media.name.casefold() for e in events if e.media is not None}
        shown |= {e.media.stem.casefold() for e in events if e.media is not None}
        for name, labels in loaded.audio.items():
            extra = list(dict.fromkeys(x for x in labels if x.casefold() not in shown))
            if not extra:
                continue
            listed = ", ".join(extra[:3]) + (
                f" and {len(extra) - 3} more" if len(extra) > 3 else ""
            )
            notices.append(
                Notice(
                    code="audio_not_mixed",
                    message=(
                        f"audio track {name} ({listed}) is not mixed: each event's sound "
                        "comes from its own media"
                    ),
                )
            )
        return notices


def _describe(path: Path) -> _Media | ProbeError:
    try:
        info = probe(path)
    except ProbeError as exc:
        return exc
    rate = info.frame_rate
    timecode = read_start_timecode(path) or ""
    start = 0
    if timecode:
        try:
            start = to_frame(timecode, rate)
        except TimecodeError as exc:
            return ProbeError(
                f"has a start timecode that cannot be read: {exc}", code="bad_timecode"
            )
    frames = round(Fraction(info.duration) * rate) if info.kind == "video" else 0
    return _Media(info, MediaClock(rate, start, timecode, frames))


def _fps(rate: Fraction) -> str:
    return f"{float(rate):.3f}".rstrip("0").rstrip(".") if rate.denominator != 1 else str(rate)
