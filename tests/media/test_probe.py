"""What the probe reads off studio media: display matrices, pixel shape, fields,
colour, sound tracks, stills and sequences, and pieces cut with -c copy."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from assemblyd.errors import ProbeError
from assemblyd.media.info import Orientation
from assemblyd.media.probe import probe
from assemblyd.media.sequence import describe_missing, find_frames, frame_path, is_sequence
from tests import corpus


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("probe")
    return corpus.encode(
        folder / "base.mp4", [corpus.quads(64, 36, corpus.QUADRANTS)] * 4, (64, 36)
    )


@pytest.mark.parametrize("mirrored", [False, True])
@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_display_matrices_in_every_turn_and_mirror(base, tmp_path, rotation, mirrored):
    info = probe(corpus.with_matrix(base, tmp_path / "m.mp4", rotation, mirrored))
    # ffmpeg's flags turn first, then mirror; as one matrix that is a mirror, then
    # the opposite turn.
    want = Orientation((-rotation) % 360 if mirrored else rotation, mirrored)
    assert info.orientation == want
    assert info.display_size == ((36, 64) if rotation % 180 else (64, 36))


def test_the_old_rotate_tag_is_clockwise():
    assert Orientation.from_tag(90) == Orientation(270)
    assert Orientation.from_tag(-90) == Orientation(90)
    assert Orientation.from_matrix(None) == Orientation()
    assert Orientation.from_matrix((65536, 0, 0, 0, 65536, 0, 0, 0, 1 << 30)) == Orientation()


def test_pixel_shape_fields_and_colour(tmp_path):
    img = corpus.quads(180, 120, corpus.QUADRANTS)
    dv = corpus.encode(
        tmp_path / "dv.mp4",
        [img] * 4,
        (180, 120),
        "30000/1001",
        video=[
            "-vf", "setsar=8/9,setfield=bff,scale=out_color_matrix=bt601,format=yuv420p,"
            "setparams=color_primaries=smpte170m:color_trc=smpte170m:colorspace=smpte170m:range=tv",
            "-c:v", "libx264", "-flags", "+ilme+ildct", "-x264-params", "bff=1",
        ],
    )  # fmt: skip
    info = probe(dv)
    assert info.sar == Fraction(8, 9) and info.display_size == (160, 120)
    assert info.field_order == "bff" and info.interlaced
    assert (info.colour.matrix, info.colour.range, info.colour.transfer) == ("bt601", "tv", "sdr")
    full = corpus.encode(
        tmp_path / "full.mp4", [img] * 4, (180, 120), video=["-pix_fmt", "yuvj420p"]
    )
    assert probe(full).colour.range == "pc"


def test_sound_tracks_and_audio_only(tmp_path):
    img = [corpus.quads(64, 36, corpus.QUADRANTS)] * 24
    wavs = [
        corpus.write_wav(tmp_path / f"{i}.wav", [corpus.tone(1, 300 + 100 * i)]) for i in range(3)
    ]
    surround = corpus.write_wav(tmp_path / "s.wav", [corpus.tone(1, 300)] * 6)
    clip = corpus.encode(
        tmp_path / "c.mov", img, (64, 36), audio=[*wavs, surround], audio_args=["-c:a", "pcm_s16le"]
    )
    tracks = probe(clip).audio
    assert [(t.number, t.channels) for t in tracks] == [(0, 1), (1, 1), (2, 1), (3, 6)]
    corpus.ffmpeg("-f", "lavfi", "-i", "sine=d=0.5", tmp_path / "vo.wav")
    with pytest.raises(ProbeError) as err:
        probe(tmp_path / "vo.wav")
    assert err.value.code == "audio_only"


def test_a_piece_cut_with_copy_has_hidden_frames(tmp_path):
    long = corpus.coded_clip(tmp_path / "long.mp4", 48)
    corpus.ffmpeg("-ss", "1.25", "-i", long, "-c", "copy", tmp_path / "cut.mp4")
    assert probe(tmp_path / "cut.mp4").hidden_frames
    assert not probe(long).hidden_frames


def test_stills_and_sequences(tmp_path):
    corpus.still(tmp_path / "card.png", corpus.quads(64, 36, corpus.QUADRANTS))
    card = probe(tmp_path / "card.png")
    assert card.kind == "still" and card.duration == 0 and not card.audio
    for n in range(5):
        corpus.still(tmp_path / f"p.{100 + n:04d}.png", corpus.coded(n, 64, 36))
    plate = probe(tmp_path / "p.%04d.png", Fraction(25))
    assert plate.kind == "sequence" and plate.first_number == 100
    assert plate.frame_rate == 25 and plate.duration == pytest.approx(5 / 25)
    (tmp_path / "flat.exr").write_bytes(b"v/1\x01")
    with pytest.raises(ProbeError) as err:
        probe(tmp_path / "flat.exr")
    assert err.value.code == "unsupported_media" and "colour-managed" in err.value.reason


def test_sequence_names_and_gaps(tmp_path):
    assert is_sequence("plates/sh010.%04d.dpx") and is_sequence("a_%d.png")
    assert not is_sequence("plates/sh010.1001.dpx") and not is_sequence("100%.png")
    assert frame_path(Path("x/sh.%04d.png"), 7) == Path("x/sh.0007.png")
    for n in (1, 2, 5, 9, 10):
        (tmp_path / f"f{n:03d}.png").write_bytes(b"x")
    (tmp_path / "f0003.png").write_bytes(b"not the same padding")
    frames = find_frames(tmp_path / "f%03d.png")
    assert frames is not None and (frames.first, frames.last) == (1, 10)
    assert describe_missing(frames.missing) == "3-4, 6-8"
