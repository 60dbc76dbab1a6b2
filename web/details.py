"""The job page's API: a job's shots, outputs and warnings, and the files it made.

Files are served only through :func:`assemblyd.queue.jobfiles.open_file`: the ones the
job's entry in ``project.json`` names, found directly in the project's ``exports/``
(pictures in ``exports/.thumbs/``), and served from the descriptor that was checked.
URLs are made from the route names, so they follow the routes in :mod:`web.app`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from assemblyd.queue import details, jobfiles
from assemblyd.queue.details import JobDetails
from assemblyd.queue.jobfiles import FileKind, OpenedFile

from .errors import ApiError
from .state import web_state

#: Route name of each kind of file (web/app.py names its routes so).
ROUTES: dict[FileKind, str] = {
    "export": "job_export",
    "poster": "job_export_poster",
    "sheet": "job_export_sheet",
    "timeline": "job_export_timeline",
    "thumbnail": "job_shot_thumbnail",
}
_WHAT = {
    "export": "export",
    "poster": "poster",
    "sheet": "contact sheet",
    "timeline": "timeline",
    "thumbnail": "thumbnail",
}
#: A picture's name never changes once published (exports are never overwritten).
_PICTURE_CACHE = "private, max-age=3600"


class OpenedFileResponse(FileResponse):
    """A :class:`FileResponse` of a file held open: its descriptor is closed once the
    response is sent, or failed to be."""

    def __init__(self, opened: OpenedFile, *, download: bool, cache: str | None) -> None:
        super().__init__(
            opened.serve_path,
            media_type=opened.media_type,
            filename=opened.path.name,
            stat_result=opened.stat,
            content_disposition_type="attachment" if download else "inline",
            headers={"Cache-Control": cache} if cache else None,
        )
        self.opened = opened

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.opened.close()


async def job_details(request: Request) -> Response:
    web = web_state(request)
    job_id = request.path_params["id"]
    found = await run_in_threadpool(lambda: details.job_details(web.own_view(job_id), web.settings))
    return JSONResponse(with_urls(request, found))


def _url(request: Request, kind: FileKind, job_id: str, index: int) -> str:
    return str(request.app.url_path_for(ROUTES[kind], id=job_id, n=index))


def with_urls(request: Request, found: JobDetails) -> dict[str, Any]:
    """The details with a URL beside every file that can be served now."""
    job_id = found["job"]["id"]
    finished = found["job"]["state"] == "finished"
    outputs = []
    for out in found["outputs"]:
        url = _url(request, "export", job_id, out["index"])
        served = finished and out["available"]
        extra = {
            "url": url if served else None,
            "download_url": f"{url}?download=1" if served else None,
        }
        for kind in ("poster", "sheet", "timeline"):
            extra[f"{kind}_url"] = _url(request, kind, job_id, out["index"]) if out[kind] else None
        outputs.append({**out, **extra})
    shots = [
        {
            **shot,
            "thumbnail_url": (
                _url(request, "thumbnail", job_id, shot["index"]) if shot["thumbnail"] else None
            ),
        }
        for shot in found["shots"]
    ]
    poster = next((out["poster_url"] for out in outputs if out["poster_url"]), None)
    return {**found, "poster_url": poster, "outputs": outputs, "shots": shots}


def _serve(kind: FileKind, *, finished: bool = False) -> Callable[[Request], Awaitable[Response]]:
    async def handler(request: Request) -> Response:
        web = web_state(request)
        job_id = request.path_params["id"]
        index: int = request.path_params.get("n", 0)

        def find() -> OpenedFile | None:
            view = web.own_view(job_id)
            if finished and view["state"] != "finished":
                raise ApiError(
                    409,
                    "export_not_ready",
                    f"job {job_id} has no export: it is {view['state']}",
                )
            return jobfiles.open_file(view, web.settings, kind, index)

        opened = await run_in_threadpool(find)
        if opened is None:
            code = "export_missing" if kind == "export" else "file_missing"
            whose = "shot" if kind == "thumbnail" else "output"
            raise ApiError(
                404,
                code,
                f"job {job_id} has no {_WHAT[kind]} for {whose} {index} in its project's "
                "exports; it was never made, or was moved or deleted",
            )
        asked = bool(request.query_params.get("download"))
        picture = kind in ("poster", "sheet", "thumbnail")
        return OpenedFileResponse(
            opened,
            download=kind == "timeline" or (kind == "export" and asked),
            cache=_PICTURE_CACHE if picture else None,
        )

    return handler


export_file = _serve("export", finished=True)
export_poster = _serve("poster")
export_sheet = _serve("sheet")
export_timeline = _serve("timeline")
shot_thumbnail = _serve("thumbnail")


def routes(api: str) -> list[Route]:
    """The job page's API routes below ``api``; web/app.py mounts them."""
    job = f"{api}/jobs/{{id}}"
    export = f"{job}/exports/{{n:int}}"
    return [
        Route(f"{job}/details", job_details, methods=["GET"]),
        # The job's poster for the job list: its first output's (n defaults to 0).
        Route(f"{job}/poster", export_poster, methods=["GET"]),
        Route(export, export_file, methods=["GET"], name=ROUTES["export"]),
        Route(f"{export}/poster", export_poster, methods=["GET"], name=ROUTES["poster"]),
        Route(f"{export}/sheet", export_sheet, methods=["GET"], name=ROUTES["sheet"]),
        Route(f"{export}/timeline", export_timeline, methods=["GET"], name=ROUTES["timeline"]),
        Route(
            f"{job}/shots/{{n:int}}/thumbnail",
            shot_thumbnail,
            methods=["GET"],
            name=ROUTES["thumbnail"],
        ),
    ]
