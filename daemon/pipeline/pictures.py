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
from ..render.model import Plan

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
    folder = thumbs_dir(export)
    folder.mkdir(exist_ok=True)
    rate = plan.output.frame_rate
    height = _height(plan)
    middles = [seg.first_frame + seg.frames // 2 for seg in plan.segments]
    shots = [s for s in plan.segments if not s.is_gap] or plan.segments
    poster_at = shots[0].first_frame + shots[0].frames // 3
    temps: list[tuple[Path, Path]] = []

    def temp(final: Path) -> Path:
        path = final.with_name(f".{final.name}.{os.getpid()}.tmp.jpg")
        temps.append((path, final))
        return path

    try:
        scale = f"scale={WIDTH}:{height}"
        select = "+".join(f"eq(n,{n})" for n in middles)
        labels = ",".join(
            "drawtext="
            + ":".join(
                [
                    f"fontfile={quote(str(FONT))}",
                    f"fontsize={max(10, height // 9)}",
                    "fontcolor=white",
                    "box=1",
                    "boxcolor=black@0.6",
                    "x=6",
                    "y=h-th-6",
                    f"text={quote(f'{i + 1}  {seg.label[-28:]}')}",
                    "expansion=none",
                    f"enable={quote(f'eq(n,{i})')}",
                ]
            )
            for i, seg in enumerate(plan.segments)
        )
        rows = math.ceil(len(middles) / COLUMNS)
        columns = min(COLUMNS, len(middles))
        graph = ";".join(
            [
                f"[0:v]select={quote(select)},{scale},setpts=N/TB,split=2[each][labelled]",
                f"[labelled]{labels},tile={columns}x{rows}:padding=4:margin=4[sheet]",
            ]
        )
        ffmpeg.run(
            [
                "-i",
                str(export),
                "-filter_complex",
                graph,
                "-map",
                "[sheet]",
                "-frames:v",
                "1",
                "-q:v",
                "4",
                str(temp(pictures.sheet)),
                "-map",
                "[each]",
                "-frames:v",
                str(len(middles)),
                "-q:v",
                "4",
                "-start_number",
                "1",
                str(folder / f".{export.name}.{os.getpid()}.shot%d.tmp.jpg"),
            ],
            what="drawing the contact sheet",
        )
        for i, final in enumerate(pictures.shots):
            temps.append((folder / f".{export.name}.{os.getpid()}.shot{i + 1}.tmp.jpg", final))
        ffmpeg.run(
            [
                "-ss",
                f"{float(poster_at / rate):.6f}",
                "-i",
                str(export),
                "-frames:v",
                "1",
                "-vf",
                f"scale={WIDTH * 2}:-2",
                "-q:v",
                "3",
                str(temp(pictures.poster)),
            ],
            what="taking the poster frame",
        )
        for path, final in temps:
            os.replace(path, final)
        temps.clear()
    finally:
        for path, _ in temps:
            path.unlink(missing_ok=True)
    return pictures
