"""Sound from real cameras: several mono tracks, 5.1 and 7.1, the shot's own choice of
streams, and files with no picture. Measured on the decoded export, per channel."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assemblyd.errors import ValidationFailed
from assemblyd.pipeline.run import assemble
from assemblyd.settings import Settings
from tests import corpus
from tests.mediacheck import audio_stereo, tone_level

OUT = {"resolution": "320x180", "fps": 24, "quality_preset": "draft"}
MONO_TONES = [300, 500, 700, 900]  # a camera's four tracks: boom, lav, two mics
SURROUND = {  # channel -> tone; 5.1 is the first six, 7.1 all eight
    "FL": 300, "FR": 450, "FC": 600, "LFE": 60, "BL": 750, "BR": 900, "SL": 1050, "SR": 1200,
}  # fmt: skip


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("sound")
    picture = [corpus.quads(160, 90, corpus.QUADRANTS)] * 24
    found = {}
    mono = [corpus.write_wav(folder / f"t{hz}.wav", [corpus.tone(1, hz)]) for hz in MONO_TONES]
    found["tracks"] = corpus.encode(
        folder / "camera.mov", picture, (160, 90), audio=mono, audio_args=["-c:a", "pcm_s24le"]
    )
    for name, layout, count in (("5.1", "5.1", 6), ("7.1", "7.1", 8)):
        tones = [corpus.tone(1, hz, amp=0.2) for hz in list(SURROUND.values())[:count]]
        wav = corpus.write_wav(folder / f"{name}.wav", tones)
        found[name] = corpus.encode(
            folder / f"surround{name}.mp4",
            picture,
            (160, 90),
            audio=[wav],
            audio_args=["-c:a", "aac", "-b:a", "512k", "-channel_layout", layout],
        )
    return found


def render(tmp_path: Path, source: Path, engine: str = "auto", **shot: object) -> Path:
    project = tmp_path / "p"
    (project / "shots").mkdir(parents=True, exist_ok=True)
    (project / "shots" / source.name).write_bytes(source.read_bytes())
    request = project / "assembly.json"
    entry = {"path": f"shots/{source.name}", **shot}
    request.write_text(json.dumps({"shots": [entry], "output": OUT, "engine": engine}))
    return assemble(request, Settings()).export


def levels(export: Path, tones: list[int]) -> tuple[dict[int, float], dict[int, float]]:
    left, right, rate = audio_stereo(export)
    middle = slice(len(left) // 4, 3 * len(left) // 4)
    return (
        {hz: tone_level(left[middle], rate, hz) for hz in tones},
        {hz: tone_level(right[middle], rate, hz) for hz in tones},
    )


@pytest.mark.parametrize("engine", ["auto", "moviepy"])
def test_a_cameras_mono_tracks_are_all_mixed_by_default(tmp_path, sources, engine):
    left, right = levels(render(tmp_path, sources["tracks"], engine), MONO_TONES)
    # Four tracks of 0.3 at 1/sqrt(4) each, in both channels.
    for hz in MONO_TONES:
        assert left[hz] == pytest.approx(0.15, abs=0.02), left
        assert right[hz] == pytest.approx(0.15, abs=0.02), right


def test_a_shot_picks_its_tracks_or_mutes(tmp_path, sources):
    left, right = levels(render(tmp_path, sources["tracks"], audio=[1]), MONO_TONES)
    assert left[500] == pytest.approx(0.3, abs=0.03) and right[500] == pytest.approx(0.3, abs=0.03)
    assert max(left[hz] for hz in (300, 700, 900)) < 0.01
    left, right = levels(render(tmp_path / "b", sources["tracks"], audio=[0, 3]), MONO_TONES)
    assert left[300] > 0.15 and left[900] > 0.15 and max(left[500], left[700]) < 0.01
    left, right = levels(render(tmp_path / "c", sources["tracks"], audio="mute"), MONO_TONES)
    assert max(*left.values(), *right.values()) < 0.005


@pytest.mark.parametrize(
    ("layout", "engine"), [("5.1", "auto"), ("7.1", "auto"), ("5.1", "moviepy")]
)
def test_surround_is_folded_down_not_dropped(tmp_path, sources, layout, engine):
    left, right = levels(render(tmp_path, sources[layout], engine), list(SURROUND.values()))
    full, folded = 0.2, 0.2 * 0.7071
    assert left[SURROUND["FL"]] == pytest.approx(full, abs=0.03)
    assert right[SURROUND["FR"]] == pytest.approx(full, abs=0.03)
    # The centre in both, at -3 dB; each surround on its own side, at -3 dB.
    for side, level in ((left, folded), (right, folded)):
        assert side[SURROUND["FC"]] == pytest.approx(level, abs=0.03)
    assert left[SURROUND["BL"]] == pytest.approx(folded, abs=0.03)
    assert right[SURROUND["BR"]] == pytest.approx(folded, abs=0.03)
    assert left[SURROUND["BR"]] < 0.01 and right[SURROUND["BL"]] < 0.01
    assert max(left[SURROUND["LFE"]], right[SURROUND["LFE"]]) < 0.01
    if layout == "7.1":
        assert left[SURROUND["SL"]] == pytest.approx(folded, abs=0.03)
        assert right[SURROUND["SR"]] == pytest.approx(folded, abs=0.03)


def test_naming_a_track_that_is_not_there_is_a_validation_problem(tmp_path, sources):
    with pytest.raises(ValidationFailed) as err:
        render(tmp_path, sources["tracks"], audio=[1, 7])
    (problem,) = err.value.problems
    assert problem.shot_index == 0 and "audio stream 7 does not exist" in problem.reason
    assert "0-3" in problem.reason


def test_a_file_with_sound_but_no_picture_is_refused_plainly(tmp_path):
    project = tmp_path / "p"
    (project / "shots").mkdir(parents=True)
    corpus.ffmpeg("-f", "lavfi", "-i", "sine=d=1", "-c:a", "aac", project / "shots" / "vo.m4a")
    request = project / "assembly.json"
    request.write_text(json.dumps({"shots": ["shots/vo.m4a"], "output": OUT}))
    with pytest.raises(ValidationFailed) as err:
        assemble(request, Settings())
    (problem,) = err.value.problems
    assert problem.code == "audio_only"
    assert (
        str(problem)
        == "shot 1 (shots/vo.m4a): has sound but no picture; audio-only files cannot be shots"
    )


@pytest.mark.parametrize("engine", ["auto", "moviepy"])
def test_the_first_stereo_stream_wins_over_mono_guide_tracks(tmp_path, engine):
    """A file with two mono guide tracks, then the stereo mix: only the mix plays."""
    folder = tmp_path / "src"
    folder.mkdir()
    guides = [corpus.write_wav(folder / f"g{hz}.wav", [corpus.tone(1, hz)]) for hz in (300, 500)]
    mix = corpus.write_wav(folder / "mix.wav", [corpus.tone(1, 700)] * 2)
    picture = [corpus.quads(160, 90, corpus.QUADRANTS)] * 24
    source = corpus.encode(
        folder / "mixed.mov", picture, (160, 90), audio=[*guides, mix],
        audio_args=["-c:a", "pcm_s24le"],
    )  # fmt: skip
    left, right = levels(render(tmp_path, source, engine), [300, 500, 700])
    assert left[700] == pytest.approx(0.3, abs=0.03) and right[700] == pytest.approx(0.3, abs=0.03)
    assert max(left[300], left[500], right[300], right[500]) < 0.01
