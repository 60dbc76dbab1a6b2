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
from .files import read_json, update_json


class StatusRecord(TypedDict, total=False):
    state: str
    stage: str
    progress: float
    job_id: str
    request_sha256: str | None
    export: str | None
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

    def write(self, **fields: Unpack[StatusRecord]) -> dict[str, Any]:
        """Merge ``fields`` in. A terminal state is final for its job: a late write
        from a dying worker cannot turn ``canceled`` into ``running`` or ``failed``."""
        job_id = fields.get("job_id")

        def change(data: dict[str, Any]) -> None:
            same_job = job_id is None or data.get("job_id") == job_id
            if same_job and data.get("state") in TERMINAL:
                return
            if not same_job:
                data.clear()
            data.update(fields)
            data["updated_at"] = now_iso()

        return update_json(self.path, change)
