"""The single-encoder segmenter and the soundtrack cache, judged on the files they write."""

from __future__ import annotations

import json
from pathlib import Path

import av
import psutil
import pytest

from assemblyd.errors import RenderError
from assemblyd.pipeline.plan import make_plan
from assemblyd.pipeline.run import assemble
from assemblyd.pipeline.validate import validate
from assemblyd.render.cache import SegmentCache
from assemblyd.render.normalize import Work, encode_segments
from assemblyd.settings import Settings
from tests import corpus
from tests.mediacheck import frames_rgb, picture_box

OUT = {"resolution": "320x180", "fps": 24, "quality_preset": "draft"}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """Three coded clips of different sizes and rates: 48, 30 and 24 source frames."""
    folder = tmp_path / "p"
    corpus.coded_clip(folder / "shots" / "a.mp4", 48)
    corpus.coded_clip(folder / "shots" / "b.mp4", 30, size=(256, 144), rate=25)
    corpus.coded_clip(folder / "shots" / "c.mp4", 24, size=(160, 120), rate=30)
    return folder


def code(frame):  # type: ignore[no-untyped-def]
    """The frame number a coded frame shows, read inside its picture, not the bars.
    (Its bottom band is never black: it says where the picture sits.)"""
    x, _, w, _ = picture_box(frame[-4:])
    return corpus.read_code(frame[:, x : x + w])


def plan_for(project: Path, shots: list[str]):  # type: ignore[no-untyped-def]
    request = project / "assembly.json"
    request.write_text(json.dumps({"shots": shots, "output": OUT, "engine": "normalize"}))
    settings = Settings()
    return make_plan(validate(request, settings), settings), settings


def describe(path: Path) -> tuple[bytes, int, bool]:
    """A segment file's parameter sets, frame count, and whether it opens on a keyframe."""
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        packets = [p for p in c.demux(stream) if p.size]
        return bytes(stream.codec_context.extradata), len(packets), packets[0].is_keyframe


def test_one_encoder_writes_one_exact_file_per_shot(project, tmp_path):
    plan, settings = plan_for(project, ["shots/a.mp4", "shots/b.mp4", "shots/c.mp4"])
    cache = SegmentCache(tmp_path / "cache", 10**9)
    work = [Work(seg, f"{i:02d}" + "0" * 30) for i, seg in enumerate(plan.segments)]
    made = encode_segments(plan, work, cache, settings)
    found = [describe(path) for path in made]
    assert [n for _, n, _ in found] == [seg.frames for seg in plan.segments] == [48, 29, 19]
    assert all(first_is_key for _, _, first_is_key in found)
    assert len({extradata for extradata, _, _ in found}) == 1  # one set for all
    # Each file holds its own shot, from its first frame.
    firsts = [code(frames_rgb(path)[0]) for path in made]
    assert firsts == [0, 0, 0]
    assert not [p for p in cache.folder.iterdir() if p.name.startswith(".encode.")]


def test_a_shot_encoded_alone_has_the_parameter_sets_of_a_batch(project, tmp_path):
    """Identical settings, identical parameter sets: a shot re-encoded on its own (or
    by a part job on another machine) joins the ones encoded with others."""
    plan, settings = plan_for(project, ["shots/a.mp4", "shots/b.mp4", "shots/c.mp4"])
    batch = encode_segments(
        plan,
        [Work(seg, f"b{i}" + "0" * 30) for i, seg in enumerate(plan.segments)],
        SegmentCache(tmp_path / "one", 10**9),
        settings,
    )
    (alone,) = encode_segments(
        plan,
        [Work(plan.segments[1], "a" + "0" * 31)],
        SegmentCache(tmp_path / "two", 10**9),
        settings,
    )
    assert describe(alone)[0] == describe(batch[0])[0]


def test_a_changed_shot_joins_the_cached_ones_cleanly(project):
    shots = ["shots/a.mp4", "shots/b.mp4", "shots/c.mp4"]
    request = project / "assembly.json"
    request.write_text(json.dumps({"shots": shots, "output": OUT, "engine": "normalize"}))
    first = assemble(request, Settings())
    # The middle shot changes: a new recording under the same name.
    corpus.coded_clip(project / "shots" / "b.mp4", 30, size=(320, 180), rate=25, gop=6)
    second = assemble(request, Settings())
    entry = json.loads((project / "project.json").read_text())["assemblies"][-1]
    assert entry["segments"] == {"encoded": 1, "cached": 2, "copied": 0}
    codes = [code(f) for f in frames_rgb(second.export)]

    def nearest(n: int, rate: int) -> int:  # the source frame nearest output frame n
        return int(n * rate / 24 + 0.5)

    assert codes == list(range(48)) + [nearest(n, 25) for n in range(29)] + [
        nearest(n, 30) for n in range(19)
    ]
    assert first.export != second.export


def test_a_reader_that_fails_names_its_shot_and_leaves_nothing(project, tmp_path):
    plan, settings = plan_for(project, ["shots/a.mp4", "shots/b.mp4", "shots/c.mp4"])
    # Validated, then damaged before the render reads it (a NAS dropping out).
    data = (project / "shots" / "b.mp4").read_bytes()
    (project / "shots" / "b.mp4").write_bytes(data[: len(data) // 3])
    cache = SegmentCache(tmp_path / "cache", 10**9)
    with pytest.raises(RenderError) as err:
        encode_segments(
            plan, [Work(s, f"{i}" * 32) for i, s in enumerate(plan.segments)], cache, settings
        )
    assert err.value.shot_index == 1 and err.value.path == "shots/b.mp4"
    assert list(cache.folder.rglob("*")) == []  # not the first shot either: nothing half-done
    ours = [p for p in psutil.Process().children(recursive=True) if "ffmpeg" in p.name()]
    assert ours == []


def test_the_soundtrack_is_cached_per_cut(project):
    shots = ["shots/a.mp4", "shots/c.mp4"]
    request = project / "assembly.json"
    request.write_text(json.dumps({"shots": shots, "output": OUT, "engine": "normalize"}))
    assemble(request, Settings())
    cache = project / ".assemblyd-cache"
    tracks = sorted(cache.rglob("*.m4a"))
    assert len(tracks) == 1
    made = tracks[0].stat().st_mtime_ns
    again = assemble(request, Settings())
    assert sorted(cache.rglob("*.m4a")) == tracks  # the same cut: the same sound, reused
    assert tracks[0].stat().st_mtime_ns >= made
    with av.open(str(again.export)) as c:
        copied = b"".join(bytes(p) for p in c.demux(audio=0) if p.size)
    with av.open(str(tracks[0])) as c:
        cached = b"".join(bytes(p) for p in c.demux(audio=0) if p.size)
    assert copied == cached  # joined as it is, not encoded again
    # Another trim is another sound.
    request.write_text(
        json.dumps({"shots": [shots[0], {"path": shots[1], "in": 0.25}], "output": OUT})
    )
    assemble(request, Settings())
    assert len(sorted(cache.rglob("*.m4a"))) == 2
