"""The stages run in order, record what happened, and leave nothing half-done behind."""

from __future__ import annotations

import json

import psutil
import pytest

from assemblyd.errors import Canceled, RenderError, ValidationFailed
from assemblyd.pipeline.progress import Progress, Update
from assemblyd.pipeline.run import assemble


def _ffmpeg_children():
    return [p for p in psutil.Process().children(recursive=True) if "ffmpeg" in p.name()]


def test_project_json_records_the_assembly_and_keeps_other_keys(
    project, add_shot, write_request, settings
):
    (project / "project.json").write_text(json.dumps({"title": "Big Film", "fps": 24}))
    request = write_request(
        [add_shot("wide24.mp4"), {"path": add_shot("wide30.mp4"), "out": 0.5}],
        {"resolution": "320x180"},
        name="seq010_v003",
    )
    result = assemble(request, settings)
    data = json.loads((project / "project.json").read_text())
    assert data["title"] == "Big Film" and data["fps"] == 24
    (entry,) = data["assemblies"]
    assert entry["id"] == result.run_id
    assert entry["status"] == "finished"
    assert entry["output"] == "exports/seq010_v003.mp4"
    assert entry["request"]["name"] == "seq010_v003"
    assert entry["settings"]["resolution"] == "320x180"
    assert [s["path"] for s in entry["shots"]] == ["shots/wide24.mp4", "shots/wide30.mp4"]
    assert entry["shots"][1]["duration"] == pytest.approx(0.5)
    assert set(entry["timings"]) == {"probe", "plan", "render", "verify", "publish", "pictures"}
    assert entry["started_at"] < entry["finished_at"]
    assert entry["error"] is None


def test_failed_validation_is_recorded_and_publishes_nothing(project, write_request, settings):
    request = write_request(["shots/gone.mp4"])
    with pytest.raises(ValidationFailed):
        assemble(request, settings)
    (entry,) = json.loads((project / "project.json").read_text())["assemblies"]
    assert entry["status"] == "failed"
    assert entry["error"]["code"] == "invalid_request"
    assert entry["error"]["problems"][0]["code"] == "missing_file"
    assert "shots/gone.mp4" in entry["error"]["message"]
    assert not (project / "exports").exists()


def test_a_shot_vanishing_mid_render_fails_cleanly(project, add_shot, write_request, settings):
    shots = [add_shot("long24.mp4"), add_shot("wide24.mp4"), add_shot("wide30.mp4")]
    request = write_request(shots, {"resolution": "320x180"})
    victim = project / shots[2]

    def pull_the_nas_cable(update: Update) -> None:
        # Once the render is under way, the third shot's file turns to garbage.
        if update.stage == "render" and victim.stat().st_size > 100:
            victim.write_bytes(b"\0" * 64)

    with pytest.raises(RenderError) as err:
        assemble(request, settings, Progress(pull_the_nas_cable))
    assert err.value.shot_index == 2
    assert err.value.to_dict()["message"].startswith("shot 3 (shots/wide30.mp4): ")
    assert list((project / "exports").iterdir()) == []
    assert _ffmpeg_children() == []
    (entry,) = json.loads((project / "project.json").read_text())["assemblies"]
    assert entry["status"] == "failed" and entry["error"]["code"] == "render_failed"
    assert entry["error"]["shot_index"] == 2


def test_cancel_mid_render_leaves_no_partial_and_no_ffmpeg(
    project, add_shot, write_request, settings
):
    request = write_request([add_shot("long24.mp4")] * 3, {"resolution": "320x180"})

    def cancel_when_rendering(update: Update) -> None:
        # A sink that refuses an update stops the run, as the queue's does when a
        # job was canceled elsewhere.
        if update.stage == "render" and update.percent > 30:
            raise Canceled()

    with pytest.raises(Canceled):
        assemble(request, settings, Progress(cancel_when_rendering))
    assert list((project / "exports").iterdir()) == []
    assert _ffmpeg_children() == []
    (entry,) = json.loads((project / "project.json").read_text())["assemblies"]
    assert entry["status"] == "canceled"


@pytest.mark.parametrize("engine", ["auto", "moviepy"])
def test_progress_is_monotonic_in_stage_order_and_ends_at_100_once(
    engine, project, add_shot, write_request, settings
):
    updates: list[Update] = []
    request = write_request(
        [add_shot("wide24.mp4"), add_shot("ntsc.mov")], {"resolution": "320x180"}, engine=engine
    )
    assemble(request, settings, Progress(updates.append))
    percents = [u.percent for u in updates]
    assert percents == sorted(percents)
    assert percents.count(100.0) == 1 and percents[-1] == 100.0
    stages = list(dict.fromkeys(u.stage for u in updates))
    assert stages == ["probe", "plan", "render", "verify", "publish", "done"]
    render = [u for u in updates if u.stage == "render"]
    # MoviePy's audio and video passes fold into one smooth bar; ffmpeg's
    # strategies report per segment, soundtrack and join.
    assert len(render) > (20 if engine == "moviepy" else 3)


def test_an_existing_export_is_never_overwritten(project, add_shot, write_request, settings):
    request = write_request([add_shot("wide24.mp4")], {"resolution": "320x180"}, name="cut")
    first = assemble(request, settings).export
    before = first.stat()
    second = assemble(request, settings).export
    third = assemble(request, settings).export
    assert [first.name, second.name, third.name] == ["cut.mp4", "cut-2.mp4", "cut-3.mp4"]
    assert first.stat().st_ino == before.st_ino and first.stat().st_mtime == before.st_mtime
    assert len(json.loads((project / "project.json").read_text())["assemblies"]) == 3


def test_a_run_is_recorded_finished_before_its_pictures_are_made(
    project, add_shot, write_request, settings, monkeypatch
):
    """The export is out before the pictures are made (a second or two for a long
    cut): a worker killed in between has done its work, and the reaper can tell from
    project.json. It used to be recorded only after them, so such a job ended
    worker_died with its export published."""
    from assemblyd.pipeline import run
    from assemblyd.queue.outcomes import _published

    request = write_request([add_shot("wide24.mp4")], {"resolution": "320x180"}, name="seq012")
    seen = []
    make_pictures = run.make_pictures

    def while_making_pictures(export, plan):  # type: ignore[no-untyped-def]
        (entry,) = json.loads((project / "project.json").read_text())["assemblies"]
        seen.append((entry["status"], _published(request, entry["id"])))
        return make_pictures(export, plan)

    monkeypatch.setattr(run, "make_pictures", while_making_pictures)
    assemble(request, settings)
    assert seen == [("finished", "exports/seq012.mp4")]
    (entry,) = json.loads((project / "project.json").read_text())["assemblies"]
    assert entry["outputs"][0]["poster"] == "exports/.thumbs/seq012.mp4.poster.jpg"
