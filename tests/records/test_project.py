import json
import multiprocessing

from assemblyd.records.project import ProjectFile


def _hammer(project_dir: str, worker: int, count: int) -> None:
    record = ProjectFile(project_dir)
    for i in range(count):
        record.update(f"w{worker}-{i}", status="finished", n=i)


def test_concurrent_writers_lose_no_update(tmp_path):
    (tmp_path / "project.json").write_text(json.dumps({"client": "ACME"}))
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_hammer, args=(str(tmp_path), w, 40)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    data = json.loads((tmp_path / "project.json").read_text())
    assert data["client"] == "ACME"
    ids = {e["id"] for e in data["assemblies"]}
    assert ids == {f"w{w}-{i}" for w in range(3) for i in range(40)}
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_update_merges_into_the_entry(tmp_path):
    record = ProjectFile(tmp_path)
    record.update("a", status="running", timings={"probe": 1.0})
    record.update("a", status="finished", timings={"render": 2.0})
    assert record.entries() == [
        {
            "id": "a",
            "status": "finished",
            "timings": {"probe": 1.0, "render": 2.0},
        }
    ]


def test_a_broken_project_json_is_kept_aside_not_overwritten(tmp_path):
    (tmp_path / "project.json").write_text("{ half written")
    ProjectFile(tmp_path).update("a", status="running")
    backups = list(tmp_path.glob("project.json.broken-*"))
    assert len(backups) == 1 and backups[0].read_text() == "{ half written"
    assert json.loads((tmp_path / "project.json").read_text())["assemblies"][0]["id"] == "a"


def test_project_json_is_readable_by_others(tmp_path):
    ProjectFile(tmp_path).update("a", status="running")
    assert (tmp_path / "project.json").stat().st_mode & 0o044 == 0o044
