"""Burn-ins and the slate: text drawn into the picture with FFmpeg's ``drawtext``.

Every engine draws them in the same filter chain (:mod:`.picture`), with the font
that ships in this package (DejaVu Sans Mono Bold, under the Bitstream Vera
licence, in ``fonts/``): nothing is read from the machine's fonts, so a burn-in
looks the same on every render node.

Positions are the corners and centres of the title-safe area (the inner 90 % of the
frame); several burn-ins in one position stack away from the edge. Sizes are a share
of the frame's height. Counters and timecodes are computed per frame from the
segment's place on the timeline, so a cached segment shows the right numbers.
"""

from __future__ import annotations

import re
from datetime import date
from fractions import Fraction
from pathlib import Path

from ..request.model import Burnin
from ..timecode import Timecode, from_frame, to_frame
from .model import Plan, Segment

FONT = Path(__file__).with_name("fonts") / "DejaVuSansMono-Bold.ttf"
#: The title-safe margin on each side, as a share of the frame.
SAFE = 0.05
_X = {
    "left": f"w*{SAFE}",
    "center": "(w-tw)/2",
    "right": f"w*{1 - SAFE}-tw",
}


def quote(value: str) -> str:
    """``value`` as one option value inside a filter graph, taken literally.

    FFmpeg parses it twice: the graph's parser first (where backslash, quote,
    brackets, comma and semicolon are special), then the filter's option parser
    (backslash, quote and colon). So it is escaped for the option first, then the
    result for the graph: a timecode's colons, a client's name with a comma or a
    quote all arrive as written.
    """
    for_option = re.sub(r"([\\':])", r"\\\1", value)
    return re.sub(r"([\\'\[\],;])", r"\\\1", for_option)


def record_start(plan: Plan) -> tuple[int, bool]:
    """The timeline's first frame as a timecode frame count, and whether it is drop-frame."""
    timecode = Timecode.parse(plan.output.start_timecode or "00:00:00:00")
    return to_frame(timecode, plan.output.frame_rate), timecode.drop


def _drawtext(
    text: str | None,
    burnin: Burnin,
    height: int,
    row: int,
    *,
    literal: bool = True,
    extra: tuple[str, ...] = (),
) -> str:
    """One drawtext: ``text`` (literal, or with drawtext's expansions), or only what
    ``extra`` draws (a running timecode)."""
    size = max(8, round(height * burnin.size))
    line = round(size * 1.5)
    vertical, _, horizontal = burnin.position.partition("_")
    if burnin.position == "center":
        vertical, horizontal = "middle", "center"
    y = {
        "top": f"h*{SAFE}+{row * line}",
        "middle": f"(h-th)/2+{row * line}",
        "bottom": f"h*{1 - SAFE}-th-{row * line}",
    }[vertical]
    options = [
        f"fontfile={quote(str(FONT))}",
        f"fontsize={size}",
        "fontcolor=white",
        f"x={_X[horizontal]}",
        f"y={y}",
        *extra,
    ]
    if text is not None:
        options += [
            f"text={quote(text)}",
            f"expansion={'none' if literal else 'normal'}",
        ]
    if burnin.box:
        options += ["box=1", "boxcolor=black@0.55", f"boxborderw={max(2, size // 4)}"]
    return "drawtext=" + ":".join(options)


def _timecode(
    frames: int, rate: Fraction, drop: bool, burnin: Burnin, height: int, row: int
) -> str:
    """A running timecode from ``frames`` on, one frame per output frame."""
    start = str(from_frame(frames, rate, drop))
    running = (f"timecode={quote(start)}", f"timecode_rate={rate.numerator}/{rate.denominator}")
    return _drawtext(None, burnin, height, row, extra=running)


def burnin_filters(seg: Segment, plan: Plan) -> list[str]:
    """drawtext filters for ``plan``'s burn-ins over ``seg``'s frames."""
    burnins = plan.output.burnins
    if not burnins:
        return []
    height = plan.output.size[1]
    rate = plan.output.frame_rate
    rows: dict[str, int] = {}
    filters = []
    for burnin in burnins:
        row = rows.get(burnin.position, 0)
        rows[burnin.position] = row + 1
        if burnin.field == "record_timecode":
            first, drop = record_start(plan)
            filters.append(_timecode(first + seg.first_frame, rate, drop, burnin, height, row))
        elif burnin.field == "source_timecode":
            # The source's own timecode at the in point, counting with the picture. Its
            # start is a frame count on the source's clock: taken to the output's as a
            # time, so a 25 fps source's 10:00:00:00 still reads 10:00:00:00 at 24.
            source = Fraction(seg.info.start_timecode or 0) / seg.info.frame_rate
            at = round((source + Fraction(seg.start)) * rate)
            filters.append(_timecode(at, rate, False, burnin, height, row))
        elif burnin.field == "frame":
            counter = f"%{{eif:n+{seg.first_frame}:d}}"
            filters.append(_drawtext(counter, burnin, height, row, literal=False))
        else:
            text = {
                "shot": seg.label,
                "source_file": seg.source.name,
                "date": date.today().isoformat(),
                "project": plan.project,
                "text": burnin.text or "",
            }[burnin.field]
            filters.append(_drawtext(text, burnin, height, row, literal=True))
    return filters


def slate_filters(lines: list[str], height: int) -> list[str]:
    """The slate's lines, centred one under the other, large."""
    size = max(10, round(height * 0.05))
    gap = round(size * 1.6)
    top = f"(h-{gap * len(lines)})/2"
    return [
        "drawtext="
        + ":".join(
            [
                f"fontfile={quote(str(FONT))}",
                f"fontsize={size}",
                "fontcolor=white",
                "x=(w-tw)/2",
                f"y={top}+{i * gap}",
                f"text={quote(line)}",
                "expansion=none",
            ]
        )
        for i, line in enumerate(lines)
    ]
