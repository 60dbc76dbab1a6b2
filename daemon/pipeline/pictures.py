"""Pictures of the cut: a poster frame and a contact sheet beside every export.

Producers would rather look at a cut than read a job list. After an export is
published, its poster (a frame a third into the first real shot) and a contact
sheet (one labelled thumbnail per shot, from the middle of each) are written to
``exports/.thumbs/`` as ``<export>.poster.jpg`` and ``<export>.sheet.jpg``, and each
shot's own thumbnail as ``<export>.shot<N>.jpg`` for the dashboard's shot list. They
are made from the export itself, so they show exactly what was delivered. A failure
here never fails the job: the export is already out; the warning says what is missing.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from ..media import ffmpeg
from ..render.burnin import FONT, quote
from ..render.model import Plan, Segment

THUMBS = ".thumbs"
#: Thumbnail width in pixels; the height follows the output's shape.
WIDTH = 320
COLUMNS = 5


@dataclass(frozen=True)
class Pictures:
    poster: Path
    sheet: Path
    shots: list[Path]


def thumbs_dir(export: Path) -> Path:
    return export.parent / THUMBS


def paths_for(export: Path, shots: int) -> Pictures:
    folder = thumbs_dir(export)
    return Pictures(
        folder / f"{export.name}.poster.jpg",
        folder / f"{export.name}.sheet.jpg",
        [folder / f"{export.name}.shot{i + 1}.jpg" for i in range(shots)],
    )


def _height(plan: Plan) -> int:
    width, height = plan.output.size
    return max(2, round(WIDTH * height / width / 2) * 2)


def make_pictures(export: Path, plan: Plan) -> Pictures:
    """Write the poster, the contact sheet and each shot's thumbnail for ``export``."""
    pictures = paths_for(export, len(plan.segments))
    thumbs_dir(export).mkdir(exist_ok=True)
    # Written under temporary names, renamed once all are there: a dashboard never
    # shows half a set.
    temps = [_temporary(path) for path in [pictures.sheet, pictures.poster, *pictures.shots]]
    try:
        _sheet_and_shots(export, plan, temps[0], temps[2:])
        _poster(export, plan, temps[1])
        for temp, final in zip(
            temps, [pictures.sheet, pictures.poster, *pictures.shots], strict=True
        ):
            os.replace(temp, final)
    finally:
        for temp in temps:
            temp.unlink(missing_ok=True)
    return pictures


def _temporary(final: Path) -> Path:
    return final.with_name(f".{final.name}.{os.getpid()}.tmp.jpg")


def _label(index: int, seg: Segment, height: int) -> str:
    """The shot's number and name, drawn on its thumbnail in the sheet only."""
    return "drawtext=" + ":".join(
        [
            f"fontfile={quote(str(FONT))}",
            f"fontsize={max(10, height // 9)}",
            "fontcolor=white",
            "box=1",
            "boxcolor=black@0.6",
            "x=6",
            "y=h-th-6",
            f"text={quote(f'{index + 1}  {seg.label[-28:]}')}",
            "expansion=none",
            f"enable={quote(f'eq(n,{index})')}",
        ]
    )


def _sheet_and_shots(export: Path, plan: Plan, sheet: Path, shots: list[Path]) -> None:
    """One decode of the export: the middle frame of each shot, scaled, saved alone
    (numbered, renamed into ``shots`` after) and tiled, labelled, into ``sheet``."""
    height = _height(plan)
    middles = [seg.first_frame + seg.frames // 2 for seg in plan.segments]
    select = "+".join(f"eq(n,{n})" for n in middles)
    labels = ",".join(_label(i, seg, height) for i, seg in enumerate(plan.segments))
    columns = min(COLUMNS, len(middles))
    rows = math.ceil(len(middles) / COLUMNS)
    graph = ";".join(
        [
            f"[0:v]select={quote(select)},scale={WIDTH}:{height},setpts=N/TB,split=2[each][labelled]",
            f"[labelled]{labels},tile={columns}x{rows}:padding=4:margin=4[sheet]",
        ]
    )
    numbered = shots[0].with_name(f".{export.name}.{os.getpid()}.shot%d.tmp.jpg") if shots else None
    # passthrough: one file per selected frame, none repeated to fill a frame rate.
    each = ["-map", "[each]", "-fps_mode", "passthrough", "-frames:v", str(len(middles))]
    each += ["-q:v", "4", "-start_number", "1"]
    try:
        ffmpeg.run(
            [
                "-i", str(export), "-filter_complex", graph,
                "-map", "[sheet]", "-frames:v", "1", "-q:v", "4", str(sheet),
                *([*each, str(numbered)] if numbered else []),
            ],
            what="drawing the contact sheet",
        )  # fmt: skip
    finally:
        if numbered is not None:
            for i, final in enumerate(shots):
                written = numbered.with_name(numbered.name.replace("%d", str(i + 1)))
                if written.exists():
                    os.replace(written, final)


def _poster(export: Path, plan: Plan, poster: Path) -> None:
    """A frame a third into the first real shot (not the slate, not black)."""
    shots = [s for s in plan.segments if not s.is_gap] or plan.segments
    at = shots[0].first_frame + shots[0].frames // 3
    ffmpeg.run(
        [
            "-ss", f"{float(at / plan.output.frame_rate):.6f}", "-i", str(export),
            "-frames:v", "1", "-vf", f"scale={WIDTH * 2}:-2", "-q:v", "3", str(poster),
        ],
        what="taking the poster frame",
    )  # fmt: skip
