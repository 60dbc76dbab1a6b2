"""HTTP handlers of the job API (all but submission, which is :mod:`web.submit`).

RQ and redis-py are synchronous; every call to them runs in the threadpool so a
slow Redis never stalls the event loop that feeds the live streams.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from assemblyd.queue import commands, farm, jobfiles, views
from assemblyd.states import TERMINAL, JobState, Stage

from .details import OpenedFileResponse
from .errors import ApiError
from .state import WebState, web_state

STATES = [s.value for s in JobState]

#: Folders listed for the submit form; a root with more is a NAS, not a project tree.
MAX_PROJECTS = 2000


def _bad_query(field: str, message: str, reason: str) -> ApiError:
    problem = {"code": "invalid_setting", "field": field, "reason": reason}
    return ApiError(422, "invalid_request", message, problems=[problem])


async def list_jobs(request: Request) -> Response:
    """A page of jobs, newest first: ``limit`` of them (default 100, at most 500)
    after ``cursor`` (none: the first page); ``next`` is the cursor of the page after."""
    web = web_state(request)
    query = request.query_params
    state = query.get("state") or None
    project = query.get("project") or None
    if state is not None and state not in STATES:
        raise _bad_query(
            "state", f"state must be one of {', '.join(STATES)}", f"'{state}' is not a job state"
        )
    cursor = None
    if query.get("cursor"):
        cursor = views.Cursor.parse(query["cursor"])
        if cursor is None:
            raise _bad_query(
                "cursor",
                "cursor must be a 'next' value from an earlier page",
                "not a cursor this API gave out",
            )
    limit = views.PAGE
    if query.get("limit"):
        raw = query["limit"]
        if not raw.isdigit() or not 1 <= int(raw) <= views.MAX_PAGE:
            raise _bad_query(
                "limit",
                f"limit must be a whole number from 1 to {views.MAX_PAGE}",
                f"'{raw[:40]}' is not one",
            )
        limit = int(raw)
    page = await run_in_threadpool(web.list_page, state, project, cursor, limit)
    return JSONResponse({"jobs": page["jobs"], "count": len(page["jobs"]), "next": page["next"]})


async def job(request: Request) -> Response:
    """GET a job, or DELETE (cancel) it."""
    return await (cancel_job(request) if request.method == "DELETE" else get_job(request))


async def get_job(request: Request) -> Response:
    web = web_state(request)
    return JSONResponse(await run_in_threadpool(web.own_view, request.path_params["id"]))


async def cancel_job(request: Request) -> Response:
    web = web_state(request)
    job_id = request.path_params["id"]

    def cancel() -> tuple[str, views.JobView]:
        web.own_job(job_id)  # 404 for other queues' jobs too
        outcome = commands.cancel(web.conn, web.settings, job_id)
        return outcome, web.own_view(job_id)

    outcome, view = await run_in_threadpool(cancel)
    # "stopping": the worker got the stop command; the view turns canceled shortly.
    return JSONResponse(
        {"outcome": outcome, "job": view}, status_code=202 if outcome == "stopping" else 200
    )


async def get_export(request: Request) -> Response:
    web = web_state(request)
    view = await run_in_threadpool(web.own_view, request.path_params["id"])
    if view["state"] != "finished" or not view["export"]:
        why = {"failed": "it failed", "canceled": "it was canceled"}.get(
            view["state"], f"it is {view['state']}; the export appears when it finishes"
        )
        raise ApiError(409, "export_not_ready", f"job {view['id']} has no export: {why}")
    # Only the job's own export, inside its project's exports/ (and the project in a
    # watch root): a tampered meta in Redis must not turn this into a way to read any file.
    # Opened and checked by its descriptor, as the job page's files are: a link
    # swapped in after the check is not followed.
    opened = await run_in_threadpool(jobfiles.open_meta_export, view, web.settings)
    if opened is None:
        raise ApiError(
            404,
            "export_missing",
            f"{view['export']} is no longer in {view['project']}; it was moved or deleted",
        )
    return OpenedFileResponse(
        opened, download=bool(request.query_params.get("download")), cache=None
    )


async def healthz(request: Request) -> Response:
    web = web_state(request)
    health = await run_in_threadpool(farm.health, web.conn, web.settings)
    body = {**health, "clients": len(web.hub.subscribers)}
    return JSONResponse(body, status_code=200 if health["redis"] else 503)


async def states(request: Request) -> Response:
    """The job states and stages, for the dashboard: it keeps no copy of its own."""
    return JSONResponse(
        {
            "states": STATES,
            "terminal": [s for s in STATES if s in TERMINAL],
            "stages": [s.value for s in Stage],
        }
    )


async def list_projects(request: Request) -> Response:
    """Folders below the roots that may hold a project, for the submit form."""
    web = web_state(request)
    projects = await run_in_threadpool(_projects, web)
    roots = [str(root) for root in web.settings.roots]
    return JSONResponse({"roots": roots, "projects": projects})


def _projects(web: WebState) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for index, root in enumerate(web.settings.roots):
        base = len(root.parts)
        for folder, dirs, _ in os.walk(root):
            depth = len(Path(folder).parts) - base
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "exports")
            if depth >= web.settings.project_depth:
                dirs[:] = []
            if depth > 0:
                found.append({"root": index, "path": Path(folder).relative_to(root).as_posix()})
            if len(found) >= MAX_PROJECTS:
                return found
    return found
