"""Conforms rendered: an editor's timeline in, the cut out, read back frame by frame.

The media are coded clips (their frame number drawn in the picture) with start
timecodes and a beep on every popping frame; each render is checked on its decoded
frames (the source frame at every cut, each dissolve's weights, the gap) and on its
sound (every pop in the picture has its beep in the same frame).
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest

from assemblyd.pipeline.run import assemble
from assemblyd.settings import Settings
from tests import corpus
from tests.conform.conftest import SAMPLES
from tests.mediacheck import audio_mono, frames_rgb, measure

SIZE = (160, 90)
OUT = {"resolution": "160x90", "fps": 24, "quality_preset": "draft"}
#: name -> (frames, start timecode); all 24 fps, with sound.
MEDIA = {
    "shot_a.mov": (96, "01:00:00:00"),
    "shot_b.mov": (72, "02:00:00:00"),
    "shot_c.mp4": (48, None),
}

#: The cut every cut24 sample describes, as output frames: (first output frame,
#: frames, media, its first source frame); event 2 dissolves in over 24 frames
#: from shot_a running on past its out point.
CUT24 = [
    (0, 36, "shot_a.mov", 12),
    (36, 60, "shot_b.mov", 6),
    (96, 12, None, 0),
    (108, 36, "shot_c.mp4", 0),
]
DISSOLVE = (36, 24, 48)  # first output frame, length, shot_a's frame under its first


@pytest.fixture(scope="module")
def sounding(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("conform-sound")
    for name, (frames, timecode) in MEDIA.items():
        with tempfile.TemporaryDirectory() as tmp:
            wav = corpus.write_wav(Path(tmp) / "pops.wav", [corpus.pops_audio(frames, 24)] * 2)
            video = ["-vf", corpus.TAG_709, "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0"]
            video += ["-g", "12", "-keyint_min", "12", "-sc_threshold", "0"]
            video += ["-timecode", timecode] if timecode else []
            images = (corpus.coded(n, *SIZE) for n in range(frames))
            corpus.encode(folder / name, images, SIZE, 24, video=video, audio=[wav])
    return folder


@pytest.fixture
def project(tmp_path: Path, sounding: Path) -> Path:
    folder = tmp_path / "reel1"
    (folder / "media").mkdir(parents=True)
    for name in MEDIA:
        os.link(sounding / name, folder / "media" / name)
    return folder


def put(project: Path, sample: str, folder: str = "edit") -> Path:
    target = project / folder / sample
    target.parent.mkdir(parents=True, exist_ok=True)
    data = (SAMPLES / sample).read_bytes().replace(b"@PROJECT@", str(project).encode())
    target.write_bytes(data)
    return target


def request_for(project: Path, timeline: str, **extra: object) -> Path:
    request = project / "assembly.json"
    request.write_text(json.dumps({"timeline": timeline, "output": OUT, **extra}))
    return request


def entry_of(project: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((project / "project.json").read_text())["assemblies"][-1]  # type: ignore[no-any-return]


def blend(frame: np.ndarray, a: int, b: int) -> float:
    """How much of frame ``b`` is in a cross-fade of coded frames ``a`` and ``b``,
    from the bit cells where they differ (0: all a, 1: all b)."""
    gray = frame[: frame.shape[0] // 3].astype(float).mean(axis=(0, 2))
    width = len(gray) / corpus.BITS
    weights = []
    for bit in range(corpus.BITS):
        on_a, on_b = (a >> bit) & 1, (b >> bit) & 1
        if on_a != on_b:
            cell = gray[int(bit * width + width / 4) : int((bit + 1) * width - width / 4)].mean()
            weights.append(cell / 255 if on_b else 1 - cell / 255)
    return float(np.mean(weights))


def cut_offsets(codes: list[int | None], cut: list[tuple[int, int, str | None, int]]) -> list[int]:
    """For each event, how many frames its first frame is off from what the timeline
    says (0 is frame-accurate), read from the picture at the cut."""
    offsets = []
    for start, _frames, media, first in cut:
        if media is None:
            continue
        at = start + (DISSOLVE[1] if start == DISSOLVE[0] else 0)
        want = first + (DISSOLVE[1] if start == DISSOLVE[0] else 0)
        shown = codes[at]
        offsets.append(999 if shown is None else shown - want)
    return offsets


def check_cut24(export: Path) -> list[int]:
    """The cut24 render, frame by frame; returns each cut's offset (all 0)."""
    frames = frames_rgb(export)
    codes = [corpus.read_code(f) for f in frames]
    assert len(frames) == 144 and measure(export).frames == 144
    for start, length, media, first in CUT24:
        if media is None:
            assert all(f.max() < 30 for f in frames[start : start + length])  # the gap: black
            continue
        plain = (
            range(start + DISSOLVE[1], start + length)
            if start == DISSOLVE[0]
            else range(start, start + length)
        )
        assert [codes[i] for i in plain] == [first + i - start for i in plain], media
    # The dissolve: shot_a's handle (48, 49, ...) fading into shot_b (6, 7, ...), a
    # 24th more of shot_b each frame, for exactly 24 frames.
    start, length, handle = DISSOLVE
    weights = [blend(frames[start + k], handle + k, 6 + k) for k in range(length)]
    assert weights == pytest.approx([k / length for k in range(length)], abs=0.06)
    assert codes[start - 1] == handle - 1 and codes[start + length] == 6 + length
    # Sync: every frame whose picture pops has its beep, in that frame, and only those.
    samples, rate = audio_mono(export)
    for index, frame in enumerate(frames):
        if DISSOLVE[0] <= index < DISSOLVE[0] + DISSOLVE[1]:
            continue  # both shots' sound, crossfading
        a, b = round(index / 24 * rate), round((index + 1) / 24 * rate)
        loud = float(np.abs(samples[a:b]).max())
        assert (loud > 0.2) == corpus.popped(frame), (index, loud)
    return cut_offsets(codes, CUT24)


@pytest.mark.parametrize(
    "sample",
    [
        "cut24_avid.edl",
        "cut24_premiere.edl",
        "cut24_resolve.edl",
        "cut24_nucoda.edl",
        "cut24_fcp7.xml",
        "cut24.otio",
    ],
)
def test_a_named_timeline_conforms_frame_accurately(project: Path, sample: str) -> None:
    put(project, sample)
    result = assemble(request_for(project, f"edit/{sample}"), Settings())
    assert check_cut24(result.export) == [0, 0, 0]
    entry = entry_of(project)
    assert entry["timeline"] == sample and entry["status"] == "finished"
    assert [s["kind"] for s in entry["shots"]] == ["clip", "clip", "gap", "clip"]
    assert entry["shots"][1]["dissolve_frames"] == 24


def test_the_timeline_out_describes_the_render(project: Path) -> None:
    put(project, "cut24_avid.edl")
    result = assemble(request_for(project, "edit/cut24_avid.edl"), Settings())
    written = result.outputs[0].timeline
    assert written == project / "exports" / "reel1.otio"
    timeline = otio.adapters.read_from_file(str(written))
    (track,) = timeline.tracks
    kinds = [type(item).__name__ for item in track]
    assert kinds == ["Clip", "Transition", "Clip", "Gap", "Clip"]
    clips = [item for item in track if isinstance(item, otio.schema.Clip)]
    assert [c.media_reference.target_url for c in clips] == [
        (project / "media" / n).resolve().as_uri()
        for n in ("shot_a.mov", "shot_b.mov", "shot_c.mp4")
    ]
    # Source ranges on the media's own timecode clock: 01:00:00:12 is shot_a's frame 12.
    assert clips[0].source_range.start_time.to_timecode() == "01:00:00:12"
    assert track[1].out_offset.value == 24
    assert timeline.duration().value == 144
    assert entry_of(project)["outputs"][0]["timeline"] == "exports/reel1.otio"


def test_an_edl_dropped_as_it_is_is_the_request(project: Path) -> None:
    """Dropped in the project folder: its own rate (24, from its media), and the
    default output, 1080p; the cut is the same."""
    request = put(project, "cut24_avid.edl", folder="")
    result = assemble(request, Settings())
    assert (measure(result.export).width, measure(result.export).height) == (1920, 1080)
    assert result.export.name == "cut24_avid.mp4"  # named after the timeline
    codes = [corpus.read_code(f) for f in frames_rgb(result.export)]
    assert codes[:36] == list(range(12, 48)) and codes[108:] == list(range(36))


def test_effects_it_cannot_render_are_cuts_with_a_warning_each(project: Path) -> None:
    put(project, "speed24_avid.edl")
    result = assemble(request_for(project, "edit/speed24_avid.edl"), Settings())
    codes = [corpus.read_code(f) for f in frames_rgb(result.export)]
    assert codes[:48] == [n // 2 for n in range(48)]  # M2 12 fps: each frame twice
    assert codes[48:72] == list(range(0, 48, 2))  # M2 48 fps: every other frame
    assert codes[72:96] == [10] * 24  # the freeze on 02:00:00:10
    assert codes[96:120] == list(range(24))  # the wipe, as a cut to shot_c
    assert codes[120:132] == list(range(72, 84))  # the key: its background only
    # Faded in from black over 12 frames: brighter each frame, readable once it dominates.
    fading = frames_rgb(result.export)[132:144]
    light = [float(f[: 2 * f.shape[0] // 3].mean()) for f in fading]  # not the pop band
    assert all(b > a for a, b in itertools.pairwise(light))
    assert codes[139:] == list(range(31, 36))
    warnings = entry_of(project)["warnings"]
    codes_of = [(w["code"], w.get("shot_index")) for w in warnings]
    assert ("transition_as_cut", 3) in codes_of and ("key_as_cut", 4) in codes_of


def test_drop_frame_2997_conforms_across_the_minute(project: Path, library: Path) -> None:
    os.link(library / "df2997.mov", project / "media" / "df2997.mov")
    put(project, "df2997.edl")
    out = {**OUT, "fps": 29.97}
    request = project / "assembly.json"
    request.write_text(json.dumps({"timeline": "edit/df2997.edl", "output": out}))
    result = assemble(request, Settings())
    codes = [corpus.read_code(f) for f in frames_rgb(result.export)]
    # 00:00:59;28 is frame 28; after 00:00:59;29 comes 00:01:00;02, frame 30.
    assert codes == [28, 29, 30, 31, *range(30, 40), *range(10)]


def test_a_cut_only_timeline_of_matching_media_is_copied(project: Path) -> None:
    text = """TITLE: COPY24
FCM: NON-DROP FRAME
001  SHOT_A   V     C        01:00:00:12 01:00:02:00 01:00:00:00 01:00:01:12
* FROM CLIP NAME:  shot_a.mov
002  SHOT_C   V     C        00:00:00:00 00:00:01:00 01:00:01:12 01:00:02:12
* FROM CLIP NAME:  shot_c.mp4
"""
    (project / "edit").mkdir()
    (project / "edit" / "copy24.edl").write_text(text)
    request = project / "assembly.json"
    request.write_text(
        json.dumps({"timeline": "edit/copy24.edl", "output": {**OUT, "bitrate": "50M"}})
    )
    result = assemble(request, Settings())
    assert result.plan.strategy == "copy"
    codes = [corpus.read_code(f) for f in frames_rgb(result.export)]
    assert codes == list(range(12, 48)) + list(range(24))


def test_re_conforming_a_changed_event_encodes_only_that_event(project: Path) -> None:
    edl = put(project, "cut24_avid.edl")
    request = request_for(project, "edit/cut24_avid.edl")
    assemble(request, Settings())
    assert [s["made"] for s in entry_of(project)["shots"]] == ["encoded"] * 4
    # The editor slips event 4 by six frames.
    edl.write_text(
        edl.read_text().replace(
            "004  SHOT_C   V     C        00:00:00:00 00:00:01:12",
            "004  SHOT_C   V     C        00:00:00:06 00:00:01:18",
        )
    )
    result = assemble(request, Settings())
    assert [s["made"] for s in entry_of(project)["shots"]] == [
        "cached",
        "cached",
        "cached",
        "encoded",
    ]
    codes = [corpus.read_code(f) for f in frames_rgb(result.export)]
    assert codes[108:] == list(range(6, 42))


def test_missing_media_are_named_with_their_events(project: Path) -> None:
    from assemblyd.errors import ValidationFailed

    (project / "media" / "shot_b.mov").unlink()
    shutil.move(project / "media" / "shot_c.mp4", project / "media" / "take9.mp4")
    put(project, "cut24_avid.edl")
    with pytest.raises(ValidationFailed) as failed:
        assemble(request_for(project, "edit/cut24_avid.edl"), Settings())
    message = " | ".join(f"{p.field}: {p.reason}" for p in failed.value.problems)
    assert len(failed.value.problems) == 2, message
    assert "event 2" in message and "shot_b" in message
    assert "event 4" in message and "shot_c" in message
    assert not (project / "exports").exists() or not any(
        p.suffix == ".mp4" for p in (project / "exports").iterdir()
    )


def test_an_aaf_conforms_like_the_edl(project: Path, tmp_path: Path) -> None:
    """The same cut as AAF, written by the AAF adapter's own writer (pyaaf2)."""
    from tests.conform.test_formats import _aaf_dissolve

    timeline = otio.adapters.read_from_file(str(put(project, "cut24.otio")))
    for track in list(timeline.tracks):
        if track.kind != otio.schema.TrackKind.Video:
            timeline.tracks.remove(track)
    for transition in timeline.find_children(descended_from_type=otio.schema.Transition):
        _aaf_dissolve(transition)
    scratch = tmp_path / "cut24.aaf"
    otio.adapters.write_to_file(timeline, str(scratch), use_empty_mob_ids=True)
    scratch.replace(project / "edit" / "cut24.aaf")
    result = assemble(request_for(project, "edit/cut24.aaf"), Settings())
    assert check_cut24(result.export) == [0, 0, 0]


def test_an_fcpxml_conforms_its_own_cut(project: Path) -> None:
    """FCPXML's adapter drops transitions: the dissolve is a cut at its centre."""
    put(project, "cut24.fcpxml")
    result = assemble(request_for(project, "edit/cut24.fcpxml"), Settings())
    frames = frames_rgb(result.export)
    codes = [corpus.read_code(f) for f in frames]
    assert codes[:48] == list(range(12, 60))
    assert codes[48:96] == list(range(18, 66))
    assert all(f.max() < 30 for f in frames[96:108])
    assert codes[108:] == list(range(36))
    assert "fcpxml_transitions_not_read" in [w["code"] for w in entry_of(project)["warnings"]]
