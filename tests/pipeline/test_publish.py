import os

from assemblyd.pipeline.publish import partial_path, publish, remove_partials


def test_partials_are_hidden_and_published_under_the_next_free_name(tmp_path):
    exports = tmp_path / "exports"
    names = []
    for run in ("r1", "r2"):
        part = partial_path(tmp_path, "cut", "mp4", run)
        assert part.parent == exports and part.name.startswith(".")
        part.write_bytes(run.encode())
        names.append(publish(part, "cut", "mp4"))
        assert not part.exists()
    assert [p.name for p in names] == ["cut.mp4", "cut-2.mp4"]
    assert (exports / "cut.mp4").read_bytes() == b"r1"


def test_remove_partials_only_touches_that_run(tmp_path):
    mine = partial_path(tmp_path, "cut", "mp4", "abc")
    other = partial_path(tmp_path, "cut", "mp4", "xyz")
    mine.write_bytes(b"x")
    other.write_bytes(b"y")
    assert remove_partials(tmp_path, "abc") == [mine]
    assert other.exists() and not mine.exists()


def test_publish_without_hard_links_still_refuses_to_clobber(tmp_path, monkeypatch):
    def no_links(src, dst):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "cut.mp4").write_bytes(b"old")
    part = partial_path(tmp_path, "cut", "mp4", "r1")
    part.write_bytes(b"new")
    assert publish(part, "cut", "mp4").name == "cut-2.mp4"
    assert (tmp_path / "exports" / "cut.mp4").read_bytes() == b"old"
