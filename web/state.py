"""What every handler shares: settings, a Redis connection for RQ, and the live hub."""

from __future__ import annotations

from dataclasses import dataclass, field

from redis import Redis
from rq.job import Job
from starlette.requests import HTTPConnection

from assemblyd.queue import views
from assemblyd.queue.views import JobView
from assemblyd.settings import Settings

from .live import Hub


@dataclass
class WebState:
    settings: Settings
    conn: Redis  # synchronous, for RQ: only ever used from the threadpool
    hub: Hub = field(init=False)  # made by create_app: it reads views through list_views

    # The methods below block on Redis: call them through run_in_threadpool.

    def own_job(self, job_id: str) -> Job:
        return views.visible_job(self.conn, self.settings, job_id)

    def own_view(self, job_id: str) -> JobView:
        return views.view(self.own_job(job_id))

    def list_views(self, state: str | None = None, project: str | None = None) -> list[JobView]:
        return views.list_views(self.conn, self.settings, state, project)


def web_state(conn: HTTPConnection) -> WebState:
    state: WebState = conn.app.state.web
    return state
