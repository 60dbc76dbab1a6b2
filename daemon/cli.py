"""The ``assemblyd`` command.

Every error is one line on stderr (a traceback only with ``--log-level DEBUG``),
with an exit code that says what kind: 0 done, 1 failed, 2 invalid request or
invalid settings, 3 Redis unreachable, 130 canceled.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from redis.exceptions import RedisError

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
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return settings


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

    from .queue.connection import redis_url

    settings = _settings(args)
    return serve(settings, redis_url(settings))


def cmd_worker(args: argparse.Namespace) -> int:
    from .queue.worker import run_worker

    settings = _settings(args)
    run_worker(settings, burst=args.burst, max_jobs=args.max_jobs)
    return EXIT_OK


def _connection(settings: Settings) -> Redis:
    from .queue.connection import connect, redis_url

    url = redis_url(settings)
    conn = connect(url)
    try:
        conn.ping()
    except RedisError as exc:
        raise RedisUnavailable(f"cannot reach Redis at {url}: {exc}") from None
    return conn


def cmd_jobs(args: argparse.Namespace) -> int:
    from .queue.views import list_views

    settings = _settings(args)
    views = list_views(_connection(settings), settings, state=args.state, project=args.project)
    if args.json:
        print(json.dumps(views, indent=2))
        return EXIT_OK
    if not views:
        print("no jobs", file=sys.stderr)
    for v in views:
        line = f"{v['id']}  {v['state']:<9} {v['progress']:5.1f}%  {v['stage']:<8} {v['request']}"
        if v["error"]:
            line += f"\n    {v['error']['message']}"
        elif v["export"]:
            line += f"\n    -> {v['export']}"
        print(line)
    return EXIT_OK


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

    def service_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--root",
            action="append",
            type=Path,
            metavar="DIR",
            help="a watch root (repeat for several)",
        )
        p.add_argument("--observer", choices=["auto", "inotify", "polling"])

    p = add("up", cmd_up, "Run everything: embedded Redis if none is configured, workers, watcher.")
    service_flags(p)
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
    p.add_argument(
        "--root",
        action="append",
        type=Path,
        metavar="DIR",
        help="a watch root that API submissions may target (repeat for several)",
    )
    p.add_argument("--port", type=int, help="port (default 8000)")
    p.add_argument("--host", help="address (default 127.0.0.1)")

    p = add("watch", cmd_watch, "Watch the roots and queue requests (no workers).")
    service_flags(p)

    p = add("worker", cmd_worker, "Run one RQ worker that renders queued requests.")
    p.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    p.add_argument("--max-jobs", type=int, help="exit after this many jobs (recycles memory)")

    p = add("jobs", cmd_jobs, "List jobs with their state and progress, newest first.")
    p.add_argument("--state", choices=[s.value for s in JobState])
    p.add_argument("--project", help="only jobs whose project path contains this")
    p.add_argument("--json", action="store_true")

    p = add("cancel", cmd_cancel, "Cancel a queued or running job.")
    p.add_argument("job_id")
    p.add_argument("--wait", type=float, default=15.0, help="seconds to wait for it to stop")

    p = add("schema", cmd_schema, "Print the JSON Schema of assembly.json.")
    p.add_argument("--write", type=Path, help="write it to this file instead")

    p = add("demo", cmd_demo, "Generate a sample project with 10 shots and render it.")
    p.add_argument("dir", nargs="?", default="assemblyd-demo", type=Path)
    p.add_argument("--shots", type=int, default=10)
    p.add_argument("--no-render", action="store_true", help="only write the project")
    return parser


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
    except (RedisUnavailable, RedisError) as exc:
        reason = describe(exc) if isinstance(exc, AssemblyError) else f"Redis: {exc}"
        print(f"assemblyd: {reason}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except AssemblyError as exc:
        print(f"assemblyd: {describe(exc)}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:
        # A bug or the environment: one line for the user, the traceback in the log.
        log.debug("unexpected error", exc_info=True)
        print(f"assemblyd: {describe(exc)}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
