"""Colour: SD BT.601, full range, HLG and PQ sources all become BT.709 limited range,
tagged so, with their colours where they were. Read back from decoded frames."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assemblyd.pipeline.run import assemble
from assemblyd.settings import Settings
from tests import corpus
from tests.mediacheck import colour_error, frames_rgb, picture_box, quadrant_colours, tags

OUT = {"resolution": "320x180", "fps": 24, "quality_preset": "draft"}
TAG = "setparams=color_primaries={p}:color_trc={t}:colorspace={m}:range={r}"
SDR601 = "scale=out_color_matrix=bt601:out_range=tv,format=yuv420p," + TAG.format(
    p="smpte170m", t="smpte170m", m="smpte170m", r="tv"
)
FULL709 = "scale=out_color_matrix=bt709:out_range=pc,format=yuvj420p," + TAG.format(
    p="bt709", t="bt709", m="bt709", r="pc"
)


def _hdr(transfer: str) -> str:
    """SDR patches lifted into HDR the BT.2408 way: SDR white at 203 cd/m²."""
    return (
        f"zscale=tin=bt709:pin=bt709:min=bt709:rin=pc:t={transfer}:p=bt2020:m=bt2020nc:r=tv"
        f":npl=203,format=yuv420p10le," + TAG.format(p="bt2020", t=transfer, m="bt2020nc", r="tv")
    )


# name -> (file name, ffmpeg encoding, largest error allowed per channel). The tone
# map rolls highlights off and moves colours a little; a missing one is off by 60+.
SOURCES = {
    "sd_bt601": ("sd.mp4", ["-vf", SDR601, "-c:v", "libx264"], 6),
    "full_range": ("full.mp4", ["-vf", FULL709, "-c:v", "libx264"], 6),
    "mjpeg": ("phone.mov", ["-c:v", "mjpeg", "-q:v", "2"], 8),
    "hlg": (
        "iphone.mov",
        ["-vf", _hdr("arib-std-b67"), "-c:v", "libx265", "-x265-params", "log-level=error"],
        16,
    ),
    "pq": (
        "hdr10.mp4",
        ["-vf", _hdr("smpte2084"), "-c:v", "libx265", "-x265-params", "log-level=error"],
        16,
    ),
}


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("colour")
    img = corpus.quads(160, 120, corpus.PATCHES)
    return {
        name: corpus.encode(folder / file, [img] * 6, (160, 120), video=args)
        for name, (file, args, _) in SOURCES.items()
    }


def render(tmp_path: Path, source: Path, engine: str, output: dict[str, str] | None = None) -> Path:
    project = tmp_path / "p"
    (project / "shots").mkdir(parents=True)
    (project / "shots" / source.name).write_bytes(source.read_bytes())
    request = project / "assembly.json"
    doc = {"shots": [f"shots/{source.name}"], "output": output or OUT, "engine": engine}
    request.write_text(json.dumps(doc))
    return assemble(request, Settings()).export


@pytest.mark.parametrize("engine", ["auto", "moviepy"])
@pytest.mark.parametrize("name", list(SOURCES))
def test_every_source_comes_out_bt709_with_its_colours(tmp_path, sources, name, engine):
    export = render(tmp_path, sources[name], engine)
    assert tags(export)[:4] == (1, 1, 1, 1)  # BT.709 primaries, transfer, matrix; limited
    frame = frames_rgb(export)[0]
    box = picture_box(frame, threshold=0)
    seen = quadrant_colours(frame, box)
    tolerance = SOURCES[name][2]
    errors = {q: colour_error(seen[q], corpus.PATCHES[q]) for q in seen}
    assert max(errors.values()) <= tolerance, (seen, errors)


@pytest.mark.parametrize(("name", "src_colorspace"), [("sd_bt601", 1), ("hlg", 9), ("pq", 9)])
def test_the_patches_tell_a_conversion_from_a_relabel(sources, name, src_colorspace):
    """The check above has teeth: each source read without its conversion (BT.601 as
    if it were BT.709; HDR without a tone map) is far out."""
    import av

    with av.open(str(sources[name])) as c:
        frame = next(c.decode(video=0))
        wrong = frame.reformat(format="rgb24", src_colorspace=src_colorspace).to_ndarray()
    seen = quadrant_colours(wrong, (0, 0, 160, 120))
    assert max(colour_error(seen[q], corpus.PATCHES[q]) for q in seen) > 20


def test_prores_keeps_ten_bits_of_an_hdr_source(tmp_path, sources):
    output = {**OUT, "output_format": "mov", "quality_preset": "high"}
    export = render(tmp_path, sources["hlg"], "auto", output)
    primaries, transfer, matrix, colour_range, pix_fmt = tags(export)
    assert (primaries, transfer, matrix, colour_range) == (1, 1, 1, 1)
    assert pix_fmt == "yuv422p10le"
    frame = frames_rgb(export)[0]
    seen = quadrant_colours(frame, picture_box(frame, threshold=0))
    assert max(colour_error(seen[q], corpus.PATCHES[q]) for q in seen) <= 16
