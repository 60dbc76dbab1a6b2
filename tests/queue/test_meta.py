"""A job's meta: atomic merges on the real Redis, and the last word to whoever ends it."""

from __future__ import annotations

import threading

import pytest
from rq import Queue
from rq.serializers import JSONSerializer

from assemblyd.queue import meta as jobmeta
from assemblyd.queue.adapter import fetch


@pytest.fixture
def job(conn, service_settings):
    queue = Queue(service_settings.queue_name, connection=conn, serializer=JSONSerializer)
    made = queue.enqueue("daemon.jobs.run_assembly", "/nowhere/assembly.json", meta={"a": 1})
    yield made
    if conn.exists(made.key):
        made.delete()


def test_fields_merge_into_what_is_stored_not_into_a_stale_copy(conn, job):
    other = fetch(conn, job.id)
    assert jobmeta.update(other, b=2)
    assert jobmeta.update(job, c=3)  # job's own copy never saw b
    assert fetch(conn, job.id).meta == {"a": 1, "b": 2, "c": 3}


def test_concurrent_writers_lose_nothing(conn, job):
    def bump() -> None:
        mine = fetch(conn, job.id)
        for _ in range(100):
            jobmeta.change(mine, lambda meta: {"n": meta.get("n", 0) + 1})

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert fetch(conn, job.id).meta["n"] == 400


@pytest.mark.parametrize("state", ["finished", "failed", "canceled"])
def test_an_ended_job_keeps_its_verdict(conn, job, state):
    horse = fetch(conn, job.id)  # a copy taken while the job still ran
    assert jobmeta.update(job, state=state, error={"code": "worker_died"})
    assert jobmeta.ended(horse) == state
    assert not jobmeta.update(horse, state="running", progress=50.0)
    assert horse.meta["state"] == state  # the refusal also shows the writer the truth
    assert fetch(conn, job.id).meta == {"a": 1, "state": state, "error": {"code": "worker_died"}}


def test_a_deleted_job_is_not_brought_back_as_a_bare_hash(conn, job):
    stale = fetch(conn, job.id)
    job.delete()
    assert not jobmeta.update(stale, progress=10.0)
    assert not conn.exists(job.key)
