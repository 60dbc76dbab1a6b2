"""A client's mailbox: bounded by the number of jobs, latest state wins."""

from __future__ import annotations

import asyncio
from typing import Any

from assemblyd.web.mailbox import Subscriber, supersedes


def _view(state: str, progress: float, queued_at: str = "t1", job: str = "asm-1") -> dict[str, Any]:
    return {"id": job, "state": state, "progress": progress, "queued_at": queued_at}


def test_a_later_state_supersedes_and_an_earlier_one_does_not():
    assert supersedes(_view("running", 40), _view("running", 30))
    assert not supersedes(_view("running", 30), _view("running", 40))
    assert supersedes(_view("canceled", 10), _view("running", 40))
    assert not supersedes(_view("running", 90), _view("finished", 100))
    # Requeued after a shutdown: a new run of the request starts over, and wins.
    assert supersedes(_view("queued", 0, "t2"), _view("running", 60, "t1"))


class _Hub:
    connected = True

    async def snapshot(self, job: str | None) -> dict[str, Any]:
        jobs = [_view("running", 10, job="asm-0"), _view("queued", 0, job="asm-9")]
        return {"jobs": [v for v in jobs if job in (None, v["id"])], "next": None}


def test_a_mailbox_holds_one_view_per_job_however_many_arrive():
    sub = Subscriber(_Hub(), None)  # type: ignore[arg-type]
    for i in range(10_000):
        sub.offer(_view("running", i / 100, job=f"asm-{i % 3}"))
    sub.offer(_view("running", 5.0, job="asm-0"))  # a late, older message: ignored
    assert len(sub.pending) == 3
    assert sub.pending["asm-0"]["progress"] == 99.99  # i = 9999, the last for asm-0

    async def drain() -> list[Any]:
        return [await sub.next(), await sub.next()]

    snapshot, update = asyncio.run(drain())
    assert snapshot is not None and snapshot.kind == "snapshot"
    # The snapshot's rows are replaced by the newer pending views ...
    assert [(v["id"], v["progress"]) for v in snapshot.jobs] == [("asm-0", 99.99), ("asm-9", 0)]
    # ... and what the snapshot did not know comes next, once each.
    assert update is not None and update.kind == "update"
    assert sorted(v["id"] for v in update.jobs) == ["asm-1", "asm-2"]


def test_a_job_filtered_mailbox_ignores_other_jobs():
    sub = Subscriber(_Hub(), "asm-0")  # type: ignore[arg-type]
    sub.offer(_view("running", 1, job="asm-1"))
    assert not sub.pending
    snapshot = asyncio.run(sub.next())
    assert snapshot is not None and [v["id"] for v in snapshot.jobs] == ["asm-0"]
