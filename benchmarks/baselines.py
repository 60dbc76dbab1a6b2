"""The baselines: what a user would run without assemblyd, plain ffmpeg or MoviePy.

The command builders return argv lists for :func:`measure.measure`. The MoviePy
baseline runs in its own process: this file, as a script (``moviepy_cmd``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from fixtures import FPS, HEIGHT, WIDTH, Project


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def concat_copy_cmd(project: Project, shots: int, out: Path) -> list[str]:
    """ffmpeg's concat demuxer with ``-c copy``: no re-encode, each shot's audio as it is."""
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
    graph = ["-filter_complex", ";".join(chains), "-map", "[v]", "-map", "[a]"]
    video = ["-c:v", "libx264", "-preset", "medium", "-b:v", "5000k", "-pix_fmt", "yuv420p"]
    audio = ["-c:a", "aac", "-b:a", "192k"]
    end = ["-movflags", "+faststart", str(out)]
    return [ffmpeg_exe(), "-v", "error", "-y", *inputs, *graph, *video, *audio, *end]


def moviepy_cmd(request: Path, out: Path, method: str, fit: bool) -> list[str]:
    """The command running :func:`moviepy_run` in its own process."""
    args = [str(request), "--out", str(out), "--method", method, *(["--fit"] if fit else [])]
    return [sys.executable, str(Path(__file__).resolve()), *args]


def moviepy_run(request: Path, out: Path, method: str, fit: bool) -> None:
    """What a user would write with MoviePy: open every shot, concatenate, write.

    With ``fit`` and ``compose``, each shot is first fitted into the output size (aspect
    kept), or the canvas would be the largest width by the largest height (1920x1920 with
    a portrait shot) and small shots would sit unscaled."""
    from moviepy import VideoFileClip, concatenate_videoclips

    body = json.loads(request.read_text())
    sources = [VideoFileClip(str(request.parent / shot)) for shot in body["shots"]]
    clips = []
    for clip in sources:
        if fit and method == "compose" and (clip.w, clip.h) != (WIDTH, HEIGHT):
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


if __name__ == "__main__":
    p = argparse.ArgumentParser(description="Run the MoviePy baseline on one request.")
    p.add_argument("request", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--method", choices=("chain", "compose"), required=True)
    p.add_argument("--fit", action="store_true", help="fit each shot into the output first")
    args = p.parse_args()
    moviepy_run(args.request, args.out, args.method, args.fit)
