"""Lists come in pages that follow a cursor, and a page costs O(page): counted in Redis
commands on a real redis-server (INFO commandstats), never in seconds."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from assemblyd.queue import adapter, index, views
from assemblyd.queue.connection import connect
from assemblyd.queue.embedded import EmbeddedRedis
from assemblyd.settings import Settings
from tests.conftest import JOB_SECRET
from tests.seed import seed_ended_jobs

API = "/api/v1/assembly/jobs"


def _all_pages(app: Any, limit: int, **params: str) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        query = {"limit": str(limit), **params, **({"cursor": cursor} if cursor else {})}
        body = app.http.get(API, params=query).json()
        assert body["count"] == len(body["jobs"]) <= limit
        pages.append([v["id"] for v in body["jobs"]])
        cursor = body["next"]
        if cursor is None:
            return pages


def test_pages_follow_the_cursor_newest_first(app, conn, service_settings):
    ids = seed_ended_jobs(conn, service_settings, 250)
    pages = _all_pages(app, 40)
    assert [len(p) for p in pages] == [40] * 6 + [10]
    listed = [i for page in pages for i in page]
    assert listed == ids[::-1]  # every request once, newest first; the parts never
    # Without a cursor: the first page (100 by default), as before pagination.
    first = app.http.get(API).json()
    assert [v["id"] for v in first["jobs"]] == ids[::-1][:100] and first["next"]


def test_new_jobs_do_not_shift_the_next_pages(app, conn, service_settings):
    ids = seed_ended_jobs(conn, service_settings, 60)
    first = app.http.get(API, params={"limit": "25"}).json()
    newer = seed_ended_jobs(
        conn, service_settings, 5, start=datetime.now(UTC) + timedelta(hours=1), prefix="asm-new"
    )
    second = app.http.get(API, params={"limit": "25", "cursor": first["next"]}).json()
    assert [v["id"] for v in second["jobs"]] == ids[::-1][25:50]
    top = app.http.get(API, params={"limit": "5"}).json()
    assert [v["id"] for v in top["jobs"]] == newer[::-1]


def test_a_filtered_page_reads_a_bounded_number_of_jobs_and_the_cursor_goes_on(
    app, conn, service_settings
):
    ids = seed_ended_jobs(conn, service_settings, 300, states=("finished",) * 99 + ("failed",))
    failed = [i for n, i in enumerate(ids) if n % 100 == 99]
    pages = _all_pages(app, 10, state="failed")
    # At most 5 x 10 jobs read per page: 300 jobs take 6 pages (and an empty seventh
    # if the sixth ended exactly at the last job), most of them empty.
    assert 6 <= len(pages) <= 7
    assert [i for page in pages for i in page] == failed[::-1]


def test_jobs_redis_expired_are_skipped_and_forgotten(app, conn, service_settings):
    ids = seed_ended_jobs(conn, service_settings, 30)
    for job_id in ids[10:20]:
        conn.delete(f"rq:job:{job_id}")  # result_ttl ran out
    listed = [i for page in _all_pages(app, 7) for i in page]
    assert listed == [i for i in ids[::-1] if i not in ids[10:20]]
    assert conn.zcard(index.key(service_settings.queue_name)) == 20


def test_bad_cursors_and_limits_are_refused(app):
    for params in ({"cursor": "nope"}, {"limit": "0"}, {"limit": "501"}, {"limit": "ten"}):
        answer = app.http.get(API, params=params)
        assert answer.status_code == 422, params
        assert answer.json()["code"] == "invalid_request"


def test_a_snapshot_is_the_first_page_with_its_cursor(app, conn, service_settings):
    import json

    from websockets.sync.client import connect as ws_connect

    ids = seed_ended_jobs(conn, service_settings, 130)
    with ws_connect(app.ws_url + "/api/v1/assembly/ws") as ws:
        first = json.loads(ws.recv(timeout=30))
    assert first["type"] == "snapshot"
    assert [v["id"] for v in first["jobs"]] == ids[::-1][:100]
    rest = app.http.get(API, params={"cursor": first["next"]}).json()
    assert [v["id"] for v in rest["jobs"]] == ids[::-1][100:] and rest["next"] is None


# --- what a page costs ---------------------------------------------------------------


@pytest.fixture
def private_redis() -> Iterator[Any]:
    """A redis-server of this test alone: its command counters count only us."""
    state = Path(tempfile.mkdtemp(prefix="asm-p-", dir="/tmp"))
    server = EmbeddedRedis(state)
    url = server.start()
    yield connect(url)
    server.stop()
    shutil.rmtree(state, ignore_errors=True)


def _commands(conn: Any, action: Any) -> dict[str, int]:
    """The Redis commands ``action()`` sends, by name."""
    conn.config_resetstat()
    action()
    stats = conn.info("commandstats")
    calls = {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}
    calls["info"] = calls.get("info", 1) - 1  # this very INFO
    return {name: n for name, n in calls.items() if n}


def test_a_page_costs_the_same_with_200_or_5000_jobs_in_redis(private_redis):
    conn = private_redis
    settings = Settings(
        redis_url="unix:///unused",
        queue_name=f"p-{uuid.uuid4().hex[:6]}",
        job_secret=SecretStr(JOB_SECRET),
    )
    seed_ended_jobs(conn, settings, 200)

    def page() -> None:
        views.list_page(conn, settings, limit=20)

    def next_page() -> None:
        first = views.list_page(conn, settings, limit=20)
        views.list_page(conn, settings, cursor=views.Cursor.parse(str(first["next"])), limit=20)

    few, few_two = _commands(conn, page), _commands(conn, next_page)
    seed_ended_jobs(
        conn, settings, 4800, start=datetime.now(UTC) - timedelta(days=3), prefix="asm-old"
    )
    many, many_two = _commands(conn, page), _commands(conn, next_page)
    assert many == few and many_two == few_two, (few, many)
    # One HGETALL per job shown, a handful of commands besides: O(page).
    assert few["hgetall"] == 20 and sum(few.values()) <= 20 + 5, few
    # The old way read every job of every registry: thousands of commands here.
    assert sum(_commands(conn, lambda: views.all_jobs(conn, settings)).values()) > 5000


def test_an_upgrade_indexes_the_jobs_already_in_redis_once(private_redis):
    conn = private_redis
    settings = Settings(
        redis_url="unix:///unused", queue_name="upgrade", job_secret=SecretStr(JOB_SECRET)
    )
    ids = seed_ended_jobs(conn, settings, 30)
    conn.delete(index.key(settings.queue_name))  # as jobs queued before the index exist
    assert views.list_page(conn, settings)["jobs"] == []
    assert views.build_index(conn, settings) == 30
    assert views.build_index(conn, settings) == 0  # once
    assert [v["id"] for v in views.list_page(conn, settings)["jobs"]] == ids[::-1]
    assert adapter.open_queue(conn, settings).count == 0
