"""Which files are editors' timelines, told without reading them with OpenTimelineIO.

Every file offered to the watcher, and every request a job reads, is asked; a shot
list must not pay for importing OpenTimelineIO and its adapters (0.2 s) to be told
it is not a timeline. Only an ``.xml`` file is opened, and only its first bytes.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from ..errors import UnsafeInput
from ..settings import Settings
from ..untrusted import read_start

#: suffix -> (format, OTIO adapter, what people call it)
FORMATS: dict[str, tuple[str, str, str]] = {
    ".otio": ("otio", "otio_json", "OpenTimelineIO"),
    ".otioz": ("otioz", "otioz", "OpenTimelineIO (zipped)"),
    ".edl": ("edl", "cmx_3600", "CMX 3600 EDL"),
    ".xml": ("fcp7", "fcp_xml", "Final Cut Pro 7 XML"),
    ".fcpxml": ("fcpx", "fcpx_xml", "FCPXML"),
    ".aaf": ("aaf", "AAF", "AAF"),
}


#: How much of an ``.xml`` file is read to find its root element: a prolog, a
#: doctype and comments fit.
XML_HEAD_BYTES = 64 * 1024


def format_of(path: Path) -> tuple[str, str, str] | None:
    """(format, adapter, name) of a timeline file, or None. An ``.xml`` file is a
    timeline only when its root element is FCP 7's ``xmeml``."""
    found = FORMATS.get(path.suffix.lower())
    if found and found[0] == "fcp7" and xml_root(path) != "xmeml":
        return None
    return found


def xml_root(path: Path) -> str | None:
    """The name of the root element, read from the start of the file only (any
    ``.xml`` in a watched folder is asked: a FIFO or a device is never read)."""
    try:
        head = read_start(path, XML_HEAD_BYTES)
    except (OSError, UnsafeInput):
        return None
    parser: ET.XMLPullParser[ET.Element] = ET.XMLPullParser(events=("start",))
    try:
        parser.feed(head)
        # The pull parser hands its syntax errors over in turn with the events: a
        # root element before the first error still counts, a file that is not XML
        # at all is not a timeline (never an exception for the watcher).
        for event in parser.read_events():
            element = event[-1] if isinstance(event, tuple) else None
            if isinstance(element, ET.Element):
                return str(element.tag).rpartition("}")[2]
    except ET.ParseError:
        return None
    return None


def may_be_timeline(name: str | Path) -> bool:
    """By its name alone (nothing opened): could this be a timeline? An ``.xml``
    then still has to be FCP 7's (see :func:`is_timeline_file`)."""
    name = Path(name).name
    return not name.startswith(".") and Path(name).suffix.lower() in FORMATS


def is_timeline_file(path: Path) -> bool:
    """``*.otio``, ``*.otioz``, ``*.edl``, ``*.fcpxml``, ``*.aaf``, and ``*.xml`` whose
    root element is FCP 7's ``xmeml``; not hidden files."""
    path = Path(path)
    if path.name.startswith("."):
        return False
    return format_of(path) is not None


def request_limit(path: Path, settings: Settings) -> int:
    """The most bytes read of a request file: a timeline may be larger than a shot list."""
    return settings.max_timeline_bytes if is_timeline_file(path) else settings.max_request_bytes
