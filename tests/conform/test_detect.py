"""Which files are timelines: by suffix, and for .xml by its root element."""

from __future__ import annotations

from pathlib import Path

import pytest

from assemblyd.conform.detect import FORMATS, is_timeline_file
from assemblyd.request.model import TIMELINE_SUFFIXES
from tests.conform.conftest import SAMPLES


@pytest.mark.parametrize("name", ["cut24_avid.edl", "cut24.otio", "cut24_fcp7.xml", "cut24.fcpxml"])
def test_samples_are_timelines(name: str) -> None:
    assert is_timeline_file(SAMPLES / name)


@pytest.mark.parametrize(
    ("name", "text", "timeline"),
    [
        ("reel1_v12.EDL", "TITLE: X\n", True),
        ("cut.otioz", "", True),
        ("cut.aaf", "", True),
        (
            "seq.xml",
            "<?xml version='1.0'?>\n<!DOCTYPE xmeml>\n<!-- Premiere -->\n<xmeml version='4'/>",
            True,
        ),
        ("grade.xml", "<?xml version='1.0'?><ColorDecisionList/>", False),
        ("library.xml", "<fcpxml version='1.9'/>", False),  # FCPXML goes by .fcpxml
        ("broken.xml", "<xmem", False),
        ("notes.xml", "TITLE: not XML at all\n001 A V C\n", False),  # no exception either
        ("cut-short.xml", "<xmeml version='5'><sequence>", True),  # still being written
        ("notes.txt", "", False),
        ("assembly.json", "{}", False),
        (".cut.edl", "", False),  # hidden: an editor's temporary file
        ("shot.mov", "", False),
    ],
)
def test_files(tmp_path: Path, name: str, text: str, timeline: bool) -> None:
    path = tmp_path / name
    path.write_text(text)
    assert is_timeline_file(path) is timeline


def test_the_request_model_names_the_same_timeline_kinds() -> None:
    """request/ sits below conform/ and cannot import its table: the two lists of
    suffixes (what a request's "timeline" may name, what the watcher takes as one)
    are kept equal here."""
    assert sorted(FORMATS) == sorted(TIMELINE_SUFFIXES)
