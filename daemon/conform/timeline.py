"""Reading a timeline file with OpenTimelineIO and its adapters, and turning what
they hand back (untyped, ``Any``) into typed tracks at once.

Everything OTIO returns stays inside this module. The adapters' known faults are
worked around here (see docs/conform.md):

- cmx_3600 stores the record start as a *negative* start of each track's
  ``source_range``: undone here, each track placed at its own record in.
- fcpx_xml ignores the sequence's ``tcStart`` (a leading gap as long as it): read
  from the file and taken off; it truncates NTSC rates (23.976 becomes 23): such
  a file is refused rather than conformed a frame off; and it drops transitions:
  said in a warning.
- fcp_xml reads every transition as a dissolve: its effect name decides.
- Any exception from an adapter (parse errors, and plain bugs such as cmx_3600's
  ``AttributeError`` on a mismatched transition) becomes :class:`Unreadable`.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import opentimelineio as otio

from ..request.model import FRAME_RATES
from ..timecode import Timecode, TimecodeError, from_frame, label_rate
from . import edl
from .find import ClipRef

#: Rates an editing system can mean by a float such as 23.976023976023978.
_KNOWN_RATES = sorted({*FRAME_RATES.values(), Fraction(48000, 1001), Fraction(120000, 1001)})
_DISSOLVE_NAME = re.compile(r"dissolve", re.IGNORECASE)
_NOT_CROSS = re.compile(r"dip|fade to|additive|non.?additive|film", re.IGNORECASE)

Notice = tuple[str, str]  # (code, message); numbered and placed by the reader


class Unreadable(Exception):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class SourceStart:
    """Where a clip starts on its media."""

    #: EDL: the source in as a timecode label on the media's own clock.
    label: Timecode | None = None
    #: Otherwise seconds: from the media's first frame when ``relative`` (the
    #: timeline knew the media's range), else on its timecode clock.
    seconds: Fraction = Fraction(0)
    relative: bool = False


@dataclass(frozen=True)
class Clip:
    seconds: Fraction
    ref: ClipRef
    start: SourceStart
    speed: Fraction = Fraction(1)
    number: int | None = None
    notices: tuple[Notice, ...] = ()
    #: EDL: frames of fade from black at its head.
    fade_from_black: int = 0
    #: Why its media cannot be used whatever the project holds (an image sequence).
    unsupported: str = ""


@dataclass(frozen=True)
class Gap:
    seconds: Fraction
    number: int | None = None
    notices: tuple[Notice, ...] = ()


@dataclass(frozen=True)
class Transition:
    name: str
    dissolve: bool
    #: OTIO's transition type (SMPTE_Dissolve, SMPTE_Wipe, Custom_Transition).
    kind: str
    #: Seconds before and after the cut point (OTIO's in_offset and out_offset).
    before: Fraction
    after: Fraction


@dataclass(frozen=True)
class Nested:
    """A sequence inside a track (an FCP nest, an OTIO Stack): its own tracks,
    of which ``seconds`` from ``trim`` are shown."""

    seconds: Fraction
    trim: Fraction
    tracks: list[Track]
    name: str = ""


Item = Clip | Gap | Transition | Nested


@dataclass
class Track:
    name: str
    items: list[Item]
    #: Seconds its first item starts after the timeline's start.
    shift: Fraction = Fraction(0)
    #: Seconds of it that show (its own trim), from ``shift``; None for all.
    window: Fraction | None = None


@dataclass
class Loaded:
    name: str
    rate: Fraction
    start_frame: int
    #: Picture tracks, bottom first.
    video: list[Track]
    #: Sound tracks: name -> labels of its clips.
    audio: dict[str, list[str]]
    notices: list[Notice] = field(default_factory=list)


def snap_rate(value: float) -> Fraction:
    """An adapter's float rate as the exact rate it stands for."""
    for rate in _KNOWN_RATES:
        if abs(float(rate) - value) < 5e-4:
            return rate
    return Fraction(value).limit_denominator(1001)


def seconds_of(time: Any) -> Fraction:
    """An OTIO RationalTime as exact seconds."""
    return Fraction(float(time.value)) / snap_rate(float(time.rate))


def read_adapter(path: Path, fmt: str, adapter: str, text: str | None, rate: Fraction) -> Any:
    """The OTIO timeline the adapter reads from ``path`` (or ``text``, an EDL)."""
    no_linker = otio.media_linker.MediaLinkingPolicy.DoNotLinkMedia
    try:
        if fmt == "edl":
            result = otio.adapters.read_from_string(
                text, adapter_name=adapter, media_linker_name=no_linker, rate=float(rate)
            )
        else:
            result = otio.adapters.read_from_file(
                str(path), adapter_name=adapter, media_linker_name=no_linker
            )
    except Exception as exc:  # the adapters raise anything, bugs included
        message = str(exc).strip() or type(exc).__name__
        raise Unreadable(
            "unreadable_timeline",
            f"the {adapter} adapter could not read it: {type(exc).__name__}: {message}",
        ) from exc
    return result


def first_timeline(result: Any) -> tuple[Any, list[Notice]]:
    """FCP XML with several sequences and FCPXML libraries read as collections."""
    if isinstance(result, otio.schema.Timeline):
        return result, []
    found = list(_timelines(result))
    if not found:
        raise Unreadable("unreadable_timeline", "it holds no sequence")
    notices: list[Notice] = []
    if len(found) > 1:
        names = ", ".join(f"'{t.name}'" for t in found)
        notices.append(
            (
                "several_sequences",
                f"the file holds {len(found)} sequences ({names}); the first, "
                f"'{found[0].name}', is conformed",
            )
        )
    return found[0], notices


def _timelines(collection: Any) -> Any:
    for child in collection:
        if isinstance(child, otio.schema.Timeline):
            yield child
        elif isinstance(child, otio.schema.SerializableCollection):
            yield from _timelines(child)


def load(
    path: Path, fmt: str, adapter: str, rate: Fraction, prepared: edl.PreparedEdl | None = None
) -> Loaded:
    """Read ``path`` and type it. ``rate`` is an EDL's (others carry their own)."""
    fcpx = _fcpx_facts(path) if fmt == "fcpx" else None
    text = prepared.text if prepared else None
    result = read_adapter(path, fmt, adapter, text, rate)
    timeline, notices = first_timeline(result)
    reader = _Reader(fmt, prepared)
    loaded = reader.timeline(timeline, rate if fmt == "edl" else None)
    loaded.notices[:0] = notices
    if fcpx is not None:
        _apply_fcpx(loaded, fcpx)
    return loaded


@dataclass(frozen=True)
class _FcpxFacts:
    tc_start: Fraction
    transitions: int
    ntsc: bool


def _fcpx_time(text: str | None) -> Fraction:
    """FCPXML time: "3600s", "1001/24000s", "7/2s"."""
    if not text:
        return Fraction(0)
    return Fraction(text.strip().rstrip("s"))


def _fcpx_facts(path: Path) -> _FcpxFacts:
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as exc:
        raise Unreadable("unreadable_timeline", f"it is not well-formed XML: {exc}") from exc
    sequence = root.find(".//sequence")
    tc_start = _fcpx_time(sequence.get("tcStart") if sequence is not None else None)
    ntsc = False
    for fmt in root.iter("format"):
        duration = _fcpx_time(fmt.get("frameDuration"))
        if duration and (1 / duration).denominator != 1:
            ntsc = True
    return _FcpxFacts(tc_start, sum(1 for _ in root.iter("transition")), ntsc)


def _apply_fcpx(loaded: Loaded, facts: _FcpxFacts) -> None:
    if facts.ntsc:
        raise Unreadable(
            "unsupported_timeline",
            "it is at an NTSC rate (23.976, 29.97 ...), which otio-fcpx-xml-adapter 1.0.0 "
            "truncates to whole frames a second (23.976 becomes 23) and would conform a "
            "frame off; export an FCP 7 XML (Premiere, Resolve) or OTIO instead",
        )
    if facts.tc_start:
        loaded.start_frame = round(facts.tc_start * loaded.rate)
        for track in loaded.video:
            track.shift -= facts.tc_start
    if facts.transitions:
        loaded.notices.append(
            (
                "fcpxml_transitions_not_read",
                f"FCPXML transitions are not read (otio-fcpx-xml-adapter drops them): "
                f"{facts.transitions} transition(s) are rendered as cuts",
            )
        )


class _Reader:
    """OTIO objects (Any) to the typed items above."""

    def __init__(self, fmt: str, prepared: edl.PreparedEdl | None) -> None:
        self.fmt = fmt
        self.prepared = prepared

    def timeline(self, timeline: Any, edl_rate: Fraction | None) -> Loaded:
        rate = edl_rate or self._rate_of(timeline)
        start_frame = 0
        if timeline.global_start_time is not None:
            start_frame = round(seconds_of(timeline.global_start_time) * rate)
        video: list[Track] = []
        audio: dict[str, list[str]] = {}
        # cmx_3600 stores each track's first record in, negated, as the start of
        # its source_range (left unset when it is 00:00:00:00).
        offsets: list[Fraction] = []
        for track in timeline.tracks:
            if not track.enabled:
                continue
            video_track = self._is_video(track)
            count = len(video) if video_track else len(audio)
            name = str(track.name or f"{'V' if video_track else 'A'}{count + 1}")
            offset = Fraction(0)
            if self.fmt == "edl" and track.source_range is not None:
                offset = -seconds_of(track.source_range.start_time)
            offsets.append(offset)
            if video_track:
                video.append(self.track(track, name))
                video[-1].shift = offset
            else:
                audio[name] = self._labels(track)
        if self.fmt == "edl":
            start = min(offsets, default=Fraction(0))
            start_frame = round(start * rate)
            for track_ in video:
                track_.shift -= start
            video.sort(key=lambda t: _track_order(t.name))
        name = str(timeline.name or "")
        return Loaded(name, rate, start_frame, video, audio)

    def _is_video(self, track: Any) -> bool:
        if track.kind != otio.schema.TrackKind.Video:
            return False
        # cmx_3600 makes a Video track of Premiere's NONE channel (audio 3 and up).
        return not (self.fmt == "edl" and not str(track.name).upper().startswith("V"))

    def _rate_of(self, timeline: Any) -> Fraction:
        if timeline.global_start_time is not None:
            return snap_rate(float(timeline.global_start_time.rate))
        for item in timeline.find_children(descended_from_type=otio.core.Item):
            return snap_rate(float(item.duration().rate))
        return Fraction(24)

    def _labels(self, track: Any) -> list[str]:
        labels = []
        for item in track.find_children(descended_from_type=otio.schema.Clip, shallow_search=True):
            reel = item.metadata.get("cmx_3600", {}).get("reel", "")
            labels.append(str(item.name or reel or "unnamed"))
        return labels

    def track(self, track: Any, name: str) -> Track:
        items = [self.item(child) for child in track]
        window = None
        shift = Fraction(0)
        if self.fmt != "edl" and track.source_range is not None:
            shift = -seconds_of(track.source_range.start_time)
            window = seconds_of(track.source_range.duration)
        return Track(name, items, shift, window)

    def item(self, item: Any) -> Item:
        if isinstance(item, otio.schema.Transition):
            return self.transition(item)
        seconds = seconds_of(item.duration())
        if isinstance(item, otio.schema.Gap):
            return Gap(seconds)
        if isinstance(item, otio.schema.Stack | otio.schema.Track):
            tracks = [item] if isinstance(item, otio.schema.Track) else list(item)
            trim = seconds_of(item.source_range.start_time) if item.source_range else Fraction(0)
            return Nested(
                seconds,
                trim,
                [self.track(t, str(t.name)) for t in tracks if self._is_nested_video(t)],
                str(item.name or ""),
            )
        if not isinstance(item, otio.schema.Clip):
            kind = item.schema_name()
            return Gap(seconds, notices=(("unknown_item", f"a {kind} is shown as black"),))
        if not item.enabled:
            return Gap(seconds)
        return self.clip(item, seconds)

    @staticmethod
    def _is_nested_video(track: Any) -> bool:
        return bool(track.enabled) and track.kind == otio.schema.TrackKind.Video

    def transition(self, item: Any) -> Transition:
        name = str(item.name or "")
        dissolve = item.transition_type == otio.schema.TransitionTypes.SMPTE_Dissolve
        if self.fmt == "fcp7":
            # fcp_xml calls every transition a dissolve; its effect's name says what it is.
            dissolve = not name or bool(_DISSOLVE_NAME.search(name) and not _NOT_CROSS.search(name))
        if not name:
            name = "Cross Dissolve" if dissolve else str(item.transition_type or "transition")
        kind = str(item.transition_type or "Custom_Transition")
        if self.fmt == "fcp7" and not dissolve:
            kind = "Custom_Transition"
        before, after = seconds_of(item.in_offset), seconds_of(item.out_offset)
        return Transition(name, dissolve, kind, before, after)

    def clip(self, clip: Any, seconds: Fraction) -> Item:
        reference = clip.media_reference
        notices: list[Notice] = []
        if isinstance(reference, otio.schema.GeneratorReference):
            kind = str(reference.generator_kind or "generator")
            number = self._number(clip)
            if kind.lower() not in ("black", "slug", "blackvideo", "black video"):
                notices.append(("generator_as_black", f"generator '{kind}' is shown as black"))
            return Gap(seconds, number, tuple(notices))
        speed, effect_notices = self._speed(clip)
        notices += effect_notices
        cmx = clip.metadata.get("cmx_3600", {}) if self.fmt == "edl" else {}
        comments = [str(c) for c in cmx.get("comments", [])]
        number = self._number(clip)
        paths: list[str] = []
        unsupported = ""
        if isinstance(reference, otio.schema.ExternalReference) and reference.target_url:
            paths.append(str(reference.target_url))
        elif isinstance(reference, otio.schema.ImageSequenceReference):
            unsupported = "image sequences in a timeline are not conformed yet"
        paths += [c.split(":", 1)[1].strip() for c in comments if _is_source_file(c)]
        name = str(clip.name or "")
        names = [name] if name and not (self.fmt == "edl" and name.isdigit()) else []
        if reference is not None and reference.name:
            names.append(str(reference.name))
        reel = str(cmx.get("reel", ""))
        event = self.prepared.events.get(number) if self.prepared and number else None
        label = names[0] if names else reel or (paths[0] if paths else "")
        ref = ClipRef(label, tuple(paths), tuple(names), reel)
        if event is not None:
            notices += event.notices
            try:
                start = SourceStart(label=_edl_label(event.source_in, self._edl_rate(clip)))
            except TimecodeError as exc:
                start = SourceStart()
                unsupported = f"its source in {event.source_in} is not a timecode: {exc}"
        else:
            source = clip.source_range or clip.available_range()
            available = getattr(reference, "available_range", None)
            if available is not None:
                start = SourceStart(
                    seconds=seconds_of(source.start_time) - seconds_of(available.start_time),
                    relative=True,
                )
            else:
                start = SourceStart(seconds=seconds_of(source.start_time))
        return Clip(
            seconds,
            ref,
            start,
            speed,
            number,
            tuple(notices),
            event.fade_from_black if event else 0,
            unsupported,
        )

    def _edl_rate(self, clip: Any) -> Fraction:
        return snap_rate(float(clip.source_range.start_time.rate))

    def _number(self, clip: Any) -> int | None:
        if self.fmt != "edl":
            return None
        comments = clip.metadata.get("cmx_3600", {}).get("comments", [])
        return edl.event_number([str(c) for c in comments])

    def _speed(self, clip: Any) -> tuple[Fraction, list[Notice]]:
        speed = Fraction(1)
        notices: list[Notice] = []
        for effect in clip.effects:
            if isinstance(effect, otio.schema.FreezeFrame):
                speed = Fraction(0)
            elif isinstance(effect, otio.schema.LinearTimeWarp):
                scalar = float(effect.time_scalar)
                if self.fmt == "edl":
                    # M2 gives the source's frames a second to one decimal, counted
                    # like its timecode (012.0 is half speed at 23.976 too): exact
                    # from that, not from the adapter's float.
                    rate = snap_rate(float(clip.source_range.duration.rate))
                    m2 = Fraction(f"{scalar * float(rate):.1f}")
                    exact = m2 / label_rate(rate)
                else:
                    exact = Fraction(scalar).limit_denominator(1000)
                if exact < 0:
                    notices.append(
                        (
                            "reverse_as_forward",
                            f"reverse motion ({float(exact):g}x) is not rendered; the clip "
                            "plays forward at normal speed",
                        )
                    )
                    continue
                speed *= exact
            else:
                what = str(effect.effect_name or effect.name or effect.schema_name())
                notices.append(("effect_not_rendered", f"effect '{what}' is not rendered"))
        return speed, notices


def _is_source_file(comment: str) -> bool:
    return comment.upper().startswith("SOURCE FILE:")


def _edl_label(text: str, rate: Fraction) -> Timecode:
    """An EDL source in: a timecode, or (rarely) a frame count at the EDL's rate."""
    if text.isdigit():
        return from_frame(int(text), rate, drop=False)
    return Timecode.parse(text)


def _track_order(name: str) -> tuple[int, str]:
    digits = re.sub(r"\D", "", name)
    return (int(digits) if digits else 1, name)
