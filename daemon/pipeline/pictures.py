"""Pictures of the cut: a poster frame and a contact sheet beside every export.

Producers would rather look at a cut than read a job list. After an export is
published, its poster (from a third into the first real shot) and a contact
sheet (one labelled thumbnail per shot, from its middle) are written to
``exports/.thumbs/`` as ``<export>.poster.jpg`` and ``<export>.sheet.jpg``, and each
shot's own thumbnail as ``<export>.shot<N>.jpg`` for the dashboard's shot list.

They are taken from the export itself, so they show exactly what was delivered,
and cheaply: the export is opened once, and each picture is the keyframe at or
before its frame (a shot's first frame when its only keyframe is at its start, as
editing systems show a clip by default). Decoding on to the exact frame would cost
more than a copy join itself: a whole 1080p cut, when shots have one keyframe each.
One keyframe is ~14 ms at 1080p. The labels are drawn with the font that ships in
the package. A failure here never fails the job: the export is already out; the
warning says what is missing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error
from PIL import Image, ImageDraw, ImageFont

from ..errors import RenderError
from ..render.burnin import FONT
from ..render.model import Plan, Segment

THUMBS = ".thumbs"
#: Thumbnail width in pixels; the height follows the output's shape. The poster is twice as wide.
WIDTH = 320
COLUMNS = 5
PADDING = 4


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


def _height(plan: Plan, width: int) -> int:
    out_width, out_height = plan.output.size
    return max(2, round(width * out_height / out_width / 2) * 2)


def make_pictures(export: Path, plan: Plan) -> Pictures:
    """Write the poster, the contact sheet and each shot's thumbnail for ``export``."""
    pictures = paths_for(export, len(plan.segments))
    thumbs_dir(export).mkdir(exist_ok=True)
    real = [s for s in plan.segments if not s.is_gap] or plan.segments
    wanted = [seg.first_frame + seg.frames // 2 for seg in plan.segments]
    wanted.append(real[0].first_frame + real[0].frames // 3)  # the poster's
    sizes = [(WIDTH, _height(plan, WIDTH))] * len(plan.segments)
    sizes.append((2 * WIDTH, _height(plan, 2 * WIDTH)))
    try:
        *thumbs, poster = _pictures_at(export, plan.output.frame_rate, wanted, sizes)
    except av.error.FFmpegError as exc:
        raise RenderError(f"the export cannot be read for its pictures: {exc}") from exc
    # Written under temporary names, renamed once all are there: a dashboard never
    # shows half a set.
    images = [(_sheet(thumbs, plan.segments), pictures.sheet), (poster, pictures.poster)]
    images += list(zip(thumbs, pictures.shots, strict=True))
    temps = []
    try:
        for image, final in images:
            temp = final.with_name(f".{final.name}.{os.getpid()}.tmp.jpg")
            temps.append((temp, final))
            image.save(temp, "JPEG", quality=85)
        for temp, final in temps:
            os.replace(temp, final)
        temps.clear()
    finally:
        for temp, _ in temps:
            temp.unlink(missing_ok=True)
    return pictures


def _pictures_at(
    export: Path, rate: Fraction, wanted: list[int], sizes: list[tuple[int, int]]
) -> list[Image.Image]:
    """The keyframe at or before each of the ``wanted`` frame numbers, decoded and
    scaled to its size at once: a hundred decoded 1080p frames kept for later would
    hold 300 MB."""
    found: list[Image.Image] = []
    with av.open(str(export)) as container:
        stream = container.streams.video[0]
        # One frame per seek: frame threads would only add their start-up delay.
        stream.codec_context.options = {"skip_loop_filter": "all"}  # a thumbnail's worth
        base = stream.time_base or Fraction(1, 90000)
        for number, (width, height) in zip(wanted, sizes, strict=True):
            target = int(Fraction(number) / rate / base)
            container.seek(target, stream=stream, backward=True, any_frame=False)
            chosen: Any = next(iter(container.decode(stream)), None)  # to_image is untyped
            if chosen is None:
                raise RenderError(f"no picture at frame {number} of {export.name}")
            found.append(chosen.to_image(width=width, height=height))
    return found


def _sheet(thumbs: list[Image.Image], segments: list[Segment]) -> Image.Image:
    """The thumbnails in rows of :data:`COLUMNS`, each labelled with its number and name."""
    width, height = thumbs[0].size
    columns = min(COLUMNS, len(thumbs))
    rows = -(-len(thumbs) // COLUMNS)
    sheet = Image.new(
        "RGB",
        (columns * (width + PADDING) + PADDING, rows * (height + PADDING) + PADDING),
        (16, 18, 22),
    )
    font = ImageFont.truetype(str(FONT), max(10, height // 9))
    for index, (thumb, seg) in enumerate(zip(thumbs, segments, strict=True)):
        x = PADDING + (index % COLUMNS) * (width + PADDING)
        y = PADDING + (index // COLUMNS) * (height + PADDING)
        labelled = thumb.convert("RGBA")
        overlay = Image.new("RGBA", labelled.size, (0, 0, 0, 0))
        draw = ImageDraw.Draw(overlay)
        text = f"{index + 1}  {seg.label[-28:]}"
        _, top, right, bottom = draw.textbbox((6, 0), text, font=font)
        y_text = height - (bottom - top) - 8
        draw.rectangle((2, y_text - 2, right + 4, height - 4), fill=(0, 0, 0, 153))
        draw.text((6, y_text - top), text, font=font, fill=(255, 255, 255, 255))
        sheet.paste(Image.alpha_composite(labelled, overlay).convert("RGB"), (x, y))
    return sheet
