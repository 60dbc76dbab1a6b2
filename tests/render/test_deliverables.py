"""One request, everything a review or a delivery needs: several outputs from one
decode, burn-ins and a slate read back from decoded frames, loudness measured on
the export, a start timecode read back, pictures of the cut, all or nothing."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from assemblyd.errors import VerifyError
from assemblyd.media.ffmpeg import binary
from assemblyd.pipeline.run import assemble
from assemblyd.render import normalize
from assemblyd.render.burnin import FONT
from assemblyd.settings import Settings
from tests import corpus
from tests.mediacheck import audio_mono, frames_rgb, measure

SIZE = (320, 180)
BASE = {"resolution": "320x180", "fps": 24, "quality_preset": "draft"}


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("deliverables-media")
    for name in ("a", "b", "c"):
        corpus.coded_clip(folder / f"{name}.mp4", 48)
    return folder


@pytest.fixture
def project(tmp_path: Path, clips: Path) -> Path:
    folder = tmp_path / "seq010"
    (folder / "shots").mkdir(parents=True)
    for clip in clips.iterdir():
        (folder / "shots" / clip.name).hardlink_to(clip)
    return folder


def request(project: Path, **doc: Any) -> Path:
    path = project / "assembly.json"
    shots = doc.pop("shots", ["shots/a.mp4", "shots/b.mp4", "shots/c.mp4"])
    path.write_text(json.dumps({"shots": shots, **doc}))
    return path


def entry_of(project: Path) -> dict[str, Any]:
    return json.loads((project / "project.json").read_text())["assemblies"][-1]  # type: ignore[no-any-return]


# --- reading burn-ins back -----------------------------------------------------------


def glyphs(frame: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The white text inside ``box`` (x, y, w, h): a mask, whatever is under it."""
    x, y, w, h = box
    return frame[y : y + h, x : x + w].min(axis=2) > 200


def drawn_by_ffmpeg(draw: str, frames: int, background: str = "0x646464") -> list[np.ndarray]:
    """Reference pictures: ``draw`` (a drawtext of the bundled font) on a plain
    background, straight from ffmpeg, decoded the same way as an export."""
    out = subprocess.run(
        [
            binary(), "-v", "error", "-f", "lavfi",
            "-i", f"color=c={background}:s={SIZE[0]}x{SIZE[1]}:r=24",
            "-vf", draw, "-frames:v", str(frames), "-f", "rawvideo", "-pix_fmt", "rgb24", "-",
        ],
        check=True,
        capture_output=True,
    ).stdout  # fmt: skip
    size = SIZE[0] * SIZE[1] * 3
    return [
        np.frombuffer(out[i : i + size], np.uint8).reshape(SIZE[1], SIZE[0], 3)
        for i in range(0, len(out), size)
    ]


def text_box(frames: list[np.ndarray]) -> tuple[int, int, int, int]:
    """Where white text appears in any of ``frames``, with a margin."""
    masks = np.any([f.min(axis=2) > 200 for f in frames], axis=0)
    ys, xs = np.nonzero(masks)
    x0, y0 = max(0, xs.min() - 2), max(0, ys.min() - 2)
    return int(x0), int(y0), int(xs.max() + 3 - x0), int(ys.max() + 3 - y0)


def read_back(
    export: list[np.ndarray], draw: str, box: tuple[int, int, int, int], count: int
) -> list[int]:
    """For each exported frame, which of ``count`` reference frames drawn by ``draw``
    it shows: the nearest in the box, against references on the same background
    (the coded picture's bottom band is grey, or white on a popping frame)."""
    x, y, w, h = box
    refs = {
        background: [
            r[y : y + h, x : x + w].astype(float).mean(axis=2)
            for r in drawn_by_ffmpeg(draw, count, background)
        ]
        for background in ("0x646464", "0xffffff")
    }
    found = []
    for frame in export:
        white = frame[-8, frame.shape[1] // 2].min() > 200
        patch = frame[y : y + h, x : x + w].astype(float).mean(axis=2)
        candidates = refs["0xffffff" if white else "0x646464"]
        found.append(int(np.argmin([np.abs(patch - r).sum() for r in candidates])))
    return found


# The bundled font at the burn-in's size (0.1 of 180 lines), bottom right of the
# title-safe area (5 % in from each edge): what the request asks for, written here
# independently of the code under test.
FONT_SIZE = 18
BOTTOM_RIGHT = "x=w*0.95-tw:y=h*0.95-th"
BOTTOM_LEFT = "x=w*0.05:y=h*0.95-th"


def counter_drawn(start: int) -> str:
    return (
        f"drawtext=fontfile='{FONT}':fontsize={FONT_SIZE}:fontcolor=white:{BOTTOM_RIGHT}"
        f":text='%{{eif\\:n+{start}\\:d}}':box=1:boxcolor=black@0.55:boxborderw=4"
    )


def timecode_drawn(start: str) -> str:
    escaped = start.replace(":", "\\:")
    return (
        f"drawtext=fontfile='{FONT}':fontsize={FONT_SIZE}:fontcolor=white:{BOTTOM_LEFT}"
        f":timecode='{escaped}':timecode_rate=24:box=1:boxcolor=black@0.55:boxborderw=4"
    )


@pytest.mark.parametrize("engine", ["normalize", "moviepy"])
def test_the_frame_counter_and_record_timecode_count_every_frame(
    project: Path, engine: str
) -> None:
    burnins = [
        {"field": "frame", "position": "bottom_right", "size": 0.1},
        {"field": "record_timecode", "position": "bottom_left", "size": 0.1},
    ]
    output = {**BASE, "burnins": burnins, "start_timecode": "01:00:00:00"}
    result = assemble(request(project, output=output, engine=engine), Settings())
    frames = frames_rgb(result.export)
    assert len(frames) == 144
    counters = drawn_by_ffmpeg(counter_drawn(0), 144)
    box = text_box(counters)
    # Bottom right, inside the title-safe area.
    assert box[0] > SIZE[0] / 2 and box[1] > SIZE[1] / 2
    assert (
        box[0] + box[2] <= round(SIZE[0] * 0.95) + 3
        and box[1] + box[3] <= round(SIZE[1] * 0.95) + 3
    )
    # +1 every frame, across the cuts, as the record timecode from 01:00:00:00.
    assert read_back(frames, counter_drawn(0), box, 144) == list(range(144))
    clocks = timecode_drawn("01:00:00:00")
    assert read_back(frames, clocks, text_box(drawn_by_ffmpeg(clocks, 144)), 144) == list(
        range(144)
    )
    # The box behind the text: half-transparent black over the picture's grey (100).
    x, y, w, h = box
    patch = frames[10][y : y + h, x : x + w].astype(float).mean(axis=2)
    assert (np.abs(patch - 0.45 * 100) < 8).mean() > 0.3
    # And nothing drawn where no burn-in is: the coded picture reads as it should.
    assert [corpus.read_code(f[:, : SIZE[0] // 2]) for f in frames[:1]] != [None]


@pytest.mark.parametrize("engine", ["normalize", "moviepy"])
def test_the_source_timecode_is_the_sources_own(project: Path, engine: str) -> None:
    """A camera file that starts at 01:00:10:00, cut in 1 s after its start: its
    burnt-in source timecode reads 01:00:11:00 on the first frame and counts on."""
    source = project / "shots" / "a.mp4"
    camera = project / "shots" / "cam.mp4"
    subprocess.run(
        [binary(), "-v", "error", "-i", str(source), "-c", "copy", "-map", "0",
         "-timecode", "01:00:10:00", str(camera)],
        check=True,
    )  # fmt: skip
    burnins = [{"field": "source_timecode", "position": "bottom_left", "size": 0.1}]
    doc = request(
        project,
        shots=[{"path": "shots/cam.mp4", "in": 1.0}],
        output={**BASE, "burnins": burnins},
        engine=engine,
    )
    frames = frames_rgb(assemble(doc, Settings()).export)
    assert len(frames) == 24
    clocks = timecode_drawn("01:00:11:00")
    right = drawn_by_ffmpeg(clocks, 24)
    # What a clock that ignored the file's own start would show: frames differ only in
    # the hours and minutes, which read_back's nearest match alone would not notice.
    wrong = drawn_by_ffmpeg(timecode_drawn("00:00:01:00"), 24)
    box = text_box(right + wrong)
    assert read_back(frames, clocks, box, 24) == list(range(24))
    for frame, r, w in zip(frames, right, wrong, strict=True):
        shown = glyphs(frame, box)
        assert (shown != glyphs(r, box)).sum() < (shown != glyphs(w, box)).sum() / 2


def test_text_burn_ins_sit_in_their_places(project: Path) -> None:
    burnins = [
        {"field": "text", "text": "CONFIDENTIAL: ACME", "position": "bottom_center", "size": 0.08},
        {"field": "shot", "position": "top_right", "size": 0.08},
        {"field": "source_file", "position": "top_right", "size": 0.08},
        {"field": "project", "position": "center", "size": 0.08},
        # Every character FFmpeg's two parsers treat specially, drawn as written.
        {"field": "text", "text": "O'Brien: cut 3, [v2]; 50% \\ ok", "position": "top_left"},
    ]
    result = assemble(request(project, output={**BASE, "burnins": burnins}), Settings())
    frame = frames_rgb(result.export)[60]  # in shot b
    white = frame.min(axis=2) > 200
    height, width = white.shape
    bottom = np.nonzero(white[height // 2 :, :])[1]
    assert abs((bottom.min() + bottom.max()) / 2 - width / 2) < width * 0.05  # centred
    # Two lines stacked top right (shot, then its file), right-aligned at 95 %.
    top_right = white[: height // 3, width // 2 :]
    rows = np.nonzero(top_right.any(axis=1))[0]
    assert rows.min() >= round(height * 0.05) - 1
    line_breaks = np.nonzero(np.diff(rows) > 1)[0]
    assert len(line_breaks) >= 1
    assert np.nonzero(top_right.any(axis=0))[0].max() + width // 2 <= round(width * 0.95) + 1
    # The words are the ones asked for: ffmpeg draws the same text the same way.
    reference = drawn_by_ffmpeg(
        f"drawtext=fontfile='{FONT}':fontsize=14:fontcolor=white:x=(w-tw)/2:y=h*0.95-th"
        ":text='CONFIDENTIAL\\: ACME':box=1:boxcolor=black@0.55:boxborderw=3",
        1,
    )[0]
    box = text_box([reference])
    mask, want = glyphs(frame, box), glyphs(reference, box)
    assert (mask & want).sum() / (mask | want).sum() > 0.7


def test_a_slate_comes_first_with_silence_and_is_counted(project: Path) -> None:
    slate = {"seconds": 1, "version": "v003", "line": "FOR CLIENT REVIEW"}
    result = assemble(request(project, output=BASE, slate=slate), Settings())
    frames = frames_rgb(result.export)
    assert len(frames) == 24 + 144 == measure(result.export).frames
    card = frames[12]
    white = card.min(axis=2) > 200
    ys, xs = np.nonzero(white)
    assert len(ys) > 500  # lines of text
    assert abs((xs.min() + xs.max()) / 2 - SIZE[0] / 2) < SIZE[0] * 0.05  # centred
    assert card[~white].mean() < 20  # on black
    assert [corpus.read_code(f) for f in frames[24:72]] == list(range(48))  # then the cut
    samples, rate = audio_mono(result.export)
    assert np.abs(samples[: rate - rate // 48]).max() < 0.01  # the slate is silent
    assert np.abs(samples[rate : 2 * rate]).max() > 0.2  # the cut's pops are not
    entry = entry_of(project)
    assert [s["kind"] for s in entry["shots"]] == ["slate", "clip", "clip", "clip"]
    assert entry["shots"][1]["record_in"] == 24


def loudness_of(path: Path) -> tuple[float, float]:
    """Integrated loudness and true peak as ffmpeg's ebur128 measures the file."""
    log = subprocess.run(
        [binary(), "-nostats", "-i", str(path), "-map", "0:a:0", "-af", "ebur128=peak=true",
         "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    ).stderr  # fmt: skip
    summary = log[log.rfind("Summary:") :]
    integrated = float(re.search(r"I:\s+(-?[\d.]+) LUFS", summary)[1])  # type: ignore[index]
    peak = float(re.search(r"Peak:\s+(-?[\d.]+) dBFS", summary)[1])  # type: ignore[index]
    return integrated, peak


@pytest.mark.parametrize(("target", "ceiling"), [(-23, -1), (-16, -1.5)])
def test_loudness_is_brought_to_the_target(
    project: Path, tmp_path: Path, target: float, ceiling: float
) -> None:
    quiet = corpus.write_wav(tmp_path / "quiet.wav", [corpus.tone(4.0, 440, amp=0.02)] * 2)
    loud = corpus.write_wav(tmp_path / "loud.wav", [corpus.tone(4.0, 880, amp=0.7)] * 2)
    for name, wav in (("quiet", quiet), ("loud", loud)):
        images = (corpus.coded(n, *SIZE) for n in range(96))
        corpus.encode(project / "shots" / f"{name}.mp4", images, SIZE, 24, audio=[wav])
    output = {**BASE, "loudness": {"integrated": target, "true_peak": ceiling}}
    shots = ["shots/quiet.mp4", "shots/loud.mp4"]
    result = assemble(request(project, shots=shots, output=output), Settings())
    integrated, peak = loudness_of(result.export)
    assert abs(integrated - target) <= 1.0
    assert peak <= ceiling + 0.1
    recorded = entry_of(project)["report"]["loudness"]
    assert recorded["integrated"] == pytest.approx(integrated, abs=0.15)
    assert recorded["true_peak"] == pytest.approx(peak, abs=0.15)
    assert recorded["range"] > 0


@pytest.mark.parametrize(
    ("fmt", "fps", "timecode"),
    [
        ("mp4", 24, "01:00:00:00"),
        ("mov", 24, "10:00:00:00"),
        ("mov", 29.97, "01:00:00;00"),
        ("mp4", 59.94, "00:59:59;58"),
    ],
)
def test_the_start_timecode_is_a_timecode_track_editors_read(
    project: Path, fmt: str, fps: float, timecode: str
) -> None:
    output = {**BASE, "output_format": fmt, "fps": fps, "start_timecode": timecode}
    result = assemble(request(project, output=output), Settings())
    with av.open(str(result.export)) as container:
        data = [s for s in container.streams if s.type == "data"]
        assert data and data[0].metadata.get("timecode") == timecode  # the tmcd track
        assert container.streams.video[0].metadata.get("timecode") == timecode
    probed = subprocess.run(
        [binary(), "-i", str(result.export)], capture_output=True, text=True
    ).stderr
    assert f"timecode        : {timecode}" in probed


def test_master_and_review_from_one_decode_published_together(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    readers: list[int] = []

    class Counted(normalize._Reader):  # the real reader, counted
        def __init__(self, looks: list[normalize.Look]) -> None:
            readers.append(len(looks))
            super().__init__(looks)

    monkeypatch.setattr(normalize, "_Reader", Counted)
    outputs = [
        {**BASE, "name": "master", "output_format": "mov", "quality_preset": "high"},
        {
            **BASE,
            "name": "review",
            "burnins": [{"field": "frame", "position": "bottom_right", "size": 0.1}],
            "start_timecode": "01:00:00:00",
        },
    ]
    result = assemble(request(project, outputs=outputs), Settings())
    assert readers == [2, 2, 2]  # each shot decoded once, for both outputs
    master, review = result.outputs
    assert master.export.name == "seq010_master.mov" and review.export.name == "seq010_review.mp4"
    assert (
        measure(master.export).video_codec == "prores"
        and measure(review.export).video_codec == "h264"
    )
    master_frames, review_frames = frames_rgb(master.export), frames_rgb(review.export)
    assert [corpus.read_code(f) for f in master_frames] == list(range(48)) * 3
    box = text_box(drawn_by_ffmpeg(counter_drawn(0), 144))
    assert read_back(review_frames, counter_drawn(0), box, 144) == list(range(144))
    assert not glyphs(master_frames[50], box).any()  # the master carries no burn-in
    entry = entry_of(project)
    assert [o["name"] for o in entry["outputs"]] == ["master", "review"]
    assert [o["file"] for o in entry["outputs"]] == [
        "exports/seq010_master.mov",
        "exports/seq010_review.mp4",
    ]
    assert entry["outputs"][1]["report"]["timecode"] == "01:00:00:00"
    # Pictures of each: a poster, a contact sheet of three labelled thumbnails.
    for out in entry["outputs"]:
        poster, sheet = project / out["poster"], project / out["sheet"]
        with av.open(str(sheet)) as c:
            picture = next(c.decode(video=0)).to_ndarray(format="rgb24")
        assert 3 * 320 <= picture.shape[1] < 4 * 320 and 180 <= picture.shape[0] < 2 * 180
        assert poster.stat().st_size > 1000
    assert [s["made"] for s in entry["shots"]] == ["encoded"] * 3
    assert all((project / s["thumbnail"]).is_file() for s in entry["shots"])


def test_one_output_failing_publishes_none(project: Path) -> None:
    """The review's loudness cannot be met (-5 LUFS under a -9 dBTP ceiling): its
    verify fails, and the master, which was fine, is not published either."""
    outputs = [
        {**BASE, "name": "master"},
        {**BASE, "name": "review", "loudness": {"integrated": -5, "true_peak": -9}},
    ]
    with pytest.raises(VerifyError) as failed:
        assemble(request(project, outputs=outputs), Settings())
    assert "loudness" in failed.value.reason and "seq010_review" in str(failed.value.path)
    exports = project / "exports"
    assert sorted(p.name for p in exports.iterdir()) == []  # no export, no partial, no pictures
    entry = entry_of(project)
    assert entry["status"] == "failed" and entry["error"]["code"] == "verify_failed"
