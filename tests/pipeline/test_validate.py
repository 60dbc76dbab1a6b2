import os
import subprocess
import sys

import pytest

from assemblyd.errors import ValidationFailed
from assemblyd.pipeline.validate import validate


def _problems(request, settings):
    with pytest.raises(ValidationFailed) as err:
        validate(request, settings)
    return err.value.problems


def test_every_problem_is_reported_at_once(
    project, media, add_shot, write_request, settings, tmp_path
):
    good = add_shot("wide24.mp4")
    add_shot("empty.mp4")
    add_shot("notes.mp4")
    add_shot("corrupt.mp4")
    add_shot("truncated.mp4")
    add_shot("playlist.mp4")
    add_shot("audio_only.m4a")
    (project / "shots" / "folder.mp4").mkdir()
    outside = tmp_path / "secret.mp4"
    outside.write_bytes((media / "wide24.mp4").read_bytes())
    os.symlink(outside, project / "shots" / "link.mp4")
    shots = [
        good,  # 0 fine
        "shots/missing.mp4",  # 1
        "shots/folder.mp4",  # 2
        "shots/empty.mp4",  # 3
        "shots/notes.mp4",  # 4
        "shots/corrupt.mp4",  # 5
        "shots/truncated.mp4",  # 6
        "../secret.mp4",  # 7
        str(outside),  # 8
        "shots/link.mp4",  # 9
        "http://127.0.0.1:9/shot.mp4",  # 10
        "concat:shots/a.mp4|shots/b.mp4",  # 11
        "pipe:0",  # 12
        "shots/playlist.mp4",  # 13
        {"path": good, "in": 5.0},  # 14
        {"path": good, "in": 0.2, "out": 9.0},  # 15
        "shots/audio_only.m4a",  # 16
    ]
    request = write_request(
        shots, {"resolution": "1921x1080", "bitrate": "fast", "quality_preset": "ultra"}
    )
    problems = _problems(request, settings)
    by_shot = {p.shot_index: p for p in problems if p.shot_index is not None}
    expected = {
        1: "missing_file",
        2: "not_a_file",
        3: "empty_file",
        4: "not_video",
        5: "corrupt",
        6: "truncated",
        7: "outside_project",
        8: "outside_project",
        9: "outside_project",
        10: "url_not_allowed",
        11: "url_not_allowed",
        12: "url_not_allowed",
        13: "playlist_not_allowed",
        14: "trim_out_of_range",
        15: "trim_out_of_range",
        16: "audio_only",
    }
    assert {i: p.code for i, p in by_shot.items()} == expected
    assert 0 not in by_shot
    for index, problem in by_shot.items():
        text = str(problem)
        assert text.startswith(f"shot {index + 1} (")  # the user's 1-based numbering
        assert shots[index] if isinstance(shots[index], str) else shots[index]["path"] in text
    fields = {p.field: p.reason for p in problems if p.field}
    assert "1922x1080" in fields["output.resolution"]
    assert "5000k" in fields["output.bitrate"]
    assert "'draft', 'standard' or 'high'" in fields["output.quality_preset"]
    assert "symlink" in by_shot[9].reason
    assert "past the end" in by_shot[15].reason
    assert "audio-only files cannot be shots" in by_shot[16].reason
    assert not (project / "exports").exists()


def test_bad_json_and_unknown_keys_are_named(project, write_request, settings):
    request = project / "assembly.json"
    request.write_text('{"shots": ["a.mp4",]}')
    (problem,) = _problems(request, settings)
    assert problem.code == "bad_json" and "line 1" in problem.reason
    request = write_request(["shots/x.mp4"], {"fps": 24}, nmae="typo")
    problems = _problems(request, settings)
    assert any(p.code == "unknown_key" and "'nmae'" in p.reason for p in problems)
    assert any(p.code == "missing_file" for p in problems)


def test_valid_request_is_probed(project, add_shot, write_request, settings):
    a = add_shot("wide24.mp4")
    b = add_shot("browser.webm")
    validated = validate(write_request([a, {"path": b, "in": 0.25}]), settings)
    first, second = validated.shots
    assert first.info.display_size == (160, 90)
    assert first.duration == pytest.approx(1.0, abs=0.05)
    # A MediaRecorder-style WebM has no duration in its header; the probe finds it.
    assert not second.info.header_has_duration
    assert second.duration == pytest.approx(0.75, abs=0.05)


def test_validate_command_exit_codes(project, add_shot, write_request):
    ok = write_request([add_shot("wide24.mp4")])
    run = subprocess.run(
        [sys.executable, "-m", "assemblyd", "validate", str(ok)], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert "OK, 1 shot(s)" in run.stdout
    bad = write_request(["shots/nope.mp4"], filename="bad.assembly.json")
    run = subprocess.run(
        [sys.executable, "-m", "assemblyd", "validate", str(bad)], capture_output=True, text=True
    )
    assert run.returncode == 2
    assert "shot 1 (shots/nope.mp4): file not found" in run.stderr
    assert not (project / "exports").exists()
