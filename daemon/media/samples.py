"""Synthetic shots made with the bundled ffmpeg: for the demo project and the tests.

Each clip is a moving test pattern with a burnt-in clock and, optionally, a sine
tone, so a viewer (or a test) can see motion and hear sync.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from .ffmpeg import binary as ffmpeg


def make_clip(
    path: Path,
    size: tuple[int, int] = (160, 90),
    fps: str | float = 24,
    duration: float = 1.0,
    audio: bool = True,
    tone: float = 440.0,
    sample_rate: int = 44100,
    channels: int = 2,
    streamed: bool = False,
    bitrate: str | None = None,
    preset: str = "ultrafast",
    keyint: int | None = None,
    video: bool = True,
) -> Path:
    """Write a test clip. The codec follows the extension (.mp4/.mov/.m4a: H.264 +
    AAC, .webm: VP9 + Opus). ``streamed`` writes through a pipe, so the muxer cannot
    go back and store the duration: what a browser's MediaRecorder produces.
    ``video=False`` makes a sound-only file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    width, height = size
    cmd = [ffmpeg(), "-v", "error", "-y"]
    if video:
        cmd += [
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size={width}x{height}:rate={fps}:duration={duration}",
        ]
    if audio:
        layout = "stereo" if channels == 2 else "mono"
        cmd += [
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency={tone}:sample_rate={sample_rate}:duration={duration}",
            "-af",
            f"aformat=channel_layouts={layout}",
        ]
    if video:
        # Made the way a camera or an editor's export tags it: BT.709, limited range.
        cmd += [
            "-vf",
            "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p,"
            "setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709:range=tv",
        ]
    if not video:
        cmd += ["-c:a", "aac"]
    elif path.suffix == ".webm":
        cmd += ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "200k"]
        cmd += ["-c:a", "libopus"] if audio else []
        cmd += ["-f", "webm"]
    else:
        cmd += ["-c:v", "libx264", "-preset", preset, "-pix_fmt", "yuv420p"]
        cmd += ["-b:v", bitrate] if bitrate else []
        if keyint:  # keyframes exactly every keyint frames
            cmd += ["-g", str(keyint), "-keyint_min", str(keyint), "-sc_threshold", "0"]
        cmd += ["-c:a", "aac"] if audio else []
    cmd += ["-shortest"] if audio else []
    if streamed:
        with path.open("wb") as out:
            subprocess.run([*cmd, "pipe:1"], check=True, stdout=out)
    else:
        subprocess.run([*cmd, str(path)], check=True)
    return path


#: The demo's shots: mixed sizes, rates and audio, like a real conform.
DEMO_SHOTS: list[dict[str, object]] = [
    {"size": (1280, 720), "fps": 24, "audio": True, "tone": 330},
    {"size": (1920, 1080), "fps": 25, "audio": True, "tone": 392},
    {"size": (960, 720), "fps": 30, "audio": False},
    {"size": (1280, 720), "fps": "24000/1001", "audio": True, "tone": 440},
    {"size": (720, 1280), "fps": 24, "audio": True, "tone": 494},
    {"size": (1920, 800), "fps": 24, "audio": True, "tone": 523},
    {"size": (640, 480), "fps": 25, "audio": False},
    {"size": (1280, 720), "fps": 50, "audio": True, "tone": 587},
    {"size": (1920, 1080), "fps": 24, "audio": True, "tone": 659},
    {"size": (1280, 720), "fps": 24, "audio": True, "tone": 698},
]


def write_demo_project(project: Path, seconds: float = 2.0, shots: int = 10) -> Path:
    """A project folder with generated shots and an ``assembly.json``; returns its path."""
    entries: list[object] = []
    for i in range(shots):
        spec = DEMO_SHOTS[i % len(DEMO_SHOTS)]
        rel = f"shots/sh{(i + 1) * 10:03d}.mp4"
        make_clip(project / rel, duration=seconds, **spec)  # type: ignore[arg-type]
        entries.append(rel if i % 3 else {"path": rel, "in": 0.25, "out": seconds - 0.25})
    request = {
        "name": "demo_v001",
        "shots": entries,
        "output": {"resolution": "1280x720", "fps": 24, "quality_preset": "draft"},
    }
    path = project / "assembly.json"
    path.write_text(json.dumps(request, indent=2) + "\n")
    return path
