"""rq-dashboard 0.9 on RQ 3 with JSON jobs (``-j -c assemblyd.queue.dashboard_fix``).

rq-dashboard (``pip install rq-dashboard six``; it imports ``six`` without declaring
it) shows assemblyd's queue, workers and jobs with ``-j`` (RQ's JSON serializer), but
0.9.0 answers 500 on two pages, both fixed upstream after that release:

- ``/<n>/data/workers.json`` while a worker is busy: it lists workers without the
  serializer, so reading the worker's current job unpickles JSON.
- ``/<n>/data/job/<id>.json`` for a job that depends on others (a split request's
  join, and the request itself while it waits for its join): it calls ``.decode()``
  on the dependency ids, which RQ 3 already returns as text.

Given as the dashboard's ``--config`` module, this module is imported once at its
start and mends both; it changes nothing else. rq-dashboard reads registries
without cleaning them, so it never runs a job's callbacks.
"""

from __future__ import annotations

from typing import Any

import rq_dashboard.web as dashboard  # type: ignore[import-untyped, unused-ignore]
from rq import Worker
from rq.job import Job
from rq.serializers import JSONSerializer


class _JSONWorker(Worker):
    @classmethod
    def all(cls, *args: Any, **kwargs: Any) -> list[Any]:
        kwargs.setdefault("serializer", JSONSerializer)
        return list(super().all(*args, **kwargs))


class _TextDependenciesJob(Job):
    @property
    def dependency_ids(self) -> list[bytes]:  # type: ignore[override]
        return [job_id.encode() for job_id in super().dependency_ids]


dashboard.Worker = _JSONWorker
dashboard.Job = _TextDependenciesJob
