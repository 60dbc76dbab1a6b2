"""What every handler shares: settings, a Redis connection for RQ, and the live hub."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry
from redis import Redis
from rq.job import Job
from starlette.requests import HTTPConnection

from assemblyd.errors import JobNotFound
from assemblyd.queue import views
from assemblyd.queue.views import Cursor, JobView, Page
from assemblyd.settings import Settings

from .live import Hub


@dataclass
class WebState:
    settings: Settings
    conn: Redis  # synchronous, for RQ: only ever used from the threadpool
    hub: Hub = field(init=False)  # made by create_app: it reads views through snapshot_page
    metrics: CollectorRegistry = field(init=False)  # made by create_app (see web.metrics)

    # The methods below block on Redis: call them through run_in_threadpool.

    def own_job(self, job_id: str) -> Job:
        return views.visible_job(self.conn, self.settings, job_id)

    def own_view(self, job_id: str) -> JobView:
        return views.view(self.own_job(job_id))

    def list_page(
        self,
        state: str | None = None,
        project: str | None = None,
        cursor: Cursor | None = None,
        limit: int = views.PAGE,
    ) -> Page:
        return views.list_page(self.conn, self.settings, state, project, cursor, limit)

    def snapshot_page(self, job: str | None = None) -> Page:
        """What a live client starts from: the first page, or its one job."""
        if job is None:
            return self.list_page()
        try:
            return Page(jobs=[self.own_view(job)], next=None)
        except JobNotFound:
            return Page(jobs=[], next=None)


def web_state(conn: HTTPConnection) -> WebState:
    state: WebState = conn.app.state.web
    return state
