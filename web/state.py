"""What every handler shares: settings, a Redis connection for RQ, and the live hub."""

from __future__ import annotations

from dataclasses import dataclass
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
    hub: Hub

    # The methods below block on Redis: call them through run_in_threadpool.

    def own_job(self, job_id: str) -> Job:
        """The job, if it belongs to this app's queue: another queue sharing the
        Redis is someone else's business, and 404 here."""
        job = jobqueue.fetch(self.conn, job_id)
        if job.origin != self.settings.queue_name:
            raise JobNotFound(f"no job with id {job_id}")
        return job

    def own_view(self, job_id: str) -> dict[str, Any]:
        return jobqueue.view(self.own_job(job_id))


def web_state(conn: HTTPConnection) -> WebState:
    state: WebState = conn.app.state.web
    return state
