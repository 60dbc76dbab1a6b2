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
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
from baselines import concat_copy_cmd, moviepy_cmd, reencode_cmd
from fixtures import Project, strategy_projects, swap_in
from measure import busy_elsewhere, code_version, daemon_fingerprint, load_average
from report import report
from runner import Bench, Engine, Run

CASES = ("copy", "mixed", "incremental", "memory", "scaleout")


def engines_for(case: str, project: Project, bench: Bench) -> list[Engine]:
    """The contenders of a case, in the order they run (the first is the reference)."""

    def assemblyd(
        label: str,
        request: str,
        strategy: str,
        cold: bool,
        stats: dict[str, int] | None = None,
        keep_sound: bool = False,
    ) -> Run:
        return bench.assemblyd(case, label, project, request, strategy, cold, stats, keep_sound)

    def baseline(label: str, cmd_for: Callable[[Path], list[str]], moviepy: bool = False) -> Engine:
        return Engine(label, lambda: bench.baseline(case, label, project, cmd_for), moviepy)

    def moviepy(method: str) -> Engine:
        request = project.request("n10")
        return baseline(
            f"moviepy {method}", lambda o: moviepy_cmd(request, o, method, fit=True), True
        )

    if case == "copy":
        cached = "assemblyd (copy, sound cached)"
        return [
            Engine("assemblyd (copy)", lambda: assemblyd("assemblyd (copy)", "n10", "copy", False)),
            # The same cut again: its soundtrack comes from the cache.
            Engine(cached, lambda: assemblyd(cached, "n10", "copy", False, keep_sound=True)),
            baseline("ffmpeg concat -c copy", lambda o: concat_copy_cmd(project, 10, o)),
            moviepy("chain"),
        ]
    if case == "mixed":
        label = "assemblyd (normalize, cold)"
        stats = {"encoded": 10, "cached": 0}
        return [
            Engine(label, lambda: assemblyd(label, "n10", "normalize", True, stats)),
            baseline("ffmpeg re-encode", lambda o: reencode_cmd(project, 10, o)),
            moviepy("compose"),
        ]
    if case == "scaleout":

        def farm(workers: int) -> Engine:
            label = f"queue, {workers} worker{'s' * (workers > 1)}"
            return Engine(label, lambda: bench.farm(case, label, project, "n10", workers))

        label = "assemblyd render (cold)"
        return [
            farm(1),
            farm(2),
            Engine(label, lambda: assemblyd(label, "n10", "normalize", True)),
            baseline("ffmpeg re-encode", lambda o: reencode_cmd(project, 10, o)),
        ]
    if case == "incremental":

        def cold() -> Run:
            swap_in(project, "old")
            return assemblyd("assemblyd full, cold", "n10", "normalize", True, {"encoded": 10})

        def warm() -> Run:  # right after cold(): the cache holds every other shot
            swap_in(project, "new")
            stats = {"encoded": 1, "cached": 9}
            return assemblyd("assemblyd 1 changed, warm", "n10", "normalize", False, stats)

        return [Engine("assemblyd full, cold", cold), Engine("assemblyd 1 changed, warm", warm)]
    if case == "memory":

        def shots(n: int) -> Engine:
            label = f"assemblyd {n} shots"
            return Engine(label, lambda: assemblyd(label, f"n{n}", "normalize", True))

        return [shots(10), shots(100)]
    raise ValueError(case)


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
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
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
    projects = strategy_projects(workdir, args.cases)
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
