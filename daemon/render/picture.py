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
"""

from __future__ import annotations

from fractions import Fraction

from ..media.info import MediaInfo
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
    """The whole filter chain for ``seg``: its frames exactly as the output shows them."""
    info, rate = seg.info, plan.output.frame_rate
    width, height = plan.output.size
    x, y = seg.offset
    if seg.is_gap:
        return ",".join([f"format={pix_fmt}", *([] if rgb_out else [BT709_TAGS])])
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
    if not rgb_out:
        chain.append(BT709_TAGS)
    return ",".join(chain)


def reader_args(seg: Segment, plan: Plan, pix_fmt: str, rgb_out: bool = False) -> list[str]:
    """FFmpeg's inputs and filters for ``seg``, up to its output: ``[v]`` holds exactly
    the segment's frames (a dissolve's included), canvas-sized, at the output rate."""
    rate = plan.output.frame_rate
    width, height = plan.output.size
    if seg.is_gap:
        source = ["-f", "lavfi", "-i", f"color=c=black:s={width}x{height}:r={_rate(rate)}"]
    else:
        source = input_args(seg, rate)
    graph = f"[0:v:0]{picture_chain(seg, plan, pix_fmt, rgb_out)}[v]"
    if seg.blend_from is not None and seg.blend_frames:
        # The outgoing shot goes on over the first frames of this one, fading out.
        outgoing = seg.blend_from.handle(seg.blend_frames, rate)
        before = ["-f", "lavfi", "-i", f"color=c=black:s={width}x{height}:r={_rate(rate)}"]
        before = before if outgoing.is_gap else input_args(outgoing, rate)
        graph = ";".join(
            [
                f"[0:v:0]{picture_chain(outgoing, plan, pix_fmt, rgb_out)},"
                f"trim=end_frame={seg.blend_frames}[out]",
                f"[1:v:0]{picture_chain(seg, plan, pix_fmt, rgb_out)}[in]",
                f"[out][in]xfade=transition=fade:duration={float(seg.blend_frames / rate):.6f}"
                ":offset=0[v]",
            ]
        )
        source = before + source
    return [*source, "-filter_complex", graph, "-map", "[v]", "-frames:v", str(seg.frames)]
