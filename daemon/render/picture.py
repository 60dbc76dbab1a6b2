"""How a source's picture becomes the output's: one FFmpeg chain for every engine.

Normalize encodes what this chain makes; the MoviePy engine reads its frames from
the same chain. So a phone clip, an HDV tape or an HLG iPhone shot looks the same
whichever engine renders it. In order:

1. **Fields.** An interlaced source is deinterlaced first (``bwdif``), before
   anything scales or turns it, so fields are never mixed. An output at the field
   rate (50 for 1080i50) gets a frame per field; otherwise a frame per frame.
2. **Frame rate.** Frames are dropped or repeated to the output rate (``fps``).
3. **Orientation.** The display matrix is applied here (``-noautorotate`` keeps
   FFmpeg from doing it too): mirrored first, then turned counter-clockwise.
4. **HDR.** HLG and PQ are tone-mapped to SDR: linear light with BT.2408's
   reference white (203 cd/m²) at SDR white, BT.709 primaries, Möbius roll-off of
   the highlights (``zscale`` + ``tonemap=mobius:param=0.6``).
5. **Size and colour.** Scaled to fit the displayed size (stored size times pixel shape,
   turned), converting the source's matrix (BT.601, BT.709, BT.2020 or RGB) and
   range (full or limited) to BT.709 limited range in the same pass. Square pixels.
6. **Canvas.** Padded with black to the output size, the last frame repeated if the
   source falls a frame short, and tagged BT.709 (primaries, transfer, matrix, range).
7. **Drawn.** Each output's burn-ins or slate (:mod:`.burnin`), after any dissolve.
   Several outputs of one size share everything above: decoded once, split here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from ..media.info import MediaInfo
from .burnin import burnin_filters, slate_filters
from .model import Plan, Segment

#: The tags every output carries, as setparams writes them.
BT709_TAGS = "setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709:range=tv"
_ZSCALE_TRANSFER = {"hlg": "arib-std-b67", "pq": "smpte2084"}
_ZSCALE_MATRIX = {"bt2020": "2020_ncl", "bt709": "709", "bt601": "170m"}
_ZSCALE_PRIMARIES = {"bt2020": "2020", "bt709": "709", "bt601": "170m"}
_SCALE_MATRIX = {"bt709": "bt709", "bt601": "bt601", "bt2020": "bt2020"}


def input_args(seg: Segment, rate: Fraction) -> list[str]:
    """FFmpeg's input options for ``seg``'s source, positioned at its first frame."""
    info = seg.info
    if info.kind == "still":
        # One image, shown for as many output frames as the shot lasts.
        return ["-loop", "1", "-framerate", _rate(rate), "-i", str(seg.source)]
    if info.kind == "sequence":
        first = (info.first_number or 0) + round(Fraction(seg.start) * info.frame_rate)
        return [
            "-f", "image2", "-framerate", _rate(info.frame_rate),
            "-start_number", str(first), "-i", str(seg.source),
        ]  # fmt: skip
    # FFmpeg seeks on the file's clock, which starts at its earliest stream; the
    # picture may start later (an edit list, a B-frame delay). A quarter of a frame
    # early, so that rounding never drops the first frame.
    quarter = float(1 / info.frame_rate) / 4
    at = max(seg.start + info.start_time - info.container_start - quarter, 0.0)
    return ["-noautorotate", "-ss", f"{at:.6f}", "-i", str(seg.source)]


def _rate(rate: Fraction) -> str:
    return f"{rate.numerator}/{rate.denominator}"


def field_rate_output(info: MediaInfo, rate: Fraction) -> bool:
    """An interlaced source into an output at its field rate: a frame per field."""
    return abs(float(rate) - 2 * float(info.frame_rate)) < 0.01


def orientation_filters(info: MediaInfo) -> list[str]:
    turn = {90: ["transpose=cclock"], 180: ["hflip", "vflip"], 270: ["transpose=clock"]}
    return (["hflip"] if info.orientation.mirrored else []) + turn.get(info.rotation, [])


def tonemap_filters(info: MediaInfo) -> list[str]:
    colour = info.colour
    if not colour.hdr:
        return []
    source = ":".join(
        [
            f"tin={_ZSCALE_TRANSFER[colour.transfer]}",
            f"min={_ZSCALE_MATRIX.get(colour.matrix, '2020_ncl')}",
            f"pin={_ZSCALE_PRIMARIES.get(colour.primaries, '2020')}",
            f"rin={'full' if colour.range == 'pc' else 'limited'}",
        ]
    )
    return [
        f"zscale={source}:t=linear:npl=203",
        "format=gbrpf32le",
        "zscale=p=709",
        "tonemap=tonemap=mobius:param=0.6:desat=0",
        "zscale=t=709:m=709:r=limited",
        "format=yuv444p10le",
    ]


def scale_filter(seg: Segment, rgb_out: bool = False) -> str:
    """Scale to the fitted size, converting matrix and range to the output's."""
    width, height = seg.fit
    colour = seg.info.colour
    # Exact rounding and full-resolution chroma where colours are converted (a few
    # code values better); plain bicubic where only the size changes (a third cheaper).
    exact = not colour.is_bt709_limited or rgb_out
    args = [f"scale={width}:{height}", f"flags=bicubic{'+accurate_rnd+full_chroma_int' * exact}"]
    if colour.hdr:
        args += ["in_color_matrix=bt709", "in_range=tv"]  # the tone map's output
    elif colour.matrix != "rgb":
        args += [f"in_color_matrix={_SCALE_MATRIX[colour.matrix]}", f"in_range={colour.range}"]
    if not rgb_out:
        args += ["out_color_matrix=bt709", "out_range=tv"]
    return ":".join(args)


def picture_chain(seg: Segment, plan: Plan, pix_fmt: str, rgb_out: bool = False) -> str:
    """The chain that makes ``seg``'s picture on the canvas, before anything is drawn on it."""
    info, rate = seg.info, plan.output.frame_rate
    width, height = plan.output.size
    x, y = seg.offset
    if seg.is_gap:
        return f"format={pix_fmt}"
    chain: list[str] = []
    if seg.speed == 0:
        # A freeze: the first frame, held (the tail below repeats it).
        chain.append("trim=end_frame=1")
    if info.interlaced:
        mode = "send_field" if field_rate_output(info, rate) else "send_frame"
        parity = {"tff": "tff", "bff": "bff"}.get(info.field_order, "auto")
        chain.append(f"bwdif=mode={mode}:parity={parity}:deint=all")
    if seg.speed not in (0, 1):
        # A constant speed change: the source's clock runs ``speed`` times as fast.
        chain.append(f"setpts=(PTS-STARTPTS)/{float(seg.speed):.6f}")
    # start_time=0: the segment starts at its first frame even when the source's
    # frames fall between the output's (another rate, an in point between frames).
    chain.append(f"fps={_rate(rate)}:start_time=0")
    chain += orientation_filters(info)
    chain += tonemap_filters(info)
    chain += [
        scale_filter(seg, rgb_out),
        "setsar=1",
        f"pad={width}:{height}:{x}:{y}:black",
        # Sources a frame short of the planned count repeat their last frame.
        "tpad=stop_mode=clone:stop=-1",
        f"format={pix_fmt}",
    ]
    return ",".join(chain)


@dataclass(frozen=True)
class Look:
    """One output's view of a segment: what it draws over the picture, in which format."""

    segment: Segment
    plan: Plan
    pix_fmt: str

    def finish(self, rgb_out: bool) -> str:
        """The slate or the burn-ins, drawn after any dissolve (so the counters count on
        the cut, not on both shots), then the output's format and tags."""
        seg, height = self.segment, self.plan.output.size[1]
        drawn = slate_filters(list(seg.slate), height) if seg.slate else []
        drawn = drawn or burnin_filters(seg, self.plan)
        tags = [] if rgb_out else [BT709_TAGS]
        return ",".join([*drawn, f"format={self.pix_fmt}", *tags])


#: Raw formats by how much of the picture they keep: a decode shared by several
#: outputs is made in the richest one they need, so none loses precision to another.
_RICHNESS = {"rgb24": 0, "yuv420p": 1, "yuv422p10le": 2}


def reader_graph(looks: Sequence[Look], rgb_out: bool = False) -> list[str]:
    """FFmpeg's inputs and filters for one segment, decoded once, for every output in
    ``looks`` (the same picture, canvas and timing): ``[v0]``, ``[v1]``... each hold
    exactly the segment's frames (a dissolve's included), at the output rate.

    The caller maps each label to its own output."""
    first = looks[0]
    seg, plan = first.segment, first.plan
    base_fmt = max((look.pix_fmt for look in looks), key=lambda f: _RICHNESS.get(f, 0))
    rate = plan.output.frame_rate
    width, height = plan.output.size
    black = ["-f", "lavfi", "-i", f"color=c=black:s={width}x{height}:r={_rate(rate)}"]
    source = black if seg.is_gap else input_args(seg, rate)
    graph = [f"[0:v:0]{picture_chain(seg, plan, base_fmt, rgb_out)}[base]"]
    if seg.blend_from is not None and seg.blend_frames:
        # The outgoing shot goes on over the first frames of this one, fading out.
        outgoing = seg.blend_from.handle(seg.blend_frames, rate)
        source = (black if outgoing.is_gap else input_args(outgoing, rate)) + source
        graph = [
            f"[0:v:0]{picture_chain(outgoing, plan, base_fmt, rgb_out)},"
            f"trim=end_frame={seg.blend_frames}[out]",
            f"[1:v:0]{picture_chain(seg, plan, base_fmt, rgb_out)}[in]",
            f"[out][in]xfade=transition=fade:duration={float(seg.blend_frames / rate):.6f}"
            ":offset=0[base]",
        ]
    if len(looks) == 1:
        graph.append(f"[base]{first.finish(rgb_out)}[v0]")
    else:
        copies = "".join(f"[b{i}]" for i in range(len(looks)))
        graph.append(f"[base]split={len(looks)}{copies}")
        graph += [f"[b{i}]{look.finish(rgb_out)}[v{i}]" for i, look in enumerate(looks)]
    return [*source, "-filter_complex", ";".join(graph)]


def reader_args(seg: Segment, plan: Plan, pix_fmt: str, rgb_out: bool = False) -> list[str]:
    """:func:`reader_graph` for one output, up to its output file: its frames only."""
    graph = reader_graph([Look(seg, plan, pix_fmt)], rgb_out)
    return [*graph, "-map", "[v0]", "-frames:v", str(seg.frames)]
