"""Loudness: the soundtrack brought to a target (EBU R128 -23 LUFS, web -16 or -14) with
FFmpeg's two-pass ``loudnorm``, and any file measured with ``ebur128``.

The first pass measures the soundtrack as it comes out of the timeline; the second
applies one gain computed from that measurement (``linear``), so the mix keeps its
dynamics, limiting only the true peaks above the ceiling where it must. The export's
loudness is measured again at verify: what the target promised is checked on the
file a broadcaster receives.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ..errors import RenderError, VerifyError
from ..media import ffmpeg
from ..request.model import Loudness

#: Loudness range allowed by the normaliser before it compresses (LU); wide enough
#: for film and drama mixes, which it must not flatten.
MAX_RANGE = 20.0


@dataclass(frozen=True)
class Measured:
    integrated: float  # LUFS
    range: float  # LU
    true_peak: float  # dBTP

    def to_dict(self) -> dict[str, float]:
        return {
            "integrated": round(self.integrated, 1),
            "range": round(self.range, 1),
            "true_peak": round(self.true_peak, 1),
        }


def _json_block(lines: list[str]) -> dict[str, str]:
    text = "".join(lines)
    start = text.rfind("{")
    end = text.find("}", start)
    if start < 0 or end < 0:
        raise RenderError("the loudness measurement printed nothing to read")
    found: dict[str, str] = json.loads(text[start : end + 1])
    return found


def first_pass(
    pcm: list[str], feed: Callable[[IO[bytes]], None], target: Loudness
) -> dict[str, str]:
    """loudnorm's measurement of the PCM ``feed`` writes (``pcm``: its input options)."""
    lines = ffmpeg.run(
        [
            *pcm,
            "-i",
            "pipe:0",
            "-af",
            f"loudnorm=I={target.integrated}:TP={target.true_peak}:LRA={MAX_RANGE}"
            ":print_format=json",
            "-f",
            "null",
            "-",
        ],
        what="measuring the soundtrack's loudness",
        feed=feed,
        loglevel="info",
    )
    return _json_block(lines)


def second_pass(target: Loudness, measured: dict[str, str], rate: int) -> list[str]:
    """The audio filter that brings the soundtrack to ``target`` (``-af`` and its value)."""
    keys = {
        "measured_I": "input_i",
        "measured_TP": "input_tp",
        "measured_LRA": "input_lra",
        "measured_thresh": "input_thresh",
        "offset": "target_offset",
    }
    known = ":".join(f"{k}={float(measured[v])}" for k, v in keys.items())
    return [
        "-af",
        f"loudnorm=I={target.integrated}:TP={target.true_peak}:LRA={MAX_RANGE}:{known}"
        f":linear=true,aresample={rate}",
    ]


_SUMMARY = {
    "integrated": re.compile(r"I:\s+(-?[\d.]+|-inf) LUFS"),
    "range": re.compile(r"LRA:\s+(-?[\d.]+) LU"),
    "true_peak": re.compile(r"Peak:\s+(-?[\d.]+|-inf) dBFS"),
}


def measure(path: Path) -> Measured:
    """Integrated loudness, loudness range and true peak of ``path``'s sound (EBU R128)."""
    lines = ffmpeg.run(
        ["-i", str(path), "-map", "0:a:0", "-af", "ebur128=peak=true", "-f", "null", "-"],
        what="measuring the export's loudness",
        loglevel="info",
    )
    summary = "".join(lines)
    summary = summary[summary.rfind("Summary:") :]
    values = {}
    for key, pattern in _SUMMARY.items():
        found = pattern.search(summary)
        if found is None:
            raise VerifyError(
                f"the loudness of the export could not be read ({key})", path=str(path)
            )
        values[key] = float(found[1]) if found[1] != "-inf" else -120.0
    return Measured(**values)


def check(measured: Measured, target: Loudness, path: Path) -> None:
    """Within 1 LU of the target, true peaks under the ceiling (a tenth of a dB of
    measuring slack)."""
    wrong = []
    if abs(measured.integrated - target.integrated) > 1.0:
        wrong.append(
            f"integrated loudness {measured.integrated:.1f} LUFS, target {target.integrated}"
        )
    if measured.true_peak > target.true_peak + 0.1:
        wrong.append(f"true peak {measured.true_peak:.1f} dBTP over {target.true_peak}")
    if wrong:
        raise VerifyError("the loudness is off: " + "; ".join(wrong), path=str(path))
