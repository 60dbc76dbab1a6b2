"""GET /metrics: Prometheus text format (or OpenMetrics, if the scraper asks for it).

Read live at each scrape (a collector, not values kept in this process: renders run
in other processes and on other machines), with the API's token like every route
but /healthz. One scrape is a handful of Redis reads, O(workers), whatever the
number of jobs. Each app has its own registry: no process or GC metrics, no
clashes between apps in one process.

| metric | type | labels |
|---|---|---|
| ``assemblyd_redis_up`` | gauge | 1 if Redis answered this scrape |
| ``assemblyd_queue_depth`` | gauge | queue: jobs waiting for a worker |
| ``assemblyd_jobs`` | gauge | queue, state: RQ jobs (requests and their parts) per RQ state |
| ``assemblyd_jobs_ended_total`` | counter | queue, state: requests ended, by their end |
| ``assemblyd_render_seconds`` | histogram | queue, strategy: seconds of the render stage |
| ``assemblyd_segments_total`` | counter | queue, how: segments encoded, cached or copied |
| ``assemblyd_workers`` | gauge | queue: live workers |
| ``assemblyd_workers_busy`` | gauge | queue: workers running a job |
| ``assemblyd_watcher_up`` | gauge | watcher: 1 while its observers are alive |
| ``assemblyd_watcher_last_scan_timestamp_seconds`` | gauge | watcher: its last full rescan |
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response

from assemblyd.queue.farm import farm_status

from .state import WebState, web_state


class FarmCollector(Collector):
    def __init__(self, web: WebState) -> None:
        self.web = web

    def collect(self) -> Iterator[Metric]:
        farm = farm_status(self.web.conn, self.web.settings)
        queue = farm["queue"]
        up = GaugeMetricFamily("assemblyd_redis_up", "1 if Redis answered this scrape")
        up.add_metric([], 1 if farm["redis"] else 0)
        yield up
        if not farm["redis"]:
            return
        depth = GaugeMetricFamily(
            "assemblyd_queue_depth", "Jobs waiting for a worker", labels=["queue"]
        )
        depth.add_metric([queue], farm["depth"])
        yield depth
        jobs = GaugeMetricFamily(
            "assemblyd_jobs",
            "RQ jobs (requests and the parts of split ones) per RQ state",
            labels=["queue", "state"],
        )
        for state, count in farm["rq"].items():
            jobs.add_metric([queue, state], count)
        yield jobs
        workers = GaugeMetricFamily("assemblyd_workers", "Live workers", labels=["queue"])
        workers.add_metric([queue], len(farm["workers"]))
        yield workers
        busy = GaugeMetricFamily(
            "assemblyd_workers_busy", "Workers running a job", labels=["queue"]
        )
        busy.add_metric([queue], sum(1 for w in farm["workers"] if w["job"]))
        yield busy
        alive = GaugeMetricFamily(
            "assemblyd_watcher_up", "1 while the watcher's observers are alive", labels=["watcher"]
        )
        scanned = GaugeMetricFamily(
            "assemblyd_watcher_last_scan_timestamp_seconds",
            "When the watcher last walked its roots",
            labels=["watcher"],
        )
        for beat in farm["watchers"]:
            alive.add_metric([beat["name"]], 1 if beat["observers_alive"] else 0)
            if beat["last_scan"]:
                scanned.add_metric(
                    [beat["name"]], datetime.fromisoformat(beat["last_scan"]).timestamp()
                )
        yield alive
        yield scanned
        counters = farm["counters"]
        if counters is None:
            return
        ended = CounterMetricFamily(
            "assemblyd_jobs_ended", "Requests ended, by their end", labels=["queue", "state"]
        )
        for state, total in sorted(counters["ended"].items()):
            ended.add_metric([queue, state], total)
        yield ended
        renders = HistogramMetricFamily(
            "assemblyd_render_seconds",
            "Seconds of the render stage, by strategy",
            labels=["queue", "strategy"],
        )
        for strategy, hist in counters["renders"].items():
            renders.add_metric([queue, strategy], hist["buckets"], hist["sum"])
        yield renders
        segments = CounterMetricFamily(
            "assemblyd_segments", "Segments by how renders got them", labels=["queue", "how"]
        )
        for how, total in counters["segments"].items():
            segments.add_metric([queue, how], total)
        yield segments


def registry_for(web: WebState) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FarmCollector(web))
    return registry


def endpoint(request: Request) -> Response:
    """Synchronous on purpose: Starlette runs it in the threadpool, so the Redis reads
    of a scrape never stall the event loop that feeds the live streams."""
    web = web_state(request)
    encoder, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encoder(web.metrics), headers={"Content-Type": content_type})
