"""What users may ask of the queue besides reading it: submit a request, cancel a job.

An API submission is a dropped file, made safely: the request is written into the
project as ``<name>.assembly.json`` (or ``assembly.json`` without a name) and
admitted like a dropped file (same job id, same rules). It is first written under
a hidden name (which the watcher ignores) and fully validated there, every shot
probed; only a valid request is renamed into place, so a rejected submission
leaves nothing behind and the error lists every problem.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from redis import Redis

from ..errors import AlreadyProcessed, JobNotFound, RequestBusy, ValidationFailed, WriteFailed
from ..lifecycle import process_tag
from ..pipeline.validate import validate
from ..request.parse import parse_request
from ..settings import Settings
from ..states import TERMINAL
from .adapter import exists, fetch, job_id_for
from .admission import Outcome, admit
from .outcomes import cancel
from .views import JobView, view, visible_view

__all__ = ["Outcome", "cancel", "submit"]


def submit(
    conn: Redis, settings: Settings, folder: Path, shown: str, content: bytes
) -> tuple[Outcome, JobView]:
    """Write ``content`` as a request into ``folder`` (shown to users as ``shown``) and
    admit it. Raises :class:`ValidationFailed` listing every problem, writing nothing."""
    _, model, problems = parse_request(content)
    name = f"{model.name}.assembly.json" if model and model.name else "assembly.json"
    path, shown = folder / name, f"{shown}/{name}"
    job_id = job_id_for(path, content)
    if not problems:
        if exists(conn, job_id):
            return Outcome.KNOWN, visible_view(conn, settings, job_id)  # the same request again
        _refuse_to_replace_a_live_request(conn, path)
    temp = path.with_name(f".{path.name}.{process_tag()}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        with open(temp, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            # A bad document still goes through validate(): its problems and every
            # shot's come back together in one answer.
            validate(temp, settings)
        except ValidationFailed as exc:
            raise ValidationFailed(shown, exc.problems) from None
        os.replace(temp, path)
    except OSError as exc:
        raise WriteFailed(f"cannot write {shown}: {exc.strerror}") from exc
    finally:
        temp.unlink(missing_ok=True)
    outcome = admit(conn, settings, path)
    try:
        return outcome, visible_view(conn, settings, job_id)
    except JobNotFound:
        raise AlreadyProcessed(
            f"{shown} with this content was already processed and its job has "
            "expired; delete its status file or change the request to run it again"
        ) from None


def _refuse_to_replace_a_live_request(conn: Redis, path: Path) -> None:
    """Its job would read the new content when it starts: the old request is lost."""
    try:
        old = path.read_bytes()
    except FileNotFoundError:
        return
    old_id = job_id_for(path, old)
    if exists(conn, old_id):
        state = view(fetch(conn, old_id))["state"]
        if state not in TERMINAL:
            raise RequestBusy(
                f"{path.name} in this project is {state} as job {old_id}; cancel it "
                "or give the new request another name",
                job_id=old_id,
            )
