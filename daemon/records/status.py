"""The status file beside each request: the queue's state, for people without a browser.

``seq010.assembly.json`` gets ``seq010.assembly.status.json`` (``assembly.json`` gets
``assembly.status.json``)::

    {
      "state": "running",            # queued | running | finished | failed | canceled
      "stage": "render",             # probe | plan | render | verify | publish | done
      "progress": 42.0,              # percent, written at stage changes
      "job_id": "asm-…",             # `assemblyd cancel` takes this
      "request_sha256": "…",         # the request content this status is about
      "export": null,                # "exports/seq010.mp4" once finished
      "exports": [],                 # every output's export (a master, a review copy ...)
      "error": null,                 # {"code", "message", ...} when failed or canceled
      "updated_at": "2026-11-25T12:00:00.000+00:00"
    }

The file is the daemon's memory: a request whose status is terminal for its current
content is never queued again (delete the status file to force a re-run), and one
that is not terminal is queued again if Redis lost it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypedDict, Unpack, cast

from ..errors import ErrorRecord, Notice
from ..stamps import now_iso
from ..states import TERMINAL
from .files import locked, read_json, update_json


class StatusRecord(TypedDict, total=False):
    state: str
    stage: str
    progress: float
    job_id: str
    request_sha256: str | None
    export: str | None
    exports: list[str]
    error: ErrorRecord | None
    warnings: list[Notice]
    updated_at: str


_KEYS = frozenset(StatusRecord.__annotations__)


def status_path(request_path: Path) -> Path:
    name = request_path.name.removesuffix(".json")
    return request_path.with_name(f"{name}.status.json")


class StatusFile:
    def __init__(self, request_path: Path) -> None:
        self.request_path = Path(request_path)
        self.path = status_path(self.request_path)

    def read(self) -> StatusRecord:
        try:
            # Whatever the file holds is someone's writing: only our keys count.
            data = read_json(self.path)
        except ValueError:
            return {}
        return cast(StatusRecord, {k: v for k, v in data.items() if k in _KEYS})

    def write(self, *, claim: bool = False, **fields: Unpack[StatusRecord]) -> dict[str, Any]:
        """Merge ``fields`` in. The file speaks for one job, the one of the request's
        current content: a write for another job is dropped (an old job must not
        overwrite the status of the job of an edit), unless ``claim`` says the writer
        is admitting the current content. A terminal state is final for its job: a
        late write from a dying worker cannot turn ``canceled`` into ``running``."""
        job_id = fields.get("job_id")

        def change(data: dict[str, Any]) -> bool:
            recorded = data.get("job_id")
            same_job = job_id is None or recorded == job_id
            if not same_job and recorded is not None and not claim:
                return False
            if same_job and data.get("state") in TERMINAL:
                return False
            if not same_job:
                data.clear()
            data.update(fields)
            data["updated_at"] = now_iso()
            return True

        return update_json(self.path, change)

    def forget(self, job_id: str) -> bool:
        """Remove the file if it speaks for ``job_id`` (its request was deleted: a status
        left behind would say "done" to the same request dropped again)."""
        try:
            with locked(self.path):
                if self.read().get("job_id") != job_id:
                    return False
                self.path.unlink(missing_ok=True)
                return True
        except FileNotFoundError:
            return False
