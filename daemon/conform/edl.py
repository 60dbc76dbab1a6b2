"""CMX 3600 EDLs: what the ``cmx_3600`` adapter (otio-cmx3600-adapter 1.0.0) needs
done before it reads one, and what it loses that a conform needs.

The adapter reads the EDL; this module only prepares the text and keeps what the
adapter drops, from the event lines alone:

- **Event numbers.** The adapter keeps none. A comment ``* ASSEMBLYD EVENT n`` is
  put after each event; the adapter hands it back in the clip's comments.
- **Header comments.** Any line before the first event other than ``TITLE:``,
  ``FCM:`` or ``SPLIT:`` makes the adapter fail ("Unknown event type"); notes
  that some systems and people put there (``* PROJECT: ...``) are left out.
- **Drop frame.** The adapter decides drop-frame per timecode by its ``;``. A
  timecode written with ``:`` under ``FCM: DROP FRAME`` (strict CMX 3600) is given
  its ``;``, so that it is counted as the editor's system counted it.
- **Keys** (``K``, ``KB``, ``KO``) make the adapter fail. The key's first line, the
  background, is kept as a cut, with a warning.
- **Fades from black** (a dissolve whose outgoing source is ``BL``) make the
  adapter fail at the head of a track, and elsewhere become a dissolve from the
  previous clip. The event is kept as a cut and the fade is returned here.
- **Rate.** An EDL does not say its rate; :func:`candidate_rates` lists the rates
  its timecodes allow.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from fractions import Fraction

from ..request.model import FRAME_RATES

TAG = "ASSEMBLYD EVENT"
_TIMECODE = re.compile(r"^\d{1,2}[:;.]\d{2}[:;.]\d{2}[:;.,]\d{2,3}$")
_FRAMES_ONLY = re.compile(r"^\d+$")
_TAGGED = re.compile(rf"^{TAG} (\d+)$")
_BLACK = {"BL", "BLACK"}
_HEADER_KEEP = ("FCM", "SPLIT")
#: The rates an EDL may be at, in the order they are preferred when its timecodes
#: and media leave a choice.
STANDARD_RATES = [FRAME_RATES[r] for r in (24, 23.976, 25, 29.97, 30, 50, 59.94, 60, 48)]


@dataclass(frozen=True)
class EventLine:
    number: str
    reel: str
    channel: str
    transition: str
    data: str
    source_in: str
    source_out: str
    record_in: str
    record_out: str

    @classmethod
    def parse(cls, line: str) -> EventLine | None:
        fields = line.split()
        if len(fields) not in (8, 9) or not fields[0].isdigit():
            return None
        if not all(_TIMECODE.match(f) or _FRAMES_ONLY.match(f) for f in fields[-4:]):
            return None
        data = fields[4] if len(fields) == 9 else ""
        return cls(fields[0], fields[1], fields[2], fields[3].upper(), data, *fields[-4:])

    def as_cut(self) -> str:
        return (
            f"{self.number}  {self.reel}  {self.channel}  C  "
            f"{self.source_in} {self.source_out} {self.record_in} {self.record_out}"
        )

    def as_written(self) -> str:
        data = f" {self.data}" if self.data else ""
        return (
            f"{self.number}  {self.reel}  {self.channel}  {self.transition}{data}  "
            f"{self.source_in} {self.source_out} {self.record_in} {self.record_out}"
        )

    @property
    def timecodes(self) -> tuple[str, str, str, str]:
        return self.source_in, self.source_out, self.record_in, self.record_out


@dataclass
class EdlEvent:
    """What the adapter does not keep about one event."""

    number: int
    reel: str
    channel: str
    #: The source in as written (drop-frame marked), on the media's own clock.
    source_in: str
    #: Frames of fade from black at the head of the event (a dissolve from BL).
    fade_from_black: int = 0
    #: (code, message) for what is rendered otherwise than cut.
    notices: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class PreparedEdl:
    #: The text for the adapter.
    text: str
    events: dict[int, EdlEvent]
    #: Some timecode is drop-frame.
    drop: bool
    #: The highest frames field of any timecode (24 means the rate is above 24).
    top_frame: int


def decode(data: bytes) -> str:
    """EDLs are ASCII in principle; Avid on Windows writes cp1252 names."""
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _drop_marked(timecode: str) -> str:
    """``01:00:00:00`` -> ``01:00:00;00``: under ``FCM: DROP FRAME``."""
    if not _TIMECODE.match(timecode) or ";" in timecode:
        return timecode
    return timecode[:-3] + ";" + timecode[-2:] if timecode[-3] in ":.," else timecode


def prepare(text: str) -> PreparedEdl:
    """The EDL as the adapter can read it, and what it would lose (module doc)."""
    lines = text.splitlines()
    header: list[str] = []
    groups: list[tuple[list[EventLine], list[str]]] = []
    drop_mode = False
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        upper = line.upper()
        if upper.startswith("FCM"):
            drop_mode = "DROP" in upper and "NON" not in upper
        event = EventLine.parse(line)
        if event is not None:
            if drop_mode:
                event = dataclasses.replace(
                    event,
                    source_in=_drop_marked(event.source_in),
                    source_out=_drop_marked(event.source_out),
                    record_in=_drop_marked(event.record_in),
                    record_out=_drop_marked(event.record_out),
                )
            if groups and int(groups[-1][0][0].number) == int(event.number):
                groups[-1][0].append(event)
            else:
                groups.append(([event], []))
        elif groups:
            groups[-1][1].append(line)
        elif upper.startswith("TITLE"):
            header.append("TITLE: " + line.split(":", 1)[-1].strip())
        elif upper.startswith(_HEADER_KEEP):
            header.append(line)
        # Anything else before the first event (comments, notes) the adapter refuses.

    out = list(header)
    events: dict[int, EdlEvent] = {}
    drop = False
    top = 0
    for numbered, others in groups:
        number = int(numbered[0].number)
        for event in numbered:
            for tc in event.timecodes:
                if _TIMECODE.match(tc):
                    drop = drop or ";" in tc
                    top = max(top, int(tc[-2:] if tc[-3] in ":;.," else tc[-3:]))
        kept, info = _settle(numbered)
        out += kept
        out.append(f"* {TAG} {number}")
        out += others
        # A number used twice (audio and picture in separate events): picture wins.
        if number not in events or _is_video(info.channel):
            events[number] = info
    return PreparedEdl("\n".join(out) + "\n", events, drop, top)


def _is_video(channel: str) -> bool:
    return channel.upper().startswith(("V", "B")) or channel.upper().endswith("/V")


def _settle(lines: list[EventLine]) -> tuple[list[str], EdlEvent]:
    """One event's lines as the adapter can read them, and what it would lose."""
    first, last = lines[0], lines[-1]
    number = int(first.number)

    def info(line: EventLine, fade: int = 0, notice: tuple[str, str] | None = None) -> EdlEvent:
        notices = [notice] if notice else []
        return EdlEvent(number, line.reel, line.channel, line.source_in, fade, notices)

    keys = [line for line in lines if line.transition.startswith("K")]
    if keys:
        message = (
            f"a key ({keys[0].transition}) is not rendered; its "
            f"background ({first.reel}) is shown as a cut"
        )
        return [first.as_cut()], info(first, notice=("key_as_cut", message))
    if len(lines) == 1:
        if first.transition == "C":
            return [first.as_written()], info(first)
        if first.transition == "D" and first.data.isdigit():
            # A dissolve without its outgoing line: from black, as CMX reads it.
            return [first.as_cut()], info(first, fade=int(first.data))
        message = f"transition {first.transition} has no outgoing source; rendered as a cut"
        return [first.as_cut()], info(first, notice=("transition_as_cut", message))
    if len(lines) == 2 and first.reel.upper() in _BLACK:
        if last.transition == "D" and last.data.isdigit():
            return [last.as_cut()], info(last, fade=int(last.data))
        message = f"a {_kind(last.transition)} from black is not rendered; rendered as a cut"
        return [last.as_cut()], info(last, notice=("transition_as_cut", message))
    if len(lines) == 2 and (last.transition == "D" or re.match(r"^W\d{3}$", last.transition)):
        # One spelling of the number for both lines: "002" and "2" make cmx_3600 1.0.0
        # fail with an AttributeError (a typo in its error path).
        last = dataclasses.replace(last, number=first.number)
        return [first.as_written(), last.as_written()], info(last)
    message = (
        f"{len(lines)} lines with transition {last.transition} are not "
        f"understood; its last source ({last.reel}) is shown as a cut"
    )
    return [last.as_cut()], info(last, notice=("transition_as_cut", message))


def _kind(transition: str) -> str:
    return "wipe" if transition.startswith("W") else f"transition {transition}"


def event_number(comments: list[str]) -> int | None:
    """The number :func:`prepare` tagged an adapter clip with (from its comments)."""
    for comment in comments:
        match = _TAGGED.match(comment.strip())
        if match:
            return int(match[1])
    return None


def candidate_rates(prepared: PreparedEdl) -> list[Fraction]:
    """The standard rates this EDL's timecodes allow, preferred first: drop-frame
    timecode means 29.97 (or 59.94 when a frames field reaches 30); otherwise any
    rate whose timecode counts more labels a second than the highest frames field."""
    if prepared.drop:
        return [FRAME_RATES[59.94 if prepared.top_frame >= 30 else 29.97]]
    return [rate for rate in STANDARD_RATES if round(rate) > prepared.top_frame]
