import json
import shutil

from assemblyd.pipeline.run import assemble
from assemblyd.render.cache import SegmentCache
from tests.mediacheck import measure


def test_changing_one_shot_re_encodes_only_that_shot(
    project, media, add_shot, write_request, settings
):
    shots = [add_shot("wide24.mp4", f"sh{i:03d}.mp4") for i in range(5)]
    request = write_request(shots, {"resolution": "320x180"})
    first = assemble(request, settings)
    assert first.plan.strategy == "normalize"
    cache_dir = project / ".assemblyd-cache"
    assert len(list(cache_dir.glob("??/*.mp4"))) == 5
    # An editor replaces shot 3 with a new version under the same name.
    shutil.copyfile(media / "wide30.mp4", project / shots[2])
    second = assemble(request, settings)
    entries = json.loads((project / "project.json").read_text())["assemblies"]
    assert entries[0]["segments"] == {"encoded": 5, "cached": 0, "copied": 0}
    assert entries[1]["segments"] == {"encoded": 1, "cached": 4, "copied": 0}
    assert len(list(cache_dir.glob("??/*.mp4"))) == 6
    assert measure(second.export).frames == measure(first.export).frames == 5 * 24
    # Same sources, new output settings: a different cache entry, not a stale one.
    other = write_request(shots, {"resolution": "256x144"}, filename="small.assembly.json")
    assert measure(assemble(other, settings).export).width == 256


def test_least_recently_used_segments_go_first(tmp_path):
    cache = SegmentCache(tmp_path, max_bytes=2500)
    paths = []
    for key in ("aa01", "bb02", "cc03"):
        temp = cache.temp_path(key, "mp4")
        temp.write_bytes(b"x" * 1000)
        paths.append(cache.store(temp, key, "mp4"))
    assert not paths[0].exists()  # 3000 bytes > 2500: the oldest went
    assert cache.lookup("bb02", "mp4") == paths[1]  # a hit makes it recent
    temp = cache.temp_path("dd04", "mp4")
    temp.write_bytes(b"x" * 1000)
    cache.store(temp, "dd04", "mp4")
    assert paths[1].exists() and not paths[2].exists()
    assert cache.lookup("aa01", "mp4") is None
