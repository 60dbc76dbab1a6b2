import json
from fractions import Fraction
from pathlib import Path

import pytest
from pydantic import ValidationError

from assemblyd.request.model import AssemblyRequest, OutputSettings, is_request_file
from assemblyd.request.schema import json_schema

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "config" / "assembly.schema.json"


def test_output_defaults():
    out = OutputSettings()
    assert out.model_dump() == {
        "output_format": "mp4",
        "resolution": "1920x1080",
        "bitrate": "5000k",
        "fps": 24,
        "quality_preset": "standard",
        "name": None,
        "burnins": [],
        "loudness": None,
        "start_timecode": None,
    }


@pytest.mark.parametrize(
    ("fps", "exact"),
    [
        (23.976, Fraction(24000, 1001)),
        (29.97, Fraction(30000, 1001)),
        (59.94, Fraction(60000, 1001)),
        (25, Fraction(25)),
        (60, Fraction(60)),
    ],
)
def test_ntsc_rates_are_exact(fps, exact):
    assert OutputSettings(fps=fps).frame_rate == exact


def test_shots_accept_strings_and_trimmed_objects():
    req = AssemblyRequest.model_validate(
        {"shots": ["a.mov", {"path": "b.mp4", "in": 1.5, "out": 4.0}]}
    )
    first, second = req.shot_list
    assert (first.path, first.in_, first.out) == ("a.mov", None, None)
    assert (second.path, second.in_, second.out) == ("b.mp4", 1.5, 4.0)


def test_unknown_key_is_named():
    with pytest.raises(ValidationError) as err:
        AssemblyRequest.model_validate({"shots": ["a.mp4"], "output": {"bitrte": "5M"}})
    assert err.value.errors()[0]["loc"] == ("output", "bitrte")
    assert err.value.errors()[0]["type"] == "extra_forbidden"


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("resolution", "1921x1080", "1922x1080"),
        ("resolution", "big", "WIDTHxHEIGHT"),
        ("bitrate", "5 mbps", "5000k or 8M"),
        ("quality_preset", "ultra", "'draft', 'standard' or 'high'"),
        ("output_format", "avi", "'mp4' or 'mov'"),
        ("fps", 26, "23.976"),
    ],
)
def test_bad_output_settings_explain_the_choices(field, value, says):
    with pytest.raises(ValidationError) as err:
        OutputSettings(**{field: value})
    assert says in str(err.value)


def test_request_file_names():
    assert is_request_file("assembly.json")
    assert is_request_file("seq010.assembly.json")
    assert not is_request_file(".assembly.json")
    assert not is_request_file(".seq010.assembly.json.swp")
    assert not is_request_file("project.json")


def test_default_export_name(tmp_path):
    project = tmp_path / "seq010"
    project.mkdir()
    req = AssemblyRequest.model_validate({"shots": ["a.mp4"]})
    assert req.export_name(project / "assembly.json") == "seq010"
    assert req.export_name(project / "cut_v2.assembly.json") == "cut_v2"
    named = AssemblyRequest.model_validate({"name": "seq010_v003", "shots": ["a.mp4"]})
    assert named.export_name(project / "assembly.json") == "seq010_v003"


def test_schema_file_matches_the_models():
    committed = json.loads(SCHEMA_FILE.read_text())
    assert committed == json_schema(), "run: assemblyd schema --write config/assembly.schema.json"


def test_a_request_may_name_a_timeline_instead_of_shots():
    req = AssemblyRequest.model_validate({"timeline": "edit/reel1_v12.edl", "output": {"fps": 25}})
    assert req.timeline == "edit/reel1_v12.edl"
    assert req.shots is None and req.shot_list == []
    assert AssemblyRequest.model_validate({"shots": ["a.mp4"]}).timeline is None


@pytest.mark.parametrize(
    ("doc", "says"),
    [
        ({}, "give 'shots' (the shots in order) or 'timeline' (an editor's timeline file)"),
        ({"shots": ["a.mp4"], "timeline": "cut.edl"}, "give 'shots' or 'timeline', not both"),
        ({"timeline": "cut.mov"}, "'cut.mov' is not a timeline file; use one of .otio"),
        ({"timeline": "/srv/cut.edl"}, "not a path relative to the project folder"),
        ({"timeline": "file:///srv/cut.edl"}, "not a path relative to the project folder"),
        ({"timeline": ""}, "must not be empty"),
        ({"shots": []}, "needs at least one shot"),
    ],
)
def test_shots_or_timeline_exactly_one(doc, says):
    from assemblyd.request.parse import parse_request

    with pytest.raises(ValidationError):
        AssemblyRequest.model_validate(doc)
    _, model, problems = parse_request(json.dumps(doc).encode())
    assert model is None
    assert any(says in p.reason for p in problems)
