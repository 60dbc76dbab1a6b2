"""More than one picture track, as an editor sees it (the top visible clip wins),
with speed changes, freeze frames, generators, a nested sequence and effects
that are not rendered: an OpenTimelineIO timeline built here."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import opentimelineio as otio

from assemblyd.conform.read import read_timeline
from assemblyd.settings import Settings
from tests.conform.test_edl import check_pictures, rows

F = Fraction
R = 24.0
RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange
TC = {"shot_a.mov": (86400, 96), "shot_b.mov": (172800, 72), "shot_c.mp4": (0, 48)}


def clip(studio: Path, name: str, first: int, frames: int, *effects: Any) -> Any:
    start, length = TC[name]
    made = otio.schema.Clip(
        name=name.split(".")[0],
        media_reference=otio.schema.ExternalReference(
            target_url=(studio / "media" / name).as_uri(),
            available_range=TR(RT(start, R), RT(length, R)),
        ),
        source_range=TR(RT(start + first, R), RT(frames, R)),
    )
    made.effects.extend(effects)
    return made


def gap(frames: int) -> Any:
    return otio.schema.Gap(source_range=TR(RT(0, R), RT(frames, R)))


def write(studio: Path, timeline: Any, name: str = "layers.otio") -> Path:
    path = studio / "edit" / name
    path.parent.mkdir(exist_ok=True)
    otio.adapters.write_to_file(timeline, str(path))
    return path


def test_layers_speed_freeze_generators_nests_and_effects(studio: Path, settings: Settings) -> None:
    v1 = otio.schema.Track(name="V1")
    v1.append(clip(studio, "shot_a.mov", 0, 48))
    v1.append(
        otio.schema.Transition(
            transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
            in_offset=RT(6, R),
            out_offset=RT(6, R),
        )
    )
    v1.append(clip(studio, "shot_b.mov", 12, 48))
    v1.append(clip(studio, "shot_a.mov", 24, 24, otio.schema.LinearTimeWarp(time_scalar=2.0)))
    v1.append(clip(studio, "shot_b.mov", 30, 12, otio.schema.FreezeFrame()))
    v1.append(
        otio.schema.Clip(
            name="bars",
            media_reference=otio.schema.GeneratorReference(generator_kind="SMPTEBars"),
            source_range=TR(RT(0, R), RT(12, R)),
        )
    )
    nest = otio.schema.Stack(name="nest", source_range=TR(RT(6, R), RT(12, R)))
    inner = otio.schema.Track(name="inner")
    inner.append(clip(studio, "shot_b.mov", 12, 24))
    nest.append(inner)
    v1.append(nest)
    v1.append(
        clip(studio, "shot_c.mp4", 0, 12, otio.schema.Effect(name="soften", effect_name="Blur"))
    )

    v2 = otio.schema.Track(name="V2")
    v2.extend(
        [gap(24), clip(studio, "shot_c.mp4", 24, 12), gap(4), clip(studio, "shot_a.mov", 60, 10)]
    )
    hidden = clip(studio, "shot_c.mp4", 0, 10)
    hidden.enabled = False  # a disabled clip shows what is under it
    v2.extend([gap(50), hidden])

    v3 = otio.schema.Track(name="V3")  # a disabled track shows nothing
    v3.append(clip(studio, "shot_c.mp4", 0, 48))
    v3.enabled = False

    timeline = otio.schema.Timeline(name="LAYERS", global_start_time=RT(86400, R))
    timeline.tracks.extend([v1, v2, v3])
    conform = read_timeline(write(studio, timeline), studio, settings)

    assert rows(conform) == [
        (1, "clip", 24, "shot_a.mov", 0, F(1), 0),
        (2, "clip", 12, "shot_c.mp4", 24, F(1), 0),  # V2 over V1
        (3, "clip", 4, "shot_a.mov", 36, F(1), 0),  # V1 again, 36 frames in
        (4, "clip", 10, "shot_a.mov", 60, F(1), 0),  # V2 over the dissolve's head
        (5, "clip", 46, "shot_b.mov", 14, F(1), 0),  # what is left of it: a cut
        (6, "clip", 24, "shot_a.mov", 24, F(2), 0),
        (7, "clip", 12, "shot_b.mov", 30, F(0), 0),
        (8, "gap", 12, None, None, F(1), 0),
        (9, "clip", 12, "shot_b.mov", 18, F(1), 0),  # the nest, trimmed by 6
        (10, "clip", 12, "shot_c.mp4", 0, F(1), 0),
    ]
    assert conform.frames == 168
    warned = {e.number: [w["code"] for w in e.warnings] for e in conform.events if e.warnings}
    assert warned == {
        5: ["transition_as_cut"],
        8: ["generator_as_black"],
        10: ["effect_not_rendered"],
    }
    assert "effect 'Blur' is not rendered" in conform.events[9].warnings[0]["message"]
    assert check_pictures(conform) == 9


def test_dissolves_from_and_to_black_and_a_wipe(studio: Path, settings: Settings) -> None:
    """A transition at the head of a track dissolves from black (a gap of no
    frames before it); one at its end into black; a wipe is a cut at its centre."""
    v1 = otio.schema.Track(name="V1")
    v1.append(
        otio.schema.Transition(
            transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
            in_offset=RT(0, R),
            out_offset=RT(12, R),
        )
    )
    v1.append(clip(studio, "shot_a.mov", 12, 24))
    v1.append(
        otio.schema.Transition(
            name="Edge Wipe", transition_type="SMPTE_Wipe", in_offset=RT(4, R), out_offset=RT(4, R)
        )
    )
    v1.append(clip(studio, "shot_b.mov", 12, 24))
    v1.append(
        otio.schema.Transition(
            transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
            in_offset=RT(8, R),
            out_offset=RT(0, R),
        )
    )
    timeline = otio.schema.Timeline(name="FADES", global_start_time=RT(0, R))
    timeline.tracks.append(v1)
    conform = read_timeline(write(studio, timeline, "fades.otio"), studio, settings)
    assert rows(conform) == [
        (1, "gap", 0, None, None, F(1), 0),
        (2, "clip", 24, "shot_a.mov", 12, F(1), 12),
        (3, "clip", 16, "shot_b.mov", 12, F(1), 0),
        (4, "gap", 8, None, None, F(1), 8),
    ]
    assert [w["code"] for w in conform.events[2].warnings] == ["transition_as_cut"]
    assert "(SMPTE_Wipe) is not rendered" in conform.events[2].warnings[0]["message"]
    assert conform.start_frame == 0
