"""What an editor's cut holds besides cuts: gaps, cross-dissolves, speed changes and
freeze frames, rendered by each engine. Plans are made here directly; reading them
from EDL, XML and OTIO files is the conform's business (tests/conform)."""

from __future__ import annotations

import json
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from assemblyd.media.info import MediaInfo
from assemblyd.pipeline.plan import make_plan
from assemblyd.pipeline.validate import validate
from assemblyd.pipeline.verify import verify
from assemblyd.render.model import Plan, Segment
from assemblyd.render.strategy import render
from assemblyd.settings import Settings
from tests import corpus
from tests.mediacheck import audio_mono, audio_stereo, frames_rgb

OUT = {"resolution": "320x180", "fps": 24, "quality_preset": "draft"}


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Plan]:
    """Two coded clips of 48 frames; A is cut at frame 20 (its handle runs on)."""
    project = tmp_path_factory.mktemp("edits")
    corpus.coded_clip(project / "a.mp4", 48)
    corpus.coded_clip(project / "b.mp4", 48)
    request = project / "assembly.json"
    shots = [{"path": "a.mp4", "out": 20 / 24}, {"path": "b.mp4", "out": 1.0}]
    request.write_text(json.dumps({"shots": shots, "output": OUT, "engine": "normalize"}))
    return project, make_plan(validate(request, Settings()), Settings())


def laid_out(plan: Plan, segments: list[Segment], strategy: str) -> Plan:
    first = 0
    placed = []
    for seg in segments:
        placed.append(replace(seg, first_frame=first, mismatch="an edit"))
        first += seg.frames
    return replace(plan, segments=placed, strategy=strategy)  # type: ignore[arg-type]


def rendered(project: Path, plan: Plan, name: str) -> tuple[list[int | None], Path]:
    out = project / "exports" / f"{name}.mp4"
    out.parent.mkdir(exist_ok=True)
    settings = Settings()
    render(plan, out, lambda f: None, settings)
    verify(out, plan, settings)  # frames, holes, tags, sync: as the pipeline would
    return [corpus.read_code(f) for f in frames_rgb(out)], out


def beep(samples: np.ndarray, rate: int, frame: int, fps: int = 24) -> float:
    """The loudness of the beep that starts at output ``frame`` (peak over the frame)."""
    a, b = round(frame / fps * rate), round((frame + 1) / fps * rate)
    return float(np.abs(samples[a:b]).max())


@pytest.mark.parametrize("engine", ["normalize", "moviepy"])
def test_a_gap_is_black_and_silent(clips, engine):
    project, plan = clips
    a, b = plan.segments
    gap = replace(a, info=MediaInfo.black(Fraction(24), (320, 180)), frames=12, audio=())
    codes, out = rendered(project, laid_out(plan, [a, gap, b], engine), f"gap-{engine}")
    assert codes[:20] == list(range(20)) and codes[32:] == list(range(24))
    frames = frames_rgb(out)
    assert all(f.max() < 30 for f in frames[20:32])  # black
    samples, rate = audio_mono(out)
    assert np.abs(samples[round(20 / 24 * rate) : round(32 / 24 * rate)]).max() < 0.01


@pytest.mark.parametrize("engine", ["normalize", "moviepy"])
def test_a_cross_dissolve_blends_the_handle_into_the_next_shot(clips, engine):
    project, plan = clips
    a, b = plan.segments
    dissolving = replace(b, blend_from=a, blend_frames=12)
    codes, out = rendered(project, laid_out(plan, [a, dissolving], engine), f"dissolve-{engine}")
    assert codes[:20] == list(range(20))
    # Over 12 frames the outgoing shot runs on (its handle: 20, 21, ...) and fades out
    # while the incoming one fades in; each is readable while it dominates.
    assert codes[20:26] == list(range(20, 26)) and codes[27:32] == list(range(7, 12))
    assert codes[32:] == list(range(12, 24))  # then the incoming shot alone
    # Halfway, both at once: where their bits differ the column is mid-grey.
    middle = frames_rgb(out)[26][10:50].astype(float).mean(axis=(0, 2))
    bits_a = (26 >> np.arange(16)) & 1
    bits_b = (6 >> np.arange(16)) & 1
    for bit in range(16):
        column = middle[bit * 20 + 5 : bit * 20 + 15].mean()
        want = 127.5 * (bits_a[bit] + bits_b[bit])
        assert abs(column - want) < 30, (bit, column, want)
    samples, _, rate = audio_stereo(out)
    # The sound fades across too, sample by sample: B's beep (0.5) at its frame 6 ends
    # at 7/12 of full; A's at its frame 30 (frame 10 of the dissolve) starts at 2/12.
    assert beep(samples, rate, 26) == pytest.approx(0.5 * 7 / 12, abs=0.04)
    assert beep(samples, rate, 30) == pytest.approx(0.5 * 2 / 12, abs=0.04)


@pytest.mark.parametrize("engine", ["normalize", "moviepy"])
def test_speed_changes_and_freezes(clips, engine):
    project, plan = clips
    a, b = plan.segments
    fast = replace(b, speed=Fraction(2), frames=12)
    held = replace(b, speed=Fraction(0), start=0.5, frames=6, audio=())
    codes, out = rendered(project, laid_out(plan, [a, fast, held], engine), f"speed-{engine}")
    assert codes[20:32] == list(range(0, 24, 2))  # twice as fast
    assert codes[32:] == [12] * 6  # frame 12 (0.5 s) held
    samples, rate = audio_mono(out)
    assert np.abs(samples[round(20 / 24 * rate) :]).max() < 0.01  # their sound is not kept
