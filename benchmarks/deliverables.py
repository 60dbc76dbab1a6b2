"""Deliverables benchmark: one request with a master and a review output against the
same two outputs rendered as two separate requests, side by side in one run.

The cut is the strategy benchmark's ``mixed`` one (10 shots of 3 s, 1080p24 and
720p25 in turn, all with sound). The outputs:

- ``master``: ProRes 422 HQ in MOV, 1920x1080, 24 fps, PCM, start timecode 01:00:00:00;
- ``review``: H.264 in MP4, 1920x1080, 24 fps, ``standard``, with a frame counter,
  the shot name and a ``CONFIDENTIAL`` line burnt in, at -23 LUFS.

``together`` renders both from one request (each shot decoded once, split to both
encoders); ``separately`` renders ``master`` then ``review`` from two requests. Both
start from a cold segment cache; every run's exports are checked (frames, codecs)
and removed. Runs are interleaved; medians and the ratio are printed::

    python benchmarks/deliverables.py --repeat 3
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
from pathlib import Path
from typing import Any

from fixtures import make_project, mixed_spec, shot_name
from measure import MB, Measurement, code_version, load_average, measure
from media import inspect_media
from runner import CACHE_DIR

SHOTS = 10
BASE = {"resolution": "1920x1080", "fps": 24}
MASTER = {**BASE, "name": "master", "output_format": "mov", "quality_preset": "high",
          "start_timecode": "01:00:00:00"}  # fmt: skip
REVIEW = {
    **BASE,
    "name": "review",
    "quality_preset": "standard",
    "bitrate": "5000k",
    "burnins": [
        {"field": "frame", "position": "bottom_right"},
        {"field": "shot", "position": "bottom_left"},
        {"field": "text", "text": "CONFIDENTIAL: ACME", "position": "top_center"},
    ],
    "loudness": {"integrated": -23, "true_peak": -1},
}


def write_requests(folder: Path) -> dict[str, Path]:
    shots = [shot_name(i) for i in range(SHOTS)]
    bodies = {
        "together": {"name": "cut", "shots": shots, "outputs": [MASTER, REVIEW]},
        "master": {"name": "cut_master", "shots": shots, "output": MASTER},
        "review": {"name": "cut_review", "shots": shots, "output": REVIEW},
    }
    paths = {}
    for name, body in bodies.items():
        paths[name] = folder / f"{name}.assembly.json"
        paths[name].write_text(json.dumps(body, indent=2) + "\n")
    return paths


def render(folder: Path, request: Path) -> tuple[Measurement, list[str]]:
    """One cold ``assemblyd render``; the problems found in what it wrote."""
    shutil.rmtree(folder / CACHE_DIR, ignore_errors=True)
    (folder / "project.json").unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "assemblyd", "render", str(request), "-q"]
    measured = measure(cmd, folder)
    problems = [] if measured.result.returncode == 0 else [measured.result.stderr[-400:]]
    expected = SHOTS * 72
    for line in measured.result.stdout.split():
        media = inspect_media(Path(line))
        if media.frames != expected:
            problems.append(f"{Path(line).name}: {media.frames} frames, expected {expected}")
    exports = folder / "exports"
    shutil.rmtree(exports, ignore_errors=True)
    exports.mkdir()
    return measured, problems


def main() -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--workdir", type=Path, default=Path("/tmp/assemblyd-bench"))
    args = p.parse_args()
    specs = [mixed_spec(i, 3.0) for i in range(SHOTS)]
    project = make_project(args.workdir / "deliverables", specs, {})
    requests = write_requests(project.folder)
    print(f"code {code_version()}, load {load_average()}")
    runs: dict[str, list[dict[str, Any]]] = {"together": [], "separately": []}
    for attempt in range(args.repeat):
        together, bad = render(project.folder, requests["together"])
        runs["together"].append(_row(together, bad))
        master, bad_master = render(project.folder, requests["master"])
        review, bad_review = render(project.folder, requests["review"])
        runs["separately"].append(
            {
                "wall": master.wall + review.wall,
                "cpu": master.cpu + review.cpu,
                "rss": max(master.peak_rss, review.peak_rss),
                "ok": not bad_master and not bad_review,
            }
        )
        for name in runs:
            row = runs[name][-1]
            print(
                f"run {attempt + 1} {name:10} wall {row['wall']:6.2f} s  cpu {row['cpu']:6.2f} s  "
                f"peak {row['rss'] / MB:5.0f} MB  {'ok' if row['ok'] else 'FAILED'}"
            )
        for problem in bad + bad_master + bad_review:
            print(f"  problem: {problem}")
    print()
    print("| | median wall | median CPU | peak memory (tree) |")
    print("|---|---|---|---|")
    for name, rows in runs.items():
        good = [r for r in rows if r["ok"]] or rows
        print(
            f"| {name} | {statistics.median(r['wall'] for r in good):.2f} s "
            f"| {statistics.median(r['cpu'] for r in good):.2f} s "
            f"| {max(r['rss'] for r in good) / MB:.0f} MB |"
        )
    ratio = statistics.median(r["wall"] for r in runs["separately"]) / statistics.median(
        r["wall"] for r in runs["together"]
    )
    print(f"\nseparately / together (median wall): {ratio:.2f}x")
    return 0 if all(r["ok"] for rows in runs.values() for r in rows) else 1


def _row(measured: Measurement, problems: list[str]) -> dict[str, Any]:
    return {
        "wall": measured.wall,
        "cpu": measured.cpu,
        "rss": measured.peak_rss,
        "ok": not problems,
    }


if __name__ == "__main__":
    raise SystemExit(main())
