"""Fixtures: generated shots, the projects holding them and their render requests.

Shots are made with ``assemblyd.media.samples.make_clip`` once, outside any timing.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

#: The output every engine writes.
OUTPUT = {"resolution": "1920x1080", "fps": 24, "bitrate": "5000k", "quality_preset": "standard"}
WIDTH, HEIGHT, FPS = 1920, 1080, 24
#: Sizes and rates of the mixed shots of the strategy benchmark, in turn: half of them
#: match the output (1080p24), half do not (720p25), as in a real first cut. Matching
#: shots are the hard half for a re-encode: the full 1080p decode costs most.
MIXED = (((1920, 1080), 24), ((1280, 720), 25))
#: The shot the incremental case replaces (index into the shot list).
CHANGED = 4


@dataclass(frozen=True)
class ClipSpec:
    size: tuple[int, int]
    fps: int
    duration: float
    audio: bool
    tone: float
    preset: str = "veryfast"
    bitrate: str | None = "4000k"

    @property
    def frames(self) -> int:
        """Frames this clip lasts at the output rate."""
        return round(self.duration * FPS)


def matching_spec(i: int) -> ClipSpec:
    """1080p24 H.264 at 4000k, AAC on all but every fourth shot."""
    return ClipSpec((1920, 1080), 24, 3.0, audio=i % 4 != 3, tone=330.0 + 40 * (i % 10))


def mixed_spec(i: int, seconds: float) -> ClipSpec:
    """Sizes and rates in turn from MIXED, every shot with sound."""
    size, fps = MIXED[i % len(MIXED)]
    return ClipSpec(size, fps, seconds, audio=True, tone=300.0 + 25 * (i % 20))


#: The new version of shot CHANGED in the incremental case: another picture and tone.
REPLACEMENT = ClipSpec((1920, 1080), 24, 3.0, audio=True, tone=880.0)


def shot_name(i: int) -> str:
    """Shot ``i``'s path inside its project (numbered from 1)."""
    return f"shots/sh{i + 1:03d}.mp4"


@dataclass
class Project:
    folder: Path
    specs: list[ClipSpec]
    #: request name -> number of shots it uses (the first N).
    requests: dict[str, int] = field(default_factory=dict)

    def shot(self, i: int) -> Path:
        return self.folder / shot_name(i)

    def request(self, name: str) -> Path:
        return self.folder / f"{name}.assembly.json"

    def expected_frames(self, shots: int) -> int:
        return sum(spec.frames for spec in self.specs[:shots])


def generate(path: Path, spec: ClipSpec) -> None:
    """Write the clip ``spec`` describes to ``path`` (via a temporary file beside it)."""
    from assemblyd.media.samples import make_clip

    print(f"  generating {path}", file=sys.stderr)
    part = path.with_name(f".{path.stem}.part.mp4")
    make_clip(
        part,
        size=spec.size,
        fps=spec.fps,
        duration=spec.duration,
        audio=spec.audio,
        tone=spec.tone,
        preset=spec.preset,
        bitrate=spec.bitrate,
    )
    part.rename(path)


def write_request(folder: Path, name: str, shots: int) -> Path:
    """``<folder>/<name>.assembly.json``: the first ``shots`` shots rendered to OUTPUT."""
    body = {
        "name": f"bench-{folder.name}-{name}",
        "shots": [shot_name(i) for i in range(shots)],
        "output": OUTPUT,
    }
    request = folder / f"{name}.assembly.json"
    request.write_text(json.dumps(body, indent=2) + "\n")
    return request


def ensure_clips(folder: Path, clips: dict[str, ClipSpec]) -> None:
    """Generate every clip whose file is missing or was made from another spec."""
    manifest_path = folder / ".fixtures.json"
    try:
        manifest = json.loads(manifest_path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        manifest = {}
    for rel, spec in clips.items():
        path = folder / rel
        wanted = json.loads(json.dumps(asdict(spec)))  # tuples as lists, like the file
        if path.is_file() and manifest.get(rel) == wanted:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        generate(path, spec)
        manifest[rel] = wanted
        manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")


def make_project(folder: Path, specs: list[ClipSpec], requests: dict[str, int]) -> Project:
    project = Project(folder, specs, requests)
    ensure_clips(folder, {shot_name(i): spec for i, spec in enumerate(specs)})
    for name, shots in requests.items():
        write_request(folder, name, shots)
    (folder / "exports").mkdir(exist_ok=True)
    return project


def strategy_projects(workdir: Path, cases: list[str]) -> dict[str, Project]:
    """The projects of the strategy benchmark's cases, generated where needed."""
    projects: dict[str, Project] = {}
    if "copy" in cases:
        specs = [matching_spec(i) for i in range(10)]
        projects["copy"] = make_project(workdir / "copy", specs, {"n10": 10})
    if "mixed" in cases:
        specs = [mixed_spec(i, 3.0) for i in range(10)]
        projects["mixed"] = make_project(workdir / "mixed", specs, {"n10": 10})
    if "scaleout" in cases:
        specs = [mixed_spec(i, 3.0) for i in range(10)]
        projects["scaleout"] = make_project(workdir / "scaleout", specs, {"n10": 10})
    if "incremental" in cases:
        specs = [mixed_spec(i, 3.0) for i in range(10)]
        project = make_project(workdir / "incremental", specs, {"n10": 10})
        # Both versions of the changed shot, swapped into shots/ before each run.
        ensure_clips(project.folder, {"versions/old.mp4": specs[CHANGED]})
        ensure_clips(project.folder, {"versions/new.mp4": REPLACEMENT})
        projects["incremental"] = project
    if "memory" in cases:
        specs = [mixed_spec(i, 1.0) for i in range(100)]
        projects["memory"] = make_project(workdir / "memory", specs, {"n10": 10, "n100": 100})
    return projects


def swap_in(project: Project, version: str) -> None:
    """Put ``versions/<version>.mp4`` in place of the changed shot: a new file (a new
    inode, so the cache sees a new shot), same name.

    The copy keeps the version's modification time, from when the fixtures were made,
    as an editor's replaced shot is older than the request that follows it. A shot
    written within ``source_settle_seconds`` of the job's start would make the job
    wait for it to hold still (2 s by default), a guard against half-copied files
    that is not render work; it would show as probe time."""
    target = project.shot(CHANGED)
    temp = target.with_name(f".{target.name}.swap")
    shutil.copy2(project.folder / "versions" / f"{version}.mp4", temp)
    os.replace(temp, target)
