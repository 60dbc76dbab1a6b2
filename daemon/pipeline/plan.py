"""Plan stage: from probed shots and output settings to an exact, frame-counted timeline.

Each shot lasts ``round(trimmed seconds x fps)`` frames, its audio lasts exactly as
long, and the segments are laid end to end; so cuts land on frame boundaries, the
audio cannot drift against the picture across joins, and the total is the sum of
the shots to within one frame per shot. The render strategy is the render stage's
own choice (:mod:`..render.auto`), made here from what the probe found.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Literal

from ..media.info import MediaInfo
from ..render.auto import choose, copy_mismatch, same_parameter_sets
from ..render.model import Plan, Segment
from ..render.presets import Encoder, encoder_for
from ..request.model import OutputSettings
from ..settings import Settings
from .validate import ProbedShot, ValidatedRequest


def fit_inside(src: tuple[Fraction, Fraction], canvas: tuple[int, int]) -> tuple[int, int]:
    """The largest even size with ``src``'s aspect ratio that fits in ``canvas``.

    ``src`` is the displayed size (stored size times pixel shape, turned), exact; it is
    rounded once, to even numbers (4:2:0 needs them), so the picture's shape is off
    by at most a pixel, never stretched.
    """
    (sw, sh), (cw, ch) = src, canvas
    scale = min(Fraction(cw) / sw, Fraction(ch) / sh)
    width = min(cw, max(2, round(sw * scale / 2) * 2))
    height = min(ch, max(2, round(sh * scale / 2) * 2))
    return width, height


def audio_streams(info: MediaInfo, choice: Literal["mute"] | list[int] | None) -> tuple[int, ...]:
    """Which of the source's audio streams the soundtrack mixes.

    By default the first stream with two or more channels (5.1 and 7.1 are
    downmixed to stereo); a file with only mono streams, as cameras record them, gets
    all of them mixed. A shot may say ``"mute"`` or list the streams itself.
    """
    if choice == "mute":
        return ()
    if choice is not None:
        return tuple(choice)
    wide = [track.number for track in info.audio if track.channels >= 2]
    return (wide[0],) if wide else tuple(track.number for track in info.audio)


def segment_for(
    shot: ProbedShot,
    output: OutputSettings,
    encoder: Encoder,
    first_frame: int = 0,
    want_copy: bool = True,
) -> Segment:
    # A shot shorter than half a frame would vanish; keep at least one frame.
    frames = max(1, round(Fraction(shot.duration) * output.frame_rate))
    canvas = output.size
    fit = fit_inside(shot.info.display_size, canvas)
    mismatch = ""
    if want_copy:
        mismatch = copy_mismatch(
            shot.info, shot.source, shot.start, shot.end, output, encoder, shot.holes
        )
    return Segment(
        shot_index=shot.index,
        source=shot.source,
        info=shot.info,
        start=shot.start,
        end=shot.end,
        frames=frames,
        first_frame=first_frame,
        fit=fit,
        # Centred, on even pixels: 4:2:0 chroma cannot start a picture on an odd one.
        offset=((canvas[0] - fit[0]) // 4 * 2, (canvas[1] - fit[1]) // 4 * 2),
        audio=audio_streams(shot.info, shot.entry.audio),
        mismatch=mismatch,
        label=shot.entry.path,
    )


def make_plan(validated: ValidatedRequest, settings: Settings) -> Plan:
    output = validated.request.main_output
    encoder = encoder_for(output, settings)
    engine = validated.request.engine
    want_copy = engine in ("auto", "copy")
    segments: list[Segment] = []
    cursor = 0
    for shot in validated.shots:
        segments.append(segment_for(shot, output, encoder, cursor, want_copy))
        cursor += segments[-1].frames
    if want_copy:
        segments = same_parameter_sets(segments, [shot.info for shot in validated.shots])
    return Plan(
        output=output,
        encoder=encoder,
        segments=segments,
        audio_rate=settings.audio_sample_rate,
        strategy=choose(engine, segments, str(validated.request_path)),
    )
