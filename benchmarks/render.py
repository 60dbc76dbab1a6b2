"""Render benchmark: assemblyd against plain MoviePy, wall time and peak memory.

Both engines run as subprocesses, interleaved, on cached synthetic fixtures; the
peak RSS is summed over the whole process tree (Python plus its ffmpeg children).
See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import psutil

# benchmarks/ is on sys.path when this runs as a script
from baselines import moviepy_cmd
from fixtures import ClipSpec, generate, shot_name, write_request
from measure import MB, measure
from report import median_rss, median_wall
from runner import Run

CASES = ("matching", "mixed")
ENGINES = ("assemblyd", "moviepy")
BASELINE = "moviepy"
SECONDS = 3.0
SAMPLE_EVERY = 0.05


# -- fixtures (not timed) ----------------------------------------------------------
def shot_spec(case: str, i: int) -> ClipSpec:
    """Shot ``i`` of a case: all 1080p24 with audio, or alternating 720p25/1080p24
    (make_clip's own encoder settings)."""
    tone = 330.0 + 40 * (i % 10)
    if case == "matching" or i % 2:
        return ClipSpec((1920, 1080), 24, SECONDS, True, tone, "ultrafast", None)
    return ClipSpec((1280, 720), 25, SECONDS, i % 4 != 0, tone, "ultrafast", None)


def fixtures(workdir: Path, case: str, shots: int) -> Path:
    """Generate (once) the shots and the request of a case; return the request path."""
    project = workdir / case
    for i in range(shots):
        clip = project / shot_name(i)
        if not clip.is_file():
            clip.parent.mkdir(parents=True, exist_ok=True)
            generate(clip, shot_spec(case, i))
    return write_request(project, f"n{shots}", shots)


# -- measuring -------------------------------------------------------------------------
def run_once(case: str, engine: str, request: Path) -> Run:
    project = request.parent
    if engine == "assemblyd":
        cmd = [sys.executable, "-m", "assemblyd", "render", str(request), "-q"]
        out = None
    else:
        out = project / f"baseline-{case}.mp4"
        cmd = moviepy_cmd(request, out, "chain" if case == "matching" else "compose", fit=False)
    # cwd is the project, so no repository config/assemblyd.toml is picked up and
    # MoviePy's temporary audio file lands in the workdir.
    load = os.getloadavg()[0]
    measured = measure(cmd, project, SAMPLE_EVERY)
    wall, peak, result = measured.wall, measured.peak_rss, measured.result
    if engine == "assemblyd" and result.returncode == 0 and result.stdout.strip():
        out = Path(result.stdout.strip().splitlines()[-1])  # the export path
    ok = result.returncode == 0 and out is not None and out.is_file() and out.stat().st_size > 0
    if not ok:
        print(
            f"FAILED {case}/{engine} (exit {result.returncode}):\n{result.stderr[-3000:]}",
            file=sys.stderr,
        )
    if out is not None:
        out.unlink(missing_ok=True)
    for stray in (project / "exports").glob("*"):
        if stray.is_file():
            stray.unlink()
    run = Run.of(case, engine, measured, load, ok, frames=0)
    print(
        f"  {case:9} {engine:10} {wall:7.1f} s  {peak / MB:7.0f} MB  {'ok' if ok else 'FAILED'}",
        file=sys.stderr,
    )
    return run


# -- report ----------------------------------------------------------------------------
def table(runs: list[Run], cases: list[str], engines: list[str]) -> str:
    head = (
        f"{'case':9} {'engine':10} {'runs':>4} {'wall s':>7} {'min-max s':>13} "
        f"{'peak RSS MB':>11} {'wall x':>7} {'mem x':>6}"
    )
    lines = [head, "-" * len(head)]
    for case in cases:
        good = {
            e: [r for r in runs if (r.case, r.engine, r.ok) == (case, e, True)] for e in engines
        }
        med = {e: (median_wall(rs), median_rss(rs)) for e, rs in good.items() if rs}
        base = med.get(BASELINE)
        for engine in engines:
            if engine not in med:
                lines.append(f"{case:9} {engine:10} {0:>4} {'failed':>7}")
                continue
            (wall, mem), walls = med[engine], [r.wall for r in good[engine]]
            spread = f"{min(walls):.1f}-{max(walls):.1f}"
            ratios = (
                f"{wall / base[0]:>7.2f} {mem / base[1]:>6.2f}" if base else f"{'-':>7} {'-':>6}"
            )
            lines.append(
                f"{case:9} {engine:10} {len(walls):>4} {wall:>7.1f} {spread:>13} "
                f"{mem:>11.0f} {ratios}"
            )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workdir", type=Path, default=Path("/tmp/assemblyd-bench"))
    p.add_argument("--repeat", type=int, default=3, help="runs per case and engine")
    p.add_argument("--shots", type=int, default=10, help="shots per case (3 s each)")
    p.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    p.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = args.workdir.resolve()
    requests = {case: fixtures(workdir, case, args.shots) for case in args.cases}
    runs: list[Run] = []
    for case in args.cases:
        for _ in range(args.repeat):
            for engine in args.engines:  # interleaved: A, B, A, B, ...
                runs.append(run_once(case, engine, requests[case]))
    print(
        f"\ncores: {os.cpu_count()} ({psutil.cpu_count(logical=False)} physical)  "
        f"shots: {args.shots} x {SECONDS:g} s  "
        f"output: 1920x1080 24 fps 5000k libx264 medium  ratios vs {BASELINE}"
    )
    print(table(runs, args.cases, args.engines))
    return 0 if all(r.ok for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
