"""POST /api/v1/assembly/process: an API submission is a dropped file, made safely.

The body is the request document plus ``"project"`` (a folder relative to a watch
root) and optionally ``"root"`` (the index of the root; by default the first root
holding that folder). The request is written into that folder and admitted like a
dropped file (see :func:`assemblyd.queue.commands.submit`).
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from assemblyd import untrusted
from assemblyd.errors import Problem, UnsafeInput, ValidationFailed
from assemblyd.queue import commands
from assemblyd.settings import Settings

from .state import web_state


def _invalid(problem: Problem) -> ValidationFailed:
    return ValidationFailed("the request", [problem])


def resolve_project(settings: Settings, project: object, root: object) -> tuple[Path, str]:
    """The project folder (root + relative path, as the watcher would see it) and its
    display name. Refuses anything that is not a folder inside a watch root."""

    def bad(code: str, reason: str, field: str = "project") -> ValidationFailed:
        return _invalid(Problem(code, reason, field=field))

    if not settings.roots:
        raise bad("no_roots", "this server has no watch roots; start it with --root DIR")
    if not isinstance(project, str) or not project.strip():
        raise bad("invalid_setting", "'project' is required: a folder relative to a watch root")
    if not project.isprintable():
        raise bad("invalid_setting", "'project' holds a control character (a NUL, a newline...)")
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
    for base in [settings.roots[root]] if isinstance(root, int) else settings.roots:
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
        doc = untrusted.loads(await request.body(), what="the body")
    except UnsafeInput as exc:
        raise _invalid(Problem(exc.code, exc.reason)) from None
    if not isinstance(doc, dict):
        raise _invalid(Problem("bad_json", "the body must be a JSON object"))
    project, root = doc.pop("project", None), doc.pop("root", None)
    folder, shown = resolve_project(web.settings, project, root)
    content = (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode()
    outcome, view = await run_in_threadpool(
        commands.submit, web.conn, web.settings, folder, shown, content
    )
    return JSONResponse(
        view,
        status_code=202 if outcome == commands.Outcome.QUEUED else 200,
        headers={"Location": f"/api/v1/assembly/jobs/{view['id']}"},
    )
