"""The live feed: every change of a job is published as its view on one channel.

Workers, cancels and admission publish; the web app's hub listens.
"""

from __future__ import annotations

import json

from redis import Redis
from rq.job import Job

from .views import JobView, view

CHANNEL = "assemblyd:events"


def publish(conn: Redis, job_view: JobView) -> None:
    conn.publish(CHANNEL, json.dumps(job_view))


def announce(job: Job) -> None:
    """Publish ``job``'s current view to everyone listening."""
    publish(job.connection, view(job))
