"""Finding each clip's media: the path when it is inside the project, then exact
file name, name without extension and reel, in the media folders only; never a
file outside the project, never a guess between two."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from assemblyd.conform.find import ClipRef, MediaIndex
from assemblyd.conform.read import read_timeline
from assemblyd.errors import ValidationFailed, describe
from assemblyd.settings import Settings
from tests.conform.conftest import copy_media


def edl(*events: tuple[str, str, str]) -> str:
    """Events (reel, clip name or "", FROM CLIP path or "") on shot_a's first second."""
    lines = ["TITLE: MATCH", "FCM: NON-DROP FRAME"]
    for number, (reel, name, path) in enumerate(events, start=1):
        rec = f"01:00:{number - 1:02d}:00 01:00:{number:02d}:00"
        lines.append(f"{number:03d}  {reel:<8} V     C        01:00:00:00 01:00:01:00 {rec}")
        lines += [f"* FROM CLIP NAME:  {name}"] if name else []
        lines += [f"* FROM CLIP: {path}"] if path else []
    return "\n".join(lines) + "\n"


def test_the_rules_in_order(studio: Path) -> None:
    copy_media(studio, "shot_a.mov", "media/dup/shot_a.mxf")
    copy_media(studio, "shot_a.mov", "media/cam/A001C003_230101_R2AB.mov")
    index = MediaIndex(studio, [Path(".")])
    media = studio.resolve() / "media"

    def found(**ref: str) -> tuple[Path | None, str]:
        result = index.find(ClipRef(label="x", **ref), studio)  # type: ignore[arg-type]
        return result.path, result.how

    # Exact name first: shot_a.mov, although shot_a.mxf has the same stem.
    assert found(names=("shot_a.mov",)) == (media / "shot_a.mov", "name")
    # Then the name without extension, ignoring case: one file has the stem shot_b.
    assert found(names=("SHOT_B",)) == (media / "shot_b.mov", "stem")
    assert found(names=("shot_b.mxf",)) == (media / "shot_b.mov", "stem")
    # Avid's speed and freeze suffixes are not part of the name.
    assert found(names=("shot_b (47.60 FPS)",)) == (media / "shot_b.mov", "stem")
    # Then the reel: a camera file named after it.
    assert found(names=("A001C003",), reel="A001C003") == (
        media / "cam" / "A001C003_230101_R2AB.mov",
        "reel",
    )
    # Two files by the same rule: named, never picked.
    path, how = found(names=("shot_a",))
    assert (path, how) == (None, "ambiguous_media")
    reason = index.find(ClipRef("shot_a", names=("shot_a",)), studio).reason
    assert "media/dup/shot_a.mxf" in reason and "media/shot_a.mov" in reason
    # A path inside the project wins over every name.
    assert found(paths=("media/dup/shot_a.mxf",), names=("shot_b.mov",)) == (
        media / "dup" / "shot_a.mxf",
        "path",
    )
    assert found(paths=(f"file://localhost{studio}/media/shot_c.mp4",)) == (
        media / "shot_c.mp4",
        "path",
    )
    # An editor's path that does not exist here: its file name is looked up.
    assert found(paths=("/Volumes/RAID/x/shot_c.mp4",)) == (media / "shot_c.mp4", "name")
    assert found(paths=("S:\\grade\\shot_c.mp4",)) == (media / "shot_c.mp4", "name")
    assert found(names=("nothing",), reel="AX")[1] == "missing_media"


def test_missing_and_ambiguous_media_are_all_named_at_once(
    place: Callable[..., Path], studio: Path, settings: Settings
) -> None:
    copy_media(studio, "shot_a.mov", "media/a/dup.mov")
    copy_media(studio, "shot_a.mov", "media/b/dup.mov")
    path = place(
        "match.edl",
        edl(
            ("SHOT_A", "shot_a.mov", ""),
            ("R1", "nowhere.mov", ""),
            ("R2", "dup", ""),
            ("SHOT_A", "shot_a", ""),  # found: one file has the stem shot_a
            ("A009C001", "", ""),
        ),
    )
    with pytest.raises(ValidationFailed) as failed:
        read_timeline(path, studio, settings)
    problems = failed.value.problems
    assert [(p.code, p.field) for p in problems] == [
        ("missing_media", "event 2"),
        ("ambiguous_media", "event 3"),
        ("missing_media", "event 5"),
    ]
    assert "'nowhere.mov' (reel R1): no file matches the name 'nowhere.mov'" in problems[0].reason
    assert "media/a/dup.mov, media/b/dup.mov" in problems[1].reason
    assert "the reel 'A009C001'" in problems[2].reason
    text = describe(failed.value)
    assert "event 2: 'nowhere.mov'" in text and "event 5: reel A009C001" in text


def test_exports_and_hidden_folders_are_never_searched(
    place: Callable[..., Path], studio: Path, settings: Settings
) -> None:
    copy_media(studio, "shot_a.mov", "exports/old_cut.mov")
    copy_media(studio, "shot_a.mov", ".assemblyd-cache/cached.mov")
    copy_media(studio, "shot_a.mov", "media/.hidden/secret.mov")
    copy_media(studio, "shot_a.mov", "media/.dotfile.mov")
    path = place(
        "hidden.edl",
        edl(
            ("R1", "old_cut.mov", ""),
            ("R2", "cached.mov", ""),
            ("R3", "secret", ""),
            ("R4", ".dotfile.mov", ""),
        ),
    )
    with pytest.raises(ValidationFailed) as failed:
        read_timeline(path, studio, settings)
    assert [(p.code, p.field) for p in failed.value.problems] == [
        ("missing_media", f"event {n}") for n in (1, 2, 3, 4)
    ]


def test_media_dirs_narrow_the_search_and_stay_inside(
    place: Callable[..., Path], studio: Path
) -> None:
    copy_media(studio, "shot_a.mov", "stray/stray.mov")
    path = place("dirs.edl", edl(("SHOT_A", "shot_a.mov", ""), ("R2", "stray.mov", "")))
    assert len(read_timeline(path, studio, Settings()).events) == 2
    with pytest.raises(ValidationFailed) as failed:
        read_timeline(path, studio, Settings(media_dirs=[Path("media"), Path("../elsewhere")]))
    assert [(p.code, p.field) for p in failed.value.problems] == [
        ("outside_project", "media_dirs"),
        ("missing_media", "event 2"),
    ]
    assert "(media)" in failed.value.problems[1].reason


def test_nothing_outside_the_project_is_used(
    place: Callable[..., Path], studio: Path, settings: Settings, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "elsewhere.mov").write_bytes((studio / "media" / "shot_a.mov").read_bytes())
    os.symlink(outside / "elsewhere.mov", studio / "media" / "linked.mov")
    path = place(
        "escape.edl",
        edl(
            ("R1", "linked.mov", ""),  # a symlink in media/ leading out
            ("R2", "", str(outside / "elsewhere.mov")),  # an absolute path out
            ("R3", "", "../../outside/elsewhere.mov"),  # a relative one
            ("R4", "", str(outside / "shot_a.mov")),  # out, but its name is here: used
        ),
    )
    with pytest.raises(ValidationFailed) as failed:
        read_timeline(path, studio, settings)
    problems = failed.value.problems
    assert [(p.code, p.field) for p in problems] == [
        ("outside_project", "event 1"),
        ("outside_project", "event 2"),
        ("outside_project", "event 3"),
    ]
    assert (
        "media/linked.mov leads outside the project folder (through a symlink)"
        in problems[0].reason
    )
    assert f"its path {outside / 'elsewhere.mov'} is outside the project" in problems[1].reason


def test_the_timeline_itself_must_be_inside(
    studio: Path, settings: Settings, tmp_path: Path
) -> None:
    outside = tmp_path / "loose.edl"
    outside.write_text(edl(("SHOT_A", "shot_a.mov", "")))
    with pytest.raises(ValidationFailed) as failed:
        read_timeline(outside, studio, settings)
    assert [p.code for p in failed.value.problems] == ["outside_project"]
    with pytest.raises(ValidationFailed) as failed:
        read_timeline(studio / "edit" / ".." / ".." / "loose.edl", studio, settings)
    assert [p.code for p in failed.value.problems] == ["outside_project"]
