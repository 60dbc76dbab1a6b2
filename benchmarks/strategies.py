"""Strategy benchmark: assemblyd's copy, normalize and cache paths against plain tools.

One run, on the same generated fixtures, interleaved repeats, medians and ratios:

- ``copy``: 10 shots that already match the output. assemblyd (must plan "copy")
  against MoviePy ``concatenate_videoclips(method="chain")`` and ffmpeg's concat
  demuxer with ``-c copy``.
- ``mixed``: 10 shots of mixed sizes and rates, some silent. assemblyd with a cold
  segment cache (plans "normalize") against one plain ffmpeg re-encode with the same
  settings and MoviePy ``method="compose"``.
- ``incremental``: the mixed shots rendered cold, then again with one shot's file
  replaced (warm cache).
- ``memory``: peak memory of assemblyd's process tree for 100 one-second mixed shots
  against 10 of them (cold cache both).

Every engine is its own subprocess, started in the project folder (which has no
``config/assemblyd.toml``) with no ``ASSEMBLYD_*`` variables. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil
from _common import MB, Measurement, load_average, measure

OUTPUT = {"resolution": "1920x1080", "fps": 24, "bitrate": "5000k", "quality_preset": "standard"}
WIDTH, HEIGHT, FPS = 1920, 1080, 24
CASES = ("copy", "mixed", "incremental", "memory")
CACHE_DIR = ".assemblyd-cache"
#: Sizes and rates of the mixed shots, in turn.
MIXED = (((1280, 720), 25), ((1920, 1080), 24), ((960, 720), 30), ((1080, 1920), 24))
#: The shot the incremental case replaces (index into the shot list).
CHANGED = 4


# -- fixtures (generated once, not timed) ----------------------------------------------
@dataclass(frozen=True)
class ClipSpec:
    size: tuple[int, int]
    fps: int
    duration: float
    audio: bool
    tone: float
    preset: str = "veryfast"
    bitrate: str = "4000k"

    @property
    def frames(self) -> int:
        """Frames this clip lasts at the output rate."""
        return round(self.duration * FPS)


def matching_spec(i: int) -> ClipSpec:
    """1080p24 H.264 at 4000k, AAC on all but every fourth shot."""
    return ClipSpec((1920, 1080), 24, 3.0, audio=i % 4 != 3, tone=330.0 + 40 * (i % 10))


def mixed_spec(i: int, seconds: float) -> ClipSpec:
    """Sizes and rates in turn from MIXED; every third shot is silent."""
    size, fps = MIXED[i % len(MIXED)]
    return ClipSpec(size, fps, seconds, audio=i % 3 != 2, tone=300.0 + 25 * (i % 20))


#: The new version of shot CHANGED in the incremental case: another picture and tone.
REPLACEMENT = ClipSpec((1920, 1080), 24, 3.0, audio=True, tone=880.0)


@dataclass
class Project:
    folder: Path
    specs: list[ClipSpec]
    #: request name -> number of shots it uses (the first N).
    requests: dict[str, int] = field(default_factory=dict)

    def shot(self, i: int) -> Path:
        return self.folder / "shots" / f"sh{i + 1:03d}.mp4"

    def request(self, name: str) -> Path:
        return self.folder / f"{name}.assembly.json"

    def expected_frames(self, shots: int) -> int:
        return sum(spec.frames for spec in self.specs[:shots])


def generate(path: Path, spec: ClipSpec) -> None:
    from daemon.samples import make_clip

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
    clips = {str(project.shot(i).relative_to(folder)): spec for i, spec in enumerate(specs)}
    ensure_clips(folder, clips)
    for name, shots in requests.items():
        body = {
            "name": f"bench-{folder.name}-{name}",
            "shots": [f"shots/sh{i + 1:03d}.mp4" for i in range(shots)],
            "output": OUTPUT,
        }
        project.request(name).write_text(json.dumps(body, indent=2) + "\n")
    (folder / "exports").mkdir(exist_ok=True)
    return project


def fixtures(workdir: Path, cases: list[str]) -> dict[str, Project]:
    projects: dict[str, Project] = {}
    if "copy" in cases:
        specs = [matching_spec(i) for i in range(10)]
        projects["copy"] = make_project(workdir / "copy", specs, {"n10": 10})
    if "mixed" in cases:
        specs = [mixed_spec(i, 3.0) for i in range(10)]
        projects["mixed"] = make_project(workdir / "mixed", specs, {"n10": 10})
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
    """Put ``versions/<version>.mp4`` in place of the changed shot: a new file, same name."""
    target = project.shot(CHANGED)
    temp = target.with_name(f".{target.name}.swap")
    shutil.copyfile(project.folder / "versions" / f"{version}.mp4", temp)
    os.replace(temp, target)


# -- the baselines ---------------------------------------------------------------------
def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def concat_copy_cmd(project: Project, shots: int, out: Path) -> list[str]:
    listing = project.folder / ".concat.txt"
    lines = [f"file '{project.shot(i)}'" for i in range(shots)]
    listing.write_text("\n".join(lines) + "\n")
    concat = ["-f", "concat", "-safe", "0", "-i", str(listing)]
    return [ffmpeg_exe(), "-v", "error", "-y", *concat, "-c", "copy", str(out)]


def reencode_cmd(project: Project, shots: int, out: Path) -> list[str]:
    """One ffmpeg: every shot fitted, padded, conformed to 24 fps, concatenated, encoded."""
    inputs: list[str] = []
    chains: list[str] = []
    pairs = ""
    for i in range(shots):
        spec = project.specs[i]
        inputs += ["-i", str(project.shot(i))]
        chains.append(
            f"[{i}:v]fps={FPS},"
            f"scale={WIDTH}:{HEIGHT}:force_original_aspect_ratio=decrease:force_divisible_by=2,"
            f"pad={WIDTH}:{HEIGHT}:(ow-iw)/2:(oh-ih)/2:black,setsar=1[v{i}]"
        )
        seconds = spec.frames / FPS
        if spec.audio:
            chains.append(
                f"[{i}:a]aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo,"
                f"apad,atrim=end={seconds:.6f}[a{i}]"
            )
        else:
            chains.append(f"anullsrc=r=48000:cl=stereo,atrim=end={seconds:.6f}[a{i}]")
        pairs += f"[v{i}][a{i}]"
    chains.append(f"{pairs}concat=n={shots}:v=1:a=1[v][a]")
    return [
        ffmpeg_exe(),
        "-v",
        "error",
        "-y",
        *inputs,
        "-filter_complex",
        ";".join(chains),
        "-map",
        "[v]",
        "-map",
        "[a]",
        "-c:v",
        "libx264",
        "-preset",
        "medium",
        "-b:v",
        "5000k",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-b:a",
        "192k",
        "-movflags",
        "+faststart",
        str(out),
    ]


def moviepy_cmd(request: Path, out: Path, method: str) -> list[str]:
    script = str(Path(__file__).resolve())
    args = ["--moviepy-run", str(request), "--out", str(out), "--method", method]
    return [sys.executable, script, *args]


def moviepy_run(request: Path, out: Path, method: str) -> None:
    """What a user would write with MoviePy. For ``compose``, each shot is first fitted
    into the output size (aspect kept), or the canvas would be the largest width by the
    largest height (1920x1920 with a portrait shot) and small shots would sit unscaled."""
    from moviepy import VideoFileClip, concatenate_videoclips

    body = json.loads(request.read_text())
    sources = [VideoFileClip(str(request.parent / shot)) for shot in body["shots"]]
    clips = []
    for clip in sources:
        if method == "compose" and (clip.w, clip.h) != (WIDTH, HEIGHT):
            scale = min(WIDTH / clip.w, HEIGHT / clip.h)
            size = (round(clip.w * scale / 2) * 2, round(clip.h * scale / 2) * 2)
            clip = clip.resized(new_size=size)
        clips.append(clip)
    final = concatenate_videoclips(clips, method=method)
    final.write_videofile(
        str(out),
        fps=FPS,
        codec="libx264",
        bitrate="5000k",
        preset="medium",
        audio_codec="aac",
        logger=None,
    )
    final.close()
    for clip in sources:
        clip.close()


# -- checking an output (after the clock stops) ----------------------------------------
@dataclass(frozen=True)
class Media:
    frames: int
    width: int
    height: int
    video_seconds: float
    audio_seconds: float | None


def inspect_media(path: Path) -> Media:
    """Count the video packets and find each stream's extent; decodes nothing."""
    import av

    with av.open(str(path)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        extent: dict[str, list[float]] = {"video": [], "audio": []}
        frames = 0
        for packet in container.demux(*[s for s in (video, audio) if s is not None]):
            if packet.pts is None or packet.time_base is None or packet.size == 0:
                continue
            begin = float(packet.pts * packet.time_base)
            end = float((packet.pts + (packet.duration or 0)) * packet.time_base)
            kind = packet.stream.type
            frames += kind == "video"
            span = extent[kind]
            span[:] = [min(span[0], begin), max(span[1], end)] if span else [begin, end]

        def length(kind: str) -> float | None:
            span = extent[kind]
            return span[1] - span[0] if span else None

        return Media(
            frames=frames,
            width=video.codec_context.width,
            height=video.codec_context.height,
            video_seconds=length("video") or 0.0,
            audio_seconds=length("audio"),
        )


def media_problems(path: Path, expected_frames: int, shots: int, av_sync: bool) -> list[str]:
    """What is wrong with an output: frames off by more than one per shot, wrong size,
    or (``av_sync``) no audio or audio and video ending more than a frame apart."""
    if not path.is_file() or path.stat().st_size == 0:
        return [f"no output at {path}"]
    media = inspect_media(path)
    problems = []
    if abs(media.frames - expected_frames) > shots:
        problems.append(f"{media.frames} frames, expected {expected_frames} (±{shots})")
    if (media.width, media.height) != (WIDTH, HEIGHT):
        problems.append(f"picture {media.width}x{media.height}, expected {WIDTH}x{HEIGHT}")
    if av_sync:
        if media.audio_seconds is None:
            problems.append("no audio stream")
        elif abs(media.audio_seconds - media.video_seconds) >= 1 / FPS:
            problems.append(
                f"audio {media.audio_seconds:.3f} s vs video {media.video_seconds:.3f} s"
            )
    return problems


# -- running ---------------------------------------------------------------------------
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
    ) -> Run:
        others = measured.others / measured.wall if measured.wall else 0.0
        return cls(
            case,
            engine,
            measured.wall,
            measured.peak_rss,
            measured.cpu,
            load,
            others,
            ok,
            frames,
            timings or {},
            measured.largest,
            warnings,
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
    ) -> Run:
        """``python -m daemon render REQUEST -q``, then check what it wrote and recorded."""
        folder = project.folder
        if cold:
            shutil.rmtree(folder / CACHE_DIR, ignore_errors=True)
        (folder / "project.json").unlink(missing_ok=True)  # one entry per run, no growth
        cmd = [sys.executable, "-m", "daemon", "render", str(project.request(request)), "-q"]
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
        left = sorted(p.name for p in exports.iterdir() if p != export)
        warnings = (f"left in exports/ besides the export: {', '.join(left)}",) if left else ()
        for stray in exports.iterdir():
            if stray.is_dir():
                shutil.rmtree(stray)
            else:
                stray.unlink()
        timings = dict(entry.get("timings") or {})
        run = Run.of(case, label, measured, load, not problems, frames, timings, warnings)
        detail = f"{frames}/{expected} frames, {entry.get('strategy')}, segments {done}"
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


# -- cases -----------------------------------------------------------------------------
def engines_for(case: str, project: Project, bench: Bench) -> list[Engine]:
    if case == "copy":
        return [
            Engine(
                "assemblyd (copy)",
                lambda: bench.assemblyd(case, "assemblyd (copy)", project, "n10", "copy", False),
            ),
            Engine(
                "ffmpeg concat -c copy",
                lambda: bench.baseline(
                    case,
                    "ffmpeg concat -c copy",
                    project,
                    lambda o: concat_copy_cmd(project, 10, o),
                ),
            ),
            Engine(
                "moviepy chain",
                lambda: bench.baseline(
                    case,
                    "moviepy chain",
                    project,
                    lambda o: moviepy_cmd(project.request("n10"), o, "chain"),
                ),
                moviepy=True,
            ),
        ]
    if case == "mixed":
        return [
            Engine(
                "assemblyd (normalize, cold)",
                lambda: bench.assemblyd(
                    case,
                    "assemblyd (normalize, cold)",
                    project,
                    "n10",
                    "normalize",
                    True,
                    {"encoded": 10, "cached": 0},
                ),
            ),
            Engine(
                "ffmpeg re-encode",
                lambda: bench.baseline(
                    case, "ffmpeg re-encode", project, lambda o: reencode_cmd(project, 10, o)
                ),
            ),
            Engine(
                "moviepy compose",
                lambda: bench.baseline(
                    case,
                    "moviepy compose",
                    project,
                    lambda o: moviepy_cmd(project.request("n10"), o, "compose"),
                ),
                moviepy=True,
            ),
        ]
    if case == "incremental":

        def cold() -> Run:
            swap_in(project, "old")
            return bench.assemblyd(
                case, "assemblyd full, cold", project, "n10", "normalize", True, {"encoded": 10}
            )

        def warm() -> Run:  # right after cold(): the cache holds every other shot
            swap_in(project, "new")
            return bench.assemblyd(
                case,
                "assemblyd 1 changed, warm",
                project,
                "n10",
                "normalize",
                False,
                {"encoded": 1, "cached": 9},
            )

        return [Engine("assemblyd full, cold", cold), Engine("assemblyd 1 changed, warm", warm)]
    if case == "memory":

        def shots(n: int) -> Engine:
            label = f"assemblyd {n} shots"
            return Engine(
                label, lambda: bench.assemblyd(case, label, project, f"n{n}", "normalize", True)
            )

        return [shots(10), shots(100)]
    raise ValueError(case)


def median_wall(runs: list[Run]) -> float:
    return statistics.median(r.wall for r in runs)


def median_cpu(runs: list[Run]) -> float:
    return statistics.median(r.cpu for r in runs)


def median_rss(runs: list[Run]) -> float:
    return statistics.median(r.peak_rss for r in runs) / MB


def target_lines(case: str, good: dict[str, list[Run]]) -> list[tuple[str, str, bool | None]]:
    """(what, measured, met) for the case's targets; met is None if a side has no runs."""

    def ratio(a: str, b: str) -> float | None:
        if not good.get(a) or not good.get(b):
            return None
        return median_wall(good[a]) / median_wall(good[b])

    def cpu(a: str, b: str) -> str:
        """The same ratio in CPU seconds, which other load disturbs far less."""
        if not good.get(a) or not good.get(b):
            return ""
        return f" (cpu {median_cpu(good[a]) / median_cpu(good[b]):.2f}x)"

    out: list[tuple[str, str, bool | None]] = []
    if case == "copy":
        r = ratio("moviepy chain", "assemblyd (copy)")
        out.append(
            (
                "assemblyd >= 50x faster than MoviePy chain",
                f"{r:.1f}x faster" + cpu("moviepy chain", "assemblyd (copy)") if r else "n/a",
                None if r is None else r >= 50,
            )
        )
        r = ratio("assemblyd (copy)", "ffmpeg concat -c copy")
        out.append(
            (
                "assemblyd within 3x of ffmpeg -c copy",
                f"{r:.1f}x" + cpu("assemblyd (copy)", "ffmpeg concat -c copy") if r else "n/a",
                None if r is None else r <= 3,
            )
        )
    elif case == "mixed":
        r = ratio("assemblyd (normalize, cold)", "ffmpeg re-encode")
        out.append(
            (
                "assemblyd <= 1.15x the plain ffmpeg re-encode",
                f"{r:.2f}x" + cpu("assemblyd (normalize, cold)", "ffmpeg re-encode")
                if r
                else "n/a",
                None if r is None else r <= 1.15,
            )
        )
    elif case == "incremental":
        r = ratio("assemblyd 1 changed, warm", "assemblyd full, cold")
        out.append(
            (
                "1 changed (warm) <= 25% of the full cold render",
                f"{r:.0%}" + cpu("assemblyd 1 changed, warm", "assemblyd full, cold")
                if r
                else "n/a",
                None if r is None else r <= 0.25,
            )
        )
    elif case == "memory":
        big, small = good.get("assemblyd 100 shots"), good.get("assemblyd 10 shots")
        worst = max(r.peak_rss for r in big) / MB if big else None
        out.append(
            (
                "100 shots: peak tree RSS within 1 GB (worst run)",
                f"{worst:.0f} MB" if worst else "n/a",
                None if worst is None else worst <= 1024,
            )
        )
        if big and small:
            # Strict on the medians; the per-run ranges show whether a gap is noise.
            a, b = median_rss(big), median_rss(small)

            def spread(rs: list[Run]) -> str:
                return (
                    f"{min(r.peak_rss for r in rs) / MB:.0f}-{max(r.peak_rss for r in rs) / MB:.0f}"
                )

            out.append(
                (
                    "100 shots: peak (median) no higher than 10 shots",
                    f"{a:.0f} ({spread(big)}) vs {b:.0f} ({spread(small)}) MB",
                    a <= b,
                )
            )

            def largest(rs: list[Run]) -> str:
                name, rss = max((r.largest for r in rs), key=lambda named: named[1])
                return f"{name} {rss / MB:.0f}"

            out.append(
                (
                    "  (largest single process, 100 vs 10 shots)",
                    f"{largest(big)} vs {largest(small)} MB",
                    None,
                )
            )
        else:
            out.append(("100 shots: peak no higher than 10 shots", "n/a", None))
    return out


def report(case: str, engines: list[Engine], runs: list[Run], project: Project) -> str:
    good = {e.label: [r for r in runs if r.engine == e.label and r.ok] for e in engines}
    first = engines[0].label
    base = good[first]
    head = (
        f"{'engine':28} {'runs':>4} {'wall s':>7} {'min-max s':>13} {'cpu s':>6} "
        f"{'peak MB':>7} {'load':>5} {'others':>6} {'wall ÷ 1st':>10} {'cpu ÷ 1st':>9} "
        f"{'mem ÷ 1st':>9}"
    )
    shots = len(project.specs)
    seconds = sum(s.duration for s in project.specs)
    lines = [f"\n[{case}] {shots} shots, {seconds:g} s in all -> {OUTPUT}", head, "-" * len(head)]
    for engine in engines:
        rs = good[engine.label]
        failed = sum(1 for r in runs if r.engine == engine.label and not r.ok)
        if not rs:
            lines.append(f"{engine.label:28} {0:>4} {'failed' if failed else 'skipped':>7}")
            continue
        walls = [r.wall for r in rs]
        wall, mem = median_wall(rs), median_rss(rs)
        ratios = (
            f"{wall / median_wall(base):>10.2f} {median_cpu(rs) / median_cpu(base):>9.2f} "
            f"{mem / median_rss(base):>9.2f}"
            if base
            else f"{'-':>10} {'-':>9} {'-':>9}"
        )
        lines.append(
            f"{engine.label:28} {len(rs):>4} {wall:>7.2f} "
            f"{f'{min(walls):.2f}-{max(walls):.2f}':>13} "
            f"{median_cpu(rs):>6.1f} {mem:>7.0f} "
            f"{statistics.median(r.load for r in rs):>5.2f} "
            f"{statistics.median(r.others for r in rs):>6.1f} {ratios}"
            + (f"  ({failed} failed)" if failed else "")
        )
    for what, measured, met in target_lines(case, good):
        if what.startswith(" "):  # a detail of the target above
            lines.append(f"          {what.strip():50} {measured:>24}")
            continue
        verdict = "n/a" if met is None else ("met" if met else "MISSED")
        lines.append(f"  target: {what:50} {measured:>24}  {verdict}")
    for engine in engines:
        timed = [r for r in good[engine.label] if r.timings]
        if not timed:
            continue
        stages = list(dict.fromkeys(k for r in timed for k in r.timings))
        parts = [f"{k} {statistics.median(r.timings.get(k, 0) for r in timed):.2f}" for k in stages]
        outside = statistics.median(r.wall - sum(r.timings.values()) for r in timed)
        lines.append(
            f"  {engine.label} stages (median s): {', '.join(parts)}; "
            f"outside the stages (start-up, imports, exit) {outside:.2f}"
        )
    for warning in sorted({w for r in runs for w in r.warnings}):
        lines.append(f"  warning: {warning}")
    return "\n".join(lines)


def busy_elsewhere() -> str:
    """Processes other than this one using a noticeable share of a core, over 0.5 s."""
    procs = [p for p in psutil.process_iter(["name"]) if p.pid != os.getpid()]
    for p in procs:
        try:
            p.cpu_percent(None)
        except psutil.Error:
            continue
    time.sleep(0.5)
    busy = []
    for p in procs:
        try:
            pct = p.cpu_percent(None)
        except psutil.Error:
            continue
        if pct >= 10:
            busy.append(f"{p.info['name']} {pct:.0f}%")
    return ", ".join(busy) or "none"


def daemon_fingerprint() -> str:
    """A hash of daemon/'s sources: to notice a change in the middle of a run."""
    digest = hashlib.sha256()
    for path in sorted((Path(__file__).resolve().parent.parent / "daemon").rglob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:12]


def code_version() -> str:
    """The commit of the daemon/ being measured, and whether it has local changes."""
    repo = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "-C", str(repo), "log", "-1", "--format=%h %s"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--", "daemon"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown commit"
    return f"{head}" + (" + uncommitted changes in daemon/" if dirty else "")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--workdir", type=Path, default=Path("/tmp/assemblyd-bench5"))
    p.add_argument("--repeat", type=int, default=3, help="runs per case and engine")
    p.add_argument(
        "--moviepy-repeat",
        type=int,
        help="runs of the (slow) MoviePy engines; default --repeat, 0 skips them",
    )
    p.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    p.add_argument("--sample-ms", type=float, default=25, help="memory sampling period (20-50 ms)")
    # Internal: the MoviePy baseline, run in its own process by the benchmark.
    p.add_argument("--moviepy-run", type=Path, metavar="REQUEST", help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--method", choices=("chain", "compose"), help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.moviepy_run:
        moviepy_run(args.moviepy_run, args.out, args.method)
        return 0
    moviepy_repeat = args.repeat if args.moviepy_repeat is None else args.moviepy_repeat
    workdir = args.workdir.resolve()
    began = time.perf_counter()
    start = (
        f"cores: {os.cpu_count()} logical, {psutil.cpu_count(logical=False)} physical; "
        f"load average (1/5/15 min) at start: {load_average()}; "
        f"other processes busy at start: {busy_elsewhere()}"
    )
    version, fingerprint = code_version(), daemon_fingerprint()
    print(f"{start}\nassemblyd: {version}", file=sys.stderr)
    projects = fixtures(workdir, args.cases)
    bench = Bench(workdir, args.sample_ms / 1000)
    tables: list[str] = []
    all_runs: list[Run] = []
    for case in args.cases:
        project = projects[case]
        engines = engines_for(case, project, bench)
        runs: list[Run] = []
        for i in range(args.repeat):
            for engine in engines:  # interleaved: A, B, C, A, B, C, ...
                if engine.moviepy and i >= moviepy_repeat:
                    continue
                runs.append(engine.run())
        if case == "incremental":
            swap_in(project, "old")  # leave the fixture as generated
        all_runs += runs
        tables.append(report(case, engines, runs, project))
    print(
        f"\n{start}\nload average at the end: {load_average()}; "
        f"other processes busy at the end: {busy_elsewhere()}\n"
        f"assemblyd: {version}; repeats: {args.repeat} (MoviePy: {moviepy_repeat}); "
        f"memory: peak RSS of the whole process tree, sampled every {args.sample_ms:g} ms; "
        f"{time.perf_counter() - began:.0f} s in all"
    )
    if daemon_fingerprint() != fingerprint:
        print(f"WARNING: daemon/ changed during the run; now: {code_version()}")
    print("\n".join(tables))
    failed = [r for r in all_runs if not r.ok]
    if failed:
        print(f"\n{len(failed)} run(s) FAILED: see above", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
