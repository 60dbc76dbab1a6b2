"""Progress: one small interface, and thin adapters over it.

The pipeline reports ``(stage, percent)`` to a :class:`Progress`. It guarantees what
every consumer relies on: the percent never goes backwards and reaches 100 exactly
once, at the very end. Sinks (the terminal bar here, the queue's Redis and status
file adapters, and through Redis the web) only display what they are given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from tqdm import tqdm

from ..errors import Notice
from ..states import Stage

#: Each stage's share of the bar. Rendering is nearly all of the wall time.
STAGES: dict[Stage, tuple[float, float]] = {
    Stage.PROBE: (0.0, 5.0),
    Stage.PLAN: (5.0, 6.0),
    Stage.RENDER: (6.0, 96.0),
    Stage.VERIFY: (96.0, 99.0),
    Stage.PUBLISH: (99.0, 100.0),
}


@dataclass(frozen=True)
class Update:
    stage: Stage
    percent: float
    #: Set on the one update that carries a warning (the percent does not move).
    notice: Notice | None = None


class Sink(Protocol):
    def __call__(self, update: Update) -> None: ...


class Progress:
    """What the pipeline talks to. Monotonic, with a single 100 at the end."""

    def __init__(self, *sinks: Sink) -> None:
        self._sinks = list(sinks)
        self.percent = 0.0
        self.stage: Stage | None = None
        self.finished = False

    def report(self, stage: Stage, percent: float) -> None:
        if self.finished:
            return
        # 100 belongs to finish(): a stage that rounds up must not end the bar early.
        percent = min(max(percent, self.percent), 99.9)
        if stage == self.stage and percent - self.percent < 0.05:
            return
        self.stage, self.percent = stage, percent
        self._emit(Update(stage, percent))

    def within(self, stage: Stage, fraction: float) -> None:
        """Report ``fraction`` (0..1) of the way through ``stage``."""
        lo, hi = STAGES[stage]
        self.report(stage, lo + (hi - lo) * min(max(fraction, 0.0), 1.0))

    def warn(self, notice: Notice) -> None:
        """Tell every sink something the user should know; the bar does not move."""
        self._emit(Update(self.stage or Stage.PROBE, self.percent, notice))

    def finish(self) -> None:
        if self.finished:
            return
        self.finished = True
        self.stage, self.percent = Stage.DONE, 100.0
        self._emit(Update(Stage.DONE, 100.0))

    def _emit(self, update: Update) -> None:
        for sink in self._sinks:
            sink(update)


class TerminalBar:
    """The CLI's bar: tqdm, showing the stage as the description."""

    def __init__(self, **tqdm_kwargs: Any) -> None:  # tqdm's own options
        self._bar = tqdm(
            total=100,
            unit="%",
            bar_format="{desc:<8} {percentage:3.0f}%|{bar}| {elapsed}<{remaining}",
            **tqdm_kwargs,
        )

    def __call__(self, update: Update) -> None:
        if update.notice is not None:
            self._bar.write(f"warning: {update.notice['message']}")
            return
        self._bar.set_description_str(update.stage, refresh=False)
        self._bar.update(update.percent - self._bar.n)

    def close(self) -> None:
        self._bar.close()
