"""From typed tracks to one picture track, as an editor sees it.

Each track becomes *pieces*: its clips and gaps at whole record frames, with
every dissolve turned start-aligned, the form of :attr:`.model.Event.dissolve_in`:
the incoming piece starts where the dissolve starts, ``before`` frames earlier
than the cut (its source in moved back as much: the handle it needs), and the
outgoing piece ends there (its media runs on under the dissolve). An EDL's
``D 030`` is already start-aligned (``before`` 0); an FCP center-aligned 24-frame
dissolve moves the cut back 12 frames. Other transitions are cuts at the cut
point, with a warning.

The tracks are then stacked: on every stretch of the record, the top track with
a clip there wins; where none has one, the top gap (an EDL's numbered ``BL``
event), else plain black. A dissolve is kept only when what it dissolves from is
what is shown just before it; otherwise it is a cut, with a warning.

Positions are summed in exact seconds and rounded to frames once per edge.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import pairwise

from .timeline import Clip, Gap, Nested, Notice, Track, Transition

Shown = Clip | Gap


@dataclass(eq=False)
class Piece:
    level: int
    start: int
    end: int
    item: Shown
    #: Record seconds into ``item`` at ``start`` (negative: a dissolve's handle).
    offset: Fraction = Fraction(0)
    dissolve_in: int = 0
    prev: Piece | None = None
    notices: list[Notice] = field(default_factory=list)


@dataclass
class Segment:
    """A stretch of the flattened track: part of one piece, or black."""

    piece: Piece | None
    start: int
    end: int
    #: Record seconds into the piece's item at ``start``.
    offset: Fraction
    dissolve_in: int
    notices: list[Notice]

    @property
    def frames(self) -> int:
        return self.end - self.start


def pieces_of(track: Track, level: int, rate: Fraction) -> list[Piece]:
    """One track's clips and gaps, dissolves start-aligned (module doc)."""
    out: list[Piece] = []
    at = track.shift
    pending: Transition | None = None
    for item in track.items:
        if isinstance(item, Transition):
            if pending is not None and out:
                out[-1].notices.append(_as_cut(pending, "it follows another transition"))
            pending = item
            continue
        if isinstance(item, Nested):
            start = at
            at += item.seconds
            nested = _nested(item, level, rate, start)
            if pending is not None and nested:
                nested[0].notices.append(_as_cut(pending, "it leads into a nested sequence"))
                pending = None
            if nested and out and out[-1].end == nested[0].start:
                nested[0].prev = out[-1]
            out += nested
            continue
        start_frame = round(at * rate)
        at += item.seconds
        prev = out[-1] if out and out[-1].end == start_frame else None
        piece = Piece(level, start_frame, round(at * rate), item, prev=prev)
        piece.notices += item.notices
        if pending is not None:
            _dissolve(pending, prev, piece, out, level, rate)
            pending = None
        elif isinstance(item, Clip) and item.fade_from_black:
            black = Piece(level, start_frame, start_frame, Gap(Fraction(0)))
            out.append(black)
            piece.prev, piece.dissolve_in = black, item.fade_from_black
            if item.fade_from_black > piece.end - piece.start:
                piece.notices.append(_as_cut(None, "the fade is longer than the event"))
                piece.dissolve_in = 0
        out.append(piece)
    if pending is not None and out:
        _dissolve_to_black(pending, out, level, rate)
    if track.window is not None:
        low = round(track.shift * rate)
        out = _crop(out, low, low + round(track.window * rate), rate)
    return out


def _as_cut(transition: Transition | None, why: str = "") -> Notice:
    what = f"'{transition.name}'" if transition else "fade"
    if transition is not None and not transition.dissolve:
        return (
            "transition_as_cut",
            f"transition {what} ({transition.kind}) is not rendered; it is a cut",
        )
    return ("transition_as_cut", f"dissolve {what} is rendered as a cut: {why}")


def _dissolve(
    transition: Transition,
    prev: Piece | None,
    piece: Piece,
    out: list[Piece],
    level: int,
    rate: Fraction,
) -> None:
    before, after = round(transition.before * rate), round(transition.after * rate)
    if not transition.dissolve:
        piece.notices.append(_as_cut(transition))
        return
    if before + after == 0:
        return
    if after > piece.end - piece.start:
        piece.notices.append(_as_cut(transition, "it is longer than the clip it leads into"))
        return
    if prev is None:
        # From nothing on this track (its head, or after a hole): from black.
        prev = Piece(level, piece.start - before, piece.start - before, Gap(Fraction(0)))
        out.append(prev)
    elif before and before >= prev.end - prev.start:
        piece.notices.append(_as_cut(transition, "it is longer than the clip it leaves"))
        return
    prev.end -= before
    piece.start -= before
    piece.offset -= Fraction(before) / rate
    piece.dissolve_in = before + after
    piece.prev = prev


def _dissolve_to_black(
    transition: Transition, out: list[Piece], level: int, rate: Fraction
) -> None:
    last = out[-1]
    before, after = round(transition.before * rate), round(transition.after * rate)
    if not transition.dissolve or before + after == 0:
        if not transition.dissolve:
            last.notices.append(_as_cut(transition))
        return
    if before >= last.end - last.start:
        last.notices.append(_as_cut(transition, "it is longer than the clip it leaves"))
        return
    last.end -= before
    tail = Piece(level, last.end, last.end + before + after, Gap(Fraction(0)), prev=last)
    tail.dissolve_in = before + after
    out.append(tail)


def _nested(item: Nested, level: int, rate: Fraction, at: Fraction) -> list[Piece]:
    """A nested sequence's flattened pieces, placed at ``at`` on the outer track."""
    low = round(item.trim * rate)
    high = round((item.trim + item.seconds) * rate)
    inner = [pieces_of(track, index, rate) for index, track in enumerate(item.tracks)]
    shift = round(at * rate) - low
    pieces: list[Piece] = []
    for segment in flatten(inner, low, high, rate):
        shown = segment.piece.item if segment.piece else Gap(Fraction(0))
        piece = Piece(
            level,
            segment.start + shift,
            segment.end + shift,
            shown,
            segment.offset,
            segment.dissolve_in,
            pieces[-1] if pieces else None,
            list(segment.notices),
        )
        pieces.append(piece)
    return pieces


def _crop(pieces: list[Piece], low: int, high: int, rate: Fraction) -> list[Piece]:
    kept = []
    for piece in pieces:
        if piece.end < low or piece.start > high or (piece.end == low and piece.start < low):
            continue
        if piece.start < low:
            piece.offset += Fraction(low - piece.start) / rate
            piece.start, piece.dissolve_in = low, 0
        piece.end = min(piece.end, high)
        kept.append(piece)
    return kept


def flatten(tracks: list[list[Piece]], low: int, high: int, rate: Fraction) -> list[Segment]:
    """The picture from ``low`` to ``high`` (record frames): top clip wins."""
    edges = {low, high}
    for pieces in tracks:
        edges.update(p.start for p in pieces if low < p.start < high)
        edges.update(p.end for p in pieces if low < p.end < high)
    ordered = sorted(edges)
    starts = [[p.start for p in pieces] for pieces in tracks]
    runs: list[tuple[Piece | None, int, int]] = []
    for a, b in pairwise(ordered):
        shown = _on_top(tracks, starts, a, b)
        if runs and runs[-1][0] is shown and runs[-1][2] == a:
            runs[-1] = (shown, runs[-1][1], b)
        else:
            runs.append((shown, a, b))
    segments: list[Segment] = []
    noticed: set[int] = set()
    for piece, a, b in runs:
        if piece is None:
            segments.append(Segment(None, a, b, Fraction(0), 0, []))
            continue
        notices = [] if id(piece) in noticed else list(piece.notices)
        noticed.add(id(piece))
        offset = piece.offset + Fraction(a - piece.start) / rate
        dissolve = 0
        if piece.dissolve_in:
            if a == piece.start and b - a < piece.dissolve_in:
                notices.append(
                    ("transition_as_cut", "a dissolve is cut short by a higher track; cut")
                )
            elif a == piece.start:
                dissolve = _keep_dissolve(piece, segments, notices)
            elif a - piece.start < piece.dissolve_in:
                notices.append(
                    ("transition_as_cut", "a dissolve is partly covered by a higher track; cut")
                )
        segments.append(Segment(piece, a, b, offset, dissolve, notices))
    return segments


def _keep_dissolve(piece: Piece, segments: list[Segment], notices: list[Notice]) -> int:
    before = segments[-1] if segments else None
    prev = piece.prev
    if prev is not None and before is not None and before.piece is prev:
        return piece.dissolve_in
    if prev is not None and prev.start == prev.end:
        # From black that takes no record time: shown as a gap of no frames.
        segments.append(Segment(prev, prev.start, prev.start, Fraction(0), 0, []))
        return piece.dissolve_in
    notices.append(
        (
            "transition_as_cut",
            "a dissolve is rendered as a cut: what it dissolves from is hidden by a higher track",
        )
    )
    return 0


def _on_top(tracks: list[list[Piece]], starts: list[list[int]], a: int, b: int) -> Piece | None:
    gap: Piece | None = None
    for pieces, begins in zip(reversed(tracks), reversed(starts), strict=True):
        piece = _covering(pieces, begins, a, b)
        if piece is None:
            continue
        if isinstance(piece.item, Clip):
            return piece
        gap = gap or piece
    return gap


def _covering(pieces: list[Piece], starts: list[int], a: int, b: int) -> Piece | None:
    """The piece of one track (in order, not overlapping) that shows from a to b."""
    index = bisect_right(starts, a) - 1
    while index >= 0:
        piece = pieces[index]
        if piece.start < piece.end:
            return piece if piece.end >= b else None
        index -= 1  # a piece of no frames (the black a fade comes from)
    return None
