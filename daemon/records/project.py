"""``project.json``: the project's record of its assemblies.

Other tools own the rest of this file, so unknown keys are kept. Two renders may
finish in one project at once, on different machines; :func:`.files.update_json`
makes that safe.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypedDict, Unpack

from ..errors import ErrorRecord, Notice
from .files import read_json, update_json

PROJECT_FILE = "project.json"


#: A piece of the cut in ``shots``: a clip, a gap or the slate, where it sits on the
#: export's timeline, and once rendered how it was made ("copied", "encoded",
#: "cached") and its thumbnail.
Shot = TypedDict(
    "Shot",
    {
        "kind": str,
        "path": str,
        "frames": int,
        "record_in": int,
        "duration": float,
        "in": float,
        "out": float,
        "source": dict[str, Any],
        "speed": float,
        "dissolve_frames": int,
        "made": str,
        "thumbnail": str,
    },
    total=False,
)


class AssemblyEntry(TypedDict, total=False):
    """One assembly in ``project.json``, written stage by stage as its job runs."""

    request_file: str
    status: str
    started_at: str | None
    finished_at: str | None
    error: ErrorRecord | None
    request: dict[str, Any]
    request_sha256: str
    settings: dict[str, Any]
    shots: list[Shot]
    #: The editor's timeline the request named or was (its file name).
    timeline: str
    strategy: str
    planned_duration: float
    #: The first output's export (the only one, for most requests).
    output: str
    #: Every output: name, file, strategy, settings, report, pictures, timeline out.
    outputs: list[dict[str, Any]]
    report: dict[str, Any]
    segments: dict[str, int]
    timings: dict[str, float]
    #: The render stage's parts: each encoded segment, the soundtrack, the join.
    render_timings: dict[str, float]
    warnings: list[Notice]


class ProjectFile:
    def __init__(self, project_dir: Path) -> None:
        self.path = Path(project_dir) / PROJECT_FILE

    def entries(self) -> list[dict[str, Any]]:
        return list(read_json(self.path).get("assemblies", []))

    def warn(self, entry_id: str, notice: Notice) -> None:
        """Add ``notice`` to the entry's warnings (kept in order, each once)."""

        def change(data: dict[str, Any]) -> None:
            entry = _entry(data, entry_id)
            warnings = entry.setdefault("warnings", [])
            if notice not in warnings:
                warnings.append(notice)

        update_json(self.path, change)

    def update(self, entry_id: str, **fields: Unpack[AssemblyEntry]) -> dict[str, Any]:
        """Merge ``fields`` into the assembly entry ``entry_id`` (created if new)."""
        found: dict[str, Any] = {}

        def change(data: dict[str, Any]) -> None:
            entry = _entry(data, entry_id)
            for key, value in fields.items():
                if isinstance(value, dict) and isinstance(entry.get(key), dict):
                    entry[key].update(value)
                else:
                    entry[key] = value
            found.update(entry)

        update_json(self.path, change)
        return found


def _entry(data: dict[str, Any], entry_id: str) -> dict[str, Any]:
    """The assembly entry ``entry_id`` in ``data``, made if it is not there."""
    assemblies = data.get("assemblies")
    if not isinstance(assemblies, list):
        assemblies = data["assemblies"] = []
    entry = next((e for e in assemblies if isinstance(e, dict) and e.get("id") == entry_id), None)
    if entry is None:
        entry = {"id": entry_id}
        assemblies.append(entry)
    return entry
