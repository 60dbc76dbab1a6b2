"""The ``assemblyd`` command.

Every error is one line on stderr (a traceback only with ``--log-level DEBUG``),
with an exit code that says what kind: 0 done, 1 failed, 2 invalid request or
invalid settings (a Redis that refuses our credentials included), 3 Redis
unreachable, 130 canceled.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from . import __version__
from .errors import (
    AssemblyError,
    BadSettings,
    Canceled,
    RedisUnavailable,
    ValidationFailed,
    describe,
)
from .settings import Settings, install, load_settings
from .states import JobState

if TYPE_CHECKING:
    from redis import Redis

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_UNAVAILABLE, EXIT_CANCELED = 0, 1, 2, 3, 130

log = logging.getLogger("assemblyd")


def _settings(args: argparse.Namespace) -> Settings:
    if args.config:
        os.environ["ASSEMBLYD_CONFIG"] = str(args.config)
        if not Path(args.config).is_file():
            raise SystemExit(f"assemblyd: config file not found: {args.config}")
    overrides: dict[str, Any] = {
        "log_level": args.log_level,
        "log_format": args.log_format,
        "ffmpeg_threads": getattr(args, "threads", None),
        "decode_check": getattr(args, "decode_check", None),
        "roots": getattr(args, "root", None),
        "workers": getattr(args, "workers", None),
        "observer": getattr(args, "observer", None),
        "web_port": getattr(args, "port", None),
        "web_host": getattr(args, "host", None),
    }
    try:
        settings = load_settings(**overrides)
    except ValidationError as exc:
        raise BadSettings(_settings_problem(exc)) from None
    install(settings)
    handler = logging.StreamHandler()
    if settings.log_format == "json":
        handler.setFormatter(JsonLines())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=settings.log_level.upper(), handlers=[handler], force=True)
    return settings


class JsonLines(logging.Formatter):
    """``log_format = "json"``: one JSON object per line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def _settings_problem(exc: ValidationError) -> str:
    """The first bad setting, in one line: where it is named, and why it is wrong."""
    err = exc.errors()[0]
    name = ".".join(str(p) for p in err["loc"]) or "settings"
    reason = str(err["msg"]).removeprefix("Value error, ")
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"invalid setting {name}: {reason}{more}"


def _stop_on_sigterm() -> None:
    """SIGTERM cancels an in-process render the same way Ctrl-C does."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def cmd_validate(args: argparse.Namespace) -> int:
    from .pipeline.plan import make_plans
    from .pipeline.validate import validate

    settings = _settings(args)
    validated = validate(args.request, settings)
    plans = make_plans(validated, settings)
    pieces = sum(1 for seg in plans[0].segments if not seg.is_gap)
    what = "event(s)" if validated.conform is not None else "shot(s)"
    print(
        f"{args.request}: OK, {pieces} {what}, {plans[0].duration:.2f} s "
        f"({plans[0].total_frames} frames)"
    )
    for plan in plans:
        out = plan.output
        name = validated.request.export_name(validated.request_path, out)
        print(
            f"  -> {name}.{out.output_format}: {out.resolution} @ {out.fps} fps, "
            f"{out.quality_preset}, {plan.strategy}"
        )
    if validated.conform is not None:
        for notice in validated.conform.warnings + [
            n for e in validated.conform.events for n in e.warnings
        ]:
            print(f"  warning: {notice['message']}")
    return EXIT_OK


def _render_here(request: Path, settings: Settings, quiet: bool = False) -> int:
    """Render ``request`` in this process, with a progress bar unless ``quiet``."""
    from .pipeline.progress import Progress, TerminalBar
    from .pipeline.run import assemble

    _stop_on_sigterm()
    bar = None if quiet else TerminalBar(file=sys.stderr)
    progress = Progress(*([bar] if bar else []))
    try:
        result = assemble(request, settings, progress)
    finally:
        if bar:
            bar.close()
    for out in result.outputs:
        print(out.export)
    return EXIT_OK


def cmd_render(args: argparse.Namespace) -> int:
    return _render_here(args.request, _settings(args), args.quiet)


def cmd_schema(args: argparse.Namespace) -> int:
    from .request.schema import json_schema

    text = json.dumps(json_schema(), indent=2) + "\n"
    if args.write:
        Path(args.write).write_text(text)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from .media.samples import write_demo_project

    settings = _settings(args)
    print(f"Generating a sample project in {args.dir} ...", file=sys.stderr)
    request = write_demo_project(Path(args.dir), shots=args.shots)
    if args.no_render:
        print(request)
        return EXIT_OK
    return _render_here(request, settings)


def _need_roots(settings: Settings) -> None:
    if not settings.roots:
        raise SystemExit("assemblyd: no watch root; pass --root DIR or set roots in the config")


def cmd_watch(args: argparse.Namespace) -> int:
    from .service import Service

    settings = _settings(args)
    _need_roots(settings)
    return Service(settings, workers=0).run()


def cmd_up(args: argparse.Namespace) -> int:
    from .service import Service

    settings = _settings(args)
    _need_roots(settings)
    if args.demo:
        from .media.samples import write_demo_project

        target = settings.roots[0] / "demo"
        if not target.exists():
            print(f"assemblyd: writing a sample project to {target}", file=sys.stderr)
            settings.roots[0].mkdir(parents=True, exist_ok=True)
            write_demo_project(target)
    for root in settings.roots:
        root.mkdir(parents=True, exist_ok=True)
    return Service(settings, workers=settings.workers, web=not args.no_web).run()


def cmd_web(args: argparse.Namespace) -> int:
    from assemblyd.web.server import serve

    from .queue import signing
    from .queue.connection import redis_url
    from .queue.views import build_index

    settings = _settings(args)
    signing.job_secret(settings)  # submissions are signed jobs: one line now if it is missing
    conn = _connection(settings)
    build_index(conn, settings)
    return serve(settings, redis_url(settings))


def cmd_worker(args: argparse.Namespace) -> int:
    from .queue.worker import run_worker

    settings = _settings(args)
    run_worker(settings, burst=args.burst, max_jobs=args.max_jobs)
    return EXIT_OK


def _connection(settings: Settings) -> Redis:
    from redis.exceptions import RedisError

    from .queue.connection import check, open_redis, redis_url, shown_url

    conn = open_redis(settings)
    try:
        if check(conn, settings):
            return conn
        raise RedisError("no answer")
    except RedisError as exc:
        where = shown_url(redis_url(settings))
        raise RedisUnavailable(f"cannot reach Redis at {where}: {exc}") from None


def cmd_jobs(args: argparse.Namespace) -> int:
    from .queue.views import Cursor, list_page

    settings = _settings(args)
    cursor = Cursor.parse(args.cursor) if args.cursor else None
    if args.cursor and cursor is None:
        raise SystemExit(f"assemblyd: --cursor {args.cursor!r} is not a cursor `jobs` printed")
    page = list_page(
        _connection(settings),
        settings,
        state=args.state,
        project=args.project,
        cursor=cursor,
        limit=args.limit,
    )
    views = page["jobs"]
    if args.json:
        print(json.dumps(views, indent=2))
    elif not views:
        print("no jobs", file=sys.stderr)
    for v in [] if args.json else views:
        line = f"{v['id']}  {v['state']:<9} {v['progress']:5.1f}%  {v['stage']:<8} {v['request']}"
        if v["error"]:
            line += f"\n    {v['error']['message']}"
        elif v["export"]:
            line += f"\n    -> {v['export']}"
        print(line)
    if page["next"]:
        # On stderr: --json's output stays a plain list.
        print(f"(older jobs: assemblyd jobs --cursor {page['next']})", file=sys.stderr)
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    """Redis, workers, watchers and the queue, in one screen. Exit 0 when Redis, a
    watcher and at least one worker are there; 1 when one of them is missing."""
    from .queue.connection import redis_url, shown_url
    from .queue.farm import farm_status

    settings = _settings(args)
    farm = farm_status(_connection(settings), settings)
    if args.json:
        print(json.dumps(farm, indent=2))
    else:
        _print_status(farm, shown_url(redis_url(settings)))
    healthy = (
        farm["redis"] and farm["workers"] and any(w["observers_alive"] for w in farm["watchers"])
    )
    return EXIT_OK if healthy else EXIT_FAILED


def _print_status(farm: Any, url: str) -> None:
    print(f"assemblyd {__version__}")
    print(f"redis     {url}: {'up' if farm['redis'] else 'DOWN'}")
    rq = farm["rq"]
    print(
        f"queue     {farm['queue']}: {farm['depth']} waiting, {rq.get('started', 0)} running, "
        f"{rq.get('deferred', 0)} deferred; {rq.get('finished', 0)} finished, "
        f"{rq.get('failed', 0)} failed, {rq.get('canceled', 0)} canceled (kept in Redis)"
    )
    if not farm["watchers"]:
        print("watcher   NONE: nothing queues new requests")
    for beat in farm["watchers"]:
        state = "alive" if beat["observers_alive"] else "OBSERVERS DEAD"
        scan = beat["last_scan"] or "not yet"
        print(
            f"watcher   {beat['name']}: {state}, last scan {scan}, roots {', '.join(beat['roots'])}"
        )
    if not farm["workers"]:
        print("workers   NONE: nothing renders")
    for w in farm["workers"]:
        setup = w["setup"]
        threads = setup.get("ffmpeg_threads")
        detail = f"threads {threads or 'auto'}" if threads is not None else ""
        doing = f"running {w['job']}" if w["job"] else w["state"]
        print(f"worker    {w['name']}: {doing}" + (f" ({detail})" if detail else ""))


def cmd_cancel(args: argparse.Namespace) -> int:
    import time

    from .queue.commands import cancel
    from .queue.views import visible_view

    settings = _settings(args)
    conn = _connection(settings)
    outcome = cancel(conn, settings, args.job_id)
    deadline = time.monotonic() + args.wait
    state = visible_view(conn, settings, args.job_id)["state"]
    while state != JobState.CANCELED and time.monotonic() < deadline:
        time.sleep(0.1)
        state = visible_view(conn, settings, args.job_id)["state"]
    print(f"{args.job_id}: {state}" + ("" if state == "canceled" else f" ({outcome})"))
    return EXIT_OK if state == "canceled" else EXIT_FAILED


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="assemblyd",
        description="Assemble shot lists (assembly.json) into verified video exports.",
    )
    parser.add_argument("--config", type=Path, help="TOML settings file (default: see README)")
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING or ERROR")
    parser.add_argument("--log-format", choices=["text", "json"], help="json: one object a line")
    parser.add_argument("--version", action="version", version=f"assemblyd {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str, func: Callable[[argparse.Namespace], int], help: str
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        return p

    p = add("validate", cmd_validate, "Check a request and every shot without rendering.")
    p.add_argument("request", type=Path)
    p.add_argument("--decode-check", choices=["keyframes", "full"])

    p = add("render", cmd_render, "Validate, render and publish a request in this process.")
    p.add_argument("request", type=Path)
    p.add_argument("--threads", type=int, help="ffmpeg encoder threads (0 = all cores)")
    p.add_argument("--decode-check", choices=["keyframes", "full"])
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    def root_flag(
        p: argparse.ArgumentParser, help: str = "a watch root (repeat for several)"
    ) -> None:
        p.add_argument("--root", action="append", type=Path, metavar="DIR", help=help)

    #: Without redis_url, a command finds the embedded Redis of `up`/`watch` by its roots.
    whose = "the roots of the `up` or `watch` whose embedded Redis to use (no redis_url)"

    def service_flags(p: argparse.ArgumentParser) -> None:
        root_flag(p)
        p.add_argument("--observer", choices=["auto", "inotify", "polling"])

    def threads_flag(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--threads", type=int, help="ffmpeg threads per worker (0 = automatic, the default)"
        )

    p = add("up", cmd_up, "Run everything: embedded Redis if none is configured, workers, watcher.")
    service_flags(p)
    threads_flag(p)
    p.add_argument("--workers", type=int, help="worker processes (default 1)")
    p.add_argument(
        "--demo",
        action="store_true",
        help="first write a sample project with generated shots into the root",
    )
    p.add_argument("--port", type=int, help="dashboard port (default 8000)")
    p.add_argument("--host", help="dashboard address (default 127.0.0.1)")
    p.add_argument("--no-web", action="store_true", help="no dashboard")

    p = add("web", cmd_web, "Serve the API and the dashboard (needs a running Redis).")
    root_flag(p, "a watch root that API submissions may target (repeat for several)")
    p.add_argument("--port", type=int, help="port (default 8000)")
    p.add_argument("--host", help="address (default 127.0.0.1)")

    p = add("watch", cmd_watch, "Watch the roots and queue requests (no workers).")
    service_flags(p)

    p = add("worker", cmd_worker, "Run one RQ worker that renders queued requests.")
    root_flag(p, "a watch root as this machine mounts it (shared cache; " + whose + ")")
    threads_flag(p)
    p.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    p.add_argument("--max-jobs", type=int, help="exit after this many jobs (recycles memory)")

    p = add("jobs", cmd_jobs, "List jobs with their state and progress, newest first.")
    root_flag(p, whose)
    p.add_argument("--state", choices=[s.value for s in JobState])
    p.add_argument("--project", help="only jobs whose project path contains this")
    p.add_argument("--limit", type=int, default=50, help="jobs per page (default 50, at most 500)")
    p.add_argument("--cursor", help="the page after the one that printed this cursor")
    p.add_argument("--json", action="store_true")

    p = add("status", cmd_status, "Redis, workers, watchers and the queue, in one screen.")
    root_flag(p, whose)
    p.add_argument("--json", action="store_true")

    p = add("cancel", cmd_cancel, "Cancel a queued or running job.")
    root_flag(p, whose)
    p.add_argument("job_id")
    p.add_argument("--wait", type=float, default=15.0, help="seconds to wait for it to stop")

    p = add("schema", cmd_schema, "Print the JSON Schema of assembly.json.")
    p.add_argument("--write", type=Path, help="write it to this file instead")

    p = add("demo", cmd_demo, "Generate a sample project with 10 shots and render it.")
    p.add_argument("dir", nargs="?", default="assemblyd-demo", type=Path)
    p.add_argument("--shots", type=int, default=10)
    p.add_argument("--no-render", action="store_true", help="only write the project")
    return parser


def _from_redis(exc: BaseException) -> bool:
    # Only the commands that talk to Redis load the client (render and validate never
    # do: it is an eighth of their start-up), so an error can come from it only if
    # it was loaded.
    errors = sys.modules.get("redis.exceptions")
    return errors is not None and isinstance(exc, errors.RedisError)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ValidationFailed as exc:
        print(describe(exc), file=sys.stderr)
        return EXIT_INVALID
    except (Canceled, KeyboardInterrupt):
        print("assemblyd: canceled; nothing was published", file=sys.stderr)
        return EXIT_CANCELED
    except BadSettings as exc:
        print(f"assemblyd: {describe(exc)}", file=sys.stderr)
        return EXIT_INVALID
    except RedisUnavailable as exc:
        print(f"assemblyd: {describe(exc)}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except AssemblyError as exc:
        print(f"assemblyd: {describe(exc)}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:
        if _from_redis(exc):
            print(f"assemblyd: Redis: {exc}", file=sys.stderr)
            return EXIT_UNAVAILABLE
        # A bug or the environment: one line for the user, the traceback in the log.
        log.debug("unexpected error", exc_info=True)
        print(f"assemblyd: {describe(exc)}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
