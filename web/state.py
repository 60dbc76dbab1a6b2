"""What every handler shares: settings, a Redis connection for RQ, and the live hub."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from redis import Redis
from rq.job import Job
from starlette.requests import HTTPConnection

from daemon import jobqueue
from daemon.errors import JobNotFound
from daemon.settings import Settings

from .live import Hub


@dataclass
class WebState:
    settings: Settings
    conn: Redis  # synchronous, for RQ: only ever used from the threadpool
    hub: Hub = field(init=False)  # made by create_app: it reads views through list_views

    # The methods below block on Redis: call them through run_in_threadpool.

    def own_job(self, job_id: str) -> Job:
        """The job, if users may see it: it is on this app's queue (another queue
        sharing the Redis is someone else's business) and it is not a piece of
        another job (fan-out's part and join jobs act for their parent)."""
        job = jobqueue.fetch(self.conn, job_id)
        if job.origin != self.settings.queue_name or _is_piece(job):
            raise JobNotFound(f"no job with id {job_id}")
        return job

    def own_view(self, job_id: str) -> dict[str, Any]:
        return jobqueue.view(self.own_job(job_id))

    def list_views(
        self, state: str | None = None, project: str | None = None
    ) -> list[dict[str, Any]]:
        """As :func:`daemon.jobqueue.list_views`, without fan-out's pieces."""
        views = [
            jobqueue.view(j)
            for j in jobqueue.all_jobs(self.conn, self.settings)
            if not _is_piece(j)
        ]
        if state:
            views = [v for v in views if v["state"] == state]
        if project:
            views = [v for v in views if v["project"] and project in v["project"]]
        return sorted(views, key=lambda v: v["queued_at"] or "", reverse=True)


def _is_piece(job: Job) -> bool:
    return bool((job.meta or {}).get("parent"))


def web_state(conn: HTTPConnection) -> WebState:
    state: WebState = conn.app.state.web
    return state
