"""The planner's choice, and every strategy's output judged by decoding it."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest

from assemblyd.errors import ValidationFailed
from assemblyd.pipeline.plan import make_plan
from assemblyd.pipeline.run import assemble
from assemblyd.pipeline.validate import validate
from tests.mediacheck import audio_mono, measure

MATCH = {"resolution": "320x180", "fps": 24, "bitrate": "800k"}


def _plan(write_request, settings, shots, output=MATCH, **extra):
    return make_plan(validate(write_request(shots, output, **extra), settings), settings)


def test_matching_shots_are_copied(add_shot, write_request, settings):
    a, b = add_shot("match_a.mp4"), add_shot("match_b.mp4")
    plan = _plan(write_request, settings, [a, b, {"path": a, "in": 1.0}])
    assert plan.strategy == "copy"
    assert [s.mismatch for s in plan.segments] == ["", "", ""]


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"resolution": "640x360"}, "size 320x180 is not 640x360"),
        ({"fps": 25}, "frame rate 24 is not 25"),
        ({"bitrate": "100k"}, "over 125% of 100k"),
        ({"output_format": "mov", "quality_preset": "high"}, "not H.264"),
    ],
)
def test_a_shot_that_does_not_match_is_normalized(change, says, add_shot, write_request, settings):
    plan = _plan(write_request, settings, [add_shot("match_a.mp4")], {**MATCH, **change})
    assert plan.strategy == "normalize"
    assert says in plan.segments[0].mismatch


def test_trims_must_fall_on_keyframes_to_copy(add_shot, write_request, settings):
    a = add_shot("match_a.mp4")  # keyframes every 24 frames: 0 s and 1 s
    plan = _plan(write_request, settings, [{"path": a, "in": 0.5}, {"path": a, "out": 1.5}])
    assert "'in' 0.500 s is not on a keyframe" in plan.segments[0].mismatch
    assert "'out' 1.500 s is not on a keyframe" in plan.segments[1].mismatch
    assert plan.strategy == "normalize"


def test_shots_from_different_encoders_are_normalized(add_shot, write_request, settings):
    plan = _plan(
        write_request,
        settings,
        [add_shot("match_a.mp4"), add_shot("wide24.mp4")],
        {**MATCH, "resolution": "160x90"},
    )
    assert plan.strategy == "normalize"


def test_the_request_can_force_or_forbid_re_encoding(add_shot, write_request, settings):
    a = add_shot("match_a.mp4")
    assert _plan(write_request, settings, [a], engine="normalize").strategy == "normalize"
    assert _plan(write_request, settings, [a], engine="moviepy").strategy == "moviepy"
    request = write_request([a, add_shot("wide30.mp4")], MATCH, engine="copy")
    with pytest.raises(ValidationFailed) as err:
        make_plan(validate(request, settings), settings)
    (problem,) = err.value.problems
    assert (problem.shot_index, problem.code) == (1, "cannot_copy")
    assert "frame rate 30 is not 24" in problem.reason


def _packets(path, count=5):
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(video=0) if p.size][:count]


def test_copy_joins_without_re_encoding(project, add_shot, write_request, settings):
    a, b = add_shot("match_a.mp4"), add_shot("match_b.mp4")
    result = assemble(write_request([b, a, {"path": a, "in": 1.0}], MATCH), settings)
    assert result.plan.strategy == "copy"
    m = measure(result.export)
    assert (m.width, m.height, m.rate, m.frames) == (320, 180, 24, 48 + 48 + 24)
    assert abs(m.audio_duration - m.video_duration) < 1 / 24
    # The picture is the source's own bits: no generation loss. (The first packet
    # may gain in-band parameter sets at the join; the frames after it are identical.)
    copied, source = _packets(result.export), _packets(project / b)
    assert copied[1:] == source[1:] and source[0][-256:] in copied[0]
    # Picture and sound start together: the sources' AAC priming does not shift the picture.
    with av.open(str(result.export)) as c:
        starts = {s.type: float(s.start_time * s.time_base) for s in c.streams}
    assert starts == {"video": 0.0, "audio": 0.0}
    entry = json.loads((project / "project.json").read_text())["assemblies"][0]
    assert entry["strategy"] == "copy" and entry["segments"]["copied"] == 3


# --- clean joins -----------------------------------------------------------------


def _tone_energy(block: np.ndarray, hz: float, rate: int) -> float:
    t = np.arange(len(block)) / rate
    return float(abs(np.dot(block, np.exp(-2j * np.pi * hz * t))))


def _assert_clean_cuts(path, tones_per_shot, frames_per_shot, rate_fps=24):
    samples, rate = audio_mono(path)
    block = 256
    cut = 0
    for i in range(len(tones_per_shot) - 1):
        cut += frames_per_shot[i]
        at = round(cut / rate_fps * rate)
        before, after = tones_per_shot[i], tones_per_shot[i + 1]
        # Around the cut, blocks of 256 samples: which tone is there, and is anything?
        window = range(at - 4096, at + 4096 - block, block)
        owner = []
        for start in window:
            chunk = samples[start : start + block]
            ea, eb = _tone_energy(chunk, before, rate), _tone_energy(chunk, after, rate)
            loud = np.sqrt(np.mean(chunk**2)) > 0.01
            owner.append((start, "a" if ea > eb else "b", loud))
        quiet = [s for s, _, loud in owner if not loud]
        # No gap: at most one audio frame (1024 samples) without sound at the cut.
        assert len(quiet) * block <= 1024, f"cut {i + 1}: {len(quiet) * block} silent samples"
        last_a = max(s for s, who, _ in owner if who == "a")
        first_b = min(s for s, who, _ in owner if who == "b")
        # No overlap, no shift: the change of tone sits on the cut, within one audio frame.
        assert abs(last_a + block - at) <= 1024 and abs(first_b - at) <= 1024, f"cut {i + 1}"
        assert first_b >= last_a, f"cut {i + 1}: tones interleave"


@pytest.mark.parametrize("engine", ["copy", "normalize", "moviepy"])
def test_joins_are_clean_for_every_strategy(engine, project, add_shot, write_request, settings):
    a, b = add_shot("match_a.mp4"), add_shot("match_b.mp4")
    shots = [a, b, a, b]
    result = assemble(write_request(shots, MATCH, engine=engine), settings)
    assert result.plan.strategy == engine
    m = measure(result.export)
    assert (m.width, m.height, m.rate, m.frames) == (320, 180, 24, 4 * 48)
    assert abs(m.audio_duration - m.video_duration) < 1 / 24
    _assert_clean_cuts(result.export, [440, 660, 440, 660], [48, 48, 48, 48])
