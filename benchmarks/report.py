"""The report: medians, each case's targets (met or MISSED) and the table of a case."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from typing import NamedTuple, Protocol

from fixtures import OUTPUT, Project
from measure import MB
from runner import Engine, Run


class Timed(Protocol):
    @property
    def wall(self) -> float: ...
    @property
    def peak_rss(self) -> int: ...


def median_wall(runs: Iterable[Timed]) -> float:
    return statistics.median(r.wall for r in runs)


def median_rss(runs: Iterable[Timed]) -> float:
    """Median peak RSS in MB."""
    return statistics.median(r.peak_rss for r in runs) / MB


def median_cpu(runs: list[Run]) -> float:
    return statistics.median(r.cpu for r in runs)


class RatioTarget(NamedTuple):
    """``what`` is met when ``met(median wall of a / median wall of b)``."""

    what: str
    a: str
    b: str
    #: How the ratio is shown, as a ``str.format`` template.
    shown: str
    met: Callable[[float], bool]


RATIO_TARGETS = {
    "copy": [
        RatioTarget(
            "assemblyd >= 50x faster than MoviePy chain",
            "moviepy chain",
            "assemblyd (copy)",
            "{:.1f}x faster",
            lambda r: r >= 50,
        ),
        RatioTarget(
            "assemblyd within 5x of ffmpeg -c copy",
            "assemblyd (copy)",
            "ffmpeg concat -c copy",
            "{:.1f}x",
            lambda r: r <= 5,
        ),
    ],
    "mixed": [
        RatioTarget(
            "assemblyd <= 1.0x the plain ffmpeg re-encode",
            "assemblyd (normalize, cold)",
            "ffmpeg re-encode",
            "{:.2f}x",
            lambda r: r <= 1.0,
        ),
    ],
    "scaleout": [
        RatioTarget(
            "2 workers against 1 (fan-out)",
            "queue, 2 workers",
            "queue, 1 worker",
            "{:.2f}x",
            lambda r: r < 1,
        ),
        RatioTarget(
            "2 workers against the plain ffmpeg re-encode",
            "queue, 2 workers",
            "ffmpeg re-encode",
            "{:.2f}x",
            lambda r: r <= 1.0,
        ),
    ],
    "incremental": [
        RatioTarget(
            "1 changed (warm) <= 10% of the full cold render",
            "assemblyd 1 changed, warm",
            "assemblyd full, cold",
            "{:.0%}",
            lambda r: r <= 0.10,
        ),
    ],
}

Target = tuple[str, str, bool | None]


def ratio_target(target: RatioTarget, good: dict[str, list[Run]]) -> Target:
    """The wall-time ratio against its limit, with the CPU ratio beside it (other load
    disturbs CPU seconds far less)."""
    a, b = good.get(target.a), good.get(target.b)
    if not a or not b:
        return target.what, "n/a", None
    r = median_wall(a) / median_wall(b)
    if not r:
        return target.what, "n/a", target.met(r)
    measured = target.shown.format(r) + f" (cpu {median_cpu(a) / median_cpu(b):.2f}x)"
    return target.what, measured, target.met(r)


def memory_targets(good: dict[str, list[Run]]) -> list[Target]:
    big, small = good.get("assemblyd 100 shots"), good.get("assemblyd 10 shots")
    worst = max(r.peak_rss for r in big) / MB if big else None
    out: list[Target] = [
        (
            "100 shots: peak tree RSS within 1 GB (worst run)",
            f"{worst:.0f} MB" if worst else "n/a",
            None if worst is None else worst <= 1024,
        )
    ]
    if not big or not small:
        return [*out, ("100 shots: peak no higher than 10 shots", "n/a", None)]

    # Strict on the medians; the per-run ranges show whether a gap is noise.
    def spread(rs: list[Run]) -> str:
        return f"{min(r.peak_rss for r in rs) / MB:.0f}-{max(r.peak_rss for r in rs) / MB:.0f}"

    def largest(rs: list[Run]) -> str:
        name, rss = max((r.largest for r in rs), key=lambda named: named[1])
        return f"{name} {rss / MB:.0f}"

    a, b = median_rss(big), median_rss(small)
    return [
        *out,
        (
            "100 shots: peak (median) at most 10 % above 10 shots",
            f"{a:.0f} ({spread(big)}) vs {b:.0f} ({spread(small)}) MB",
            a <= 1.10 * b,
        ),
        (
            "  (largest single process, 100 vs 10 shots)",
            f"{largest(big)} vs {largest(small)} MB",
            None,
        ),
    ]


#: Absolute targets: (what, engine, seconds at most).
WALL_TARGETS = {"copy": [("assemblyd copy join, start-up included", "assemblyd (copy)", 0.55)]}


def wall_target(what: str, engine: str, limit: float, good: dict[str, list[Run]]) -> Target:
    runs = good.get(engine)
    if not runs:
        return f"{what} <= {limit} s", "n/a", None
    wall = median_wall(runs)
    return f"{what} <= {limit} s", f"{wall:.2f} s", wall <= limit


def target_lines(case: str, good: dict[str, list[Run]]) -> list[Target]:
    """(what, measured, met) for the case's targets; met is None if a side has no runs."""
    if case == "memory":
        return memory_targets(good)
    lines = [ratio_target(target, good) for target in RATIO_TARGETS.get(case, [])]
    return lines + [wall_target(*t, good) for t in WALL_TARGETS.get(case, [])]


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
        detailed = [r for r in timed if r.render_timings]
        if detailed:
            names = list(dict.fromkeys(k for r in detailed for k in r.render_timings))
            segs = [k for k in names if k.startswith("segment")]
            rest = [k for k in names if not k.startswith("segment")]
            median = {
                k: statistics.median(r.render_timings.get(k, 0) for r in detailed) for k in names
            }
            text = [f"{k.removeprefix('segment ')} {median[k]:.2f}" for k in segs]
            shown = f"segments encoded (by shot): {', '.join(text)}; " if segs else ""
            shown += ", ".join(
                f"{k} {median[k]:.2f}" + (" (alongside the picture)" * (k == "soundtrack"))
                for k in rest
            )
            lines.append(f"    render parts (median s): {shown}")
    for warning in sorted({w for r in runs for w in r.warnings}):
        lines.append(f"  warning: {warning}")
    return "\n".join(lines)
