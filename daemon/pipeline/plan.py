"""Plan stage: from probed shots and output settings to an exact, frame-counted timeline.

Each shot lasts ``round(trimmed seconds x fps)`` frames, its audio lasts exactly as
long, and the segments are laid end to end; so cuts land on frame boundaries, the
audio cannot drift against the picture across joins, and the total is the sum of
the shots to within one frame per shot. The render strategy is the render stage's
own choice (:mod:`..render.auto`), made here from what the probe found.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from fractions import Fraction
from pathlib import Path

from ..media.info import MediaInfo
from ..render.auto import choose, copy_mismatch, same_parameter_sets
from ..render.model import Plan, Segment
from ..render.presets import Encoder, encoder_for
from ..request.model import OutputSettings
from ..settings import Settings
from ..timecode import from_frame
from .edit import timeline_segments
from .layout import audio_streams, centred, fit_inside
from .validate import ProbedShot, ValidatedRequest


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
        offset=centred(fit, canvas),
        audio=audio_streams(shot.info, shot.entry.audio),
        mismatch=mismatch,
        label=shot.entry.path,
    )


def _shot_segments(
    validated: ValidatedRequest, output: OutputSettings, encoder: Encoder
) -> list[Segment]:
    want_copy = validated.request.engine in ("auto", "copy")
    if validated.conform is not None:
        segments = timeline_segments(validated.conform, output, encoder, want_copy)
    else:
        segments, cursor = [], 0
        for shot in validated.shots:
            segments.append(segment_for(shot, output, encoder, cursor, want_copy))
            cursor += segments[-1].frames
    if want_copy:
        segments = same_parameter_sets(segments)
    return segments


def slate_segment(
    validated: ValidatedRequest, output: OutputSettings, cut: list[Segment]
) -> Segment:
    """The slate: a card of the request's ``slate.seconds``, before the cut, in silence."""
    slate = validated.request.slate
    assert slate is not None
    rate = output.frame_rate
    frames = max(1, round(Fraction(slate.seconds) * rate))
    length = sum(s.frames for s in cut)
    request = validated.request
    lines = [
        f"PROJECT  {validated.project_dir.name}",
        f"NAME     {request.export_name(validated.request_path, output)}",
        *([f"VERSION  {slate.version}"] if slate.version else []),
        f"DATE     {date.today().isoformat()}",
        f"DURATION {from_frame(length, rate, drop=False)}",
        f"SHOTS    {sum(1 for s in cut if not s.is_gap)}",
        *([slate.line] if slate.line else []),
    ]
    return Segment(
        shot_index=-1,
        source=Path("slate"),
        info=MediaInfo.black(rate, output.size),
        start=0.0,
        end=0.0,
        frames=frames,
        first_frame=0,
        fit=output.size,
        offset=(0, 0),
        mismatch="the slate is drawn",
        label="slate",
        slate=tuple(lines),
    )


def make_plan(
    validated: ValidatedRequest, settings: Settings, output: OutputSettings | None = None
) -> Plan:
    """The plan of one output (the first if none is named)."""
    output = output or validated.request.main_output
    encoder = encoder_for(output, settings)
    segments = _shot_segments(validated, output, encoder)
    if validated.request.slate is not None:
        card = slate_segment(validated, output, segments)
        segments = [card] + [replace(s, first_frame=s.first_frame + card.frames) for s in segments]
    return Plan(
        output=output,
        encoder=encoder,
        segments=segments,
        audio_rate=settings.audio_sample_rate,
        strategy=choose(validated.request.engine, segments, str(validated.request_path)),
        project=validated.project_dir.name,
    )


def make_plans(validated: ValidatedRequest, settings: Settings) -> list[Plan]:
    """A plan per output the request asks for, from the same probed shots."""
    return [make_plan(validated, settings, output) for output in validated.request.all_outputs]
