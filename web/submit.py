"""POST /api/v1/assembly/process: an API submission is a dropped file, made safely.

The body is the request document plus ``"project"`` (a folder relative to a watch
root) and optionally ``"root"`` (the index of the root; by default the first root
holding that folder). The request is written into the project as
``<name>.assembly.json`` (or ``assembly.json`` without a name) and handed to the
same :class:`~daemon.intake.Intake` as a dropped file: same job id, same rules.

It is first written under a hidden name (which the watcher ignores) and fully
validated there, every shot probed; only a valid request is renamed into place,
so a rejected submission leaves nothing behind and the 422 lists every problem.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path, PurePosixPath
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from daemon import jobqueue
from daemon.errors import JobNotFound, Problem, ValidationFailed, describe
from daemon.intake import Intake
from daemon.settings import Settings
from daemon.status import TERMINAL
from daemon.validate import parse_request, validate

from .errors import ApiError
from .state import WebState, web_state


def invalid(where: str, problems: list[Problem]) -> ApiError:
    return ApiError(
        422,
        "invalid_request",
        describe(ValidationFailed(where, problems)),
        problems=[p.to_dict() for p in problems],
    )


def resolve_project(settings: Settings, project: Any, root: Any) -> tuple[Path, str]:
    """The project folder (root + relative path, as the watcher would see it) and its
    display name. Refuses anything that is not a folder inside a watch root."""

    def bad(code: str, reason: str, field: str = "project") -> ApiError:
        return invalid("the request", [Problem(code, reason, field=field)])

    if not settings.roots:
        raise bad("no_roots", "this server has no watch roots; start it with --root DIR")
    if not isinstance(project, str) or not project.strip():
        raise bad("invalid_setting", "'project' is required: a folder relative to a watch root")
    rel = PurePosixPath(project.strip())
    if rel.is_absolute() or "\\" in project:
        raise bad("outside_root", "give the project's path relative to a watch root")
    if ".." in rel.parts:
        raise bad("outside_root", "'..' is not allowed in the project path")
    if any(p.startswith(".") or p == "exports" for p in rel.parts):
        raise bad("ignored_folder", "hidden folders and exports/ cannot hold projects")
    if len(rel.parts) > settings.project_depth:
        raise bad("too_deep", f"projects sit at most {settings.project_depth} folders below a root")
    if root is not None and (type(root) is not int or not 0 <= root < len(settings.roots)):
        raise bad("invalid_setting", f"'root' must be 0 to {len(settings.roots) - 1}", "root")
    escaped = False
    for base in [settings.roots[root]] if root is not None else settings.roots:
        folder = base / rel
        real = folder.resolve()
        if not real.is_relative_to(base.resolve()):
            escaped = escaped or real.exists()
        elif real.is_dir():
            return folder, rel.as_posix()
    if escaped:
        raise bad("outside_root", "leads outside the watch root through a symlink")
    raise bad("project_not_found", f"no folder '{rel}' in the watch root(s); create it first")


async def process(request: Request) -> Response:
    web = web_state(request)
    try:
        doc = json.loads(await request.body())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise invalid("the request", [Problem("bad_json", f"the body is not JSON: {exc}")]) from exc
    if not isinstance(doc, dict):
        raise invalid("the request", [Problem("bad_json", "the body must be a JSON object")])
    project, root = doc.pop("project", None), doc.pop("root", None)
    folder, shown = resolve_project(web.settings, project, root)
    content = (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode()
    # A bad document still goes through validate(): its problems and every shot's
    # come back together in one answer.
    _, model, problems = parse_request(content)
    name = f"{model.name}.assembly.json" if model and model.name else "assembly.json"
    status, view = await run_in_threadpool(
        _submit, web, folder / name, f"{shown}/{name}", content, not problems
    )
    return JSONResponse(
        view, status_code=status, headers={"Location": f"/api/v1/assembly/jobs/{view['id']}"}
    )


def _submit(
    web: WebState, path: Path, shown: str, content: bytes, parses: bool
) -> tuple[int, dict[str, Any]]:
    job_id = jobqueue.job_id_for(path, content)
    if parses:
        if jobqueue.exists(web.conn, job_id):
            return 200, web.own_view(job_id)  # the same request again: the same job
        _refuse_to_replace_a_live_request(web, path)
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        with open(temp, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            validate(temp, web.settings)
        except ValidationFailed as exc:
            raise invalid(shown, exc.problems) from None
        os.replace(temp, path)
    except OSError as exc:
        raise ApiError(500, "write_failed", f"cannot write {shown}: {exc.strerror}") from exc
    finally:
        temp.unlink(missing_ok=True)
    outcome = Intake(web.conn, web.settings).process(path)
    try:
        return (202 if outcome == "queued" else 200), web.own_view(job_id)
    except JobNotFound:
        raise ApiError(
            409,
            "already_processed",
            f"{shown} with this content was already processed and its job has "
            "expired; delete its status file or change the request to run it again",
        ) from None


def _refuse_to_replace_a_live_request(web: WebState, path: Path) -> None:
    """Its job would read the new content when it starts: the old request is lost."""
    try:
        old = path.read_bytes()
    except FileNotFoundError:
        return
    old_id = jobqueue.job_id_for(path, old)
    if jobqueue.exists(web.conn, old_id):
        state = jobqueue.view(jobqueue.fetch(web.conn, old_id))["state"]
        if state not in TERMINAL:
            raise ApiError(
                409,
                "request_busy",
                f"{path.name} in this project is {state} as job {old_id}; cancel it "
                "or give the new request another name",
                job_id=old_id,
            )
