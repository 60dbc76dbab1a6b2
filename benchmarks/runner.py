"""The runner: one engine run once, measured, checked, and printed as it ends.

A :class:`Run` is what one run measured; an :class:`Engine` is one contender of a case;
:class:`Bench` runs assemblyd or a baseline command and checks what it wrote.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fixtures import Project
from measure import MB, Measurement, measure
from media import inspect_media, media_problems

CACHE_DIR = ".assemblyd-cache"


@dataclass(frozen=True)
class Run:
    case: str
    engine: str
    wall: float
    peak_rss: int
    cpu: float
    #: The 1-minute load average when the run began.
    load: float
    #: Cores the rest of the machine kept busy during the run, on average.
    others: float
    ok: bool
    frames: int = 0
    #: assemblyd's stage timings from project.json (seconds).
    timings: dict[str, float] = field(default_factory=dict)
    #: The render stage's parts from project.json: each segment, soundtrack, join.
    render_timings: dict[str, float] = field(default_factory=dict)
    #: The largest single process of the tree: (name, RSS in bytes).
    largest: tuple[str, int] = ("", 0)
    #: Oddities that do not make the run fail (e.g. files left in exports/).
    warnings: tuple[str, ...] = ()

    @classmethod
    def of(
        cls,
        case: str,
        engine: str,
        measured: Measurement,
        load: float,
        ok: bool,
        frames: int,
        timings: dict[str, float] | None = None,
        warnings: tuple[str, ...] = (),
        render_timings: dict[str, float] | None = None,
    ) -> Run:
        others = measured.others / measured.wall if measured.wall else 0.0
        return cls(
            case=case,
            engine=engine,
            wall=measured.wall,
            peak_rss=measured.peak_rss,
            cpu=measured.cpu,
            load=load,
            others=others,
            ok=ok,
            frames=frames,
            timings=timings or {},
            render_timings=render_timings or {},
            largest=measured.largest,
            warnings=warnings,
        )


@dataclass(frozen=True)
class Engine:
    """One contender in a case: a label and a function that runs, checks and reports it."""

    label: str
    run: Callable[[], Run]
    #: MoviePy engines may run fewer times (--moviepy-repeat).
    moviepy: bool = False


class Bench:
    def __init__(self, workdir: Path, interval: float) -> None:
        self.workdir = workdir
        self.interval = interval
        self.out_dir = workdir / "out"
        self.out_dir.mkdir(parents=True, exist_ok=True)
        # No ASSEMBLYD_* settings from this shell reach the engines.
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ASSEMBLYD_")}

    def _measure(self, cmd: list[str], cwd: Path) -> tuple[Measurement, float]:
        load = os.getloadavg()[0]
        return measure(cmd, cwd, self.interval, self.env), load

    def _report(self, run: Run, detail: str, stderr: str = "") -> Run:
        status = "ok" if run.ok else "FAILED"
        print(
            f"  {run.case:11} {run.engine:27} {run.wall:7.2f} s  cpu {run.cpu:6.1f} s  "
            f"{run.peak_rss / MB:5.0f} MB  load {run.load:4.2f}  others {run.others:3.1f} cores  "
            f"{status}  {detail}",
            file=sys.stderr,
        )
        for warning in run.warnings:
            print(f"    warning: {warning}", file=sys.stderr)
        if not run.ok and stderr:
            print(f"    stderr: {stderr[-3000:]}", file=sys.stderr)
        return run

    def assemblyd(
        self,
        case: str,
        label: str,
        project: Project,
        request: str,
        strategy: str,
        cold: bool,
        stats: dict[str, int] | None = None,
        keep_sound: bool = False,
    ) -> Run:
        """``python -m assemblyd render REQUEST -q``, then check what it wrote and recorded.

        ``cold`` empties the segment cache first; the cached soundtracks go too unless
        ``keep_sound``."""
        folder = project.folder
        if cold:
            shutil.rmtree(folder / CACHE_DIR, ignore_errors=True)
        elif not keep_sound:
            for track in (folder / CACHE_DIR).glob("??/*.m4a"):
                track.unlink()
        (folder / "project.json").unlink(missing_ok=True)  # one entry per run, no growth
        cmd = [sys.executable, "-m", "assemblyd", "render", str(project.request(request)), "-q"]
        measured, load = self._measure(cmd, folder)
        result = measured.result
        problems = [] if result.returncode == 0 else [f"exit {result.returncode}"]
        lines = result.stdout.strip().splitlines()
        export = Path(lines[-1]) if lines else folder / "exports" / "missing"
        entry: dict[str, Any] = {}
        try:
            entries = json.loads((folder / "project.json").read_text()).get("assemblies", [])
            entry = entries[-1] if entries else {}
        except (FileNotFoundError, json.JSONDecodeError) as exc:
            problems.append(f"project.json unreadable: {exc}")
        if entry.get("status") != "finished":
            problems.append(f"project.json status {entry.get('status')!r}")
        if entry.get("strategy") != strategy:
            problems.append(f"planned {entry.get('strategy')!r}, expected {strategy!r}")
        done = entry.get("segments", {})
        if stats and any(done.get(k) != v for k, v in stats.items()):
            problems.append(f"segments {done}, expected {stats}")
        shots = project.requests[request]
        expected = project.expected_frames(shots)
        frames = 0
        if result.returncode == 0:
            problems += media_problems(export, expected, shots, av_sync=True)
            frames = inspect_media(export).frames if export.is_file() else 0
        exports = folder / "exports"
        # The pictures of the cut are expected beside it; anything else is a leftover.
        left = sorted(p.name for p in exports.iterdir() if p not in (export, exports / ".thumbs"))
        if (
            result.returncode == 0
            and not (exports / ".thumbs" / f"{export.name}.poster.jpg").is_file()
        ):
            problems.append("no poster in exports/.thumbs")
        warnings = (f"left in exports/ besides the export: {', '.join(left)}",) if left else ()
        for stray in exports.iterdir():
            if stray.is_dir():
                shutil.rmtree(stray)
            else:
                stray.unlink()
        timings = dict(entry.get("timings") or {})
        parts = dict(entry.get("render_timings") or {})
        run = Run.of(case, label, measured, load, not problems, frames, timings, warnings, parts)
        detail = f"{frames}/{expected} frames, {entry.get('strategy')}, segments {done}"
        return self._report(run, "; ".join([detail, *problems]), result.stderr)

    def farm(self, case: str, label: str, project: Project, request: str, workers: int) -> Run:
        """The request through the queue with ``workers`` worker processes (farm.py),
        cold cache. Wall time is admission to the job's end; memory and CPU are the
        whole tree's (Redis and workers, start-up included)."""
        folder = project.folder
        shutil.rmtree(folder / CACHE_DIR, ignore_errors=True)
        (folder / "project.json").unlink(missing_ok=True)
        for status in folder.glob("*.status.json"):
            status.unlink()
        farm = Path(__file__).with_name("farm.py")
        cmd = [sys.executable, str(farm), str(project.request(request)), "--workers", str(workers)]
        measured, load = self._measure(cmd, folder)
        result = measured.result
        problems = [] if result.returncode == 0 else [f"exit {result.returncode}"]
        try:
            told = json.loads(result.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            told, problems = {}, [*problems, "farm.py printed no result"]
        view = told.get("view", {})
        shots = project.requests[request]
        expected = project.expected_frames(shots)
        export = folder / str(view.get("export") or "exports/missing")
        frames = 0
        if view.get("state") == "finished":
            problems += media_problems(export, expected, shots, av_sync=True)
            frames = inspect_media(export).frames if export.is_file() else 0
        for stray in (folder / "exports").iterdir():
            stray.unlink() if stray.is_file() else shutil.rmtree(stray)
        seconds = float(told.get("seconds", measured.wall))
        run = Run.of(case, label, measured, load, not problems, frames)
        run = dataclasses.replace(run, wall=seconds)
        detail = f"{frames}/{expected} frames, {view.get('state')}"
        return self._report(run, "; ".join([detail, *problems]), result.stderr)

    def baseline(
        self, case: str, label: str, project: Project, cmd_for: Callable[[Path], list[str]]
    ) -> Run:
        """A plain ffmpeg or MoviePy command writing to ``out/``; its output is checked."""
        out = self.out_dir / f"{case}-{label.replace(' ', '_')}.mp4"
        out.unlink(missing_ok=True)
        measured, load = self._measure(cmd_for(out), project.folder)
        result = measured.result
        shots = len(project.specs)
        expected = project.expected_frames(shots)
        problems = [] if result.returncode == 0 else [f"exit {result.returncode}"]
        frames = 0
        if result.returncode == 0:
            # A -c copy join keeps each shot's sound as it is: no sync check for it.
            problems += media_problems(out, expected, shots, av_sync="copy" not in label)
            frames = inspect_media(out).frames if out.is_file() else 0
        out.unlink(missing_ok=True)
        run = Run.of(case, label, measured, load, not problems, frames)
        return self._report(
            run, "; ".join([f"{frames}/{expected} frames", *problems]), result.stderr
        )
