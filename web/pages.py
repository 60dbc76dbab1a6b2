"""Pages other than the dashboard: a job's own page. Static HTML; its script asks the
API for everything, so the page itself needs no job and cannot leak one."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response

STATIC = Path(__file__).with_name("static")


async def job_page(request: Request) -> Response:
    # no-cache: after an upgrade, the page must not run yesterday's script.
    return FileResponse(STATIC / "job.html", headers={"Cache-Control": "no-cache"})
