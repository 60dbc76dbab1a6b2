from fractions import Fraction

import pytest

from assemblyd.pipeline.plan import fit_inside, make_plan
from assemblyd.pipeline.validate import validate


@pytest.mark.parametrize(
    ("src", "canvas", "fit"),
    [
        ((1920, 1080), (1920, 1080), (1920, 1080)),
        ((1280, 720), (1920, 1080), (1920, 1080)),
        ((1080, 1920), (1920, 1080), (608, 1080)),
        ((640, 480), (1920, 1080), (1440, 1080)),
        ((1920, 800), (1920, 1080), (1920, 800)),
        ((1, 1), (1920, 1080), (1080, 1080)),
        # HDV and DV NTSC as displayed (stored size times pixel shape).
        ((Fraction(1440 * 4, 3), 1080), (1920, 1080), (1920, 1080)),
        ((Fraction(720 * 8, 9), 480), (1920, 1080), (1440, 1080)),
        # An odd shape: rounded once, to even, off by less than a pixel.
        ((333, 111), (320, 180), (320, 106)),
    ],
)
def test_fit_keeps_aspect_and_even_sizes(src, canvas, fit):
    assert fit_inside((Fraction(src[0]), Fraction(src[1])), canvas) == fit


def test_plan_counts_whole_frames_and_lays_shots_end_to_end(add_shot, write_request, settings):
    shots = [
        add_shot("wide30.mp4"),
        {"path": add_shot("long24.mp4"), "in": 0.5, "out": 2.0},
        add_shot("portrait25.mp4"),
    ]
    validated = validate(write_request(shots, {"fps": 23.976, "resolution": "320x180"}), settings)
    plan = make_plan(validated, settings)
    rate = Fraction(24000, 1001)
    assert [s.frames for s in plan.segments] == [
        round(1 * rate),
        round(Fraction(3, 2) * rate),
        round(1 * rate),
    ]
    assert [s.first_frame for s in plan.segments] == [0, 24, 60]
    assert plan.segments[1].start == 0.5
    # Centred on an even column: 4:2:0 chroma cannot start on an odd one.
    assert plan.segments[2].fit == (102, 180) and plan.segments[2].offset == (108, 0)
    assert plan.duration == pytest.approx(float(plan.total_frames / rate))
